"""The command line: build the index, ask questions, score a gold set. Errors are sentences, not tracebacks."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from .bank import BankError
from .config import DEFAULT_GOLD, Settings
from .corpus import CorpusError
from .index import IndexUnavailable

EPILOG = """\
examples:
  python -m retrieval build                 rebuild the index from corpus/
  python -m retrieval build --check         exit 0 if the index is current, 1 if stale or missing
  python -m retrieval build --rollback      serve the previous build again
  python -m retrieval add page.html --title "Ketamine aftercare" --publisher "Our clinic" --url https://...
  python -m retrieval add --faq our-questions.csv   the clinic's questions, each with the text of the documents that answers it
  python -m retrieval train                 learn again from the question bank and print the cross-validated figures
  python -m retrieval remove 005_1a2b3c4d5e6f7a8b
  python -m retrieval ask "can ketamine help with alcohol addiction?"
  python -m retrieval ask --json "is it safe while breastfeeding?"
  python -m retrieval ask --json --batch questions.jsonl   (lines of {"id": ..., "question": ...})
  python -m retrieval eval                  score the project's own gold set (tests/gold.jsonl)
  python -m retrieval eval ../shared/eval/dev.jsonl
  python -m retrieval bench --runs 100 --repeat 4   both profiles four times in turn; each run and the medians
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval",
        description="Answer questions about ketamine therapy with verbatim passages of the clinic's articles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build the index from corpus/ (offline)")
    mode = build_cmd.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="build nothing; exit 0 if current, 1 if stale or missing")
    mode.add_argument("--rollback", action="store_true", help="switch back to the previous build")
    add_cmd = sub.add_parser("add", help="add a .txt, .md or .html document to corpus/, or with --faq the clinic's own questions (then run build)")
    add_cmd.add_argument("file", type=Path)
    add_cmd.add_argument("--faq", action="store_true",
                    help='FILE holds questions and the verbatim text of the documents that answers each: JSON lines '
                         '{"question": ..., "answer": ..., "source": optional document id} or a CSV with those columns')
    add_cmd.add_argument("--title", help="shown with every quote from this document (required for a document)")
    add_cmd.add_argument("--publisher", default="")
    add_cmd.add_argument("--url", default="", help="link shown with quotes; leave out when unknown")
    remove_cmd = sub.add_parser("remove", help="take a document out of corpus/ (then run build)")
    remove_cmd.add_argument("id", help="the document's id in corpus/sources.json")
    ask_cmd = sub.add_parser("ask", help="answer one question, or a batch file with --batch")
    ask_cmd.add_argument("question", nargs="?", help="the question (quote it)")
    ask_cmd.add_argument("--json", action="store_true", help="print the result object as JSON")
    ask_cmd.add_argument("--batch", type=Path, metavar="FILE", help='JSON lines {"id": ..., "question": ...}; needs --json')
    eval_cmd = sub.add_parser("eval", help="score a gold file and print the figures")
    eval_cmd.add_argument("file", nargs="?", type=Path, default=DEFAULT_GOLD, help="gold JSONL (default: tests/gold.jsonl)")
    eval_cmd.add_argument("--misses", action="store_true", help="also list the items the pipeline got wrong")
    sub.add_parser("train", help="learn the decisions again from bank/ (a build) and print their grouped cross-validation figures")
    bench_cmd = sub.add_parser("bench", help="time and memory per profile; --scale N for search over N synthetic passages")
    bench_cmd.add_argument("--profiles", default="fast,best", help="comma-separated profiles (default: fast,best)")
    bench_cmd.add_argument("--runs", type=int, default=50, help="questions per figure (default 50)")
    bench_cmd.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run every profile N times, in turn, and print each run and the medians (default 1)")
    bench_cmd.add_argument("--no-server", action="store_true", help="skip the HTTP, start-up and memory figures")
    bench_cmd.add_argument("--scale", type=int, action="append", default=[], metavar="N",
                    help="also measure dense search over N synthetic passages (repeatable, e.g. 10000 100000 1000000)")
    args = parser.parse_args(argv)
    try:
        return {"build": _build, "ask": _ask, "eval": _eval, "add": _add, "remove": _remove, "bench": _bench,
                "train": _train}[args.command](args, Settings())
    except (CorpusError, IndexUnavailable, BankError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _build(args, settings: Settings) -> int:
    from .builder import build
    from .index import rollback, staleness

    if args.check:
        reason = staleness(settings)
        print(f"stale: {reason}" if reason else "index is current")
        return 1 if reason else 0
    if args.rollback:
        print(f"now serving build {rollback(settings.index_dir)}; `build --check` tells whether it matches the corpus")
        return 0
    from .embedding import load_encoders

    try:
        m = build(settings, load_encoders(settings.encoders, settings.models))
    except OSError as e:  # a full disk, a folder it may not write: the live index was not touched
        print(f"error: the index could not be written ({e}); the live index is unchanged", file=sys.stderr)
        return 2
    c, ch = m["counts"], m["changes"]
    for warning in m.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    models = ", ".join(f"{e['name']} ({e['version']}, {m['backends'][k]})" for k, e in m["encoders"].items())
    for name in ch["discarded_unfinished_builds"]:
        print(f"note: discarded {name}, left by a build that was interrupted; the live index was not affected")
    print(
        f"built {m['build_id']} in {m['build_seconds']} s: {c['documents']} documents, {c['chunks']} passages, "
        f"{c['sentences']} sentences; models {models}\n"
        f"documents added {len(ch['documents_added'])}, removed {len(ch['documents_removed'])}, "
        f"changed {len(ch['documents_changed'])}{' (sources.json changed)' if ch['manifest_changed'] else ''}; passages added {ch['passages_added']}, removed {ch['passages_removed']}, "
        f"unchanged {ch['passages_kept']}; texts embedded {ch['embeddings_computed']}, reused {ch['embeddings_reused']}\n"
        f"index: {settings.index_dir}"
    )
    return 0


def _add(args, settings: Settings) -> int:
    if args.faq:
        from .bank import add_faq

        added, where = add_faq(settings.bank_dir, settings.corpus_dir, args.file)
        print(f"added {added} questions to {where}; now run: python -m retrieval build")
        return 0
    if not args.title:
        print("error: --title is required for a document: it is shown with every quote from it", file=sys.stderr)
        return 2
    from .documents import add_document

    s = add_document(settings.corpus_dir, args.file, args.title, args.publisher, args.url)
    print(f"added {s.id} as {settings.corpus_dir / s.file} ({s.title}); now run: python -m retrieval build")
    return 0


def _remove(args, settings: Settings) -> int:
    from .documents import remove_document

    s = remove_document(settings.corpus_dir, args.id)
    print(f"removed {s.id} ({s.title}); now run: python -m retrieval build")
    return 0


def _train(args, settings: Settings) -> int:
    from .train import report_text

    code = _build(argparse.Namespace(check=False, rollback=False), settings)
    if code == 0:
        from .index import read_manifest

        print(report_text(read_manifest(settings.index_dir)["bank"]["figures"]))
    return code


def _ask(args, settings: Settings) -> int:
    from .answer import Engine

    if args.batch and not args.json:
        print("error: --batch prints JSON lines; add --json", file=sys.stderr)
        return 2
    if not args.batch and args.question is None:
        print('error: give a question, e.g. python -m retrieval ask "does ketamine cause nausea?"', file=sys.stderr)
        return 2
    if args.batch and not args.batch.is_file():
        print(f"error: {args.batch}: no such file", file=sys.stderr)
        return 2
    engine = Engine(settings)
    if args.batch:
        with open(args.batch, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    print(json.dumps(_batch_line(engine, line).to_json(), ensure_ascii=False), flush=True)
        return 0
    result = engine.ask(args.question)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=1) if args.json else format_result(result))
    return 0


def _batch_line(engine, line: str):
    """One batch input line → one result; a malformed line gets an `invalid` result, never a crash."""
    from .records import Result
    from .safety import MESSAGES

    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        return Result(question=line.rstrip("\n"), status="invalid", message='Each line must be JSON: {"id": ..., "question": "..."}.')
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        ident = item.get("id") if isinstance(item, dict) else None
        return Result(question=str(item.get("question", "") if isinstance(item, dict) else line.strip()),
                      status="invalid", message=MESSAGES["not_text"] + ' Each line needs a "question" string.', id=ident)
    return engine.ask(item["question"], id=item.get("id"))


def format_result(result) -> str:
    """The result as plain text for a terminal."""
    out = [f"[{result.status}]"]
    if result.message:
        out.append(textwrap.fill(result.message, 88))
    if result.searched_for:
        out.append(f"Searched for: “{result.searched_for}”")
    for i, p in enumerate(result.passages, 1):
        s = p.source
        attribution = " — ".join(x for x in (s["title"], s["publisher"], s["url"]) if x)
        out += ["", f"{i}. “{p.text}”", f"   Source: {attribution}  ({p.path} {p.start}–{p.end}, score {p.score})"]
        for other in p.also_in:
            out.append(f"   Also said in: {other['title']}")
    return "\n".join(out)


def _eval(args, settings: Settings) -> int:
    from .answer import Engine
    from .evaluate import report

    if not args.file.is_file():
        print(f"error: {args.file}: no such gold file", file=sys.stderr)
        return 2
    try:
        engine = Engine(settings)
        print(report(engine, args.file, verbose=args.misses))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _bench(args, settings: Settings) -> int:
    from .bench import run

    return run([p for p in args.profiles.split(",") if p], args.runs, not args.no_server, args.scale, args.repeat)
