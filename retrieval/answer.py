"""Composing the answer to one message: safety first, then the best verbatim passages or an honest no."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from . import index as index_mod
from .config import ABSTENTION, JUDGE_SCALE, Abstention, Settings
from .embedding import load_encoders
from .records import Passage, Result
from .safety import MESSAGES, check_input, is_crisis, shown_back, smalltalk_kind, topic_of
from .search import Ranking, Searcher
from .spelling import Speller

_WORD = re.compile(r"\w+")


class Engine:
    """The loaded model and index; `ask` is the one function every interface calls."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        # A question's scoring is a few small matrix-vector products: BLAS's extra threads only
        # spin beside the encoder's (measured: CPU per question 5.7 -> 3.5 ms, and faster too).
        threadpool_limits(1, user_api="blas")
        self.encoders = load_encoders(self.settings.encoders)
        self.index = index_mod.load(self.settings)
        self.searcher = Searcher(self.index, self.encoders, self.settings.search)
        self.abstention: Abstention = ABSTENTION[tuple(self.encoders)]
        spelling = self.index.spelling if self.settings.spelling else None
        self.speller: Speller | None = Speller(spelling["english"], spelling["sources"]) if spelling else None

    def ask(self, question: object, id: object = None) -> Result:
        """The result object for one message (never raises on user input)."""
        shown = shown_back(question)
        problem, text = check_input(question)
        if problem:
            return Result(question=shown, status="invalid", message=MESSAGES[problem], id=id)
        topic, searched = self.searched(text)
        corrected = searched if searched != topic else None
        if is_crisis(text) or (searched != text and is_crisis(searched)):
            passages = self._passages(self.searcher.rank(searched))
            return Result(question=shown, status="crisis", message=MESSAGES["crisis"], passages=passages, id=id,
                          searched_for=corrected)
        kind = smalltalk_kind(text) or (smalltalk_kind(topic) if topic != text else None)
        if kind:
            return Result(question=shown, status="smalltalk", message=MESSAGES[kind], id=id)
        passages = self._passages(self.searcher.rank(searched))
        if not passages:
            return Result(question=shown, status="no_match", message=MESSAGES["no_match"], id=id, searched_for=corrected)
        return Result(question=shown, status="answered", passages=passages, id=id, searched_for=corrected)

    def searched(self, text: str) -> tuple[str, str]:
        """The question in a valid message (without "Hi!" before it or "Thanks!" after it), and that
        question as searched: its misspelt words corrected."""
        topic = topic_of(text)
        return topic, self.speller.correct(topic) if self.speller else topic

    def should_answer(self, r: Ranking) -> bool:
        """The abstention rule on a ranking; the words' coverage is encoded only when the rule needs it."""
        return answerable(judge_score(r.dense), r.word_match, lambda: r.coverage()[0], self.abstention,
                          lambda: r.coverage(named_only=True)[0])

    def _passages(self, r: Ranking) -> list[Passage]:
        """Best passages above the thresholds, never overlapping; one saying what a shown passage of another
        source says (same meaning, or copied words) is credited to it, not repeated."""
        a = self.settings.answer
        best = int(r.order[0])
        if not self.should_answer(r):
            return []
        vectors = self.searcher.vectors(self.searcher.primary, r.order[: 4 * a.top_k])
        where = {int(pos): i for i, pos in enumerate(r.order[: 4 * a.top_k])}
        chosen: list[int] = []
        credits: dict[int, list[dict]] = {}
        for pos in r.order[: 4 * a.top_k]:
            pos = int(pos)
            if chosen and (r.fused[pos] < a.min_relative * r.fused[best] or judge_score(r.dense, pos) < self.abstention.min_top):
                break
            chunk = self.index.chunks[pos]
            src = chunk.source_id
            twin = next(
                (c for c in chosen if self.index.chunks[c].source_id != src and (
                    float(vectors[where[c]] @ vectors[where[pos]]) >= a.duplicate_cosine
                    or shared_trigrams(chunk.text, self.index.chunks[c].text) >= a.duplicate_words)),
                None,
            )
            if twin is not None:
                if all(d["id"] != src for d in credits[twin]):
                    credits[twin].append(self.index.sources[src].attribution())
                continue
            chosen.append(pos)
            credits[pos] = []
            if len(chosen) == a.top_k:
                break
        idf = self.index.lexical.idf(r.terms)
        return [self._passage(pos, r, credits[pos], idf) for pos in chosen]

    def _passage(self, pos: int, r: Ranking, also_in: list[dict], idf: dict[str, float]) -> Passage:
        c = self.index.chunks[pos]
        meaning = r.sentence_scores[self.searcher.sentence_positions(pos)]
        best = highlight(self.searcher.sentence_terms(pos), meaning, idf, self.settings.answer.highlight_words)
        best_sentence = c.sentences[best]
        return Passage(
            text=c.text,
            path=c.path,
            start=c.start,
            end=c.end,
            score=round(float(r.fused[pos]), 4),
            source=self.index.sources[c.source_id].attribution(),
            highlight=list(best_sentence),
            also_in=also_in,
        )


def highlight(sentences: list[frozenset[str]], meaning: np.ndarray, idf: dict[str, float], word_weight: float) -> int:
    """Which sentence of a passage to highlight, given each one's stemmed words: its cosine with the
    question (`meaning`) plus `word_weight` times the share of the question's words it holds, each
    word weighted by its rarity (`idf`: the question's stemmed words the sources hold). Meaning alone
    often lit a sentence beside the one holding the question's word (config.AnswerSettings)."""
    total = sum(idf.values())
    if not total or len(sentences) < 2:
        return int(np.argmax(meaning))
    words = np.array([sum(v for t, v in idf.items() if t in held) for held in sentences]) / total
    return int(np.argmax(meaning + word_weight * words))


def shared_trigrams(text: str, shown: str) -> float:
    """Share of `text`'s three-word sequences (case-folded) that `shown` also contains: 1.0 when it is copied into it."""
    mine = _trigrams(text)
    return len(mine & _trigrams(shown)) / len(mine) if mine else 0.0


@lru_cache(maxsize=4096)  # the same passages come up again and again
def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return frozenset(tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2)))


def judge_score(dense: dict[str, np.ndarray], pos: int | None = None, scale: dict = JUDGE_SCALE) -> float:
    """The encoders' cosine (best over passages, or of passage `pos`) on a common scale, averaged."""
    zs = [((d.max() if pos is None else d[pos]) - scale[k][0]) / scale[k][1] for k, d in dense.items()]
    return float(sum(zs) / len(zs))


def answers(top, word_match, coverage, rule: Abstention, named_coverage=None):
    """The abstention rule (see config.Abstention for how its thresholds were chosen), on numbers or
    on numpy arrays (broadcast, as calibration tries many thresholds at once): True where answered.
    `named_coverage` is the coverage of the dictionary words alone (Ranking.coverage), `coverage` by default."""
    named = coverage if named_coverage is None else named_coverage
    return (top >= rule.min_top) & (named >= rule.min_coverage_confident) & (
        (top >= rule.confident_top) | ((word_match >= rule.min_word_match) & (coverage >= rule.min_coverage))
    )


def answerable(top: float, word_match: float, coverage, rule: Abstention, named_coverage=None) -> bool:
    """`answers` for one question. Either coverage may be a function: it costs an encoding, so it is
    called only when it can change the outcome."""
    unsure = rule.min_top <= top < rule.confident_top and word_match >= rule.min_word_match
    named_needed = rule.min_coverage_confident > 0 and (unsure or top >= max(rule.confident_top, rule.min_top))
    if named_coverage is None:
        named_coverage = coverage
    if callable(coverage):
        coverage = coverage() if unsure else 1.0
    if callable(named_coverage):
        named_coverage = named_coverage() if named_needed else 1.0
    return bool(answers(top, word_match, coverage, rule, named_coverage))
