"""Attacks on the running app (python app.py on 127.0.0.1), each as an attacker would make it: oversized,
slow, malformed and flooding requests, routes the chat does not need, a damaged index, model or cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import selectors
import shutil
import socket
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from support import run_cli, running_app

MB = 1024 * 1024
LIMITS = {"RATE_LIMIT_PER_MINUTE": "30", "RATE_LIMIT_BURST": "10", "IDLE_TIMEOUT": "2", "REQUEST_TIMEOUT": "4"}


@pytest.fixture(scope="module")
def app(settings, tmp_path_factory):
    """The app with a rate limit and short deadlines, Gradio's temp folder where the test can see it."""
    temp = tmp_path_factory.mktemp("gradio-temp")
    with running_app(settings, GRADIO_TEMP_DIR=str(temp), **LIMITS) as url:
        url.temp = temp
        yield url


def client(n: int | str) -> httpx.Client:
    """A client from a loopback address of its own (127.0.0.n, or one chosen by a name): the rate limit is per address."""
    if isinstance(n, str):
        digest = zlib.crc32(n.encode())
        return httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.{digest % 250 + 1}.{digest // 250 % 250}.{digest // 62500 % 250 + 1}"))
    return httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{n}"))


def address(url: str) -> tuple[str, int]:
    u = urlparse(url)
    return u.hostname, u.port


def raw_request(url: str, head: str, chunks=(), source: str = "127.0.0.1") -> str:
    """Send a request by hand (head, then body chunks until the server stops reading) and return the status line."""
    with socket.create_connection(address(url), timeout=30, source_address=(source, 0)) as s:
        try:
            s.sendall(head.encode())
            for chunk in chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the body ended, as it should
        try:
            return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        except (ConnectionResetError, TimeoutError):
            return ""


class PeakMemory:
    """The app's highest resident memory while the block runs, sampled every 20 ms."""

    def __init__(self, app) -> None:
        self.app, self.peak, self._stop = app, 0.0, threading.Event()

    def __enter__(self):
        self.before = self.app.rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.app.rss_mb())
            time.sleep(0.02)

    def __exit__(self, *exc):
        time.sleep(0.5)
        self._stop.set()
        self._thread.join()
        self.after = self.app.rss_mb()
        self.growth = max(self.peak, self.after) - self.before


def chat_target(url: str, page: str = "") -> dict:
    """fn_index and trigger of the chat's submit event, as the browser sends them."""
    config = httpx.get(f"{url}{page}/config", timeout=30).json()
    dep = next(d for d in config["dependencies"] if len(d["inputs"]) == 2 and d.get("backend_fn"))  # message and history
    return {"fn_index": dep["id"], "trigger_id": dep["targets"][0][0]}


def chat_join(url: str, message: str, target: dict, client: httpx.Client | None = None) -> tuple[int, str]:
    """Put one chat message in Gradio's queue as the browser does; (status, session hash)."""
    session = uuid.uuid4().hex[:11]
    body = {"data": [message, []], "event_data": None, "session_hash": session, **target}
    r = (client or httpx).post(url + "/gradio_api/queue/join", json=body, timeout=60)
    return r.status_code, session


def chat_result(url: str, session: str, client: httpx.Client | None = None) -> dict:
    """The finished event's message from the queue's stream."""
    with (client or httpx).stream("GET", f"{url}/gradio_api/queue/data?session_hash={session}", timeout=60) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
    raise AssertionError("the queue's stream ended without a result")


# 1. Bodies are bounded while they are read, on every route, chunked or not.
@pytest.mark.parametrize("path", ["/api/ask", "/gradio_api/queue/join", "/embed/gradio_api/queue/join", "/no-such-route", "/healthz"])
@pytest.mark.parametrize("chunked", [False, True])
def test_a_huge_body_is_refused_before_it_is_read(app, path, chunked):
    size, piece = 200 * MB, b"\0" * MB
    method = "GET" if path == "/healthz" else "POST"
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {size}"
    head = f"{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    chunks = ((b"%x\r\n" % len(piece)) + piece + b"\r\n" for _ in range(size // MB)) if chunked else (piece for _ in range(size // MB))
    with PeakMemory(app) as mem:
        status = raw_request(app, head, chunks)
    assert mem.growth < 50, f"memory grew {mem.growth:.0f} MB on a {size // MB} MB body to {path} ({status})"
    assert status.split(" ")[1:2] != ["200"] or path == "/healthz", status
    assert httpx.get(app + "/healthz").status_code == 200


# 2. The chat path is held to a size limit and keeps no message.
def test_chat_messages_of_megabytes_are_refused_and_not_kept(app):
    target = chat_target(app)
    with PeakMemory(app) as mem:
        statuses = [chat_join(app, "x" * (2 * MB), target, client(10))[0] for _ in range(20)]
    assert set(statuses) == {413}, statuses
    assert mem.growth < 50, f"memory grew {mem.growth:.0f} MB"


def test_a_long_chat_message_is_not_echoed_whole(app):
    status, session = chat_join(app, "why " * 10_000, chat_target(app), client(11))
    assert status == 200
    history = chat_result(app, session)["output"]["data"][1]
    shown = json.dumps(history)
    assert len(shown) < 8_000 and "too long" in shown


# 3. Length is checked after normalisation too: NFKC makes U+FDFA eighteen characters.
def test_a_question_that_normalisation_inflates_is_refused(app):
    r = client(12).post(app + "/api/ask", json={"question": "\ufdfa" * 1000}, timeout=60)
    assert r.status_code == 200 and r.json()["status"] == "invalid"


# 6. Idle and half-sent connections time out; connections stay below the file limit.
def _file_limit_1024():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def closed_by_server(sockets: list[socket.socket], timeout: float) -> int:
    """How many of the sockets the server closes within `timeout` seconds (each read to its end)."""
    sel = selectors.DefaultSelector()
    for s in sockets:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed, deadline = 0, time.monotonic() + timeout
    while sel.get_map() and (left := deadline - time.monotonic()) > 0:
        for key, _ in sel.select(left):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                closed += 1
    sel.close()
    return closed


def test_idle_and_half_sent_connections_do_not_lock_others_out(settings):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"this process may open only {hard} files; the attack needs 1,100 sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1400), hard))
    with running_app(settings, preexec=_file_limit_1024, **LIMITS) as url:
        idle = []
        for i in range(1100):
            try:
                idle.append(socket.create_connection(address(url), timeout=5))
                if i % 2:
                    idle[-1].sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")  # half a request, never finished
            except OSError:
                break
        try:
            closed = closed_by_server(idle, timeout=4 + 2 + 10)  # IDLE_TIMEOUT 2 s, REQUEST_TIMEOUT 4 s, and a margin
            r = httpx.get(url + "/healthz", timeout=10)
            assert r.status_code == 200
            assert closed >= len(idle) - 5, f"{closed} of {len(idle)} idle connections closed by the server"
        finally:
            for s in idle:
                s.close()
        assert "Too many open files" not in url.log()


# 10, 13. Routes the chat does not use are closed: uploads, run history, dev reload, monitoring, files.
@pytest.mark.parametrize("method, path", [
    ("GET", "/gradio_api/dev/reload"), ("GET", "/monitoring"), ("GET", "/monitoring/summary"), ("GET", "/gradio_api/runs"),
    ("GET", "/gradio_api/file=/etc/passwd"), ("GET", "/gradio_api/proxy=http://example.org/"), ("POST", "/gradio_api/reset"),
    ("GET", "/gradio_api/upload_progress"), ("GET", "/embed/gradio_api/dev/reload"), ("GET", "/login"), ("GET", "/user"),
])
def test_routes_the_chat_does_not_use_are_closed(app, method, path):
    assert httpx.request(method, app + path, timeout=10).status_code == 404


def test_uploads_are_refused_and_nothing_is_written(app):
    for path in ("/gradio_api/upload", "/embed/gradio_api/upload", "/upload"):
        r = httpx.post(app + path, files={"files": ("big.bin", b"\0" * (5 * MB))}, timeout=30)
        assert r.status_code in (404, 413), (path, r.status_code)
    assert not any(p.is_file() for p in Path(app.temp).rglob("*"))


# 11. Malformed bodies get 400, never 500, and nothing about the server's insides.
@pytest.mark.parametrize("path", ["/api/ask", "/gradio_api/queue/join", "/gradio_api/run/predict", "/gradio_api/call/ask_chat"])
@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000, b'{"question": ' + b"9" * 5000 + b"}", b'{"data": [' * 900 + b"]}" * 900, b"\xff\xfe{", b"{}",
    b'{"fn_index": "x", "data": {}, "session_hash": 5}', b'{"fn_index": 999, "data": ["x", []], "session_hash": "abc"}',
    b'{"fn_index": 0, "data": [{"x": 1}, "not a history"], "session_hash": "abc"}',
    b'{"fn_index": 1, "data": ["x", [{"role": "system", "content": "x"}]], "session_hash": "abc"}',
    b'{"fn_index": 0, "data": [12345], "session_hash": "abc"}',
])
def test_malformed_bodies_get_400_never_500(app, path, body):
    if path.endswith("/call/ask_chat") and b'"fn_index": 999' in body:
        body = b'{"data": ["x"], "session_hash": "abc"}'  # the named API takes no fn_index: a missing input instead
    r = client(path + body.decode(errors="replace")).post(app + path, content=body, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert " at 0x" not in r.text and "gradio" not in r.text.lower()


def test_a_question_of_the_wrong_type_is_an_invalid_result(app):
    r = client(14).post(app + "/api/ask", json={"question": None}, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "invalid"


def test_unknown_chat_endpoints_are_404_and_nothing_left_a_traceback(app):
    assert httpx.post(app + "/gradio_api/call/not_an_api", json={"data": []}).status_code == 404
    assert httpx.post(app + "/gradio_api/run/not_an_api", json={"data": []}).status_code == 404
    assert "Traceback" not in app.log()


# 12. One client cannot fill the chat's queue; past its share it gets 429 with Retry-After.
def test_a_flood_from_one_client_leaves_others_served(app):
    target = chat_target(app)
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda _: chat_join(app, "is ketamine addictive?", target)[0], range(400)))
    assert statuses.count(429) >= 380 and 503 not in statuses, sorted(set(statuses))
    other = client(2)
    for _ in range(3):
        status, session = chat_join(app, "does ketamine cause nausea?", target, other)
        assert status == 200
        assert chat_result(app, session, other)["success"]


def test_the_api_has_a_per_client_rate_limit(app):
    asker = client(3)
    statuses = [asker.post(app + "/api/ask", json={"question": "is it addictive?"}, timeout=60) for _ in range(14)]
    codes = [r.status_code for r in statuses]
    assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}, codes
    assert int(statuses[-1].headers["retry-after"]) >= 1
    other = client(4)
    assert other.post(app + "/api/ask", json={"question": "is it addictive?"}, timeout=60).status_code == 200


# 14. Other sites cannot make a visitor's browser ask: only application/json, which needs a preflight.
@pytest.mark.parametrize("headers, content", [
    ({"content-type": "text/plain"}, '{"question": "is it addictive?"}'),
    ({"content-type": "application/x-www-form-urlencoded"}, "question=is+it+addictive"),
    ({"content-type": "multipart/form-data; boundary=x"}, '--x\r\nContent-Disposition: form-data; name="question"\r\n\r\nhi\r\n--x--'),
    ({}, '{"question": "is it addictive?"}'),
])
def test_only_json_bodies_are_accepted(app, headers, content):
    r = client(5).post(app + "/api/ask", content=content, headers=headers)
    assert r.status_code == 415 and "error" in r.json()


# 17. A client that leaves half way through its body leaves no traceback.
def test_a_client_leaving_mid_body_leaves_no_traceback(app):
    for path in ("/api/ask", "/gradio_api/queue/join"):
        with socket.create_connection(address(app), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n".encode())
            s.sendall(b'{"question": "is it')
    time.sleep(1)
    assert httpx.get(app + "/healthz").status_code == 200
    assert "Traceback" not in app.log() and "Exception" not in app.log()


# 7. A damaged index is reported, by build --check and by the server, with the command that fixes it.
@pytest.fixture()
def index_copy(settings, tmp_path):
    dst = tmp_path / "index"
    shutil.copytree(settings.index_dir, dst, ignore=shutil.ignore_patterns(".build.lock"))
    return dst


def flip_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] = ord("X") if data[i] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))


def test_a_damaged_index_is_not_called_current(settings, index_copy):
    live = index_copy / "builds" / (index_copy / "CURRENT").read_text().strip()
    flip_byte(live / "chunks.jsonl")
    out = run_cli("build", "--check", env_extra={"RETRIEVAL_INDEX": str(index_copy)})
    assert out.returncode == 1 and "damaged" in out.stdout and "python -m retrieval build" in out.stdout


def test_the_server_on_a_damaged_index_says_so_on_healthz(settings, index_copy):
    live = index_copy / "builds" / (index_copy / "CURRENT").read_text().strip()
    flip_byte(live / "chunks.jsonl")
    damaged = dataclasses.replace(settings, index_dir=index_copy)
    with running_app(damaged, ready=(200, 503)) as url:
        health = httpx.get(url + "/healthz", timeout=30)
        assert health.status_code == 503 and "damaged" in health.json()["error"]
        assert httpx.post(url + "/api/ask", json={"question": "is it addictive?"}, timeout=60).status_code == 503


# 9, 16. A damaged cache is ignored with a warning; a full disk after the build went live is a warning, not a failure.
def test_a_damaged_cache_is_rebuilt_with_a_warning(settings, index_copy, small_bank):
    caches = sorted((index_copy / "cache").glob("*.npz"))
    assert caches
    caches[0].write_bytes(caches[0].read_bytes()[:1000])  # truncated
    env = {"RETRIEVAL_INDEX": str(index_copy), "RETRIEVAL_BANK": str(small_bank)}
    out = run_cli("build", env_extra=env)
    assert out.returncode == 0, out.stderr
    assert "warning" in (out.stdout + out.stderr).lower() and "Traceback" not in out.stderr
    assert run_cli("build", "--check", env_extra=env).returncode == 0


def test_a_full_disk_while_saving_the_cache_leaves_the_build_live_and_no_temp_files(settings, index_copy, small_bank, monkeypatch, capsys):
    import errno

    import numpy as np

    from retrieval import cli

    (index_copy / "cache" / ".minilm-0123456789ab.4242.npz").write_bytes(b"left by a build killed while saving")
    monkeypatch.setenv("RETRIEVAL_INDEX", str(index_copy))
    monkeypatch.setenv("RETRIEVAL_CORPUS", str(settings.corpus_dir))
    monkeypatch.setenv("RETRIEVAL_BANK", str(small_bank))
    before = (index_copy / "CURRENT").read_text()

    def disk_full(file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    code = cli.main(["build"])
    printed = capsys.readouterr()
    assert code == 0, printed
    assert (index_copy / "CURRENT").read_text() != before  # the new build went live
    assert "warning" in printed.err.lower() and "space" in printed.err.lower()
    assert [p.name for p in (index_copy / "cache").iterdir() if p.name.startswith(".")] == []


# 8. A damaged model export that keeps its size is detected and made again.
def test_a_damaged_model_export_is_made_again(tmp_path, monkeypatch):
    import numpy as np

    from retrieval import config
    from retrieval.embedding import MiniLMEncoder

    good = MiniLMEncoder()
    assert good.backend == "onnx"
    reference = good.encode(["is ketamine addictive?"])
    folder = next(config.model_dir().glob("all-MiniLM-L6-v2-*-onnx"))
    copy = tmp_path / "models" / folder.name
    shutil.copytree(folder, copy)
    graph = copy / "model.onnx"
    data = bytearray(graph.read_bytes())
    at = len(data) * 9 // 10  # weights every text goes through (4 KB in the middle hit only rare tokens' rows)
    data[at : at + 4096] = b"\xff" * 4096  # same size, damaged weights
    graph.write_bytes(bytes(data))
    monkeypatch.setenv("RETRIEVAL_MODELS", str(tmp_path / "models"))
    again = MiniLMEncoder()
    vectors = again.encode(["is ketamine addictive?"])
    assert np.isfinite(vectors).all()
    assert float(vectors[0] @ reference[0]) > 0.9999
    recorded = json.loads((copy / "export.json").read_text())["sha256"]
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == recorded  # made again, not used as it was
