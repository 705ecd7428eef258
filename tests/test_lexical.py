"""Lexical scoring: questions cut exactly as bm25s cut the passages, the dense table equal to bm25s's scores, word pairs."""

import bm25s
import numpy as np
from support import ROOT, gold_items

from retrieval.lexical import _stemmer, terms, tokenize


def test_tokens_match_bm25s_on_sources_and_questions():
    texts = [p.read_text("utf-8") for p in sorted((ROOT / "corpus").glob("*.txt"))]
    texts += [line for t in texts for line in t.splitlines()]
    texts += [it["question"] for it in gold_items(ROOT / "tests" / "gold.jsonl")]
    texts += ["", "I'm NOT sure—can't it? Ketamine's 2nd dose, 50mg…", "Ça marche ? 氯胺酮 naïve_user __init__ a b c"]
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False)
    assert tokenize(texts) == expected


def test_dense_scores_equal_bm25s_sparse_scores(monkeypatch):
    from retrieval import lexical

    passages = [line for p in sorted((ROOT / "corpus").glob("*.txt")) for line in p.read_text("utf-8").splitlines() if line.strip()]
    questions = [it["question"] for it in gold_items(ROOT / "tests" / "gold.jsonl")] + ["ketamine ketamine bladder", "zzz qqq"]
    small = lexical.Lexical.build(passages)
    monkeypatch.setattr(lexical, "DENSE_CELLS", 0)
    sparse = lexical.Lexical.build(passages)
    assert small._table is not None and sparse._table is None
    for q in questions:
        a, b = small.scores(terms(q)), sparse.scores(terms(q))
        assert a.dtype == b.dtype == np.float32 and a.shape == (len(passages),)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert small.scores(terms("bladder")).max() > 0


def test_word_pairs_favour_a_shared_phrase_and_survive_save_and_load(tmp_path):
    from retrieval.lexical import Lexical, word_pairs

    assert word_pairs(["higher", "risk", "ketamin"]) == ["higher risk", "risk ketamin"]
    passages = ["People with a history of drug use may be at higher risk.", "The risk is not higher for everyone who uses it.", ""]
    lexical = Lexical.build(passages)
    question = terms("am I at higher risk")
    words, pairs = lexical.scores(question), lexical.pair_scores(question)
    assert words[0] > 0 and words[1] > 0  # both passages hold both words
    assert pairs[0] > 0 and pairs[1] == 0 and pairs[2] == 0  # only the first holds the phrase
    lexical.save(tmp_path)
    again = Lexical.load(tmp_path)
    np.testing.assert_array_equal(again.pair_scores(question), pairs)
    assert not again.pair_scores(terms("ketamine")).any()  # a single word makes no pair
