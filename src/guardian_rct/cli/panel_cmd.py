"""``guardian-rct panel``: build the hotspot × experimental-day panel from crime records."""

from __future__ import annotations

import argparse
from pathlib import Path

from guardian_rct._core.errors import UsageError
from guardian_rct._core.wording import count_of, outcome_label
from guardian_rct.cli._common import (
    Output,
    add_allocation,
    add_common,
    add_config,
    add_csv_bom,
    allocation_from_args,
    config_from_args,
    date_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``panel`` verb."""
    parser = sub.add_parser(
        "panel",
        help="build the hotspot × day panel of crime counts and harm",
        description="Read force crime records, place them on hotspots (and buffer rings) and "
        "experimental days, weigh them with the configured harm index, and write the panel as "
        "CSV and Parquet with a quarantine CSV of unusable crime rows and panel.json (counts, "
        "harm index version and SHA-256, provenance).",
    )
    add_config(parser)
    parser.add_argument("--crimes", type=Path, nargs="+", required=True, metavar="FILE",
                        help="crime records (CSV or Parquet, the crimes contract)")
    add_allocation(parser)
    parser.add_argument("--compliance", type=Path, metavar="FILE",
                        help="compliance per hotspot-day CSV (date, hotspot_id, delivered, "
                        "dosage_minutes, contaminated)")
    parser.add_argument("--crimes-timezone", metavar="ZONE", default=None,
                        help="zone of crime times written without an offset (default: refuse them)")
    parser.add_argument("--look-date", type=date_arg, default=None, metavar="YYYY-MM-DD",
                        help="last experimental day in the panel (default: the trial end or the last "
                        "complete experimental day, whichever is earlier)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_csv_bom(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def _rings(config, hotspots):
    """Buffer rings at the configured distances (none when ``buffer_rings_m = []``)."""
    from guardian_rct.geo.rings import buffer_rings

    if not config.hotspots.buffer_rings_m:
        return None
    return buffer_rings(hotspots, list(config.hotspots.buffer_rings_m))


def _run(args: argparse.Namespace) -> Output:
    from guardian_rct._core.days import last_complete_day
    from guardian_rct._core.provenance import sha256_file
    from guardian_rct.compliance.hotspot_day_csv import read_compliance_csv
    from guardian_rct.crimes.panel import build_panel
    from guardian_rct.crimes.records import read_crimes
    from guardian_rct.design.allocation import Allocation
    from guardian_rct.design.factory import design_from_config
    from guardian_rct.geo.plausibility import trial_area_bounds
    from guardian_rct.ledger.plan_history import note_look
    from guardian_rct.ledger.store import load_trial_hotspots

    config = config_from_args(args)
    hotspots = load_trial_hotspots(config)
    look = args.look_date or min(config.trial.end_date,
                                 last_complete_day(config.trial.tz, config.trial.day_start_time))
    if look < config.trial.start_date:
        raise UsageError("no experimental day of the trial is complete yet", found=f"look date {look}",
                         where="--look-date", fix=f"give --look-date on or after {config.trial.start_date}")
    allocation = allocation_from_args(args, config, hotspots, last=look)
    if max(allocation.days) > look:  # an imported allocation may run past the look date
        allocation = Allocation(allocation.frame[allocation.frame["date"] <= look].reset_index(drop=True),
                                source=allocation.source)
    crimes = read_crimes(args.crimes, crs=config.hotspots.crs, assume_tz=args.crimes_timezone,
                         area_bounds=trial_area_bounds(hotspots.frame.total_bounds))
    for path in args.crimes:  # a look at outcome data (issue 15), when the trial has a store
        note_look(config, kind="panel", crimes_sha256=sha256_file(path), look_date=look)
    compliance = None
    if args.compliance is not None:
        compliance = read_compliance_csv(args.compliance, hotspots.ids)
    rings = _rings(config, hotspots)
    # p_treated from the trial's design, as `evaluate` does, so that the exported panel
    # gives the report's numbers when fed back to itt_estimates (crimes.panel_io.read_panel)
    probabilities = design_from_config(config, hotspots).probabilities()
    panel = build_panel(config, hotspots, allocation, crimes, rings=rings, probabilities=probabilities,
                        compliance=compliance, baseline_days=config.evaluation.baseline_days)
    inputs = [*([args.crimes] if isinstance(args.crimes, (str, Path)) else args.crimes), args.compliance,
              getattr(args, "allocation", None)]
    paths = panel.write(args.out, inputs=inputs, hotspots=hotspots)
    quarantine = crimes.quarantine.write_csv(Path(args.out) / "quarantine.csv", inputs=inputs)
    data = panel.to_dict()
    data["files"] = {k: str(v) for k, v in {**paths, "quarantine_csv": quarantine}.items()}
    data["look_date"] = look.isoformat()
    data["rings"] = "built" if rings is not None else "not built ([hotspots] buffer_rings_m is empty)"
    c = panel.counts
    lines = [f"panel: {len(panel.frame)} hotspot-days ({data['days']} days × {data['hotspots']} hotspots) "
             f"→ {args.out}",
             f"crimes: {c['read']} read, {c['used']} used, {c['quarantined']} quarantined"
             + (f" ({', '.join(f'{k}: {v}' for k, v in c['quarantine_reasons'].items())})"
                if c["quarantined"] else ""),
             f"harm index: {panel.harm['version']} (sha256 {panel.harm['sha256'][:12]}…)"]
    for name, total in data["outcomes"].items():
        lines.append(f"  {outcome_label(name)}: {count_of(total['count'], 'crime')}, {total['harm']:.1f} {panel.harm['unit']}")
    return Output("\n".join(lines), data)
