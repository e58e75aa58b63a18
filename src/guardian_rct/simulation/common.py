"""Pieces the crime and ping simulators share: calibration tables, random points in
polygons, experimental-day instants and ISO 8601 formatting.

The calibration tables in ``data/sim_*`` are built by ``scripts/build_calibration.py``
from data.police.uk West Midlands counts (Open Government Licence v3.0) and the CCHI 2026
subgroup medians; see that script for what is calibrated and what is assumed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.days import day_bounds

__all__ = ["Calibration", "load_calibration", "random_points_in", "local_clock_instants",
           "iso_with_offset", "iso_utc", "day_starts_utc"]


class SimulatedOutput:
    """Shared accessors of a simulated file and its truth (``frame``, ``truth``)."""

    frame: pd.DataFrame
    truth: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The truth (JSON-ready)."""
        return self.truth

    def to_frame(self) -> pd.DataFrame:
        """The simulated records, in their file contract's columns."""
        return self.frame


@dataclass(frozen=True)
class Calibration:
    """The shipped calibration of the crime simulator.

    Attributes
    ----------
    profiles
        One row per real high-violence West Midlands LSOA: ``rank``, ``lsoa_code`` and the
        mean daily count of each data.police.uk crime type.
    offences
        Representative Home Office codes: ``offence_code, description, crime_type,
        subgroup, person_victim, victim_age_min, victim_age_max, proactive_share,
        share_in_category, cchi_days``.
    meta
        ``sim_calibration.json``: month factors, day-level gamma shape, and the
        documented assumptions (day-of-week factors, hour-of-day profile, victim ages).
    """

    profiles: pd.DataFrame
    offences: pd.DataFrame
    meta: dict

    @property
    def crime_types(self) -> list[str]:
        """Crime types of the profile table, in column order."""
        return [c for c in self.profiles.columns if c not in ("rank", "lsoa_code")]

    @property
    def month_factor(self) -> np.ndarray:
        """Relative crimes per day in January..December (mean 1)."""
        return np.asarray(self.meta["month_factor"], dtype=float)

    @property
    def dow_factor(self) -> np.ndarray:
        """Relative crimes per day Monday..Sunday, normalised to mean 1 (assumption)."""
        f = np.asarray(self.meta["assumptions"]["dow_factor"], dtype=float)
        return f / f.mean()

    @property
    def hour_profile(self) -> np.ndarray:
        """Probability of each local clock hour 00..23 (assumption)."""
        h = np.asarray(self.meta["assumptions"]["hour_profile"], dtype=float)
        return h / h.sum()

    @property
    def gamma_shape(self) -> float:
        """Shape k of the mean-one gamma multiplier of each hotspot-day's rate."""
        return float(self.meta["overdispersion"]["gamma_shape_day"])

    def victim_age_pmf(self) -> np.ndarray:
        """Probability of each victim age 0..90 (bands uniform inside; assumption)."""
        pmf = np.zeros(91)
        for lo, hi, p in self.meta["assumptions"]["victim_age_bands"]:
            pmf[int(lo):int(hi) + 1] += float(p) / (int(hi) - int(lo) + 1)
        return pmf / pmf.sum()


@lru_cache(maxsize=1)
def load_calibration() -> Calibration:
    """Load the shipped calibration tables (cached)."""
    base = resources.files("guardian_rct") / "data"
    with (base / "sim_hotspot_profiles.csv").open("r", encoding="utf-8") as handle:
        profiles = pd.read_csv(handle)
    with (base / "sim_offences.csv").open("r", encoding="utf-8") as handle:
        offences = pd.read_csv(handle, dtype={"offence_code": str})
    meta = json.loads((base / "sim_calibration.json").read_text(encoding="utf-8"))
    return Calibration(profiles=profiles, offences=offences, meta=meta)


def random_points_in(geometry, n: int, rng: np.random.Generator, *, decimals: int = 1) -> np.ndarray:
    """``n`` points uniformly distributed inside a polygon, as an ``(n, 2)`` array.

    Rejection sampling in the bounding box, vectorised with ``shapely.contains_xy``;
    the acceptance rate is the polygon's share of its box, so the loop runs a few
    rounds at most for hotspot-like shapes. Coordinates are rounded to ``decimals``
    *before* the test, so that written (rounded) points are still inside.
    """
    out = np.empty((n, 2))
    if n == 0:
        return out
    if geometry is None or geometry.is_empty or geometry.area <= 0:
        raise ValueError("cannot place points in an empty geometry")
    xmin, ymin, xmax, ymax = geometry.bounds
    share = geometry.area / max((xmax - xmin) * (ymax - ymin), 1e-9)
    shapely.prepare(geometry)
    filled = 0
    while filled < n:
        need = n - filled
        batch = int(need / max(share, 0.01) * 1.2) + 16
        xs = np.round(rng.uniform(xmin, xmax, batch), decimals)
        ys = np.round(rng.uniform(ymin, ymax, batch), decimals)
        keep = shapely.contains_xy(geometry, xs, ys)
        take = min(int(keep.sum()), need)
        out[filled:filled + take, 0] = xs[keep][:take]
        out[filled:filled + take, 1] = ys[keep][:take]
        filled += take
    return out


def day_starts_utc(days: list[dt.date], tz: ZoneInfo, day_starts: dt.time) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """UTC start and end of each experimental day (23 or 25 hours at clock changes)."""
    bounds = [day_bounds(d, tz, day_starts) for d in days]
    starts = pd.DatetimeIndex([b[0] for b in bounds]).tz_convert("UTC")
    ends = pd.DatetimeIndex([b[1] for b in bounds]).tz_convert("UTC")
    return starts, ends


def local_clock_instants(days: np.ndarray, minute_of_day: np.ndarray, tz: ZoneInfo,
                         day_starts: dt.time) -> pd.DatetimeIndex:
    """UTC instants of local clock times within experimental days.

    Parameters
    ----------
    days
        ``datetime64[D]`` experimental day of each event.
    minute_of_day
        Local clock time of each event in minutes after midnight (float, 0..1440). Clock
        times before ``day_starts`` belong to the next calendar date (the early hours of
        the experimental day).
    """
    start_min = day_starts.hour * 60 + day_starts.minute
    date = days.astype("datetime64[D]") + (minute_of_day < start_min).astype("timedelta64[D]")
    naive = pd.DatetimeIndex(date.astype("datetime64[ns]")) + pd.to_timedelta(minute_of_day * 60.0, unit="s")
    # Ambiguous (fall-back) times take the first, summer-time instant; non-existent
    # (spring-forward) times move forward by the gap (one hour in every zone that uses
    # summer time bar Lord Howe Island), as days.local_instant does.
    local = naive.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent=pd.Timedelta(hours=1))
    return local.tz_convert("UTC")


def iso_with_offset(instants: pd.Series | pd.DatetimeIndex, tz: ZoneInfo | str) -> np.ndarray:
    """ISO 8601 strings in local time with a ``+HH:MM`` offset, to the second (vectorised)."""
    utc = pd.DatetimeIndex(instants).tz_convert("UTC")
    local = utc.tz_convert(tz).tz_localize(None)
    offset_min = ((local - utc.tz_localize(None)) // pd.Timedelta(minutes=1)).to_numpy()
    text = np.datetime_as_string(local.to_numpy().astype("datetime64[s]"), unit="s")
    suffix = {int(m): f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in np.unique(offset_min)}
    codes = np.array([suffix[int(m)] for m in np.unique(offset_min)], dtype=object)
    which = np.searchsorted(np.unique(offset_min), offset_min)
    return np.char.add(text.astype(str), codes[which].astype(str)).astype(object)


def iso_utc(instants: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """ISO 8601 strings in UTC with a ``Z`` suffix, to the second (vectorised)."""
    utc = pd.DatetimeIndex(instants).tz_convert("UTC").tz_localize(None)
    text = np.datetime_as_string(utc.to_numpy().astype("datetime64[s]"), unit="s")
    return np.char.add(text.astype(str), "Z").astype(object)
