"""MiniLM in onnxruntime: the same vectors as sentence-transformers, no PyTorch when serving, a clean fallback."""

from __future__ import annotations

import json

import numpy as np
from support import ask_in_new_process

from retrieval import config, embedding, onnxmodel
from retrieval.chunking import chunk_corpus
from retrieval.corpus import read_corpus


def _texts(settings, n=40) -> list[str]:
    chunks = chunk_corpus(read_corpus(settings.corpus_dir), settings.chunking)
    return [c.embed_text(True) for c in chunks[:n]] + ["can I get hooked on it", "bladder problems?"]


def test_onnx_vectors_equal_sentence_transformers(settings):
    texts = _texts(settings)
    onnx = embedding.MiniLMEncoder(backend="onnx")
    torch = embedding.MiniLMEncoder(backend="torch")
    assert (onnx.backend, torch.backend) == ("onnx", "torch")
    batched = onnx.encode(texts)
    single = np.concatenate([onnx.encode([t], query=True) for t in texts[-5:]])
    reference = torch.encode(texts)
    assert batched.shape == reference.shape == (len(texts), 384)
    assert (batched * reference).sum(axis=1).min() > 0.9999
    assert (single * reference[-5:]).sum(axis=1).min() > 0.9999
    meta = json.loads(next(config.model_dir().glob("*-onnx/export.json")).read_text())
    assert meta["min_cosine_vs_sentence_transformers"] >= onnxmodel.MIN_AGREEMENT
    # token vectors (late interaction) agree too, piece for piece, and come with the same sentence vectors
    (v_onnx, t_onnx), (v_torch, t_torch) = onnx.encode_tokens(texts), torch.encode_tokens(texts)
    assert np.allclose(v_onnx, batched) and np.allclose(v_torch, reference, atol=1e-6)
    for (a, pieces_a), (b, pieces_b) in zip(t_onnx, t_torch):
        assert pieces_a == pieces_b and "[CLS]" not in pieces_a and "[SEP]" not in pieces_a
        assert a.shape == (len(pieces_a), 384) and (a * b).sum(axis=1).min() > 0.9999


def test_serving_process_never_imports_torch(settings):
    """The point of the export: answering needs neither PyTorch nor sentence-transformers."""
    report = "e.encoders['minilm'].backend, sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)"
    assert ask_in_new_process(settings, report) == "onnx []"


def test_damaged_export_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path))
    first = embedding.MiniLMEncoder(backend="onnx")
    graph = next(tmp_path.glob("*-onnx/model.onnx"))
    graph.write_bytes(graph.read_bytes()[: 1000])  # truncated, as by a full disk
    again = embedding.MiniLMEncoder(backend="onnx")
    assert again.backend == "onnx"
    v = again.encode(["ketamine and the bladder"])
    assert np.allclose(v, first.encode(["ketamine and the bladder"]), atol=1e-5)


def test_falls_back_to_sentence_transformers_when_the_check_fails(tmp_path, monkeypatch):
    """An export whose vectors disagree with sentence-transformers is thrown away, never used."""
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path))
    monkeypatch.setattr(onnxmodel, "MIN_AGREEMENT", 1.01)  # no export can pass
    enc = embedding.MiniLMEncoder(backend="onnx")
    assert enc.backend == "torch"
    assert enc.encode(["ketamine"]).shape == (1, 384)
    assert not list(tmp_path.rglob("*.onnx"))  # nothing half-written left behind
