"""The question tokenizer must cut text exactly as bm25s.tokenize cut the indexed passages."""

import bm25s
import numpy as np

from conftest import ROOT, gold_items
from retrieval.lexical import _stemmer, tokenize


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
        a, b = small.scores(q), sparse.scores(q)
        assert a.dtype == b.dtype == np.float32 and a.shape == (len(passages),)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert small.scores("bladder").max() > 0
