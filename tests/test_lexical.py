"""The question tokenizer must cut text exactly as bm25s.tokenize cut the indexed passages."""

import bm25s

from conftest import ROOT, gold_items
from retrieval.lexical import _stemmer, tokenize


def test_tokens_match_bm25s_on_sources_and_questions():
    texts = [p.read_text("utf-8") for p in sorted((ROOT / "corpus").glob("*.txt"))]
    texts += [line for t in texts for line in t.splitlines()]
    texts += [it["question"] for it in gold_items(ROOT / "tests" / "gold.jsonl")]
    texts += ["", "I'm NOT sure—can't it? Ketamine's 2nd dose, 50mg…", "Ça marche ? 氯胺酮 naïve_user __init__ a b c"]
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False)
    assert tokenize(texts) == expected
