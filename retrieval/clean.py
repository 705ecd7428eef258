"""Deciding which spans of a scraped page may become passages; the text itself is never edited.

General rules, each with the reason it records (see `python -m retrieval inspect FILE`):

- heading:   a one-sentence line of at most 15 words not ending in . or ! (titles, section
             heads, FAQ questions). Never a passage; gives context to the text below it.
- chrome:    site furniture such as "top of page", "Author", "Updated: Oct 13", "See All".
- footer:    a footer marker ("Recent Posts", "Share Now :", "What's Your Reaction?",
             "Discussion about this post", "This article is in the category …", comment
             widgets, "Related posts") ends the article: everything after it is dropped,
             which takes teaser links and comment widgets with it.
- teaser:    a truncated one-line teaser ("… comparison of addiction…"), or a run of three or
             more one-sentence lines opening with the same word (a list of links).
- ad:        a paragraph with a phone number (advertisement or contact block).
- cta:       a call to action sentence: contact/call/visit/check out/schedule/click … together
             with us/our/today/here/guide/resources.
- lead-in:   a sentence ending in ":" at the end of its paragraph; its list was lost in
             scraping or stands apart, so it never stands as an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .segment import Span, paragraphs, sentences, word_count

_CHROME = re.compile(
    r"^(top of page|bottom of page|skip to (main )?content|menu|home|search|author|"
    r"(updated|posted|published)( on)?:?\s.*|see all|log ?in|sign ?up|subscribe|"
    r"back to top|previous( post)?|next( post)?)$",
    re.I,
)
_FOOTER = re.compile(
    r"^(recent posts|related (posts|articles|reading)|you may also like|read next|"
    r"share( this( post| article)?| now)?\s*:?|comments?( \(\d+\))?|leave a (reply|comment)|"
    r"discussion about this post|what'?s your reaction\??|tags?\s*:.*|categories\s*:.*)$"
    r"|\b(this (article|post) (is|was) (in|filed under) the categor(y|ies)|filed under|posted in)\b",
    re.I,
)
_PHONE = re.compile(r"(?<!\d)(\+?1[-.\s]?)?\(?\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}(?!\d)")
_CTA_VERB = re.compile(
    r"\b(contact|call|reach out to|schedule|book|visit|check out|click|subscribe|sign up|learn more|read more)\b",
    re.I,
)
_CTA_TARGET = re.compile(r"\b(us|our|today|now|here|website|site|page|link|guide|resources)\b", re.I)
_LIST_ITEM = re.compile(r"^\s*([-*•·▪]|\d{1,3}[.)]|[a-z][.)])\s")
_HEADING_WORDS = 15
_TEASER_RUN = 3


@dataclass
class Sentence:
    span: Span
    allowed: bool = True
    reason: str = ""


@dataclass
class Paragraph:
    span: Span
    kind: str = "body"  # body | heading | boilerplate
    reason: str = ""
    sentences: list[Sentence] = field(default_factory=list)


def classify(text: str) -> list[Paragraph]:
    """Label every paragraph and sentence of a document as passage material or not, with why."""
    paras = [Paragraph(p, sentences=[Sentence(s) for s in sentences(text, p)]) for p in paragraphs(text)]
    in_footer = False
    for p in paras:
        body = text[p.span.start : p.span.end]
        if in_footer or _FOOTER.search(body) and word_count(body) <= 20:
            in_footer = True
            _drop(p, "footer")
        elif _CHROME.match(body):
            _drop(p, "chrome")
        elif _PHONE.search(body):
            _drop(p, "ad")
        elif len(p.sentences) == 1 and re.search(r"(…|\.\.\.)\W*$", body):
            _drop(p, "teaser")
        elif len(p.sentences) == 1 and word_count(body) <= _HEADING_WORDS and not re.search(r"[.!:]\W*$", body):
            _drop(p, "heading")
            p.kind = "heading"
    _mark_teaser_runs(text, paras)
    for p in paras:
        if p.kind != "body":
            continue
        for j, s in enumerate(p.sentences):
            st = text[s.span.start : s.span.end]
            if _CTA_VERB.search(st) and _CTA_TARGET.search(st):
                s.allowed, s.reason = False, "cta"
            elif st.rstrip().endswith(":") and j == len(p.sentences) - 1:
                s.allowed, s.reason = False, "lead-in"
        if not any(s.allowed for s in p.sentences):
            p.kind, p.reason = "boilerplate", p.sentences[-1].reason
    return paras


def _drop(p: Paragraph, reason: str) -> None:
    p.kind, p.reason = "boilerplate", reason
    for s in p.sentences:
        s.allowed, s.reason = False, reason


def _mark_teaser_runs(text: str, paras: list[Paragraph]) -> None:
    """Runs of one-sentence body lines opening with the same word are link lists."""
    def first_word(p: Paragraph) -> str | None:
        if p.kind != "body" or len(p.sentences) != 1:
            return None
        m = re.match(r"\W*(\w+)", text[p.span.start : p.span.end])
        return m.group(1).lower() if m else None

    i = 0
    while i < len(paras):
        w = first_word(paras[i])
        j = i + 1
        while w and j < len(paras) and first_word(paras[j]) == w:
            j += 1
        if w and j - i >= _TEASER_RUN and not _LIST_ITEM.match(text[paras[i].span.start :]):
            for p in paras[i:j]:
                _drop(p, "teaser")
        i = max(j, i + 1)
