"""Shared fixtures: a real index built once per session in a temporary folder, and helpers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support import CHROMIUM, ROOT, running_app

from retrieval.config import Settings

# The models' ONNX exports are those `make run` uses, made once and kept across sessions (each is checked
# by its checksum when loaded and made again if damaged); subprocesses inherit the setting.
os.environ.setdefault("RETRIEVAL_MODELS", str(ROOT / "index" / "models"))

# Fixtures that need the real model, a built index, a server or a browser: their tests are slow.
SLOW_FIXTURES = {"settings", "engine", "server", "browser", "small_bank", "corpus_copy"}
# Modules that run the CLI or the app in processes of their own, whatever fixtures they take.
SLOW_MODULES = {"test_cli", "test_documents", "test_browser", "test_embed", "test_network", "test_hardening", "test_fuzz",
                "test_e5", "test_onnx", "test_quality", "test_web", "test_bank"}


def pytest_collection_modifyitems(config, items):
    """Mark slow tests (make check runs the others: pytest -m "not slow")."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Settings whose index lives in a temporary folder, built once with the real model."""
    from retrieval.builder import build
    from retrieval.embedding import load_encoders

    s = Settings(corpus_dir=ROOT / "corpus", index_dir=tmp_path_factory.mktemp("index"))
    build(s, load_encoders(s.encoders), progress=False)
    return s


SMALL_BANK_EVERY = 3  # tests that build indexes of their own learn from every third batch of each bank file


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory) -> Path:
    """A sample of the question bank, whole batches of every file, so that builds made by single tests
    learn as the real one does in a fraction of its time."""
    out = tmp_path_factory.mktemp("bank")
    for f in sorted((ROOT / "bank").glob("*/*.jsonl")):
        rows = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        batches = list(dict.fromkeys(r["batch"] for r in rows))
        kept = set(batches[::SMALL_BANK_EVERY])
        (out / f.parent.name).mkdir(exist_ok=True)
        (out / f.parent.name / f.name).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if r["batch"] in kept), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def engine(settings):
    from retrieval.answer import Engine

    return Engine(settings)


@pytest.fixture()
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", dst)
    return dst


@pytest.fixture(scope="session")
def server(settings):
    """The app serving the session's index."""
    with running_app(settings) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (its own browser download cannot work offline)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


