"""Serve the chat: python app.py (HOST/PORT from the environment, default 127.0.0.1:7860).

The port opens at once; Gradio, the model and the index load behind it. A request that
arrives before they are ready waits for them; none fails.
"""

import asyncio
import logging
import os
import signal
import threading

import uvicorn


class Deferred:
    """An ASGI app that accepts connections immediately and hands them to the real app once built."""

    def __init__(self) -> None:
        self.app = None
        self.error: BaseException | None = None
        self._built = threading.Event()
        self._ready = asyncio.Event()
        self._shutdown = asyncio.Event()
        threading.Thread(target=self._build, daemon=True).start()

    def _build(self) -> None:
        try:
            from retrieval.web import create_app, warm_up

            app = create_app()
            warm_up(app)
            self.app = app
        except BaseException as e:  # reported on every request instead of a silent hang
            self.error = e
            logging.getLogger("app").exception("the web app could not be built")
        finally:
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
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "7860"))
    deferred = Deferred()
    # `kill -HUP <pid>` makes a running app load the newest index now (it also notices on its own).
    signal.signal(signal.SIGHUP, lambda *_: deferred.app and deferred.app.state.service.reload())
    print(f"Serving the chat on http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    uvicorn.run(deferred, host=host, port=port, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
