"""End to end over real HTTP on 127.0.0.1: the JSON API, health, and the chat through Gradio's own client."""

import json

import httpx
import pytest
from support import ROOT, SHARED_DEV, gold_items

from retrieval.records import STATUSES
from retrieval.service import Service
from retrieval.web import render_result, respond, user_bubble


def test_health_shows_the_manifest(server):
    r = httpx.get(server + "/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["index"]["documents"] == 5 and body["index"]["model"]["name"]


def test_api_answers_with_verbatim_attributed_passages(server):
    r = httpx.post(server + "/api/ask", json={"question": "Does ketamine cause bladder problems?"}, timeout=60)
    assert r.status_code == 200
    result = r.json()
    assert result["status"] == "answered"
    p = result["passages"][0]
    assert "bladder" in p["text"].lower()
    assert (ROOT / p["path"]).read_text(encoding="utf-8")[p["start"] : p["end"]] == p["text"]
    assert p["source"]["title"] and p["highlight"][0] >= p["start"] and p["highlight"][1] <= p["end"]


@pytest.mark.parametrize(
    "body,status",
    [(b"not json", 400), (b'{"q": "x"}', 400), (b"[1,2]", 400), (b"\xff\xfe", 400), (b"x" * 70000, 413)],
)
def test_api_rejects_malformed_bodies(server, body, status):
    r = httpx.post(server + "/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert "error" in r.json()


ROBUST = gold_items(ROOT / "tests" / "gold.jsonl", "robust") + (gold_items(SHARED_DEV, "robust") if SHARED_DEV.is_file() else [])


@pytest.mark.parametrize("item", ROBUST, ids=[it["id"] for it in ROBUST])
def test_api_robust_inputs(server, item):
    r = httpx.post(server + "/api/ask", json={"question": item["question"]}, timeout=60)
    assert r.status_code == 200
    assert r.json()["status"] in STATUSES


def test_chat_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server + "/", verbose=False)
    box, history = client.predict("can ketamine help with alcohol addiction?", [], api_name="/ask_chat")
    assert box == ""
    assert history[0]["role"] == "user" and history[1]["role"] == "assistant"
    reply = history[1]["content"]
    reply = reply if isinstance(reply, str) else str(reply)
    assert "<blockquote" in reply and "alcohol" in reply.lower() and "Ketamine for Addiction" in reply


def test_user_text_is_never_markup():
    shown = user_bubble("<img src=x onerror=alert(1)> **bold** [link](http://x)")
    assert shown.startswith('<p class="asked">') and shown.count("<") == 2  # its own paragraph tags only
    assert "&lt;img" in shown and "**bold** [link](http://x)" in shown


def test_render_escapes_passage_text_and_marks_highlight(engine):
    result = engine.ask("can ketamine cause bladder problems?")
    html = render_result(result)
    assert html.count("<blockquote") == len(result.passages) and "<mark>" in html
    assert "<cite>" in html


def test_render_says_what_was_searched_for_after_the_message(engine):
    html = render_result(engine.ask("thinking about sucide <b>now</b>"))
    assert html.index('class="notice"') < html.index('class="searched"')  # emergency resources come first
    assert "Searched for: “thinking about suicide now”" in html and "<b>" not in html
    assert 'class="searched"' not in render_result(engine.ask("thinking about suicide"))


def test_wrong_method_and_unknown_route(server):
    r = httpx.get(server + "/api/ask")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert httpx.get(server + "/api/nothing-here").status_code == 404


def test_embed_as_the_contract_names_it(server):
    r = httpx.get(server + "/embed")
    assert r.status_code == 308 and r.headers["location"] == "embed/"
    assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
    page = httpx.get(server + "/embed", follow_redirects=True)
    assert page.status_code == 200 and str(page.url) == server + "/embed/" and "gradio" in page.text.lower()


def test_security_headers_on_every_page(server):
    for path in ("/", "/embed/", "/healthz", "/api/docs"):
        r = httpx.get(server + path)
        assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "server" not in r.headers


def test_openapi_documents_the_api(server):
    spec = httpx.get(server + "/api/openapi.json").json()
    assert "/api/ask" in spec["paths"] and "post" in spec["paths"]["/api/ask"]
    docs = httpx.get(server + "/api/docs").text
    assert "cdn." not in docs and "swagger-ui-bundle.js" in docs


def test_health_counts_answers_without_their_text(server):
    httpx.post(server + "/api/ask", json={"question": "how do I bake sourdough bread?"}, timeout=60)
    body = httpx.get(server + "/healthz").json()
    assert body["answers_by_status"].get("no_match", 0) >= 1
    assert "sourdough" not in json.dumps(body)


def test_concurrent_clients_get_the_same_answers(server):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "scripts/loadtest.py", "--url", server, "--clients", "8", "--requests", "80"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "errors 0, wrong answers 0" in r.stdout


@pytest.mark.parametrize("question", [None, 7, ["is it safe?"], {"q": 1}, "x" * 5000, "\u0000", "   "])
def test_odd_question_values_are_invalid_not_errors(server, question):
    r = httpx.post(server + "/api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200
    assert r.json()["status"] == "invalid" and r.json()["message"] and r.json()["passages"] == []


def test_a_lone_surrogate_escape_is_invalid_not_an_error(server):
    """JSON may escape half of a UTF-16 pair ("\\ud800"); it decodes to no character text can hold."""
    body = b'{"question": "is it safe \\ud800 while pregnant"}'
    r = httpx.post(server + "/api/ask", content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200
    assert r.json()["status"] == "invalid" and r.json()["passages"] == []


def test_the_chat_repeats_a_message_with_a_lone_surrogate_as_text_it_can_send(settings):
    _, history = respond(Service(settings), "is it safe \ud800 while pregnant", [])
    sent = json.dumps(history, ensure_ascii=False).encode("utf-8")  # raised before: surrogates not allowed
    assert "\ufffd".encode() in sent and "control characters" in history[1]["content"]


def test_missing_index_gives_a_clear_503_not_a_crash(tmp_path):
    from fastapi.testclient import TestClient

    from retrieval.config import Settings
    from retrieval.web import create_app

    app = create_app(Settings(index_dir=tmp_path / "no-index"))
    with TestClient(app) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and "python -m retrieval build" in health.json()["error"]
        r = client.post("/api/ask", json={"question": "is ketamine addictive?"})
        assert r.status_code == 503 and "rebuild" in r.json()["error"]


def _serve_in_own_loop(deferred, scenario) -> None:
    """Run `scenario(client)` against app.py's Deferred app, its lifespan driven as uvicorn does, in
    a thread with its own event loop (Playwright's session fixture may hold one in this thread)."""
    import asyncio
    import threading

    async def main():
        inbox: asyncio.Queue = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})

        async def receive():
            return await inbox.get()

        async def send(message):
            pass

        lifespan = asyncio.create_task(deferred({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=deferred), base_url="http://test", timeout=120) as client:
            await scenario(client)
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 30)

    failures: list[BaseException] = []

    def run():
        try:
            asyncio.run(main())
        except BaseException as e:
            failures.append(e)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(300)
    assert not runner.is_alive(), "the scenario did not finish in 300 s"
    if failures:
        raise failures[0]


def test_the_api_answers_while_the_chat_is_still_loading(settings):
    """app.py serves POST /api/ask as soon as the model and index are loaded; the chat page waits
    for Gradio, then is served too. Here the chat is held back until the API has answered."""
    import asyncio
    import threading

    import app as app_module
    from retrieval.service import create_api

    release = threading.Event()

    def slow_chat(api):
        release.wait(120)
        return app_module.chat_app(api)

    deferred = app_module.Deferred(build_api=lambda: create_api(Service(settings)), build_app=slow_chat)

    async def scenario(client):
        r = await client.post("/api/ask", json={"question": "is ketamine addictive?"})
        assert r.status_code == 200 and r.json()["status"] == "answered"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert deferred.app is None  # answered before the chat existed
        page = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.5)
        assert not page.done()  # the chat page waits for the chat
        release.set()
        response = await asyncio.wait_for(page, 120)
        assert response.status_code == 200 and "gradio" in response.text.lower()

    try:
        _serve_in_own_loop(deferred, scenario)
    finally:
        release.set()


def test_the_api_still_answers_when_the_chat_cannot_be_built(settings):
    import app as app_module
    from retrieval.service import create_api

    def broken_chat(api):
        raise RuntimeError("no chat today")

    deferred = app_module.Deferred(build_api=lambda: create_api(Service(settings)), build_app=broken_chat)

    async def scenario(client):
        r = await client.post("/api/ask", json={"question": "is ketamine addictive?"})
        assert r.status_code == 200 and r.json()["status"] == "answered"
        page = await client.get("/")
        assert page.status_code == 503 and "no chat today" in page.text

    _serve_in_own_loop(deferred, scenario)
