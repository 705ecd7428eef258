"""A linear model over a text's n-grams: character n-grams inside words (slang, typos, other languages'
word forms: "kys", "sewerslide", "suficiente para morir") and word uni- and bigrams, each weighted by
TF-IDF as scikit-learn's TfidfVectorizer weights them (sublinear tf, l2 norm), from a vocabulary fitted
on the bank. scikit-learn fits it at build time; serving computes the same numbers with the standard
library and numpy (tests/test_ngrams.py compares them)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

_SPACE = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token pattern
CHARS = (2, 5)
WORDS = (1, 2)


def char_ngrams(text: str, low: int = CHARS[0], high: int = CHARS[1]) -> list[str]:
    """scikit-learn's "char_wb" analyzer: n-grams of each white-space word padded with a space."""
    out = []
    for w in _SPACE.sub(" ", text.lower()).split():
        w = f" {w} "
        for n in range(low, high + 1):
            offset = 0
            out.append(w[offset : offset + n])
            while offset + n < len(w):
                offset += 1
                out.append(w[offset : offset + n])
            if offset == 0:  # a short word (shorter than n) is counted once
                break
    return out


def word_ngrams(text: str, low: int = WORDS[0], high: int = WORDS[1]) -> list[str]:
    """scikit-learn's "word" analyzer: words of two or more letters, then their runs of low..high."""
    tokens = _WORD.findall(text.lower())
    out = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(tokens) + 1)):
        out += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return out


class NgramModel:
    """P(class 1 | text) of a logistic layer over the two TF-IDF vectors side by side."""

    def __init__(self, char_vocab: dict[str, int], char_idf, word_vocab: dict[str, int], word_idf, coef, intercept: float) -> None:
        self.char_vocab, self.word_vocab = char_vocab, word_vocab
        self.char_idf, self.word_idf = np.asarray(char_idf, np.float64), np.asarray(word_idf, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), float(intercept)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's non-zero features: (columns, values), chars first then words, as the model reads them."""
        cols, vals = [], []
        for grams, vocab, idf, offset in ((char_ngrams(text), self.char_vocab, self.char_idf, 0),
                                          (word_ngrams(text), self.word_vocab, self.word_idf, len(self.char_vocab))):
            counts = Counter(vocab[g] for g in grams if g in vocab)
            if not counts:
                continue
            j = np.fromiter(counts, dtype=np.int64)
            v = np.array([(1 + math.log(counts[k])) for k in counts]) * idf[j]
            cols.append(j + offset)
            vals.append(v / np.linalg.norm(v))
        if not cols:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(cols), np.concatenate(vals)

    def proba(self, texts: list[str]) -> np.ndarray:
        z = np.array([self.intercept + float(self.coef[c] @ v) for c, v in map(self.features, texts)])
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        return np.stack([1 - p, p], axis=1)

    def save(self, folder: Path, name: str) -> None:
        (folder / f"{name}.json").write_text(json.dumps({"chars": self.char_vocab, "words": self.word_vocab,
                                                         "intercept": self.intercept}, ensure_ascii=False), encoding="utf-8")
        for part in ("char_idf", "word_idf", "coef"):
            np.save(folder / f"{name}-{part}.npy", getattr(self, part))

    @classmethod
    def load(cls, folder: Path, name: str) -> NgramModel:
        d = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        arrays = {p: np.load(folder / f"{name}-{p}.npy", allow_pickle=False) for p in ("char_idf", "word_idf", "coef")}
        return cls(d["chars"], arrays["char_idf"], d["words"], arrays["word_idf"], arrays["coef"], d["intercept"])

    @classmethod
    def fit(cls, texts: list[str], y, c: float, max_chars: int = 30_000, max_words: int = 20_000) -> NgramModel:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=CHARS, min_df=2, max_features=max_chars, sublinear_tf=True)
        words = TfidfVectorizer(analyzer="word", ngram_range=WORDS, min_df=2, max_features=max_words, sublinear_tf=True)
        x = hstack([chars.fit_transform(texts), words.fit_transform(texts)]).tocsr()
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, y)
        as_int = lambda vocab: {k: int(v) for k, v in vocab.items()}  # noqa: E731
        return cls(as_int(chars.vocabulary_), chars.idf_, as_int(words.vocabulary_), words.idf_, model.coef_[0], model.intercept_[0])
