"""Misspelt words of a question corrected before searching: patients type fast, the sources are spelt right.

One misspelt content word was enough to lose the answer, because the word was unknown to the
sources (`python -m retrieval eval` prints the figures with and without correction). A word is corrected only when it is unknown both to an English dictionary
(pyspellchecker's word frequencies, shipped in its wheel: nothing is fetched) and to the
sources, is written in lower case (not a name or an acronym; a capital only opening a
sentence), has MIN_LENGTH letters or more (short words are too often slang or abbreviations:
"meds", "ptsd") and is one edit (a letter dropped, added, changed, or two swapped) from a
known word. Among the candidates the word the sources use most wins ("additcion" is one edit
from "addition" and from "addiction"), then the commoner English word. A message of five words
or more, most of them unknown (another language, say), is left as typed.

The dictionary is made when the index is built and saved in it (`spelling.json`), so that the
serving process reads a small word list instead of parsing pyspellchecker's whole one.
"""

from __future__ import annotations

import gzip
import json
import pkgutil
import re
from collections import Counter
from collections.abc import Iterable

MIN_LENGTH = 5
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")


def english_words() -> dict[str, int]:
    """pyspellchecker's English word frequencies, less what a question's word is never corrected to or
    from: words with an apostrophe, and the 75,000 words listed at the list's floor count (no
    frequency seen: "chapiters", "octarchy"), whose absence let no gold question be changed."""
    data = pkgutil.get_data("spellchecker", "resources/en.json.gz")
    if data is None:
        raise FileNotFoundError("pyspellchecker's English word list (resources/en.json.gz)")
    words = json.loads(gzip.decompress(data))
    floor = min(words.values())
    return {w: n for w, n in words.items() if n > floor and "'" not in w}


def source_counts(texts: Iterable[str]) -> dict[str, int]:
    """How often each lower-case word occurs in the sources."""
    return dict(Counter(w.lower() for t in texts for w in _WORD.findall(t) if w.isalpha()))


class Speller:
    """Corrects a question's misspelt words towards the sources' vocabulary and English."""

    def __init__(self, english: dict[str, int], sources: dict[str, int]) -> None:
        from spellchecker import SpellChecker

        self._english, self._sources = english, sources
        self._checker = SpellChecker(language=None, distance=1)
        self._checker.word_frequency.load_json({**english, **sources})
        self._known = self._checker.word_frequency.dictionary

    def correct(self, text: str) -> str:
        """The text with each misspelt word replaced by its correction (the text itself if none)."""
        words = list(_WORD.finditer(text))
        unknown = [m for m in words if m.group().isalpha() and m.group().lower() not in self._known]
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
        return max(candidates, key=lambda c: (self._sources.get(c, 0), self._english.get(c, 0), c), default=None)

    @staticmethod
    def _plain(word: str, before: str) -> bool:
        """Lower case, or capitalised only at the start of a sentence."""
        if not word[1:].islower():
            return False
        return word[0].islower() or not before.strip() or bool(_SENTENCE_END.search(before))
