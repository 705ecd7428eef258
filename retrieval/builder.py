"""Building an index: the passages written beside the live build, then the bank's decisions learned on them."""

from __future__ import annotations

from .config import Settings
from .embedding import Encoder
from .index import write
from .train import learn


def build(settings: Settings, encoders: dict[str, Encoder], progress: bool = True) -> dict:
    """Build a new index beside the live one and switch to it; returns the new manifest."""
    return write(settings, encoders, learn, progress)
