"""The connections the web server keeps: a bounded number, each with a deadline to send its request.

uvicorn times out a connection only between requests (keep-alive), not before its first request
nor while a request is sent slowly, and accepts connections until the process runs out of file
descriptors, after which no one can connect.
"""

from __future__ import annotations

import logging
import resource

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import WebSettings

log = logging.getLogger("retrieval.connections")
RESERVED_FILES = 128  # descriptors kept for the process's own files (index, models, logs)
BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 5\r\nconnection: close\r\n\r\n"


def connection_cap(web: WebSettings) -> int:
    """Raise the open-file limit to what the system allows, and keep connections below it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            soft = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        except (ValueError, OSError):
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(1, min(web.max_connections, soft - RESERVED_FILES))


def bounded_protocol(web: WebSettings, cap: int) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol, with a cap on connections and deadlines for requests."""

    class Bounded(HttpToolsProtocol):
        _deadline = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > cap:  # answered at once and closed, so its descriptor is freed
                transport.write(BUSY)
                transport.close()
                return
            self._arm(web.idle_seconds)  # the first request must begin soon

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm(web.request_seconds)  # and arrive whole (headers and body) in time

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._disarm()  # the answer may take its time (the chat streams); keep-alive times out after it

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return Bounded
