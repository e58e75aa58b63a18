#!/usr/bin/env python3
"""Cron-ready daily schedule: publish today's patrol schedule and write the tasking files.

Run it every morning (after the experimental day starts), e.g. in crontab::

    15 6 * * *  /opt/guardian/.venv/bin/python /opt/guardian/scripts/daily_schedule.py \\
                 --config /srv/trial/trial.toml --out /srv/trial/tasking --log /srv/trial/daily.log

It works out today's experimental day in the trial's time zone, publishes it (and the
next ``--days - 1`` days, within the publishing horizon) or fetches it if already
published, writes the officer tasking CSV/XLSX/GeoJSON/HTML into ``--out``, and appends
one line per day plus the ledger head hash to the log. Running it twice is harmless:
published schedules are never redrawn. Before the trial starts or after it ends it logs
that and exits 0. Exit codes: 0 done, 1 data/store failure, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from guardian_rct._core.days import experimental_day  # noqa: E402
from guardian_rct.config.trial_config import load_config  # noqa: E402
from guardian_rct.jobs.cron import cron_logger, run_logged  # noqa: E402
from guardian_rct.jobs.daily import run_daily  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="trial.toml")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tasking files")
    parser.add_argument("--days", type=int, default=1,
                        help="days to publish from today (default 1; capped at the publishing "
                        "horizon and the trial's end)")
    parser.add_argument("--log", type=Path, default=None, help="append the log here (default stderr)")
    parser.add_argument("--debug", action="store_true", help="log tracebacks of unexpected errors")
    args = parser.parse_args(argv)
    log = cron_logger("daily_schedule", args.log)
    return run_logged(log, lambda: _run(args, log), debug=args.debug, config_path=args.config)


def _run(args: argparse.Namespace, log) -> int:
    if args.out.exists() and not args.out.is_dir():
        log.error("--out %s is a file; give a folder for the tasking files (nothing was published)",
                  args.out)
        return 2
    config = load_config(args.config)
    now = dt.datetime.now(dt.UTC)
    today = experimental_day(now, config.trial.tz, config.trial.day_start_time)
    trial = config.trial
    if today < trial.start_date or today > trial.end_date:
        log.info("today's experimental day %s is outside the trial (%s to %s); nothing to do",
                 today, trial.start_date, trial.end_date)
        return 0
    days = min(max(args.days, 1), (trial.end_date - today).days + 1,
               config.schedule.horizon_days + 1)
    result = run_daily(config, today, days=days, out_dir=args.out, now=now)
    for out in result.outputs:
        status = "published" if out.day in result.new_days else "already published, unchanged"
        log.info("%s %s: %d hotspots to patrol; files %s.*", out.day, status, out.treated,
                 out.csv.with_suffix(""))
    log.info("ledger head %s", result.head_hash)
    return 0


if __name__ == "__main__":
    sys.exit(main())
