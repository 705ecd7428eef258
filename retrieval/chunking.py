"""Cutting cleaned documents into passages: a few consecutive allowed sentences of one paragraph."""

from __future__ import annotations

import math

from .clean import classify
from .config import ChunkSettings
from .records import Chunk, Source


def chunk_document(source: Source, text: str, settings: ChunkSettings, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document; each chunk's text is exactly text[start:end]."""
    chunks: list[Chunk] = []
    heading = ""
    for para in classify(text):
        if para.kind == "heading":
            heading = text[para.span.start : para.span.end]
            continue
        if para.kind != "body":
            continue
        run: list = []
        for s in para.sentences + [None]:  # None flushes the last run
            if s is not None and s.allowed:
                run.append(s.span)
                continue
            for group in _split_run(text, run, settings):
                start, end = group[0].start, group[-1].end
                chunks.append(
                    Chunk(
                        id=first_id + len(chunks),
                        source_id=source.id,
                        path=f"corpus/{source.file}",
                        start=start,
                        end=end,
                        text=text[start:end],
                        heading=heading,
                        sentences=tuple((g.start, g.end) for g in group),
                    )
                )
            run = []
    return chunks


def _split_run(text: str, run: list, settings: ChunkSettings) -> list[list]:
    """Split consecutive sentences into balanced groups within the sentence and character caps."""
    if not run:
        return []
    n = math.ceil(len(run) / settings.max_sentences)
    while True:
        size, extra = divmod(len(run), n)
        bounds = [i * size + min(i, extra) for i in range(n + 1)]  # sizes differ by at most one
        groups = [run[a:b] for a, b in zip(bounds, bounds[1:])]
        too_long = any(len(g) > 1 and g[-1].end - g[0].start > settings.max_chars for g in groups)
        if not too_long or n == len(run):
            return groups
        n += 1


def chunk_corpus(docs: list[tuple[Source, str]], settings: ChunkSettings) -> list[Chunk]:
    """All chunks of the corpus with ids numbered across documents."""
    chunks: list[Chunk] = []
    for source, text in docs:
        chunks.extend(chunk_document(source, text, settings, first_id=len(chunks)))
    return chunks
