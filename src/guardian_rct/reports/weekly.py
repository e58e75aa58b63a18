"""The weekly compliance report: data first (JSON, schema version), then HTML and CSV.

:func:`build_weekly_report` turns a :class:`~guardian_rct.compliance.scoring.ComplianceResult`
into plain data: the headline rate against the trial's target, red/amber/green rows
by hotspot and team, rates by block, day of week and week, the trend over past weeks
(kept in the trial store), the missed patrols and the contaminated control days, and
the ping counts (read = used + quarantined). :func:`write_weekly_report` writes it as
``weekly_compliance.json``, ``weekly_compliance.html`` (template
``weekly_compliance.html``, which does no arithmetic) and CSV tables. Officer
identifiers appear only as keyed pseudonyms (:mod:`guardian_rct.ledger.pseudonym`).

RAG rule: green when the rate reaches the target (``[compliance] target_rate``), amber
within 15 percentage points below it, red further below; grey when nothing was scheduled.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct.compliance.presence import PingScore
from guardian_rct.compliance.scoring import ComplianceResult, compliance_by_hotspot_day
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.pseudonym import Pseudonymiser
from guardian_rct.ledger.store import connect
from guardian_rct.reports.maps import hotspot_map_png, png_data_uri
from guardian_rct.reports.render import write_html, write_json

__all__ = ["SCHEMA_VERSION", "rag", "build_weekly_report", "write_weekly_report", "record_trend",
           "AMBER_BAND", "data_quality_notes"]

SCHEMA_VERSION = 1
AMBER_BAND = 0.15
RAG_COLOURS = {"green": "#1a9850", "amber": "#fdae61", "red": "#d73027", "none": "#bdbdbd"}
_TABLE = """CREATE TABLE IF NOT EXISTS compliance_weeks (
    week TEXT PRIMARY KEY,
    scheduled INTEGER NOT NULL,
    compliant INTEGER NOT NULL,
    control_days INTEGER NOT NULL,
    contaminated INTEGER NOT NULL,
    updated_at TEXT NOT NULL
)"""


def rag(rate: float | None, target: float) -> str:
    """``green``/``amber``/``red`` for a rate against the target; ``none`` without data."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return "none"
    if rate >= target - 1e-12:
        return "green"
    if rate >= target - AMBER_BAND - 1e-12:
        return "amber"
    return "red"


def _num(value: Any) -> Any:
    """JSON-safe scalar: numpy to Python, NaN to None, floats rounded to 4 decimals."""
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 4)
    return value


def _local(ts: pd.Timestamp, tz) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _rate_rows(frame: pd.DataFrame, key: str, target: float, names: dict | None = None,
               teams: dict | None = None) -> list[dict]:
    rows = []
    for rec in frame.to_dict("records"):
        rate = _num(rec["rate"])
        row = {key: str(rec[key])}
        if names is not None:
            row["name"] = names.get(rec[key], "")
        if teams is not None:
            row["team"] = teams.get(rec[key], "unassigned")
        row.update({"scheduled": _num(rec["scheduled"]), "compliant": _num(rec["compliant"]),
                    "rate": rate, "rag": rag(rate, target), "koper_met": _num(rec["koper_met"]),
                    "patrol_minutes": _num(rec["patrol_minutes"]),
                    "officer_minutes": _num(rec["officer_minutes"]),
                    "control_days": _num(rec["control_days"]), "contaminated": _num(rec["contaminated"])})
        rows.append(row)
    return rows


def record_trend(store: Path, result: ComplianceResult, *, weeks: int = 12) -> list[dict]:
    """Store this report's complete ISO weeks in the trial store and return the trend.

    A week is stored only when the report covers all seven of its days (re-running a
    week replaces its row); partial weeks of this report are appended, marked
    ``partial``. Returns the last ``weeks`` weeks up to the report's last week.
    """
    by_week = result.rates("week")
    days = pd.Series(sorted(set(result.patrols["date"]) | set(result.controls["date"])))
    covered = {}
    for d in days:
        covered.setdefault(_week_of(d), set()).add(d)
    complete = {w for w, ds in covered.items() if len(ds) == 7}
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with connect(Path(store)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_TABLE)
            for rec in by_week.to_dict("records"):
                if rec["week"] in complete:
                    conn.execute("INSERT OR REPLACE INTO compliance_weeks VALUES (?, ?, ?, ?, ?, ?)",
                                 (rec["week"], int(rec["scheduled"]), int(rec["compliant"]),
                                  int(rec["control_days"]), int(rec["contaminated"]), stamp))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        stored = conn.execute("SELECT week, scheduled, compliant, control_days, contaminated "
                              "FROM compliance_weeks ORDER BY week").fetchall()
    last_week = _week_of(result.last_day)
    trend = {w: {"week": w, "scheduled": s, "compliant": c, "control_days": cd, "contaminated": ct,
                 "partial": False} for w, s, c, cd, ct in stored if w <= last_week}
    for rec in by_week.to_dict("records"):
        if rec["week"] not in complete:
            trend[rec["week"]] = {"week": rec["week"], "scheduled": int(rec["scheduled"]),
                                  "compliant": int(rec["compliant"]), "control_days": int(rec["control_days"]),
                                  "contaminated": int(rec["contaminated"]), "partial": True}
    rows = [trend[w] for w in sorted(trend)][-weeks:]
    for row in rows:
        row["rate"] = round(row["compliant"] / row["scheduled"], 4) if row["scheduled"] else None
    return rows


def data_quality_notes(counts: dict) -> list[str]:
    """Plain-language warnings when the location data cannot support the numbers."""
    notes = []
    if counts["used"] == 0:
        notes.append(f"no usable location rows ({counts['quarantined']} quarantined): every scheduled "
                     "patrol shows as missed; check quarantine.csv")
    elif counts["quarantined"] > 0.05 * counts["read"]:
        notes.append(f"{counts['quarantined']} of {counts['read']} location rows were quarantined "
                     "(over 5%); check quarantine.csv before trusting the rates")
    return notes


def _week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def build_weekly_report(result: ComplianceResult, *, config: TrialConfig, hotspots: HotspotSet,
                        score: PingScore, period_label: str, source: str,
                        pseudonymiser: Pseudonymiser, trend: list[dict]) -> dict:
    """The report as plain data (see module docstring); every number the page shows."""
    tz = config.trial.tz
    target = config.compliance.target_rate
    names = dict(zip(hotspots.frame["hotspot_id"], hotspots.frame["name"], strict=True))
    head = result.to_dict()
    both = pd.concat([result.patrols[["hotspot_id", "team"]], result.controls[["hotspot_id", "team"]]])
    team_of = dict(zip(both["hotspot_id"], both["team"], strict=True))
    rate = _num(head["rate"])
    patrols = result.patrols
    lag = patrols.loc[patrols["compliant"], "lag_minutes"]
    missed = patrols[~patrols["compliant"]].sort_values(["date", "hotspot_id", "window_start"])
    contaminated = result.controls[result.controls["contaminated"]].sort_values(["date", "hotspot_id"])
    visits = result.visits
    officer_rows = []
    if len(visits):
        per = visits.frame.groupby("officer").agg(visits=("minutes", "size"), visit_minutes=("minutes", "sum"))
        for officer, rec in per.iterrows():
            officer_rows.append({"officer": pseudonymiser(str(officer)), "visits": int(rec["visits"]),
                                 "visit_minutes": _num(rec["visit_minutes"])})
        officer_rows.sort(key=lambda r: (-r["visits"], r["officer"]))
    koper = _num(head["koper_met"])
    return {
        "schema_version": SCHEMA_VERSION,
        "report": "weekly_compliance",
        "trial": config.trial.name,
        "timezone": config.trial.timezone,
        "period": {"label": period_label, "first_day": result.first_day.isoformat(),
                   "last_day": result.last_day.isoformat()},
        "source": source,
        "target_rate": target,
        "headline": {
            "scheduled": head["scheduled"], "compliant": head["compliant"], "rate": rate,
            "rag": rag(rate, target), "missed": head["scheduled"] - head["compliant"],
            "koper_met": koper,
            "koper_rate": _num(koper / head["scheduled"]) if head["scheduled"] else None,
            "median_lag_minutes": _num(float(lag.median())) if len(lag) else None,
            "patrol_minutes": _num(head["patrol_minutes"]), "officer_minutes": _num(head["officer_minutes"]),
            "control_days": head["control_days"], "contaminated": head["contaminated"],
            "contamination_rate": _num(head["contamination_rate"]),
        },
        "rules": head["rules"],
        "by_hotspot": _rate_rows(result.rates("hotspot_id"), "hotspot_id", target, names, team_of),
        "by_team": _rate_rows(result.rates("team"), "team", target),
        "by_block": _rate_rows(result.rates("block"), "block", target),
        "by_dow": _rate_rows(_dow_order(result.rates("dow")), "dow", target),
        "by_week": _rate_rows(result.rates("week"), "week", target),
        "trend": trend,
        "missed": [{"date": r.date.isoformat(), "hotspot_id": r.hotspot_id, "name": names.get(r.hotspot_id, ""),
                    "team": r.team, "window_start": _local(r.window_start, tz), "deadline": _local(r.deadline, tz),
                    "first_arrival": _local(r.first_arrival, tz), "lag_minutes": _num(r.lag_minutes)}
                   for r in missed.itertuples(index=False)],
        "contaminated_days": [{"date": r.date.isoformat(), "hotspot_id": r.hotspot_id,
                               "name": names.get(r.hotspot_id, ""), "team": r.team,
                               "patrol_minutes": _num(r.patrol_minutes)}
                              for r in contaminated.itertuples(index=False)],
        "pings": score.counts(),
        "notes": data_quality_notes(score.counts()),
        "visits": {k: _num(v) for k, v in visits.summary().items()},
        "officers": officer_rows,
        "provenance": head["provenance"],
    }


def _dow_order(frame: pd.DataFrame) -> pd.DataFrame:
    order = {d: i for i, d in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))}
    return frame.sort_values("dow", key=lambda s: s.map(order)).reset_index(drop=True)


def _map_uri(report: dict, hotspots: HotspotSet) -> str:
    by = {r["hotspot_id"]: r["rag"] for r in report["by_hotspot"]}
    colours = [RAG_COLOURS[by.get(h, "none")] for h in hotspots.frame["hotspot_id"]]
    png = hotspot_map_png(hotspots.frame, colours=colours, labels=list(hotspots.frame["hotspot_id"]),
                          title=f"Compliance by hotspot, {report['period']['label']}",
                          legend={RAG_COLOURS["green"]: "on target", RAG_COLOURS["amber"]: "near target",
                                  RAG_COLOURS["red"]: "below target", RAG_COLOURS["none"]: "none scheduled"})
    return png_data_uri(png)


def _trend_uri(report: dict) -> str:
    import io

    import matplotlib.pyplot as plt

    rows = [r for r in report["trend"] if r["rate"] is not None]
    if not rows:
        return ""
    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    try:
        weeks = [r["week"] for r in rows]
        ax.plot(weeks, [100 * r["rate"] for r in rows], marker="o", color="#1f4e79", label="compliance")
        ax.axhline(100 * report["target_rate"], color="#d73027", linestyle="--", label="target")
        ax.set_ylim(0, 105)
        ax.set_ylabel("% compliant")
        ax.tick_params(axis="x", labelsize=7, rotation=45)
        ax.legend(fontsize=7, loc="lower left")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return png_data_uri(buffer.getvalue())
    finally:
        plt.close(fig)


def write_weekly_report(report: dict, result: ComplianceResult, out_dir: str | Path, *,
                        hotspots: HotspotSet, score: PingScore,
                        pseudonymiser: Pseudonymiser) -> dict[str, Path]:
    """Write the JSON, HTML and CSV outputs into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": write_json(out / "weekly_compliance.json", report)}
    paths["html"] = write_html(out / "weekly_compliance.html", "weekly_compliance.html", report=report,
                               map_uri=_map_uri(report, hotspots), trend_uri=_trend_uri(report),
                               provenance=report["provenance"] or
                               {"package_version": "", "created_at": "", "seed": None, "inputs": {}})
    patrols = result.patrols.copy()
    patrols["first_officer"] = pseudonymiser.many(patrols["first_officer"].astype(str))
    paths["patrols"] = _csv(patrols, out / "compliance_patrols.csv")
    paths["controls"] = _csv(result.controls, out / "compliance_controls.csv")
    paths["hotspot_days"] = _csv(compliance_by_hotspot_day(result), out / "compliance_hotspot_days.csv")
    for key in ("by_hotspot", "by_team", "by_block", "by_dow", "by_week", "trend"):
        paths[key] = _csv(pd.DataFrame(report[key]), out / f"compliance_{key}.csv")
    # Device ids (radios, vehicles, phones) identify officers too: pseudonymise them as well.
    devices = pseudonymiser.for_devices()
    visits = result.visits.frame.copy()
    visits["officer_id"] = pseudonymiser.many(visits["officer_id"].astype(str))
    visits["officer"] = pseudonymiser.many(visits["officer"].astype(str))
    if "device_id" in visits.columns:
        visits["device_id"] = devices.many(visits["device_id"].astype(str))
    paths["visits"] = _csv(visits, out / "compliance_visits.csv")
    quarantine = score.quarantine.frame.copy()
    for col in quarantine.columns:
        name = str(col).strip().lower()
        if name in ("officer_id", "device_id"):
            who = pseudonymiser if name == "officer_id" else devices
            quarantine[col] = who.many(quarantine[col].fillna("").astype(str))
    paths["quarantine"] = _csv(quarantine, out / "quarantine.csv")
    return paths


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path
