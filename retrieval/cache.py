"""Embedding cache: vectors of texts already embedded, keyed by encoder identity and text hash.

A rebuild after adding one document embeds only that document's passages. Stored as one
.npz (a zip of plain .npy arrays: hashes, vectors, current, and for token vectors the
number of rows of each text, lengths) per encoder and kind under
index/cache/<encoder>-<identity hash>.npz, replaced atomically; it keeps the
texts of the last two builds, so a rollback-and-rebuild is cheap too. A damaged cache is
ignored (everything is embedded again), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .embedding import Encoder


def remove_unfinished(root: Path) -> None:
    """Delete the temp files of saves that were killed or failed (only builds, one at a time, write here)."""
    for stale in root.glob(".*.npz"):
        stale.unlink(missing_ok=True)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """One vector per text, or with `ragged` a matrix per text (token vectors)."""

    def __init__(self, root: Path, key: str, identity: dict, ragged: bool = False) -> None:
        tag = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
        self.path = root / f"{key}-{tag}.npz"
        self.ragged = ragged
        self._rows: dict[str, np.ndarray] = {}
        self._previous: set[str] = set()
        self._used: set[str] = set()
        self._put: set[str] = set()
        self.computed = self.reused = 0
        self.damaged = ""  # why the cache file could not be used, when it could not
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                hashes, stacked, current = data["hashes"], data["vectors"], data["current"]
                lengths = data["lengths"] if self.ragged else np.ones(len(stacked), dtype=np.int64)
            if lengths.sum() != len(stacked) or len(lengths) != len(hashes) or not np.isfinite(stacked).all():
                raise ValueError("hashes and vectors do not match")
            vectors = np.split(stacked, np.cumsum(lengths)[:-1]) if self.ragged else list(stacked)
            self._rows = {str(h): v for h, v in zip(hashes, vectors)}
            self._previous = {str(h) for h in current}
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
            self._rows, self._previous = {}, set()
            self.damaged = f"{self.path} could not be read ({e}); its texts were embedded again"

    def encode(self, encoder: Encoder, texts: list[str], on_batch=None, compute=None):
        """Vectors for texts, embedding only those not cached; `on_batch(n)` reports progress.

        `compute(texts)` replaces `encoder.encode`; a ragged cache returns a list of matrices."""
        compute = compute or encoder.encode
        hashes = [text_hash(t) for t in texts]
        self._used.update(hashes)
        missing = sorted({h: t for h, t in zip(hashes, texts) if h not in self._rows}.items())
        for i in range(0, len(missing), 64):
            batch = missing[i : i + 64]
            for (h, _), v in zip(batch, compute([t for _, t in batch])):
                self._rows[h] = v
            if on_batch:
                on_batch(len(batch))
        self.computed += len(missing)
        self.reused += sum(1 for h in hashes if h not in self._put) - len(missing)
        if on_batch:
            on_batch(len(texts) - len(missing))
        if self.ragged:
            return [self._rows[h] for h in hashes]
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([self._rows[h] for h in hashes]).astype(np.float32)

    def put(self, text: str, vector: np.ndarray) -> None:
        """Store a vector computed elsewhere (MiniLM's sentence vectors come with its token vectors)."""
        h = text_hash(text)
        if h not in self._rows:
            self._rows[h] = vector
            self._put.add(h)
            self.computed += 1

    def save(self) -> None:
        """Keep the vectors of this build and of the previous one; written atomically."""
        keep = [h for h in self._rows if h in self._used or h in self._previous]
        if not keep:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.npz")
        rows = [self._rows[h] for h in keep]
        extra: dict[str, np.ndarray] = {"lengths": np.array([len(r) for r in rows], dtype=np.int64)} if self.ragged else {}
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    hashes=np.array(keep, dtype="<U64"),
                    vectors=(np.concatenate(rows) if self.ragged else np.stack(rows)).astype(np.float32),
                    current=np.array(sorted(self._used), dtype="<U64"),
                    **extra,  # type: ignore[arg-type]  # savez's stubs read keyword arrays as its flags
                )
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)  # a save that failed half way (a full disk) leaves nothing behind
