"""The clinic's own documents: add, remove, incremental rebuild, rollback, killed builds, hot reload."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from support import ROOT, run_cli, running_app

from retrieval.answer import Engine
from retrieval.bank import add_faq
from retrieval.builder import build
from retrieval.config import Settings
from retrieval.corpus import CorpusError, read_corpus
from retrieval.documents import add_document, remove_document
from retrieval.embedding import load_encoders
from retrieval.index import _verify, live_folder, load, read_manifest, rollback, staleness

HTML = ROOT / "tests" / "data" / "aftercare.html"
QUESTION = "Can someone drive me home after an infusion?"  # the clinic's own question for the new document


@pytest.fixture()
def fast(tmp_path, corpus_copy, small_bank):
    """Settings over writable copies of the corpus and of a sample of the bank, and an empty index (MiniLM only, for speed)."""
    shutil.copytree(small_bank, tmp_path / "bank")
    return Settings(corpus_dir=corpus_copy, index_dir=tmp_path / "index", bank_dir=tmp_path / "bank", profile="fast")


def add_aftercare(s: Settings, title="Aftercare after a ketamine infusion", publisher="Sunrise Clinic"):
    """Add a document as a clinic does: the document, and its own question (the bank learned that the
    articles say nothing of driving home; the new document does)."""
    source = add_document(s.corpus_dir, HTML, title, publisher)
    add_clinic_question(s)
    return source


def add_clinic_question(s: Settings) -> None:
    """QUESTION into the bank (retrieval add --faq), linked to every document that answers it."""
    faq = s.index_dir.parent / "faq.jsonl"
    faq.write_text(json.dumps({"question": QUESTION, "answer": "every patient must arrange for a friend or family member "
                                                              "to drive them home."}) + "\n", encoding="utf-8")
    add_faq(s.bank_dir, s.corpus_dir, faq)


def cli_env(s: Settings) -> dict:
    return {"RETRIEVAL_CORPUS": str(s.corpus_dir), "RETRIEVAL_INDEX": str(s.index_dir), "RETRIEVAL_PROFILE": s.profile,
            "RETRIEVAL_BANK": str(s.bank_dir)}


def verbatim(s: Settings, result) -> bool:
    return all((s.corpus_dir / p.path.split("/", 1)[1]).read_text("utf-8")[p.start : p.end] == p.text for p in result.passages)


def test_add_html_ask_remove(fast):
    encoders = load_encoders(fast.encoders)
    build(fast, encoders, progress=False)
    assert not any("drive them home" in p.text for p in Engine(fast).ask(QUESTION).passages)
    source = add_aftercare(fast)
    stored = (fast.corpus_dir / source.file).read_text("utf-8")
    assert source.file.endswith(".txt") and "Driving is not allowed" in stored and "All rights reserved" not in stored
    manifest = build(fast, encoders, progress=False)
    changes = manifest["changes"]
    assert changes["documents_added"] == [source.file] and changes["passages_removed"] == 0
    assert 0 < changes["embeddings_computed"] < changes["embeddings_reused"]
    result = Engine(fast).ask(QUESTION)
    # answered, or answered after the crisis resources: this reader learns from a third of the bank with one encoder
    assert result.status in ("answered", "crisis") and result.passages[0].source["id"] == source.id
    assert "drive them home" in result.passages[0].text and verbatim(fast, result)
    remove_document(fast.corpus_dir, source.id)
    assert not (fast.corpus_dir / source.file).exists()
    build(fast, encoders, progress=False)
    assert all(p.source["id"] != source.id for p in Engine(fast).ask(QUESTION).passages)


def test_add_refuses_duplicates_and_bad_files(fast, tmp_path):
    add_document(fast.corpus_dir, HTML, "Aftercare")
    with pytest.raises(CorpusError, match="already in the corpus"):
        add_document(fast.corpus_dir, HTML, "Aftercare again")
    with pytest.raises(CorpusError, match="already in the corpus as '003_"):
        add_document(fast.corpus_dir, fast.corpus_dir / "003_903277661336a548.txt", "Copy")
    cases = {
        "empty.txt": (b"  \n", "empty"),
        "binary.txt": (b"abc\x00def", "binary"),
        "latin1.md": ("caf\u00e9".encode("latin-1"), "not UTF-8"),
        "big.txt": (b"word " * (1_100_000), "over the 5 MB limit"),
        "sheet.pdf": (b"%PDF", "only .txt, .md, .html"),
    }
    for name, (data, message) in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(CorpusError, match=message):
            add_document(fast.corpus_dir, f, "T")
    with pytest.raises(CorpusError, match="no document 'nope'.*known ids"):
        remove_document(fast.corpus_dir, "nope")


def test_hand_edits_are_validated_and_nothing_half_built_goes_live(fast):
    build(fast, load_encoders(fast.encoders), progress=False)
    live = live_folder(fast.index_dir)
    (fast.corpus_dir / "orphan.md").write_text("# A page\nSome text here.\n", encoding="utf-8")
    r = run_cli("build", env_extra=cli_env(fast))
    assert r.returncode == 2 and "orphan.md: this file has no entry" in r.stderr and "Traceback" not in r.stderr
    (fast.corpus_dir / "orphan.md").unlink()
    (fast.corpus_dir / "001_112d98e9cbde18f5.txt").unlink()
    r = run_cli("build", env_extra=cli_env(fast))
    assert r.returncode == 2 and "001_112d98e9cbde18f5.txt: listed in sources.json" in r.stderr
    assert "python -m retrieval remove 001_112d98e9cbde18f5" in r.stderr
    assert live_folder(fast.index_dir) == live
    with pytest.raises(CorpusError):
        read_corpus(fast.corpus_dir)


def test_rollback_restores_the_previous_build(fast):
    encoders = load_encoders(fast.encoders)
    first = build(fast, encoders, progress=False)["build_id"]
    add_aftercare(fast, title="Aftercare")
    second = build(fast, encoders, progress=False)["build_id"]
    assert "drive them home" in Engine(fast).ask(QUESTION).passages[0].text
    r = run_cli("build", "--rollback", env_extra=cli_env(fast))
    assert r.returncode == 0 and first in r.stdout
    assert live_folder(fast.index_dir).name == first
    assert not any("drive them home" in p.text for p in Engine(fast).ask(QUESTION).passages)
    assert "changed" in staleness(fast) or "added" in staleness(fast)
    assert rollback(fast.index_dir) == second


def test_damaged_index_is_reported_with_the_fix(fast):
    build(fast, load_encoders(fast.encoders), progress=False)
    with open(live_folder(fast.index_dir) / "passages-minilm.faiss", "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff\xff")
    r = run_cli("ask", "is ketamine addictive?", env_extra=cli_env(fast))
    assert r.returncode == 2 and "damaged" in r.stderr and "python -m retrieval build" in r.stderr


@pytest.mark.parametrize("kill_at", ["after 1 s", "when the new build folder appears", "0.3 s into writing it"])
def test_build_killed_at_any_moment_leaves_a_working_index(fast, kill_at):
    build(fast, load_encoders(fast.encoders), progress=False)
    live = live_folder(fast.index_dir).name
    add_aftercare(fast, title="Aftercare")
    proc = subprocess.Popen([sys.executable, "-m", "retrieval", "build"], cwd=ROOT, env={**os.environ, **cli_env(fast)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    builds = fast.index_dir / "builds"
    deadline = time.time() + 120
    if kill_at == "after 1 s":
        time.sleep(1)
    else:
        while time.time() < deadline and not any(p.name.endswith(".partial") for p in builds.iterdir()):
            time.sleep(0.005)
        if kill_at.startswith("0.3"):
            time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    now = live_folder(fast.index_dir)
    if now.name != live:  # a new build went live before the kill: it must be whole, every checksum right
        _verify(now, read_manifest(fast.index_dir))
    leftover = any(p.name.endswith(".partial") for p in builds.iterdir())
    assert load(fast).chunks and Engine(fast).ask("is ketamine addictive?").status == "answered"
    r = run_cli("build", env_extra=cli_env(fast))
    assert r.returncode == 0, r.stderr
    assert leftover == ("interrupted; the live index was not affected" in r.stdout)
    assert "drive them home" in Engine(fast).ask(QUESTION).passages[0].text


def test_running_app_picks_up_a_new_build_without_a_failed_request(fast):
    build(fast, load_encoders(fast.encoders), progress=False)
    failures, answered, stop = [], [], threading.Event()

    def hammer(url):
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                try:
                    r = c.post(url + "/api/ask", json={"question": QUESTION})
                    if r.status_code != 200:
                        failures.append(r.status_code)
                    else:
                        top = r.json()["passages"][:1]
                        answered.append(bool(top) and "drive them home" in top[0]["text"])
                except httpx.HTTPError as e:
                    failures.append(repr(e))

    with running_app(fast) as url:
        httpx.post(url + "/api/ask", json={"question": "hello"}, timeout=60)  # the engine is loaded
        first = httpx.get(url + "/healthz").json()["serving_build"]
        threads = [threading.Thread(target=hammer, args=(url,)) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            add_aftercare(fast, title="Aftercare")
            assert run_cli("build", env_extra=cli_env(fast), timeout=900).returncode == 0
            for _ in range(200):
                health = httpx.get(url + "/healthz").json()
                if health["serving_build"] != first and answered and answered[-1]:
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert first and health["serving_build"] == health["index"]["build_id"] != first
    assert failures == [] and False in answered and answered[-1] is True


def test_a_reposted_passage_is_credited_not_repeated(fast, tmp_path):
    """Two sources saying the same thing (one passage reposted with its sentences reordered): the
    answer shows it once and credits the other source."""
    encoders = load_encoders(fast.encoders)
    original = add_document(fast.corpus_dir, HTML, "Aftercare after a ketamine infusion", "Sunrise Clinic")
    repost = tmp_path / "repost.txt"
    repost.write_text(
        "Getting home safely\n\n"
        "Driving is not allowed for the rest of the day after an infusion, so every patient must arrange for a "
        "friend or family member to drive them home. After each ketamine infusion, patients rest in the recovery "
        "lounge for about forty-five minutes while a nurse checks their blood pressure.\n",
        encoding="utf-8",
    )
    copy = add_document(fast.corpus_dir, repost, "Going home after treatment", "Lakeside Clinic")
    add_clinic_question(fast)
    build(fast, encoders, progress=False)
    result = Engine(fast).ask(QUESTION)
    first = result.passages[0]
    assert result.status in ("answered", "crisis") and "drive them home" in first.text and verbatim(fast, result)
    other = copy.id if first.source["id"] == original.id else original.id
    assert [d["id"] for d in first.also_in] == [other]
    assert all(p.source["id"] != other for p in result.passages)
