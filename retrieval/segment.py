"""Splitting text into paragraphs and sentences as exact character spans (nothing is edited)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or … (plus closing quotes/brackets) before white space.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_ABBREV = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|St|vs|etc|e\.g|i\.e|approx|No|Fig)|\b[A-Z])\.$")
_LIST_NUMBER = re.compile(r"^\s*(?:\d{1,3}|[a-zA-Z])[.)]$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def paragraphs(text: str) -> list[Span]:
    """Each non-blank line is a paragraph (scraped pages keep one paragraph per line)."""
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            spans.append(Span(pos + lead, pos + lead + len(stripped)))
        pos += len(line)
    return spans


def sentences(text: str, para: Span) -> list[Span]:
    """Sentence spans inside one paragraph, trimmed of surrounding white space."""
    out, start = [], para.start
    body = text[para.start : para.end]
    for m in _END.finditer(body):
        end = para.start + m.end()
        candidate = text[start:end]
        if _ABBREV.search(candidate) or _LIST_NUMBER.match(candidate):
            continue
        nxt = text[end:para.end].lstrip()
        if nxt and nxt[0].islower():
            continue  # "e.g. something" or a stray period: not a boundary
        out.append(_trim(text, start, end))
        start = end
    if text[start : para.end].strip():
        out.append(_trim(text, start, para.end))
    return out


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def word_count(s: str) -> int:
    return len(re.findall(r"\w+", s))
