"""The house rules of DESIGN.md §2, checked on the import graph (grimp, as import-linter uses).

The layers contract itself is run by ``lint-imports`` in the test command; these tests add
what a layers contract cannot say: no import cycle anywhere (module level or inside
functions), no module at the top level, one owner of the SQLite schema, and no store I/O in
``reports/`` or ``estimation/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "guardian_rct"


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("guardian_rct", cache_dir=None)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def _is_package_init(graph, module: str) -> bool:
    return (SRC.parent / module.replace(".", "/") / "__init__.py").exists()


def test_no_import_cycles_anywhere(graph):
    # A package's __init__ importing its own submodules is not a cycle of concepts;
    # everything else (including imports inside functions, which grimp sees) is.
    cycles = [c for c in _cycles(graph) if not all(_is_package_init(graph, m) or
                                                   any(m.startswith(o + ".") for o in c) for m in c)]
    assert cycles == [], f"import cycles: {cycles}"


def test_cycle_detector_finds_a_planted_cycle():
    class Fake:
        modules = {"a", "b", "c"}

        def find_modules_directly_imported_by(self, m):
            return {"a": {"b"}, "b": {"a"}, "c": set()}[m]

    assert _cycles(Fake()) == [["a", "b"]]


def test_no_module_at_the_top_level():
    flat = sorted(p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert flat == [], f"modules outside a stage subpackage: {flat}"


def test_one_module_owns_the_sqlite_schema():
    owners = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                    if re.search(r"CREATE\s+(TABLE|INDEX)", p.read_text()))
    assert owners == ["ledger/schema.py"]


@pytest.mark.parametrize("package", ["reports", "estimation"])
def test_reports_and_estimation_do_no_store_io(graph, package):
    """They may use the ledger's plain record types (``ledger.records``), nothing that
    opens the store; and neither imports sqlite3."""
    sources = [p for p in (SRC / package).rglob("*.py")]
    assert [p.name for p in sources if re.search(r"^\s*(import|from) sqlite3", p.read_text(), re.M)] == []
    offenders = sorted({
        m for m in graph.find_children(f"guardian_rct.{package}") | {f"guardian_rct.{package}"}
        for d in graph.find_modules_directly_imported_by(m)
        if d.startswith("guardian_rct.ledger") and d != "guardian_rct.ledger.records"
    })
    assert offenders == [], f"{package}/ must not touch the store: {offenders}"


def test_architecture_page_names_every_module():
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    modules = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py") and p.parent != SRC)
    missing = [m for m in modules if f"`{m}`" not in page]
    assert missing == [], f"docs/architecture.md does not describe: {missing}"
