"""``guardian-rct status``: the trial's health on one screen.

:func:`trial_status` reads the trial store (registration, published schedules, the stored
compliance weeks), re-verifies the ledger (:func:`guardian_rct.ledger.verify.verify`),
optionally reads the last timestamp of a pings file and a crimes file, and returns a
:class:`TrialStatus`: registration (never the seed), days published against the horizon,
the verification outcome, the last complete compliance week, data freshness, alerts and
the next milestone.

Alerts (each an :class:`Alert` with a stable ``code``):

``ledger_failed``
    verification failed; the reason is the first bad record.
``compliance_below_target``
    the last two stored complete weeks (consecutive ISO weeks) are both below
    ``[compliance] target_rate``.
``no_pings``
    a complete experimental day with scheduled patrols has no ping at all in the pings
    file (only days from the trial start to the last complete day; reported from the
    file's own first day, and days after its last ping are reported together).
``published_late``
    a drawn day whose record was written after its first scheduled window start (the
    officers cannot have had it in time). Imported days are not checked: an imported
    allocation may be loaded after the fact for evaluation.
``next_day_due`` / ``next_day_late``
    the next unpublished trial day's earliest window (from ``[design] windows``) opens
    within 24 hours, or has already opened.

Reading the store is the only thing that can fail (a :class:`~guardian_rct._core.errors.StoreError`,
exit 1); a failed verification is an alert, not a failure of ``status`` (use
``guardian-rct ledger verify`` for an exit code that gates a cron job).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from guardian_rct._core.days import (
    experimental_day,
    experimental_days,
    iso_week,
    local_instant,
)
from guardian_rct._core.errors import DataError, where
from guardian_rct._core.wording import count_of
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.ledger.compliance_weeks import stored_weeks
from guardian_rct.ledger.publish import now_utc, published
from guardian_rct.ledger.records import PublishedSchedule, WeekTotals
from guardian_rct.ledger.store import load_trial_hotspots, open_trial
from guardian_rct.ledger.verify import VerifyResult, verify
from guardian_rct.reports.banner import simulated_notice

__all__ = ["Alert", "TrialStatus", "trial_status", "STATUS_SCHEMA_VERSION"]

STATUS_SCHEMA_VERSION = 1
_DUE_WITHIN = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Alert:
    """One thing that needs attention: ``level`` (``critical`` or ``warning``), a stable
    ``code`` (see the module docstring) and a sentence saying what and what to do."""

    level: Literal["critical", "warning"]
    code: str
    message: str

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"level": self.level, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class TrialStatus:
    """The trial's health at ``now`` (schema :data:`STATUS_SCHEMA_VERSION`).

    Every field is plain data (dates as ISO strings); rates are shares in [0, 1].
    """

    generated_at: str
    today: str
    registration: dict[str, Any]
    design: str
    calendar: dict[str, Any]
    publishing: dict[str, Any]
    ledger: dict[str, Any]
    compliance: dict[str, Any]
    freshness: dict[str, Any]
    milestone: dict[str, Any]
    alerts: tuple[Alert, ...] = field(default=())
    simulated: dict[str, Any] | None = None  # the SIMULATED DATA banner (reports.banner)

    def to_dict(self) -> dict:
        """JSON-ready, with ``schema_version``."""
        return {"schema_version": STATUS_SCHEMA_VERSION, "generated_at": self.generated_at, "today": self.today,
                "registration": self.registration, "design": self.design, "calendar": self.calendar,
                "publishing": self.publishing, "ledger": self.ledger, "compliance": self.compliance,
                "freshness": self.freshness, "milestone": self.milestone,
                "alerts": [a.to_dict() for a in self.alerts], "simulated": self.simulated}

    def summary(self) -> str:
        """The status screen (plain text)."""
        r, c, p, led = self.registration, self.calendar, self.publishing, self.ledger
        comp, fresh, mil = self.compliance, self.freshness, self.milestone
        lines = [self.simulated["text"]] if self.simulated else []
        lines += [f"{r['trial']}: {c['phase']} (today is experimental day {self.today})",
                 f"  registered   {r['registered_at']}, {r['hotspots']} hotspots; {self.design}",
                 f"  calendar     {c['start_date']} to {c['end_date']} ({c['days']} days; {c['days_done']} complete)",
                 f"  published    {p['text']}",
                 f"  ledger       {led['text']}",
                 f"  compliance   {comp['text']}",
                 f"  last ping    {fresh['pings']['text']}",
                 f"  last crime   {fresh['crimes']['text']}",
                 f"  milestone    {mil['text']}"]
        if self.alerts:
            lines.append(f"alerts ({len(self.alerts)}):")
            lines += [f"  [{a.level}] {a.message}" for a in self.alerts]
        else:
            lines.append("alerts: none")
        return "\n".join(lines)


def trial_status(config: TrialConfig, *, now: dt.datetime | None = None, pings: Path | None = None,
                 crimes: Path | None = None) -> TrialStatus:
    """The trial's health at ``now`` (default: the clock).

    Parameters
    ----------
    pings, crimes
        Optional data files (CSV or Parquet in the pings / crimes contracts); only their
        time column is read, for freshness and the ``no_pings`` alert.

    Raises
    ------
    StoreError
        The store is missing, unreadable or belongs to another trial.
    DataError
        A pings or crimes file is missing or has no readable time column.
    """
    now = now_utc(now)
    trial = config.trial
    tz, day_start = trial.tz, trial.day_start_time
    hotspots = load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    records = published(config, hotspots=hotspots)
    checked = verify(config)
    weeks = stored_weeks(trial.store)
    today = experimental_day(now, tz, day_start)
    last_complete = today - dt.timedelta(days=1)
    ping_times = _times(pings, ("timestamp",), "pings") if pings else None
    crime_times = _times(crimes, ("occurred_at", "occurred_from"), "crimes") if crimes else None

    alerts: list[Alert] = []
    if not checked.ok:
        alerts.append(Alert("critical", "ledger_failed", f"ledger verification FAILED: {_verify_text(checked)}; "
                            "run 'guardian-rct ledger verify' and stop publishing until it is explained"))
    alerts += _compliance_alerts(weeks, config.compliance.target_rate)
    alerts += _late_publication_alerts(records, tz)
    alerts += _next_day_alerts(config, records, now)
    if ping_times is not None:
        alerts += _no_ping_alerts(config, records, ping_times, last_complete)

    return TrialStatus(
        generated_at=now.isoformat(timespec="seconds"), today=today.isoformat(),
        registration={"trial": reg.name, "registered_at": reg.created_at, "hotspots": reg.hotspot_count,
                      "store": str(trial.store), "package_version": reg.package_version},
        design=_design_text(config), calendar=_calendar(config, today),
        publishing=_publishing(config, records, today), ledger=_ledger(checked),
        compliance=_compliance(weeks, config.compliance.target_rate),
        freshness={"pings": _freshness(ping_times, pings, now, tz), "crimes": _freshness(crime_times, crimes, now, tz)},
        milestone=_milestone(config, today), alerts=tuple(alerts),
        simulated=simulated_notice(trial.simulated or checked.simulated > 0, [pings, crimes]))


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------

def _design_text(config: TrialConfig) -> str:
    d = config.design
    windows = ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in d.windows)
    if d.kind == "crossover":
        if d.treated_per_day is not None:
            how = f"{d.treated_per_day} patrolled a day"
        elif d.treated_per_block_per_day is not None:
            how = f"{d.treated_per_block_per_day} patrolled per block a day"
        else:
            how = f"each patrolled with probability {d.prob_treated:g} a day"
        kind = "crossover (re-randomised daily)"
    else:
        how = f"{d.n_treated} in the patrol arm" if d.n_treated is not None else f"probability {d.prob_treated:g}"
        kind = f"parallel ({d.assignment} assignment)"
    blocks = f", blocks by '{config.hotspots.block_column}'" if config.hotspots.block_column else ""
    return (f"{kind}, {how}{blocks}; {d.visits_per_day} x {d.patrol_minutes}-minute patrol "
            f"starting in {windows}")


def _calendar(config: TrialConfig, today: dt.date) -> dict[str, Any]:
    t = config.trial
    done = min(max((today - t.start_date).days, 0), t.n_days)
    phase = ("not started" if today < t.start_date else "running" if today <= t.end_date else "ended")
    return {"start_date": t.start_date.isoformat(), "end_date": t.end_date.isoformat(), "days": t.n_days,
            "days_done": done, "phase": phase}


def _publishing(config: TrialConfig, records: tuple[PublishedSchedule, ...], today: dt.date) -> dict[str, Any]:
    horizon = config.schedule.horizon_days
    limit = min(today + dt.timedelta(days=horizon), config.trial.end_date)
    last = records[-1].day if records else None
    ahead = (last - today).days if last else None
    if last is None:
        text = f"nothing yet; days up to {limit} may be published (horizon {horizon} days)"
    else:
        where_ = ("today" if ahead == 0 else f"{ahead} days ahead" if ahead and ahead > 0
                  else f"{-ahead} days behind today")
        text = (f"{len(records)} days, {records[0].day} to {last} ({where_}); "
                f"horizon {horizon} days, so up to {limit}")
    return {"days": len(records), "first_day": records[0].day.isoformat() if records else None,
            "last_day": last.isoformat() if last else None, "days_ahead": ahead, "horizon_days": horizon,
            "publishable_until": limit.isoformat(), "text": text}


def _verify_text(result: VerifyResult) -> str:
    where_ = f" at record {result.bad_seq}" if result.bad_seq else ""
    where_ += f" (day {result.bad_day})" if result.bad_day else ""
    return f"{result.problem}{where_}"


def _ledger(result: VerifyResult) -> dict[str, Any]:
    if result.ok:
        text = (f"OK: {result.records} records, chain intact, {result.redrawn} draws re-derived"
                + (f"; head {result.head_hash[:16]}…" if result.head_hash else ""))
    else:
        text = f"FAILED: {_verify_text(result)}"
    return {"ok": result.ok, "records": result.records, "redrawn": result.redrawn, "head_hash": result.head_hash,
            "problem": result.problem, "bad_seq": result.bad_seq,
            "bad_day": result.bad_day.isoformat() if result.bad_day else None, "notes": list(result.notes),
            "text": text}


def _compliance(weeks: list[WeekTotals], target: float) -> dict[str, Any]:
    if not weeks:
        return {"week": None, "rate": None, "scheduled": None, "compliant": None, "target_rate": target,
                "below_target": None, "weeks_stored": 0,
                "text": "no complete week stored yet (run 'guardian-rct compliance' after a full week of pings)"}
    w = weeks[-1]
    below = w.rate is not None and w.rate < target
    rate = "–" if w.rate is None else f"{w.rate:.1%}"
    return {"week": w.week, "rate": w.rate, "scheduled": w.scheduled, "compliant": w.compliant,
            "target_rate": target, "below_target": below, "weeks_stored": len(weeks),
            "text": f"{w.week}: {rate} ({w.compliant} of {count_of(w.scheduled, 'patrol')}; target {target:.0%})"}


def _freshness(times: pd.Series | None, path: Path | None, now: dt.datetime, tz) -> dict[str, Any]:
    if path is None:
        return {"file": None, "last": None, "age_hours": None, "rows": None, "text": "not given"}
    if times is None or times.empty:
        return {"file": str(path), "last": None, "age_hours": None, "rows": 0, "text": f"no readable times in {path}"}
    last = times.max()
    age = (pd.Timestamp(now) - last).total_seconds() / 3600
    local = last.tz_convert(tz)
    return {"file": str(path), "last": last.isoformat(), "age_hours": round(age, 1), "rows": len(times),
            "text": f"{local:%Y-%m-%d %H:%M %Z} ({_age(age)} ago) in {path.name}"}


def _age(hours: float) -> str:
    return f"{hours:.0f} hours" if abs(hours) < 48 else f"{hours / 24:.0f} days"


def _milestone(config: TrialConfig, today: dt.date) -> dict[str, Any]:
    stones = sorted(config.evaluation.milestones)
    upcoming = [m for m in stones if m >= today]
    if not stones:
        return {"date": None, "days_to_go": None, "text": "none planned ([evaluation] milestones)"}
    if not upcoming:
        return {"date": None, "days_to_go": None, "text": f"all {len(stones)} milestones have passed"}
    nxt = upcoming[0]
    return {"date": nxt.isoformat(), "days_to_go": (nxt - today).days,
            "text": f"{nxt} (in {(nxt - today).days} days; {len(upcoming)} of {len(stones)} still to come)"}


# ---------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------

def _consecutive(a: str, b: str) -> bool:
    monday = dt.date.fromisocalendar(int(a[:4]), int(a[6:]), 1)
    return iso_week(monday + dt.timedelta(days=7)) == b


def _compliance_alerts(weeks: list[WeekTotals], target: float) -> list[Alert]:
    if len(weeks) < 2:
        return []
    a, b = weeks[-2], weeks[-1]
    if (a.rate is not None and b.rate is not None and a.rate < target and b.rate < target
            and _consecutive(a.week, b.week)):
        return [Alert("warning", "compliance_below_target",
                      f"compliance below the {target:.0%} target two weeks running: {a.week} {a.rate:.1%}, "
                      f"{b.week} {b.rate:.1%}")]
    return []


def _first_window(record: PublishedSchedule) -> pd.Timestamp | None:
    starts = [s for visits in record.treated.values() for s, _ in visits]
    return min(starts) if starts else None


def _late_publication_alerts(records: tuple[PublishedSchedule, ...], tz) -> list[Alert]:
    late = []
    for r in records:
        first = _first_window(r)
        if r.source == "drawn" and first is not None and pd.Timestamp(r.published_at) > first:
            late.append((r.day, pd.Timestamp(r.published_at), first))
    if not late:
        return []
    shown = "; ".join(f"{d} published {p.tz_convert(tz):%Y-%m-%d %H:%M}, first window {f.tz_convert(tz):%H:%M}"
                      for d, p, f in late[:5])
    more = f" and {len(late) - 5} more" if len(late) > 5 else ""
    return [Alert("warning", "published_late",
                  f"{count_of(len(late), 'day')} published after their first patrol window opened: {shown}{more}")]


def _next_day_alerts(config: TrialConfig, records: tuple[PublishedSchedule, ...], now: dt.datetime) -> list[Alert]:
    t = config.trial
    nxt = records[-1].day + dt.timedelta(days=1) if records else t.start_date
    if nxt > t.end_date:
        return []
    earliest = min(w.start for w in config.design.windows)
    opens = local_instant(nxt, earliest, t.tz)
    if earliest < t.day_start_time:  # a window after midnight belongs to the next calendar day
        opens = local_instant(nxt + dt.timedelta(days=1), earliest, t.tz)
    local = opens.astimezone(t.tz)
    if opens <= now:
        return [Alert("critical", "next_day_late",
                      f"{nxt} is not published and its first window opened at {local:%Y-%m-%d %H:%M %Z}: "
                      f"run 'guardian-rct schedule --date {nxt}' now")]
    if opens - now <= _DUE_WITHIN:
        return [Alert("warning", "next_day_due",
                      f"{nxt} is not published yet; its first window opens at {local:%Y-%m-%d %H:%M %Z}: "
                      f"run 'guardian-rct schedule --date {nxt}'")]
    return []


def _no_ping_alerts(config: TrialConfig, records: tuple[PublishedSchedule, ...], times: pd.Series,
                    last_complete: dt.date) -> list[Alert]:
    tz, day_start = config.trial.tz, config.trial.day_start_time
    days_with_pings = set(pd.to_datetime(experimental_days(times, tz, day_start)).date) if len(times) else set()
    first_ping = min(days_with_pings) if days_with_pings else None
    last_ping = max(days_with_pings) if days_with_pings else None
    scheduled = [r.day for r in records if r.treated and r.day <= last_complete]
    gaps = [d for d in scheduled if d not in days_with_pings and first_ping and first_ping <= d <= last_ping]
    after = [d for d in scheduled if last_ping is None or d > last_ping]
    alerts = []
    if gaps:
        shown = ", ".join(str(d) for d in gaps[:7]) + (f" and {len(gaps) - 7} more" if len(gaps) > 7 else "")
        alerts.append(Alert("warning", "no_pings", f"no pings at all on {count_of(len(gaps), 'day')} with scheduled "
                            f"patrols: {shown} (a device feed or export failed?)"))
    if after:
        since = f"since the last ping on {last_ping}" if last_ping else "in the pings file"
        alerts.append(Alert("warning", "no_pings", f"no pings {since}: {count_of(len(after), 'complete day')} with scheduled "
                            f"patrols ({after[0]} to {after[-1]}) have none; export the latest pings"))
    return alerts


def _times(path: Path, columns: tuple[str, ...], what: str) -> pd.Series:
    """The parsed UTC instants of the first of ``columns`` the file has (unparseable ones left out)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file not found", where=where(path), fix=f"check the path given to --{what}")
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            col = next((c for c in columns if c in names), None)
            raw = pd.read_parquet(path, columns=[col])[col] if col else None
        else:
            head = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
            col = next((c for c in columns if c in head.columns), None)
            raw = pd.read_csv(path, usecols=[col], dtype=str, encoding="utf-8-sig")[col] if col else None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the {what} file ({exc})", where=where(path),
                        fix=f"give a CSV or Parquet file in the {what} contract") from None
    if raw is None:
        raise DataError(f"the {what} file has no time column", expected=" or ".join(columns),
                        where=where(path), fix=f"give a file in the {what} contract (docs/contracts)")
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    return parsed.dropna()
