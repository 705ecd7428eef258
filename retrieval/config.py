"""All settings in one place, with defaults that work from a fresh clone."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bump when the on-disk index layout or the chunking/cleaning code changes meaning:
# an index built by another format version is stale.
INDEX_FORMAT = 2


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are cut: a few consecutive sentences inside one paragraph."""

    max_sentences: int = 3
    max_chars: int = 700
    heading_context: bool = True  # embed "heading\npassage" (the shown text stays file[start:end])


@dataclass(frozen=True)
class SearchSettings:
    """Weights of the signals fused (by z-score over all passages) into one ranking score."""

    w_dense: float = 1.0  # cosine of the question and the (heading + passage) vector
    w_sentence_max: float = 0.5  # best cosine of the question and one sentence of the passage
    w_sentence_mean: float = 0.5  # mean cosine over the passage's sentences
    w_bm25: float = 0.3  # stemmed BM25


@dataclass(frozen=True)
class AnswerSettings:
    """How many passages are shown and when the bot abstains.

    The thresholds were chosen with `python -m retrieval calibrate` on the project's own
    gold set (see retrieval/evaluate.py for the procedure) and confirmed on the dev set.
    """

    top_k: int = 3
    max_question_chars: int = 1000
    min_dense: float = 0.30  # best passage cosine below this: no_match
    min_coverage: float = 0.55  # a key question word with no near neighbour in the sources: no_match
    min_relative: float = 0.85  # passages after the first must keep this share of its fused score
    duplicate_cosine: float = 0.80  # two passages this similar say the same thing: credit, don't repeat


@dataclass(frozen=True)
class Settings:
    """Paths, model and retrieval settings; environment variables override paths and model."""

    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("RETRIEVAL_CORPUS", ROOT / "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("RETRIEVAL_INDEX", ROOT / "index")))
    model: str = field(default_factory=lambda: os.environ.get("RETRIEVAL_MODEL", "minilm"))
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)

    @property
    def manifest_path(self) -> Path:
        return self.corpus_dir / "sources.json"

    def fingerprint(self) -> dict:
        """The settings that change what the index holds (recorded in its manifest)."""
        return {"format": INDEX_FORMAT, "model": self.model, "chunking": asdict(self.chunking)}


DEFAULT_GOLD = ROOT / "tests" / "gold.jsonl"
