"""End to end through the command line, as a clinic's staff or a script would use it."""

import json
import statistics

import pytest
from support import ROOT, SHARED_DEV, gold_items, run_cli

from retrieval.records import STATUSES

OWN_ROBUST = gold_items(ROOT / "tests" / "gold.jsonl", "robust")
DEV_ROBUST = gold_items(SHARED_DEV, "robust") if SHARED_DEV.is_file() else []


def env(settings):
    return {"RETRIEVAL_INDEX": str(settings.index_dir)}


def check_verbatim(result):
    for p in result["passages"]:
        assert (ROOT / p["path"]).read_text(encoding="utf-8")[p["start"] : p["end"]] == p["text"]


def test_ask_json_answers_a_real_question(settings):
    r = run_cli("ask", "--json", "can ketamine help with alcohol addiction?", env_extra=env(settings))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "answered"
    assert "alcohol" in result["passages"][0]["text"].lower()
    assert result["passages"][0]["source"]["title"]
    check_verbatim(result)


def test_ask_plain_text_shows_source(settings):
    r = run_cli("ask", "is ketamine addictive?", env_extra=env(settings))
    assert r.returncode == 0 and "[answered]" in r.stdout and "Source:" in r.stdout


@pytest.mark.parametrize("items", [OWN_ROBUST, DEV_ROBUST], ids=["own-robust", "dev-robust"])
def test_batch_gives_one_valid_result_per_line(settings, tmp_path, items):
    if not items:
        pytest.skip("../shared/eval/dev.jsonl is not beside the project")
    lines = [json.dumps({"id": it["id"], "question": it["question"]}) for it in items]
    lines += ["this line is not json", json.dumps({"id": "no-question"}), json.dumps({"id": "num", "question": 7}), "[1, 2]"]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_cli("ask", "--json", "--batch", str(batch), env_extra=env(settings))
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(results) == len(lines)
    assert [x.get("id") for x in results[: len(items)]] == [it["id"] for it in items]
    for x in results:
        assert x["status"] in STATUSES
        check_verbatim(x)
        if x["status"] != "answered":
            assert x["message"]
    assert [x["status"] for x in results[len(items) :]] == ["invalid"] * 4
    assert results[len(items) + 1]["id"] == "no-question"


def test_build_check_exit_codes(tmp_path):
    empty = {"RETRIEVAL_INDEX": str(tmp_path / "none")}
    r = run_cli("build", "--check", env_extra=empty)
    assert r.returncode == 1 and "stale" in r.stdout


def test_missing_index_is_a_sentence_not_a_traceback(tmp_path):
    r = run_cli("ask", "is ketamine addictive?", env_extra={"RETRIEVAL_INDEX": str(tmp_path / "none")})
    assert r.returncode == 2
    assert "python -m retrieval build" in r.stderr and "Traceback" not in r.stderr


def test_eval_prints_the_figures(settings):
    r = run_cli("eval", env_extra=env(settings))
    assert r.returncode == 0, r.stderr
    for label in ("Recall@1", "Recall@3", "MRR@5", "out-of-scope abstention", "false abstention", "crisis recall",
                  "BM25 alone", "all-MiniLM-L6-v2 alone", "pipeline without bm25"):
        assert label in r.stdout


def test_bench_runs_on_a_tiny_setting(small_bank):
    r = run_cli("bench", "--profiles", "fast", "--runs", "3", "--repeat", "2", "--no-server", "--scale", "3000",
                env_extra={"RETRIEVAL_BANK": str(small_bank)}, timeout=900)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    median, runs = figures["profiles"][0], figures["runs"]
    assert median["profile"] == "fast" and median["ask_p50_ms"] > 0 and median["repeats"] == 2
    assert [run["profile"] for run in runs] == ["fast", "fast"]
    assert median["ask_p50_ms"] == statistics.median(run["ask_p50_ms"] for run in runs)
    assert median["overhead_ratio_each"] == [run["overhead_ratio"] for run in runs]
    scaled = figures["scale"][0]
    assert scaled["passages"] == 3000 and scaled["recall_at_10"] == 1.0
    assert scaled["rank_p50_ms"] > 0 and 0 <= scaled["rank_top1_agreement"] <= 1
    assert scaled["tokens_mb"] > 0  # late interaction is part of the scaled ranking


def test_bench_throughput_client_gets_every_answer(server):
    from urllib.parse import urlparse

    from retrieval.bench import _questions, throughput

    figures = throughput(urlparse(server).port, None, _questions(40), clients=4)
    assert figures["throughput_requests"] == 40 and figures["throughput_rps"] > 0
    with pytest.raises(RuntimeError, match="failed under load"):
        throughput(urlparse(server).port, None, ["x" * 100_000], clients=1)  # over the body limit: 413
