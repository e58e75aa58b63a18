"""The command line starts fast: building the parser imports no data library.

``guardian-rct --help`` and every verb's ``--help`` must not import pandas, geopandas,
matplotlib, numpy or ``importlib.metadata`` (each costs a large part of a second); each
check runs in a fresh interpreter so that nothing imported by other tests hides an import.
The timing itself is measured by ``scripts/bench_cli.py``, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from guardian_rct.cli import VERBS, build_parser

HEAVY = ("pandas", "geopandas", "matplotlib", "numpy", "shapely", "scipy", "pyproj", "importlib.metadata")

_PROBE = f"""
import contextlib, io, json, sys
from guardian_rct.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({{"code": code, "help": out.getvalue(),
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _probe(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _help(*argv: str) -> dict:
    # argparse's --help exits through SystemExit(0); catch it inside the probe instead
    probe = _PROBE.replace("    code = main(sys.argv[1:])",
                           "    try:\n        code = main(sys.argv[1:])\n    except SystemExit as e:\n"
                           "        code = e.code")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_top_level_help_lists_every_verb_without_heavy_imports():
    result = _help("--help")
    assert result["code"] == 0
    assert result["heavy"] == []
    for verb, (_, help_text) in VERBS.items():
        assert verb in result["help"]
        assert help_text.split()[0] in result["help"]


# verb groups carry the common options on each of their sub-verbs
_GROUPS = {"hotspots": ("validate", "summary", "rings", "build"), "ledger": ("verify", "export", "import")}
_CASES = [(v, s) for v in sorted(VERBS) for s in _GROUPS.get(v, (None,))]


@pytest.mark.parametrize(("verb", "sub"), _CASES)
def test_verb_help_imports_no_data_library(verb, sub):
    argv = [verb, *([sub] if sub else []), "--help"]
    result = _help(*argv)
    assert result["code"] == 0
    assert result["heavy"] == [], f"`guardian-rct {' '.join(argv)}` imported {result['heavy']}"
    for flag in ("--verbose", "--quiet", "--log-file"):
        assert flag in result["help"], f"{' '.join(argv)} lacks {flag}"


def test_the_verb_list_help_equals_each_modules_own_help():
    """VERBS repeats each verb's one-line help so that --help need not import the module;
    the full parser (every module imported) must say the same."""
    full = build_parser()
    sub = next(a for a in full._actions if a.__class__.__name__ == "_SubParsersAction")
    registered = {choice.dest: choice.help for choice in sub._choices_actions}
    assert registered == {verb: help_text for verb, (_, help_text) in VERBS.items()}


def test_default_crs_written_in_the_cli_matches_the_library():
    from guardian_rct.cli import hotspots_cmd
    from guardian_rct.geo.hotspots import DEFAULT_CRS

    assert hotspots_cmd.DEFAULT_CRS == DEFAULT_CRS


def test_literal_version_matches_the_installed_metadata():
    from importlib.metadata import PackageNotFoundError, version

    from guardian_rct._core.version import __version__

    try:
        installed = version("guardian-rct")
    except PackageNotFoundError:
        pytest.skip("guardian-rct is not installed (source tree only)")
    assert installed == __version__
