#!/usr/bin/env python
"""Cron-ready weekly compliance run: report the last complete ISO week.

Finds the pings for the week in --pings-dir (``<week>.parquet``, ``<week>.csv`` or a
folder ``<week>/`` of partitions, e.g. ``2023-W18.parquet``), writes the report into
``--out-root/<week>/`` and exits with the command's exit code (0 success, 1 bad data or
runtime failure, 2 bad usage or config), so cron or a scheduler can alert on failure.
Every other option is passed through to ``guardian-rct compliance``. ``--log FILE``
appends one line per outcome (unexpected errors included, then the ledger head);
``--debug`` adds tracebacks.

Example crontab line (Mondays 07:00, after the experimental week ended at 06:00):

    0 7 * * 1  /opt/guardian/venv/bin/python /opt/guardian/scripts/weekly_compliance.py \\
        --config /srv/trial/trial.toml --pings-dir /srv/trial/pings --out-root /srv/trial/reports
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from guardian_rct.cli import main as cli_main  # noqa: E402
from guardian_rct.config.trial_config import load_config  # noqa: E402
from guardian_rct.jobs.cron import cron_logger, run_logged  # noqa: E402


def last_complete_week(now: dt.datetime, tz: ZoneInfo, day_starts: dt.time) -> str:
    """ISO week whose last experimental day (Sunday, ending Monday at day_starts) is over."""
    local = now.astimezone(tz)
    today = local.date() if local.time() >= day_starts else local.date() - dt.timedelta(days=1)
    # ``today`` is the current experimental day; the last finished Sunday is before it.
    sunday = today - dt.timedelta(days=(today.weekday() + 1) % 7 or 7)
    year, week, _ = sunday.isocalendar()
    return f"{year}-W{week:02d}"


def find_pings(folder: Path, week: str) -> Path | None:
    for candidate in (folder / f"{week}.parquet", folder / f"{week}.csv", folder / week):
        if candidate.exists():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--pings-dir", type=Path, required=True)
    parser.add_argument("--out-root", type=Path, required=True)
    parser.add_argument("--week", help="report this ISO week instead of the last complete one")
    parser.add_argument("--log", type=Path, default=None, help="append the log here (default stderr)")
    args, passthrough = parser.parse_known_args(argv)
    log = cron_logger("weekly_compliance", args.log)
    return run_logged(log, lambda: _run(args, passthrough, log), debug="--debug" in passthrough,
                      config_path=args.config)


def _run(args: argparse.Namespace, passthrough: list[str], log) -> int:
    config = load_config(args.config)
    week = args.week or last_complete_week(dt.datetime.now(dt.UTC), config.trial.tz, config.trial.day_start_time)
    pings = find_pings(args.pings_dir, week)
    if pings is None:
        log.error("no pings for %s in %s (expected %s.parquet, %s.csv or a folder %s/)",
                  week, args.pings_dir, week, week, week)
        return 1
    out = args.out_root / week
    log.info("weekly compliance %s: pings %s -> %s", week, pings, out)
    code = cli_main(["compliance", "--config", str(args.config), "--pings", str(pings), "--week", week,
                     "--out", str(out), *passthrough])
    if code == 0:
        log.info("weekly compliance %s written to %s", week, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
