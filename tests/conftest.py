"""Shared fixtures: a real index built once per session in a temporary folder, and helpers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
sys.path.insert(0, str(ROOT))

from retrieval.config import Settings  # noqa: E402


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Settings whose index lives in a temporary folder, built once with the real model."""
    from retrieval.embedding import load_encoders
    from retrieval.index import build

    s = Settings(corpus_dir=ROOT / "corpus", index_dir=tmp_path_factory.mktemp("index"))
    build(s, load_encoders(s.encoders), progress=False)
    return s


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


def run_cli(*args: str, env_extra: dict | None = None, stdin: str | None = None, timeout: int = 300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "retrieval", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(settings, tmp_path_factory):
    """`python app.py` on a free loopback port, serving the session's index; yields its base URL."""
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("server") / "app.log"
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "RETRIEVAL_INDEX": str(settings.index_dir)}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("app.py exited:\n" + log.read_text())
        time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("app.py did not start:\n" + log.read_text())
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def gold_items(path: Path, kind: str | None = None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [it for it in items if kind is None or it.get("kind") == kind]
