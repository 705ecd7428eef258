"""Misspelt words of a question corrected before searching: patients type fast, the sources are spelt right.

One misspelt content word was enough to lose the answer: on the project's gold set with one
word of each question misspelt, Recall@1 fell from 0.92 to 0.50 and a third of the in-scope
questions were refused, because the word was unknown to the sources (`python -m retrieval eval`
prints both rows). A word is corrected only when it is unknown both to an English dictionary
(pyspellchecker's word frequencies, shipped in its wheel: nothing is fetched) and to the
sources, is written in lower case (not a name or an acronym; a capital only opening a
sentence), has MIN_LENGTH letters or more (short words are too often slang or abbreviations:
"meds", "ptsd") and is one edit (a letter dropped, added, changed, or two swapped) from a
known word. Among the candidates the sources' own words come first, then the commoner word.
A message of five words or more, most of them unknown (another language, say), is left as typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_LENGTH = 5
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


class Speller:
    """Corrects a question's misspelt words towards English and the sources' vocabulary."""

    def __init__(self, source_words: Iterable[str]) -> None:
        from spellchecker import SpellChecker

        self._checker = SpellChecker(distance=1)
        self._source = frozenset(w for w in source_words if w.isalpha())
        self._checker.word_frequency.load_words(self._source)  # so they are known, and candidates
        self._known = self._checker.word_frequency.dictionary

    def correct(self, text: str) -> str:
        """The text with each misspelt word replaced by its correction (the text itself if none)."""
        words = list(_WORD.finditer(text))
        unknown = [m for m in words if m.group().lower() not in self._known]
        if not unknown or (len(words) >= 5 and 2 * len(unknown) > len(words)):  # another language, say
            return text
        fixes = {}
        for m in unknown:
            word = m.group()
            if len(word) >= MIN_LENGTH and self._plain(word, text[: m.start()]) and (fixed := self._best(word.lower())):
                fixes[m] = fixed.capitalize() if word[0].isupper() else fixed
        out = text
        for m in sorted(fixes, key=lambda m: -m.start()):  # from the end, so earlier offsets stay valid
            out = out[: m.start()] + fixes[m] + out[m.end() :]
        return out

    def _best(self, word: str) -> str | None:
        candidates = self._checker.candidates(word) or set()
        candidates.discard(word)
        return max(candidates, key=lambda c: (c in self._source, self._known[c]), default=None)

    @staticmethod
    def _plain(word: str, before: str) -> bool:
        """Lower case, or capitalised only at the start of a sentence; letters only."""
        if not word.isalpha() or not word[1:].islower():
            return False
        return word[0].islower() or not before.strip() or bool(_SENTENCE_END.search(before))
