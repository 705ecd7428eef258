"""Attacks on a running app (loopback only): memory after each, and normal clients' throughput while two
attackers send the costliest messages. Start the app first, e.g.
    RATE_LIMIT_PER_MINUTE=0 .venv/bin/python app.py &
    .venv/bin/python scripts/attack.py --url http://127.0.0.1:7860 --pid $!
"""

from __future__ import annotations

import argparse
import random
import socket
import string
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx

MB = 1024 * 1024
NORMAL = ["is ketamine addictive?", "does ketamine cause nausea?", "how fast does ketamine work for depression?",
          "can ketamine help with alcohol addiction?", "what are the side effects?", "is it safe if I have high blood pressure?"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def costly(rng: random.Random) -> str:
    """1,000 characters of made-up words: the most work a valid message asks for (spelling, long encodings)."""
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(6)) for _ in range(143))[:1000]


def client(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def raw(url: str, head: bytes, chunks) -> None:
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        try:
            s.sendall(head)
            for c in chunks:
                s.sendall(c)
            s.recv(100)
        except OSError:
            pass


def attacks(url: str) -> dict:
    piece = b"\0" * MB
    body = b"POST /api/ask HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    chat = {"data": ["x" * (2 * MB), []], "fn_index": 1, "session_hash": "a", "trigger_id": None}
    return {
        "1 GB body to /api/ask": lambda: raw(url, body + b"content-length: 1073741824\r\n\r\n", (piece for _ in range(1024))),
        "1 GB chunked body": lambda: raw(url, body + b"transfer-encoding: chunked\r\n\r\n",
                                         (b"100000\r\n" + piece + b"\r\n" for _ in range(1024))),
        "ten 50 MB chat messages": lambda: [httpx.post(url + "/gradio_api/queue/join", json={**chat, "data": ["x" * 50 * MB, []]},
                                                       timeout=60) for _ in range(10)],
        "U+FDFA x 1,000, 200 times": lambda: [httpx.post(url + "/api/ask", json={"question": "\ufdfa" * 1000}) for _ in range(200)],
        "200 uploads of 5 MB": lambda: [httpx.post(url + "/gradio_api/upload", files={"files": ("x", b"\0" * 5 * MB)})
                                        for _ in range(200)],
        "JSON nested 990 deep, 200 times": lambda: [httpx.post(url + "/api/ask", content=b"[" * 990 + b"]" * 990,
                                                               headers={"content-type": "application/json"}) for _ in range(200)],
        "1,100 idle connections for 15 s": lambda: idle(url, 1100, 15),
        "400 chat calls from one client": lambda: flood(url, 400),
        "300 sessions of 60 KB chat bodies": lambda: [httpx.post(url + "/gradio_api/queue/join", json={
            **chat, "data": ["y" * 60_000, []], "session_hash": uuid.uuid4().hex[:10]}) for _ in range(300)],
    }


def idle(url: str, n: int, seconds: float) -> None:
    u = urlparse(url)
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection((u.hostname, u.port), timeout=5))
        except OSError:
            break
    time.sleep(seconds)
    for s in socks:
        s.close()


def flood(url: str, n: int) -> None:
    body = {"data": ["is it addictive?", []], "fn_index": 1, "trigger_id": None}
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda _: httpx.post(url + "/gradio_api/queue/join", json={**body, "session_hash": uuid.uuid4().hex[:10]}),
                      range(n)))


def throughput(url: str, seconds: float, attackers: int) -> tuple[float, int]:
    """Answers per second to 8 normal clients (each its own address), and how many the attackers got."""
    stop, counts, attacked = threading.Event(), [0] * 8, [0]

    def normal(i: int) -> None:
        c, k = client(f"127.0.1.{i + 1}"), i
        while not stop.is_set():
            if c.post(url + "/api/ask", json={"question": NORMAL[k % len(NORMAL)]}).status_code == 200:
                counts[i] += 1
            k += 1

    def attacker(i: int) -> None:
        c, rng = client(f"127.0.2.{i + 1}"), random.Random(i)
        while not stop.is_set():
            if c.post(url + "/api/ask", json={"question": costly(rng)}).status_code == 200:
                attacked[0] += 1

    threads = [threading.Thread(target=normal, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=attacker, args=(i,)) for i in range(attackers)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / seconds, attacked[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--pid", type=int, required=True, help="the app's process id (its memory is read from /proc)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each throughput run")
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback only")
    if not args.skip_memory:
        print(f"{'attack':36s} {'before':>8s} {'peak':>8s} {'after':>8s}  growth (MB)")
        for name, attack in attacks(args.url).items():
            before, peak, done = rss_mb(args.pid), [0.0], threading.Event()

            def sample(done=done, peak=peak):
                while not done.is_set():
                    peak[0] = max(peak[0], rss_mb(args.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                attack()
            except httpx.HTTPError as e:
                print(f"  ({name}: {type(e).__name__})")
            time.sleep(1)
            done.set()
            sampler.join()
            after = rss_mb(args.pid)
            print(f"{name:36s} {before:8.0f} {peak[0]:8.0f} {after:8.0f}  {max(peak[0], after) - before:+.0f}")
        time.sleep(3)
    alone, _ = throughput(args.url, args.seconds, 0)
    under, got = throughput(args.url, args.seconds, 2)
    print(f"8 normal clients alone: {alone:.1f} answers/s; with 2 attackers sending 1,000-character made-up words: "
          f"{under:.1f} answers/s ({under / alone:.2f} x), the attackers got {got} answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
