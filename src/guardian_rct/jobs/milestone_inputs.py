"""The milestone evaluation's inputs: the allocation, compliance, and the checks on them.

An allocation is read from the trial store (the published schedules) or from a file made
by another tool, and must name exactly the trial's hotspots and cover every hotspot-day of
the evaluated period; compliance per hotspot-day comes from a CSV or is scored from pings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.days import day_bounds
from guardian_rct._core.errors import DataError, where
from guardian_rct.compliance.ping_assignment import ping_options_for
from guardian_rct.compliance.ping_plausibility import check_ping_file
from guardian_rct.compliance.presence import score_pings
from guardian_rct.compliance.scoring import compliance_by_hotspot_day, score_compliance
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import Allocation, read_allocation_csv
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.publish import published_allocation
from guardian_rct.ledger.store import open_trial

__all__ = ["check_allocation_matches", "check_panel_usable", "load_allocation", "compliance_from_pings"]


def check_allocation_matches(allocation: Allocation, hotspot_ids: Sequence[str], first: dt.date,
                             last: dt.date) -> None:
    """An allocation must name exactly the trial's hotspots and cover every hotspot-day.

    Raises
    ------
    DataError
        Naming the first unknown hotspot, the first date outside ``first``–``last``, a
        trial hotspot the allocation never mentions, or the first missing hotspot-day.
    """
    src = allocation.source
    frame = allocation.frame
    known = set(map(str, hotspot_ids))
    unknown = sorted(set(frame["hotspot_id"]) - known)
    if unknown:
        raise DataError(f"the allocation names hotspot '{unknown[0]}', which is not in the trial's hotspot file",
                        where=where(src, None, "hotspot_id"), expected=f"one of the {len(known)} trial hotspots",
                        found=f"{len(unknown)} unknown id(s): {', '.join(unknown[:5])}",
                        fix="use the allocation made for these hotspots, or the matching hotspot file")
    days = sorted(set(frame["date"]))
    outside = [d for d in days if not first <= d <= last]
    if outside:
        raise DataError("the allocation has dates outside the evaluated period", where=where(src, None, "date"),
                        expected=f"{first} to {last}", found=f"{outside[0]} (and {len(outside) - 1} more)",
                        fix="check the trial's start_date/end_date or export the allocation for this trial")
    absent = sorted(known - set(frame["hotspot_id"]))
    if absent:
        raise DataError(f"trial hotspot '{absent[0]}' never appears in the allocation",
                        where=where(src, None, "hotspot_id"), found=f"{len(absent)} hotspot(s) missing",
                        fix="export an allocation row for every hotspot and day")
    wanted = pd.MultiIndex.from_product([pd.Index(pd.date_range(first, last).date, name="date"),
                                         pd.Index(sorted(known), name="hotspot_id")])
    have = pd.MultiIndex.from_frame(frame[["date", "hotspot_id"]].drop_duplicates())
    missing = wanted.difference(have)
    if len(missing):
        d, h = missing[0]
        raise DataError("the allocation does not cover every hotspot-day of the evaluated period",
                        where=where(src, None, "date"), expected=f"{len(wanted)} hotspot-days",
                        found=f"{len(missing)} missing, first {h} on {d}",
                        fix="export the allocation for every day from the trial start to the look date")


def check_panel_usable(frame: pd.DataFrame, outcomes: Sequence[str]) -> None:
    """The panel must have both arms and a count column for every outcome.

    Raises
    ------
    DataError
        With a message saying which arm is missing or which column.
    """
    for o in outcomes:
        if f"count_{o}" not in frame.columns:
            raise DataError(f"the panel has no counts for outcome '{o}'", where="panel",
                            expected=f"column count_{o}", fix=f"define [outcomes.{o}] before building the panel")
    if len(frame) == 0:
        raise DataError("the panel has no hotspot-days", where="panel",
                        fix="check the trial dates and the look date")
    treated = pd.to_numeric(frame["treated"], errors="coerce").to_numpy()
    if not np.any(treated == 1):
        raise DataError("the panel has no treated hotspot-days: no effect can be estimated", where="panel",
                        found=f"{len(frame)} hotspot-days, all control",
                        fix="check the allocation's 'arm' column (treatment/control) and the evaluated dates")
    if not np.any(treated == 0):
        raise DataError("the panel has no control hotspot-days: no effect can be estimated", where="panel",
                        found=f"{len(frame)} hotspot-days, all treated",
                        fix="check the allocation's 'arm' column (treatment/control) and the evaluated dates")


def load_allocation(config: TrialConfig, allocation: Allocation | str | Path | None,
                    hotspots: HotspotSet, look: dt.date) -> Allocation:
    """The allocation to evaluate up to ``look``: the trial store's published schedules
    (``allocation=None``), an :class:`Allocation`, or an allocation CSV; checked with
    :func:`check_allocation_matches` and cut at the look date."""
    hotspot_ids = [str(h) for h in hotspots.ids]
    if allocation is None:
        open_trial(config, hotspots=hotspots)  # hotspots already read: do not read the file again
        alloc = published_allocation(config, first=None, last=look, hotspots=hotspots)
    elif isinstance(allocation, Allocation):
        alloc = allocation
    else:
        alloc = read_allocation_csv(allocation)
    if not alloc.days:
        raise DataError("the allocation has no days", where=where(alloc.source), fix="publish or export schedules first")
    check_allocation_matches(alloc, hotspot_ids, config.trial.start_date, min(look, max(alloc.days)))
    if max(alloc.days) > look:  # an imported allocation may run past the look date
        frame = alloc.frame[alloc.frame["date"] <= look].reset_index(drop=True)
        alloc = Allocation(frame, source=alloc.source)
    return alloc


def compliance_from_pings(config: TrialConfig, hotspots: HotspotSet, allocation: Allocation,
                          pings_path: str | Path) -> pd.DataFrame:
    """Score location pings into compliance per hotspot-day (``COMPLIANCE_COLUMNS``)."""
    options = ping_options_for(hotspots, config.compliance)
    score = score_pings(pings_path, hotspots, config.compliance, options=options)
    # a file that cannot be this trial's pings (degrees as metres, swapped lat/lon, another
    # area, another period) is refused with its likely cause, never scored as 0% delivery
    first, last = min(allocation.days), max(allocation.days)
    tz, start = config.trial.tz, config.trial.day_start_time
    period = (day_bounds(first, tz, start)[0],
              day_bounds(last, tz, start)[1] + dt.timedelta(hours=config.compliance.arrival_within_hours))
    check_ping_file(score.extent, n_read=score.n_read, source=str(pings_path), period=period,
                    period_label=f"{first} to {last}")
    # patrols whose deadline is after the last ping are unknown (empty), not missed
    seen = pd.Timestamp("1970-01-01", tz="UTC")
    if score.last_ping is not None:
        seen = min(pd.Timestamp(score.last_ping), pd.Timestamp(dt.datetime.now(dt.UTC)))
    result = score_compliance(allocation, score.visits, hotspots=hotspots, config=config, observed_until=seen)
    return compliance_by_hotspot_day(result)
