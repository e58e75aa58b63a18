"""``guardian-rct status``: the trial's health on one screen (and an HTML page).

Exit codes: 0 whenever the store can be read, alerts or not (a failed ledger
verification is a critical alert; ``guardian-rct ledger verify`` exits 1 for cron
gating); 1 when the store is missing, unreadable or of another trial, or a data file
given cannot be read; 2 for bad usage or config.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import Output, add_common, add_config, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``status`` verb."""
    parser = sub.add_parser(
        "status", help="the trial's health: registration, publishing, ledger, compliance, data, alerts",
        description="One screen with the trial's health: registration (never the seed), days published "
        "and the horizon, a fresh ledger verification, the last complete compliance week, data "
        "freshness (with --pings/--crimes), alerts and the next milestone. Exits 0 whenever the "
        "store can be read (alerts included); 1 when it cannot.")
    add_config(parser)
    parser.add_argument("--pings", type=Path, default=None, metavar="FILE",
                        help="pings file (CSV/Parquet): last ping, and days with patrols but no pings")
    parser.add_argument("--crimes", type=Path, default=None, metavar="FILE",
                        help="crimes file (CSV/Parquet): time of the last crime")
    parser.add_argument("--html", type=Path, default=None, metavar="FILE", help="also write the status page here")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct._core.safe_write import protect
    from guardian_rct.jobs.status import trial_status

    config = config_from_args(args)
    protect({"the pings file": args.pings, "the crimes file": args.crimes})
    status = trial_status(config, pings=args.pings, crimes=args.crimes)
    data = status.to_dict()
    text = status.summary()
    if args.html is not None:
        from guardian_rct.reports.status import write_status_html

        path = write_status_html(data, args.html)
        data["html"] = str(path)
        text += f"\nwrote {path}"
    return Output(text, data)
