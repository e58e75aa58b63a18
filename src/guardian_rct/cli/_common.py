"""Pieces every verb module shares: the output type and the common options.

This module is imported to build the parser, so it imports nothing heavy at import time
(no pandas, geopandas or matplotlib): the config, allocation and store modules are
imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardian_rct._core.safe_write import protect

if TYPE_CHECKING:
    from guardian_rct.config.trial_config import TrialConfig
    from guardian_rct.design.allocation import Allocation
    from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["Output", "UsageExit", "add_common", "add_config", "config_from_args", "protect_trial_files",
           "add_allocation", "allocation_from_args", "date_arg", "configure_logging", "add_csv_bom",
           "apply_csv_bom", "add_large_tables", "with_large_tables", "import_in_background"]


class UsageExit(Exception):
    """Bad command-line usage (exit code 2)."""


@dataclass(frozen=True)
class Output:
    """What a verb hands back: human text, JSON-ready data, and an exit code."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0


def date_arg(text: str) -> dt.date:
    """``argparse`` type for a calendar date, with a message that says the format."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``, ``--debug``, ``-v/--verbose``, ``-q/--quiet`` and ``--log-file``."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="count", default=0,
                      help="say more on stderr (-v: what each step does; -vv: debug detail)")
    loud.add_argument("-q", "--quiet", action="store_true",
                      help="only errors on stderr; no progress bars")
    parser.add_argument("--log-file", type=Path, default=None, metavar="FILE",
                        help="also append every log message, with timestamps, to FILE")


def configure_logging(args: argparse.Namespace) -> None:
    """Set up logging and progress bars from the common options of a parsed command line.

    ``--json`` implies no progress bars (a machine is reading); messages still go to stderr.
    """
    from guardian_rct._core.log import configure, set_progress

    configure(getattr(args, "verbose", 0) or 0, quiet=bool(getattr(args, "quiet", False)),
              log_file=getattr(args, "log_file", None))
    if getattr(args, "json", False):
        set_progress(False)


def add_csv_bom(parser: argparse.ArgumentParser) -> None:
    """Add ``--csv-bom`` (to verbs that write CSV files)."""
    parser.add_argument("--csv-bom", action="store_true",
                        help="start every CSV written with a UTF-8 byte-order mark, so that Excel and "
                             "Power BI read accented names correctly (config: [outputs] csv_bom)")


def apply_csv_bom(args: argparse.Namespace, config: TrialConfig | None = None) -> None:
    """For the rest of this command, CSVs carry a BOM if ``--csv-bom`` or ``[outputs] csv_bom``."""
    from guardian_rct._core.output_options import set_csv_bom

    set_csv_bom(bool(getattr(args, "csv_bom", False)) or bool(config is not None and config.outputs.csv_bom))


def add_large_tables(parser: argparse.ArgumentParser) -> None:
    """Add ``--large-tables`` (to verbs that write the row-level visits and quarantine tables)."""
    parser.add_argument("--large-tables", choices=("parquet", "csv", "both"), default=None,
                        help="format of the visits and quarantine tables for this command: parquet, csv or "
                             "both (config: [outputs] large_tables, default parquet)")


def with_large_tables(args: argparse.Namespace, config: TrialConfig) -> TrialConfig:
    """``config`` with ``[outputs] large_tables`` replaced by ``--large-tables`` when given."""
    import dataclasses

    chosen = getattr(args, "large_tables", None)
    if chosen is None:
        return config
    return dataclasses.replace(config, outputs=dataclasses.replace(config.outputs, large_tables=chosen))


def add_config(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--config trial.toml``."""
    parser.add_argument("--config", type=Path, required=required, metavar="TOML",
                        help="the trial config (trial.toml)")


def config_from_args(args: argparse.Namespace) -> TrialConfig:
    """Load and validate the config named by ``--config``; its files become write-protected."""
    from guardian_rct.config.trial_config import load_config

    config = load_config(args.config)
    protect_trial_files(config)
    apply_csv_bom(args, config)
    return with_large_tables(args, config)


def protect_trial_files(config: TrialConfig) -> None:
    """No output of this command may replace the store, the hotspot file or the config
    (:mod:`guardian_rct._core.safe_write`)."""
    protect({"the trial store": config.trial.store, "the registered hotspot file": config.hotspots.path,
             "the trial config": config.source, "the force boundary": config.hotspots.boundary})


def add_allocation(parser: argparse.ArgumentParser) -> None:
    """Add ``--allocation FILE`` (default: the schedules published in the trial store)."""
    parser.add_argument("--allocation", type=Path, metavar="CSV", default=None,
                        help="allocation CSV (date, hotspot_id, arm, window_start, window_end), e.g. "
                        "made by another tool; default: the schedules published in the trial store")


def allocation_from_args(args: argparse.Namespace, config: TrialConfig, hotspots: HotspotSet, *,
                         first: dt.date | None = None, last: dt.date | None = None) -> Allocation:
    """The allocation named by ``--allocation``, or the one published in the trial store.

    An imported file is checked against the trial's hotspots and dates; the store is
    checked to hold this trial before it is read, and only days ``first..last`` are read
    from it.
    """
    from guardian_rct.design.allocation import read_allocation_csv

    if getattr(args, "allocation", None) is not None:
        return read_allocation_csv(args.allocation, hotspot_ids=hotspots.ids,
                                   first_day=config.trial.start_date, last_day=config.trial.end_date)
    from guardian_rct.ledger.publish import published_allocation
    from guardian_rct.ledger.store import open_trial

    open_trial(config, hotspots=hotspots)
    return published_allocation(config, first=first, last=last, hotspots=hotspots)


def import_in_background(*modules: str) -> Callable[[], None]:
    """Start importing ``modules`` in a thread; call the function returned before using them.

    A verb whose middle is long and mostly outside the interpreter (``compliance``: the
    pings are read, checked and assigned in worker threads that release the GIL for most
    of their time, while the main thread waits) imports the modules it needs only at its
    end (the report: matplotlib, Jinja, about 0.3 s) during that wait instead of before
    it. The function returned waits for the imports and raises what an import raised,
    so an error surfaces where the module is needed, as an inline import's would. The
    thread is not a daemon: it is never cut off halfway through an import at exit.
    """
    failure: list[BaseException] = []

    def work() -> None:
        try:
            for name in modules:
                importlib.import_module(name)
        except BaseException as exc:  # re-raised in the caller's thread by wait()
            failure.append(exc)

    thread = threading.Thread(target=work, name="background-imports")
    thread.start()

    def wait() -> None:
        thread.join()
        if failure:
            raise failure[0]

    return wait
