"""Pieces every verb module shares: the output type and the common options."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardian_rct._core.safe_write import protect
from guardian_rct.config.trial_config import TrialConfig, load_config
from guardian_rct.design.allocation import Allocation, read_allocation_csv
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["Output", "UsageExit", "add_common", "add_config", "config_from_args", "protect_trial_files", "add_allocation",
           "allocation_from_args", "date_arg"]


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
    """Add ``--json`` and ``--debug`` to a verb's parser."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def add_config(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--config trial.toml``."""
    parser.add_argument("--config", type=Path, required=required, metavar="TOML",
                        help="the trial config (trial.toml)")


def config_from_args(args: argparse.Namespace) -> TrialConfig:
    """Load and validate the config named by ``--config``; its files become write-protected."""
    config = load_config(args.config)
    protect_trial_files(config)
    return config


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
    if getattr(args, "allocation", None) is not None:
        return read_allocation_csv(args.allocation, hotspot_ids=hotspots.ids,
                                   first_day=config.trial.start_date, last_day=config.trial.end_date)
    from guardian_rct.ledger.publish import published_allocation
    from guardian_rct.ledger.store import open_trial

    open_trial(config, hotspots=hotspots)
    return published_allocation(config, first=first, last=last, hotspots=hotspots)
