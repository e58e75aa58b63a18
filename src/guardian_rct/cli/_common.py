"""Pieces every verb module shares: the output type and the common options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardian_rct.config import TrialConfig, load_config

__all__ = ["Output", "UsageExit", "add_common", "add_config", "config_from_args"]


class UsageExit(Exception):
    """Bad command-line usage (exit code 2)."""


@dataclass(frozen=True)
class Output:
    """What a verb hands back: human text, JSON-ready data, and an exit code."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``--debug`` to a verb's parser."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def add_config(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--config trial.toml``."""
    parser.add_argument("--config", type=Path, required=required, metavar="TOML",
                        help="the trial config (trial.toml)")


def config_from_args(args: argparse.Namespace) -> TrialConfig:
    """Load and validate the config named by ``--config``."""
    return load_config(args.config)
