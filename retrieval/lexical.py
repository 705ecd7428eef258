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
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


def words(text: str) -> list[str]:
    """Lower-cased alphabetic words (for the vocabulary of the sources)."""
    return re.findall(r"[a-z][a-z'’-]*[a-z]|[a-z]", text.lower())
