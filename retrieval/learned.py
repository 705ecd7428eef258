"""Everything learned from the question bank for one index, kept as plain files beside it: learned.json,
and the arrays of the crisis reader and the answer decision (crisis-*.npy, *-words.json, *-words-*.npy)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .crisis import CrisisModel
from .decision import Decision
from .models import Linear, Mlp
from .ngrams import NgramModel


@dataclass
class Learned:
    encoders: list[str]  # whose embeddings the models read, concatenated in this order
    w_bank: float  # weight of the bank signal in the ranking's fusion
    crisis: CrisisModel
    language: Linear  # "en", "es" or "other"
    decision: Decision
    report: dict = field(default_factory=dict)  # grouped cross-validation figures (train.py)

    def embedding(self, vectors: dict[str, np.ndarray]) -> np.ndarray:
        """One row: the encoders' vectors side by side (rows of several units when given matrices)."""
        return np.concatenate([np.atleast_2d(vectors[k]) for k in self.encoders], axis=1)

    def language_of(self, embedding: np.ndarray) -> str:
        p = self.language.proba(embedding)[0]
        return str(self.language.classes[int(np.argmax(p))])

    def save(self, folder: Path) -> None:
        d = self.decision
        self.crisis.meaning.save(folder, "crisis-meaning")
        self.crisis.words.save(folder, "crisis-words")
        d.words.save(folder, "answer-words")
        data = {
            "encoders": self.encoders, "w_bank": self.w_bank, "crisis_threshold": self.crisis.threshold,
            "language": self.language.to_json(),
            "decision": {"text": d.text.to_json(), "model": d.model.to_json(), "answer_at": d.answer_at,
                         "unsure_at": d.unsure_at, "topics": d.topics.to_json(), "topic_at": d.topic_at},
            "report": self.report,
        }
        (folder / "learned.json").write_text(json.dumps(data) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Learned:
        data = json.loads((folder / "learned.json").read_text(encoding="utf-8"))
        d = data["decision"]
        crisis = CrisisModel(Mlp.load(folder, "crisis-meaning"), NgramModel.load(folder, "crisis-words"), data["crisis_threshold"])
        return cls(
            encoders=data["encoders"], w_bank=data["w_bank"], crisis=crisis,
            language=Linear.from_json(data["language"]),
            decision=Decision(Linear.from_json(d["text"]), NgramModel.load(folder, "answer-words"), Linear.from_json(d["model"]),
                              d["answer_at"], d["unsure_at"], Linear.from_json(d["topics"]), d["topic_at"]),
            report=data.get("report", {}),
        )
