"""Shared pieces of the adversarial corpus: a registered trial, a clock, the CLI in-process."""

import datetime as dt
from pathlib import Path

from conftest import make_hotspots, write_trial
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import init_trial

NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)  # experimental day 2023-03-20
START = dt.date(2023, 3, 20)

__all__ = ["NOW", "START", "make_hotspots", "write_trial", "trial", "cli"]


def trial(tmp_path: Path, **kwargs):
    """A registered trial (six hotspots in two blocks, three treated a day)."""
    cfg = load_config(write_trial(tmp_path, **kwargs))
    init_trial(cfg)
    return cfg


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in-process: (exit code, stderr + stdout)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.err + out.out
