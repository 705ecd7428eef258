"""What every HTTP request passes before the app sees it: a known route, a body bounded while it is
read, well-formed JSON where JSON is due, and each client's fair share of answers."""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

API_BODY = 16 * 1024  # {"question": ...} of up to 1,000 characters, escaped
CHAT_BODY = 64 * 1024  # a chat message plus the last exchanges the chat shows (web.HISTORY_TURNS)


@dataclass(frozen=True)
class Route:
    """Requests the app serves at a path: methods, the largest body, whether it is JSON, whether it asks a question."""

    pattern: str
    methods: tuple[str, ...] = ("GET", "HEAD")
    max_body: int = 0
    json: bool = False
    asks: bool = False  # counts against the client's rate limit
    check: str = ""  # the name of a check of the parsed body (Guard's `checks`), e.g. the chat's events
    _re: re.Pattern[str] = field(init=False, repr=False, compare=False)  # the pattern, compiled once

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", re.compile(self.pattern + r"\Z"))

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and bool(self._re.match(path))


def app_routes(chat_api: str | None = "ask_chat") -> list[Route]:
    """The routes the API and both chat pages use, and nothing else Gradio or FastAPI would add
    (uploads, run history, dev reload, monitoring, proxies, files): everything else is 404."""
    routes = [
        Route("/healthz"), Route("/api/docs"), Route("/api/openapi.json"), Route("/static-offline-docs/[\\w.-]+"),
        Route("/gradio.js"), Route("/embed"), Route("/robots.txt"),
        Route("/api/ask", ("POST",), API_BODY, json=True, asks=True),
        Route("/api/ask", ("GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")),  # answered 405 (or CORS preflight)
    ]
    for page in ("", "/embed"):
        routes += [
            Route(f"{page}/"), Route(f"{page}/(?:assets|static)/[\\w./-]+"), Route(f"{page}/theme\\.css"),
            Route(f"{page}/favicon\\.ico"), Route(f"{page}/manifest\\.json"), Route(f"{page}/config/?"),
            Route(f"{page}/gradio_api/info/?"), Route(f"{page}/gradio_api/queue/data"),
            Route(f"{page}/gradio_api/heartbeat/[\\w-]+"), Route(f"{page}/gradio_api/startup-events"),
            Route(f"{page}/gradio_api/queue/join", ("POST",), CHAT_BODY, json=True, asks=True, check="chat"),
            Route(f"{page}/gradio_api/run/predict", ("POST",), CHAT_BODY, json=True, check="chat"),  # an example clicked
        ]
    if chat_api:
        routes += [
            Route(f"/gradio_api/call/{chat_api}", ("POST",), CHAT_BODY, json=True, asks=True, check="chat"),
            Route(f"/gradio_api/call/{chat_api}/[\\w-]+"),
        ]
    return routes


class RateLimit:
    """A token bucket per client: `burst` questions at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int, clients: int = 10_000) -> None:
        self.rate, self.burst, self.clients = per_minute / 60.0, max(1, burst), clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, client: str, now: float | None = None) -> float:
        """0 when the client may ask now (and takes a token), else seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if tokens >= 1 else tokens, now)
        if len(self._buckets) > self.clients:  # the least recently seen client is forgotten (its bucket refills)
            self._buckets.popitem(last=False)
        return wait


class Guard:
    """Pure ASGI middleware in front of the whole app (API and chat alike)."""

    def __init__(self, app, routes: list[Route], rate: RateLimit | None = None, root_path: str = "",
                 checks: dict | None = None) -> None:
        self.app, self.routes, self.rate, self.root_path = app, routes, rate, root_path.rstrip("/")
        self.checks = {} if checks is None else checks  # name -> check(path, body) -> problem or None; filled by the chat

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # the chat streams over HTTP; no websocket route exists
            return await send({"type": "websocket.close", "code": 1008})
        path = scope["path"]
        if self.root_path and path.startswith(self.root_path):
            path = path[len(self.root_path) :] or "/"
        method = scope["method"]
        route = next((r for r in self.routes if r.matches(method, path)), None)
        if route is None:
            return await reply(send, 404, {"error": "not found"})
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            return await reply(send, 400, {"error": "bad content-length"})
        if declared > route.max_body:
            return await reply(send, 413, {"error": f"request body over {route.max_body} bytes"})
        if route.json:
            media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media != b"application/json":
                return await reply(send, 415, {"error": "send the body as application/json"})
        if route.asks and self.rate is not None:
            client = (scope.get("client") or ("unknown",))[0]
            wait = self.rate.wait(client)
            if wait > 0:
                seconds = str(max(1, math.ceil(wait)))
                return await reply(send, 429, {"error": f"too many questions at once; try again in {seconds} s"},
                                   ((b"retry-after", seconds.encode()),))
        if route.max_body == 0:
            return await self.app(scope, receive, send_422_as_400(send))
        body = bytearray()
        while True:  # read the body here, bounded as it arrives (chunked or not), before the app sees it
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left mid-body: nothing to answer, nothing to log
            body += message.get("body", b"")
            if len(body) > route.max_body:
                return await reply(send, 413, {"error": f"request body over {route.max_body} bytes"})
            if not message.get("more_body", False):
                break
        if route.json:
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):  # not JSON, too deep, or a number too long to read
                return await reply(send, 400, {"error": "the body is not valid JSON"})
            check = self.checks.get(route.check)
            problem = check(path, parsed) if check else None
            if problem:
                return await reply(send, 400, {"error": problem})
        return await self.app(scope, replay(bytes(body), receive), send_422_as_400(send))


def replay(body: bytes, receive):
    """A receive that gives the body already read, then waits for the client as before (disconnects)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def send_422_as_400(send):
    """A malformed request is a 400, whichever layer found it (FastAPI's validation says 422)."""

    async def sending(message):
        if message["type"] == "http.response.start" and message.get("status") == 422:
            message = {**message, "status": 400}
        await send(message)

    return sending


async def reply(send, status: int, body: dict, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})
