"""Unit tests: the sources manifest and corpus files are validated with messages naming the file."""

import json

import pytest

from retrieval.corpus import CorpusError, load_manifest, read_corpus


def test_real_corpus_reads(corpus_copy):
    docs = read_corpus(corpus_copy)
    assert len(docs) == 5
    assert all(text.strip() for _, text in docs)


def test_missing_file_is_named(corpus_copy):
    (corpus_copy / "002_a2356a16bed16083.txt").unlink()
    with pytest.raises(CorpusError, match="002_a2356a16bed16083.txt.*missing"):
        read_corpus(corpus_copy)


def test_file_without_entry_is_named(corpus_copy):
    (corpus_copy / "extra.txt").write_text("Some text.", encoding="utf-8")
    with pytest.raises(CorpusError, match="extra.txt.*no entry"):
        read_corpus(corpus_copy)


def test_malformed_manifest(corpus_copy):
    (corpus_copy / "sources.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CorpusError, match="sources.json.*not valid JSON"):
        load_manifest(corpus_copy)


def test_entry_without_title(corpus_copy):
    data = json.loads((corpus_copy / "sources.json").read_text())
    data["sources"][0]["title"] = ""
    (corpus_copy / "sources.json").write_text(json.dumps(data))
    with pytest.raises(CorpusError, match='entry 1: "title"'):
        load_manifest(corpus_copy)


def test_non_utf8_and_empty_files(corpus_copy):
    (corpus_copy / "000_4fbde8519420b260.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(CorpusError, match="000_4fbde8519420b260.txt: not UTF-8"):
        read_corpus(corpus_copy)
    (corpus_copy / "000_4fbde8519420b260.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="000_4fbde8519420b260.txt: the file is empty"):
        read_corpus(corpus_copy)
