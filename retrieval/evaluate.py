"""Scoring a gold file (format of shared/eval/README.md): quality figures, baselines and ablations."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .answer import Engine, prepare
from .clean import classify
from .config import ROOT, SearchSettings
from .embedding import token_encoder
from .interaction import TokenStore, passage_tokens
from .records import STATUSES, Result
from .safety import check_input, message
from .search import Searcher, key_words


def fold(s: str) -> str:
    return " ".join(s.lower().split())


def load_gold(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e})") from None
    return items


def first_hit(texts: list[str], answers: list[str]) -> int | None:
    """1-based rank of the first text containing one of the answers (folded), else None."""
    wanted = [fold(a) for a in answers]
    for rank, t in enumerate(texts, 1):
        if any(w in fold(t) for w in wanted):
            return rank
    return None


def answer_span(text: str, answers: list[str]) -> tuple[int, int] | None:
    """Where in `text` the first of the answers it contains lies (matched as `first_hit` folds), else None."""
    for a in answers:
        m = re.search(r"\s+".join(re.escape(w) for w in a.split()), text, re.IGNORECASE)
        if m:
            return m.span()
    return None


def highlight_on_answer(passage, answers: list[str]) -> bool | None:
    """Whether the passage's highlighted sentence overlaps the answer in it (None: no answer in it)."""
    span = answer_span(passage.text, answers)
    if span is None or not passage.highlight:
        return None
    (a, b), (h0, h1) = span, passage.highlight
    return h0 < passage.start + b and passage.start + a < h1


@dataclass
class Figures:
    n_in: int = 0
    r1: float = 0.0
    r3: float = 0.0
    mrr5: float = 0.0
    out_abstain: float | None = None
    false_abstain: float | None = None
    crisis_recall: float | None = None
    false_crisis: float | None = None
    robust_valid: float | None = None
    smalltalk: float | None = None
    highlight: float | None = None  # of first passages holding an answer, those whose highlight is on it
    resolved: float | None = None  # answerable ones answered in the top 3, or behind a suggestion (one click)
    near_crisis_alarmed: float | None = None  # near-crisis messages (note "near-crisis") given the crisis reply
    refused_with_topic: float | None = None  # refused out-of-scope messages whose reply names what they ask about
    non_verbatim: int = 0
    boilerplate: int = 0


def _rank_figures(ranks: list[int | None]) -> tuple[float, float, float]:
    n = max(len(ranks), 1)
    r1 = sum(1 for r in ranks if r == 1) / n
    r3 = sum(1 for r in ranks if r and r <= 3) / n
    mrr = sum(1 / r for r in ranks if r and r <= 5) / n
    return r1, r3, mrr


class PassageAudit:
    """Checks shown passages: verbatim slices, and never inside a span cleaning rejected."""

    def __init__(self) -> None:
        self._files: dict[str, str] = {}
        self._allowed: dict[str, list[tuple[int, int]]] = {}

    def verbatim(self, p) -> bool:
        return self._text(p.path)[p.start : p.end] == p.text

    def clean(self, p) -> bool:
        """Every visible character of the passage lies in a sentence that cleaning allowed."""
        text = self._text(p.path)
        spans = self._allowed.setdefault(
            p.path,
            [(s.span.start, s.span.end) for para in classify(text) if para.kind == "body" for s in para.sentences if s.allowed],
        )
        return all(
            text[i].isspace() or any(a <= i < b for a, b in spans) for i in range(p.start, p.end)
        )

    def _text(self, path: str) -> str:
        if path not in self._files:
            self._files[path] = (ROOT / path).read_text(encoding="utf-8")
        return self._files[path]


def evaluate(engine: Engine, items: list[dict]) -> tuple[Figures, list[tuple[dict, Result]]]:
    """Run the full pipeline on every gold item and compute the figures."""
    audit = PassageAudit()
    results = [(it, engine.ask(it.get("question"), id=it.get("id"))) for it in items]
    f = Figures()
    by_kind: dict[str, list[tuple[dict, Result]]] = {}
    for it, res in results:
        by_kind.setdefault(it.get("kind", "in"), []).append((it, res))
        for p in res.passages:
            f.non_verbatim += not audit.verbatim(p)
            f.boilerplate += not audit.clean(p)
    ins = by_kind.get("in", [])
    f.n_in = len(ins)
    ranks = [first_hit([p.text for p in r.passages], it["answers"]) if r.status == "answered" else None for it, r in ins]
    f.r1, f.r3, f.mrr5 = _rank_figures(ranks)
    if ins:
        f.resolved = sum(bool(rank and rank <= 3) or behind_a_suggestion(engine, r, it["answers"])
                         for (it, r), rank in zip(ins, ranks)) / len(ins)
    near = [r for it, r in results if it.get("note") == "near-crisis"]
    if near:
        f.near_crisis_alarmed = sum(r.status == "crisis" for r in near) / len(near)
    lit = [highlight_on_answer(r.passages[0], it["answers"]) for it, r in ins if r.status == "answered" and r.passages]
    on = [h for h in lit if h is not None]
    f.highlight = sum(on) / len(on) if on else None
    if ins:
        f.false_abstain = sum(r.status == "no_match" for _, r in ins) / len(ins)
        f.false_crisis = sum(r.status == "crisis" for _, r in ins) / len(ins)
    if by_kind.get("out"):
        f.out_abstain = sum(r.status in ("no_match", "smalltalk") for _, r in by_kind["out"]) / len(by_kind["out"])
        refused = [r for _, r in by_kind["out"] if r.status == "no_match"]
        f.refused_with_topic = sum(r.message not in (message("no_match", "en"), message("no_match", "es"), message("unsure", "en"),
                                                     message("unsure", "es")) for r in refused) / max(len(refused), 1)
    if by_kind.get("crisis"):
        f.crisis_recall = sum(r.status == "crisis" for _, r in by_kind["crisis"]) / len(by_kind["crisis"])
    if by_kind.get("smalltalk"):
        f.smalltalk = sum(r.status == "smalltalk" for _, r in by_kind["smalltalk"]) / len(by_kind["smalltalk"])
    if by_kind.get("robust"):
        f.robust_valid = sum(r.status in STATUSES for _, r in by_kind["robust"]) / len(by_kind["robust"])
    return f, results


def behind_a_suggestion(engine: Engine, result: Result, answers: list[str]) -> bool:
    """Whether one of the result's suggestions, clicked, is answered with an answer in its first three passages."""
    for question in result.suggestions:
        clicked = engine.ask(question)
        hit = first_hit([p.text for p in clicked.passages], answers) if clicked.status == "answered" else None
        if hit and hit <= 3:
            return True
    return False


def asked(items: list[dict]) -> list[dict]:
    """The in- and out-of-scope items: the questions whose typed variants `eval` also asks."""
    return [it for it in items if it.get("kind", "in") in ("in", "out")]


def misspell(items: list[dict], seed: int = 0) -> list[dict]:
    """The in- and out-of-scope items with one topic word of five letters or more misspelt: a
    letter dropped, doubled, changed or swapped with the next, as a hurried typist does (seeded)."""
    rng, out = random.Random(seed), []
    for it in asked(items):
        words = [w for w in key_words(it["question"]) if len(w) >= 5 and w.isalpha()]
        if not words:
            out.append(it)
            continue
        w = rng.choice(words)
        i = rng.randrange(1, len(w) - 1)
        typo = rng.choice([w[:i] + w[i + 1 :], w[:i] + w[i] + w[i:], w[:i] + rng.choice("aeioustrnl") + w[i + 1 :],
                           w[:i] + w[i + 1] + w[i] + w[i + 2 :]])
        out.append({**it, "question": re.sub(rf"\b{w}\b", typo, it["question"], count=1, flags=re.I)})
    return out


# Greetings, preambles and thanks as patients write them around a question (one pair per question, in turn)
WRAPPERS = [("Hi! ", " Thanks!"), ("Hello, I have a question. ", ""), ("hey ", " thx"),
            ("Good morning! ", " Thank you very much."), ("Quick question: ", " Many thanks"),
            ("Sorry if this is a dumb question, but ", ""), ("", " I'm asking for my mother.")]


# Sentences about the patient before a question: not set aside (they may carry its topic), and
# still costly (README, "How answers are chosen")
CONTEXTS = [("I'm considering ketamine treatment. ", ""), ("I have been depressed for years. ", ""),
            ("My doctor mentioned ketamine. ", ""), ("I read about ketamine online. ", "")]


def wrapped(items: list[dict], around: list[tuple[str, str]] = WRAPPERS) -> list[dict]:
    """The in- and out-of-scope items with text before and after the question (one pair each, in turn):
    by default a greeting before it and thanks after it."""
    ins = asked(items)
    return [{**it, "question": f"{a}{it['question']}{b}"} for it, (a, b) in zip(ins, around * len(ins))]


def ranking_variants(engine: Engine) -> list[tuple[str, Searcher, float]]:
    """Baselines, the pipeline, and the pipeline without each component, all on the same passages:
    (label, searcher, weight of the bank signal)."""
    import faiss

    idx, encs, w = engine.index, engine.encoders, engine.learned.w_bank
    base = replace(engine.settings.search, w_pairs=engine.searcher.w_pairs)  # the profile's, in every variant
    primary = next(iter(encs))
    nothing = SearchSettings(w_dense=0, w_sentence_max=0, w_sentence_mean=0, w_bm25=0, w_pairs=0, w_interaction=0)
    out = [("BM25 alone", Searcher(idx, {primary: encs[primary]}, replace(nothing, w_bm25=1)), 0.0)]
    for key, enc in encs.items():
        out.append((f"{enc.name} alone", Searcher(idx, {key: enc}, replace(nothing, w_dense=1)), 0.0))
    late_only = replace(nothing, w_interaction=1, interaction_depth=len(idx.chunks))
    out.append((f"{encs[primary].name} late interaction alone", Searcher(idx, {primary: encs[primary]}, late_only), 0.0))
    out.append(("bank questions alone", Searcher(idx, encs, nothing), 1.0))
    out.append(("pipeline", engine.searcher, w))
    out.append(("pipeline without bank matching", engine.searcher, 0.0))
    for key in list(encs)[1:]:
        out.append((f"pipeline without {key}", Searcher(idx, {k: e for k, e in encs.items() if k != key}, base), w))
    out.append(("pipeline without sentence signals", Searcher(idx, encs, replace(base, w_sentence_max=0, w_sentence_mean=0)), w))
    out.append(("pipeline without bm25", Searcher(idx, encs, replace(base, w_bm25=0, w_pairs=0)), w))
    if base.w_pairs:
        out.append(("pipeline without word pairs", Searcher(idx, encs, replace(base, w_pairs=0)), w))
    out.append(("pipeline without late interaction", Searcher(idx, encs, replace(base, w_interaction=0)), w))
    if engine.settings.chunking.heading_context:
        texts = [c.text for c in idx.chunks]
        primary_vecs, per_text = token_encoder(encs[primary]).encode_tokens(texts)  # one pass: sentence and token vectors
        flat: dict[str, faiss.Index] = {}
        for key, enc in encs.items():
            vecs = primary_vecs if key == primary else enc.encode(texts)
            flat[key] = faiss.IndexFlatIP(vecs.shape[1])
            flat[key].add(vecs)
        tokens = TokenStore.from_passages(passage_tokens(per_text))
        out.append(("pipeline without heading context", Searcher(replace(idx, passages=flat, tokens=tokens), encs, base), w))
    return out


def ranking_table(engine: Engine, items: list[dict]) -> list[tuple[str, float, float, float]]:
    """Ranking-only figures (top 5 of all passages; no abstention, no diversity) for each variant; the
    message's language as the engine reads it decides which signals read it, as when answering."""
    ins = [it for it in items if it.get("kind", "in") == "in"]
    checked = [check_input(it["question"]) for it in ins]
    texts = [prepare(text, engine.speller)[1] if not problem else "" for problem, text in checked]
    readings = [engine.read(t) if t else None for t in texts]
    rows = []
    for label, searcher, w in ranking_variants(engine):
        ranks: list[int | None] = []
        for it, text, reading in zip(ins, texts, readings):
            if reading is None:
                ranks.append(None)
                continue
            query = reading.query if searcher is engine.searcher else searcher.encode([text])[0]
            signal = engine.bank.passage_signal(reading.sims) if w else None
            order = searcher.rank(query, signal, w, english=reading.lang == "en").order[:5]
            ranks.append(first_hit([engine.index.chunks[int(i)].text for i in order], it["answers"]))
        rows.append((label, *_rank_figures(ranks)))
    return rows


def report(engine: Engine, path: Path, verbose: bool = False) -> str:
    """The printed report for one gold file."""
    items = load_gold(path)
    f, results = evaluate(engine, items)

    def pct(x, places=2):
        return "  n/a" if x is None else f"{x:5.{places}f}"

    lines = [
        f"gold file: {path}  ({len(items)} items, {f.n_in} in-scope)",
        f"index: {engine.index.manifest.get('build_id')}  profile: {engine.settings.profile} "
        f"({', '.join(e.name for e in engine.encoders.values())})",
        "",
        "full pipeline (with abstention, diversity, safety):",
        f"  Recall@1            {pct(f.r1)}",
        f"  Recall@3            {pct(f.r3)}",
        f"  MRR@5               {pct(f.mrr5, 3)}",  # three places: 0.778 would print as 0.78, a target it misses
        f"  out-of-scope abstention  {pct(f.out_abstain)}",
        f"  false abstention (in)    {pct(f.false_abstain)}",
        f"  resolved in one click    {pct(f.resolved)}",  # answer in the top 3, or behind a suggestion
        f"  refusal names the topic  {pct(f.refused_with_topic)}",
        f"  crisis recall            {pct(f.crisis_recall)}",
        f"  false crisis (in)        {pct(f.false_crisis)}",
        f"  false crisis (near-crisis) {pct(f.near_crisis_alarmed)}",
        f"  robust items valid       {pct(f.robust_valid)}",
        f"  small talk recognised    {pct(f.smalltalk)}",
        f"  highlight on the answer  {pct(f.highlight)}",
        f"  non-verbatim passages    {f.non_verbatim}",
        f"  boilerplate passages     {f.boilerplate}",
        "",
        "ranking only (top 5 of all passages, no abstention):",
        f"  {'variant':42s} R@1   R@3   MRR@5  R@1 vs BM25  vs {next(iter(engine.encoders.values())).name}",
    ]
    rows = ranking_table(engine, items)
    bm25_r1, dense_r1 = rows[0][1], rows[1][1]
    for label, r1, r3, mrr in rows:
        ratio = lambda b, r1=r1: f"{r1 / b:5.2f}x" if b else "   n/a"  # noqa: E731
        lines.append(f"  {label:42s} {r1:.2f}  {r3:.2f}  {mrr:.2f}   {ratio(bm25_r1)}      {ratio(dense_r1)}")
    typed = misspell(items)
    if any(it.get("kind", "in") == "in" for it in typed):
        lines += ["", "each in- and out-of-scope question as a patient might type it (full pipeline):",
                  f"  {'variant':48s} R@1   R@3   MRR@5  out-of-scope abstention  false abstention"]
        shouted = [{**it, "question": it["question"].upper()} for it in asked(items)]
        speller = engine.speller
        for label, variant, sp in (("one topic word misspelt", typed, speller),
                                   ("one topic word misspelt, no spelling correction", typed, None),
                                   ("in capitals", shouted, speller),
                                   ("with a greeting before it and thanks after it", wrapped(items), speller),
                                   ("after a sentence of context", wrapped(items, CONTEXTS), speller)):
            engine.speller = sp
            try:
                m, _ = evaluate(engine, variant)
            finally:
                engine.speller = speller
            lines.append(f"  {label:48s} {m.r1:.2f}  {m.r3:.2f}  {m.mrr5:.2f}   {pct(m.out_abstain)}                    {pct(m.false_abstain)}")
    if verbose:
        lines += ["", "misses:"]
        for it, r in results:
            kind = it.get("kind", "in")
            ok = (
                (kind == "in" and r.status == "answered" and first_hit([p.text for p in r.passages], it["answers"]) == 1)
                or (kind == "out" and r.status in ("no_match", "smalltalk"))
                or (kind == "crisis" and r.status == "crisis")
                or (kind == "smalltalk" and r.status == "smalltalk")
                or kind == "robust"
            )
            if not ok:
                top = r.passages[0].text[:90] if r.passages else ""
                offered = f" suggested {r.suggestions}" if r.suggestions else ""
                lines.append(f"  [{kind}] {it['question'][:70]!r} -> {r.status} {top!r}{offered}")
    return "\n".join(lines)
