"""Is a file's geography plausible for this trial? Degrees as metres, swapped axes, wrong area.

A points file (crimes, pings) whose coordinates are really degrees, or whose axes are
swapped, or that belongs to another force, reads without a single bad row and then
yields a 0-count panel or 0% compliance: nothing in any one row is wrong, only the file
as a whole. This module judges the whole file against the trial's area (the hotspots'
envelope grown by a margin, :func:`trial_area_bounds`) and names the likely cause.

The candidate causes are tried in a fixed order and the first that would put most
points inside the area is reported: (1) ``x``/``y`` swapped; (2) ``x``/``y`` are
longitude/latitude in degrees (written into metre columns, or a hotspot file declared
in a metric CRS while holding degrees); (3) the same with latitude and longitude
swapped; (4) latitude/longitude swapped *before* reprojection (the projected points
land far away; projecting back, swapping and projecting again puts them inside).
Otherwise the file is "mostly outside the trial area" (another force's extract, or the
wrong CRS).

Interface used by every reader (kept stable)::

    check_points_plausible(x, y, *, area_bounds, source, what, crs="EPSG:27700")

raises :class:`~guardian_rct._core.errors.DataError` (exit 1) or returns ``None``;
:func:`assess_points` returns the :class:`Plausibility` verdict without raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer

from guardian_rct._core.errors import DataError

__all__ = ["Plausibility", "assess_points", "check_points_plausible", "trial_area_bounds",
           "looks_like_degrees", "DEFAULT_MARGIN_M", "MAX_OUTSIDE_SHARE"]

#: How far beyond the hotspots' envelope a point still counts as "in the trial area" (m).
DEFAULT_MARGIN_M = 5000.0
#: A file with more than this share of its points outside the area is refused.
MAX_OUTSIDE_SHARE = 0.5

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Plausibility:
    """Verdict on a set of points against the trial area.

    Attributes
    ----------
    n
        Points judged (finite coordinates only).
    share_inside
        Share of them inside ``area_bounds``.
    ok
        ``share_inside >= 1 - MAX_OUTSIDE_SHARE`` (or no points to judge).
    cause
        ``None`` when ok; else one of ``"x and y swapped"``, ``"degrees, not metres"``,
        ``"degrees with latitude and longitude swapped"``, ``"latitude and longitude
        swapped"``, ``"outside the trial area"``.
    fix
        What the user should do about ``cause``.
    """

    n: int
    share_inside: float
    ok: bool
    cause: str | None = None
    fix: str | None = None


def trial_area_bounds(bounds: Bounds | np.ndarray, *, margin_m: float = DEFAULT_MARGIN_M) -> Bounds:
    """The trial area: ``(xmin, ymin, xmax, ymax)`` of the hotspots grown by ``margin_m``.

    ``bounds`` is e.g. ``HotspotSet.frame.total_bounds`` or a boundary's ``.bounds`` (metres).
    """
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    return (xmin - margin_m, ymin - margin_m, xmax + margin_m, ymax + margin_m)


def looks_like_degrees(x: np.ndarray, y: np.ndarray) -> bool:
    """All finite ``x`` within ±180 and ``y`` within ±90: numbers that fit longitude/latitude.

    In a metric national grid such a set would lie in one 360 m × 180 m corner at the
    grid's origin, which (for British National Grid) is in the sea off the Isles of Scilly.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return False
    return bool((np.abs(x[keep]) <= 180).all() and (np.abs(y[keep]) <= 90).all())


def _share_inside(x: np.ndarray, y: np.ndarray, b: Bounds) -> float:
    if len(x) == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        inside = (x >= b[0]) & (x <= b[2]) & (y >= b[1]) & (y <= b[3])
    return float(np.mean(inside))


def assess_points(x: np.ndarray, y: np.ndarray, *, area_bounds: Bounds, crs: str | CRS = "EPSG:27700",
                  max_outside_share: float = MAX_OUTSIDE_SHARE) -> Plausibility:
    """Judge points ``x``/``y`` (meant to be metres in ``crs``) against ``area_bounds``.

    Non-finite coordinates are ignored (the readers quarantine them row by row).
    See the module docstring for the causes tried and their order.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    if n == 0:
        return Plausibility(n=0, share_inside=1.0, ok=True)
    need = 1.0 - max_outside_share
    share = _share_inside(x, y, area_bounds)
    if share >= need:
        return Plausibility(n=n, share_inside=share, ok=True)
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    candidates = [("x and y swapped", lambda: (y, x),
                   "swap the x and y columns (x = easting, y = northing)")]
    if looks_like_degrees(x, y):
        candidates += [
            ("degrees, not metres", lambda: to_metric.transform(x, y),
             "these are longitude/latitude: give them as lon/lat columns, or declare the CRS as "
             "EPSG:4326 (WGS84)"),
            ("degrees with latitude and longitude swapped", lambda: to_metric.transform(y, x),
             "these are latitude/longitude in degrees, written in the wrong order: give them as "
             "lat and lon columns (or EPSG:4326 with x = longitude)"),
        ]
    else:
        to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

        def _swap_lonlat() -> tuple[np.ndarray, np.ndarray]:
            lon, lat = to_lonlat.transform(x, y)
            return to_metric.transform(lat, lon)

        candidates.append(("latitude and longitude swapped", _swap_lonlat,
                           "swap the lat and lon columns (lat is 49..61 in Great Britain, lon -9..2)"))
    for cause, transform, fix in candidates:
        with np.errstate(all="ignore"):
            cx, cy = transform()
        if _share_inside(np.asarray(cx, dtype=float), np.asarray(cy, dtype=float), area_bounds) >= need:
            return Plausibility(n=n, share_inside=share, ok=False, cause=cause, fix=fix)
    return Plausibility(n=n, share_inside=share, ok=False, cause="outside the trial area",
                        fix="check that the file is this force's, for this trial, and that its "
                            "coordinates are in the trial CRS (or lat/lon in WGS84)")


def check_points_plausible(x: np.ndarray, y: np.ndarray, *, area_bounds: Bounds, source: str | Path | None,
                           what: str, crs: str | CRS = "EPSG:27700",
                           max_outside_share: float = MAX_OUTSIDE_SHARE) -> None:
    """Refuse a file whose points mostly fall outside the trial area, naming the likely cause.

    Parameters
    ----------
    x, y
        Coordinates as the reader will use them (metres in ``crs``).
    area_bounds
        ``(xmin, ymin, xmax, ymax)`` of the trial area in ``crs``, usually
        :func:`trial_area_bounds` of the hotspots.
    source
        The file, for the message.
    what
        What the points are (``"crimes"``, ``"pings"``), for the message.
    crs
        The trial's metric CRS.
    max_outside_share
        Largest share of points allowed outside the area.

    Raises
    ------
    DataError
        Exit 1; the message gives the share inside, the likely cause and the fix.
    """
    verdict = assess_points(x, y, area_bounds=area_bounds, crs=crs, max_outside_share=max_outside_share)
    if verdict.ok:
        return
    b = area_bounds
    raise DataError(
        f"{verdict.share_inside:.0%} of the {verdict.n} {what} fall inside the trial area; "
        f"likely cause: {verdict.cause}",
        where=str(source) if source is not None else f"<{what}>",
        expected=f"most points within x {b[0]:.0f}..{b[2]:.0f}, y {b[1]:.0f}..{b[3]:.0f} ({crs})",
        found=f"x {np.nanmin(x):.6g}..{np.nanmax(x):.6g}, y {np.nanmin(y):.6g}..{np.nanmax(y):.6g}",
        fix=verdict.fix)
