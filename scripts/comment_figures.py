"""How many comment and docstring lines of the code hold a measurement (a figure with a decimal, a unit,
a percentage or a before -> after arrow): figures belong in eval/bench output and docs/decisions.md.

    python scripts/comment_figures.py [FOLDER]     # FOLDER holds retrieval/ and app.py (default: this project)
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from pathlib import Path

FIGURE = re.compile(r"(?<![\w.])\d+\.\d+(?!\.\d)|(?<![\w.])\d+\s?(?:ms|s|µs|us|MB|GB|KB|%|x)\b|\d\s?(?:->|→)|(?:->|→)\s?\d")


def text_lines(path: Path) -> list[str]:
    """The file's comment lines and docstring lines."""
    source = path.read_text(encoding="utf-8")
    lines = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                lines += doc.splitlines()
    return [line for line in lines if line.strip()]


def main(root: Path) -> None:
    files = sorted((root / "retrieval").glob("*.py")) + [root / "app.py"]
    lines = [line for f in files for line in text_lines(f)]
    with_figures = [line for line in lines if FIGURE.search(line)]
    print(f"{len(with_figures)} of {len(lines)} comment and docstring lines hold figures "
          f"({100 * len(with_figures) / max(len(lines), 1):.1f}%)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
