"""The parts of a weekly report that do not depend on the week, built once for many weeks.

A weekly report (:mod:`guardian_rct.reports.weekly`) shows, beside the week's patrols,
tables drawn from the visits of its period (the officers table, the visit totals, the
pseudonymised visits CSV: :func:`period_mask`) and maps drawn over the trial's context
layers. When one read of the pings serves many weeks (the demo's 26 reports,
``compliance`` over several weeks) the pseudonymised visits table and the map context are
the same for every week: :func:`weekly_shared` builds them once and
:func:`~guardian_rct.reports.weekly.build_weekly_report` and
:func:`~guardian_rct.reports.weekly.write_weekly_report` take them as ``shared=``. A week
written with them is identical to one written without.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct.compliance.scoring import ComplianceResult
from guardian_rct.compliance.visits import Visits
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.reports.map_layers import map_context
from guardian_rct.reports.maps import MapContext

__all__ = ["WeeklyShared", "weekly_shared", "json_number", "officer_rows", "visit_totals",
           "pseudonymised_visits", "period_mask", "period_visits"]


def json_number(value: Any) -> Any:
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


def period_mask(visits: Visits, result: ComplianceResult) -> np.ndarray:
    """Which visits belong to the report's period: those overlapping its scoring window.

    The window runs from the earliest scheduled window start or control-day start of the
    period to its latest deadline or control-day end, so it holds every visit that could
    decide a patrol or contaminate a control day of the period, and no officer activity
    of other weeks (a week's report must not carry a whole pings file's movements).
    """
    frame = visits.frame
    if frame.empty:
        return np.zeros(0, dtype=bool)
    lows = [result.patrols["window_start"], result.controls["day_start"]]
    highs = [result.patrols["deadline"], result.controls["day_end"]]
    lows, highs = [s for s in lows if len(s)], [s for s in highs if len(s)]
    if not lows:
        return np.zeros(len(frame), dtype=bool)
    lo = min(pd.Timestamp(s.min()) for s in lows)
    hi = max(pd.Timestamp(s.max()) for s in highs)
    return ((frame["end"] >= lo) & (frame["start"] <= hi)).to_numpy()


def period_visits(visits: Visits, result: ComplianceResult) -> Visits:
    """The visits of :func:`period_mask`."""
    return Visits(visits.frame[period_mask(visits, result)])


def officer_rows(visits: Visits, pseudonymiser: Pseudonymiser) -> list[dict]:
    """Visits and visit-minutes per officer (pseudonymised), most visits first."""
    rows: list[dict] = []
    if len(visits):
        per = visits.frame.groupby("officer").agg(visits=("minutes", "size"), visit_minutes=("minutes", "sum"))
        for officer, rec in per.iterrows():
            rows.append({"officer": pseudonymiser(str(officer)), "visits": int(rec["visits"]),
                         "visit_minutes": json_number(rec["visit_minutes"])})
        rows.sort(key=lambda r: (-r["visits"], r["officer"]))
    return rows


def visit_totals(visits: Visits) -> dict:
    """:meth:`Visits.summary`, JSON-ready."""
    return {k: json_number(v) for k, v in visits.summary().items()}


def pseudonymised_visits(visits: Visits, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """The visits table with officer and device ids replaced by keyed pseudonyms (device
    ids — radios, vehicles, phones — identify officers too)."""
    devices = pseudonymiser.for_devices()
    frame = visits.frame.copy()
    frame["officer_id"] = pseudonymiser.many(frame["officer_id"].astype(str))
    frame["officer"] = pseudonymiser.many(frame["officer"].astype(str))
    if "device_id" in frame.columns:
        frame["device_id"] = devices.many(frame["device_id"].astype(str))
    return frame


@dataclass(frozen=True)
class WeeklyShared:
    """Week-independent parts of the weekly reports on ``visits`` (see the module docstring).

    ``visits_table`` is read-only by convention: writers copy before changing it.
    """

    visits: Visits
    pseudonymiser: Pseudonymiser
    visits_table: pd.DataFrame
    context: MapContext | None

    def check(self, visits: Visits, pseudonymiser: Pseudonymiser) -> None:
        """Refuse to serve a report on other visits or under another pseudonymiser."""
        if visits is not self.visits or pseudonymiser is not self.pseudonymiser:
            raise ValueError("the shared weekly-report parts were built from other visits or another "
                             "pseudonymiser; build them with weekly_shared() from the same ones")


def weekly_shared(visits: Visits, pseudonymiser: Pseudonymiser, *, config: TrialConfig | None,
                  hotspots: HotspotSet) -> WeeklyShared:
    """Build the parts every weekly report on ``visits`` shares (the map context only with
    ``config``, as :func:`~guardian_rct.reports.weekly.write_weekly_report` does)."""
    return WeeklyShared(visits=visits, pseudonymiser=pseudonymiser,
                        visits_table=pseudonymised_visits(visits, pseudonymiser),
                        context=map_context(config, hotspots) if config is not None else None)
