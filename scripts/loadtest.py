"""Load test of POST /api/ask on this machine's loopback: bounded in requests and time, stops by itself.

    .venv/bin/python scripts/loadtest.py --url http://127.0.0.1:7860 --clients 32 --requests 1000

Each question is first asked alone to record the reference result; under load every answer must
be identical (status and passages). Prints errors, wrong answers, latency p50/p95 and throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent


def signature(result: dict) -> tuple:
    return result["status"], tuple((p["path"], p["start"], p["end"]) for p in result["passages"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=600, help="stop sending after this long")
    args = ap.parse_args()
    host = urlparse(args.url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        print("refusing: this load test only targets this machine's loopback", file=sys.stderr)
        return 2
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "gold.jsonl").read_text().splitlines()
                 if line.strip() and json.loads(line)["kind"] in ("in", "out", "crisis", "smalltalk")]
    endpoint = args.url.rstrip("/") + "/api/ask"
    with httpx.Client(timeout=60) as client:
        reference = {q: signature(client.post(endpoint, json={"question": q}).json()) for q in questions}
    deadline = time.monotonic() + args.max_seconds
    latencies: list[float] = []
    errors = wrong = 0

    def one(i: int, client: httpx.Client):
        if time.monotonic() > deadline:
            return None
        q = questions[i % len(questions)]
        t = time.perf_counter()
        try:
            r = client.post(endpoint, json={"question": q})
            ok = r.status_code == 200
            same = ok and signature(r.json()) == reference[q]
        except httpx.HTTPError:
            ok = same = False
        return time.perf_counter() - t, ok, same

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    start = time.perf_counter()
    with httpx.Client(timeout=120, limits=limits) as client, ThreadPoolExecutor(args.clients) as pool:
        for out in pool.map(lambda i: one(i, client), range(args.requests)):
            if out is None:
                continue
            latency, ok, same = out
            latencies.append(latency)
            errors += not ok
            wrong += ok and not same
    elapsed = time.perf_counter() - start
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(f"requests {len(latencies)} of {args.requests}, clients {args.clients}, {elapsed:.1f} s")
    print(f"errors {errors}, wrong answers {wrong}")
    print(f"latency p50 {p(0.50):.0f} ms, p95 {p(0.95):.0f} ms, max {latencies[-1] * 1000:.0f} ms, "
          f"mean {statistics.mean(latencies) * 1000:.0f} ms")
    print(f"throughput {len(latencies) / elapsed:.1f} requests/s")
    return 0 if errors == 0 and wrong == 0 and len(latencies) == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
