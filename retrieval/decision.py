"""Whether the sources answer a message: a calibrated model over the ranking's signals and the message's
similarity to the bank's answerable and unanswerable questions, learned on the bank (retrieval/train.py).
Three outcomes: answer; unsure (offer the closest questions the bot can answer); refuse, with a fixed
message for the kind of question when the bank recognises it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import Linear
from .ngrams import NgramModel

ANSWER, UNSURE, REFUSE = "answer", "unsure", "refuse"


def feature_names(encoders: list[str]) -> list[str]:
    return [*(f"top_{k}" for k in encoders), "word_match", "bank_answerable", "bank_answerable_top5",
            "bank_unanswerable", "bank_unanswerable_top5", "bank_margin", "bank_first_passage", "english", "text", "words"]


def features(encoders: list[str], dense: dict[str, np.ndarray], word_match: float, sims: np.ndarray,
             answerable: np.ndarray, unanswerable: np.ndarray, first_signal: float, english: bool, text: float,
             words: float) -> np.ndarray:
    """The decision's inputs for one message, in feature_names' order.

    dense: each encoder's cosine with every passage (missing for an encoder that did not read it);
    sims: the message's similarity to each bank message, with the `answerable` and `unanswerable` masks
    of those that may be used; first_signal: the bank signal of the first-ranked passage;
    text, words: the probability that the message is answerable from its embedding alone, and from its n-grams alone."""
    top_a = np.sort(sims[answerable])[-5:] if answerable.any() else np.zeros(1)
    top_u = np.sort(sims[unanswerable])[-5:] if unanswerable.any() else np.zeros(1)
    return np.array([*(float(dense[k].max()) if k in dense else 0.0 for k in encoders), word_match,
                     top_a[-1], top_a.mean(), top_u[-1], top_u.mean(), top_a[-1] - top_u[-1], first_signal,
                     float(english), text, words], dtype=np.float32)


@dataclass
class Decision:
    """The learned models and thresholds of the answer decision."""

    text: Linear  # P(answerable) from the message's embeddings alone
    words: NgramModel  # P(answerable) from its character and word n-grams alone ("how much", "mg", "near me")
    model: Linear  # P(answerable) from feature_names
    answer_at: float  # at or above: answer
    unsure_at: float  # at or above (and below answer_at): unsure, offer suggestions; below: refuse
    topics: Linear  # what an unanswerable message asks about (bank.TOPICS)
    topic_at: float  # a refusal names the topic only when it is this likely

    def outcome(self, x: np.ndarray) -> tuple[str, float]:
        """ANSWER, UNSURE or REFUSE for one message's features, and its probability of being answerable."""
        p = float(self.model.proba(x)[0, 1])
        return (ANSWER if p >= self.answer_at else UNSURE if p >= self.unsure_at else REFUSE), p

    def topic(self, embedding: np.ndarray) -> str:
        """The topic of a refused message, or "" when the model is not sure enough (or it is "other")."""
        p = self.topics.proba(embedding)[0]
        best = int(np.argmax(p))
        name = self.topics.classes[best]
        return name if p[best] >= self.topic_at and name != "other" else ""
