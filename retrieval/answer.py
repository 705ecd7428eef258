"""Composing the answer to one message: safety first, then the best verbatim passages or an honest no."""

from __future__ import annotations

import threading

import numpy as np

from . import index as index_mod
from .config import Settings
from .embedding import get_encoder
from .records import Passage, Result
from .safety import MESSAGES, check_input, is_crisis, smalltalk_kind
from .search import Ranking, Searcher


class Engine:
    """The loaded model and index; `ask` is the one function every interface calls."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.encoder = get_encoder(self.settings.model)
        self.index = index_mod.load(self.settings)
        self.searcher = Searcher(self.index, self.encoder, self.settings.search)

    def ask(self, question: object, id: object = None) -> Result:
        """The result object for one message (never raises on user input)."""
        shown = question if isinstance(question, str) else repr(question)
        problem, text = check_input(question)
        if problem:
            return Result(question=shown, status="invalid", message=MESSAGES[problem], id=id)
        if is_crisis(text):
            passages = self._passages(self.searcher.rank(text))
            return Result(question=shown, status="crisis", message=MESSAGES["crisis"], passages=passages, id=id)
        kind = smalltalk_kind(text)
        if kind:
            return Result(question=shown, status="smalltalk", message=MESSAGES[kind], id=id)
        passages = self._passages(self.searcher.rank(text))
        if not passages:
            return Result(question=shown, status="no_match", message=MESSAGES["no_match"], id=id)
        return Result(question=shown, status="answered", passages=passages, id=id)

    def _passages(self, r: Ranking) -> list[Passage]:
        """Best passages above the thresholds, never overlapping, near-duplicates credited not repeated."""
        a = self.settings.answer
        best = int(r.order[0])
        if r.dense[best] < a.min_dense or r.coverage < a.min_coverage:
            return []
        vectors = self.searcher.passage_vectors
        chosen: list[int] = []
        credits: dict[int, list[dict]] = {}
        for pos in r.order[: 4 * a.top_k]:
            pos = int(pos)
            if chosen and (r.fused[pos] < a.min_relative * r.fused[best] or r.dense[pos] < a.min_dense):
                break
            twin = next((c for c in chosen if float(vectors[c] @ vectors[pos]) >= a.duplicate_cosine), None)
            if twin is not None:
                src = self.index.chunks[pos].source_id
                if src != self.index.chunks[twin].source_id and all(d["id"] != src for d in credits[twin]):
                    credits[twin].append(self.index.sources[src].attribution())
                continue
            chosen.append(pos)
            credits[pos] = []
            if len(chosen) == a.top_k:
                break
        return [self._passage(pos, r, credits[pos]) for pos in chosen]

    def _passage(self, pos: int, r: Ranking, also_in: list[dict]) -> Passage:
        c = self.index.chunks[pos]
        sent_positions = self.searcher.sentence_positions(pos)
        best_sentence = c.sentences[int(np.argmax(r.sentence_scores[sent_positions]))]
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


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine, loaded on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine(settings)
        return _engine
