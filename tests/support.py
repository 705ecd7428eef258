"""Helpers the tests share: paths, the CLI and the app run in processes of their own, gold files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from retrieval.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


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


def gold_items(path: Path, kind: str | None = None) -> list[dict]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [it for it in items if kind is None or it.get("kind") == kind]
