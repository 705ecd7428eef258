"""Small models learned at build time (retrieval/train.py), kept as plain JSON and .npy files and applied
with numpy: scikit-learn fits them, the server only multiplies."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Linear:
    """Standardise, then a logistic (two classes) or softmax (more) layer: scikit-learn's
    StandardScaler + LogisticRegression, with their numbers."""

    def __init__(self, mean, scale, coef, intercept, classes) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)  # (1 or classes, features)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.classes = list(classes)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of each class, rows of x being samples: (samples, classes)."""
        z = ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef.T + self.intercept
        if len(self.classes) == 2:
            p = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -50, 50)))
            return np.stack([1 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept.tolist(), "classes": self.classes}

    @classmethod
    def from_json(cls, d: dict) -> Linear:
        return cls(d["mean"], d["scale"], d["coef"], d["intercept"], d["classes"])

    @classmethod
    def fit(cls, x: np.ndarray, y, c: float = 1.0, balanced: bool = False) -> Linear:
        """Fit with scikit-learn (imported here: only builds train)."""
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(x, dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
        model.fit((x - mean) / scale, y)
        return cls(mean, scale, model.coef_, model.intercept_, [c.item() if hasattr(c, "item") else c for c in model.classes_])


class Mlp:
    """Standardise, one hidden layer of ReLUs, a logistic output: scikit-learn's MLPClassifier for two classes."""

    def __init__(self, mean, scale, w1, b1, w2, b2) -> None:
        self.mean, self.scale = np.asarray(mean, np.float32), np.asarray(scale, np.float32)
        self.w1, self.b1 = np.asarray(w1, np.float32), np.asarray(b1, np.float32)
        self.w2, self.b2 = np.asarray(w2, np.float32), np.asarray(b2, np.float32)

    def proba(self, x: np.ndarray) -> np.ndarray:
        h = np.maximum(((np.atleast_2d(x) - self.mean) / self.scale) @ self.w1 + self.b1, 0.0)
        p = 1.0 / (1.0 + np.exp(-np.clip((h @ self.w2 + self.b2)[:, 0], -50, 50)))
        return np.stack([1 - p, p], axis=1)

    def save(self, folder: Path, name: str) -> None:
        for part in ("mean", "scale", "w1", "b1", "w2", "b2"):
            np.save(folder / f"{name}-{part}.npy", getattr(self, part))

    @classmethod
    def load(cls, folder: Path, name: str) -> Mlp:
        return cls(*(np.load(folder / f"{name}-{part}.npy", allow_pickle=False) for part in ("mean", "scale", "w1", "b1", "w2", "b2")))

    @classmethod
    def fit(cls, x: np.ndarray, y, hidden: int, alpha: float, seed: int = 0) -> Mlp:
        from sklearn.neural_network import MLPClassifier

        x = np.asarray(x, dtype=np.float32)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        # float32 halves the time; stopping early on a tenth held aside halved it again but let through more false alarms
        model = MLPClassifier((hidden,), alpha=alpha, max_iter=200, random_state=seed)
        model.fit((x - mean) / scale, y)
        return cls(mean, scale, model.coefs_[0], model.intercepts_[0], model.coefs_[1], model.intercepts_[1])
