"""A clinic's page on another origin embeds the chat (iframe and web component) in a real browser."""

import http.server
import threading
from functools import partial
from pathlib import Path

import pytest
from support import ARTIFACTS, CHROMIUM, free_port, running_app

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


def serve_page(folder: Path, html: str, port: int) -> http.server.ThreadingHTTPServer:
    """A clinic's static page on its own loopback port (another origin than the app)."""
    (folder / "index.html").write_text(html, encoding="utf-8")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(http.server.SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def clinic(settings, tmp_path_factory):
    """An app that allows one clinic origin, that clinic's page, and a page on an origin not allowed."""
    allowed_port, other_port = free_port(), free_port()
    with running_app(settings, ALLOWED_EMBED_ORIGINS=f"http://127.0.0.1:{allowed_port}") as app:
        allowed = serve_page(tmp_path_factory.mktemp("allowed"), PAGE.format(app=app, component=COMPONENT.format(app=app)), allowed_port)
        other = serve_page(tmp_path_factory.mktemp("other"), PAGE.format(app=app, component=""), other_port)
        yield {"app": app, "allowed": f"http://127.0.0.1:{allowed_port}", "other": f"http://127.0.0.1:{other_port}"}
        allowed.shutdown()
        other.shutdown()


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
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=15_000):  # Chromium reports the refusal
        page.goto(clinic["other"] + "/index.html", wait_until="networkidle")
    frame = page.frame_locator("#frame")
    assert frame.locator("#question textarea").count() == 0
    page.close()


def test_links_to_sources_open_in_a_new_tab():
    from retrieval.records import Passage, Result
    from retrieval.web import render_result

    p = Passage(text="t", path="corpus/x.txt", start=0, end=1, score=1.0,
                source={"id": "x", "title": "T", "publisher": "P", "url": "https://example.org/a"})
    html = render_result(Result(question="q", status="answered", passages=[p]))
    assert 'target="_blank"' in html and 'rel="noopener noreferrer"' in html
