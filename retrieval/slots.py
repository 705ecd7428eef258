"""Answering slots shared fairly: a few answers at once, and when one ends, the waiting client that has
lately used the least answering time goes next (a client sending costly messages waits behind others)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

TYPICAL_SECONDS = 0.05  # about an ordinary answer's time: what a request is charged at least


class FairSlots:
    def __init__(self, slots: int, half_life: float = 10.0, clients: int = 10_000) -> None:
        self._free = slots
        self._decay = math.log(2) / half_life
        self._clients = clients
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, int, threading.Event]] = []  # (client, arrival, wake-up)
        self._usage: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (answering seconds, as of when)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """How many answers wait for a slot."""
        with self._lock:
            return len(self._waiting)

    def usage(self, client: str, now: float | None = None) -> float:
        """The client's answering time, decayed by half every `half_life` seconds."""
        seconds, when = self._usage.get(client, (0.0, 0.0))
        now = time.monotonic() if now is None else now
        return seconds * math.exp(-self._decay * (now - when))

    @contextmanager
    def slot(self, client: str):
        """Hold one slot while answering for `client`."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                turn = None
            else:
                turn = threading.Event()
                self._waiting.append((client, next(self._arrivals), turn))
        if turn is not None:
            turn.wait()
        started = time.monotonic()
        try:
            yield
        finally:
            now = time.monotonic()
            with self._lock:
                spent = now - started
                # a long answer is charged more than its time, so under contention costly messages wait longest
                self._usage[client] = (self.usage(client, now) + spent * max(1.0, spent / TYPICAL_SECONDS), now)
                self._usage.move_to_end(client)
                if len(self._usage) > self._clients:
                    self._usage.popitem(last=False)
                if self._waiting:  # hand the slot on: the lightest user as of now first, then the earliest
                    nxt = min(self._waiting, key=lambda w: (self.usage(w[0], now), w[1]))
                    self._waiting.remove(nxt)
                    nxt[2].set()
                else:
                    self._free += 1
