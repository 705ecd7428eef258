"""The app, started with default settings, opens no connection beyond loopback (and looks up no host)."""

import os
import subprocess
import sys
import time

import httpx

from conftest import ROOT, free_port


def test_app_makes_no_outbound_connection(settings, tmp_path):
    log = tmp_path / "outbound.log"
    port = free_port()
    env = {**os.environ, "PORT": str(port), "RETRIEVAL_INDEX": str(settings.index_dir),
           "PYTHONPATH": str(ROOT / "tests" / "netguard"), "NETGUARD_LOG": str(log)}
    for var in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(var, None)  # default settings: the app must set these itself
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        probe = subprocess.run([sys.executable, "-c", "import socket\ntry: socket.getaddrinfo('example.org', 80)\nexcept OSError: pass"],
                               env={**env, "NETGUARD_LOG": str(tmp_path / "probe.log")}, capture_output=True)
        assert "example.org" in (tmp_path / "probe.log").read_text(), "the guard itself does not record lookups"
        for path in ("/", "/embed/", "/gradio.js", "/api/docs", "/config"):
            assert httpx.get(url + path, timeout=30).status_code == 200
        r = httpx.post(url + "/api/ask", json={"question": "is ketamine addictive?"}, timeout=60)
        assert r.json()["status"] == "answered"
        from gradio_client import Client

        Client(url + "/", verbose=False).predict("does ketamine cause nausea?", [], api_name="/ask_chat")
        time.sleep(2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert not log.exists() or log.read_text() == "", log.read_text()
