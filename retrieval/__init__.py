"""Source-grounded answers about ketamine therapy: verbatim passages of the clinic's articles.

The public API: `Engine(settings).ask(question)` returns a `Result`; `index.build` makes the index.
"""

from .config import Settings
from .records import Chunk, Passage, Result, Source

__all__ = ["Settings", "Source", "Chunk", "Passage", "Result", "Engine"]


def __getattr__(name):  # lazy: importing the package must not load torch
    if name == "Engine":
        from . import answer

        return getattr(answer, name)
    raise AttributeError(name)
