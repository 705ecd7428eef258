"""Late interaction (MaxSim): each content word of a question matched to its best word in a passage.

A passage's pooled vector blurs what it says into one point; here every content word of the
question keeps its own MiniLM token vector and is compared with every token of the passage
(ColBERT's scoring, used zero-shot on MiniLM's last hidden states, which come from the same
forward pass as its sentence vector). The mean of each word's best cosine rewards passages that
speak of everything the question asks about. It reranks the first passages of the fused ranking
(config.INTERACTION_DEPTH per profile); `python -m retrieval eval` shows what it adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Token vectors are kept in memory as float32 up to this size; above it they are read from the
# float16 file on disk for the passages being reranked only (slower per question, no memory).
IN_MEMORY_BYTES = 256 * 2**20


def words_of(pieces: list[str]) -> list[tuple[str, list[int]]]:
    """Wordpieces grouped back into words ("##" continues the previous piece): (word, piece indices)."""
    out: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith("##") and out:
            word, idx = out[-1]
            out[-1] = (word + piece[2:], idx + [i])
        else:
            out.append((piece, [i]))
    return out


def possessive(head: str, tail: str, function_words: frozenset[str]) -> bool:
    """Whether a word written head'tail names a topic: a content word's possessive ("brain's"), not a
    contraction ("aren't", "we're", "it's"), whose parts no source needs to match."""
    return tail.lower() == "s" and head.isalpha() and head.lower() not in function_words


def question_pieces(pieces: list[str], function_words: frozenset[str]) -> list[int]:
    """The pieces of the question's content words (alphabetic, not function words); all if there are none.
    Of a word with an apostrophe, only a possessive's noun ("brain" of "brain's"): "aren't" is no
    content word, though its pieces "aren" and "t" are alphabetic."""
    words, keep, j = words_of(pieces), [], 0
    while j < len(words):
        word, idx = words[j]
        if j + 2 < len(words) and words[j + 1][0] in ("'", "’") and words[j + 2][0].isalpha():
            if possessive(word, words[j + 2][0], function_words):
                keep += idx
            j += 3
            continue
        if word.isalpha() and word.lower() not in function_words:
            keep += idx
        j += 1
    return keep or list(range(len(pieces)))


def passage_pieces(pieces: list[str]) -> list[int]:
    """The pieces a passage is matched on: every word, not punctuation (ColBERT's skip list); all if none."""
    keep = [i for word, idx in words_of(pieces) if any(ch.isalnum() for ch in word) for i in idx]
    return keep or list(range(len(pieces)))


def passage_tokens(per_text: list[tuple[np.ndarray, list[str]]]) -> list[np.ndarray]:
    """Each passage's token vectors to match on, from `encode_tokens`' (vectors, pieces) per text."""
    return [vectors[passage_pieces(pieces)] for vectors, pieces in per_text]


@dataclass
class TokenStore:
    """Token vectors of every passage: rows starts[p]:ends[p] of `vectors` belong to passage p."""

    vectors: np.ndarray  # (tokens, dim): float32 in memory, or float16 memory-mapped
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def from_passages(cls, per_passage: list[np.ndarray]) -> TokenStore:
        lengths = np.array([len(v) for v in per_passage], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return cls(np.concatenate(per_passage).astype(np.float32), offsets[:-1], offsets[1:])

    def save(self, folder: Path, key: str) -> None:
        """Plain .npy files: the vectors as float16 (half the size; MaxSim's ranking is unchanged) and offsets."""
        if not (np.array_equal(self.starts[1:], self.ends[:-1]) and (len(self.starts) == 0 or self.starts[0] == 0)):
            raise ValueError("only a store whose passages are consecutive rows can be saved")
        np.save(folder / f"tokens-{key}.npy", self.vectors.astype(np.float16))
        np.save(folder / "token_offsets.npy", np.concatenate([self.starts, self.ends[-1:]]).astype(np.int64))

    @classmethod
    def load(cls, folder: Path, key: str) -> TokenStore:
        vectors = np.load(folder / f"tokens-{key}.npy", mmap_mode="r")
        offsets = np.load(folder / "token_offsets.npy", allow_pickle=False)
        if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != len(vectors) or np.any(np.diff(offsets) < 1):
            raise ValueError("token offsets do not match the token vectors")
        if vectors.size * 4 <= IN_MEMORY_BYTES:
            vectors = np.asarray(vectors, dtype=np.float32)
        return cls(vectors, offsets[:-1], offsets[1:])

    def match(self, question: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MaxSim of the question's token vectors (k, dim) with each passage at `positions`, and each
        question token's best cosine over all of those passages' tokens (k,).

        One small product per passage, on its rows in place, written into one buffer that a single
        reduction maxes per passage: gathering the rows into one matrix first copied megabytes a
        question and was slower (docs/decisions.md)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return np.zeros(0, dtype=np.float32), np.zeros(len(question), dtype=np.float32)
        question_t = np.ascontiguousarray(np.asarray(question, dtype=np.float32).T)  # (dim, k)
        starts, ends = self.starts[positions], self.ends[positions]
        offsets = np.concatenate([[0], np.cumsum(ends - starts)])
        products = np.empty((int(offsets[-1]), question_t.shape[1]), dtype=np.float32)
        for a, b, o, p in zip(starts.tolist(), ends.tolist(), offsets.tolist(), offsets[1:].tolist()):
            np.matmul(np.asarray(self.vectors[a:b], dtype=np.float32), question_t, out=products[o:p])
        best = np.maximum.reduceat(products, offsets[:-1], axis=0)  # (passages, question tokens)
        return best.mean(axis=1), best.max(axis=0)
