"""Lexical scoring with bm25s (Snowball-stemmed, English stop words), saved as plain files."""

from __future__ import annotations

import re
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _select_idf_scorer  # the idf formula the index was scored with
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
    """BM25 over the passages' texts: their stemmed content words, and pairs of consecutive ones.

    The pairs score a phrase the question shares with a passage ("higher risk", "nasal spray")
    above the same words scattered; they are fused as their own signal (config.SearchSettings).
    """

    def __init__(self, retriever: bm25s.BM25, pairs: bm25s.BM25) -> None:
        self._bm25, self._pairs = retriever, pairs
        self.vocab = {w for w in retriever.vocab_dict if w}
        self._table, self._pair_table = _dense_table(retriever), _dense_table(pairs)

    @classmethod
    def build(cls, texts: list[str]) -> Lexical:
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, show_progress=False), show_progress=False)
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(p, len(vocab)) for p in word_pairs(t)] for t in tokenize(texts)]
        pairs = bm25s.BM25()
        pairs.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        return cls(retriever, pairs)

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder))
        self._pairs.save(str(folder / "pairs"))

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        return cls(bm25s.BM25.load(str(folder)), bm25s.BM25.load(str(folder / "pairs")))

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each of `terms` the passages hold (rarer: higher), by
        bm25s's own formula for the index's method, from its document counts (the score matrix's columns)."""
        s = self._bm25.scores
        indptr, n = s["indptr"], int(s["num_docs"])
        score = _select_idf_scorer(self._bm25.idf_method)
        out = {}
        for t in terms:
            i = self._bm25.vocab_dict.get(t)
            if i is not None and i + 1 < len(indptr):
                out[t] = float(score(int(indptr[i + 1] - indptr[i]), n))
        return out

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every passage for a question's `terms` (zeros when none is known)."""
        return _scores(self._bm25, self._table, terms)

    def pair_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every passage for the pairs of consecutive `terms` of a question."""
        return _scores(self._pairs, self._pair_table, word_pairs(terms))


def terms(question: str) -> list[str]:
    """A question's stemmed content words, as both BM25 scores take them (tokenized once)."""
    return tokenize([question])[0]


def word_pairs(tokens: list[str]) -> list[str]:
    """Consecutive stemmed content words joined: ["higher", "risk", "ketamin"] -> ["higher risk", "risk ketamin"]."""
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def _scores(retriever: bm25s.BM25, table: np.ndarray | None, terms: list[str]) -> np.ndarray:
    ids = [i for t in terms if (i := retriever.vocab_dict.get(t)) is not None]
    if not ids:
        return np.zeros(retriever.scores["num_docs"], dtype=np.float32)
    if table is not None:
        return np.add.reduce(table[ids], axis=0)
    return np.asarray(retriever.get_scores(ids), dtype=np.float32)


# Up to this many (term, passage) cells, bm25s's score matrix is also kept dense.
DENSE_CELLS = 4_000_000


def _dense_table(retriever: bm25s.BM25) -> np.ndarray | None:
    """bm25s's precomputed scores as a dense (term, passage) array for a small index, or None.

    A question's scores are then the sum of its terms' rows, faster than bm25s's sparse sum.
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
