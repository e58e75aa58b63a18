"""Scheduled patrol windows for treated hotspot-days.

Each treated hotspot-day gets ``visits_per_day`` scheduled patrols of ``patrol_minutes``,
starting at whole minutes drawn at random inside the configured hot hours
(``[design] windows``), from the day's own stream ``("patrol_times", day)``.

Windows are local clock times on the experimental day: with ``day_starts = "06:00"``, a
window ``15:00-23:00`` on day D is 15:00-23:00 local on calendar date D; a window that
starts before ``day_starts`` (``02:00-04:00``) or runs past midnight (``22:00-02:00``)
belongs to the same experimental day and ends on the next calendar date. Window ends are
turned into UTC instants with the trial's time zone first, so on the night the clocks
change a window holds its real length (``22:00-02:00`` is 3 hours on the last Sunday of
March in London and 5 hours on the last Sunday of October); a drawn time can never fall
into the skipped hour.

Several visits are spaced at least ``visit_spacing_minutes`` apart (start to start): the
``v`` starts are the sorted uniform draws on the window's "available start minutes" axis
shortened by ``(v - 1) x spacing``, then shifted by ``i x spacing`` (the spacings
transformation, Devroye 1986, *Non-Uniform Random Variate Generation*, §V.2). With
several windows the axis is their concatenation; gaps between windows only add real
time, so the spacing holds in real time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from guardian_rct._core.days import local_instant
from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import DesignSpec, PatrolWindow

__all__ = ["window_intervals", "draw_patrol_times", "check_windows"]

_DAY_MINUTES = 24 * 60


def _minutes(clock: dt.time) -> int:
    return clock.hour * 60 + clock.minute


def check_windows(spec: DesignSpec, day_starts: dt.time) -> None:
    """Refuse windows that leave the experimental day or cannot hold the visits."""
    start = _minutes(day_starts)
    offsets = []
    for i, window in enumerate(spec.windows):
        off = (_minutes(window.start) - start) % _DAY_MINUTES
        if off + window.minutes > _DAY_MINUTES:
            raise ConfigError(
                "patrol window runs past the end of the experimental day",
                expected=f"a window inside the day that starts at {day_starts:%H:%M}",
                found=str(window), where=f"design.windows[{i}]",
                fix="split the window at the day's start time or move it")
        offsets.append((off, off + window.minutes))
    offsets.sort()
    for (_a0, a1), (b0, _b1) in zip(offsets, offsets[1:], strict=False):
        if b0 < a1:
            raise ConfigError("patrol windows overlap", where="design.windows",
                              found=", ".join(map(str, spec.windows)), fix="merge the windows")
    available = sum(w.minutes - spec.patrol_minutes + 1 for w in spec.windows)
    needed = (spec.visits_per_day - 1) * spec.visit_spacing_minutes + 1
    if available < needed:
        raise ConfigError(
            "the patrol windows cannot hold the visits with the required spacing",
            expected=f"{spec.visits_per_day} visits spaced {spec.visit_spacing_minutes} minutes",
            found=f"{available} possible start minutes", where="design.visits_per_day",
            fix="widen the windows, schedule fewer visits or shorten visit_spacing_minutes")


def window_intervals(day: dt.date, spec: DesignSpec, tz: ZoneInfo,
                     day_starts: dt.time) -> list[tuple[pd.Timestamp, int]]:
    """UTC start of each window on experimental ``day`` and its number of start minutes.

    A patrol may start at ``start + m`` minutes for ``m = 0 .. count - 1`` so that it
    ends inside the window; windows are in time order.
    """
    out = []
    for window in sorted(spec.windows, key=lambda w: (_minutes(w.start) - _minutes(day_starts))
                         % _DAY_MINUTES):
        start, end = _window_utc(day, window, tz, day_starts)
        count = int((end - start).total_seconds() // 60) - spec.patrol_minutes + 1
        if count > 0:
            out.append((pd.Timestamp(start), count))
    return out


def _window_utc(day: dt.date, window: PatrolWindow, tz: ZoneInfo,
                day_starts: dt.time) -> tuple[dt.datetime, dt.datetime]:
    start_date = day if window.start >= day_starts else day + dt.timedelta(days=1)
    end_date = start_date if window.end > window.start else start_date + dt.timedelta(days=1)
    return local_instant(start_date, window.start, tz), local_instant(end_date, window.end, tz)


def draw_patrol_times(rng: np.random.Generator, day: dt.date, n_treated: int, spec: DesignSpec,
                      tz: ZoneInfo, day_starts: dt.time) -> np.ndarray:
    """Scheduled patrol starts for ``n_treated`` hotspots on ``day``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[s]`` UTC starts, shape ``(n_treated, visits_per_day)``, each row in
        time order; a patrol ends ``patrol_minutes`` after its start.
    """
    intervals = window_intervals(day, spec, tz, day_starts)
    counts = np.array([c for _, c in intervals], dtype=np.int64)
    total = int(counts.sum())
    v, spacing = spec.visits_per_day, spec.visit_spacing_minutes
    room = total - (v - 1) * spacing
    if room < 1:
        raise ConfigError(f"the patrol windows on {day} cannot hold {v} visits spaced "
                          f"{spacing} minutes", where="design.windows",
                          fix="widen the windows or schedule fewer visits")
    axis = np.sort(rng.integers(0, room, size=(n_treated, v)), axis=1) + spacing * np.arange(v)
    edges = np.concatenate([[0], np.cumsum(counts)])
    which = np.searchsorted(edges, axis, side="right") - 1
    starts = np.array([s.to_datetime64().astype("datetime64[s]") for s, _ in intervals])
    offset = (axis - edges[which]).astype("timedelta64[m]")
    return starts[which] + offset
