"""Ranking on a large index: only FAISS's and BM25's candidates are scored, and they rank alike."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from retrieval.answer import Engine
from retrieval.evaluate import load_gold
from retrieval.safety import check_input
from conftest import ROOT


@pytest.fixture(scope="module")
def candidate_engine(settings):
    """The session's index, searched as if it were too large to score every passage."""
    return Engine(replace(settings, search=replace(settings.search, exhaustive_up_to=0, candidates=15, scale_sample=15)))


def test_small_index_scores_every_passage(engine):
    r = engine.searcher.rank("is ketamine addictive")
    assert engine.searcher.exhaustive and len(r.order) == len(engine.index.chunks)


def test_large_index_scores_only_candidates_and_ranks_alike(engine, candidate_engine):
    n = len(engine.index.chunks)
    items = [it for it in load_gold(ROOT / "tests" / "gold.jsonl") if it["kind"] == "in"]
    same_first = 0
    for it in items:
        text = check_input(it["question"])[1]
        every, some = engine.searcher.rank(text), candidate_engine.searcher.rank(text)
        assert 15 <= len(some.order) <= 60 < n  # three signals' top 15 and 15 sampled, never all 100
        others = np.setdiff1d(np.arange(n), some.order)
        assert np.isneginf(some.fused[others]).all() and (some.dense["minilm"][others] == -1).all()
        same_first += int(every.order[0] == some.order[0])
    assert same_first / len(items) >= 0.85, f"same first passage for {same_first} of {len(items)}"


def test_answers_from_candidates_stay_verbatim(candidate_engine):
    files = {}
    for question in ["can I get hooked on ketamine", "bladder problems from ketamine?", "does ketamine help chronic pain"]:
        result = candidate_engine.ask(question)
        assert result.status == "answered" and result.passages
        for p in result.passages:
            text = files.setdefault(p.path, (ROOT / p.path).read_text(encoding="utf-8"))
            assert text[p.start : p.end] == p.text
            assert p.start <= p.highlight[0] < p.highlight[1] <= p.end


def test_candidate_vectors_equal_the_index_whether_kept_or_read(engine, candidate_engine):
    searcher = candidate_engine.searcher
    kept = searcher._sample[:3]
    read = np.setdiff1d(np.arange(len(engine.index.chunks)), searcher._sample)[:4]
    positions = np.array([read[0], kept[0], read[1], kept[1], kept[2], read[2], read[3]])
    for key in engine.encoders:
        expected = engine.searcher.vectors(key, positions)
        assert np.array_equal(searcher.vectors(key, positions), expected)
        assert np.array_equal(searcher.vectors(key, kept), engine.searcher.vectors(key, kept))
