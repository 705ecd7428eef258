"""The app, started with default settings, sends nothing off this machine and looks up no host: every
connection and datagram its process and threads attempt is seen at the system-call level (strace)."""

import re
import shutil
import time

import httpx
import pytest
from support import running_app

STRACE = shutil.which("strace")
# connect/sendto/sendmsg to an IPv4 or IPv6 address, as strace prints them
_ADDRESS = re.compile(r'sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([\d.]+)"\)|inet_pton\(AF_INET6, "([0-9a-f:.]+)")')
WATCH_SECONDS = 25  # onnxruntime's telemetry looked its host up about 10 s after start


def outbound(trace: str) -> list[str]:
    """Calls that reach beyond loopback, or look a name up (DNS, port 53, even on a loopback resolver)."""
    found = []
    for line in trace.splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg|sendmmsg)\(", line) or "AF_INET" not in line:
            continue
        m = _ADDRESS.search(line)
        if not m:
            found.append(line)
            continue
        port, v4, v6 = int(m.group(1)), m.group(2), m.group(3)
        loopback = (v4 or "").startswith("127.") or v6 in ("::1", "::ffff:127.0.0.1")
        if port == 53 or not loopback:
            found.append(line)
    return found


def test_the_trace_reader_sees_lookups_and_outside_connections():
    trace = "\n".join([
        '7960  connect(21, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '7961  sendto(23, "<\\10\\1\\0mobile", 50, MSG_NOSIGNAL, NULL, 0) = 50',
        '7962  connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
        '7963  connect(7, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2606:4700::1", &sin6_addr)}, 28) = -1',
        '7964  connect(8, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '7965  connect(9, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0',
    ])
    assert len(outbound(trace)) == 3


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (make test installs it)")
def test_app_sends_nothing_off_this_machine(settings, tmp_path, monkeypatch):
    log = tmp_path / "strace.log"
    for var in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORT_DISABLE_TELEMETRY"):
        monkeypatch.delenv(var, raising=False)  # default settings: the app must set these itself
    wrap = [STRACE, "-f", "-qq", "-e", "trace=%network", "-o", str(log)]
    started = time.monotonic()
    home = tmp_path / "home"  # onnxruntime's telemetry also wrote a device id under ~/.cache/Microsoft
    home.mkdir()
    with running_app(settings, wrap=wrap, HOME=str(home)) as url:
        for path in ("/", "/embed/", "/gradio.js", "/api/docs", "/config"):
            assert httpx.get(url + path, timeout=30).status_code == 200
        r = httpx.post(url + "/api/ask", json={"question": "is ketamine addictive?"}, timeout=60)
        assert r.json()["status"] == "answered"
        from gradio_client import Client

        Client(url + "/", verbose=False).predict("does ketamine cause nausea?", [], api_name="/ask_chat")
        time.sleep(max(0.0, WATCH_SECONDS - (time.monotonic() - started)))
    assert not (home / ".cache" / "Microsoft").exists()
    trace = log.read_text()
    assert "bind(" in trace and "accept4(" in trace, "strace did not see the server's own socket: the trace is not working"
    assert outbound(trace) == [], "\n".join(outbound(trace)[:10])
