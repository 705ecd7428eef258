"""The web app: a Gradio chat (full page at /, frameless at /embed) and a JSON API, over `Engine.ask`.

Everything is served by this process: the chat, its scripts (also as a web component at
/gradio.js), the API docs' assets. Who may frame or script the chat from another site is
set by ALLOWED_EMBED_ORIGINS. Questions are never logged unless UNANSWERED_LOG is set.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from fastapi import Request  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from .answer import Engine  # noqa: E402
from .config import Settings  # noqa: E402
from .index import IndexUnavailable, live_folder, read_manifest  # noqa: E402
from .records import Result  # noqa: E402
from .safety import DISCLAIMER, MAX_CHARS, shown_back  # noqa: E402

log = logging.getLogger("retrieval.web")

EXAMPLES = [
    "Can ketamine help with alcohol addiction?",
    "What side effects can ketamine have?",
    "Can you get addicted to ketamine?",
    "How quickly does ketamine work for depression?",
]
MAX_BODY_BYTES = 16 * 1024
# Two cores: two questions encode at once (each encoder call is CPU-bound); more would only queue
# inside the encoders and raise every request's latency. Requests beyond that wait their turn.
CONCURRENCY = int(os.environ.get("ANSWER_CONCURRENCY", "2"))
RELOAD_CHECK_SECONDS = 1.0  # how often requests look for a newly built index
UNAVAILABLE = "The answer index is not available right now. Please try again later; staff can rebuild it with `python -m retrieval build`."
GRADIO_JS = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
CSS = """
.quote { margin: 0.4em 0 0.2em; padding: 0.5em 0.8em; border-left: 4px solid #2f6fb0; background: rgba(47,111,176,0.07); font-style: normal; }
.quote mark { background: #fff0a0; color: inherit; padding: 0 1px; }
.attribution { margin: 0 0 0.9em 0.9em; font-size: 0.88em; opacity: 0.85; }
.attribution a { text-decoration: underline; }
.notice { font-weight: 600; }
.searched { font-size: 0.88em; opacity: 0.85; }
.disclaimer { font-size: 0.8em; opacity: 0.8; margin: 0; }
"""
# Show the newest question and the start of its answer (the best quote), not the end of the last quote.
SCROLL_TO_ANSWER = """() => { setTimeout(() => {
  for (const wrap of document.querySelectorAll('#chat .bubble-wrap')) {
    const rows = wrap.querySelectorAll('.user-row');
    if (!rows.length) continue;
    const row = rows[rows.length - 1];
    wrap.scrollTop += row.getBoundingClientRect().top - wrap.getBoundingClientRect().top - 8;
  }
}, 150); }"""
EMBED_CSS = CSS + """
footer { display: none !important; }
.gradio-container { padding: 4px 8px !important; max-width: 100% !important; }
"""


class Question(BaseModel):
    """Body of POST /api/ask."""

    question: str


def allowed_origins() -> list[str]:
    """Origins (scheme://host[:port]) allowed to frame /embed and load the web component."""
    return [o.rstrip("/") for o in os.environ.get("ALLOWED_EMBED_ORIGINS", "").split() if o.strip()]


def escape_user_text(text: str) -> str:
    """Show the user's words as typed: no HTML, no Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", html.escape(text, quote=False))


def render_result(result: Result) -> str:
    """The bot's chat bubble: fixed message first, then what was searched for when a misspelt word
    was corrected, then each quote with its attribution apart from it."""
    parts = []
    if result.message:
        parts.append(f'<p class="notice">{html.escape(result.message)}</p>')
    if result.searched_for:
        parts.append(f'<p class="searched">Searched for: “{html.escape(result.searched_for)}”</p>')
    for p in result.passages:
        parts.append(f'<blockquote class="quote">{_highlighted(p)}</blockquote>')
        parts.append(f'<p class="attribution">— {_attribution(p.source)}{_also(p.also_in)}</p>')
    return "\n".join(parts)


def _highlighted(p) -> str:
    if not p.highlight or p.highlight == [p.start, p.end]:
        return html.escape(p.text)  # a one-sentence quote needs no emphasis
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


class Service:
    """Answers for the web: a bounded number at once, counted by status, unanswered ones optionally logged.

    Between requests it notices a newly built index (index/CURRENT changed) and loads it in the
    background; requests keep using the loaded one until the new one is ready, so none fails.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._failed_build: str | None = None
        self._next_check = 0.0
        self.counts: Counter[str] = Counter()
        self._slots = threading.BoundedSemaphore(CONCURRENCY)
        # API answers run on CONCURRENCY threads of their own rather than Starlette's pool of 40,
        # where eight waiting requests meant eight threads handing the model back and forth
        # (measured: 8 keep-alive clients, `fast`, 380 -> 435 answers/s, server CPU 4.3 -> 4.1 ms each).
        self.answering = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="answer")
        self._count_lock = threading.Lock()
        self.unanswered_log = os.environ.get("UNANSWERED_LOG") or None
        if self.unanswered_log:
            log.warning("UNANSWERED_LOG is set: questions the sources do not answer are appended to %s", self.unanswered_log)

    def engine(self) -> Engine:
        """The loaded engine (loading it on first use), after a check for a newer index at most once a second.

        Checking on every request read index/CURRENT each time, in 6% of py-spy's samples of the
        server under load; once a second raised 8-client throughput by about 3%."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
                log.info("serving index build %s", self.build_id)
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + RELOAD_CHECK_SECONDS
            self._check_for_new_build()
        return self._engine

    @property
    def build_id(self) -> str | None:
        return self._engine.index.manifest.get("build_id") if self._engine else None

    def _check_for_new_build(self) -> None:
        try:
            live = live_folder(self.settings.index_dir).name
        except IndexUnavailable:
            return
        if live not in (self.build_id, self._failed_build) and self._reload_lock.acquire(blocking=False):
            threading.Thread(target=self._reload, args=(live,), daemon=True).start()

    def _reload(self, live: str) -> None:
        try:
            engine = Engine(self.settings)
            self._engine = engine  # one reference swap: requests in flight finish on the old engine
            log.info("now serving index build %s", self.build_id)
        except Exception as e:  # keep serving the loaded index whatever went wrong with the new one
            self._failed_build = live
            log.error("kept serving build %s: the new build %s could not be loaded (%s)", self.build_id, live, e)
        finally:
            self._reload_lock.release()

    def reload(self) -> None:
        """Reload now (SIGHUP), even a build that failed to load before."""
        self._failed_build = None
        self._check_for_new_build()

    def ask(self, question) -> Result | None:
        try:
            with self._slots:
                result = self.engine().ask(question)
        except IndexUnavailable as e:
            log.error("index unavailable: %s", e)
            self._count("unavailable")
            return None
        self._count(result.status)
        if self.unanswered_log and result.status == "no_match":
            with self._count_lock, open(self.unanswered_log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "question": result.question}) + "\n")
        return result

    def _count(self, status: str) -> None:
        with self._count_lock:
            self.counts[status] += 1

    def respond(self, message: str, history: list):
        """Gradio handler: append the user's message (as text) and the bot's answer."""
        result = self.ask(message)
        reply = render_result(result) if result else f'<p class="notice">{html.escape(UNAVAILABLE)}</p>'
        history = list(history or []) + [
            {"role": "user", "content": escape_user_text(shown_back(message or ""))},
            {"role": "assistant", "content": reply},
        ]
        return "", history

    def chat_blocks(self, embedded: bool) -> gr.Blocks:
        """The chat UI; `embedded` drops the page title and sizes it for an iframe."""
        with gr.Blocks(title="Ketamine therapy questions", analytics_enabled=False) as demo:
            if not embedded:
                gr.Markdown(
                    "## Questions about ketamine therapy\n"
                    "Answers are passages quoted word for word from published articles, each with its source."
                )
            chat = gr.Chatbot(
                label="Answers quoted from articles",
                show_label=not embedded,
                autoscroll=False,
                height=330 if embedded else 520,
                sanitize_html=True,
                render_markdown=True,
                elem_id="chat",
                buttons=[],
                placeholder="Ask a question about ketamine therapy. Answers are quoted from published articles.",
            )
            box = gr.Textbox(
                placeholder="Type your question, e.g. Is ketamine addictive?",
                show_label=False,
                max_length=MAX_CHARS,
                submit_btn="Ask",
                elem_id="question",
                autofocus=not embedded,
            )
            gr.Examples(EXAMPLES[:2] if embedded else EXAMPLES, inputs=box, label="Try asking")
            gr.HTML(f'<p class="disclaimer">{html.escape(DISCLAIMER)}</p>')
            event = box.submit(self.respond, [box, chat], [box, chat], api_name="ask_chat" if not embedded else False)
            event.then(None, js=SCROLL_TO_ANSWER)
        demo.queue(default_concurrency_limit=CONCURRENCY, max_size=256)
        return demo


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task overhead): framing policy, nosniff, no referrer."""

    def __init__(self, app, frame_ancestors: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", f"frame-ancestors {frame_ancestors}".encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {h[0] for h in self.headers}
                message["headers"] = [h for h in message.get("headers", []) if h[0].lower() not in names] + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None):
    """FastAPI app with the API routes, security headers, CORS, and both chat pages mounted."""
    settings = settings or Settings()
    service = Service(settings)
    origins = allowed_origins()
    root_path = os.environ.get("ROOT_PATH", "").rstrip("/")
    app = FastAPIOffline(
        title="Ketamine therapy Q&A",
        description="Answers are verbatim passages of the clinic's articles, with their sources; never generated text.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        root_path=root_path,
    )
    app.state.service = service
    frame_ancestors = " ".join(["'self'", *origins])

    app.add_middleware(SecurityHeaders, frame_ancestors=frame_ancestors)

    # Declared by us so Gradio adds none of its own: only the allowed origins may script the chat.
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600
    )

    @app.get("/healthz", summary="Health and the index being served")
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
                "encoders": m.get("encoders"),
            },
            "serving_build": service.build_id,
            "answers_by_status": dict(service.counts),
        }

    @app.post(
        "/api/ask",
        summary="Answer one question with verbatim passages",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": Question.model_json_schema()}}}},
        responses={400: {"description": "Body is not JSON or has no question"}, 413: {"description": "Body too large"}},
    )
    async def api_ask(request: Request):
        """Body `{"question": "..."}` → the result object: status, fixed message, verbatim passages with sources."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": 'body must be JSON: {"question": "..."}'}, status_code=400)
        if not isinstance(data, dict) or "question" not in data:
            return JSONResponse({"error": 'body must be a JSON object with a "question" field'}, status_code=400)
        result = await asyncio.get_running_loop().run_in_executor(service.answering, service.ask, data["question"])
        if result is None:
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        return JSONResponse(result.to_json())

    @app.api_route("/api/ask", methods=["GET", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def api_ask_wrong_method():
        return JSONResponse({"error": "use POST with a JSON body"}, status_code=405, headers={"Allow": "POST"})

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js():
        """Gradio's web-component loader, served here so a clinic's page needs no CDN."""
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    @app.get("/embed", include_in_schema=False)
    def embed_without_slash(request: Request):
        """/embed as the contract names it: Gradio serves the mounted page at /embed/, and the page
        mounted at / answered /embed with 404. Relative, so it holds behind a ROOT_PATH proxy."""
        query = request.url.query
        return RedirectResponse("embed/" + (f"?{query}" if query else ""), status_code=308)

    theme = gr.themes.Default(font=[FONT], font_mono=["ui-monospace", "monospace"])
    gr.mount_gradio_app(
        app, service.chat_blocks(embedded=True), path="/embed", css=EMBED_CSS, theme=theme, footer_links=[],
    )
    gr.mount_gradio_app(
        app, service.chat_blocks(embedded=False), path="", css=CSS, theme=theme, footer_links=["api"],
    )
    return app


def warm_up(app) -> None:
    """Load model and index in the background so the port opens at once; early questions wait for it."""
    def load():
        try:
            app.state.service.engine()
        except IndexUnavailable as e:
            log.error("%s", e)

    threading.Thread(target=load, daemon=True).start()
