"""The question bank: its links are verbatim quotes, its folds keep batches whole, its size is what the decisions
need; what the build learns from it is kept as plain files, offers only bank text, and holds on held-out folds."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest
from support import run_cli

from retrieval.bank import TOPICS, add_faq, find_quote, link, load_bank
from retrieval.chunking import chunk_corpus
from retrieval.corpus import read_corpus
from retrieval.train import grouped_folds


@pytest.fixture(scope="module")
def bank(settings):
    docs = read_corpus(settings.corpus_dir)
    chunks = chunk_corpus(docs, settings.chunking)
    entries = load_bank(settings.bank_dir)
    links, broken = link(entries, {s.id: t for s, t in docs}, chunks)
    return entries, links, broken, chunks, {s.id: t for s, t in docs}


def test_every_link_is_a_verbatim_quote_of_a_passage_the_bot_may_show(bank):
    entries, links, broken, chunks, texts = bank
    assert broken == []
    for i, e in enumerate(entries):
        if e.answerable:
            assert i in links
            for source, quote in ((e.source, e.quote), *e.also):
                a, b = find_quote(texts[source], quote)
                assert any(c.source_id == source and c.start < b and a < c.end for c in (chunks[p] for p in links[i]))


def test_the_bank_is_as_large_and_varied_as_the_decisions_need(bank):
    entries, links, _, chunks, _ = bank
    kinds = Counter(e.kind for e in entries)
    off_topic = sum(e.topic == "off_topic" for e in entries if e.kind == "unanswerable")
    assert kinds["answerable"] >= 1200 and kinds["unanswerable"] - off_topic >= 400 and off_topic >= 50
    assert kinds["crisis"] >= 400 and kinds["near_crisis"] >= 300
    assert {e.topic for e in entries if e.kind == "unanswerable"} == set(TOPICS)
    assert Counter(e.lang for e in entries if e.kind == "answerable")["es"] >= 100
    assert Counter(e.lang for e in entries if e.kind == "crisis")["es"] >= 50
    per_passage = Counter(p for ps in links.values() for p in ps)
    assert len(per_passage) >= 90 and min(per_passage.values()) >= 8  # every passage that answers something


def test_folds_keep_every_batch_whole_and_are_stable(bank):
    entries = bank[0]
    batches = [e.batch for e in entries]
    folds = grouped_folds(batches)
    fold_of = {}
    for b, f in zip(batches, folds):
        assert fold_of.setdefault(b, f) == f
    assert set(folds) == set(range(5)) and np.array_equal(folds, grouped_folds(batches))


def test_a_broken_link_is_named_by_the_build(settings, small_bank, tmp_path):
    copy = tmp_path / "bank"
    shutil.copytree(small_bank, copy)
    target = copy / "answerable" / "a1-sources-000-001-004.jsonl"
    lines = target.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[0])
    row["quote"] = "Ketamine cures everything overnight."  # not in the source
    target.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n", encoding="utf-8")
    out = run_cli("build", env_extra={"RETRIEVAL_BANK": str(copy), "RETRIEVAL_INDEX": str(tmp_path / "index"),
                                      "RETRIEVAL_PROFILE": "fast"}, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "answerable/a1-sources-000-001-004.jsonl:1: quote not found" in out.stderr


def test_the_clinics_own_questions_join_the_bank(settings, tmp_path):
    copy = tmp_path / "bank"
    shutil.copytree(settings.bank_dir, copy)
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\n\"Why is an assessment done before treatment?\",\"Before starting ketamine treatment, patients "
                   "undergo a thorough assessment to evaluate their suitability for the therapy.\"\n", encoding="utf-8")
    added, where = add_faq(copy, settings.corpus_dir, faq)
    assert added == 1 and where == copy / "answerable" / "clinic-faq.jsonl"
    entry = [e for e in load_bank(copy) if e.file.endswith("clinic-faq.jsonl")][0]
    assert entry.source == "003_903277661336a548" and entry.batch == "clinic-0001"
    assert add_faq(copy, settings.corpus_dir, faq)[0] == 0  # asked twice: added once
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nIs it good?,Ketamine cures everything overnight.\n", encoding="utf-8")
    with pytest.raises(Exception, match="row 1: the answer is not text"):
        add_faq(copy, settings.corpus_dir, bad)


def test_a_bank_change_makes_the_index_stale(settings, tmp_path):
    copy = tmp_path / "bank"
    shutil.copytree(settings.bank_dir, copy)
    env = {"RETRIEVAL_BANK": str(copy), "RETRIEVAL_INDEX": str(settings.index_dir)}
    assert run_cli("build", "--check", env_extra=env).returncode == 0
    with open(copy / "unanswerable" / "u1-english.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"batch": "t-1", "question": "Do you validate parking?", "topic": "appointment"}) + "\n")
    out = run_cli("build", "--check", env_extra=env)
    assert out.returncode == 1 and "question bank" in out.stdout


def test_what_was_learned_is_plain_files(engine):
    folder = engine.index.folder
    for f in folder.rglob("*"):
        if f.suffix == ".npy":
            np.load(f, allow_pickle=False)  # raises on a pickled array
        assert f.suffix in (".json", ".jsonl", ".npy", ".faiss", ""), f
    learned = json.loads((folder / "learned.json").read_text())
    assert learned["encoders"] == list(engine.encoders) and 0 < learned["crisis_threshold"] < 1
    assert engine.index.manifest["bank"]["figures"]["decision"]["auc"] == learned["report"]["decision"]["auc"]


def test_suggestions_and_follow_ups_are_bank_questions_the_bot_answers(engine):
    offered = {e.question for e in engine.bank.entries if e.display}
    seen = 0
    for message in ("is it addictive", "ketamine and my bladder?", "how fast does it work for depression",
                    "what about bipolar depression and ketamine", "is it legal to get ketamine treatment?"):
        result = engine.ask(message)
        for question in result.suggestions + result.followups:
            seen += 1
            assert question in offered
            answered = engine.ask(question)
            assert answered.status == "answered"
    assert seen >= 6


def test_a_danger_sign_in_the_middle_of_a_long_question_is_a_crisis(engine):
    ordinary = ("hi, quick question about the infusions. how long does each session take, and can i drive home "
                "afterwards or do i need someone to pick me up? also does insurance usually cover any of it")
    with_danger = ordinary.replace("pick me up?", "pick me up? not that it matters, i have been saving my pills for when i finally do it.")
    # The ordinary message itself may be a false alarm (recall first: docs/decisions.md); its danger sentence
    # must count far above it.
    assert engine.read(with_danger).crisis
    result = engine.ask(with_danger)
    assert result.status == "crisis" and "988" in result.message


def test_spanish_questions_get_english_passages_and_a_spanish_line(engine):
    result = engine.ask("la ketamina es adictiva?")
    assert result.status == "answered" and "inglés" in result.message and result.passages
    crisis = engine.ask("ya no quiero despertar mañana, tengo todas mis pastillas juntas")
    assert crisis.status == "crisis" and "oprime el 2" in crisis.message


def test_held_out_folds_figures(engine):
    """The build's grouped cross-validation (5 folds by batch): the learned decisions on messages whose
    batch none of them saw. Floors a little under what the bank gave when the models were chosen."""
    r = engine.index.manifest["bank"]["figures"]
    assert r["crisis"]["recall"] >= 0.975
    assert r["crisis"]["false_crisis_near_crisis"] <= 0.20 and r["crisis"]["false_crisis_ordinary"] <= 0.12
    assert r["decision"]["auc"] >= 0.93
    assert r["decision"]["answerable_without_suggestions"] <= 0.03
    assert r["language_accuracy"] >= 0.99
    chosen = r["ranking_by_bank_weight"][str(r["w_bank"])]
    assert chosen["r3"] > r["ranking_by_bank_weight"]["0.0"]["r3"]  # the bank's questions help the ranking
