"""Adding and removing corpus documents (text, Markdown or HTML) and their manifest entries."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .corpus import CorpusError, check_bytes, check_text, load_manifest
from .files import atomic_write, sha256_bytes
from .records import Source

ACCEPTED = (".txt", ".md", ".html", ".htm")


def extract_html(data: bytes, where: Path) -> str:
    """The main text of a saved web page (trafilatura), one paragraph per line."""
    import trafilatura

    text = trafilatura.extract(data, include_comments=False, include_tables=False, include_images=False, favor_precision=True)
    if not text or not text.strip():
        raise CorpusError(f"{where}: no main text could be extracted from this HTML page; save it as .txt instead.")
    return text.strip() + "\n"


def add_document(corpus_dir: Path, file: Path, title: str, publisher: str = "", url: str = "") -> Source:
    """Store FILE's text in the corpus and list it in sources.json; refuses duplicates and bad files."""
    if file.suffix.lower() not in ACCEPTED:
        raise CorpusError(f"{file}: only {', '.join(ACCEPTED)} files can be added.")
    if not file.is_file():
        raise CorpusError(f"{file}: no such file.")
    if not title.strip():
        raise CorpusError("--title must not be empty: it is shown with every quote from this document.")
    if url and not re.match(r"^https?://", url):
        raise CorpusError(f"--url {url!r}: give a full http:// or https:// address, or leave it out.")
    data = file.read_bytes()
    if file.suffix.lower() in (".html", ".htm"):
        check_bytes(file, data)
        text = extract_html(data, file)
        suffix = ".txt"
    else:
        text = check_text(file, data)
        suffix = file.suffix.lower()
    stored = text.encode("utf-8")
    digest = sha256_bytes(stored)
    sources = load_manifest(corpus_dir)
    for s in sources:
        existing = corpus_dir / s.file
        if existing.is_file() and sha256_bytes(existing.read_bytes()) == digest:
            raise CorpusError(f"{file}: the same text is already in the corpus as {s.id!r} ({s.title}).")
    numbers = [int(m.group(1)) for s in sources if (m := re.match(r"^(\d+)_", s.id))]
    new_id = f"{max(numbers, default=-1) + 1:03d}_{digest[:16]}"
    source = Source(id=new_id, file=new_id + suffix, title=title.strip(), publisher=publisher.strip(), url=url.strip())
    atomic_write(corpus_dir / source.file, stored)
    _write_manifest(corpus_dir, sources + [source])
    return source


def remove_document(corpus_dir: Path, source_id: str) -> Source:
    """Take a document out of sources.json and delete its text file."""
    sources = load_manifest(corpus_dir)
    match = [s for s in sources if s.id == source_id]
    if not match:
        known = ", ".join(s.id for s in sources)
        raise CorpusError(f"no document {source_id!r} in {corpus_dir / 'sources.json'}; known ids: {known}")
    _write_manifest(corpus_dir, [s for s in sources if s.id != source_id])
    (corpus_dir / match[0].file).unlink(missing_ok=True)
    return match[0]


def _write_manifest(corpus_dir: Path, sources: list[Source]) -> None:
    path = corpus_dir / "sources.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["sources"] = [
        {"id": s.id, "file": s.file, "title": s.title, "publisher": s.publisher, "url": s.url} for s in sources
    ]
    atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


