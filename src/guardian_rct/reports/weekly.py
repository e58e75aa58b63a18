"""The weekly compliance report: data first (JSON, schema version), then HTML and CSV.

:func:`build_weekly_report` turns a :class:`~guardian_rct.compliance.scoring.ComplianceResult`
into plain data: the headline rate against the trial's target, red/amber/green rows
by hotspot and team, rates by block, day of week and week, the trend over past weeks
(kept in the trial store by the weekly job), the missed patrols and the contaminated control days, and
the ping counts (read = used + quarantined). :func:`write_weekly_report` writes it as
``weekly_compliance.json``, ``weekly_compliance.html`` (template
``weekly_compliance.html``, which does no arithmetic) and CSV tables. Officer
identifiers appear only as keyed pseudonyms (:mod:`guardian_rct._core.pseudonyms`).

RAG rule: green when the rate reaches the target (``[compliance] target_rate``), amber
within 15 percentage points below it, red further below; grey when nothing was scheduled.

Small numbers: a cell whose rate rests on fewer than ``[compliance] rag_min_patrols``
(default :data:`RAG_MIN_PATROLS` = 10) decided patrols keeps its colour in the data
(``rag``) but is shown greyed with a caution mark (``rag_shown = "few"``, ``few = true``)
and a note. Why 10: below it a single patrol moves the rate by more than 10 percentage
points, two-thirds of the 15-point amber band, and the binomial 95% interval of a 75%
rate is wider than ±27 points, so the colour says more about chance than about the team.
Hotspots on the map are drawn in a pale tint of their colour for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.errors import UsageError
from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct._core.safe_write import check_output_path
from guardian_rct._core.wording import count_of
from guardian_rct.compliance.ping_assignment import PingScore
from guardian_rct.compliance.scoring import ComplianceResult, compliance_by_hotspot_day
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.records import WeekTotals
from guardian_rct.reports.banner import simulated_notice
from guardian_rct.reports.geopackage import (
    rings_for,
    weekly_layers,
    write_geopackage,
    write_geoparquet,
)
from guardian_rct.reports.interactive_map import geojson_layer, interactive_map
from guardian_rct.reports.map_layers import map_context
from guardian_rct.reports.maps import MapContext, hotspot_map_png, png_data_uri
from guardian_rct.reports.render import write_html, write_json
from guardian_rct.reports.weekly_shared import (
    WeeklyShared,
    officer_rows,
    period_mask,
    period_visits,
    pseudonymised_visits,
    visit_totals,
)
from guardian_rct.reports.weekly_shared import json_number as _num

__all__ = ["SCHEMA_VERSION", "rag", "build_weekly_report", "write_weekly_report", "trend_rows",
           "AMBER_BAND", "data_quality_notes", "large_table_files", "large_tables_of", "tables_section",
           "RAG_MIN_PATROLS", "trend_figure"]

SCHEMA_VERSION = 1
AMBER_BAND = 0.15
RAG_COLOURS = {"green": "#1a9850", "amber": "#fdae61", "red": "#d73027", "none": "#bdbdbd"}
# Pale tints for hotspots whose colour rests on too few patrols (map only).
RAG_PALE = {"green": "#c7e9c0", "amber": "#fee0b6", "red": "#f4c2bd", "none": "#bdbdbd"}
RAG_MIN_PATROLS = 10  # the default of [compliance] rag_min_patrols; see the module docstring


def rag(rate: float | None, target: float) -> str:
    """``green``/``amber``/``red`` for a rate against the target; ``none`` without data."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "none"
    if rate >= target - 1e-12:
        return "green"
    if rate >= target - AMBER_BAND - 1e-12:
        return "amber"
    return "red"


def _local(ts: pd.Timestamp, tz) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _rate_rows(frame: pd.DataFrame, key: str, target: float, names: dict | None = None,
               teams: dict | None = None, min_patrols: int = RAG_MIN_PATROLS) -> list[dict]:
    rows = []
    for rec in frame.to_dict("records"):
        rate = _num(rec["rate"])
        row = {key: str(rec[key])}
        if names is not None:
            row["name"] = names.get(rec[key], "")
        if teams is not None:
            row["team"] = teams.get(rec[key], "unassigned")
        row.update({"scheduled": _num(rec["scheduled"]), "compliant": _num(rec["compliant"]),
                    "pending": _num(rec["pending"]), "missed": _num(rec["missed"]),
                    "rate": rate, "rag": rag(rate, target), "koper_met": _num(rec["koper_met"]),
                    "decided": _num(rec["scheduled"] - rec["pending"]),
                    "patrol_minutes": _num(rec["patrol_minutes"]),
                    "officer_minutes": _num(rec["officer_minutes"]),
                    "control_days": _num(rec["control_days"]), "contaminated": _num(rec["contaminated"])})
        row["few"] = row["rag"] != "none" and row["decided"] < min_patrols
        row["rag_shown"] = "few" if row["few"] else row["rag"]
        rows.append(row)
    return rows


def trend_rows(stored: Sequence[WeekTotals], partial: Sequence[WeekTotals], last_week: str, *,
               weeks: int | None = None) -> list[dict]:
    """The trend table: stored complete weeks up to ``last_week`` and this report's partial
    weeks (marked ``partial``), each with its rate: every week of the trial so far, or
    the last ``weeks`` of them when given."""
    trend = {s.week: s for s in stored if s.week <= last_week}
    trend.update({p.week: p for p in partial})
    rows = []
    for key in sorted(trend)[-weeks if weeks else None:]:
        t = trend[key]
        rows.append({"week": t.week, "scheduled": t.scheduled, "compliant": t.compliant,
                     "pending": t.pending, "control_days": t.control_days, "contaminated": t.contaminated,
                     "partial": t.partial, "rate": t.rate})
    return rows


#: The per-group summary tables, each written as ``compliance_<key>.csv`` from ``report[key]``.
SUMMARY_TABLES = ("by_hotspot", "by_team", "by_block", "by_dow", "by_week", "trend")

#: ``[outputs] large_tables`` when no config is given (as its default).
LARGE_TABLES_DEFAULT = "parquet"


def large_table_files(stem: str, large_tables: str = LARGE_TABLES_DEFAULT) -> list[str]:
    """The file names a row-level table (``compliance_visits``, ``quarantine``) is written
    under for ``[outputs] large_tables`` (``parquet``, ``csv`` or ``both``), Parquet first."""
    return [f"{stem}.{ext}" for ext in ("parquet", "csv") if large_tables in (ext, "both")]


def large_tables_of(config: TrialConfig | None) -> str:
    """The config's ``[outputs] large_tables`` (the default without a config)."""
    return config.outputs.large_tables if config is not None else LARGE_TABLES_DEFAULT


def data_quality_notes(counts: dict, large_tables: str = LARGE_TABLES_DEFAULT) -> list[str]:
    """Plain-language warnings when the location data cannot support the numbers, naming
    the quarantine file(s) written for ``large_tables``."""
    files = " / ".join(large_table_files("quarantine", large_tables))
    notes = []
    if counts["used"] == 0:
        notes.append(f"no usable location rows ({counts['quarantined']} quarantined): every scheduled "
                     f"patrol is pending (unknown), not scored; check {files}")
    elif counts["quarantined"] > 0.05 * counts["read"]:
        notes.append(f"{counts['quarantined']} of {counts['read']} location rows were quarantined "
                     f"(over 5%); check {files} before trusting the rates")
    return notes


def tables_section(large_tables: str) -> dict:
    """What the report's "Files" section names: the format of the large tables and each
    table's file names (the small per-hotspot and per-team tables are always CSV)."""
    return {"large_tables": large_tables, "csv_written": large_tables in ("csv", "both"),
            "visits": large_table_files("compliance_visits", large_tables),
            "quarantine": large_table_files("quarantine", large_tables),
            "small": [f"compliance_{key}.csv" for key in (*SUMMARY_TABLES, "patrols", "controls", "hotspot_days")]}


def build_weekly_report(result: ComplianceResult, *, config: TrialConfig, hotspots: HotspotSet,
                        score: PingScore, period_label: str, source: str,
                        pseudonymiser: Pseudonymiser, trend: list[dict],
                        shared: WeeklyShared | None = None) -> dict:
    """The report as plain data (see module docstring); every number the page shows.

    ``shared`` (:func:`~guardian_rct.reports.weekly_shared.weekly_shared` on the same
    visits and pseudonymiser) saves recomputing the week-independent tables.
    """
    tz = config.trial.tz
    target = config.compliance.target_rate
    names = dict(zip(hotspots.frame["hotspot_id"], hotspots.frame["name"], strict=True))
    head = result.to_dict()
    both = pd.concat([result.patrols[["hotspot_id", "team"]], result.controls[["hotspot_id", "team"]]])
    team_of = dict(zip(both["hotspot_id"], both["team"], strict=True))
    rate = _num(head["rate"])
    patrols = result.patrols
    lag = patrols.loc[patrols["compliant"], "lag_minutes"]
    missed = patrols[patrols["status"] == "missed"].sort_values(["date", "hotspot_id", "window_start"])
    pending = patrols[patrols["status"] == "pending"].sort_values(["date", "hotspot_id", "window_start"])
    contaminated = result.controls[result.controls["contaminated"]].sort_values(["date", "hotspot_id"])
    visits = result.visits
    if shared is not None:
        shared.check(visits, pseudonymiser)
    in_period = period_visits(visits, result)
    officers = officer_rows(in_period, pseudonymiser)
    totals = visit_totals(in_period)
    koper = _num(head["koper_met"])
    few = config.compliance.rag_min_patrols
    decided = head["scheduled"] - head["pending"]
    blocks = result.rates("block")
    return {
        "schema_version": SCHEMA_VERSION,
        "report": "weekly_compliance",
        "trial": config.trial.name,
        "timezone": config.trial.timezone,
        "period": {"label": period_label, "first_day": result.first_day.isoformat(),
                   "last_day": result.last_day.isoformat()},
        "source": source,
        "simulated": simulated_notice(config.trial.simulated),
        "target_rate": target,
        "rag_min_patrols": few,
        "headline": {
            "scheduled": head["scheduled"], "compliant": head["compliant"], "rate": rate,
            "rag": rag(rate, target), "missed": head["missed"], "pending": head["pending"],
            "decided": decided, "few": rag(rate, target) != "none" and decided < few,
            "observed_until": _local(
                pd.Timestamp(head["observed_until"]) if head["observed_until"] else None, tz),
            "koper_met": koper,
            "koper_rate": _num(koper / head["scheduled"]) if head["scheduled"] else None,
            "median_lag_minutes": _num(float(lag.median())) if len(lag) else None,
            "patrol_minutes": _num(head["patrol_minutes"]), "officer_minutes": _num(head["officer_minutes"]),
            "control_days": head["control_days"], "contaminated": head["contaminated"],
            "contamination_rate": _num(head["contamination_rate"]),
        },
        "rules": head["rules"],
        "by_hotspot": _rate_rows(result.rates("hotspot_id"), "hotspot_id", target, names, team_of, few),
        "by_team": _rate_rows(result.rates("team"), "team", target, min_patrols=few),
        "by_block": _rate_rows(blocks, "block", target, min_patrols=few),
        # One block ("all") when the trial has none: the page then shows no block table.
        "has_blocks": len(blocks) > 1,
        "by_dow": _rate_rows(_dow_order(result.rates("dow")), "dow", target, min_patrols=few),
        "by_week": _rate_rows(result.rates("week"), "week", target, min_patrols=few),
        "trend": trend,
        "missed": [{"date": r.date.isoformat(), "hotspot_id": r.hotspot_id, "name": names.get(r.hotspot_id, ""),
                    "team": r.team, "window_start": _local(r.window_start, tz), "deadline": _local(r.deadline, tz),
                    "first_arrival": _local(r.first_arrival, tz), "lag_minutes": _num(r.lag_minutes)}
                   for r in missed.itertuples(index=False)],
        "pending": [{"date": r.date.isoformat(), "hotspot_id": r.hotspot_id, "name": names.get(r.hotspot_id, ""),
                     "team": r.team, "window_start": _local(r.window_start, tz), "deadline": _local(r.deadline, tz)}
                    for r in pending.itertuples(index=False)],
        "contaminated_days": [{"date": r.date.isoformat(), "hotspot_id": r.hotspot_id,
                               "name": names.get(r.hotspot_id, ""), "team": r.team,
                               "patrol_minutes": _num(r.patrol_minutes)}
                              for r in contaminated.itertuples(index=False)],
        "pings": score.counts(),
        "notes": data_quality_notes(score.counts(), large_tables_of(config)),
        "tables": tables_section(large_tables_of(config)),
        "visits": totals,
        "officers": officers,
        "provenance": head["provenance"],
    }


def _dow_order(frame: pd.DataFrame) -> pd.DataFrame:
    order = {d: i for i, d in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))}
    return frame.sort_values("dow", key=lambda s: s.map(order)).reset_index(drop=True)


RAG_LEGEND = {"green": "on target", "amber": "within 15 points below target", "red": "further below target",
              "none": "none scheduled"}


def _legend(report: dict) -> dict[str, str]:
    """The map legend's entries (key -> words), with the pale tint when any hotspot has one."""
    legend = dict(RAG_LEGEND)
    if any(r["few"] for r in report["by_hotspot"]):
        legend["few"] = f"pale tint: fewer than {report['rag_min_patrols']} decided patrols (colour not a verdict)"
    return legend


def _hotspot_colour(row: dict | None) -> str:
    if row is None:
        return RAG_COLOURS["none"]
    return (RAG_PALE if row["few"] else RAG_COLOURS)[row["rag"]]


def _map_uri(report: dict, hotspots: HotspotSet, context: MapContext | None = None) -> str:
    by = {r["hotspot_id"]: r for r in report["by_hotspot"]}
    colours = [_hotspot_colour(by.get(h)) for h in hotspots.frame["hotspot_id"]]
    legend = {RAG_COLOURS.get(k, RAG_PALE["green"]): v for k, v in _legend(report).items()}
    png = hotspot_map_png(hotspots.frame, colours=colours, labels=list(hotspots.frame["hotspot_id"]),
                          context=context, title=f"Compliance by hotspot, {report['period']['label']}",
                          legend=legend, size_inches=(8.0, 6.2))
    return png_data_uri(png)


def _interactive(report: dict, hotspots: HotspotSet, config: TrialConfig | None) -> dict:
    """Hotspots coloured by compliance, each with a popup of its numbers (no arithmetic in the page)."""
    by = {r["hotspot_id"]: r for r in report["by_hotspot"]}
    frame = hotspots.frame[["hotspot_id", "name", "geometry"]].copy()
    rows = [by.get(h) for h in frame["hotspot_id"]]
    frame["colour"] = [_hotspot_colour(r) for r in rows]
    frame["popup"] = [f"<b>{h}</b> {n}<br>" + (f"{r['compliant']} of {count_of(r['decided'], 'decided patrol')} compliant"
                                               + (" (too few to colour with confidence)" if r["few"] else "")
                                               if r and r["scheduled"] else "no patrols scheduled")
                      for h, n, r in zip(frame["hotspot_id"], frame["name"], rows, strict=True)]
    layer = geojson_layer(frame, name="hotspots by compliance", properties=["hotspot_id", "name"],
                          colour_column="colour", popup_column="popup")
    maps = config.maps if config is not None else None
    return interactive_map([layer], element_id="weekly-map", tiles=maps.tiles if maps else None,
                           tiles_attribution=maps.tiles_attribution if maps else "")


def trend_figure(report: dict):
    """The weekly trend chart: every week of the trial so far (one point per week; hollow =
    not complete), the target line and axis titles. The caller closes the figure; ``None``
    when no week has a rate."""
    import matplotlib.pyplot as plt

    rows = [r for r in report["trend"] if r["rate"] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(7.0, 0.24 * len(rows) + 2), 3.0), dpi=100)
    x = list(range(len(rows)))
    ax.plot(x, [100 * r["rate"] for r in rows], color="#1f4e79", label="compliance")
    done = [(i, r) for i, r in zip(x, rows, strict=True) if not r["partial"]]
    part = [(i, r) for i, r in zip(x, rows, strict=True) if r["partial"]]
    ax.plot([i for i, _ in done], [100 * r["rate"] for _, r in done], "o", color="#1f4e79", markersize=4)
    if part:
        ax.plot([i for i, _ in part], [100 * r["rate"] for _, r in part], "o", mfc="white",
                color="#1f4e79", markersize=5, label="week not complete (patrols pending)")
    ax.axhline(100 * report["target_rate"], color="#d73027", linestyle="--", label="target")
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    step = 1 if len(rows) <= 30 else 2
    ax.set_xticks(x[::step])
    ax.set_xticklabels([r["week"] for r in rows][::step], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("% of decided patrols compliant")
    ax.set_xlabel(f"ISO week of the trial ({count_of(len(rows), 'week')} so far)")
    ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _trend_uri(report: dict) -> str:
    import io

    import matplotlib.pyplot as plt

    fig = trend_figure(report)
    if fig is None:
        return ""
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return png_data_uri(buffer.getvalue())
    finally:
        plt.close(fig)


def write_weekly_report(report: dict, result: ComplianceResult, out_dir: str | Path, *,
                        hotspots: HotspotSet, score: PingScore,
                        pseudonymiser: Pseudonymiser, config: TrialConfig | None = None,
                        inputs: Iterable[str | Path | None] = (),
                        shared: WeeklyShared | None = None) -> dict[str, Path]:
    """Write the JSON, HTML, CSV, GeoPackage and GeoParquet outputs into ``out_dir``; returns their paths.

    ``weekly_compliance.gpkg`` holds every spatial layer with its QGIS style
    (:mod:`guardian_rct.reports.geopackage`; buffer rings only with ``config``);
    ``compliance_visits.parquet`` is the visits table as GeoParquet (each visit with its
    hotspot's polygon). Columns of every file: ``docs/outputs.md``.

    Every file is written atomically and never over one of ``inputs`` (the pings file,
    the allocation, the store...) or a protected trial file; CSV cells are formula-safe
    (:mod:`guardian_rct._core.safe_write`, :mod:`guardian_rct._core.formula_safe`).
    With ``config``, the maps carry its context layers (boundary, districts, basemap) and
    the interactive map its ``[maps] tiles``. ``shared`` (as for :func:`build_weekly_report`)
    saves re-reading the context layers and re-pseudonymising the visits.
    """
    if shared is not None:
        shared.check(result.visits, pseudonymiser)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = [*inputs, *_sources(score)]
    declared = bool(report.get("simulated") and report["simulated"]["declared"])
    report["simulated"] = simulated_notice(declared, inputs) or report.get("simulated")

    def _csv(frame: pd.DataFrame, path: Path) -> Path:
        return write_csv(path, frame, inputs=inputs, what="CSV output")

    paths = {"json": write_json(out / "weekly_compliance.json", report, inputs=inputs)}
    if config is None:
        context = None
    elif shared is not None and shared.context is not None:
        context = shared.context
    else:
        context = map_context(config, hotspots)
    paths["html"] = write_html(out / "weekly_compliance.html", "weekly_compliance.html", inputs=inputs,
                               report=report,
                               map_uri=_map_uri(report, hotspots, context), trend_uri=_trend_uri(report),
                               leaflet=_interactive(report, hotspots, config), rag_legend=_legend(report),
                               simulated=report["simulated"],
                               rag_colours={**RAG_COLOURS, "few": RAG_PALE["green"]},
                               provenance=report["provenance"] or
                               {"package_version": "", "created_at": "", "seed_fingerprint": None, "inputs": {}})
    patrols = result.patrols.copy()
    patrols["first_officer"] = pseudonymiser.many(patrols["first_officer"].astype(str))
    paths["patrols"] = _csv(patrols, out / "compliance_patrols.csv")
    paths["controls"] = _csv(result.controls, out / "compliance_controls.csv")
    paths["hotspot_days"] = _csv(compliance_by_hotspot_day(result), out / "compliance_hotspot_days.csv")
    for key in SUMMARY_TABLES:
        paths[key] = _csv(pd.DataFrame(report[key]), out / f"compliance_{key}.csv")
    # Device ids (radios, vehicles, phones) identify officers too: pseudonymise them as well.
    devices = pseudonymiser.for_devices()
    visits = shared.visits_table if shared else pseudonymised_visits(result.visits, pseudonymiser)
    visits = visits[period_mask(result.visits, result)]
    large = large_tables_of(config)
    if large in ("csv", "both"):
        paths["visits"] = _csv(visits, out / "compliance_visits.csv")
    rings = rings_for(hotspots, config.hotspots.buffer_rings_m) if config is not None else None
    layers = weekly_layers(hotspots, report["by_hotspot"], visits, rings=rings, rag_colours=RAG_COLOURS,
                           rag_labels=RAG_LEGEND, rag_pale=RAG_PALE,
                           few_label=f"fewer than {report['rag_min_patrols']} decided patrols: not a verdict")
    paths["geopackage"] = write_geopackage(out / "weekly_compliance.gpkg", layers, inputs=inputs)
    visits_layer = next(layer.frame for layer in layers if layer.name == "visits")
    if large in ("parquet", "both"):
        paths["visits_parquet"] = write_geoparquet(out / "compliance_visits.parquet", visits_layer, inputs=inputs)
    # Streamed batch by batch: a quarantine of millions of rows may live on disk.
    ids = {"officer_id": pseudonymiser.many, "device_id": devices.many}
    if large in ("parquet", "both"):
        paths["quarantine_parquet"] = score.quarantine.write_parquet(out / "quarantine.parquet", ids,
                                                                     inputs=inputs)
    if large in ("csv", "both"):
        paths["quarantine"] = score.quarantine.write_csv(out / "quarantine.csv", ids, inputs=inputs)
    _remove_other_format(out, large, inputs)
    return paths


def _remove_other_format(out: Path, large_tables: str, inputs: list) -> None:
    """Remove a large table left in ``out`` by an earlier run in the other format (a stale
    ``quarantine.csv`` beside this week's ``quarantine.parquet`` would be read as current);
    never a file that is an input of this run."""
    keep = set(large_table_files("compliance_visits", large_tables) + large_table_files("quarantine", large_tables))
    for stem in ("compliance_visits", "quarantine"):
        for ext in ("parquet", "csv"):
            stale = out / f"{stem}.{ext}"
            if stale.name in keep or not stale.is_file():
                continue
            try:
                check_output_path(stale, inputs=inputs, what="stale output")
            except UsageError:  # an input or a protected trial file: never deleted
                continue
            stale.unlink()


def _sources(score: PingScore) -> list[str]:
    """Files the quarantined rows came from (they are inputs of this call too)."""
    frame = score.quarantine.frame
    if "source" not in frame.columns:
        return []
    return [s for s in frame["source"].dropna().astype(str).unique() if s]
