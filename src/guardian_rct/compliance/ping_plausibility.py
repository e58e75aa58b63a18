"""Is this the right ping file? File-level checks before a week is scored.

Row checks cannot see a file that is wrong as a whole: ``x``/``y`` that are really
degrees, latitude and longitude swapped in every row, another force's pings, or last
week's file given for this week. Each would give a 0 % compliance report that looks
real. :func:`check_ping_file` turns them into one :class:`~guardian_rct._core.errors.DataError`
naming the likely cause, from the counts the reader keeps
(:class:`~guardian_rct.compliance.ping_types.PingExtent`). A file is refused when more
than ``share`` (default half) of its rows show the fault, so a few stray fixes never
stop a week.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from guardian_rct._core.errors import DataError
from guardian_rct.compliance.ping_types import PingExtent

__all__ = ["check_ping_file"]


def _when(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def check_ping_file(extent: PingExtent, *, n_read: int, source: str, period: tuple[dt.datetime, dt.datetime],
                    period_label: str, share: float = 0.5) -> None:
    """Refuse a ping file that cannot be this trial's pings for this period.

    Parameters
    ----------
    extent
        The reader's counts (:attr:`PingScore.extent`).
    n_read
        Rows read.
    source
        The file or folder, for the message.
    period
        ``(start, end)`` instants (tz-aware) in which pings can count for the period
        (first day's start to the last patrol deadline).
    period_label
        The period as the user named it.
    share
        Share of rows showing a fault above which the file is refused.

    Raises
    ------
    DataError
        With the likely cause: degrees as metres, swapped latitude/longitude, pings
        outside the trial area, or dates that miss the period.
    """
    if n_read and extent.n_swapped > share * n_read:
        raise DataError(f"{extent.n_swapped:,} of {n_read:,} pings have latitude and longitude swapped",
                        where=source, expected="lat around 50-58 and lon around -8 to 2 for Great Britain",
                        found="the two columns the other way round",
                        fix="swap the lat and lon column names in the export")
    ok = extent.n_ok
    if ok and extent.n_degree_like > share * ok:
        raise DataError(f"{extent.n_degree_like:,} of {ok:,} pings have x/y that look like degrees",
                        where=source, expected="x/y in metres in the trial CRS (e.g. 406000, 286000)",
                        found="values within ±180/±90", fix="name the columns lon and lat (WGS84) instead of x and y")
    if ok and extent.n_outside_area > share * ok:
        raise DataError(f"{extent.n_outside_area:,} of {ok:,} pings lie more than 50 km from every hotspot",
                        where=source, expected="pings in and around the trial area",
                        found="most fixes elsewhere", fix="check the file is this force's pings and that "
                        "x/y are in the trial CRS (or lat/lon in WGS84)")
    if ok and extent.t_min is not None and extent.t_max is not None:
        start, end = (pd.Timestamp(t).value for t in period)
        if extent.t_max < start or extent.t_min > end:
            raise DataError(f"the pings ({_when(extent.t_min)} to {_when(extent.t_max)}) do not overlap "
                            f"the reporting period {period_label}", where=source,
                            expected=f"pings between {_when(start)} and {_when(end)}",
                            found="none in the period", fix="give the ping file for this period "
                            "(was it last week's export?) or name the period the file covers")
