"""``guardian-rct compliance``: score a week of patrols and write the weekly report."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import warnings
from pathlib import Path

from guardian_rct._core.errors import DataError, DataQualityWarning, UsageError, where
from guardian_rct.cli._common import (
    Output,
    add_allocation,
    add_common,
    add_config,
    add_csv_bom,
    add_large_tables,
    allocation_from_args,
    config_from_args,
    date_arg,
    import_in_background,
)

__all__ = ["register", "parse_week"]

_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$")
#: The weekly job and, through it, the report modules (matplotlib, Jinja): imported while
#: the pings are scored (:func:`~guardian_rct.cli._common.import_in_background`).
_REPORT_MODULE = "guardian_rct.jobs.weekly"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compliance`` verb."""
    parser = sub.add_parser(
        "compliance",
        help="score patrol compliance from location pings (or patrol logs) and write the weekly report",
        description="Decide for every scheduled patrol whether an officer arrived in the hotspot "
        "within [compliance] arrival_within_hours of the scheduled time, how long they stayed, "
        "and whether patrols reached control hotspots; write an HTML report with CSV and JSON "
        "of the same numbers into --out.",
    )
    add_config(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pings", type=Path, metavar="FILE",
                        help="pings: CSV or Parquet file, or a folder of them (partitioned Parquet)")
    source.add_argument("--patrol-log", type=Path, metavar="FILE",
                        help="officer-reported arrivals/departures (CSV) instead of pings")
    parser.add_argument("--week", action="append", metavar="WEEK",
                        help="ISO week to report, e.g. 2023-W18 (Monday to Sunday); repeat it for one "
                        "report per week from one read of the pings, each in --out/<week>/")
    parser.add_argument("--from", dest="first", type=date_arg, metavar="DATE",
                        help="first experimental day (YYYY-MM-DD), with --to instead of --week")
    parser.add_argument("--to", dest="last", type=date_arg, metavar="DATE",
                        help="last experimental day (inclusive)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report files")
    add_allocation(parser)
    parser.add_argument("--ping-timezone", metavar="ZONE",
                        help="IANA zone of timestamps written without an offset (default: such rows "
                        "are quarantined)")
    parser.add_argument("--teams", type=Path, metavar="FILE",
                        help="CSV hotspot_id,team naming the team answerable for each hotspot "
                        "(default: the team that visited it most)")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local: stream in this process; dask: partitions on a Dask cluster")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address (default: start a local cluster)")
    parser.add_argument("--workers", type=int, default=2, help="local Dask cluster workers (default 2)")
    parser.add_argument("--chunk-rows", type=int, default=400_000,
                        help="rows per chunk, at most (default 400,000; a Parquet file's row groups are "
                        "split evenly and short ones joined): each chunk costs some fixed work, and "
                        "chunks of 250,000 cost a 50 M-ping week 1-2 s more; smaller bounds memory, about "
                        "30 MB less per 100,000 rows")
    add_csv_bom(parser)
    add_large_tables(parser)
    add_common(parser)
    parser.set_defaults(handler=_run)


def parse_week(text: str) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of ISO week ``YYYY-Www``."""
    match = _WEEK.match(text.strip()) if text else None
    if not match:
        raise UsageError("--week does not parse", expected="an ISO week such as 2023-W18",
                         found=repr(text), where="--week", fix="write the week as YYYY-Www")
    try:
        monday = dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise UsageError("no such ISO week", found=repr(text), where="--week",
                         fix="use a week number from 01 to 52 (53 in long years)") from None
    return monday, monday + dt.timedelta(days=6)


def _periods(args: argparse.Namespace) -> list[tuple[dt.date, dt.date, str]]:
    """The reporting periods: each ``--week`` given (in order), or ``--from``..``--to``."""
    if args.week and (args.first or args.last):
        raise UsageError("give either --week or --from/--to, not both", where="--week",
                         fix="drop one of them")
    if args.week:
        labels = [w.strip() for w in args.week]
        repeated = sorted({w for w in labels if labels.count(w) > 1})
        if repeated:
            raise UsageError("a week is named twice", found=", ".join(repeated), where="--week",
                             fix="give each week once")
        return [(*parse_week(w), w) for w in labels]
    if not (args.first and args.last):
        raise UsageError("no reporting period", expected="--week 2023-W18, or --from DATE --to DATE",
                         where="compliance", fix="name the week or the first and last day")
    if args.last < args.first:
        raise UsageError("--to is before --from", found=f"{args.first} to {args.last}", where="--to",
                         fix="swap the dates")
    return [(args.first, args.last, f"{args.first} to {args.last}")]


def _teams(path: Path | None) -> dict[str, str] | None:
    from guardian_rct._core.textcsv import read_text_csv

    if path is None:
        return None
    frame = read_text_csv(path, what="teams", option="--teams", expected="columns hotspot_id, team")
    if not {"hotspot_id", "team"} <= set(frame.columns):
        raise DataError("teams file needs columns hotspot_id and team", where=where(path),
                        found="columns " + ", ".join(frame.columns), fix="add a header hotspot_id,team")
    return dict(zip(frame["hotspot_id"].str.strip(), frame["team"].str.strip(), strict=True))


def _window(config, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Instants in which pings count for the period: first day's start to the last
    day's end plus the arrival allowance (a late window's deadline)."""
    from guardian_rct._core.days import day_bounds

    tz, start = config.trial.tz, config.trial.day_start_time
    begin = day_bounds(first, tz, start)[0]
    end = day_bounds(last, tz, start)[1] + dt.timedelta(hours=config.compliance.arrival_within_hours)
    return begin, end


def _hash_pings_early(pings: Path | None) -> None:
    """Start hashing the ping files for the provenance record before anything else: the
    imports, the trial's files and the hotspot index that come first keep one core busy
    for 1.6-2.4 s and leave the other idle, and hashing a 1.2 GB week takes about 1.2 s of
    a core (it ran beside the scoring before, which keeps both busy). A path that names no
    ping files is left for the usual checks to report, in their order."""
    from guardian_rct._core.provenance import hash_in_background
    from guardian_rct.compliance.ping_sources import ping_files

    if pings is None:
        return
    try:
        hash_in_background(ping_files(pings))
    except DataError:
        pass


def _run(args: argparse.Namespace) -> Output:
    _hash_pings_early(args.pings)
    from guardian_rct._core.provenance import hash_in_background
    from guardian_rct.compliance.ping_assignment import ping_options_for
    from guardian_rct.compliance.ping_plausibility import check_ping_file
    from guardian_rct.compliance.ping_sources import ping_files
    from guardian_rct.compliance.presence import score_pings
    from guardian_rct.ledger.store import load_trial_hotspots, open_trial
    from guardian_rct.reports.geopackage import start_rings

    config = config_from_args(args)
    periods = _periods(args)
    first, last = min(p[0] for p in periods), max(p[1] for p in periods)
    label = periods[0][2] if len(periods) == 1 else f"{min(p[2] for p in periods)} to {max(p[2] for p in periods)}"
    if args.workers < 1:
        raise UsageError("--workers must be at least 1", found=str(args.workers), where="--workers",
                         fix="use 1 or more workers (default 2)")
    if args.chunk_rows < 1000:
        raise UsageError("--chunk-rows is too small", expected="at least 1000", found=str(args.chunk_rows),
                         where="--chunk-rows", fix="use the default or a larger number")
    hotspots = load_trial_hotspots(config)
    open_trial(config, hotspots=hotspots)
    allocation = allocation_from_args(args, config, hotspots, first=first, last=last)
    rules = config.compliance
    if args.pings is not None:
        hash_in_background([*ping_files(args.pings), allocation.source, config.source])
        options = ping_options_for(hotspots, rules, timezone=args.ping_timezone, chunk_rows=args.chunk_rows)
        report_modules = import_in_background(_REPORT_MODULE)  # while the pings are scored
        score = score_pings(args.pings, hotspots, rules, options=options, engine=args.engine,
                            scheduler=args.scheduler, n_workers=args.workers)
        check_ping_file(score.extent, n_read=score.n_read, source=str(args.pings),
                        period=_window(config, first, last), period_label=label)
        source = f"location pings ({args.engine} engine)"
        inputs = {f"pings:{p.name}": p for p in ping_files(args.pings)}
    else:
        from guardian_rct.compliance.patrol_logs import read_patrol_log

        report_modules = import_in_background(_REPORT_MODULE)
        score = read_patrol_log(args.patrol_log, hotspots, rules, timezone=args.ping_timezone)
        source = "officer patrol logs (self-reported, no GPS)"
        inputs = {"patrol_log": args.patrol_log}
    # The report's buffer rings, on the core the report leaves free until its GeoPackage
    # (while the pings are scored both cores are busy).
    start_rings(hotspots, config.hotspots.buffer_rings_m)
    report_modules()
    from guardian_rct.jobs.weekly import ReportPeriod, weekly_compliance_reports
    from guardian_rct.reports.weekly import data_quality_notes, large_tables_of

    for note in data_quality_notes(score.counts(), large_tables_of(config)):
        warnings.warn(f"{args.pings or args.patrol_log}: {note}", DataQualityWarning, stacklevel=2)
    single = len(periods) == 1  # one report straight into --out; several, one folder each
    written = weekly_compliance_reports(config, hotspots, allocation, score,
                                        periods=[ReportPeriod(a, b, name, args.out if single else args.out / name)
                                                 for a, b, name in periods],
                                        source=source, inputs=inputs, teams=_teams(args.teams))
    counts = score.counts()
    rows = (f"rows read {counts['read']} = used {counts['used']} + quarantined {counts['quarantined']}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in counts['quarantine_reasons'].items())})"
               if counts["quarantine_reasons"] else ""))
    tables = _tables_line(written[0].report["tables"])
    if len(written) == 1:
        result, report, paths = written[0].result, written[0].report, written[0].paths
        layers = f"\nmap layers for QGIS: {paths['geopackage']}" if "geopackage" in paths else ""
        return Output(f"{result.summary()}\n{rows}\nreport: {paths['html']}{layers}\n{tables}", _data(report, paths))
    text = "\n".join([*(f"{w.report['period']['label']}: {w.result.summary()}\n  report: {w.paths['html']}"
                         for w in written), rows, tables])
    return Output(text, {"reports": [_data(w.report, w.paths) for w in written]})


def _tables_line(tables: dict) -> str:
    """The CLI's line naming the large tables written beside each report (and how to get CSV)."""
    files = ", ".join(tables["visits"] + tables["quarantine"])
    hint = "" if tables["csv_written"] else " (--large-tables csv or [outputs] large_tables for CSV)"
    return f"visits and quarantined rows: {files}{hint}"


def _data(report: dict, paths: dict) -> dict:
    """One report's JSON summary for ``--json``."""
    return {"period": report["period"], "headline": report["headline"], "target_rate": report["target_rate"],
            "pings": report["pings"], "files": {k: str(v) for k, v in paths.items()}}
