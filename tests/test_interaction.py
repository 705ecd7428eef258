"""Late interaction: which wordpieces are matched, MaxSim against a brute-force loop, the stored tokens."""

from __future__ import annotations

import numpy as np

from retrieval import interaction
from retrieval.interaction import TokenStore, passage_pieces, question_pieces, words_of
from retrieval.search import _function_words


def rank(searcher, text: str):
    return searcher.rank(searcher.encode([text])[0])


def test_wordpieces_regroup_into_words():
    pieces = ["di", "##sso", "##ciation", ",", "nausea", "##s"]
    assert words_of(pieces) == [("dissociation", [0, 1, 2]), (",", [3]), ("nauseas", [4, 5])]


def test_question_keeps_content_words_with_all_their_pieces():
    pieces = ["can", "i", "get", "hooked", "on", "ke", "##tam", "##ine", "?", "bladder"]
    kept = [pieces[i] for i in question_pieces(pieces, _function_words())]
    assert kept == ["hooked", "bladder"]  # "ketamine" and "get" are function words here, "?" no word
    assert question_pieces(["is", "it", "?"], _function_words()) == [0, 1, 2]  # nothing left: match on all


def test_question_keeps_a_possessives_noun_but_no_contraction():
    """The tokenizer splits "aren't" into "aren", "'", "t": alphabetic pieces that no source needs to match."""
    pieces = ["can", "the", "brain", "'", "s", "cells", "see", "colours", "that", "aren", "'", "t", "there", "?"]
    assert [pieces[i] for i in question_pieces(pieces, _function_words())] == ["brain", "cells", "colours"]
    pieces = ["we", "'", "re", "sure", "it", "'", "s", "safe"]
    assert [pieces[i] for i in question_pieces(pieces, _function_words())] == ["sure"]


def test_passage_drops_only_punctuation():
    pieces = ["side", "effects", ":", "nausea", ",", "—", "dizziness", "(", "rare", ")", "3", "##mg"]
    assert [pieces[i] for i in passage_pieces(pieces)] == ["side", "effects", "nausea", "dizziness", "rare", "3", "##mg"]
    assert passage_pieces([".", "!"]) == [0, 1]


def _random_store(rng, lengths, dim=8):
    per = [rng.normal(size=(n, dim)).astype(np.float32) for n in lengths]
    return per, TokenStore.from_passages(per)


def test_maxsim_equals_a_plain_loop():
    rng = np.random.default_rng(1)
    per, store = _random_store(rng, [3, 1, 5, 2, 4])
    q = rng.normal(size=(3, 8)).astype(np.float32)
    positions = np.array([4, 0, 2])
    expected = [np.mean([max(float(t @ w) for t in per[p]) for w in q]) for p in positions]
    best_word = [max(float(t @ w) for p in positions for t in per[p]) for w in q]
    scores, words = store.match(q, positions)
    assert np.allclose(scores, expected, atol=1e-5) and np.allclose(words, best_word, atol=1e-5)
    assert store.match(q, np.array([], dtype=np.int64))[0].shape == (0,)


def test_saved_store_loads_alike_in_memory_and_mapped(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    _, store = _random_store(rng, [2, 6, 1])
    store.save(tmp_path, "minilm")
    q = rng.normal(size=(2, 8)).astype(np.float32)
    loaded = TokenStore.load(tmp_path, "minilm")
    assert loaded.vectors.dtype == np.float32  # small: held in memory
    monkeypatch.setattr(interaction, "IN_MEMORY_BYTES", 0)
    mapped = TokenStore.load(tmp_path, "minilm")
    assert isinstance(mapped.vectors, np.memmap) and mapped.vectors.dtype == np.float16
    for s in (loaded, mapped):  # stored as float16: scores within float16's precision
        assert np.allclose(s.match(q, np.arange(3))[0], store.match(q, np.arange(3))[0], atol=2e-2)


def test_damaged_offsets_are_refused(tmp_path):
    _, store = _random_store(np.random.default_rng(3), [2, 2])
    store.save(tmp_path, "minilm")
    np.save(tmp_path / "token_offsets.npy", np.array([0, 3, 9]))
    try:
        TokenStore.load(tmp_path, "minilm")
    except ValueError:
        return
    raise AssertionError("offsets past the end of the vectors were accepted")


def test_index_holds_token_vectors_of_every_passage(engine):
    tokens, chunks = engine.index.tokens, engine.index.chunks
    assert len(tokens.starts) == len(chunks) and np.all(tokens.ends > tokens.starts)
    assert tokens.ends[-1] == len(tokens.vectors) == engine.index.manifest["counts"]["tokens"]
    # a passage's stored tokens are its own: the heading and text, punctuation left out
    enc = engine.encoders["minilm"]
    _, per_text = enc.encode_tokens([chunks[7].embed_text(True)])
    vecs, pieces = per_text[0]
    stored = tokens.vectors[tokens.starts[7] : tokens.ends[7]]
    assert np.allclose(stored, vecs[passage_pieces(pieces)], atol=2e-3)


def test_late_interaction_reorders_only_the_first_passages(engine):
    from dataclasses import replace

    from retrieval.search import Searcher

    base = engine.settings.search
    without = rank(Searcher(engine.index, engine.encoders, replace(base, w_interaction=0)), "can ketamine hurt my bladder")
    late = rank(engine.searcher, "can ketamine hurt my bladder")
    depth = engine.searcher.depth
    assert set(late.order[:depth]) == set(without.order[:depth])
    assert list(late.order[depth:]) == list(without.order[depth:])
    assert not np.array_equal(late.fused[late.order[:depth]], without.fused[without.order[:depth]])


def test_token_vectors_are_cached_between_builds(tmp_path):
    from retrieval.cache import EmbeddingCache

    calls = []

    def compute(texts):
        calls.extend(texts)
        return [np.full((len(t), 4), i, dtype=np.float32) for i, t in enumerate(texts)]

    first = EmbeddingCache(tmp_path, "minilm-tokens", {"v": 1}, ragged=True)
    out = first.encode(None, ["ab", "cde"], compute=compute)
    assert [o.shape for o in out] == [(2, 4), (3, 4)]
    first.save()
    again = EmbeddingCache(tmp_path, "minilm-tokens", {"v": 1}, ragged=True)
    back = again.encode(None, ["cde", "ab", "f"], compute=compute)
    assert sorted(calls) == ["ab", "cde", "f"]  # each text once: only the new one computed again
    assert np.array_equal(back[0], out[1]) and np.array_equal(back[1], out[0]) and back[2].shape == (1, 4)
    assert (again.computed, again.reused) == (1, 2)


def test_word_match_is_low_when_the_sources_never_speak_of_a_word(engine):
    mentioned = rank(engine.searcher, "can ketamine damage the bladder").word_match
    never = rank(engine.searcher, "can ketamine damage the pancreas").word_match  # no source mentions it
    assert never < mentioned - 0.1


def test_a_memory_mapped_store_ranks_alike(engine, settings, monkeypatch):
    """Above IN_MEMORY_BYTES the float16 file is read per question instead: same first passages."""
    from retrieval.answer import Engine

    monkeypatch.setattr(interaction, "IN_MEMORY_BYTES", 0)
    mapped = Engine(settings)
    assert isinstance(mapped.index.tokens.vectors, np.memmap)
    for q in ["can I get hooked on ketamine", "bladder problems from ketamine?", "how fast does it work for depression"]:
        a, b = rank(engine.searcher, q), rank(mapped.searcher, q)
        assert list(a.order[:3]) == list(b.order[:3]) and abs(a.word_match - b.word_match) < 1e-2
