"""Serve the chat: python app.py (HOST/PORT from the environment, default 127.0.0.1:7860).

The port opens at once; the model, the index and Gradio load behind it. POST /api/ask answers as
soon as the model and index are loaded (Gradio's import takes longer); every other request waits
for the chat too. A request that arrives before they are ready waits for them; none fails.
"""

import asyncio
import logging
import signal
import threading
from functools import partial

import uvicorn

# Served by the API app alone while the chat is still loading (the path as the client sent it).
EARLY_PATHS = {"/api/ask"}


def api_app(settings=None):
    """The JSON API (no Gradio), its model and index loading in the background at once."""
    from retrieval.config import Settings
    from retrieval.service import Service, create_api

    service = Service(settings or Settings())
    threading.Thread(target=service.warm_up, daemon=True).start()
    return create_api(service)


def chat_app(api):
    """The full app: the same routes over the same service, with the chat pages mounted."""
    from retrieval.web import create_app

    return create_app(service=api.state.service)


class Deferred:
    """An ASGI app that accepts connections immediately: the API answers once it is built, the
    rest once the full app is built too."""

    def __init__(self, build_api=api_app, build_app=chat_app) -> None:
        self.api = None
        self.app = None
        self.error: BaseException | None = None
        self._built = threading.Event()
        self._api_ready = threading.Event()
        self._ready = asyncio.Event()
        self._shutdown = asyncio.Event()
        threading.Thread(target=self._build, args=(build_api, build_app), daemon=True).start()

    def _build(self, build_api, build_app) -> None:
        try:
            self.api = build_api()
            self._api_ready.set()
            self.app = build_app(self.api)
        except BaseException as e:  # reported on every request instead of a silent hang
            self.error = e
            logging.getLogger("app").exception("the web app could not be built")
        finally:
            self._api_ready.set()
            self._built.set()

    async def _run_lifespan(self) -> None:
        """Drive the real app's startup (Gradio starts its queue there) and, later, its shutdown."""
        await asyncio.to_thread(self._built.wait)
        if self.app is None:
            self._ready.set()
            return
        inbox: asyncio.Queue = asyncio.Queue()
        started = asyncio.Event()
        await inbox.put({"type": "lifespan.startup"})

        async def receive():
            return await inbox.get()

        async def send(message):
            if message["type"] in ("lifespan.startup.complete", "lifespan.startup.failed"):
                started.set()

        task = asyncio.create_task(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
        await started.wait()
        self._ready.set()
        await self._shutdown.wait()
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait([task], timeout=5)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    asyncio.create_task(self._run_lifespan())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self._shutdown.set()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        early = scope["type"] == "http" and scope["path"] in EARLY_PATHS
        if early and not (self._ready.is_set() and self.app is not None):
            if not self._api_ready.is_set():
                await asyncio.to_thread(self._api_ready.wait)
            if self.api is not None:  # the chat is still loading, or could not be built
                return await self.api(scope, receive, send)
        await self._ready.wait()
        if self.app is None:
            if scope["type"] == "http":
                body = f"the app failed to start: {self.error}".encode()
                await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU build it probes, misses included
    from retrieval.config import Settings
    from retrieval.connections import bounded_protocol, connection_cap

    settings = Settings()
    host, port = settings.web.host, settings.web.port
    deferred = Deferred(build_api=partial(api_app, settings))
    # `kill -HUP <pid>` makes a running app load the newest index now (it also notices on its own).
    signal.signal(signal.SIGHUP, lambda *_: deferred.api and deferred.api.state.service.reload())
    print(f"Serving the chat on http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    cap = connection_cap(settings.web)
    uvicorn.run(deferred, host=host, port=port, log_level="warning", server_header=False,
                http=bounded_protocol(settings.web, cap), timeout_keep_alive=5)


if __name__ == "__main__":
    main()
