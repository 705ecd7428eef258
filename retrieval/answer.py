"""Composing the answer to one message: safety first, then the best verbatim passages or an honest no."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from . import index as index_mod
from .config import Settings
from .crisis import FLOOR, units
from .decision import ANSWER, UNSURE, features
from .embedding import load_encoders
from .records import Passage, Result
from .safety import check_input, message, shown_back, smalltalk_kind, topic_of
from .search import Query, Ranking, Searcher
from .spelling import Speller

_WORD = re.compile(r"\w+")
FOLLOWUP_UNLIKE = 0.8  # a follow-up this similar to the message would ask the same thing again


def prepare(text: str, speller: Speller | None) -> tuple[str, str]:
    """The question in a valid message (without "Hi!" before it or "Thanks!" after it), and that
    question as searched: its misspelt words corrected."""
    topic = topic_of(text)
    return topic, speller.correct(topic) if speller else topic


@dataclass
class Reading:
    """What the engine makes of one message before composing the answer."""

    query: Query
    lang: str  # "en", "es" or "other"
    crisis: bool
    sims: np.ndarray  # similarity to every bank message
    ranking: Ranking
    outcome: str  # decision.ANSWER, UNSURE or REFUSE
    p_answer: float


class Engine:
    """The loaded model, index and learned decisions; `ask` is the one function every interface calls."""

    def __init__(self, settings: Settings | None = None, index: index_mod.Index | None = None) -> None:
        self.settings = settings or Settings()
        # A question's scoring is a few small matrix-vector products: BLAS's extra threads only spin beside the encoder's.
        threadpool_limits(1, user_api="blas")
        self.encoders = load_encoders(self.settings.encoders, self.settings.models)
        self.index = index or index_mod.load(self.settings)
        if self.index.bank is None or self.index.learned is None:
            raise index_mod.IndexUnavailable("the index has no learned decisions; run: python -m retrieval train")
        self.searcher = Searcher(self.index, self.encoders, self.settings.search)
        self.bank, self.learned = self.index.bank, self.index.learned
        spelling = self.index.spelling if self.settings.spelling else None
        self.speller: Speller | None = Speller(spelling["english"], spelling["sources"]) if spelling else None

    def ask(self, question: object, id: object = None) -> Result:
        """The result object for one message (never raises on user input)."""
        shown = shown_back(question)
        problem, text = check_input(question)
        if problem:
            return Result(question=shown, status="invalid", message=message(problem), id=id)
        topic, searched = prepare(text, self.speller)
        corrected = searched if searched != topic else None
        if kind := smalltalk_kind(text):  # the whole message is a greeting, thanks or goodbye, and nothing else
            return Result(question=shown, status="smalltalk", message=message(kind), id=id)
        r = self.read(searched, text)
        if r.crisis:
            passages = self._passages(r.ranking)[1] if r.outcome == ANSWER else []
            return Result(question=shown, status="crisis", message=message("crisis", r.lang), passages=passages, id=id,
                          searched_for=corrected)
        if topic != text and (kind := smalltalk_kind(topic)):  # "Hi, who are you?"
            return Result(question=shown, status="smalltalk", message=message(kind, r.lang), id=id)
        if r.outcome == ANSWER:
            positions, passages = self._passages(r.ranking)
            return Result(question=shown, status="answered", message="" if r.lang == "en" else message("in_english", r.lang),
                          passages=passages, id=id, searched_for=corrected,
                          followups=self.bank.offered(r.sims, self._neighbours(positions), r.lang, set(positions),
                                                      unlike=FOLLOWUP_UNLIKE))
        if r.outcome == UNSURE:
            order = np.argsort(-self.bank.passage_signal(r.sims), kind="stable")
            return Result(question=shown, status="no_match", message=message("unsure", r.lang), id=id, searched_for=corrected,
                          suggestions=self.bank.offered(r.sims, [int(p) for p in order[:12]], r.lang, set()))
        topic_name = self.learned.decision.topic(self.learned.embedding(r.query.vectors))
        return Result(question=shown, status="no_match", message=message(topic_name or "no_match", r.lang), id=id,
                      searched_for=corrected)

    def read(self, searched: str, typed: str | None = None) -> Reading:
        """Encode a message once and decide: its language, crisis or not, its ranking, answer or not."""
        learned = self.learned
        parts = units(searched)
        query = self.searcher.encode([searched])[0]
        rows = [learned.embedding(query.vectors)]
        if len(parts) > 1:  # each sentence read alone too: a danger sign in the middle of a long message counts
            more = {k: enc.encode(parts[1:], query=True) for k, enc in self.encoders.items() if k in learned.encoders}
            rows.append(learned.embedding(more))
        unit_rows = np.concatenate(rows)
        lang = learned.language_of(unit_rows[:1])
        crisis = learned.crisis.is_crisis(parts, unit_rows) or bool(typed and FLOOR.search(typed))
        sims = self.bank.similarities(query.vectors)
        signal = self.bank.passage_signal(sims)
        english = lang == "en"
        ranking = self.searcher.rank(query, signal, learned.w_bank, english=english)
        decision = learned.decision
        text_p = float(decision.text.proba(unit_rows[:1])[0, 1])
        words_p = float(decision.words.proba([searched])[0, 1])
        x = features(learned.encoders, ranking.dense, ranking.word_match, sims, self.bank.answerable, self.bank.unanswerable,
                     float(signal[ranking.order[0]]), english, text_p, words_p)
        outcome, p = decision.outcome(x)
        return Reading(query, lang, crisis, sims, ranking, outcome, p)

    def _neighbours(self, shown: list[int]) -> list[int]:
        """The passages around the shown ones in their own articles, nearest first: what a reader of
        the answer would read next (the follow-ups' passages)."""
        chunks = self.index.chunks
        out: list[int] = []
        for distance in (1, -1, 2, -2, 3, -3):
            for pos in shown:
                near = pos + distance
                if 0 <= near < len(chunks) and chunks[near].source_id == chunks[pos].source_id and near not in shown + out:
                    out.append(near)
        return out

    def _passages(self, r: Ranking) -> tuple[list[int], list[Passage]]:
        """The best passages, never overlapping; one saying what a shown passage of another source says
        (same meaning, or copied words either way: it copies the shown one, or the shown one is copied into it)
        is credited to it, not repeated."""
        a = self.settings.answer
        best = int(r.order[0])
        vectors = self.searcher.vectors(self.searcher.primary, r.order[: 4 * a.top_k])
        where = {int(pos): i for i, pos in enumerate(r.order[: 4 * a.top_k])}
        chosen: list[int] = []
        credits: dict[int, list[dict]] = {}
        for pos in r.order[: 4 * a.top_k]:
            pos = int(pos)
            if chosen and r.fused[pos] < a.min_relative * r.fused[best]:
                break
            chunk = self.index.chunks[pos]
            src = chunk.source_id
            twin = next(
                (c for c in chosen if self.index.chunks[c].source_id != src and (
                    float(vectors[where[c]] @ vectors[where[pos]]) >= a.duplicate_cosine
                    or copied_share(chunk.text, self.index.chunks[c].text) >= a.duplicate_words)),
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
        return chosen, [self._passage(pos, r, credits[pos], idf) for pos in chosen]

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


def copied_share(a: str, b: str) -> float:
    """The larger of shared_trigrams either way (the shorter text's share): 1.0 when either is copied into the other."""
    x, y = _trigrams(a), _trigrams(b)
    return len(x & y) / min(len(x), len(y))  # never empty: a text without three words is one (short) sequence


@lru_cache(maxsize=4096)  # the same passages come up again and again
def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return frozenset(tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2)))
