"""Lexical scoring with bm25s (Snowball-stemmed, English stop words), saved as plain files."""

from __future__ import annotations

import re
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_stemmer = Stemmer.Stemmer("english")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default pattern
_STOP = frozenset(STOPWORDS_EN)  # the list bm25s.tokenize uses for stopwords="en"


def tokenize(texts: list[str]) -> list[list[str]]:
    """Stemmed content tokens of each text, as bm25s.tokenize(stopwords="en", this stemmer) gives them.

    Done here for a question: bm25s.tokenize builds three progress-bar objects per call even when
    hidden, half of a question's lexical time. tests/test_lexical.py checks both agree."""
    return [_stemmer.stemWords([w for w in _TOKEN.findall(t.lower()) if w not in _STOP]) for t in texts]


def stem(word: str) -> str:
    return _stemmer.stemWord(word.lower())


class Lexical:
    """BM25 over the passages' texts."""

    def __init__(self, retriever: bm25s.BM25) -> None:
        self._bm25 = retriever
        self.vocab = {w for w in retriever.vocab_dict if w}
        self._table = _dense_table(retriever)


    @classmethod
    def build(cls, texts: list[str]) -> "Lexical":
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, show_progress=False), show_progress=False)
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> "Lexical":
        return cls(bm25s.BM25.load(str(folder)))

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for the question (zeros when no term is known)."""
        tokens = [t for t in tokenize([question])[0] if t in self.vocab]
        if not tokens:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        if self._table is not None:
            ids = [self._bm25.vocab_dict[t] for t in tokens]
            return np.add.reduce(self._table[ids], axis=0)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


# Up to this many (term, passage) cells, bm25s's score matrix is also kept dense.
DENSE_CELLS = 4_000_000


def _dense_table(retriever: bm25s.BM25) -> np.ndarray | None:
    """bm25s's precomputed scores as a dense (term, passage) array for a small index, or None.

    A question's scores are then the sum of its terms' rows (a few microseconds), where bm25s's
    sparse sum costs about 40 us a question, a tenth of the fast profile's time beside its encoder.
    Same numbers: tests/test_lexical.py compares both. Kept only for the plain BM25 variants
    (no score for absent terms)."""
    s = retriever.scores
    indptr, n = np.asarray(s["indptr"]), int(s["num_docs"])
    if retriever.nonoccurrence_array is not None or (len(indptr) - 1) * n > DENSE_CELLS:
        return None
    table = np.zeros((len(indptr) - 1, n), dtype=np.float32)
    table[np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), np.asarray(s["indices"])] = s["data"]
    return table


def words(text: str) -> list[str]:
    """Lower-cased alphabetic words (for the vocabulary of the sources)."""
    return re.findall(r"[a-z][a-z'’-]*[a-z]|[a-z]", text.lower())
