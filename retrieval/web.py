"""The web app: a Gradio chat (full page at /, frameless at /embed) and a JSON API, over `Engine.ask`."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from .answer import Engine, get_engine  # noqa: E402
from .config import Settings  # noqa: E402
from .index import IndexUnavailable, read_manifest  # noqa: E402
from .records import Result  # noqa: E402
from .safety import DISCLAIMER, MAX_CHARS  # noqa: E402

log = logging.getLogger("retrieval.web")

EXAMPLES = [
    "Can ketamine help with alcohol addiction?",
    "What side effects can ketamine have?",
    "Can you get addicted to ketamine?",
    "How quickly does ketamine work for depression?",
]
MAX_BODY_BYTES = 16 * 1024
UNAVAILABLE = "The answer index is not available right now. Please try again later; staff can rebuild it with `python -m retrieval build`."

CSS = """
.quote { margin: 0.4em 0 0.2em; padding: 0.5em 0.8em; border-left: 4px solid #5b8def; background: rgba(91,141,239,0.07); font-style: normal; }
.quote mark { background: #fff3a8; color: inherit; padding: 0 1px; }
.attribution { margin: 0 0 0.9em 0.9em; font-size: 0.88em; opacity: 0.85; }
.attribution a { text-decoration: underline; }
.notice { font-weight: 600; }
.disclaimer { font-size: 0.85em; opacity: 0.8; }
"""
EMBED_CSS = CSS + "footer { display: none !important; } .gradio-container { padding: 0 !important; }"


def escape_user_text(text: str) -> str:
    """Show the user's words as typed: no HTML, no Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", html.escape(text, quote=False))


def render_result(result: Result) -> str:
    """The bot's chat bubble: fixed message first, then each quote with its attribution apart from it."""
    parts = []
    if result.message:
        parts.append(f'<p class="notice">{html.escape(result.message)}</p>')
    for p in result.passages:
        parts.append(f'<blockquote class="quote">{_highlighted(p)}</blockquote>')
        parts.append(f'<p class="attribution">— {_attribution(p.source)}{_also(p.also_in)}</p>')
    return "\n".join(parts)


def _highlighted(p) -> str:
    if not p.highlight:
        return html.escape(p.text)
    a, b = p.highlight[0] - p.start, p.highlight[1] - p.start
    return f"{html.escape(p.text[:a])}<mark>{html.escape(p.text[a:b])}</mark>{html.escape(p.text[b:])}"


def _attribution(source: dict) -> str:
    title = html.escape(source["title"])
    if source.get("url", "").startswith(("https://", "http://")):
        title = f'<a href="{html.escape(source["url"])}" target="_blank" rel="noopener noreferrer">{title}</a>'
    publisher = f", {html.escape(source['publisher'])}" if source.get("publisher") else ""
    return f"<cite>{title}</cite>{publisher}"


def _also(others: list[dict]) -> str:
    if not others:
        return ""
    return "<br>Also said in: " + "; ".join(_attribution(o) for o in others)


def _ask(question) -> Result | None:
    try:
        return get_engine().ask(question)
    except IndexUnavailable as e:
        log.error("index unavailable: %s", e)
        return None


def respond(message: str, history: list):
    """Gradio handler: append the user's message (as text) and the bot's answer."""
    result = _ask(message)
    reply = render_result(result) if result else f'<p class="notice">{html.escape(UNAVAILABLE)}</p>'
    history = list(history or []) + [
        {"role": "user", "content": escape_user_text(message or "")},
        {"role": "assistant", "content": reply},
    ]
    return "", history


def chat_blocks(embedded: bool) -> gr.Blocks:
    """The chat UI; `embedded` drops the page title for use inside an iframe."""
    with gr.Blocks(title="Ketamine therapy questions", analytics_enabled=False) as demo:
        if not embedded:
            gr.Markdown("## Questions about ketamine therapy\nAnswers are passages quoted word for word from published articles, each with its source.")
        chat = gr.Chatbot(
            label="Answers quoted from articles",
            height=380 if embedded else 520,
            sanitize_html=True,
            render_markdown=True,
            elem_id="chat",
            buttons=[],
        )
        box = gr.Textbox(
            placeholder="Type your question, e.g. Is ketamine addictive?",
            show_label=False,
            max_length=MAX_CHARS,
            submit_btn="Ask",
            elem_id="question",
            autofocus=not embedded,
        )
        gr.Examples(EXAMPLES, inputs=box, label="Try asking")
        gr.HTML(f'<p class="disclaimer">{html.escape(DISCLAIMER)}</p>')
        box.submit(respond, [box, chat], [box, chat], api_name="ask_chat" if not embedded else False)
    return demo


def create_app(settings: Settings | None = None) -> FastAPI:
    """FastAPI app with the API routes and both chat pages mounted."""
    settings = settings or Settings()
    app = FastAPI(title="Ketamine therapy Q&A", description="Verbatim passages from the clinic's articles.", docs_url="/api/docs", redoc_url=None)

    @app.get("/healthz")
    def healthz():
        try:
            m = read_manifest(settings.index_dir)
        except IndexUnavailable as e:
            return JSONResponse({"status": "unavailable", "error": str(e)}, status_code=503)
        return {
            "status": "ok",
            "index": {
                "build_id": m.get("build_id"),
                "built_at": m.get("built_at"),
                "documents": m["counts"]["documents"],
                "chunks": m["counts"]["chunks"],
                "model": m["model"],
            },
        }

    @app.post("/api/ask")
    async def api_ask(request: Request):
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": 'body must be JSON: {"question": "..."}'}, status_code=400)
        if not isinstance(data, dict) or "question" not in data:
            return JSONResponse({"error": 'body must be a JSON object with a "question" field'}, status_code=400)
        result = await _run(data["question"])
        if result is None:
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        return result.to_json()

    gr.mount_gradio_app(app, chat_blocks(embedded=True), path="/embed", css=EMBED_CSS, footer_links=[])
    gr.mount_gradio_app(app, chat_blocks(embedded=False), path="", css=CSS, footer_links=["api"])
    return app


async def _run(question) -> Result | None:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_ask, question)


def warm_up() -> None:
    """Load model and index in the background so the port opens at once."""
    def load():
        try:
            get_engine()
            log.info("model and index loaded")
        except IndexUnavailable as e:
            log.error("%s", e)

    threading.Thread(target=load, daemon=True).start()


__all__ = ["create_app", "warm_up", "render_result", "escape_user_text", "Engine"]
