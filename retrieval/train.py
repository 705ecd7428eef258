"""Learning the decisions in front of the ranking from the question bank, with grouped cross-validation
(a batch of paraphrases is never in train and test at once): the bank signal's weight, the language,
the crisis reader, the answer decision and the topics of unanswerable questions."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .bank import Entry
from .crisis import FLOOR, CrisisModel, units
from .decision import Decision, feature_names, features
from .learned import Learned
from .matching import Bank
from .models import Linear, Mlp
from .ngrams import NgramModel
from .search import Query, Searcher

FOLDS = 5
W_BANK = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0)  # weights of the bank signal tried, by grouped cross-validation
CRISIS_RECALL = 0.98  # the crisis threshold is the highest that keeps this share of the bank's crisis messages
UNSURE_SHARE = 0.02  # at most this share of answerable messages refused without suggestions
TOPIC_AT = 0.5  # a refusal names a topic only when the topic model gives it more than even odds
C = {"crisis_words": 10.0, "words": 10.0, "language": 1.0, "text": 3.0, "decision": 1.0, "topics": 3.0}  # inverse regularisation
CRISIS_MLP = (128, 0.3)  # the crisis network's hidden units and L2 penalty


class Stopwatch:
    """Seconds each step took, kept in the report under "seconds"."""

    def __init__(self, report: dict) -> None:
        self.times, self.last = report.setdefault("seconds", {}), time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.times[step] = round(now - self.last, 2)
        self.last = now


@dataclass
class BankData:
    """The bank's messages as the pipeline reads them, with labels, links and folds."""

    entries: list[Entry]
    texts: list[str]  # as searched (greetings set aside, misspellings corrected)
    queries: list[Query]
    links: dict[int, list[int]]
    folds: np.ndarray

    def __post_init__(self) -> None:
        self.kind = np.array([e.kind for e in self.entries])
        self.answerable = np.array([i in self.links for i in range(len(self.entries))])
        self.unanswerable = np.array([e.kind in ("unanswerable", "near_crisis") and i not in self.links
                                      for i, e in enumerate(self.entries)])


def grouped_folds(batches: list[str], k: int = FOLDS) -> np.ndarray:
    """Fold of each message: whole batches, spread over k folds by their order of first appearance
    (a stable assignment: the same bank always gives the same folds)."""
    order = {b: i for i, b in enumerate(dict.fromkeys(batches))}
    return np.array([order[b] % k for b in batches])


def out_of_fold(fit, x: np.ndarray, y: np.ndarray, folds: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Each row's prediction (probability of the positive class) by a model fitted without its fold."""
    rows = np.arange(len(y)) if rows is None else rows
    out = np.zeros(len(rows))
    for f in np.unique(folds[rows]):
        test = folds[rows] == f
        model = fit(x[rows][~test], y[rows][~test])
        out[test] = model.proba(x[rows][test])[:, 1]
    return out


def fit(data: BankData, searcher: Searcher, bank_vectors: dict[str, np.ndarray], served: list[np.ndarray],
        signals: dict[int, np.ndarray], encoders: list[str]) -> tuple[Learned, dict]:
    """All learned parts, fitted on the whole bank, and the grouped cross-validation report."""
    n_chunks = len(searcher.index.chunks)
    emb = np.concatenate([bank_vectors[k] for k in encoders], axis=1)
    report: dict = {"messages": len(data.entries), "batches": len(set(e.batch for e in data.entries)), "folds": FOLDS}
    clock = Stopwatch(report)

    # language: "en", "es", or "other"
    lang = np.array([e.lang if e.lang in ("en", "es") else "other" for e in data.entries])
    lang_oof = _oof_labels(lambda x, y: Linear.fit(x, y, C["language"]), emb, lang, data.folds)
    report["language_accuracy"] = round(float((lang_oof == lang).mean()), 4)
    english = lang_oof == "en"
    clock("language")

    bank = _bank(data, bank_vectors, n_chunks)  # every message matched against the others, fold by fold
    sims = sum(bank_vectors[k] @ bank_vectors[k].T for k in encoders if k in bank_vectors) / len(encoders)

    # the bank signal's weight: the one whose rankings put a linked passage first most often, out of fold
    rank_rows = np.flatnonzero(data.answerable)
    tried: dict[float, dict] = {}
    for w in W_BANK:
        ranks = [_first_linked(searcher.rank(data.queries[i], bank.passage_signal(sims[i], data.folds != data.folds[i]), w,
                                             english=bool(english[i])).order, data.links[int(i)]) for i in rank_rows]
        tried[w] = _recall(ranks)
    w_bank = max(W_BANK, key=lambda w: (tried[w]["r1"], tried[w]["r3"], -w))
    report["ranking_by_bank_weight"] = {str(w): v for w, v in tried.items()}
    report["w_bank"] = w_bank
    clock("bank weight")

    # the answer decision: answerable or not, for every message that is not a crisis
    rows = np.flatnonzero(data.kind != "crisis")
    y = data.answerable.astype(int)
    text_oof, words_oof = np.zeros(len(data.entries)), np.zeros(len(data.entries))
    text_oof[rows] = out_of_fold(lambda x, t: Linear.fit(x, t, C["text"]), emb, y, data.folds, rows)
    texts = np.array(data.texts, dtype=object)
    words_oof[rows] = out_of_fold(lambda t, labels: NgramModel.fit(list(t), labels, C["words"]), texts, y, data.folds, rows)
    names = feature_names(encoders)
    x = np.zeros((len(data.entries), len(names)), dtype=np.float32)
    for i in rows:
        allowed = data.folds != data.folds[i]
        signal = bank.passage_signal(sims[i], allowed)
        r = searcher.rank(data.queries[i], signal, w_bank, english=bool(english[i]))
        x[i] = features(encoders, r.dense, r.word_match, sims[i], bank.answerable & allowed, bank.unanswerable & allowed,
                        float(signal[r.order[0]]), bool(english[i]), float(text_oof[i]), float(words_oof[i]))
    p = out_of_fold(lambda a, t: Linear.fit(a, t, C["decision"]), x, y, data.folds, rows)
    answer_at, unsure_at = _thresholds(p, y[rows].astype(bool))
    report["decision"] = _decision_report(p, y[rows].astype(bool), answer_at, unsure_at, lang[rows])
    report["decision_ablation"] = {
        label: _auc(out_of_fold(lambda a, t: Linear.fit(a, t, C["decision"]), x[:, keep], y, data.folds, rows), y[rows])
        for label, keep in _ablations(names).items()
    }

    clock("answer decision")
    # topics of unanswerable messages
    topic_rows = np.flatnonzero(data.unanswerable)
    topic = np.array([e.topic for e in data.entries])
    topic_oof = _oof_labels(lambda a, t: Linear.fit(a, t, C["topics"]), emb, topic, data.folds, topic_rows)
    report["topic_accuracy"] = round(float((topic_oof == topic[topic_rows]).mean()), 4)

    # crisis: every unit of every message; a crisis message's own danger sign as a unit too
    clock("topics")
    crisis, report["crisis"] = _crisis(data, served, signals)
    clock("crisis")

    decision = Decision(
        text=Linear.fit(emb[rows], y[rows], C["text"]),
        words=NgramModel.fit(list(texts[rows]), y[rows], C["words"]),
        model=Linear.fit(x[rows], y[rows], C["decision"]),
        answer_at=answer_at, unsure_at=unsure_at,
        topics=Linear.fit(emb[topic_rows], topic[topic_rows], C["topics"]), topic_at=TOPIC_AT,
    )
    learned = Learned(encoders=list(encoders), w_bank=w_bank, crisis=crisis,
                      language=Linear.fit(emb, lang, C["language"]), decision=decision, report=report)
    return learned, report


def _bank(data: BankData, vectors: dict[str, np.ndarray], n_chunks: int) -> Bank:
    from .matching import BankEntry

    entries = [BankEntry(question=e.question, kind=e.kind, batch=e.batch, lang=e.lang, topic=e.topic,
                         passages=tuple(data.links.get(i, ())), display=False) for i, e in enumerate(data.entries)]
    return Bank(entries, vectors, n_chunks)


def _crisis(data: BankData, served: list[np.ndarray], signals: dict[int, np.ndarray]) -> tuple[CrisisModel, dict]:
    """Fit the crisis reader and choose its threshold out of fold, for recall first.

    served[i]: the embeddings of message i's units as the server reads them (crisis.units: the whole
    message, then its sentences); signals[i]: a crisis message's own danger sign. A crisis message trains as
    its whole text and as its danger sign (its other sentences may be ordinary, so they do not train); every
    unit of every other message is a negative. Training some on their sign alone raised false crises
    (docs/decisions.md)."""
    rows: list[np.ndarray] = []
    texts: list[str] = []
    labels: list[int] = []
    owners: list[int] = []
    trained: list[bool] = []
    for i, embedded in enumerate(served):
        crisis = data.kind[i] == "crisis"
        parts = units(data.texts[i])
        for j, r in enumerate(embedded):
            rows.append(r)
            texts.append(parts[j])
            labels.append(int(crisis))
            owners.append(i)
            trained.append(not crisis or j == 0)
        if i in signals:
            rows.append(signals[i])
            texts.append(data.entries[i].signal)
            labels.append(1)
            owners.append(-1 - i)  # trains only; no message is read as its sign alone
            trained.append(True)
    x, y, owner, trains = np.array(rows), np.array(labels), np.array(owners), np.array(trained)
    folds = data.folds[np.where(owner >= 0, owner, -1 - owner)]

    def fit_(mask):
        chosen = [texts[k] for k in np.flatnonzero(mask)]
        return CrisisModel(Mlp.fit(x[mask], y[mask], *CRISIS_MLP), NgramModel.fit(chosen, y[mask], C["crisis_words"]), 0.0)

    unit_p = np.zeros(len(x))
    for f in range(FOLDS):
        model = fit_(trains & (folds != f))
        held = np.flatnonzero(folds == f)
        unit_p[held] = model.unit_scores([texts[k] for k in held], x[held])
    score = np.zeros(len(data.entries))
    read = owner >= 0
    np.maximum.at(score, owner[read], unit_p[read])
    floor = np.array([bool(FLOOR.search(t)) for t in data.texts])
    is_crisis = data.kind == "crisis"
    candidates = np.sort(score[is_crisis & ~floor])
    # the highest threshold keeping CRISIS_RECALL of crisis messages (the floor catches its own)
    needed = int(np.ceil(CRISIS_RECALL * is_crisis.sum())) - int((is_crisis & floor).sum())
    threshold = float(candidates[max(0, len(candidates) - needed)]) if needed > 0 else 1.0
    flagged = floor | (score >= threshold)
    langs = np.array([e.lang for e in data.entries])
    ordinary = (data.kind == "answerable") | (data.kind == "unanswerable")
    report = {
        "threshold": round(threshold, 4),
        "recall": round(float(flagged[is_crisis].mean()), 4),
        "recall_english": round(float(flagged[is_crisis & (langs == "en")].mean()), 4),
        "recall_spanish": round(float(flagged[is_crisis & (langs == "es")].mean()), 4),
        "recall_other_languages": round(float(flagged[is_crisis & ~np.isin(langs, ["en", "es"])].mean()), 4),
        "false_crisis_ordinary": round(float(flagged[ordinary].mean()), 4),
        "false_crisis_answerable": round(float(flagged[data.kind == "answerable"].mean()), 4),
        "false_crisis_near_crisis": round(float(flagged[data.kind == "near_crisis"].mean()), 4),
        "floor_alone_recall": round(float(floor[is_crisis].mean()), 4),
        "floor_alone_false_near_crisis": round(float(floor[data.kind == "near_crisis"].mean()), 4),
    }
    final = fit_(trains)
    final.threshold = threshold
    return final, report


def _oof_labels(fit_, x: np.ndarray, labels: np.ndarray, folds: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Each row's predicted label by a model fitted without its fold."""
    rows = np.arange(len(labels)) if rows is None else rows
    out = np.empty(len(rows), dtype=labels.dtype)
    for f in np.unique(folds[rows]):
        test = folds[rows] == f
        model = fit_(x[rows][~test], labels[rows][~test])
        out[test] = np.array(model.classes)[np.argmax(model.proba(x[rows][test]), axis=1)]
    return out


def _first_linked(order: np.ndarray, linked: list[int]) -> int | None:
    """1-based rank of the first passage that answers the message, within the first five."""
    for rank, pos in enumerate(order[:5].tolist(), 1):
        if pos in linked:
            return rank
    return None


def _recall(ranks: list[int | None]) -> dict:
    n = max(len(ranks), 1)
    return {"r1": round(sum(r == 1 for r in ranks) / n, 4), "r3": round(sum(r is not None and r <= 3 for r in ranks) / n, 4)}


def _thresholds(p: np.ndarray, answerable: np.ndarray) -> tuple[float, float]:
    """answer_at: the threshold with the most answerable messages answered plus unanswerable ones refused
    (Youden's J, out of fold); unsure_at: below it at most UNSURE_SHARE of answerable messages."""
    grid = np.unique(p)
    j = [(p[answerable] >= t).mean() + (p[~answerable] < t).mean() for t in grid]
    answer_at = float(grid[int(np.argmax(j))])
    unsure_at = float(min(answer_at, np.quantile(p[answerable], UNSURE_SHARE)))
    return answer_at, unsure_at


def _decision_report(p: np.ndarray, answerable: np.ndarray, answer_at: float, unsure_at: float, lang: np.ndarray) -> dict:
    def shares(mask):
        a, u = answerable & mask, ~answerable & mask
        return {"answerable_refused": round(float((p[a] < answer_at).mean()), 4) if a.any() else None,
                "answerable_without_suggestions": round(float((p[a] < unsure_at).mean()), 4) if a.any() else None,
                "unanswerable_refused": round(float((p[u] < answer_at).mean()), 4) if u.any() else None}

    return {"answer_at": round(answer_at, 4), "unsure_at": round(unsure_at, 4), "auc": _auc(p, answerable),
            **shares(np.ones(len(p), dtype=bool)), "by_language": {k: shares(lang == k) for k in ("en", "es", "other")}}


def _ablations(names: list[str]) -> dict[str, list[int]]:
    every = list(range(len(names)))
    bank = [i for i, n in enumerate(names) if n.startswith("bank_")]
    return {
        "all features": every,
        "without the bank similarities": [i for i in every if i not in bank],
        "without the text models": [i for i in every if names[i] not in ("text", "words")],
        "without word_match": [i for i in every if names[i] != "word_match"],
        "the ranking's cosines alone": [i for i, n in enumerate(names) if n.startswith("top_")],
    }


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve: the chance an answerable message outscores an unanswerable one."""
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(np.asarray(y, dtype=bool), p)), 4)


def learn(folder, settings, encoders: dict, caches: dict, docs, chunks, progress: bool = True) -> dict:
    """Learn the bank's decisions for the index being built in `folder` and write bank.jsonl,
    bank-<encoder>.npy and learned.json there; what the manifest records of it."""
    from .answer import Engine, prepare
    from .bank import BankError, bank_state, link, load_bank
    from .embedding import encoder_identity, token_encoder
    from .index import IndexUnavailable, load_folder
    from .matching import BankEntry
    from .safety import check_input
    from .search import question_tokens
    from .spelling import Speller

    try:
        entries = load_bank(settings.bank_dir)
    except BankError as err:
        raise IndexUnavailable(str(err)) from None
    kinds = {e.kind for e in entries}
    if not {"answerable", "unanswerable", "crisis"} <= kinds:
        raise IndexUnavailable(f"{settings.bank_dir}: the question bank needs answerable, unanswerable and crisis messages "
                               "to learn from; restore it from the repository.")
    links, broken = link(entries, {s.id: t for s, t in docs}, chunks)
    index = load_folder(folder, {"encoders": {k: encoder_identity(k) for k in encoders}}, settings, learned=False)
    searcher = Searcher(index, encoders, settings.search)
    speller = Speller(index.spelling["english"], index.spelling["sources"]) if settings.spelling and index.spelling else None
    texts = [prepare(check_input(e.question)[1] or e.question, speller)[1] for e in entries]
    started = time.perf_counter()
    primary = next(iter(encoders))
    if searcher.late:  # first: the primary's pass gives the question vectors too (kept in the cache)
        pooled = caches[f"{primary}-query"]

        def tokens_of(batch: list[str]) -> list[np.ndarray]:
            sentence, per_text = token_encoder(encoders[primary]).encode_tokens(batch)
            for text, v in zip(batch, sentence):
                pooled.put(text, v)
            return question_tokens(per_text)

        tokens = caches["query-tokens"].encode(encoders[primary], texts, compute=tokens_of)
    else:
        tokens = [None] * len(texts)
    vectors = _encode(encoders, caches, texts, progress, "Reading the question bank")
    queries = [Query(t, {k: v[i] for k, v in vectors.items()}, tokens[i]) for i, t in enumerate(texts)]
    # the crisis reader's units: each message's sentences when it has several, and a crisis message's sign
    parts = [units(t)[1:] for t in texts]
    signs = {i: e.signal for i, e in enumerate(entries) if e.kind == "crisis" and e.signal and e.signal != e.question}
    extra = sorted({u for p in parts for u in p} | set(signs.values()))
    extra_vectors = _encode(encoders, caches, extra, progress, "Reading its sentences")
    where = {u: j for j, u in enumerate(extra)}
    keys = list(encoders)
    whole = np.concatenate([vectors[k] for k in keys], axis=1)
    pieces = np.concatenate([extra_vectors[k] for k in keys], axis=1) if extra else np.zeros((0, whole.shape[1]), np.float32)
    served = [np.vstack([whole[i : i + 1], pieces[[where[u] for u in p]]]) if p else whole[i : i + 1] for i, p in enumerate(parts)]
    signals = {i: pieces[where[u]] for i, u in signs.items()}
    data = BankData(entries, texts, queries, links, grouped_folds([e.batch for e in entries]))
    encoding = round(time.perf_counter() - started, 2)
    learned, report = fit(data, searcher, vectors, served, signals, keys)
    report["seconds"] = {"encoding": encoding, **report["seconds"]}
    clock = Stopwatch(report)

    # which bank questions may be offered to users: written as a question a reader can be shown, and
    # answered by the bot with its own passage among the first three
    bank_entries = [BankEntry(question=e.question, kind=e.kind, batch=e.batch, lang=e.lang, topic=e.topic,
                              passages=tuple(links.get(i, ())), display=False) for i, e in enumerate(entries)]
    index.bank, index.learned = Bank(bank_entries, vectors, len(chunks)), learned
    engine = Engine(settings, index=index)
    offered = 0
    for i, e in enumerate(entries):
        if e.register == "formal" and i in links and e.kind == "answerable":
            result = engine.ask(e.question)
            own = chunks[links[i][0]]
            if result.status == "answered" and any((p.path, p.start) == (own.path, own.start) for p in result.passages):
                bank_entries[i].display = True
                offered += 1
    clock("offered questions checked")
    index.bank.save(folder)
    learned.save(folder)
    return {"files": bank_state(settings.bank_dir), "messages": len(entries), "linked": len(links),
            "broken_links": broken, "offered": offered, "w_bank": learned.w_bank, "figures": report}


def _encode(encoders: dict, caches: dict, texts: list[str], progress: bool, label: str) -> dict[str, np.ndarray]:
    """Each encoder's question vectors of the texts, through the build's cache."""
    from tqdm import tqdm

    out = {}
    with tqdm(total=len(texts) * len(encoders), desc=label, unit="text", disable=not progress) as bar:
        for key, enc in encoders.items():
            out[key] = caches[f"{key}-query"].encode(enc, texts, on_batch=bar.update,
                                                     compute=lambda batch, enc=enc: enc.encode(batch, query=True))
    return out


def report_text(r: dict) -> str:
    """The learned figures (grouped cross-validation on the bank, by batch) as a short table."""
    d, c = r["decision"], r["crisis"]
    pct = lambda x: "  n/a" if x is None else f"{x:5.2f}"  # noqa: E731
    lines = [
        f"question bank: {r['messages']} messages in {r['batches']} batches; {r['folds']}-fold cross-validation by batch",
        "",
        "crisis (a message scored by its highest sentence):",
        f"  recall                      {pct(c['recall'])}  (English {pct(c['recall_english'])}, Spanish {pct(c['recall_spanish'])}, "
        f"other languages {pct(c['recall_other_languages'])}; the phrase floor alone {pct(c['floor_alone_recall'])})",
        f"  false crisis, ordinary      {pct(c['false_crisis_ordinary'])}",
        f"  false crisis, near-crisis   {pct(c['false_crisis_near_crisis'])}",
        "",
        f"answer decision (AUC {d['auc']:.3f}; answer at p >= {d['answer_at']:.3f}, suggestions from {d['unsure_at']:.3f}):",
        f"  {'':12s} answerable refused   without suggestions   unanswerable refused",
    ]
    for label, row in (("all", d), *d["by_language"].items()):
        lines.append(f"  {label:12s} {pct(row['answerable_refused'])}                {pct(row['answerable_without_suggestions'])}"
                     f"                 {pct(row['unanswerable_refused'])}")
    lines += ["", "decision AUC by features used:"]
    lines += [f"  {label:32s} {auc:.3f}" for label, auc in r["decision_ablation"].items()]
    lines += ["", "ranking of the bank's answerable messages by the weight of the bank signal (R@1 / R@3):"]
    lines += [f"  {w:>4s}  {v['r1']:.2f} / {v['r3']:.2f}{'   <- chosen' if float(w) == r['w_bank'] else ''}"
              for w, v in r["ranking_by_bank_weight"].items()]
    lines += ["", f"language of a message: {r['language_accuracy']:.3f} right; topic of a refused one: {r['topic_accuracy']:.3f} right"]
    lines += ["", "seconds: " + ", ".join(f"{k} {v}" for k, v in r.get("seconds", {}).items())]
    return "\n".join(lines)
