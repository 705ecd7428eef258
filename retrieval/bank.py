"""The question bank: the project's own messages, labelled and in batches, and their links to the corpus.

Layout: bank/<kind>/<name>.jsonl, one message per line, where kind is one of KINDS:
    answerable    {"batch", "question", "source", "quote"}     quote: verbatim text of that source that answers it
                  and optionally "also": [{"source", "quote"}, ...]   other passages that answer it as well
    unanswerable  {"batch", "question", "topic"}               topic: one of TOPICS
    crisis        {"batch", "question", "type", "signal"}      signal: the words of the message that signal danger
    near_crisis   {"batch", "question", "type", and "source"+"quote" or "topic"}
Every line may also carry "lang" (ISO 639-1, default "en") and "register" (how it is written).
A batch is a set of messages written together from one idea; paraphrases never cross batches, so
grouped cross-validation by batch keeps them out of train and test at once.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KINDS = ("answerable", "unanswerable", "crisis", "near_crisis")
# What a question the articles do not answer is about; each has its fixed reply (safety.MESSAGES).
TOPICS = (
    "cost",  # prices, insurance, payment plans
    "dose",  # amounts in mg, dosing schedules, how much to take
    "medication",  # named medicines and supplements the articles never mention, interactions with them
    "appointment",  # booking, hours, waiting lists, what to bring, how long a visit lasts
    "location",  # where to get it, clinics near me, telehealth availability
    "spravato",  # Spravato / esketamine nasal spray specifics
    "driving",  # driving, working, travelling after a session
    "credentials",  # who administers it, staff qualifications, the clinic itself
    "eligibility",  # whether the asker personally qualifies, their own test results or conditions
    "other",  # anything else about ketamine the articles do not cover
    "off_topic",  # not about ketamine therapy at all
)
CRISIS_TYPES = (
    "passive_ideation", "active_ideation", "plan", "goodbye", "stockpiling", "lethal_dose", "self_harm",
    "overdose_self", "overdose_other", "unresponsive", "slang", "embedded", "third_party",
)
NEAR_CRISIS_TYPES = ("figurative", "general_risk", "research", "recovered", "past", "worry", "other")
MAX_QUESTION_CHARS = 1000


class BankError(Exception):
    """A bank file cannot be read; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Entry:
    """One message of the bank and its label."""

    kind: str
    batch: str
    question: str
    lang: str = "en"
    register: str = ""
    source: str = ""  # answerable: the corpus document that answers it
    quote: str = ""  # answerable: verbatim text of that document
    topic: str = ""  # unanswerable: what it asks about
    type: str = ""  # crisis and near-crisis: what kind
    signal: str = ""  # crisis: the danger sign, verbatim in the question
    also: tuple[tuple[str, str], ...] = ()  # answerable: other (source, quote) that answer it as well
    file: str = ""
    line: int = 0

    @property
    def answerable(self) -> bool:
        return bool(self.quote)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def bank_files(bank_dir: Path) -> list[Path]:
    """Every bank file, in a stable order."""
    return sorted(p for kind in KINDS for p in (bank_dir / kind).glob("*.jsonl")) if bank_dir.is_dir() else []


def bank_state(bank_dir: Path) -> dict[str, str]:
    """sha256 of every bank file by its path under the bank folder: a change makes the index stale."""
    return {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in bank_files(bank_dir)}


def load_bank(bank_dir: Path) -> list[Entry]:
    """All entries of the bank folder; BankError on the first malformed line."""
    entries: list[Entry] = []
    for path in bank_files(bank_dir):
        entries.extend(read_file(path, path.parent.name))
    return entries


def read_file(path: Path, kind: str) -> list[Entry]:
    if kind not in KINDS:
        raise BankError(f"{path}: the folder must be one of {', '.join(KINDS)}.")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise BankError(f"{path}:{n}: not JSON ({e}).") from None
        out.append(parse(data, kind, f"{path.parent.name}/{path.name}", n))
    return out


def parse(data: object, kind: str, file: str, line: int) -> Entry:
    """One line as an Entry, checked against its kind's fields."""
    where = f"{file}:{line}"
    if not isinstance(data, dict):
        raise BankError(f"{where}: expected a JSON object.")
    fields = {k: data.get(k, "") for k in ("batch", "question", "lang", "register", "source", "quote", "topic", "type", "signal")}
    bad = [k for k, v in fields.items() if not isinstance(v, str)]
    if bad:
        raise BankError(f"{where}: {', '.join(bad)} must be text.")
    fields = {k: v.strip() for k, v in fields.items()}
    fields["lang"] = fields["lang"] or "en"
    if not fields["batch"] or not fields["question"]:
        raise BankError(f'{where}: "batch" and "question" are required.')
    if len(fields["question"]) > MAX_QUESTION_CHARS:
        raise BankError(f"{where}: a question of over {MAX_QUESTION_CHARS} characters could never be asked.")
    linked = bool(fields["source"] and fields["quote"])
    if kind == "answerable" and not linked:
        raise BankError(f'{where}: an answerable question needs "source" (a corpus id) and "quote" (its verbatim text).')
    if kind == "unanswerable" and fields["topic"] not in TOPICS:
        raise BankError(f'{where}: "topic" must be one of {", ".join(TOPICS)}.')
    if kind == "crisis":
        if fields["type"] not in CRISIS_TYPES:
            raise BankError(f'{where}: "type" must be one of {", ".join(CRISIS_TYPES)}.')
        if fields["signal"] and fields["signal"] not in fields["question"]:
            raise BankError(f'{where}: "signal" must be words copied from the question.')
    if kind == "near_crisis":
        if fields["type"] not in NEAR_CRISIS_TYPES:
            raise BankError(f'{where}: "type" must be one of {", ".join(NEAR_CRISIS_TYPES)}.')
        if not linked and fields["topic"] not in TOPICS:
            raise BankError(f'{where}: give "source" and "quote" when the articles answer it, else a "topic" of {", ".join(TOPICS)}.')
    also = data.get("also", [])
    if not isinstance(also, list) or not all(isinstance(a, dict) and isinstance(a.get("source"), str)
                                             and isinstance(a.get("quote"), str) for a in also):
        raise BankError(f'{where}: "also" must be a list of {{"source": ..., "quote": ...}}.')
    if kind in ("unanswerable", "crisis"):
        fields["source"] = fields["quote"] = ""
        also = []
    return Entry(kind=kind, file=file, line=line, also=tuple((a["source"], a["quote"]) for a in also), **fields)


_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def _folded(text: str) -> tuple[str, list[int]]:
    """Text with typographic quotes and dashes made plain and white space runs made one space, and
    where each of its characters came from in the original."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text.translate(_FOLD)):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        where.append(i)
    return "".join(out), where


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` lies in `text`, exactly or after folding quotes, dashes and white space."""
    i = text.find(quote)
    if i >= 0:
        return i, i + len(quote)
    folded, where = _folded(text)
    q = " ".join(quote.translate(_FOLD).split())
    i = folded.find(q)
    if i < 0 or not q:
        return None
    return where[i], where[i + len(q) - 1] + 1


def link(entries: list[Entry], texts: dict[str, str], chunks) -> tuple[dict[int, list[int]], list[str]]:
    """The chunk positions each linked entry's quotes fall in (by entry position; its own quote's first),
    and a sentence for every broken link: a source that is not in the corpus, or a quote not found in it
    or not quoted by any passage. An entry whose own quote is broken is not linked at all."""
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for pos, c in enumerate(chunks):
        spans.setdefault(c.source_id, []).append((c.start, c.end, pos))
    found: dict[tuple[str, str], tuple[int, int] | None] = {}

    def passages(e: Entry, source: str, quote: str) -> list[int]:
        if source not in texts:
            broken.append(f"{e.where}: source {source!r} is not in the corpus")
            return []
        if (source, quote) not in found:
            found[source, quote] = find_quote(texts[source], quote)
        span = found[source, quote]
        if span is None:
            broken.append(f"{e.where}: quote not found in {source}: {quote[:60]!r}")
            return []
        hit = [pos for a, b, pos in spans.get(source, []) if a < span[1] and span[0] < b]
        if not hit:
            broken.append(f"{e.where}: the quote is in {source} but in no passage the bot may show: {quote[:60]!r}")
        return hit

    links: dict[int, list[int]] = {}
    broken: list[str] = []
    for i, e in enumerate(entries):
        if e.answerable:
            own = passages(e, e.source, e.quote)
            if own:
                links[i] = list(dict.fromkeys(own + [p for s, q in e.also for p in passages(e, s, q)]))
    return links, broken


def add_faq(bank_dir: Path, corpus_dir: Path, file: Path) -> tuple[int, Path]:
    """Add a clinic's own questions (JSON lines or CSV of question, answer, optional source; the answer
    verbatim text of a corpus document) to bank/answerable/clinic-faq.jsonl, each its own batch."""
    import csv

    from .corpus import read_corpus

    if not file.is_file():
        raise BankError(f"{file}: no such file.")
    text = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise BankError(f"{file}: not JSON lines ({e}); give a .csv or lines of {{\"question\": ..., \"answer\": ...}}.") from None
    docs = {s.id: t for s, t in read_corpus(corpus_dir)}
    target = bank_dir / "answerable" / "clinic-faq.jsonl"
    existing = read_file(target, "answerable") if target.is_file() else []
    known = {e.question for e in existing}
    lines: list[dict[str, object]] = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not str(row.get("question", "")).strip() or not str(row.get("answer", "")).strip():
            raise BankError(f"{file}: row {n} needs a question and an answer.")
        question, answer, source = str(row["question"]).strip(), str(row["answer"]).strip(), str(row.get("source") or "").strip()
        found = [s for s in ([source] if source else docs) if s in docs and find_quote(docs[s], answer)]
        if not found:
            where = f"document {source!r}" if source else "any document of the corpus"
            raise BankError(f"{file}: row {n}: the answer is not text of {where}; copy it word for word from the document.")
        if question in known:
            continue
        known.add(question)
        line: dict[str, object] = {"batch": f"clinic-{len(existing) + len(lines) + 1:04d}", "question": question, "source": found[0],
                "quote": answer, "register": "formal", "lang": str(row.get("lang") or "en")}
        if found[1:]:  # every document that says it answers the question
            line["also"] = [{"source": s, "quote": answer} for s in found[1:]]
        lines.append(line)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(lines), target


def summary(entries: list[Entry], links: dict[int, list[int]], n_chunks: int) -> str:
    """Counts by kind, language, topic and type; batches; questions per passage."""
    lines = [f"{len(entries)} messages in {len({e.batch for e in entries})} batches"]
    for kind in KINDS:
        mine = [e for e in entries if e.kind == kind]
        if mine:
            langs = Counter(e.lang for e in mine)
            lines.append(f"  {kind}: {len(mine)} ({', '.join(f'{k} {v}' for k, v in langs.most_common())})")
            labels = Counter(e.type or e.topic for e in mine if e.type or e.topic)
            if labels:
                lines.append("    " + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())))
    per_passage = Counter(p for ps in links.values() for p in ps)
    if per_passage:
        lines.append(f"  passages with linked questions: {len(per_passage)} of {n_chunks}; "
                     f"fewest {min(per_passage.values())}, most {max(per_passage.values())}")
        few = sorted(p for p in range(n_chunks) if per_passage.get(p, 0) < 8)
        lines.append(f"  passages with fewer than 8: {few}")
    sizes = Counter(e.batch for e in entries)
    lines.append(f"  batch sizes: {dict(sorted(Counter(sizes.values()).items()))}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """`python -m retrieval.bank [FILE...]`: check bank files (default: the whole bank) and print counts."""
    from .chunking import chunk_corpus
    from .config import Settings
    from .corpus import read_corpus

    settings = Settings()
    docs = read_corpus(settings.corpus_dir)
    chunks = chunk_corpus(docs, settings.chunking)
    try:
        if argv:
            entries = [e for a in argv for e in read_file(Path(a), Path(a).resolve().parent.name)]
        else:
            entries = load_bank(settings.bank_dir)
    except BankError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    links, broken = link(entries, {s.id: t for s, t in docs}, chunks)
    for b in broken:
        print(f"broken link: {b}")
    print(summary(entries, links, len(chunks)))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
