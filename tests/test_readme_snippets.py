"""Every fenced bash and python block in README.md runs, unless the line before it is an
explicit ``<!-- not-run: reason -->`` comment (kept for the few that truly cannot run in a
test: the test suite itself, a running Dask cluster, another tool's allocation, minutes of
CPU). A block whose full run is too long for a test says so in the README with
``<!-- run-as: COMMAND (reason) -->``: the test runs COMMAND instead, which must start with
the block's own last command (after any ``&&``), so the shortened run only adds options.

The runnable bash blocks are joined into one script (``set -euo pipefail``) run once in a
temporary folder with the repository's ``geodata`` beside it and the venv's
``guardian-rct`` first on PATH; then each python block runs in a fresh namespace in the
same folder (``>>>`` blocks as doctests), so a python block may use the trial the
walk-through made.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!--\s*not-run:\s*(.+?)\s*-->\s*$")
_RUN_AS = re.compile(r"<!--\s*run-as:\s*(.+?)\s+\((.+)\)\s*-->\s*$")


def readme_blocks() -> list[tuple[str, str, str | None, int]]:
    """(language, code as the test runs it, not-run reason or None, line) of every fenced block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for m in _FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").splitlines()
        mark = _MARK.search(before[-1]) if before else None
        code = m.group(2)
        run_as = _RUN_AS.search(before[-1]) if before else None
        if run_as:
            own = code.strip().splitlines()[-1].split("&&")[-1].strip()
            assert run_as.group(1).startswith(own), f"README.md line {len(before)}: run-as must extend {own!r}"
            code = run_as.group(1) + "\n"
        blocks.append((m.group(1), code, mark.group(1) if mark else None, len(before) + 1))
    return blocks


def test_every_skipped_block_says_why_and_the_walkthrough_runs():
    blocks = [b for b in readme_blocks() if b[0] in ("bash", "python")]
    assert blocks, "no fenced blocks found in README.md"
    assert all(reason.strip() for _, _, reason, _ in blocks if reason is not None)
    run = [b for b in blocks if b[2] is None]
    assert any("guardian-rct status" in code for lang, code, _, _ in run if lang == "bash")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    (folder / "geodata").symlink_to(ROOT / "geodata")
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)  # README commands say .venv/bin/
    bash = [code for lang, code, reason, _ in readme_blocks() if lang == "bash" and reason is None]
    script = "set -euo pipefail\n" + "\n".join(bash)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"README bash blocks failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return folder, proc.stdout


def test_bash_blocks_run(workdir):
    folder, out = workdir
    assert (folder / "mytrial" / "status.html").is_file()
    assert "ledger       OK:" in out and "milestone report written" in out
    assert (folder / "demo-out" / "milestone" / "milestone_report.html").is_file()
    assert "57 hotspots cover 1.40% of the force area, 23.7% of violence and 24.0% of harm" in out
    assert "identical to the shipped hotspots" in out
    assert list((folder / "mytrial" / "reports").glob("*-W*/weekly_compliance.html"))
    assert (folder / "mytrial" / "allocation.csv").is_file()
    assert json.loads((folder / "mytrial" / "panel-from-file.json").read_text())
    assert list((folder / "mytrial" / "power").iterdir()) and list((folder / "mytrial" / "power-rate").iterdir())


def test_not_run_blocks_are_few():
    """The issue asks for every README snippet to run; only what cannot run in CI may not."""
    blocks = [b for b in readme_blocks() if b[0] in ("bash", "python")]
    assert sum(1 for b in blocks if b[2] is not None) <= 4


@pytest.mark.parametrize("block", [b for b in readme_blocks() if b[0] == "python" and b[2] is None],
                         ids=lambda b: f"line{b[3]}")
def test_python_block_runs(block, workdir, monkeypatch):
    folder, _ = workdir
    monkeypatch.chdir(folder)
    _, code, _, line = block
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, {}, f"README.md:{line}", "README.md", line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.failures == 0, f"README.md line {line}: doctest failed"
    else:
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
