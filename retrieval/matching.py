"""A message against the question bank: its similarity to every bank message, the ranking signal
that gives each passage (its closest linked question), and the bank questions offered as
suggestions ("Did you mean …?") and follow-ups ("People also ask")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUGGESTIONS = 3


@dataclass
class BankEntry:
    """A bank message as the index keeps it."""

    question: str
    kind: str
    batch: str
    lang: str = "en"
    topic: str = ""
    passages: tuple[int, ...] = ()  # chunk positions that answer it (its own quote's first)
    display: bool = False  # a question the bot answers with its own passage: may be offered to users

    @property
    def answerable(self) -> bool:
        return bool(self.passages)


class Bank:
    """The bank's messages, their vectors per encoder, and which passages answer them."""

    def __init__(self, entries: list[BankEntry], vectors: dict[str, np.ndarray], n_chunks: int) -> None:
        self.entries, self.vectors, self.n_chunks = entries, vectors, n_chunks
        self.answerable = np.array([e.answerable for e in entries], dtype=bool)
        self.unanswerable = np.array([e.kind in ("unanswerable", "near_crisis") and not e.answerable for e in entries], dtype=bool)
        pairs = sorted((p, i) for i, e in enumerate(entries) for p in e.passages)
        self._pair_passage = np.array([p for p, _ in pairs], dtype=np.int64)
        self._pair_entry = np.array([i for _, i in pairs], dtype=np.int64)
        self._linked, self._starts = np.unique(self._pair_passage, return_index=True)
        self._display: dict[int, list[int]] = {}  # passage -> the display questions whose own quote it holds
        for i, e in enumerate(entries):
            if e.display:
                self._display.setdefault(e.passages[0], []).append(i)

    def similarities(self, query: dict[str, np.ndarray]) -> np.ndarray:
        """Cosine of the message with every bank message, averaged over the encoders both have."""
        keys = [k for k in query if k in self.vectors]
        return sum(self.vectors[k] @ query[k] for k in keys) / len(keys)

    def passage_signal(self, sims: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """Each passage's closest linked bank question (`allowed` ones only); the lowest of those
        where a passage has none."""
        values = sims[self._pair_entry]
        if allowed is not None:
            values = np.where(allowed[self._pair_entry], values, -np.inf)
        best = np.maximum.reduceat(values, self._starts) if len(values) else np.zeros(0)
        finite = best[np.isfinite(best)]
        floor = float(finite.min()) if len(finite) else 0.0
        out = np.full(self.n_chunks, floor, dtype=np.float32)
        out[self._linked] = np.where(np.isfinite(best), best, floor)
        return out

    def offered(self, sims: np.ndarray, passages: list[int], lang: str, skip: set[int], n: int = SUGGESTIONS,
                unlike: float = 0.97) -> list[str]:
        """Up to n display questions, one per passage in the given order (passages in `skip` left
        out), each the one of its passage closest to the message, in the message's language when the
        bank has one there; none as similar to the message as `unlike` (the message itself, or for a
        follow-up, the same question again)."""
        out: list[str] = []
        for p in passages:
            if p in skip or p not in self._display:
                continue
            shown = self._display[p]
            own = [i for i in shown if self.entries[i].lang == lang] or [i for i in shown if self.entries[i].lang == "en"]
            if not own:
                continue
            fresh = [i for i in own if sims[i] < unlike]
            if not fresh:
                continue
            best = max(fresh, key=lambda i: sims[i])
            text = self.entries[best].question
            if text not in out:
                out.append(text)
            if len(out) == n:
                break
        return out

    def save(self, folder: Path) -> None:
        with open(folder / "bank.jsonl", "w", encoding="utf-8") as f:
            for e in self.entries:
                f.write(json.dumps({"question": e.question, "kind": e.kind, "batch": e.batch, "lang": e.lang, "topic": e.topic,
                                    "passages": list(e.passages), "display": e.display}, ensure_ascii=False) + "\n")
        for key, v in self.vectors.items():
            np.save(folder / f"bank-{key}.npy", v.astype(np.float32))

    @classmethod
    def load(cls, folder: Path, keys, n_chunks: int) -> Bank:
        entries = []
        for line in (folder / "bank.jsonl").read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            entries.append(BankEntry(**{**d, "passages": tuple(d["passages"])}))
        vectors = {k: np.load(folder / f"bank-{k}.npy", allow_pickle=False) for k in keys}
        return cls(entries, vectors, n_chunks)
