"""The ``guardian-rct`` command line: a thin layer over the public API.

Each verb lives in its own module under ``guardian_rct.cli`` with a ``register``
function that adds its sub-parser; the handler calls one public function and returns a
:class:`Output` that is rendered as text or, with ``--json``, as JSON. Errors map to exit
codes in one place (:func:`main`): 0 success, 1 bad data or runtime failure, 2 bad usage
or config. Tracebacks are shown only with ``--debug`` (DESIGN.md rule 6).

Start-up is kept fast: the parser holds every verb's name and one-line help from
:data:`VERBS`, but imports a verb's module (and so pandas, geopandas, matplotlib ...)
only for the verb being run or asked about, and the verb modules import their heavy
dependencies inside the handler. ``guardian-rct --help`` therefore imports no data
library at all (measured by ``scripts/bench_cli.py``; checked by
``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from typing import NoReturn

from guardian_rct._core.errors import GuardianError, GuardianWarning
from guardian_rct._core.log import get_logger
from guardian_rct._core.output_options import csv_bom_scope
from guardian_rct._core.safe_write import protected_scope
from guardian_rct._core.version import __version__
from guardian_rct.cli._common import Output, UsageExit, configure_logging

__all__ = ["main", "run", "build_parser", "Output", "VERBS"]

# verb -> (module defining register(subparsers), the one-line help of the verb list).
# The help here must equal the help the module registers (tests/test_cli_startup.py).
VERBS: dict[str, tuple[str, str]] = {
    "new": ("guardian_rct.cli.new_cmd", "start a trial folder: a commented trial.toml and the hotspot file"),
    "init": ("guardian_rct.cli.init_cmd", "create the trial store and register the trial"),
    "demo": ("guardian_rct.cli.demo_cmd",
             "run every job on a synthetic six-month trial of the shipped West Midlands hotspots"),
    "hotspots": ("guardian_rct.cli.hotspots_cmd", "validate, summarise and build hotspot polygons"),
    "evaluate": ("guardian_rct.cli.evaluate_cmd",
                 "milestone evaluation: effects, inference, displacement, balance, flow (HTML + JSON)"),
    "panel": ("guardian_rct.cli.panel_cmd", "build the hotspot × day panel of crime counts and harm"),
    "simulate": ("guardian_rct.cli.simulate_cmd",
                 "write a synthetic trial (crimes, pings, truth) for an allocation"),
    "schedule": ("guardian_rct.cli.schedule_cmd",
                 "publish the day's patrol schedule and write officer tasking files"),
    "ledger": ("guardian_rct.cli.ledger_cmd",
               "verify the ledger of published schedules; export or import an allocation"),
    "compliance": ("guardian_rct.cli.compliance_cmd",
                   "score patrol compliance from location pings (or patrol logs) and write the weekly report"),
    "power": ("guardian_rct.cli.power_cmd",
              "power and minimum detectable effect by simulating trials through the real estimator"),
    "plan": ("guardian_rct.cli.plan_cmd",
             "write the statistical analysis plan (HTML, Markdown, JSON) or verify a copy"),
    "status": ("guardian_rct.cli.status_cmd",
               "the trial's health: registration, publishing, ledger, compliance, data, alerts"),
}


_LOG = get_logger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(2) itself
        raise UsageExit(f"{self.prog}: {message}")


def _chosen_verb(argv: Sequence[str]) -> str | None:
    """The verb named in ``argv`` (the first argument not starting with ``-``), if known."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    With ``argv``, only the verb it names is fully built (its module imported); every
    other verb is listed with its one-line help and no options. Without ``argv``, every
    verb is built (for documentation and tests).
    """
    parser = _Parser(
        prog="guardian-rct",
        description="Randomised controlled trials of police patrols in crime hotspots.",
        epilog="Exit codes: 0 success, 1 bad data or runtime failure, 2 bad usage or config.",
    )
    parser.add_argument("--version", action="version", version=f"guardian-rct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = _chosen_verb(argv) if argv is not None else None
    for verb, (module, help_text) in VERBS.items():
        if argv is None or verb == chosen:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(verb, help=help_text, add_help=False)
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
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        configure_logging(args)
        started = time.perf_counter()
        _LOG.info("guardian-rct %s started", " ".join(argv))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GuardianWarning)
            with protected_scope(), csv_bom_scope(False):
                output = args.handler(args)
        _LOG.info("guardian-rct %s finished in %.1f s (exit %d)", args.command,
                  time.perf_counter() - started, output.exit_code)
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
        _LOG.debug("exit %d: %s", exc.exit_code, exc)
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
        _LOG.debug("internal error", exc_info=True)
        _report(message, {"error": type(exc).__name__, "message": str(exc)}, as_json)
        return 1


def _report(message: str, data: dict, as_json: bool) -> None:
    print(message, file=sys.stderr)
    if as_json:
        print(json.dumps(data, indent=2, default=str))


def run() -> NoReturn:
    """Console-script entry point: :func:`main`, then :func:`exit_now` with its code."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` as the interpreter would, without its teardown.

    Python's own exit first waits for the program's threads (``threading._shutdown``:
    thread pools are told to stop and non-daemon threads joined), then runs the exit
    handlers (``atexit``: logging's flush and close among them) and flushes the standard
    streams, and then tears down every module and object one by one. After a week's
    scoring, with pandas, geopandas, numba and matplotlib loaded, that teardown alone took
    0.56-0.69 s (time from the command's end to the process's, four runs); nothing of
    the command's is in it, as every file it writes is closed by then. So this does the
    first three steps, in that order, and then ``os._exit``. Where the interpreter lacks
    those steps' functions (not CPython), it exits the ordinary way.
    """
    wait_for_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if wait_for_threads is None or run_exit_handlers is None:
        sys.exit(code)
    wait_for_threads()
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said on it
            pass
    os._exit(code)
