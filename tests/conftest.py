"""Shared fixtures: a real index built once per session in a temporary folder, and helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
sys.path.insert(0, str(ROOT))
# MiniLM's ONNX export is made once per test session, in its own folder (subprocesses inherit it).
_MODELS = tempfile.mkdtemp(prefix="retrieval-models-")
os.environ["RETRIEVAL_MODELS"] = _MODELS


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_MODELS, ignore_errors=True)


from retrieval.config import Settings  # noqa: E402


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Settings whose index lives in a temporary folder, built once with the real model."""
    from retrieval.embedding import load_encoders
    from retrieval.index import build

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


def run_cli(*args: str, env_extra: dict | None = None, stdin: str | None = None, timeout: int = 300):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "retrieval", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )


def ask_in_new_process(settings: Settings, report: str, profile: str | None = None) -> str:
    """Load an Engine on the session's index in a fresh Python process, answer one question, and
    return what `report` (an expression over `e`, the engine, and `sys`) prints."""
    code = (
        "import sys; from pathlib import Path; from retrieval.config import Settings; from retrieval.answer import Engine\n"
        f"e = Engine(Settings(corpus_dir=Path({str(settings.corpus_dir)!r}), index_dir=Path({str(settings.index_dir)!r}), "
        f"profile={profile or settings.profile!r}))\n"
        "r = e.ask('is ketamine addictive?'); assert r.status == 'answered', r\n"
        f"print({report})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App(str):
    """A running app's base URL, with its process id and what it has printed so far."""

    pid: int
    _out: object

    def log(self) -> str:
        self._out.seek(0)
        return self._out.read()

    def rss_mb(self) -> float:
        """Resident memory of the app's process."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


@contextmanager
def running_app(settings: Settings, preexec=None, wrap: list[str] | None = None, ready: tuple[int, ...] = (200,),
                **env_extra: str):
    """`python app.py` on a free loopback port serving `settings`' index; yields its base URL (an App).
    `preexec` runs in the child before it starts (resource limits); `wrap` prefixes the command (strace);
    it is up once /healthz answers one of `ready`."""
    import httpx

    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "RETRIEVAL_INDEX": str(settings.index_dir),
           "RETRIEVAL_CORPUS": str(settings.corpus_dir), "RETRIEVAL_PROFILE": settings.profile, "RETRIEVAL_BANK": str(settings.bank_dir),
           "RATE_LIMIT_PER_MINUTE": "0", **env_extra}  # the suite asks fast from one address; test_hardening sets a limit
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([*(wrap or []), sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=preexec, start_new_session=True)
        url = App(f"http://127.0.0.1:{port}")
        url.pid, url._out = proc.pid, out
        try:
            deadline = time.time() + 120
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=5).status_code in ready:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.time() > deadline:
                    out.seek(0)
                    raise RuntimeError("app.py did not start:\n" + out.read())
                time.sleep(0.3)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the app and, under `wrap`, the tracer with it
            proc.wait(timeout=20)


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


def gold_items(path: Path, kind: str | None = None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [it for it in items if kind is None or it.get("kind") == kind]
