"""Source-grounded answers about ketamine therapy: verbatim passages of the clinic's articles.

The public API: `Engine(settings).ask(question)` returns a `Result`; `builder.build` makes the index.
"""

import os

# Nothing is fetched or sent at run time, by us or by a library: set before any of them loads.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # onnxruntime's telemetry looks up and writes to a Microsoft host
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from .config import Settings  # noqa: E402
from .records import Chunk, Passage, Result, Source  # noqa: E402

__all__ = ["Settings", "Source", "Chunk", "Passage", "Result", "Engine"]


def __getattr__(name):  # lazy: importing the package must not load torch
    if name == "Engine":
        from . import answer

        return getattr(answer, name)
    raise AttributeError(name)
