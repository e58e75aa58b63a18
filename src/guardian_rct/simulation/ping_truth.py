"""The truth of simulated visits, read off the officers' noise-free tracks.

A visit's true arrival is the first fix whose true (noise-free) position lies inside the
hotspot; a scheduled patrol is delivered when any officer is truly inside its hotspot
within the arrival window, and a control day is contaminated when any officer is truly
inside the hotspot during the experimental day (:func:`compliance_table`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.days import experimental_days

__all__ = ["true_visits", "present_days", "compliance_table"]

_NS = 1_000_000_000


def true_visits(visits: pd.DataFrame, owner: np.ndarray, t_ns: np.ndarray, xy: np.ndarray, geoms: np.ndarray,
                vh: np.ndarray, win_start: np.ndarray,
                within_h: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The visits with their truth from noise-free positions, and every in-hotspot fix.

    ``owner``, ``t_ns`` and ``xy`` are each fix's visit, UTC time (ns) and noise-free
    position; ``vh`` each visit's hotspot position among ``geoms``; ``win_start`` the
    scheduled visits' window starts (UTC ns).

    Each visit's own stay runs from its first to its last fix inside its hotspot. A
    scheduled patrol is on time when any officer is inside its hotspot within the
    arrival window (a travel leg may cross another hotspot, and that is a real arrival
    there).

    Returns
    -------
    visits : pandas.DataFrame
        In the column order of
        :attr:`~guardian_rct.simulation.pings.SimulatedPings.visits`.
    pres_pt, pres_h : numpy.ndarray
        Fix index and hotspot position of every fix that lies inside a hotspot.
    """
    visits = visits.copy()
    n_v = len(visits)
    own = shapely.contains_xy(geoms[vh[owner]], xy[:, 0], xy[:, 1])
    big, small = np.iinfo("int64").max, np.iinfo("int64").min
    arrived = np.full(n_v, big)
    np.minimum.at(arrived, owner[own], t_ns[own])
    left = np.full(n_v, small)
    np.maximum.at(left, owner[own], t_ns[own])
    seen = arrived != big
    visits["intended_status"] = visits["status"]
    visits["stay_start"] = _instants(arrived, seen)
    visits["stay_end"] = _instants(left, seen)
    visits["stay_minutes"] = np.where(seen, (left - np.where(seen, arrived, 0)) / _NS / 60.0, 0.0).round(2)
    pres_pt, pres_h = _presence(geoms, xy)
    sched_idx = np.flatnonzero(visits["kind"].to_numpy() == "scheduled")
    first_in, first_pt = _first_presence(pres_h, t_ns[pres_pt], pres_pt, vh[sched_idx], win_start,
                                         win_start + int(within_h * 3600) * _NS)
    found = first_in != big
    visits.loc[sched_idx, "status"] = np.where(found, "on_time", np.where(seen[sched_idx], "late", "never"))
    arrival = np.where(seen, arrived, big)
    arrival[sched_idx] = np.where(found, first_in, arrival[sched_idx])
    visits["arrived_at"] = _instants(arrival, arrival != big)
    devices = visits["device_id"].to_numpy()
    by = np.where(seen, devices, None)
    by[sched_idx] = np.where(found, devices[owner[np.maximum(first_pt, 0)]] if len(owner) else None,
                             by[sched_idx])
    visits["arrived_by"] = by
    visits = visits[["visit_id", "kind", "date", "hotspot_id", "window_start", "intended_status", "status",
                     "arrived_at", "arrived_by", "stay_start", "stay_end", "stay_minutes", "officer_id", "device_id", "team"]]
    return visits, pres_pt, pres_h


def present_days(t_ns: np.ndarray, hotspot_ids: np.ndarray, tz: ZoneInfo,
                  day_start: dt.time) -> set[tuple[dt.date, str]]:
    """``(experimental day, hotspot_id)`` of every in-hotspot fix."""
    if not len(t_ns):
        return set()
    days = [d.item() for d in experimental_days(pd.to_datetime(t_ns, utc=True), tz, day_start)]
    return set(zip(days, hotspot_ids, strict=True))


def _instants(values: np.ndarray, ok: np.ndarray) -> pd.Series:
    """UTC timestamps of nanosecond ``values``; NaT where not ``ok``."""
    out = pd.Series(pd.to_datetime(np.where(ok, values, 0), utc=True))
    out[~ok] = pd.NaT
    return out


def _presence(geoms: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fix index, hotspot index) of every fix that lies inside a hotspot."""
    if len(xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    tree = shapely.STRtree(geoms)
    pts, hot = tree.query(shapely.points(xy[:, 0], xy[:, 1]), predicate="within")
    return pts, hot


def _first_presence(pres_h: np.ndarray, pres_t: np.ndarray, pres_pt: np.ndarray, visit_h: np.ndarray,
                    start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First presence time in ``[start, end]`` in each visit's hotspot (and its fix)."""
    first = np.full(len(visit_h), np.iinfo("int64").max)
    fix = np.full(len(visit_h), -1)
    for h in np.unique(visit_h):
        sel = np.flatnonzero(visit_h == h)
        mine = np.flatnonzero(pres_h == h)
        if len(mine) == 0:
            continue
        order = mine[np.argsort(pres_t[mine], kind="stable")]
        times = pres_t[order]
        i = np.searchsorted(times, start[sel], side="left")
        ok = i < len(times)
        ok[ok] = times[i[ok]] <= end[sel][ok]
        first[sel[ok]] = times[i[ok]]
        fix[sel[ok]] = pres_pt[order[i[ok]]]
    return first, fix


def compliance_table(alloc: pd.DataFrame, visits: pd.DataFrame, present: set[tuple[dt.date, str]], tz: ZoneInfo,
                     day_start: dt.time) -> pd.DataFrame:
    """True delivered / dosage / contaminated per allocation hotspot-day.

    ``delivered``: a scheduled visit that day is on time (any officer truly inside the
    hotspot within the arrival window); ``contaminated``: on a control day, some officer
    was truly inside the hotspot during the experimental day; ``dosage_minutes``: the
    stays of the simulated visits that arrived on that experimental day (time spent
    crossing it on a travel leg is not counted).
    """
    keys = alloc.drop_duplicates(["date", "hotspot_id"])[["date", "hotspot_id", "arm"]].reset_index(drop=True)
    own = visits[visits["stay_start"].notna()]
    days = [d.item() for d in experimental_days(own["stay_start"], tz, day_start)] if len(own) else []
    dosage = own.assign(day=days).groupby(["day", "hotspot_id"])["stay_minutes"].sum().to_dict() if len(own) else {}
    on_time = visits[(visits["kind"] == "scheduled") & (visits["status"] == "on_time")]
    delivered = set(zip(on_time["date"], on_time["hotspot_id"], strict=True))
    pairs = list(zip(keys["date"], keys["hotspot_id"], strict=True))
    out = keys.copy()
    out["delivered"] = [int(p in delivered) for p in pairs]
    out["dosage_minutes"] = [round(float(dosage.get(p, 0.0)), 2) for p in pairs]
    out["contaminated"] = [int(arm == "control" and p in present) for p, arm in zip(pairs, keys["arm"], strict=True)]
    return out
