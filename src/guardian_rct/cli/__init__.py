"""The ``guardian-rct`` command line: a thin layer over the public API.

Each verb lives in its own module under ``guardian_rct.cli`` with a ``register``
function that adds its sub-parser; the handler calls one public function and returns a
:class:`Output` that is rendered as text or, with ``--json``, as JSON. Errors map to exit
codes in one place (:func:`main`): 0 success, 1 bad data or runtime failure, 2 bad usage
or config. Tracebacks are shown only with ``--debug`` (DESIGN.md rule 6).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from guardian_rct._core.errors import GuardianError, GuardianWarning
from guardian_rct._core.safe_write import protected_scope
from guardian_rct._core.version import __version__
from guardian_rct.cli._common import Output, UsageExit

__all__ = ["main", "run", "build_parser", "Output"]

# One module per verb group; each defines register(subparsers).
_COMMAND_MODULES = (
    "guardian_rct.cli.new_cmd",
    "guardian_rct.cli.init_cmd",
    "guardian_rct.cli.demo_cmd",
    "guardian_rct.cli.hotspots_cmd",
    "guardian_rct.cli.evaluate_cmd",
    "guardian_rct.cli.panel_cmd",
    "guardian_rct.cli.simulate_cmd",
    "guardian_rct.cli.schedule_cmd",
    "guardian_rct.cli.ledger_cmd",
    "guardian_rct.cli.compliance_cmd",
    "guardian_rct.cli.power_cmd",
    "guardian_rct.cli.plan_cmd",
    "guardian_rct.cli.status_cmd",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(2) itself
        raise UsageExit(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all verbs)."""
    parser = _Parser(
        prog="guardian-rct",
        description="Randomised controlled trials of police patrols in crime hotspots.",
        epilog="Exit codes: 0 success, 1 bad data or runtime failure, 2 bad usage or config.",
    )
    parser.add_argument("--version", action="version", version=f"guardian-rct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _render(output: Output, as_json: bool) -> None:
    if as_json:
        print(json.dumps(output.data, indent=2, default=str))
    elif output.text:
        print(output.text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    as_json = "--json" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GuardianWarning)
            with protected_scope():
                output = args.handler(args)
        for w in caught:
            if issubclass(w.category, GuardianWarning):
                print(f"warning: {w.message}", file=sys.stderr)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        _render(output, as_json)
        return output.exit_code
    except UsageExit as exc:
        _report(str(exc), {"error": "UsageError", "message": str(exc)}, as_json)
        return 2
    except GuardianError as exc:
        if debug:
            traceback.print_exc()
        _report(f"error: {exc}", exc.to_dict(), as_json)
        return exc.exit_code
    except BrokenPipeError:
        # The reader (e.g. `| head`) closed the pipe: not an error of ours. Point stdout
        # at devnull so that Python's exit-time flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected failure: say so plainly, trace with --debug
        if debug:
            traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)"
        _report(message, {"error": type(exc).__name__, "message": str(exc)}, as_json)
        return 1


def _report(message: str, data: dict, as_json: bool) -> None:
    print(message, file=sys.stderr)
    if as_json:
        print(json.dumps(data, indent=2, default=str))


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
