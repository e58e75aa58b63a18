"""``guardian-rct simulate``: a synthetic trial (crimes, pings, truth) for an allocation."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geopandas import gpd

    from guardian_rct.design.allocation import Allocation


from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct.cli._common import (
    Output,
    add_allocation,
    add_common,
    add_config,
    add_csv_bom,
    allocation_from_args,
    config_from_args,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` verb."""
    parser = sub.add_parser(
        "simulate",
        help="write a synthetic trial (crimes, pings, truth) for an allocation",
        description="Simulate force crime records and officer location pings for the trial's "
        "hotspots and a published allocation, in the same file contracts real data use, and "
        "write the truth (effects, baselines, delivered patrols) beside them. Crimes are "
        "calibrated to West Midlands data.police.uk counts (OGL v3.0).",
    )
    add_config(parser)
    add_allocation(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into")
    parser.add_argument("--effect", type=float, default=0.8,
                        help="rate ratio of crime volume on a day with a delivered patrol (default %(default)s)")
    parser.add_argument("--harm-effect", type=float, default=None,
                        help="rate ratio of crime harm (default: the same as --effect)")
    parser.add_argument("--compliance", type=float, default=0.75,
                        help="share of scheduled patrols that arrive in time (default %(default)s)")
    parser.add_argument("--contamination", type=float, default=0.05,
                        help="share of control hotspot-days with a patrol visit (default %(default)s)")
    parser.add_argument("--residual", type=float, default=1.0,
                        help="rate ratio on the day after a patrol (residual deterrence; default none)")
    parser.add_argument("--displacement", type=float, default=1.0,
                        help="rate ratio in the buffer rings on patrol days (default 1: ring crimes are "
                        "simulated at their baseline rate, with no displacement or diffusion)")
    parser.add_argument("--rings", type=Path, default=None, metavar="FILE",
                        help="buffer rings (hotspot_id, ring, geometry); default: built from [hotspots] "
                        "buffer_rings_m, and crimes are simulated in them")
    parser.add_argument("--no-rings", action="store_true",
                        help="simulate crimes in the hotspots only (no buffer-ring crimes)")
    parser.add_argument("--future", action="store_true",
                        help="also simulate published days after the last complete experimental day; "
                        "allowed only for a simulated trial (days published with simulated=True)")
    parser.add_argument("--baseline-days", type=int, default=None,
                        help="pre-trial days to simulate (default: [evaluation] baseline_days)")
    parser.add_argument("--months", type=int, default=None,
                        help="simulate only the allocation's first N months")
    parser.add_argument("--rate-scale", type=float, default=1.0,
                        help="multiply the calibrated crime rates (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="root seed (default: the trial seed)")
    parser.add_argument("--pings-format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--latlon", action="store_true",
                        help="write WGS84 lat/lon instead of x/y in the trial CRS")
    parser.add_argument("--contamination-effect", action="store_true",
                        help="patrol visits on control days reduce crime too")
    parser.add_argument("--no-pings", action="store_true",
                        help="crimes only; every scheduled patrol then counts as delivered")
    add_csv_bom(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _first_months(allocation: Allocation, months: int) -> Allocation:
    import pandas as pd

    from guardian_rct.design.allocation import Allocation

    if months < 1:
        raise UsageError("--months must be at least 1", found=str(months), where="--months",
                         fix="give a whole number of months such as 6")
    first = min(allocation.frame["date"])
    stop = (pd.Timestamp(first) + pd.DateOffset(months=months)).date()
    frame = allocation.frame[allocation.frame["date"] < stop].reset_index(drop=True)
    return Allocation(frame, source=allocation.source)


def _rings(args: argparse.Namespace, config, hotspots) -> gpd.GeoDataFrame | None:
    import geopandas as gpd

    from guardian_rct.geo.rings import buffer_rings

    if args.rings is not None:
        if not args.rings.is_file():
            raise DataError("rings file not found", where=where(args.rings), fix="check the path given to --rings")
        rings = gpd.read_file(args.rings)
        if rings.crs is None:
            raise DataError("the rings file has no coordinate reference system", where=where(args.rings),
                            fix="save it with a CRS (e.g. EPSG:27700)")
        return rings.to_crs(hotspots.crs)
    if args.no_rings or not config.hotspots.buffer_rings_m:
        if args.displacement != 1.0:
            raise UsageError("displacement needs buffer rings", where="--displacement",
                             fix="give --rings FILE, set [hotspots] buffer_rings_m, or drop --no-rings")
        return None
    return buffer_rings(hotspots, list(config.hotspots.buffer_rings_m))


def _up_to_today(args: argparse.Namespace, config,
                 allocation: Allocation) -> tuple[Allocation, str | None, dt.datetime | None]:
    """Cut the allocation at the last complete experimental day, unless this is a simulated
    trial (every published day after it was published with ``simulated=True``) and
    ``--future`` asks for more. Data after today would be quarantined downstream as
    "time outside 1990..today", and would pretend to know the future.

    Also returns the end of the data for the pings: the end of the last complete day for a
    real trial (a late arrival for that day's patrol would be a ping from the future), or
    ``None`` (no cut) for a simulated one.
    """
    from guardian_rct._core.days import day_bounds, last_complete_day
    from guardian_rct.design.allocation import Allocation

    last = last_complete_day(config.trial.tz, config.trial.day_start_time)
    until = day_bounds(last, config.trial.tz, config.trial.day_start_time)[1]
    simulated = args.allocation is None and _simulated_trial(config, allocation)
    later = [d for d in allocation.days if d > last]
    if not later:
        return allocation, None, None if simulated else until
    if args.future and simulated:
        return allocation, None, None
    if args.future:
        raise UsageError("--future is for simulated trials only", where="--future",
                         found="days published as a real trial" if args.allocation is None else "an imported allocation",
                         fix="drop --future: a real trial is simulated up to the last complete day")
    if last < allocation.days[0]:
        raise UsageError("no experimental day of the trial is complete yet", found=f"last complete day {last}",
                         where="--config", fix=f"wait until {allocation.days[0]} has ended")
    frame = allocation.frame[allocation.frame["date"] <= last].reset_index(drop=True)
    note = (f"{len(later)} published day(s) after the last complete experimental day {last} were not "
            "simulated (a real trial gets no data from the future)")
    return Allocation(frame, source=allocation.source), note, None if simulated else until


def _simulated_trial(config, allocation: Allocation) -> bool:
    """Every published day of the allocation was published as a simulated trial."""
    from guardian_rct.ledger.publish import published
    from guardian_rct.ledger.records import SIMULATED_NOTE

    records = published(config, first=allocation.days[0], last=allocation.days[-1])
    return bool(records) and all(r.note == SIMULATED_NOTE for r in records)


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct.ledger.store import load_trial_hotspots
    from guardian_rct.simulation.writers import simulate_crimes, simulate_pings, write_simulation

    config = config_from_args(args)
    hotspots = load_trial_hotspots(config)
    allocation = allocation_from_args(args, config, hotspots)
    if args.months is not None:
        allocation = _first_months(allocation, args.months)
    allocation, cut_note, until = _up_to_today(args, config, allocation)
    baseline_days = config.evaluation.baseline_days if args.baseline_days is None else args.baseline_days
    harm_effect = args.effect if args.harm_effect is None else args.harm_effect
    rings = _rings(args, config, hotspots)
    pings = None
    if not args.no_pings:
        pings = simulate_pings(config, hotspots, allocation, compliance=args.compliance,
                               contamination=args.contamination, seed=args.seed, until=until)
    crimes = simulate_crimes(config, hotspots, allocation, effect_volume=args.effect, effect_harm=harm_effect,
                             residual_deterrence=args.residual, displacement=args.displacement, rings=rings,
                             seed=args.seed, baseline_days=baseline_days,
                             delivered=None if pings is None else pings.compliance, rate_scale=args.rate_scale,
                             contamination_has_effect=args.contamination_effect)
    written = write_simulation(args.out, crimes=crimes, pings=pings, tz=config.trial.timezone,
                               pings_format=args.pings_format, coords="latlon" if args.latlon else "xy",
                               crs=str(hotspots.crs.to_string()))
    lines = [f"simulated {len(allocation.days)} trial days ({allocation.days[0]} to {allocation.days[-1]}) "
             f"and {baseline_days} baseline days for {len(hotspots)} hotspots", crimes.summary()]
    if pings is not None:
        lines.append(pings.summary())
        if pings.truth["n_pings_after_until"]:
            lines.append(f"{pings.truth['n_pings_after_until']} pings after the end of the last complete day "
                         f"({pings.truth['pings_until']}) were not written: their patrols are pending")
    lines += [f"  {name}: {path}" for name, path in written.items()]
    if rings is None:
        lines.append("no buffer rings: no ring crimes were simulated")
    if cut_note:
        lines.append(cut_note)
    data = {"out": str(args.out), "files": {k: str(v) for k, v in written.items()},
            "crimes": {k: crimes.truth[k] for k in ("n_crimes", "effects", "itt_rate_ratio_count", "outcomes")},
            "pings": None if pings is None else {k: pings.truth[k] for k in
                                                  ("n_pings", "n_scheduled", "delivered_share", "n_contamination")},
            "rings": None if rings is None else sorted(set(rings["ring"].astype(str))),
            "last_day": allocation.days[-1].isoformat(), "note": cut_note,
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    return Output("\n".join(lines), data)
