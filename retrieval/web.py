"""The chat: a Gradio page (full at /, frameless at /embed) mounted on the JSON API of
retrieval/service.py, over the same `Service` and so the same `Engine.ask`.

Everything is served by this process: the chat, its scripts (also as a web component at
/gradio.js), the API docs' assets. Who may frame or script the chat from another site is
set by ALLOWED_EMBED_ORIGINS. Questions are neither logged nor stored, here or in the browser.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
from fastapi.responses import FileResponse

from .config import Settings
from .records import Result
from .safety import DISCLAIMER, MAX_CHARS, shown_back
from .service import UNAVAILABLE, WAITING, Service, create_api

EXAMPLES = [
    "Can ketamine help with alcohol addiction?",
    "What side effects can ketamine have?",
    "Can you get addicted to ketamine?",
    "How quickly does ketamine work for depression?",
]
GRADIO_JS = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
CSS = """
.quote { margin: 0.4em 0 0.2em; padding: 0.5em 0.8em; border-left: 4px solid #2f6fb0; background: rgba(47,111,176,0.07); font-style: normal; }
.quote mark { background: #fff0a0; color: inherit; padding: 0 1px; }
.attribution { margin: 0 0 0.9em 0.9em; font-size: 0.88em; opacity: 0.85; }
.attribution a { text-decoration: underline; }
.notice { font-weight: 600; }
.searched { font-size: 0.88em; opacity: 0.85; }
.more { font-size: 0.9em; margin: 0.6em 0 0; opacity: 0.85; }
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


HISTORY_TURNS = 6  # exchanges the chat keeps on screen: the client sends them back with each message (guard.CHAT_BODY)
SESSIONS_KEPT = 64  # Gradio keeps each session's last values for deep links, which this app does not offer


def user_bubble(text: str) -> str:
    """The user's words as typed, as plain text: an HTML paragraph, which Markdown neither formats nor links."""
    shown = text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"
    return f'<p class="asked">{html.escape(shown, quote=False)}</p>'


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
    if result.followups:
        parts.append('<p class="more">People also ask:</p>')
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


def respond(service: Service, message: str, history: list, client: str = ""):
    """Gradio handler: append the user's message (as text) and the bot's answer, with the bank
    questions it offers (suggestions or follow-ups) as buttons under it."""
    result = service.ask(message, client)
    reply: dict[str, object] = {"role": "assistant", "content": f'<p class="notice">{html.escape(UNAVAILABLE)}</p>'}
    if result:
        offered = result.suggestions or result.followups
        reply = {"role": "assistant", "content": render_result(result), "options": [{"label": q, "value": q} for q in offered]}
    earlier = [{k: v for k, v in m.items() if k != "options"} for m in history[-2 * (HISTORY_TURNS - 1) :]] if isinstance(history, list) else []
    return "", earlier + [{"role": "user", "content": user_bubble(shown_back(message or ""))}, reply]


def chat_blocks(service: Service, embedded: bool) -> gr.Blocks:
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

        def client(request: gr.Request | None) -> str:
            return request.client.host if request and request.client else ""

        def answer(message: str, history: list, request: gr.Request):
            return respond(service, message, history, client(request))

        def chosen(history: list, option: gr.SelectData, request: gr.Request):
            """A suggestion or follow-up clicked: asked as if typed."""
            return respond(service, str(option.value), history, client(request))

        event = box.submit(answer, [box, chat], [box, chat], api_name="ask_chat" if not embedded else None,
                           api_visibility="private" if embedded else "public")
        event.then(None, js=SCROLL_TO_ANSWER)
        chat.option_select(chosen, [chat], [box, chat], api_visibility="private").then(None, js=SCROLL_TO_ANSWER)
    demo.queue(default_concurrency_limit=WAITING, max_size=256)  # the Service's fair slots decide who answers first
    demo.state_session_capacity = SESSIONS_KEPT  # read when mounted
    return demo


def event_check(pages: dict[str, gr.Blocks], api_name: str = "ask_chat"):
    """What a chat page's request may carry: one of that page's events, one value per input, each of its
    component's kind. Anything else is refused before Gradio reads it (it answered some with 500)."""
    events = {(prefix, fn_id): fn.inputs for prefix, blocks in pages.items() for fn_id, fn in blocks.fns.items() if fn.fn}
    api = next((key for key, fn in ((k, pages[k[0]].fns[k[1]]) for k in events) if fn.api_name == api_name), None)

    def check(path: str, body) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return 'expected {"data": [...], ...}'
        if not isinstance(body.get("session_hash", ""), str) or len(body.get("session_hash", "")) > 64:
            return "bad session_hash"
        if "/gradio_api/call/" in path:
            key = api
        else:
            fn = body.get("fn_index")
            key = ("/embed" if path.startswith("/embed/") else "", fn) if isinstance(fn, int) else None
        inputs = events.get(key) if key else None
        if inputs is None:
            return "unknown event"
        if len(body["data"]) != len(inputs) or not all(fits(c, v) for c, v in zip(inputs, body["data"])):
            return "the event's data do not fit its inputs"
        return None

    return check


def fits(component, value) -> bool:
    """Whether a value sent by the browser has the shape its component reads."""
    if isinstance(component, gr.Textbox):
        return isinstance(value, str)
    if isinstance(component, gr.Chatbot):
        return isinstance(value, list) and len(value) <= 2 * HISTORY_TURNS and all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), (str, list))
            for m in value)
    if isinstance(component, gr.Dataset):
        return isinstance(value, int) and 0 <= value < len(component.samples)
    return True


def create_app(settings: Settings | None = None, service: Service | None = None):
    """The API app (retrieval/service.py) with both chat pages mounted: full page at /, frameless at /embed."""
    service = service or Service(settings or Settings())
    app = create_api(service)

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js():
        """Gradio's web-component loader, served here so a clinic's page needs no CDN."""
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    theme = gr.themes.Default(font=[FONT], font_mono=["ui-monospace", "monospace"])
    pages = {"/embed": chat_blocks(service, embedded=True), "": chat_blocks(service, embedded=False)}
    for path, blocks in pages.items():
        gr.mount_gradio_app(
            app, blocks, path=path, css=EMBED_CSS if path else CSS, theme=theme, footer_links=[] if path else ["api"],
            run_history=False, enable_monitoring=False, show_error=False, pwa=False, mcp_server=False,
        )
    service.request_checks["chat"] = event_check(pages)
    return app
