"""The app, started with default settings, opens no connection beyond loopback (and looks up no host)."""

import os
import subprocess
import sys
import time

import httpx

from conftest import ROOT, running_app


def test_app_makes_no_outbound_connection(settings, tmp_path, monkeypatch):
    log = tmp_path / "outbound.log"
    for var in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)  # default settings: the app must set these itself
    guard = {"PYTHONPATH": str(ROOT / "tests" / "netguard"), "NETGUARD_LOG": str(log)}
    with running_app(settings, **guard) as url:
        env = {**os.environ, **guard}
        subprocess.run([sys.executable, "-c", "import socket\ntry: socket.getaddrinfo('example.org', 80)\nexcept OSError: pass"],
                       env={**env, "NETGUARD_LOG": str(tmp_path / "probe.log")}, capture_output=True)
        assert "example.org" in (tmp_path / "probe.log").read_text(), "the guard itself does not record lookups"
        for path in ("/", "/embed/", "/gradio.js", "/api/docs", "/config"):
            assert httpx.get(url + path, timeout=30).status_code == 200
        r = httpx.post(url + "/api/ask", json={"question": "is ketamine addictive?"}, timeout=60)
        assert r.json()["status"] == "answered"
        from gradio_client import Client

        Client(url + "/", verbose=False).predict("does ketamine cause nausea?", [], api_name="/ask_chat")
        time.sleep(2)
    assert not log.exists() or log.read_text() == "", log.read_text()
