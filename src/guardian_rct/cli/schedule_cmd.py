"""``guardian-rct schedule``: publish the daily patrol schedule and write tasking outputs.

``--balance`` instead shows the balance of the published allocation so far.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import (
    Output,
    UsageExit,
    add_common,
    add_config,
    add_csv_bom,
    config_from_args,
    date_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``schedule`` verb."""
    parser = sub.add_parser(
        "schedule",
        help="publish the day's patrol schedule and write officer tasking files",
        description="Publish the schedule of --date (and the --days after it) in the trial "
        "ledger, or fetch it if already published, and write for each day an officer "
        "tasking CSV, XLSX, GeoJSON and printable HTML sheet listing only the hotspots to "
        "patrol. Days beyond the publishing horizon ([schedule] horizon_days) are refused. "
        "With --balance, show the balance of the published allocation instead.",
    )
    add_config(parser)
    parser.add_argument("--date", type=date_arg, metavar="YYYY-MM-DD", help="first experimental day")
    parser.add_argument("--days", type=int, default=1, metavar="N",
                        help="number of days to publish from --date (default 1)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="folder for the tasking files")
    parser.add_argument("--balance", action="store_true",
                        help="show each hotspot's share of treated days, by day of week and block")
    add_csv_bom(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    if args.balance:
        if args.date or args.out:
            raise UsageExit("schedule: --balance takes no --date or --out")
        from guardian_rct.ledger.published_balance import balance_summary

        result = balance_summary(config_from_args(args))
        return Output(result.summary(), result.to_dict())
    if args.date is None or args.out is None:
        raise UsageExit("schedule: give --date YYYY-MM-DD and --out DIR (or --balance)")
    if args.days < 1:
        raise UsageExit(f"schedule: --days must be at least 1, not {args.days}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageExit(f"schedule: --out {args.out} is a file; give a folder for the tasking files "
                        "(nothing was published)")
    from guardian_rct.jobs.daily import run_daily

    config = config_from_args(args)
    if args.days > config.trial.n_days:
        raise UsageExit(f"schedule: --days {args.days} is longer than the trial "
                        f"({config.trial.n_days} days)")
    result = run_daily(config, args.date, days=args.days, out_dir=args.out)
    return Output(result.summary(), result.to_dict())
