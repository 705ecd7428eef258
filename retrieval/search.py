"""Ranking passages for a question: dense, sentence-level and BM25 signals fused by z-score."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from .config import SearchSettings
from .embedding import Encoder
from .index import Index
from .lexical import stem

# Words that carry no topic of their own in a patient's question.
_QUESTION_WORDS = ENGLISH_STOP_WORDS | {
    "ketamine", "does", "did", "doing", "really", "exactly", "actually", "lately", "people", "someone",
    "anyone", "thing", "things", "stuff", "know", "tell", "want", "need", "like", "just", "ok", "okay",
    "safe", "good", "bad", "help", "use", "used", "using", "get", "got", "i'm", "im", "whats", "what's",
    "it's", "isn't", "don't", "can't", "cant", "dont", "i've",
}


@dataclass
class Ranking:
    """Per-passage signals and their fusion for one question (arrays indexed by chunk position)."""

    dense: np.ndarray
    sentence_scores: np.ndarray  # cosine of each sentence vector
    sentence_max: np.ndarray
    sentence_mean: np.ndarray
    bm25: np.ndarray
    fused: np.ndarray
    order: np.ndarray  # chunk positions, best first
    coverage: float  # how well the sources cover the question's least-known key word (0..1)
    uncovered: str  # that word


def key_words(question: str) -> list[str]:
    """Topic words of a question: alphabetic, three letters or more, not function words."""
    ws = re.findall(r"[a-z][a-z'’-]*[a-z]", question.lower())
    return [w for w in ws if len(w) > 2 and w.replace("’", "'") not in _QUESTION_WORDS]


def zscore(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


class Searcher:
    """Scores every passage of an index for a question with one encoder call."""

    def __init__(self, index: Index, encoder: Encoder, settings: SearchSettings) -> None:
        self.index, self.encoder, self.settings = index, encoder, settings
        self.passage_vectors = index.passages.reconstruct_n(0, index.passages.ntotal)
        n = len(index.chunks)
        self._owner = index.sentence_owner
        self._counts = np.bincount(self._owner, minlength=n).astype(np.float32)
        self._vocab_stems = {stem(w) for w in index.vocab} | index.lexical.vocab

    def rank(self, question: str) -> Ranking:
        keys = key_words(question)
        unknown = sorted({w for w in keys if stem(w) not in self._vocab_stems})
        vecs = self.encoder.encode([question, *unknown])
        q = vecs[0]
        dense = self.passage_vectors @ q
        sent = self.index.sentence_vectors @ q
        n = len(self.index.chunks)
        s_max = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(s_max, self._owner, sent)
        s_mean = np.bincount(self._owner, weights=sent, minlength=n) / np.maximum(self._counts, 1)
        bm25 = self.index.lexical.scores(question)
        st = self.settings
        fused = (
            st.w_dense * zscore(dense)
            + st.w_sentence_max * zscore(s_max)
            + st.w_sentence_mean * zscore(s_mean.astype(np.float32))
            + st.w_bm25 * zscore(bm25)
        )
        coverage, uncovered = 1.0, ""
        if unknown:
            nearest = (vecs[1:] @ self.index.vocab_vectors.T).max(axis=1)
            i = int(nearest.argmin())
            coverage, uncovered = float(nearest[i]), unknown[i]
        return Ranking(
            dense=dense,
            sentence_scores=sent,
            sentence_max=s_max,
            sentence_mean=s_mean,
            bm25=bm25,
            fused=fused,
            order=np.argsort(-fused, kind="stable"),
            coverage=coverage,
            uncovered=uncovered,
        )

    def sentence_positions(self, chunk_pos: int) -> np.ndarray:
        return np.flatnonzero(self._owner == chunk_pos)
