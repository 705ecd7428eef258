"""Benchmarks: where the time and memory of a question go, per profile; and how search scales.

`python -m retrieval bench` prints a table per profile and ends with one JSON line of the
figures; `--repeat N` runs every profile N times in turn and reports the medians, since this
machine's speed drifts over a day; `--scale N` measures the dense index alone on N
synthetic passages. A benchmark, not a test: the numbers depend on the machine and its load
(the load average is printed with every run).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .config import DEFAULT_GOLD, ROOT, Settings


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _questions(n: int) -> list[str]:
    items = [json.loads(line) for line in DEFAULT_GOLD.read_text("utf-8").splitlines() if line.strip()]
    qs = [it["question"] for it in items if it["kind"] in ("in", "out")]
    return (qs * (n // len(qs) + 1))[:n]


def in_process(settings: Settings, runs: int) -> dict:
    """Median/p95 of Engine.ask, and of the encoders' own forward passes for the same questions."""
    from .answer import Engine, prepare
    from .crisis import units
    from .safety import check_input

    t0 = time.perf_counter()
    engine = Engine(settings)
    load_s = time.perf_counter() - t0
    qs = _questions(runs)
    for q in qs[:5]:
        engine.ask(q)
    total, encoders_only, cpu = [], [], []
    for q in qs:
        text = prepare(check_input(q)[1], engine.speller)[1]
        parts = units(text)[1:]  # a message of several sentences is also read sentence by sentence (crisis)
        t = time.perf_counter()
        engine.searcher.encode([text])
        if parts:
            for enc in engine.encoders.values():
                enc.encode(parts, query=True)
        encoders_only.append(time.perf_counter() - t)
        c, t = time.process_time(), time.perf_counter()
        engine.ask(q)
        total.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {
        "load_s": load_s,
        "ask_p50_ms": statistics.median(total) * 1000,
        "ask_p95_ms": _pct(total, 0.95) * 1000,
        "encoders_p50_ms": statistics.median(encoders_only) * 1000,
        "overhead_ratio": statistics.median(total) / statistics.median(encoders_only),
        "cpu_per_question_ms": statistics.median(cpu) * 1000,
        "cpu_mean_ms": statistics.mean(cpu) * 1000,  # a message of several sentences is encoded sentence by sentence too
        "runs": runs,
    }


def build_time(settings: Settings) -> float:
    """Seconds for a full build of the corpus (models already loaded, empty embedding cache)."""
    from .builder import build
    from .embedding import load_encoders

    encoders = load_encoders(settings.encoders, settings.models)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build(replace(settings, index_dir=Path(tmp)), encoders, progress=False)
        return time.perf_counter() - t


def served(settings: Settings, runs: int, clients: int = 8) -> dict:
    """Start `python app.py` and time: port open, first answer, chat page, HTTP latency, throughput, memory."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "RETRIEVAL_INDEX": str(settings.index_dir), "RETRIEVAL_PROFILE": settings.profile,
           "RETRIEVAL_MODELS": str(settings.models.models_dir)}  # the export this process made, as `make run` finds it
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        while time.perf_counter() - t0 < 120:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.02)
        out["port_open_s"] = time.perf_counter() - t0
        with httpx.Client(timeout=120) as c:
            c.post(url + "/api/ask", json={"question": "is ketamine addictive?"})
            out["first_answer_s"] = time.perf_counter() - t0  # over the API, which does not wait for Gradio
            c.get(url + "/")
            out["chat_page_s"] = time.perf_counter() - t0  # the chat page, which does
            qs = _questions(runs)
            lat = []
            for q in qs:
                t = time.perf_counter()
                c.post(url + "/api/ask", json={"question": q})
                lat.append(time.perf_counter() - t)
        out["http_p50_ms"] = statistics.median(lat) * 1000
        out["http_p95_ms"] = _pct(lat, 0.95) * 1000
        out.update(throughput(port, proc.pid, _questions(max(runs * 10, 1000)), clients))
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = re.search(r"VmRSS:\s+(\d+)", status)
        out["rss_mb"] = int(rss.group(1)) / 1024 if rss else float("nan")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def throughput(port: int, pid: int | None, questions: list[str], clients: int) -> dict:
    """Questions per second from `clients` keep-alive connections, and the CPU each side spent.

    The clients share the server's cores, so each is a bare socket sending prepared requests: an
    httpx client thread cost many times more CPU, which the server then could not use.
    """
    import socket
    import threading

    def request(q: str) -> bytes:
        body = json.dumps({"question": q}).encode()
        head = f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    failed: list[bytes] = []

    def client(requests: list[bytes]) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=120) as s, s.makefile("rb") as f:
                for r in requests:
                    s.sendall(r)
                    status, length = f.readline(), 0
                    while (line := f.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    f.read(length)
                    if b" 200 " not in status:
                        failed.append(status)
        except OSError as e:  # a closed or refused connection fails the run, never shortens it silently
            failed.append(repr(e).encode())

    def run(requests: list[bytes]) -> None:
        threads = [threading.Thread(target=client, args=(requests[i::clients],)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    prepared = [request(q) for q in questions]
    run(prepared[: 10 * clients])  # connections and caches warm
    own, t = time.process_time(), time.perf_counter()
    cpu = _cpu_seconds(pid) if pid else 0.0
    run(prepared)
    elapsed = time.perf_counter() - t
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(prepared)} requests failed under load: {failed[0]!r}")
    n = len(prepared)
    out = {"throughput_rps": n / elapsed, "client_cpu_ms": (time.process_time() - own) / n * 1000, "throughput_requests": n}
    if pid:
        out["server_cpu_ms"] = (_cpu_seconds(pid) - cpu) / n * 1000  # the server's own CPU per question over HTTP
    return out


def _scaled_ranking(dense, vecs: np.ndarray, like: np.ndarray, chunks: list, per_text: list, enc, qv: np.ndarray,
                    q_tokens: list) -> dict:
    """Time the whole ranking (BM25, dense, sentence signals, fusion, late interaction) over the synthetic passages.

    Each synthetic passage reads as the real passage its vector mostly came from, is one
    sentence long and has that passage's token vectors. Ranking scores only FAISS's and BM25's candidates above
    SearchSettings.exhaustive_up_to passages; top-1 agreement with scoring every passage is reported.
    """
    from .config import SearchSettings
    from .index import Index
    from .interaction import TokenStore, passage_tokens
    from .lexical import Lexical
    from .search import Searcher

    n = len(vecs)
    real = TokenStore.from_passages(passage_tokens(per_text))
    tokens = TokenStore(real.vectors, real.starts[like], real.ends[like])
    t = time.perf_counter()
    lexical = Lexical.build([chunks[i].text for i in like])
    bm25_s = time.perf_counter() - t
    fake = Index(manifest={}, chunks=[chunks[i] for i in like], sources={}, passages={"minilm": dense},
                 sentence_vectors={"minilm": vecs}, sentence_owner=np.arange(n), lexical=lexical, folder=Path("."),
                 tokens=tokens)
    questions = _questions(len(qv))
    cached = dict(zip(questions, qv))
    cached_tokens = dict(zip(questions, q_tokens))

    class Cached:  # the question vectors are already known: time the ranking, not the encoder
        name, version, dim, backend = enc.name, enc.version, enc.dim, enc.backend

        def encode(self, texts, query=False):
            return np.stack([cached[t] for t in texts])

        def encode_tokens(self, texts):
            return self.encode(texts), [cached_tokens[t] for t in texts]

    searchers = {"candidates": Searcher(fake, {"minilm": Cached()}, SearchSettings(exhaustive_up_to=0)),
                 "every passage": Searcher(fake, {"minilm": Cached()}, SearchSettings(exhaustive_up_to=n))}
    # what the token vectors would take on disk (float16) if every synthetic passage had its own
    tops: dict[str, list] = {}
    out = {"bm25_build_s": bm25_s, "tokens_mb": float((tokens.ends - tokens.starts).sum()) * vecs.shape[1] * 2 / 2**20}
    for label, searcher in searchers.items():
        lat = []
        for q in questions:
            t = time.perf_counter()
            r = searcher.rank(searcher.encode([q])[0])
            lat.append(time.perf_counter() - t)
            tops.setdefault(label, []).append(int(r.order[0]))
        key = "rank" if label == "candidates" else "rank_all"
        out[f"{key}_p50_ms"], out[f"{key}_p95_ms"] = statistics.median(lat) * 1000, _pct(lat, 0.95) * 1000
    out["rank_top1_agreement"] = float(np.mean(np.array(tops["candidates"]) == np.array(tops["every passage"])))
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_row(profile: str, runs: int, with_server: bool) -> dict:
    settings = Settings(profile=profile)
    with tempfile.TemporaryDirectory() as tmp:
        from .builder import build
        from .embedding import load_encoders

        s = replace(settings, index_dir=Path(tmp))
        build(s, load_encoders(s.encoders, s.models), progress=False)
        row = {"profile": profile, "encoders": list(s.encoders), **in_process(s, runs)}
        row["build_s"] = build_time(s)
        if with_server:
            row.update(served(s, runs))
    row["target_ask_ms"] = 1.2 * row["encoders_p50_ms"]
    if "throughput_rps" in row:
        row["target_throughput_rps"] = 0.8 * (os.cpu_count() or 1) / (row["cpu_per_question_ms"] / 1000)
    return row


def scale(n: int, queries: int = 200, k: int = 10) -> dict:
    """Dense search over n synthetic passages made from real ones: build, memory, p50/p95, recall@10."""
    import faiss

    from .index import make_dense_index

    settings = Settings(profile="fast")
    from .embedding import load_encoders, token_encoder

    enc = load_encoders(settings.encoders, settings.models)["minilm"]
    from .chunking import chunk_corpus
    from .corpus import read_corpus

    chunks = chunk_corpus(read_corpus(settings.corpus_dir), settings.chunking)
    base, per_text = token_encoder(enc).encode_tokens([c.embed_text(True) for c in chunks])
    rng = np.random.default_rng(0)
    # Real passage vectors plus noise, renormalised: clustered like real text, unlike uniform noise.
    mix = rng.dirichlet(np.full(3, 0.5), n).astype(np.float32)
    picks = rng.integers(0, len(base), (n, 3))
    vecs = np.einsum("nk,nkd->nd", mix, base[picks]) + rng.normal(0, 0.03, (n, base.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    qv, q_tokens = token_encoder(enc).encode_tokens(_questions(queries))
    t = time.perf_counter()
    index, params = make_dense_index(vecs)
    build_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        faiss.write_index(index, f"{tmp}/i.faiss")
        index_mb = os.path.getsize(f"{tmp}/i.faiss") / 2**20
    exact = faiss.IndexFlatIP(vecs.shape[1])
    exact.add(vecs)
    _, truth = exact.search(qv, k)
    lat, found = [], []
    for i in range(len(qv)):
        t = time.perf_counter()
        _, ids = index.search(qv[i : i + 1], k)
        lat.append(time.perf_counter() - t)
        found.append(len(set(ids[0]) & set(truth[i])) / k)
    ranking = _scaled_ranking(index, vecs, picks[np.arange(n), mix.argmax(axis=1)], chunks, per_text, enc, qv, q_tokens)
    return {
        "passages": n,
        **ranking,
        "index": params,
        "build_s": build_s,
        "index_mb": index_mb,
        "vectors_mb": vecs.nbytes / 2**20,
        "search_p50_ms": statistics.median(lat) * 1000,
        "search_p95_ms": _pct(lat, 0.95) * 1000,
        "recall_at_10": float(np.mean(found)),
    }


def median_row(rows: list[dict]) -> dict:
    """One profile's figures over several bench runs: the median of each number, with each run's
    overhead ratio and throughput beside it (the machine's speed drifts between runs)."""
    out = dict(rows[0])
    for key, value in rows[0].items():
        values = [r[key] for r in rows]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(set(values)) > 1:
            out[key] = statistics.median(values)
    out["repeats"] = len(rows)
    for key in ("overhead_ratio", "throughput_rps", "target_throughput_rps", "load_average"):
        if key in rows[0]:
            out[f"{key}_each"] = [r[key] for r in rows]
    return out


def run(profiles: list[str], runs: int, with_server: bool, scales: list[int], repeat: int = 1) -> int:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {runs} questions per figure"
          + (f"; {repeat} runs per profile, taken in turn" if repeat > 1 else ""))
    each = []
    for _ in range(max(1, repeat)):  # profiles in turn, so a drift in the machine's speed reaches all of them
        for p in profiles:
            each.append({**profile_row(p, runs, with_server), "load_average": os.getloadavg()[0]})
    rows = [median_row([r for r in each if r["profile"] == p]) for p in profiles] if repeat > 1 else each
    cols = [("profile", "{}"), ("ask_p50_ms", "{:.1f}"), ("ask_p95_ms", "{:.1f}"), ("encoders_p50_ms", "{:.1f}"),
            ("overhead_ratio", "{:.2f}"), ("cpu_per_question_ms", "{:.1f}"), ("build_s", "{:.2f}")]
    if with_server:
        cols += [("http_p50_ms", "{:.1f}"), ("http_p95_ms", "{:.1f}"), ("throughput_rps", "{:.1f}"), ("server_cpu_ms", "{:.1f}"), ("client_cpu_ms", "{:.2f}"),
                 ("target_throughput_rps", "{:.1f}"), ("port_open_s", "{:.2f}"), ("first_answer_s", "{:.2f}"), ("chat_page_s", "{:.2f}"),
                 ("rss_mb", "{:.0f}")]
    cols.append(("load_average", "{:.2f}"))
    print("  ".join(f"{c:>14s}" for c, _ in cols))
    for r in each:
        print("  ".join(f"{f.format(r[c]):>14s}" for c, f in cols))
    if repeat > 1:
        print(f"median of {repeat} runs:")
        for r in rows:
            print("  ".join(f"{f.format(r[c]):>14s}" for c, f in cols))
    scaled = []
    for n in scales:
        s = scale(n)
        scaled.append(s)
        print(f"scale {n:>9,d}: {s['index']['kind']:5s} build {s['build_s']:.1f} s, index {s['index_mb']:.0f} MB "
              f"(vectors alone {s['vectors_mb']:.0f} MB), search p50 {s['search_p50_ms']:.2f} ms p95 {s['search_p95_ms']:.2f} ms, "
              f"recall@10 {s['recall_at_10']:.3f}; whole ranking p50 {s['rank_p50_ms']:.1f} ms p95 {s['rank_p95_ms']:.1f} ms "
              f"(every passage scored: {s['rank_all_p50_ms']:.1f} / {s['rank_all_p95_ms']:.1f} ms, same first passage "
              f"{s['rank_top1_agreement']:.0%}), BM25 build {s['bm25_build_s']:.0f} s, "
              f"token vectors {s['tokens_mb']:,.0f} MB")
    print(json.dumps({"profiles": rows, "scale": scaled, **({"runs": each} if repeat > 1 else {})}))
    return 0
