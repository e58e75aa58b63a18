"""Rewrite the "Every module" section of docs/architecture.md from the modules' docstrings.

Usage: ``python scripts/architecture_modules.py`` after adding, moving or renaming a
module (tests/test_architecture.py fails until the page names every module).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "guardian_rct"
PAGE = ROOT / "docs" / "architecture.md"
HEADING = "## Every module\n"
ORDER = ["_core", "config", "geo", "harm", "design", "ledger", "compliance", "crimes",
         "estimation", "simulation", "reports", "jobs", "cli"]


def module_lines() -> list[str]:
    """One Markdown bullet per module, grouped by stage, bottom stage first."""
    lines: list[str] = []
    for package in ORDER:
        lines.append(f"### `{package}/`\n")
        for path in sorted((SRC / package).glob("*.py")):
            if path.name in ("__init__.py", "__main__.py"):
                continue
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            first = " ".join(doc.split("\n\n")[0].split())
            lines.append(f"- `{package}/{path.name}`: {first}")
        lines.append("")
    return lines


def main() -> None:
    text = PAGE.read_text(encoding="utf-8")
    head = text[: text.index(HEADING) + len(HEADING)]
    PAGE.write_text(head + "\n" + "\n".join(module_lines()), encoding="utf-8")


if __name__ == "__main__":
    main()
