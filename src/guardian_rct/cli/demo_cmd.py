"""``guardian-rct demo``: a six-month synthetic trial on the shipped hotspots, end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guardian_rct.cli._common import (
    Output,
    add_common,
    add_csv_bom,
    add_large_tables,
    apply_csv_bom,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` verb."""
    parser = sub.add_parser(
        "demo",
        help="run every job on a synthetic six-month trial of the shipped West Midlands hotspots",
        description="Create a trial on the 57 shipped hotspots, publish six months of daily "
        "schedules, simulate six months of crimes and officers' pings (known effect, ~75% "
        "compliance), write the weekly compliance reports and the six-month milestone "
        "evaluation, and print where each report is with the headline numbers. Everything "
        "but the hotspot polygons is synthetic.",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the demo into")
    parser.add_argument("--seed", type=int, default=20231002, help="trial seed (default %(default)s)")
    parser.add_argument("--ri-draws", type=int, default=2000,
                        help="randomisation-inference redraws (default %(default)s)")
    parser.add_argument("--effect", type=float, default=0.8,
                        help="true rate ratio on a day with a delivered patrol (default %(default)s)")
    parser.add_argument("--compliance", type=float, default=0.75,
                        help="true share of patrols delivered within 24 h (default %(default)s)")
    parser.add_argument("--days", type=int, default=182,
                        help="trial days to publish, simulate and evaluate, 14 to 364 (default %(default)s, "
                             "six months; fewer for a quick look)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    add_csv_bom(parser)
    add_large_tables(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _fmt_effect(row: dict) -> str:
    pct = 100 * (row["irr"] - 1)
    return (f"{row['outcome']}: rate ratio {row['irr']:.3f} ({pct:+.1f}%), 95% CI "
            f"{_exp(row['conf_low']):.3f} to {_exp(row['conf_high']):.3f}, p = {row['p_value']:.3g}"
            + (f", randomisation p = {row['ri_p_value']:.3g}" if row.get("ri_p_value") is not None else ""))


def _exp(value: float) -> float:
    import math

    return math.exp(value)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct._core.errors import UsageError
    from guardian_rct.jobs.demo import run_demo

    if args.ri_draws < 0:
        raise UsageError("--ri-draws must not be negative", found=str(args.ri_draws), where="--ri-draws",
                         fix="use 0 to skip randomisation inference, or a positive number")
    for name in ("effect", "compliance"):
        value = getattr(args, name)
        if not (0 < value <= (1 if name == "compliance" else 10)):
            raise UsageError(f"--{name} out of range", found=str(value), where=f"--{name}",
                             fix="use a rate ratio above 0" if name == "effect" else "use a share in (0, 1]")
    apply_csv_bom(args)
    result = run_demo(args.out, seed=args.seed, ri_draws=args.ri_draws, effect=args.effect,
                      compliance=args.compliance, progress=None if (args.quiet or args.json) else sys.stderr,
                      overwrite=args.overwrite, days=args.days,
                      large_tables=args.large_tables or "parquet")
    h, f = result.headline, result.files
    lines = [f"demo finished in {result.seconds:.0f} s; everything in {result.out_dir}",
             "",
             f"daily tasking sheet (first day):  {f['tasking_sheet']}",
             f"weekly compliance reports ({h['weekly_reports']}):  {f['weekly_reports']}/<week>/",
             f"  latest:                          {f['latest_weekly_report']}",
             f"milestone evaluation ({args.days} days):{' ' * max(1, 5 - len(str(args.days)))}"
             f"{f['milestone_report']}",
             "",
             f"compliance: {h['compliance']:.1%} of scheduled patrols arrived within 24 h "
             f"(simulated truth: {h['true_delivered_share']:.1%} delivered)",
             "effect of assignment to patrol (ITT, Poisson with hotspot and day fixed effects):"]
    lines += [f"  {_fmt_effect(row)}" for row in h["effects"]]
    lines += [f"  simulated truth: rate ratio {h['true_itt_rate_ratio_count']:.3f} for volume, "
              f"{h['true_itt_rate_ratio_harm']:.3f} for harm (on treated hotspot-days)",
              f"ledger verified: {'yes' if h['ledger_verified'] else 'NO'}",
              "Everything except the hotspot polygons is simulated."]
    return Output("\n".join(lines), result.to_dict())
