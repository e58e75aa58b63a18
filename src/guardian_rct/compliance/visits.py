"""Visits: stays of an officer's device in a hotspot, built from in-hotspot pings.

Rules (``[compliance]`` keys in brackets):

* a *track* is one device carried by one officer (``device_id``, ``officer_id``); an
  officer without ``officer_id`` is identified by the device;
* per track and hotspot, pings are taken in time order; consecutive in-hotspot pings no
  more than ``max_ping_gap_minutes`` apart belong to one visit. Pings outside the hotspot
  in between do not end the visit, so a device that steps out and returns within the gap
  tolerance makes one visit (GPS jitter across the edge does not fragment a stay);
* a visit lasts from its first to its last ping; visits shorter than
  ``min_visit_minutes`` are not visits (a single ping is a visit of 0 minutes when that
  threshold is 0: the officer was seen there);
* *officer-minutes* add up officers: per officer the union of their visits (two devices
  on one officer are not counted twice), summed over officers;
* *patrol-minutes* are the time with at least one officer present: the union of all
  visits in the hotspot, so two officers together are not counted twice.

The grouping follows the usual stay-point logic of GPS trajectory mining (Li et al. 2008,
"Mining user similarity based on location history", ACM GIS), with a hotspot polygon in
place of a distance threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from guardian_rct.compliance.visit_order import visit_order, visit_runs

__all__ = ["VISIT_COLUMNS", "Visits", "visit_kernel", "visits_from_arrays", "union_blocks",
           "empty_visits", "officer_key", "sort_visits"]

VISIT_COLUMNS = ("device_id", "officer_id", "officer", "team", "hotspot_id", "start", "end",
                 "minutes", "n_pings")
_NS_PER_MIN = 60_000_000_000


def officer_key(device_id: pd.Series | np.ndarray, officer_id: pd.Series | np.ndarray) -> np.ndarray:
    """Who an officer is for counting: ``officer_id``, or ``device:<id>`` when it is empty."""
    dev = np.asarray(device_id, dtype=object)
    off = np.asarray(officer_id, dtype=object)
    missing = (off == "") | pd.isna(off)
    return np.where(missing, np.char.add("device:", dev.astype(str)).astype(object), off)


@dataclass(frozen=True)
class Visits:
    """Visits to hotspots.

    ``frame`` columns: ``device_id``, ``officer_id`` (as given), ``officer`` (counting
    identity, see :func:`officer_key`), ``team`` (of the visit's first ping),
    ``hotspot_id``, ``start``, ``end`` (UTC), ``minutes`` (float), ``n_pings``; sorted by
    hotspot, start, device and officer.
    """

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def presence(self, *, by_officer: bool = False) -> pd.DataFrame:
        """Union of visit intervals per hotspot (``by_officer``: per hotspot and officer).

        Columns ``hotspot_id`` (and ``officer``), ``start``, ``end`` as int64 UTC
        nanoseconds; within a group blocks are disjoint and sorted. Touching or
        overlapping visits merge.
        """
        keys = ["hotspot_id", "officer"] if by_officer else ["hotspot_id"]
        if self.frame.empty:
            return pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys},
                                 "start": pd.Series(dtype=np.int64), "end": pd.Series(dtype=np.int64)})
        frame = self.frame
        group = frame.groupby(keys, sort=True).ngroup().to_numpy()
        start = frame["start"].astype("int64").to_numpy()
        end = frame["end"].astype("int64").to_numpy()
        g, s, e = union_blocks(group, start, end)
        firsts = frame.groupby(keys, sort=True)[keys].first().reset_index(drop=True)
        out = firsts.iloc[g].reset_index(drop=True)
        out["start"] = s
        out["end"] = e
        return out

    def summary(self) -> dict:
        """Counts: visits, officers, hotspots visited, officer- and patrol-minutes."""
        per = self.presence()
        officer = self.presence(by_officer=True)
        return {
            "visits": len(self.frame),
            "officers": int(self.frame["officer"].nunique()) if len(self.frame) else 0,
            "hotspots_visited": int(self.frame["hotspot_id"].nunique()) if len(self.frame) else 0,
            "patrol_minutes": float((per["end"] - per["start"]).sum() / _NS_PER_MIN),
            "officer_minutes": float((officer["end"] - officer["start"]).sum() / _NS_PER_MIN),
        }


def union_blocks(group: np.ndarray, start: np.ndarray, end: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge intervals ``[start, end]`` within each group into disjoint sorted blocks.

    Overlapping or touching intervals merge (closed intervals). Returns the group, start
    and end of every block, sorted by group then start.
    """
    if len(group) == 0:
        return group[:0], start[:0], end[:0]
    order = np.lexsort((start, group))
    g, s, e = group[order], start[order], end[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    # Running max of end within a group: offset by group so the max never leaks across.
    block_id = np.cumsum(new_group) - 1
    run_end = _grouped_cummax(e, block_id)
    prev_end = np.r_[np.iinfo(np.int64).min, run_end[:-1]]
    starts_block = new_group | (s > prev_end)
    first = np.flatnonzero(starts_block)
    block_end = np.maximum.reduceat(e, first)
    return g[first], s[first], block_end


def _grouped_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative maximum of ``values`` restarting at each new ``group`` (sorted groups)."""
    return pd.Series(values).groupby(group).cummax().to_numpy()


def visit_kernel(track: np.ndarray, hotspot: np.ndarray, t: np.ndarray, *, max_gap_ns: int,
                 min_visit_ns: int) -> dict[str, np.ndarray]:
    """Group in-hotspot pings into visits (vectorised; see the module rules).

    Parameters
    ----------
    track, hotspot
        Integer codes per ping (any order).
    t
        UTC nanoseconds per ping.

    Returns
    -------
    dict with arrays ``track``, ``hotspot``, ``start``, ``end``, ``n_pings`` and
    ``first`` (position in the input of each visit's first ping), one entry per visit.
    """
    if len(t) == 0:
        empty = np.empty(0, dtype=np.int64)
        return {"track": empty, "hotspot": empty, "start": empty, "end": empty,
                "n_pings": empty, "first": empty}
    order = visit_order(track, hotspot, t)  # = np.lexsort((t, hotspot, track)), compiled
    first, last = visit_runs(order, track, hotspot, t, max_gap_ns=max_gap_ns, min_visit_ns=min_visit_ns)
    at_first, at_last = order[first], order[last]
    return {"track": track[at_first], "hotspot": hotspot[at_first], "start": t[at_first], "end": t[at_last],
            "n_pings": (last - first + 1).astype(np.int64), "first": at_first}


def empty_visits() -> Visits:
    """A Visits with no rows (and the right columns)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in VISIT_COLUMNS})
    frame["start"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["end"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["minutes"] = pd.Series(dtype=float)
    frame["n_pings"] = pd.Series(dtype=np.int64)
    return Visits(frame)


def visits_from_arrays(kernel: dict[str, np.ndarray], *, devices: np.ndarray, officers: np.ndarray,
                       teams: np.ndarray, team_of_first: np.ndarray, hotspot_ids: np.ndarray) -> Visits:
    """Turn :func:`visit_kernel` output into a :class:`Visits` frame.

    ``devices``/``officers`` are indexed by track code, ``teams`` by team code,
    ``team_of_first`` gives the team code of each visit's first ping, and ``hotspot_ids``
    is indexed by hotspot code.
    """
    if len(kernel["start"]) == 0:
        return empty_visits()
    track = kernel["track"]
    dev = np.asarray(devices, dtype=object)[track]
    off = np.asarray(officers, dtype=object)[track]
    frame = pd.DataFrame({
        "device_id": dev,
        "officer_id": off,
        "officer": officer_key(dev, off),
        "team": np.asarray(teams, dtype=object)[team_of_first],
        "hotspot_id": np.asarray(hotspot_ids, dtype=object)[kernel["hotspot"]],
        "start": pd.DatetimeIndex(kernel["start"].view("datetime64[ns]")).tz_localize("UTC"),
        "end": pd.DatetimeIndex(kernel["end"].view("datetime64[ns]")).tz_localize("UTC"),
        "minutes": (kernel["end"] - kernel["start"]) / _NS_PER_MIN,
        "n_pings": kernel["n_pings"],
    })
    return sort_visits(frame)


def sort_visits(frame: pd.DataFrame) -> Visits:
    """Visits in their canonical order (so that engines can be compared row by row)."""
    frame = frame.sort_values(["hotspot_id", "start", "device_id", "officer_id", "end"],
                              kind="stable").reset_index(drop=True)
    return Visits(frame[list(VISIT_COLUMNS)])
