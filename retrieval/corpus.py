"""Reading the corpus: the sources manifest and the text files it names, validated."""

from __future__ import annotations

import json
from pathlib import Path

from .files import sha256_bytes
from .records import Source

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class CorpusError(Exception):
    """The corpus cannot be used as it is; the message names the file and the problem."""


def load_manifest(corpus_dir: Path) -> list[Source]:
    """Parse corpus/sources.json into Sources, refusing anything malformed."""
    path = corpus_dir / "sources.json"
    if not path.is_file():
        raise CorpusError(f"{path}: the sources manifest is missing (it lists each corpus file with its title).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorpusError(f"{path}: not valid JSON ({err}).") from None
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CorpusError(f'{path}: expected an object with a "sources" list.')
    sources, seen_ids, seen_files = [], set(), set()
    for i, e in enumerate(entries):
        where = f"{path}: entry {i + 1}"
        if not isinstance(e, dict):
            raise CorpusError(f"{where}: expected an object with id, file, title.")
        for key in ("id", "file", "title"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise CorpusError(f'{where}: "{key}" must be a non-empty string.')
        for key in ("publisher", "url"):
            if not isinstance(e.get(key, ""), str):
                raise CorpusError(f'{where}: "{key}" must be a string (empty when unknown).')
        if Path(e["file"]).name != e["file"]:
            raise CorpusError(f'{where}: "file" must be a plain file name inside {corpus_dir}.')
        if e["id"] in seen_ids or e["file"] in seen_files:
            raise CorpusError(f"{where}: id {e['id']!r} or file {e['file']!r} is listed twice.")
        seen_ids.add(e["id"])
        seen_files.add(e["file"])
        sources.append(
            Source(
                id=e["id"],
                file=e["file"],
                title=e["title"].strip(),
                publisher=e.get("publisher", "").strip(),
                url=e.get("url", "").strip(),
            )
        )
    return sources


def read_corpus(corpus_dir: Path) -> list[tuple[Source, str]]:
    """Every manifest entry with its text; every text file must have an entry and vice versa."""
    sources = load_manifest(corpus_dir)
    listed = {s.file for s in sources}
    for f in sorted(corpus_dir.iterdir()):
        if f.is_file() and f.suffix in (".txt", ".md") and f.name not in listed:
            raise CorpusError(f"{f}: this file has no entry in {corpus_dir / 'sources.json'}; add one or remove the file.")
    out = []
    for s in sources:
        f = corpus_dir / s.file
        if not f.is_file():
            raise CorpusError(
                f"{f}: listed in sources.json as {s.id!r} but the file is missing; "
                f"restore the file or run: python -m retrieval remove {s.id}"
            )
        out.append((s, check_text(f, f.read_bytes())))
    return out


def check_bytes(where: Path, data: bytes) -> None:
    """Refuse a document that is too large or binary, naming the file and what to do."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CorpusError(
            f"{where}: {len(data) / 1e6:.1f} MB is over the {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB limit "
            "for one document; split it into several files."
        )
    if b"\x00" in data:
        raise CorpusError(f"{where}: looks binary (contains NUL bytes); only text, Markdown or HTML can be added.")


def check_text(where: Path, data: bytes) -> str:
    """The document's text, or a CorpusError naming the file and what to do."""
    check_bytes(where, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8 and try again.") from None
    if not text.strip():
        raise CorpusError(f"{where}: the file is empty; remove it or give it some text.")
    return text


def corpus_state(corpus_dir: Path) -> dict[str, dict]:
    """sha256, size and modification time of every file in the corpus folder, the manifest included."""
    out = {}
    for f in sorted(corpus_dir.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            st = f.stat()
            out[f.name] = {"sha256": sha256_bytes(f.read_bytes()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out
