"""``guardian-rct power``: simulated power and minimum detectable effect for the trial's design."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guardian_rct.cli._common import (
    Output,
    UsageExit,
    add_common,
    add_config,
    add_csv_bom,
    config_from_args,
)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole days: {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``power`` verb."""
    parser = sub.add_parser(
        "power",
        help="power and minimum detectable effect by simulating trials through the real estimator",
        description="Simulate the trial many times (allocations from its own design, gamma-Poisson "
        "crime counts at each hotspot's baseline rate, patrols delivered with the given compliance), "
        "fit the evaluation's Poisson fixed-effects model to each, and report the power for each "
        "effect and trial length, with its Monte Carlo error, and the minimum detectable effect at "
        "80% power. Writes power_grid.csv, power_mde.csv, power.json and power.png into --out.",
    )
    add_config(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--crimes", type=Path, metavar="FILE",
                        help="crimes file (force records or a data.police.uk street CSV) giving each "
                        "hotspot's baseline rate over the period it covers")
    source.add_argument("--rate", type=float, metavar="R", help="the same crimes per hotspot-day in every hotspot")
    parser.add_argument("--outcome", default=None,
                        help="outcome whose crimes are counted (default: [evaluation] primary_outcome)")
    parser.add_argument("--effects", type=_floats, default=[0.7, 0.8, 0.9], metavar="LIST",
                        help="rate ratios of a delivered patrol, e.g. 0.7,0.8,0.9 (1 = none; default %(default)s)")
    parser.add_argument("--days", type=_ints, default=None, metavar="LIST",
                        help="trial lengths in days, e.g. 90,182,365 (default: days to each milestone and the full trial)")
    parser.add_argument("--compliance", type=float, default=0.75,
                        help="share of scheduled patrols delivered (default %(default)s)")
    parser.add_argument("--overdispersion", type=float, default=None, metavar="A",
                        help="negative-binomial alpha per hotspot-day (0 = Poisson; default: the simulator's "
                        "West Midlands calibration)")
    parser.add_argument("--sims", type=int, default=200, help="simulated trials per grid point (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=None, help="two-sided test level (default: [evaluation] alpha)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the trial seed)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the CSV, JSON and PNG")
    add_csv_bom(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct.ledger.store import load_trial_hotspots
    from guardian_rct.simulation.power_inputs import baseline_rates_from_crimes, constant_rates
    from guardian_rct.simulation.power_sim import power_analysis

    if args.sims < 1:
        raise UsageExit("guardian-rct power: --sims must be positive")
    config = config_from_args(args)
    hotspots = load_trial_hotspots(config)
    if args.rate is not None:
        rates = constant_rates(args.rate, hotspots)
    else:
        outcome = args.outcome or config.evaluation.primary_outcome or config.evaluation.outcomes[0]
        rates = baseline_rates_from_crimes(args.crimes, config, hotspots, outcome=outcome)
    result = power_analysis(config, hotspots, rates, effects=args.effects, days=args.days,
                            compliance=args.compliance, sims=args.sims, alpha=args.alpha,
                            overdispersion=args.overdispersion, seed=args.seed,
                            progress=None if args.quiet or args.json else sys.stderr)
    paths = result.write(args.out)
    text = result.summary() + "\n" + "\n".join(f"  {k}: {v}" for k, v in paths.items())
    data = result.to_dict()
    data["files"] = {k: str(v) for k, v in paths.items()}
    return Output(text, data)
