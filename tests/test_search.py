"""Ranking: on a large index only FAISS's and BM25's candidates scored, ranking alike; fusion, highlight, key words."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support import ROOT

from retrieval.answer import Engine
from retrieval.evaluate import load_gold
from retrieval.safety import check_input
from retrieval.search import fuse, key_words


@pytest.fixture(scope="module")
def candidate_engine(settings):
    """The session's index, searched as if it were too large to score every passage."""
    return Engine(replace(settings, search=replace(settings.search, exhaustive_up_to=0, candidates=15, scale_sample=15)))


def rank(searcher, text: str):
    return searcher.rank(searcher.encode([text])[0])


def test_small_index_scores_every_passage(engine):
    r = rank(engine.searcher, "is ketamine addictive")
    assert engine.searcher.exhaustive and len(r.order) == len(engine.index.chunks)


def test_large_index_scores_only_candidates_and_ranks_alike(engine, candidate_engine):
    n = len(engine.index.chunks)
    items = [it for it in load_gold(ROOT / "tests" / "gold.jsonl") if it["kind"] == "in"]
    same_first = 0
    for it in items:
        text = check_input(it["question"])[1]
        every, some = rank(engine.searcher, text), rank(candidate_engine.searcher, text)
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



def test_candidate_scores_equal_scoring_everything(engine, candidate_engine):
    """Sampled passages' vectors are kept in memory, the others read from FAISS: same cosines either way."""
    n = len(engine.index.chunks)
    every, some = rank(engine.searcher, "is ketamine addictive"), rank(candidate_engine.searcher, "is ketamine addictive")
    sampled = candidate_engine.searcher._sample
    assert 0 < len(sampled) < len(some.order) < n
    for key in engine.encoders:
        assert np.allclose(some.dense[key][some.order], every.dense[key][some.order], atol=1e-6)
    assert np.array_equal(candidate_engine.searcher.vectors("minilm", [3, 50]), engine.searcher.vectors("minilm", [3, 50]))


def test_shared_trigrams_measures_copied_words():
    from retrieval.answer import shared_trigrams

    sentence = "Driving is not allowed for the rest of the day."
    assert shared_trigrams(sentence, "After an infusion: " + sentence.upper() + " Rest first.") == 1.0
    assert shared_trigrams(sentence, "Driving is allowed the next day.") == 0.0
    assert 0.0 < shared_trigrams(sentence, "Driving is not a problem.") < 0.5
    assert shared_trigrams("", sentence) == 0.0


def test_copied_share_is_the_larger_share_either_way():
    from retrieval.answer import copied_share, shared_trigrams

    sentence = "Driving is not allowed for the rest of the day."
    for other in ("After an infusion: " + sentence + " Rest first.", "Driving is not a problem.", "Rest.", "", sentence):
        assert copied_share(sentence, other) == copied_share(other, sentence)
        assert copied_share(sentence, other) == max(shared_trigrams(sentence, other), shared_trigrams(other, sentence))
    assert copied_share("After an infusion: " + sentence + " Rest first.", sentence) == 1.0


def test_key_words_keep_a_possessives_noun_and_drop_contractions():
    assert key_words("Why aren't we sure what's in the brain's cells? It’s odd, isn’t it") == ["sure", "brain", "cells", "odd"]


def test_highlight_prefers_the_sentence_holding_the_questions_rare_words():
    from retrieval.answer import highlight
    from retrieval.lexical import tokenize

    sentences = [frozenset(t) for t in tokenize(["Recreational misuse has made ketamine popular.",
                                                 "Chronic use can cause bladder troubles."])]
    meaning = np.array([0.52, 0.45])  # the first reads closer in meaning
    idf = {"bladder": 3.0, "ketamin": 0.1}
    assert highlight(sentences, meaning, idf, word_weight=1.0) == 1
    assert highlight(sentences, meaning, idf, word_weight=0.0) == 0  # meaning alone
    assert highlight(sentences, meaning, {}, word_weight=1.0) == 0  # no question word the sources hold
    assert highlight(sentences[:1], meaning[:1], idf, word_weight=1.0) == 0


def test_fuse_is_the_weighted_sum_of_each_signals_zscore():
    rng = np.random.default_rng(0)
    signals = [rng.standard_normal(40).astype(np.float32) for _ in range(3)] + [np.full(40, 2.0, np.float32)]
    weights = [0.5, 1.0, 0.25, 3.0]  # the last signal has no spread: it adds nothing

    def zscore(x, ref):
        sd = x[ref].std()
        return (x - x[ref].mean()) / sd if sd > 1e-9 else np.zeros_like(x)

    for ref in (slice(None), np.arange(40) % 3 == 0):
        expected = sum(w * zscore(s, ref) for w, s in zip(weights, signals))
        assert np.allclose(fuse(signals, weights, ref), expected, atol=1e-5)
