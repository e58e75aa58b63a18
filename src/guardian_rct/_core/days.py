"""Experimental days: the trial's unit of time.

An experimental day starts at ``day_starts`` local time (default 06:00, Europe/London)
and runs until the same local time the next calendar day, so a day that contains a clock
change lasts 23 or 25 hours. All instants are stored in UTC and shown in the trial's
time zone (DESIGN.md §3, "Times").
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

__all__ = ["day_bounds", "experimental_day", "experimental_days", "date_range", "local_instant", "iso_week"]


def local_instant(day: dt.date, clock: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of local wall-clock time ``clock`` on calendar ``day``.

    At a spring-forward gap (a local time that does not exist) the time is moved forward
    by the gap (01:30 → 02:30 BST); at a fall-back overlap the first (summer-time) instant
    is used (``fold=0``). This follows PEP 495.
    """
    naive = dt.datetime.combine(day, clock)
    aware = naive.replace(tzinfo=tz, fold=0)
    # A non-existent local time does not round-trip; normalise through UTC.
    roundtrip = aware.astimezone(dt.UTC).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:
        aware = roundtrip
    return aware.astimezone(dt.UTC)


def day_bounds(day: dt.date, tz: ZoneInfo, day_starts: dt.time) -> tuple[dt.datetime, dt.datetime]:
    """UTC start (inclusive) and end (exclusive) of experimental ``day``."""
    return (
        local_instant(day, day_starts, tz),
        local_instant(day + dt.timedelta(days=1), day_starts, tz),
    )


def experimental_day(instant: dt.datetime, tz: ZoneInfo, day_starts: dt.time) -> dt.date:
    """The experimental day an aware instant falls in.

    >>> from zoneinfo import ZoneInfo
    >>> london = ZoneInfo("Europe/London")
    >>> experimental_day(dt.datetime(2023, 5, 2, 4, 59, tzinfo=dt.UTC), london, dt.time(6))
    datetime.date(2023, 5, 1)
    """
    if instant.tzinfo is None:
        raise ValueError("experimental_day needs a time-zone-aware instant")
    local = instant.astimezone(tz)
    day = local.date()
    if local.time() < day_starts:
        day -= dt.timedelta(days=1)
    return day


def last_complete_day(tz: ZoneInfo, day_starts: dt.time, now: dt.datetime | None = None) -> dt.date:
    """The latest experimental day that has ended by ``now`` (default: the clock).

    Today's experimental day is still running, so it is the day before it. This is the
    default look date of ``evaluate`` and ``panel``: an unfinished day is never analysed.

    >>> from zoneinfo import ZoneInfo
    >>> london = ZoneInfo("Europe/London")
    >>> last_complete_day(london, dt.time(6), dt.datetime(2023, 5, 2, 4, 59, tzinfo=dt.UTC))
    datetime.date(2023, 4, 30)
    """
    now = now or dt.datetime.now(dt.UTC)
    return experimental_day(now, tz, day_starts) - dt.timedelta(days=1)


def experimental_days(instants: pd.Series | pd.DatetimeIndex, tz: ZoneInfo, day_starts: dt.time) -> np.ndarray:
    """Vectorised :func:`experimental_day` for a UTC datetime series.

    Returns an array of ``datetime64[D]`` (the experimental day of each instant).
    """
    values = pd.DatetimeIndex(instants)
    if values.tz is None:
        raise ValueError("experimental_days needs time-zone-aware instants")
    local = values.tz_convert(tz).tz_localize(None)
    offset = pd.Timedelta(hours=day_starts.hour, minutes=day_starts.minute, seconds=day_starts.second)
    return (local - offset).floor("D").to_numpy().astype("datetime64[D]")


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Calendar days from ``start`` to ``end`` inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def iso_week(day: dt.date) -> str:
    """``YYYY-Www``: the ISO 8601 week ``day`` falls in (weeks start on Monday)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
