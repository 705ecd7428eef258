"""Answering over HTTP, without the chat: the Service (one engine, swapped when a new index is
built) and the JSON API's routes. It does not import Gradio, so the API can answer while the chat
(retrieval/web.py) is still loading.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from fastapi import Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from .answer import Engine
from .config import Settings
from .guard import Guard, RateLimit, app_routes
from .index import IndexUnavailable, live_folder, read_manifest
from .onnxmodel import DamagedModel
from .records import Result
from .slots import FairSlots

log = logging.getLogger("retrieval.service")

WAITING = 16  # requests that may wait for a slot at once (API threads, chat workers): the slots pick among them fairly
RELOAD_CHECK_SECONDS = 1.0  # how often requests look for a newly built index
UNAVAILABLE = "The answer index is not available right now. Please try again later; staff can rebuild it with `python -m retrieval build`."


class Question(BaseModel):
    """Body of POST /api/ask."""

    question: str


class Service:
    """Answers for the web: a bounded number at once, counted by status; questions are neither logged nor kept.

    Between requests it notices a newly built index (index/CURRENT changed) and loads it in the
    background; requests keep using the loaded one until the new one is ready, so none fails.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._failed_build: str | None = None
        self._load_error: IndexUnavailable | None = None
        self._retry_at = 0.0
        self._next_check = 0.0
        self.counts: Counter[str] = Counter()
        web = settings.web
        # one limit per process, shared by the early API and the full app (both ask through this Service)
        self.rate = RateLimit(web.rate_per_minute, web.rate_burst) if web.rate_per_minute > 0 else None
        self.request_checks: dict = {}  # what the chat's events may send (retrieval/web.py), checked by the Guard
        self._slots = FairSlots(web.concurrency)
        # API answers wait on threads of their own (not Starlette's pool of 40), asleep until the fair
        # slots hand them one: a client sending costly messages waits behind the others.
        self.answering = ThreadPoolExecutor(WAITING, thread_name_prefix="answer")
        self._count_lock = threading.Lock()

    def engine(self) -> Engine:
        """The loaded engine (loading it on first use), after a check for a newer index at most once a
        second (reading index/CURRENT on every request showed in profiles under load)."""
        with self._engine_lock:
            if self._engine is None:
                if self._load_error is not None and time.monotonic() < self._retry_at:  # a damaged index is tried again once a second, not per request
                    raise self._load_error
                try:
                    self._engine = Engine(self.settings)
                except IndexUnavailable as e:
                    self._load_error, self._retry_at = e, time.monotonic() + RELOAD_CHECK_SECONDS
                    raise
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

    def ask(self, question, client: str = "") -> Result | None:
        """The engine's answer, in a slot shared fairly between clients (their address); None when the index is unavailable."""
        try:
            with self._slots.slot(client):
                result = self.engine().ask(question)
        except (IndexUnavailable, DamagedModel) as e:
            log.error("cannot answer: %s", e)
            self._count("unavailable")
            return None
        self._count(result.status)
        return result

    def _count(self, status: str) -> None:
        with self._count_lock:
            self.counts[status] += 1

    def warm_up(self) -> None:
        """Load model and index now (in a background thread at start-up), so the first question need not wait for them."""
        try:
            self.engine()
        except IndexUnavailable as e:
            log.error("%s", e)


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


def create_api(service: Service):
    """FastAPI app with the API routes, security headers and CORS over `service`; the chat pages
    are mounted on it by retrieval/web.py."""
    settings = service.settings
    origins = list(settings.web.embed_origins)
    root_path = settings.web.root_path
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

    # Innermost of ours: a request is bounded and checked before anything reads it; its refusals
    # still get CORS and the security headers.
    app.add_middleware(Guard, routes=app_routes(), rate=service.rate, root_path=root_path, checks=service.request_checks)

    app.add_middleware(SecurityHeaders, frame_ancestors=frame_ancestors)

    # Declared by us so Gradio adds none of its own: only the allowed origins may script the chat.
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"], max_age=600
    )

    @app.get("/healthz", summary="Health and the index being served")
    def healthz():
        """200 only when questions can be answered: the live index loads and its files match their checksums."""
        try:
            service.engine()
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
        responses={400: {"description": "Body is not JSON or has no question"}, 413: {"description": "Body too large"},
                   415: {"description": "Body is not application/json"},
                   429: {"description": "Too many questions from this client; see Retry-After"}},
    )
    async def api_ask(request: Request):
        """Body `{"question": "..."}` → the result object: status, fixed message, verbatim passages with sources."""
        body = await request.body()  # read and bounded by the Guard already
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return JSONResponse({"error": 'body must be JSON: {"question": "..."}'}, status_code=400)
        if not isinstance(data, dict) or "question" not in data:
            return JSONResponse({"error": 'body must be a JSON object with a "question" field'}, status_code=400)
        client = request.client.host if request.client else ""
        result = await asyncio.get_running_loop().run_in_executor(service.answering, service.ask, data["question"], client)
        if result is None:
            return JSONResponse({"error": UNAVAILABLE}, status_code=503)
        return JSONResponse(result.to_json())

    @app.api_route("/api/ask", methods=["GET", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def api_ask_wrong_method():
        return JSONResponse({"error": "use POST with a JSON body"}, status_code=405, headers={"Allow": "POST"})

    @app.get("/embed", include_in_schema=False)
    def embed_without_slash(request: Request):
        """/embed as the contract names it: Gradio serves the mounted page at /embed/, and the page
        mounted at / answered /embed with 404. Relative, so it holds behind a ROOT_PATH proxy."""
        query = request.url.query
        return RedirectResponse("embed/" + (f"?{query}" if query else ""), status_code=308)

    return app
