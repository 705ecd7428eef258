"""Crisis: whether a message signals danger to life. Two models learned from the question bank read the
whole message and each of its sentences (a danger sign in the middle of a long question counts): a
small neural network over the sentence embeddings (meaning, in any language the encoders read) and a
linear model over character and word n-grams (slang, typos, word forms); a few unambiguous phrases
are a floor beneath them."""

from __future__ import annotations

import re

import numpy as np

from .models import Mlp
from .ngrams import NgramModel

# Phrases that mean danger whatever surrounds them: the old rule's alternatives that no ordinary or
# near-crisis message of the bank contains (tests/test_safety.py keeps it so; docs/decisions.md).
FLOOR = re.compile(
    r"\bkill(ing)? myself\b|\bend(ing)? (it all|my (own )?life|my life)\b|\btake my (own )?life\b"
    r"|\b(want|wanna|going|gonna|plan(ning)?|ready) to die\b|\bwish (i was|i were|to be) dead\b"
    r"|\b(don'?t|do not|no longer) want to (live|be alive|be here|wake up|exist|go on)\b"
    r"|\bbetter off (dead|without me|if i (was|were|wasn'?t|weren'?t) (gone|dead|here|around|alive))"
    r"|\bno (way out|reason to live|point (in )?living)\b"
    r"|\bthinking (about|of) (dying|death|killing)\b|\bcan'?t (go on|take (it|this) any ?more|do this any ?more)\b"
    r"|\bnothing matters any ?more\b|\b(i|she|he|they|we|you) just overdosed\b"
    r"|\b(i'm|im|i am|she's|he's|is|are|they're) (\w+ )?overdosing\b|\btook (way )?too much\b"
    r"|\b(won'?t|will not|can'?t|cannot|doesn'?t|does not|not) wak(e|ing) up\b|\bunresponsive\b"
    r"|\b(not|stopped|isn'?t|is not|aren'?t|barely) breathing\b|\bcollapsed\b|\blips (are|turning) blue\b"
    r"|\b(i'?m|i am|im)( so| very| really| kinda| pretty)? suicidal\b|\b(i'?m|i am|im) having suicidal\b"
    r"|\bcommit(ting)? suicide\b|\bsuicide (plan|note|letter)s?\b",
    re.I,
)

_SENTENCE = re.compile(r"(?<=[.!?…;])\s+|\s*\n+\s*")
_CLAUSE = re.compile(r"(?<=,)\s+")
LONG_SENTENCE_WORDS = 20  # a longer sentence is also read clause by clause (run-on messages have few full stops)


def units(text: str) -> list[str]:
    """What the model reads of a message: the whole message, and each sentence (each clause of a long
    one) when there is more than one."""
    parts = []
    for sentence in _SENTENCE.split(text.strip()):
        if len(sentence.split()) > LONG_SENTENCE_WORDS:
            parts += [c for c in _CLAUSE.split(sentence) if c.strip()]
        elif sentence.strip():
            parts.append(sentence)
    parts = [p.strip() for p in parts if any(ch.isalpha() for ch in p)]
    return [text] + (parts if len(parts) > 1 else [])


class CrisisModel:
    """The learned reader: a message's score is its highest unit's, each unit's the geometric mean of the two
    models' probabilities; the threshold is chosen on grouped cross-validation for recall first (train.py)."""

    def __init__(self, meaning: Mlp, words: NgramModel, threshold: float) -> None:
        self.meaning, self.words, self.threshold = meaning, words, threshold

    def unit_scores(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        return np.sqrt(self.meaning.proba(embeddings)[:, 1] * self.words.proba(texts)[:, 1])

    def is_crisis(self, texts: list[str], embeddings: np.ndarray) -> bool:
        """texts: the message's units (crisis.units), embeddings: theirs, row by row."""
        return bool(FLOOR.search(texts[0])) or float(self.unit_scores(texts, embeddings).max()) >= self.threshold
