"""MiniLM as an ONNX graph: exported once from sentence-transformers, checked against it, run by onnxruntime.

Why: sentence-transformers needs PyTorch in the serving process (far more memory, and slower); the
same graph in onnxruntime gives the same vectors. The export is a cache beside the index
(`index/models/`); if onnxruntime is missing or the check fails, MiniLM runs through
sentence-transformers. float32, not int8: int8 quantisation moved the vectors, so quality would move too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
MIN_AGREEMENT = 0.9999  # lowest cosine allowed between the export's and sentence-transformers' vectors

# Texts the export is checked on: short and long (past the 256-token limit), odd characters.
CHECK_TEXTS = [
    "can I get hooked on it",
    "Ketamine",
    "Is ketamine treatment safe while breastfeeding or pregnant?",
    "Perguntas sobre cetamina: é seguro? Ça marche ? 氯胺酮 — “quotes” & ampersands…",
    "Side effects\nDissociation, nausea and raised blood pressure are the most common.",
    " ".join(["Ketamine infusion therapy is given in a clinic under supervision."] * 40),
]


class DamagedModel(RuntimeError):
    """A model file computes what it must not (NaN)."""


class OnnxMiniLM:
    """Mean-pooled, unit-length sentence vectors from an exported transformer graph."""

    def __init__(self, graph: Path | bytes, model_path: Path, threads: int) -> None:
        from tokenizers import Tokenizer

        max_len = json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        # tokenizer.json pads and cuts at 128; sentence-transformers cuts at max_seq_length, pads per batch
        self._tokenizer.enable_truncation(max_length=max_len)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._session = session(graph if isinstance(graph, bytes) else str(graph), threads)

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        return self._forward(texts, batch_size, tokens=False)[0]

    def encode_tokens(self, texts: list[str], batch_size: int = 16):
        """Sentence vectors and, from the same forward pass, each text's token vectors with their wordpieces.

        Token vectors are the last hidden states, unit length, without [CLS], [SEP] and padding.
        """
        return self._forward(texts, batch_size, tokens=True)

    def _forward(self, texts: list[str], batch_size: int, tokens: bool):
        vectors: list[np.ndarray] = []
        per_text: list = [None] * len(texts)
        # sorted by length, so each batch pads to about its own texts' length
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            batch = self._tokenizer.encode_batch([texts[j] for j in rows])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            types = np.array([e.type_ids for e in batch], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            vectors.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
            if tokens:
                for j, e, states in zip(rows, batch, hidden):
                    per_text[j] = unit_tokens(states, e.tokens, e.special_tokens_mask)
        if not vectors:
            return np.zeros((0, 384), dtype=np.float32), []
        out = np.empty((len(texts), 384), dtype=np.float32)
        out[order] = np.concatenate(vectors)
        if not np.isfinite(out).all():  # damaged weights give NaN; never rank or answer with them
            raise DamagedModel("MiniLM's ONNX graph computed NaN vectors; delete index/models and run: python -m retrieval build")
        return out, per_text


def session(model: str | bytes, threads: int):
    """An onnxruntime CPU session on `threads` threads (a path or the serialized graph), quiet."""
    import onnxruntime as ort

    ort.disable_telemetry_events()  # ORT_DISABLE_TELEMETRY (retrieval/__init__.py) already stops it before loading
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # idle worker threads sleep instead of spinning, which burnt the other core's time
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def unit_tokens(states: np.ndarray, pieces: list[str], special: list[int]) -> tuple[np.ndarray, list[str]]:
    """Unit-length hidden states of the real wordpieces (not [CLS], [SEP] or padding), and the pieces."""
    keep = [i for i, s in enumerate(special[: len(states)]) if not s]
    kept = np.asarray(states[keep], dtype=np.float32)
    kept /= np.maximum(np.linalg.norm(kept, axis=1, keepdims=True), 1e-12)
    return kept, [pieces[i] for i in keep]


def supported(model_path: Path) -> bool:
    """onnxruntime is installed and the model is a plain mean-pooled, normalised transformer."""
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_path / "modules.json").read_text())]
        pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
    )
    return modules == ["Transformer", "Pooling", "Normalize"] and bool(mean_only)


def load(folder: Path, model_path: Path, version: str, threads: int) -> OnnxMiniLM | None:
    """The exported model for this package version, exporting it first if needed; None if it cannot be used."""
    if not supported(model_path):
        return None
    graph, record = folder / "model.onnx", folder / "export.json"
    try:
        meta = json.loads(record.read_text())
        if meta.get("format") == EXPORT_FORMAT and meta.get("model") == version:
            data = graph.read_bytes()  # read once: checked, then handed to onnxruntime
            if hashlib.sha256(data).hexdigest() == meta.get("sha256"):
                return OnnxMiniLM(data, model_path, threads)
            log.warning("the ONNX export %s is damaged (checksum mismatch); exporting again", graph)
    except (OSError, ValueError):
        pass
    except Exception as e:  # a graph onnxruntime cannot load: export it again
        log.warning("the cached ONNX export could not be loaded (%s); exporting again", e)
    try:
        export(folder, model_path, version)
        return OnnxMiniLM(graph, model_path, threads)
    except Exception as e:
        log.warning("MiniLM runs through sentence-transformers: the ONNX export failed (%s)", e)
        return None


def export(folder: Path, model_path: Path, version: str) -> dict:
    """Export the transformer with PyTorch, check it against sentence-transformers, publish it atomically."""
    import torch
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_path), device="cpu")

    class LastHidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        sample = reference.tokenizer(["hello world"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes; the check below decides
            torch.onnx.export(
                LastHidden(reference[0].auto_model.eval()),  # type: ignore[union-attr]  # a Transformer module, not a tensor
                tuple(sample[n] for n in names),
                str(tmp / "model.onnx"),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        expected = reference.encode(CHECK_TEXTS, normalize_embeddings=True, show_progress_bar=False)
        candidate = OnnxMiniLM(tmp / "model.onnx", model_path, threads=1)
        one_by_one = np.concatenate([candidate.encode([t]) for t in CHECK_TEXTS])  # as questions are
        batched = candidate.encode(CHECK_TEXTS)  # as passages are: padded to the longest
        agreement = float(min((expected * one_by_one).sum(axis=1).min(), (expected * batched).sum(axis=1).min()))
        if agreement < MIN_AGREEMENT:
            raise ValueError(f"exported vectors differ from sentence-transformers' (cosine {agreement:.5f})")
        meta = {
            "format": EXPORT_FORMAT,
            "model": version,
            "bytes": (tmp / "model.onnx").stat().st_size,
            "sha256": hashlib.sha256((tmp / "model.onnx").read_bytes()).hexdigest(),
            "min_cosine_vs_sentence_transformers": round(agreement, 6),
            "torch": torch.__version__,
        }
        (tmp / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "export.json").is_file():  # else another process published the same export first
                raise
        log.info("exported MiniLM to ONNX at %s (min cosine %.6f)", folder, agreement)
        return meta
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
