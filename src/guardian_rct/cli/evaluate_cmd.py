"""``guardian-rct evaluate``: the milestone evaluation report (HTML + JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct.cli._common import (
    Output,
    UsageExit,
    add_common,
    add_config,
    config_from_args,
    date_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` verb."""
    parser = sub.add_parser(
        "evaluate",
        help="milestone evaluation: effects, inference, displacement, balance, flow (HTML + JSON)",
        description="Read crimes, build the hotspot-day panel, estimate the effect of patrols "
        "(intention to treat; CACE when compliance is known) with randomisation inference, and "
        "write milestone_report.html and milestone_report.json into --out.",
    )
    add_config(parser)
    parser.add_argument("--crimes", type=Path, required=True, metavar="FILE",
                        help="crime records (CSV or Parquet)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pings", type=Path, metavar="FILE", help="location pings to score for compliance")
    source.add_argument("--compliance", type=Path, metavar="FILE",
                        help="compliance per hotspot-day (date, hotspot_id, delivered, dosage_minutes, contaminated)")
    parser.add_argument("--allocation", type=Path, metavar="FILE",
                        help="allocation CSV made by another tool (default: schedules published in the trial store)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory for the report")
    parser.add_argument("--ri-draws", type=int, default=None, metavar="N",
                        help="randomisation-inference re-draws (default: [evaluation] ri_draws; 0 skips)")
    parser.add_argument("--look-date", type=date_arg, default=None, metavar="YYYY-MM-DD",
                        help="last experimental day to evaluate (default: the trial end or the last complete experimental day, whichever is earlier; today's unfinished day is never included)")
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct.jobs.milestone import evaluate

    if args.ri_draws is not None and args.ri_draws < 0:
        raise UsageExit("guardian-rct evaluate: --ri-draws must be 0 or more")
    config = config_from_args(args)
    result = evaluate(config, crimes_path=args.crimes, allocation=args.allocation, compliance=args.compliance,
                      pings_path=args.pings, out_dir=args.out, ri_draws=args.ri_draws, look_date=args.look_date)
    return Output(result.summary(), result.to_dict())
