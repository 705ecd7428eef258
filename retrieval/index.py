"""The on-disk index: build it from the corpus, swap it in atomically, check staleness, load it.

Layout (plain files, no pickle):
    index/CURRENT                      name of the build in use (replaced atomically)
    index/builds/<id>/manifest.json    model, corpus hashes, settings, counts, versions, checksums
    index/builds/<id>/chunks.jsonl     one passage per line with offsets and sentence spans
    index/builds/<id>/sources.json     attribution of each source at build time
    index/builds/<id>/passages-<encoder>.faiss   FAISS inner-product index of passage vectors
    index/builds/<id>/sentences-<encoder>.npy    one vector per sentence, in chunk order
    index/builds/<id>/sentence_owner.npy         the chunk of each sentence
    index/builds/<id>/tokens-minilm.npy          MiniLM token vectors of every passage (float16), for late interaction
    index/builds/<id>/token_offsets.npy          where each passage's token vectors begin and end
    index/builds/<id>/spelling.json    English and the sources' word counts, for correcting misspelt questions
    index/builds/<id>/bm25/            bm25s's own JSON + .npy files (words; bm25/pairs/: pairs of consecutive words)
    index/builds/<id>/bank.jsonl       the question bank's messages, their passages, which may be offered to users
    index/builds/<id>/bank-<encoder>.npy   their vectors, as questions
    index/builds/<id>/learned.json     the decisions learned from the bank (retrieval/train.py) and their figures
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import faiss
import numpy as np

from .bank import bank_state
from .cache import EmbeddingCache, remove_unfinished
from .chunking import chunk_corpus
from .config import Settings
from .corpus import corpus_state, read_corpus
from .embedding import Encoder, encoder_identity, token_encoder
from .files import atomic_write, sha256_bytes
from .interaction import TokenStore, passage_tokens
from .learned import Learned
from .lexical import Lexical
from .matching import Bank
from .records import Chunk, Source
from .spelling import english_words, source_counts

KEEP_BUILDS = 2  # the live one and the previous one
TOKENS_FORMAT = 1  # which pieces of a passage are kept (interaction.passage_pieces): bump when that changes
# Above this many passages exact search costs more than a few ms a question: switch to IVF (docs/decisions.md).
APPROX_ABOVE = 50_000
IVF_LISTS_PER_SQRT_N = 4  # nlist = 4 * sqrt(n), trained on up to 50 vectors per list
TARGET_RECALL = 0.95  # on blended, noisy sample queries, harder than real questions (see README)
SEARCH_BUDGET_MS = 8.0


# learns the bank's decisions on a build being written (train.learn): (folder, settings, encoders, caches, docs, chunks, progress) -> manifest entry
Learn = Callable[..., dict]


class IndexUnavailable(Exception):
    """The index is missing, damaged or does not match; the message says how to fix it."""


@dataclass
class Index:
    """Everything search needs, loaded from one build folder."""

    manifest: dict
    chunks: list[Chunk]
    sources: dict[str, Source]
    passages: dict[str, faiss.Index]  # per encoder key
    sentence_vectors: dict[str, np.ndarray]  # per encoder key
    sentence_owner: np.ndarray  # chunk position of each sentence vector
    lexical: Lexical
    folder: Path
    tokens: TokenStore | None = None  # the primary encoder's token vectors per passage (late interaction)
    spelling: dict | None = None  # {"english": {word: count}, "sources": {word: count}} (spelling.Speller)
    bank: Bank | None = None  # the question bank matched against each message
    learned: Learned | None = None  # the decisions learned from it


def write(settings: Settings, encoders: dict[str, Encoder], learn: Learn, progress: bool = True) -> dict:
    """Build a new index beside the live one and switch to it; returns the new manifest.

    Nothing goes live unless every step succeeded: the corpus is validated first, the build is
    written to a hidden folder, renamed, and only then named in CURRENT (an atomic replace).
    """
    t0 = time.time()
    builds = settings.index_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    with _build_lock(settings.index_dir):
        discarded = [p.name for p in builds.iterdir() if p.name.endswith(".partial")]
        for name in discarded:
            shutil.rmtree(builds / name, ignore_errors=True)
        remove_unfinished(settings.index_dir / "cache")
        state = corpus_state(settings.corpus_dir)
        docs = read_corpus(settings.corpus_dir)
        chunks = chunk_corpus(docs, settings.chunking)
        if not chunks:
            raise IndexUnavailable(f"{settings.corpus_dir}: no passage could be cut from the corpus.")
        previous = _live_record(settings.index_dir)
        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        tmp = builds / f".{build_id}.partial"
        tmp.mkdir()
        try:
            caches = {k: EmbeddingCache(settings.index_dir / "cache", k, encoder_identity(k)) for k in encoders}
            primary = next(iter(encoders))
            identity = encoder_identity(primary) | {"tokens": TOKENS_FORMAT}
            caches["tokens"] = EmbeddingCache(settings.index_dir / "cache", f"{primary}-tokens", identity, ragged=True)
            for k in encoders:  # the bank's messages, read as questions
                caches[f"{k}-query"] = EmbeddingCache(settings.index_dir / "cache", f"{k}-query", encoder_identity(k) | {"as": "query"})
            caches["query-tokens"] = EmbeddingCache(settings.index_dir / "cache", f"{primary}-query-tokens",
                                                    identity | {"as": "question content words"}, ragged=True)
            _write_build(tmp, settings, encoders, caches, docs, chunks, state, learn, progress)
            manifest = json.loads((tmp / "manifest.json").read_text())
            manifest["build_id"] = build_id
            manifest["changes"] = _changes(previous, state, chunks, caches, discarded)
            manifest["warnings"] = [c.damaged for c in caches.values() if c.damaged] + [
                f"broken link in the question bank: {b}" for b in manifest["bank"]["broken_links"]]
            manifest["build_seconds"] = round(time.time() - t0, 2)
            _write_json(tmp / "manifest.json", manifest)
            os.replace(tmp, builds / build_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _point_to(settings.index_dir, build_id)
        for cache in caches.values():
            try:
                cache.save()
            except OSError as e:  # the build is live; the next one embeds again what this cache would have kept
                manifest["warnings"] = [*manifest.get("warnings", []), f"the embedding cache {cache.path.name} was not saved ({e})"]
        _prune(builds, keep={build_id, *_recent(builds, KEEP_BUILDS)})
    return manifest


def make_dense_index(vectors: np.ndarray) -> tuple[faiss.Index, dict]:
    """Exact inner-product search for small corpora; an inverted-file index (IVF) above APPROX_ABOVE passages.

    IVF's nprobe (lists searched per question) is raised until recall@10 against exact search
    reaches TARGET_RECALL on sample queries, unless that would push the sample's p95 search time
    over SEARCH_BUDGET_MS.
    """
    n, dim = vectors.shape
    if n <= APPROX_ABOVE:
        flat = faiss.IndexFlatIP(dim)
        flat.add(vectors)
        return flat, {"kind": "flat", "passages": n}
    rng = np.random.default_rng(0)
    nlist = int(IVF_LISTS_PER_SQRT_N * np.sqrt(n))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[rng.choice(n, min(n, 50 * nlist), replace=False)])
    index.add(vectors)
    index.make_direct_map()  # the ranking reads candidates' vectors back by id
    # Questions fall between passages, not on them: blends of two stored vectors plus noise.
    pairs = vectors[rng.choice(n, (200, 2))]
    sample = pairs.mean(axis=1) + rng.normal(0, 0.04, (200, dim)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(sample, 10)
    chosen: dict = {}
    for nprobe in (8, 16, 32, 64, 128, 256, 512, 1024):
        index.nprobe = min(nprobe, nlist)
        times, found = [], []
        for i in range(len(sample)):
            t = time.perf_counter()
            _, ids = index.search(sample[i : i + 1], 10)
            times.append(time.perf_counter() - t)
            found.append(len(set(ids[0]) & set(truth[i])) / 10)
        p95_ms = sorted(times)[int(0.95 * len(times))] * 1000
        if chosen and p95_ms > SEARCH_BUDGET_MS:
            break
        chosen = {"nprobe": index.nprobe, "sample_recall_at_10": round(float(np.mean(found)), 4), "sample_p95_ms": round(p95_ms, 2)}
        if chosen["sample_recall_at_10"] >= TARGET_RECALL or index.nprobe == nlist:
            break
    index.nprobe = chosen["nprobe"]
    return index, {"kind": "ivf", "passages": n, "nlist": nlist, **chosen}


def rollback(index_dir: Path) -> str:
    """Serve the previous build again (after checking it is intact); returns its id."""
    with _build_lock(index_dir):
        current = live_folder(index_dir).name
        others = [b for b in _recent(index_dir / "builds", KEEP_BUILDS + 1) if b != current]
        if not others:
            raise IndexUnavailable("there is no previous build to roll back to.")
        target = others[0]
        _verify(index_dir / "builds" / target, json.loads((index_dir / "builds" / target / "manifest.json").read_text("utf-8")))
        _point_to(index_dir, target)
        return target


@contextmanager
def _build_lock(index_dir: Path):
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexUnavailable(f"another build of {index_dir} is running; wait for it to finish.") from None
        yield


def _live_record(index_dir: Path) -> dict | None:
    """The live build's corpus record and passage texts, to report what a new build changes."""
    try:
        folder = live_folder(index_dir)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        texts = [json.loads(line)["text"] for line in (folder / "chunks.jsonl").read_text("utf-8").splitlines()]
        return {"corpus": manifest.get("corpus", {}), "texts": texts}
    except (IndexUnavailable, OSError, ValueError, KeyError):
        return None


def _changes(previous: dict | None, state: dict, chunks: list[Chunk], caches: dict, discarded: list[str]) -> dict:
    old_corpus = previous["corpus"] if previous else {}
    old_texts = set(previous["texts"]) if previous else set()
    new_texts = {c.text for c in chunks}
    sha = lambda d, k: d[k].get("sha256") if isinstance(d.get(k), dict) else None  # noqa: E731
    new_docs, old_docs = set(state) - {"sources.json"}, set(old_corpus) - {"sources.json"}
    return {
        "documents_added": sorted(new_docs - old_docs),
        "documents_removed": sorted(old_docs - new_docs),
        "documents_changed": sorted(k for k in new_docs & old_docs if sha(state, k) != sha(old_corpus, k)),
        "manifest_changed": sha(state, "sources.json") != sha(old_corpus, "sources.json"),
        "passages_added": len(new_texts - old_texts),
        "passages_removed": len(old_texts - new_texts),
        "passages_kept": len(new_texts & old_texts),
        "embeddings_computed": sum(c.computed for c in caches.values()),
        "embeddings_reused": sum(c.reused for c in caches.values()),
        "discarded_unfinished_builds": discarded,
    }


def _write_build(folder: Path, settings: Settings, encoders: dict[str, Encoder], caches: dict, docs, chunks: list[Chunk],
                 state: dict, learn: Learn, progress: bool) -> None:
    from tqdm import tqdm

    with_heading = settings.chunking.heading_context
    texts = {f"corpus/{s.file}": t for s, t in docs}
    sentence_texts = [texts[c.path][s:e] for c in chunks for s, e in c.sentences]
    owner = [pos for pos, c in enumerate(chunks) for _ in c.sentences]
    primary = next(iter(encoders))
    passage_texts = [c.embed_text(with_heading) for c in chunks]
    pooled = caches[primary]

    def compute_tokens(texts: list[str]) -> list[np.ndarray]:
        """Token vectors to match on; the same pass's sentence vectors go to the cache, not computed again."""
        sentence_vectors, per_text = token_encoder(encoders[primary]).encode_tokens(texts)
        for text, v in zip(texts, sentence_vectors):
            pooled.put(text, v)
        return passage_tokens(per_text)

    jobs = [(primary, "tokens", passage_texts)]
    jobs += [(key, "passages", passage_texts) for key in encoders]
    jobs += [(key, "sentences", sentence_texts) for key in encoders]
    vectors: dict[tuple[str, str], np.ndarray] = {}
    with tqdm(total=sum(len(t) for *_, t in jobs), desc="Embedding", unit="text", disable=not progress) as bar:
        for key, what, batch in jobs:
            if what == "tokens":
                tokens = caches["tokens"].encode(encoders[key], batch, on_batch=bar.update, compute=compute_tokens)
            else:
                vectors[key, what] = caches[key].encode(encoders[key], batch, on_batch=bar.update)
    TokenStore.from_passages(tokens).save(folder, primary)
    dense_params = {}
    for key in encoders:
        index, dense_params[key] = make_dense_index(vectors[key, "passages"])
        faiss.write_index(index, str(folder / f"passages-{key}.faiss"))
        np.save(folder / f"sentences-{key}.npy", vectors[key, "sentences"])
    np.save(folder / "sentence_owner.npy", np.asarray(owner, dtype=np.int32))
    spelling = {"english": english_words(), "sources": source_counts(c.text for c in chunks)}
    (folder / "spelling.json").write_text(json.dumps(spelling, ensure_ascii=False), encoding="utf-8")
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
    _write_json(folder / "sources.json", [s.attribution() | {"file": s.file} for s, _ in docs])
    (folder / "bm25").mkdir()
    Lexical.build([c.text for c in chunks]).save(folder / "bm25")
    learning = learn(folder, settings, encoders, caches, docs, chunks, progress)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    _write_json(
        folder / "manifest.json",
        {
            "settings": settings.fingerprint(),
            "encoders": {key: encoder_identity(key) for key in encoders},
            "model": encoder_identity(primary),
            "backends": {key: enc.backend for key, enc in encoders.items()},  # what computed the vectors
            "corpus": state,
            "dense_index": dense_params,
            "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(owner),
                       "tokens": sum(len(t) for t in tokens)},
            "bank": learning,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": {
                "python": platform.python_version(),
                **{p: _version(p) for p in ("sentence-transformers", "torch", "onnxruntime", "faiss-cpu", "bm25s", "numpy",
                                            "pyspellchecker", "scikit-learn")},
            },
            "checksums": {str(p.relative_to(folder)): sha256_bytes(p.read_bytes()) for p in files},
        },
    )


def staleness(settings: Settings) -> str | None:
    """Why the live index does not match corpus, model and settings (None when it is current)."""
    try:
        manifest = read_manifest(settings.index_dir)
        _verify(live_folder(settings.index_dir), manifest)  # a damaged build is not current, whatever it was built from
    except IndexUnavailable as e:
        return str(e)
    if manifest.get("settings") != settings.fingerprint():
        return "the chunking settings, model choice or index format changed"
    wanted = {key: encoder_identity(key) for key in settings.encoders}
    if manifest.get("encoders") != wanted:
        return f"the models changed (index built with {manifest.get('encoders')}, now {wanted})"
    if manifest.get("bank", {}).get("files") != bank_state(settings.bank_dir):
        return "the question bank changed (bank/)"
    old, current = manifest.get("corpus", {}), corpus_state(settings.corpus_dir)
    if not isinstance(old, dict) or not all(isinstance(v, dict) for v in old.values()):
        return "the index manifest's corpus record is unreadable"
    added, removed = sorted(set(current) - set(old)), sorted(set(old) - set(current))
    edited = sorted(k for k in set(old) & set(current) if old[k].get("sha256") != current[k]["sha256"])
    touched = sorted(k for k in set(old) & set(current) if old[k].get("mtime_ns") != current[k]["mtime_ns"])
    for label, names in (("added", added), ("removed", removed), ("changed", edited), ("modified since the build", touched)):
        if names:
            return f"corpus files {label}: {', '.join(names)}"
    return None


def read_manifest(index_dir: Path) -> dict:
    folder = live_folder(index_dir)
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexUnavailable(f"{folder / 'manifest.json'} is unreadable ({e}); run: python -m retrieval build") from None


def live_folder(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        raise IndexUnavailable(f"no index in {index_dir}; build it with: python -m retrieval build")
    folder = index_dir / "builds" / pointer.read_text(encoding="utf-8").strip()
    if not folder.is_dir():
        raise IndexUnavailable(f"{pointer} names a build that is missing; run: python -m retrieval build")
    return folder


def load(settings: Settings) -> Index:
    """Load and verify the live index; refuses a damaged one or one built with another model."""
    folder = live_folder(settings.index_dir)
    manifest = read_manifest(settings.index_dir)
    _verify(folder, manifest)
    return load_folder(folder, manifest, settings)


def load_folder(folder: Path, manifest: dict, settings: Settings, learned: bool = True) -> Index:
    """The index in one build folder (checked already); without the bank and its decisions while a build learns them."""
    fix = "run: python -m retrieval build"
    built = manifest.get("encoders", {})
    for key in settings.encoders:
        if built.get(key) != encoder_identity(key):
            raise IndexUnavailable(f"the index was built with {built}, which does not match {key} {encoder_identity(key)}; {fix}")
    try:
        chunks = [Chunk.from_json(json.loads(line)) for line in (folder / "chunks.jsonl").read_text("utf-8").splitlines()]
        sources = {d["id"]: Source(**d) for d in json.loads((folder / "sources.json").read_text("utf-8"))}
        return Index(
            manifest=manifest,
            chunks=chunks,
            sources=sources,
            passages={k: faiss.read_index(str(folder / f"passages-{k}.faiss")) for k in settings.encoders},
            # memory-mapped: on a large index only the candidates' sentences are ever read
            sentence_vectors={k: np.load(folder / f"sentences-{k}.npy", mmap_mode="r") for k in settings.encoders},
            sentence_owner=np.load(folder / "sentence_owner.npy", allow_pickle=False),
            lexical=Lexical.load(folder / "bm25"),
            folder=folder,
            tokens=TokenStore.load(folder, settings.encoders[0]),
            spelling=json.loads((folder / "spelling.json").read_text("utf-8")),
            bank=Bank.load(folder, settings.encoders, len(chunks)) if learned else None,
            learned=Learned.load(folder) if learned else None,
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise IndexUnavailable(f"the index in {folder} could not be read ({e}); {fix}") from None


def _verify(folder: Path, manifest: dict) -> None:
    """Every file of a build matches the checksum its manifest recorded."""
    if not manifest.get("checksums"):
        raise IndexUnavailable(f"{folder / 'manifest.json'} lists no checksums; run: python -m retrieval build")
    for rel, digest in manifest["checksums"].items():
        p = folder / rel
        if not p.is_file() or sha256_bytes(p.read_bytes()) != digest:
            raise IndexUnavailable(f"{p} is missing or damaged (checksum mismatch); run: python -m retrieval build")


def _point_to(index_dir: Path, build_id: str) -> None:
    atomic_write(index_dir / "CURRENT", (build_id + "\n").encode())


def _recent(builds: Path, n: int) -> list[str]:
    return sorted((p.name for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)[:n]


def _prune(builds: Path, keep: set[str]) -> None:
    """Remove older builds and partial folders left by builds that were killed."""
    for p in builds.iterdir():
        if p.is_dir() and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
