"""A clinic's page on another origin embeds the chat (iframe and web component) in a real browser."""

import http.server
import os
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test installs it)")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Clinic</title></head>
<body style="font-family: sans-serif; background: #f4f1ea; margin: 24px">
<h1>Sunrise Clinic</h1><p>Questions about ketamine therapy? Ask below.</p>
<iframe id="frame" src="{app}/embed/" title="Ketamine therapy questions" width="100%" height="620"
        loading="lazy" style="border: 1px solid #ccc; border-radius: 8px; max-width: 720px"></iframe>
{component}
</body></html>"""
COMPONENT = """<h2>Web component</h2>
<script type="module" src="{app}/gradio.js"></script>
<gradio-app src="{app}/embed/"></gradio-app>"""


def serve_page(tmp: Path, html: str) -> tuple[str, http.server.ThreadingHTTPServer]:
    (tmp / "index.html").write_text(html, encoding="utf-8")
    port = free_port()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", srv


@pytest.fixture(scope="module")
def clinic(settings, tmp_path_factory):
    """An app that allows one clinic origin, that clinic's page, and a page on an origin not allowed."""
    allowed_dir, other_dir = tmp_path_factory.mktemp("allowed"), tmp_path_factory.mktemp("other")
    allowed_port = free_port()
    app_port = free_port()
    app = f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "PORT": str(app_port), "RETRIEVAL_INDEX": str(settings.index_dir),
           "ALLOWED_EMBED_ORIGINS": f"http://127.0.0.1:{allowed_port}"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(app + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    (allowed_dir / "index.html").write_text(PAGE.format(app=app, component=COMPONENT.format(app=app)), encoding="utf-8")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(allowed_dir))
    allowed_srv = http.server.ThreadingHTTPServer(("127.0.0.1", allowed_port), handler)
    threading.Thread(target=allowed_srv.serve_forever, daemon=True).start()
    other_url, other_srv = serve_page(other_dir, PAGE.format(app=app, component=""))
    yield {"app": app, "allowed": f"http://127.0.0.1:{allowed_port}", "other": other_url}
    allowed_srv.shutdown()
    other_srv.shutdown()
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


def test_allowed_origin_gets_answers_in_iframe_and_web_component(clinic, browser):
    page = browser.new_page(viewport={"width": 900, "height": 1500})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(clinic["allowed"] + "/index.html", wait_until="networkidle")
    frame = page.frame_locator("#frame")
    box = frame.locator("#question textarea")
    box.fill("Can ketamine help with alcohol addiction?")
    box.press("Enter")
    quote = frame.locator("#chat blockquote").first
    quote.wait_for(timeout=60000)
    assert "alcohol" in quote.inner_text().lower()
    assert "Ketamine for Addiction" in frame.locator("#chat .attribution").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#frame").screenshot(path=str(ARTIFACTS / "embedded-iframe.png"))

    component = page.locator("gradio-app")
    cbox = component.locator("#question textarea")
    cbox.wait_for(timeout=60000)
    cbox.fill("Does ketamine cause bladder problems?")
    cbox.press("Enter")
    cquote = component.locator("#chat blockquote").first
    cquote.wait_for(timeout=60000)
    assert "bladder" in cquote.inner_text().lower()
    component.screenshot(path=str(ARTIFACTS / "embedded-web-component.png"))
    assert outside == [], f"the page fetched from outside this machine: {outside}"
    page.close()


def test_origin_not_allowed_is_refused_the_frame(clinic, browser):
    page = browser.new_page()
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(clinic["other"] + "/index.html", wait_until="networkidle")
    time.sleep(1.5)
    frame = page.frame_locator("#frame")
    assert frame.locator("#question textarea").count() == 0
    assert blocked, "Chromium did not report the frame-ancestors refusal"
    page.close()


def test_links_to_sources_open_in_a_new_tab():
    from retrieval.records import Passage, Result
    from retrieval.web import render_result

    p = Passage(text="t", path="corpus/x.txt", start=0, end=1, score=1.0,
                source={"id": "x", "title": "T", "publisher": "P", "url": "https://example.org/a"})
    html = render_result(Result(question="q", status="answered", passages=[p]))
    assert 'target="_blank"' in html and 'rel="noopener noreferrer"' in html
