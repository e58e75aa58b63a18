"""Compliance with the published schedule: arrival within the window, dosage, contamination.

For every scheduled patrol (a treatment row of the :class:`~guardian_rct.design.allocation.
Allocation`) and the hotspot's :class:`~guardian_rct.compliance.visits.Visits`:

* **first arrival** is the first instant at or after the window start at which an officer
  is present in the hotspot (an officer already there at the window start arrives at the
  window start); **lag** is arrival minus window start;
* **compliant** when the first arrival falls in the closed interval
  [window start, window start + ``arrival_within_hours``]. The hours are elapsed hours
  (UTC), so across a clock change the deadline's local clock time moves by an hour
  (a 15:00 GMT start on the Saturday before British Summer Time has its deadline at
  16:00 BST on the Sunday);
* **minutes delivered** are patrol-minutes (time with at least one officer present) and
  officer-minutes (summed over officers) inside that interval;
* the **Koper dose** is met when one continuous presence inside that interval lasts at
  least ``koper_minutes`` (Koper 1995, "Just enough police presence", Justice Quarterly
  12(4): 649–672: about 10–15 minutes per visit maximises residual deterrence).

For every control hotspot-day, **contamination** is any patrol presence during the
experimental day (``[trial] day_starts`` to the next day's, local time).

**Pending is not missed.** The data cover time only up to ``observed_until`` (the last
usable ping, or the report time if earlier). A patrol with no arrival yet whose deadline
is after ``observed_until`` is ``pending``, not missed: it may still be delivered. Rates
are compliant / (scheduled − pending). A control day that ends after ``observed_until``
without presence so far is ``pending`` too. Without ``observed_until`` (history scored
after the fact) nothing is pending.

:func:`compliance_by_hotspot_day` gives the panel's per hotspot-day table
(docs/contracts.md): ``delivered`` is 1 when every patrol scheduled for that
hotspot-day was compliant, 0 when one was missed, empty (unknown) while one is pending, ``dosage_minutes`` the patrol-minutes inside the
experimental day, ``contaminated`` 1 on a control day with any presence.

Two definitions of delivery (docs/compliance_definitions.md). ``delivered`` is the
trial's compliance rule, for the weekly report: an arrival up to 24 h after the
scheduled start counts, even when it falls on the next experimental day. The
evaluation measures presence *within the experimental day whose crimes are counted*:
``delivered_on_day`` is 1 on a treatment day when an officer is present between the
scheduled start and the day's end; ``present_on_day`` is 1 on any hotspot-day with
presence inside the day (on control days it equals ``contaminated``); ``dosage_minutes``
are the minutes on the day. With these, a visit on day d+1 is never delivery of day d
and contamination of day d+1 at once. The CACE uses ``present_on_day``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from guardian_rct._core.days import day_bounds, iso_week
from guardian_rct._core.errors import DataError
from guardian_rct._core.provenance import Provenance
from guardian_rct.compliance.visits import Visits
from guardian_rct.config.trial_config import ComplianceSpec, TrialConfig
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["ComplianceResult", "ScoringContext", "scoring_context", "score_compliance",
           "compliance_by_hotspot_day", "responsible_teams", "HOTSPOT_DAY_COLUMNS", "ON_DAY_COLUMNS"]

HOTSPOT_DAY_COLUMNS = ("date", "hotspot_id", "delivered", "dosage_minutes", "contaminated")
#: The evaluation's presence variables, measured inside the experimental day (docs/compliance_definitions.md)
ON_DAY_COLUMNS = ("delivered_on_day", "present_on_day")
_NS_PER_MIN = 60_000_000_000
Grouping = Literal["hotspot_id", "block", "team", "dow", "week"]
_DOW = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ComplianceResult:
    """Compliance of every scheduled patrol and contamination of every control day.

    Attributes
    ----------
    patrols
        One row per scheduled patrol: ``date, hotspot_id, block, team, window_start,
        deadline, first_arrival, lag_minutes, compliant, pending, status, patrol_minutes,
        officer_minutes, koper_met, first_officer, arrival_team, dow, week``; ``status`` is
        ``compliant``, ``missed`` or ``pending`` (no arrival yet, deadline after
        ``observed_until``).
        ``team`` is the hotspot's responsible team (see :func:`responsible_teams`);
        ``first_officer`` is the raw officer identity (pseudonymise before output).
    controls
        One row per control hotspot-day: ``date, hotspot_id, block, team, day_start,
        day_end, contaminated, pending, patrol_minutes, officer_minutes, dow, week``.
    hotspot_days
        The per hotspot-day table of :func:`compliance_by_hotspot_day`.
    visits
        The visits scored.
    rules
        The ``[compliance]`` settings used.
    """

    patrols: pd.DataFrame
    controls: pd.DataFrame
    hotspot_days: pd.DataFrame
    visits: Visits
    rules: ComplianceSpec
    first_day: dt.date
    last_day: dt.date
    provenance: Provenance | None = None
    observed_until: pd.Timestamp | None = None

    @property
    def n_scheduled(self) -> int:
        return len(self.patrols)

    @property
    def n_compliant(self) -> int:
        return int(self.patrols["compliant"].sum())

    @property
    def n_pending(self) -> int:
        """Scheduled patrols whose deadline is after the data end, with no arrival yet."""
        return int(self.patrols["pending"].sum())

    @property
    def n_missed(self) -> int:
        return self.n_scheduled - self.n_compliant - self.n_pending

    @property
    def rate(self) -> float | None:
        """Share of decided (not pending) patrols that were compliant (``None`` if none)."""
        decided = self.n_scheduled - self.n_pending
        return self.n_compliant / decided if decided else None

    def rates(self, by: Grouping) -> pd.DataFrame:
        """Compliance by ``by``: ``scheduled, compliant, rate, koper_met, patrol_minutes``
        (treatment) and ``control_days, contaminated`` (control), sorted by ``by``."""
        # Plain sums and sizes (several times faster than named aggregations, same frame).
        grouped = self.patrols.groupby(by, sort=True)
        p = grouped[["compliant", "pending", "koper_met", "patrol_minutes", "officer_minutes"]].sum()
        p.insert(0, "scheduled", grouped.size())
        grouped = self.controls.groupby(by, sort=True)
        c = grouped[["contaminated", "pending"]].sum().rename(columns={"pending": "control_pending"})
        c.insert(0, "control_days", grouped.size())
        out = p.join(c, how="outer").fillna(0)
        for col in ("scheduled", "compliant", "pending", "koper_met", "control_days", "contaminated",
                    "control_pending"):
            out[col] = out[col].astype(np.int64)
        out["missed"] = out["scheduled"] - out["compliant"] - out["pending"]
        decided = out["scheduled"] - out["pending"]
        out["rate"] = np.where(decided > 0, out["compliant"] / decided.where(decided > 0, 1), np.nan)
        return out.reset_index()

    def to_frame(self) -> pd.DataFrame:
        """One row per scheduled patrol (``patrols``)."""
        return self.patrols.copy()

    def to_dict(self) -> dict:
        """Headline numbers, JSON-ready."""
        controls = len(self.controls)
        contaminated = int(self.controls["contaminated"].sum()) if controls else 0
        return {
            "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "scheduled": self.n_scheduled, "compliant": self.n_compliant, "pending": self.n_pending,
            "missed": self.n_missed, "rate": self.rate,
            "observed_until": self.observed_until.isoformat() if self.observed_until is not None else None,
            "koper_met": int(self.patrols["koper_met"].sum()),
            "patrol_minutes": float(self.patrols["patrol_minutes"].sum()),
            "officer_minutes": float(self.patrols["officer_minutes"].sum()),
            "control_days": controls, "contaminated": contaminated,
            "control_pending": int(self.controls["pending"].sum()) if controls else 0,
            "contamination_rate": contaminated / controls if controls else None,
            "rules": {k: getattr(self.rules, k) for k in self.rules.__dataclass_fields__},
            "provenance": self.provenance.to_dict() if self.provenance else None,
        }

    def summary(self) -> str:
        """A few lines for the command line."""
        rate = "n/a" if self.rate is None else f"{100 * self.rate:.1f}%"
        d = self.to_dict()
        pending = f", {self.n_pending} pending (deadline after the data end)" if self.n_pending else ""
        return (f"{self.first_day} to {self.last_day}: {self.n_compliant} of "
                f"{self.n_scheduled - self.n_pending} decided patrols compliant ({rate}){pending}; "
                f"{d['contaminated']} of {d['control_days']} control hotspot-days had patrol presence")


def responsible_teams(visits: Visits, hotspot_ids: np.ndarray,
                      teams: Mapping[str, str] | None = None) -> dict[str, str]:
    """The team answerable for each hotspot: ``teams[hotspot]`` when given, else the team
    that made most visits there, else ``"unassigned"``."""
    out = {str(h): "unassigned" for h in hotspot_ids}
    frame = visits.frame
    if len(frame):
        named = frame[frame["team"].astype(str) != ""]
        if len(named):
            counts = named.groupby(["hotspot_id", "team"]).size().reset_index(name="n")
            counts = counts.sort_values(["hotspot_id", "n", "team"], ascending=[True, False, True])
            for h, t in counts.drop_duplicates("hotspot_id")[["hotspot_id", "team"]].itertuples(index=False):
                out[str(h)] = str(t)
    if teams:
        out.update({str(k): str(v) for k, v in teams.items()})
    return out


class _HotspotTimeline:
    """Presence blocks and visits of one hotspot as sorted int64 arrays."""

    def __init__(self, blocks: pd.DataFrame, officer_blocks: pd.DataFrame, visits: pd.DataFrame):
        self.s = blocks["start"].to_numpy(np.int64)
        self.e = blocks["end"].to_numpy(np.int64)
        self.os = officer_blocks["start"].to_numpy(np.int64)
        self.oe = officer_blocks["end"].to_numpy(np.int64)
        self.vs = visits["start"].astype("int64").to_numpy()
        self.ve = visits["end"].astype("int64").to_numpy()
        self.vofficer = visits["officer"].to_numpy(dtype=object)
        self.vteam = visits["team"].to_numpy(dtype=object)

    def arrival(self, a: int) -> tuple[int | None, str, str]:
        """First presence at or after ``a``; the officer and team arriving then."""
        i = int(np.searchsorted(self.e, a, side="left"))
        if i >= len(self.e):
            return None, "", ""
        at = max(int(self.s[i]), a)
        cand = np.flatnonzero((self.ve >= a) & (np.maximum(self.vs, a) == at))
        if len(cand) == 0:  # cannot happen: the block starts with some visit
            return at, "", ""
        best = min(cand, key=lambda k: str(self.vofficer[k]))
        return at, str(self.vofficer[best]), str(self.vteam[best])

    def overlap(self, a: int, b: int) -> tuple[float, float, float]:
        """Patrol-minutes, officer-minutes and the longest continuous presence in [a, b]."""
        pe = np.clip(np.minimum(self.e, b) - np.maximum(self.s, a), 0, None)
        oe = np.clip(np.minimum(self.oe, b) - np.maximum(self.os, a), 0, None)
        longest = float(pe.max()) / _NS_PER_MIN if len(pe) else 0.0
        return float(pe.sum()) / _NS_PER_MIN, float(oe.sum()) / _NS_PER_MIN, longest

    def present(self, a: int, b: int) -> bool:
        """Any presence in the half-open day [a, b)."""
        return bool(np.any((self.s < b) & (self.e >= a)))


def _timelines(visits: Visits, hotspot_ids) -> dict[str, _HotspotTimeline]:
    blocks = visits.presence()
    officer_blocks = visits.presence(by_officer=True)
    frame = visits.frame
    out = {}
    by_b = dict(tuple(blocks.groupby("hotspot_id", sort=False))) if len(blocks) else {}
    by_o = dict(tuple(officer_blocks.groupby("hotspot_id", sort=False))) if len(officer_blocks) else {}
    by_v = dict(tuple(frame.groupby("hotspot_id", sort=False))) if len(frame) else {}
    empty_b = blocks.iloc[:0]
    empty_v = frame.iloc[:0]
    for h in hotspot_ids:
        out[str(h)] = _HotspotTimeline(by_b.get(h, empty_b), by_o.get(h, officer_blocks.iloc[:0]),
                                       by_v.get(h, empty_v))
    return out


@dataclass(frozen=True)
class ScoringContext:
    """What scoring needs from the visits whatever the period: the responsible team and
    the presence timeline of every hotspot (built once by :func:`scoring_context`, shared
    by the periods of a bulk run, e.g. the demo's 26 weekly reports)."""

    visits: Visits
    hotspot_ids: tuple[str, ...]
    teams: Mapping[str, str] | None
    team_of: Mapping[str, str]
    lines: Mapping[str, _HotspotTimeline]


def scoring_context(visits: Visits, hotspots: HotspotSet,
                    teams: Mapping[str, str] | None = None) -> ScoringContext:
    """The period-independent part of :func:`score_compliance` for ``visits``."""
    return ScoringContext(visits=visits, hotspot_ids=tuple(map(str, hotspots.ids)),
                          teams=None if teams is None else dict(teams),
                          team_of=responsible_teams(visits, hotspots.ids, teams),
                          lines=_timelines(visits, hotspots.ids))


def _check_context(context: ScoringContext, visits: Visits, hotspots: HotspotSet,
                   teams: Mapping[str, str] | None) -> None:
    """A context built from other visits, hotspots or teams would score the wrong presence."""
    same_teams = (None if teams is None else dict(teams)) == context.teams
    if context.visits is not visits or context.hotspot_ids != tuple(map(str, hotspots.ids)) or not same_teams:
        raise ValueError("the scoring context was built from other visits, hotspots or teams; "
                         "build it with scoring_context() from the same ones")


def score_compliance(allocation: Allocation, visits: Visits, *, hotspots: HotspotSet,
                     config: TrialConfig, first: dt.date | None = None, last: dt.date | None = None,
                     teams: Mapping[str, str] | None = None,
                     provenance: Provenance | None = None,
                     observed_until: pd.Timestamp | None = None,
                     context: ScoringContext | None = None) -> ComplianceResult:
    """Score the scheduled patrols of ``allocation`` between ``first`` and ``last``
    (inclusive; default: all its days) against ``visits``.

    ``observed_until`` is the instant the presence data end (UTC; the last usable ping,
    or the report time if earlier). A patrol not yet arrived whose deadline is later is
    ``pending``; ``None`` means every deadline is observed. ``context`` (from
    :func:`scoring_context` on the same ``visits``, ``hotspots`` and ``teams``) skips
    rebuilding the hotspot timelines when many periods are scored; the result is the same.

    Raises
    ------
    DataError
        The allocation names hotspots that are not in the hotspot file, or has no rows in
        the period.
    """
    rules = config.compliance
    frame = allocation.frame
    days = sorted(set(frame["date"]))
    first = first or days[0]
    last = last or days[-1]
    frame = frame[(frame["date"] >= first) & (frame["date"] <= last)]
    if frame.empty:
        raise DataError("the allocation has no hotspot-days in the period",
                        where=str(allocation.source or "allocation"),
                        expected=f"rows dated {first} to {last}", found=f"days {days[0]} to {days[-1]}",
                        fix="choose a period the published schedule covers (--week or --from/--to)")
    known = set(map(str, hotspots.ids))
    unknown = sorted(set(frame["hotspot_id"]) - known)
    if unknown:
        raise DataError(f"the allocation names hotspots not in the hotspot file: {', '.join(unknown[:5])}",
                        where=str(allocation.source or "allocation"),
                        fix="use the allocation made for this trial's hotspots")
    block = dict(zip(hotspots.ids, hotspots.blocks, strict=True))
    if context is None:
        context = scoring_context(visits, hotspots, teams)
    else:
        _check_context(context, visits, hotspots, teams)
    team_of, lines = context.team_of, context.lines
    tz, day_start = config.trial.tz, config.trial.day_start_time
    within = int(round(rules.arrival_within_hours * 3600 * 1e9))
    seen_to = None if observed_until is None else pd.Timestamp(observed_until).tz_convert("UTC").value
    patrol_rows, control_rows = [], []
    for row in frame.itertuples(index=False):
        line = lines[row.hotspot_id]
        common = {"date": row.date, "hotspot_id": row.hotspot_id, "block": block[row.hotspot_id],
                  "team": team_of[row.hotspot_id], "dow": _DOW[row.date.weekday()], "week": iso_week(row.date)}
        if row.arm == "treatment":
            a = int(row.window_start.value)
            b = a + within
            arrival, officer, arrival_team = line.arrival(a)
            patrol_min, officer_min, longest = line.overlap(a, b)
            compliant = arrival is not None and arrival <= b
            pending = not compliant and seen_to is not None and b > seen_to
            patrol_rows.append({
                **common, "window_start": row.window_start, "deadline": pd.Timestamp(b, tz="UTC"),
                "first_arrival": pd.Timestamp(arrival, tz="UTC") if arrival is not None else pd.NaT,
                "lag_minutes": (arrival - a) / _NS_PER_MIN if arrival is not None else np.nan,
                "compliant": bool(compliant), "pending": pending,
                "status": "compliant" if compliant else ("pending" if pending else "missed"),
                "patrol_minutes": patrol_min,
                "officer_minutes": officer_min, "koper_met": bool(longest >= rules.koper_minutes and compliant),
                "first_officer": officer if compliant else "", "arrival_team": arrival_team if compliant else ""})
        else:
            ds, de = day_bounds(row.date, tz, day_start)
            a, b = pd.Timestamp(ds).value, pd.Timestamp(de).value
            patrol_min, officer_min, _ = line.overlap(a, b)
            present = line.present(a, b)
            control_rows.append({**common, "day_start": pd.Timestamp(ds), "day_end": pd.Timestamp(de),
                                 "contaminated": present,
                                 "pending": not present and seen_to is not None and b > seen_to,
                                 "patrol_minutes": patrol_min,
                                 "officer_minutes": officer_min})
    patrols = _frame(patrol_rows, ["date", "hotspot_id", "block", "team", "window_start", "deadline",
                                   "first_arrival", "lag_minutes", "compliant", "pending", "status",
                                   "patrol_minutes",
                                   "officer_minutes", "koper_met", "first_officer", "arrival_team",
                                   "dow", "week"])
    controls = _frame(control_rows, ["date", "hotspot_id", "block", "team", "day_start", "day_end",
                                     "contaminated", "pending", "patrol_minutes", "officer_minutes", "dow",
                                     "week"])
    hotspot_days = _hotspot_days(frame, patrols, controls, lines, tz, day_start, seen_to)
    return ComplianceResult(patrols=patrols, controls=controls, hotspot_days=hotspot_days,
                            visits=visits, rules=rules, first_day=first, last_day=last,
                            provenance=provenance,
                            observed_until=None if seen_to is None else pd.Timestamp(seen_to, tz="UTC"))


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("compliant", "pending", "koper_met", "contaminated"):
        if col in frame:
            frame[col] = frame[col].astype(bool)
    for col in ("patrol_minutes", "officer_minutes", "lag_minutes"):
        if col in frame:
            frame[col] = frame[col].astype(float)
    return frame


def _contaminated(arm: str, present: bool, day_end: int, seen_to: int | None):
    """1 seen on a control day, 0 not seen on an observed one, <NA> not seen yet."""
    if arm != "control":
        return 0
    if present:
        return 1
    return pd.NA if seen_to is not None and day_end > seen_to else 0


def _hotspot_days(alloc: pd.DataFrame, patrols: pd.DataFrame, controls: pd.DataFrame,
                  lines: dict[str, _HotspotTimeline], tz, day_start, seen_to: int | None) -> pd.DataFrame:
    keys = alloc[["date", "hotspot_id", "arm", "window_start"]].sort_values("window_start", kind="stable")
    keys = keys.drop_duplicates(["date", "hotspot_id"])  # the first window of the hotspot-day
    # delivered: 1 all compliant, 0 any missed, unknown (<NA>) when none missed but some pending
    if len(patrols):
        grouped = patrols.groupby(["date", "hotspot_id"])
        delivered = grouped["compliant"].all()
        missed = (~patrols["compliant"] & ~patrols["pending"]).groupby(
            [patrols["date"], patrols["hotspot_id"]]).any()
    else:
        delivered = missed = pd.Series(dtype=bool)
    rows = []
    for d, h, arm, start in keys.itertuples(index=False):
        ds, de = day_bounds(d, tz, day_start)
        a, b = pd.Timestamp(ds).value, pd.Timestamp(de).value
        dosage, _, _ = lines[h].overlap(a, b)
        if arm != "treatment" or bool(delivered.get((d, h), False)):
            flag = int(arm == "treatment")
        else:
            flag = 0 if bool(missed.get((d, h), True)) else pd.NA
        present = lines[h].present(a, b)
        on_day = arm == "treatment" and not pd.isna(start) and lines[h].present(int(start.value), b)
        rows.append({"date": d, "hotspot_id": h, "delivered": flag, "dosage_minutes": dosage,
                     "contaminated": _contaminated(arm, present, b, seen_to),
                     "delivered_on_day": _on_day(arm == "treatment", on_day, b, seen_to),
                     "present_on_day": _on_day(True, present, b, seen_to)})
    out = pd.DataFrame(rows, columns=list(HOTSPOT_DAY_COLUMNS + ON_DAY_COLUMNS))
    for col in ("delivered", "contaminated", *ON_DAY_COLUMNS):
        out[col] = out[col].astype("Int64")
    return out.sort_values(["date", "hotspot_id"], kind="stable").reset_index(drop=True)


def _on_day(applies: bool, present: bool, day_end: int, seen_to: int | None):
    """On-day presence: 1 seen, 0 not seen on an observed day, <NA> day not yet over."""
    if not applies:
        return 0
    if present:
        return 1
    return pd.NA if seen_to is not None and day_end > seen_to else 0


def compliance_by_hotspot_day(result: ComplianceResult) -> pd.DataFrame:
    """``date, hotspot_id, delivered (0/1), dosage_minutes, contaminated (0/1)`` per
    hotspot-day of the period (docs/contracts.md; read by ``evaluate --compliance``)."""
    return result.hotspot_days.copy()
