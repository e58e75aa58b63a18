"""Assign WGS84 pings to hotspots without projecting most of them.

Projecting a longitude/latitude ping to the trial CRS (British National Grid: a datum
shift and a transverse Mercator projection) costs about 150 ns; finding its raster cell
costs a few. :class:`LonLatIndex` therefore classifies pings in longitude/latitude, with
the same two-level raster as :mod:`guardian_rct.geo.point_index` built over the hotspots'
images in degrees, and projects only the pings whose cell lies within about a millimetre
of a hotspot edge, which are then assigned exactly in the trial CRS. The result is, pair
for pair, that of projecting every ping and calling
:func:`~guardian_rct.geo.point_index.assign_points` (the ``sjoin`` "intersects" rule).

Why it is exact. Each (grown) hotspot polygon is cut into pieces of at most
:data:`PIECE_M` metres and its vertices are mapped to degrees with the *inverse* of the
transformer used for the pings (so both directions are one PROJ operation), then refined
so that the forward projection of each lands on the vertex. The image in
degrees of a straight piece is a curve; its chord differs from it by a few micrometres
at most over 10 m. The vertices are refined by Newton's method on the forward
projection, because PROJ's inverse of the datum shift is only good to about a millimetre. A raster cell is only called
"inside hotspot k" or "outside every hotspot" when no edge of the image comes within
:data:`MARGIN_DEG` (1e-8°, 0.68 mm of longitude and 1.1 mm of latitude at 52.5° N) of
it (cell classification, Haines 1994), so a ping there is on the same side of the true
edge. :func:`build_lonlat_index` measures both errors on the actual polygons (the round
trip of every vertex and the projected midpoint of every chord) and refuses to build
(``None``: the caller projects every ping) unless both are under a twentieth of the
margin.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from guardian_rct.geo.point_index import HotspotIndex, assign_points, build_index, cell_codes

__all__ = ["LonLatIndex", "build_lonlat_index", "assign_lonlat", "PIECE_M", "MARGIN_DEG", "CELL_DEG"]

#: Longest straight piece (metres, trial CRS) of a polygon edge mapped to degrees.
PIECE_M = 10.0
#: Distance in degrees within which an edge makes a raster cell a boundary cell.
MARGIN_DEG = 1e-8
#: Fine raster cell in degrees (about 2.2 m of latitude, 1.4 m of longitude).
CELL_DEG = 2e-5
#: Largest error allowed in the degree polygons, as a share of the margin.
_SAFETY = 1 / 20


@dataclass(frozen=True, eq=False)
class LonLatIndex:
    """A raster in degrees over the hotspots' images, and the exact index in the trial CRS.

    Attributes
    ----------
    raster
        The cell classification of the hotspots in degrees (longitude as x).
    metric
        The exact index in the trial CRS (:func:`~guardian_rct.geo.point_index.build_index`).
    crs
        The trial CRS, as text for :class:`pyproj.Transformer`.
    max_error_m
        The largest measured error of the degree polygons (metres).
    """

    raster: HotspotIndex
    metric: HotspotIndex
    crs: str
    max_error_m: float


@lru_cache(maxsize=16)
def _forward_for(crs: str, thread: int) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _forward(crs: str) -> Transformer:
    """WGS84 to ``crs``, one per thread (pyproj advises against sharing one) and cached."""
    return _forward_for(crs, threading.get_ident())


def _margin_m(lat: float) -> float:
    """The margin in metres, along the shorter (longitude) axis, at latitude ``lat``."""
    return MARGIN_DEG * 111_320.0 * float(np.cos(np.radians(min(abs(lat), 89.0))))


def build_lonlat_index(metric: HotspotIndex, crs: str | CRS) -> LonLatIndex | None:
    """The degree raster for the (grown) hotspots of ``metric``, or ``None`` when the
    measured error of the degree polygons is not far below the margin (then project).

    Parameters
    ----------
    metric
        The exact index of the hotspots in the trial CRS (already grown by the GPS
        tolerance).
    crs
        The trial CRS (metres).
    """
    crs_text = CRS.from_user_input(crs).to_string()
    forward = _forward(crs_text)
    pieces = shapely.segmentize(metric.geometries, PIECE_M)
    coords = shapely.get_coordinates(pieces)
    with np.errstate(invalid="ignore"):
        lonlat = _preimage(forward, coords)
    if not np.isfinite(lonlat).all():
        return None
    back_x, back_y = forward.transform(lonlat[:, 0], lonlat[:, 1])
    error = float(np.max(np.hypot(back_x - coords[:, 0], back_y - coords[:, 1]))) if len(coords) else 0.0
    degrees = shapely.transform(pieces, lambda _: lonlat)  # new geometries, vertices in degrees
    error = max(error, _chord_error(pieces, coords, lonlat, forward))
    lat = lonlat[:, 1]
    if not error < _SAFETY * _margin_m(float(np.max(np.abs(lat)))):
        return None
    # 2e-5 degrees, or coarser when the hotspots spread so far (a national programme) that
    # the coarse table would pass 4 million cells, as build_index does in metres.
    lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
    cell = max(CELL_DEG, float(np.sqrt(np.prod(hi - lo) / 4_000_000)) / 16)
    raster = build_index(degrees, cell_m=cell, margin=MARGIN_DEG)
    return LonLatIndex(raster=raster, metric=metric, crs=crs_text, max_error_m=error)


def _preimage(forward: Transformer, xy: np.ndarray, steps: int = 2) -> np.ndarray:
    """Degrees whose forward projection is ``xy`` (metres), to far below a micrometre.

    PROJ's inverse alone is not close enough: its Helmert step inverts the 7-parameter
    transformation to first order only (about 1 mm off for OSGB36's 20 ppm scale). So
    the inverse is the starting point of Newton's method on the forward projection, with
    the Jacobian by finite differences (1e-6°, a tenth of a metre) at the start: it
    varies by parts per million over a millimetre, so two steps take a 1 mm error to
    nanometres.
    """
    lon, lat = forward.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    h = 1e-6
    x, y = forward.transform(lon, lat)
    x_lon, y_lon = forward.transform(lon + h, lat)
    x_lat, y_lat = forward.transform(lon, lat + h)
    a, c = (x_lon - x) / h, (y_lon - y) / h  # d(x, y)/d lon
    b, d = (x_lat - x) / h, (y_lat - y) / h  # d(x, y)/d lat
    det = a * d - b * c
    for step in range(steps):
        if step:
            x, y = forward.transform(lon, lat)
        ex, ey = x - xy[:, 0], y - xy[:, 1]
        lon = lon - (d * ex - b * ey) / det
        lat = lat - (a * ey - c * ex) / det
    return np.column_stack([lon, lat])


def _chord_error(pieces: np.ndarray, metres: np.ndarray, deg: np.ndarray, forward: Transformer) -> float:
    """Largest distance (metres) between the projected midpoint of a chord in degrees and
    the midpoint of the straight piece it stands for (``metres`` and ``deg``: the pieces'
    vertices, in ``get_coordinates`` order)."""
    # Ring by ring (get_rings sees no rings in a MultiPolygon: split it into its parts first);
    # the coordinates come in the same order as get_coordinates of the whole geometries.
    _, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(pieces)), return_index=True)
    same = ring[1:] == ring[:-1]
    if not same.any():
        return 0.0
    mid_m = 0.5 * (metres[:-1] + metres[1:])[same]
    mid_d = 0.5 * (deg[:-1] + deg[1:])[same]
    x, y = forward.transform(mid_d[:, 0], mid_d[:, 1])
    return float(np.max(np.hypot(x - mid_m[:, 0], y - mid_m[:, 1])))


def assign_lonlat(index: LonLatIndex, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign WGS84 points to the hotspots they intersect.

    Parameters
    ----------
    index
        From :func:`build_lonlat_index`.
    lon, lat
        Degrees (float64, equal lengths, no NaN).

    Returns
    -------
    point, hotspot
        The pairs :func:`~guardian_rct.geo.point_index.assign_points` gives for the
        projected points, sorted by point then hotspot.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    code = cell_codes(index.raster, lon, lat)
    inside = np.flatnonzero(code >= 0)
    near = np.flatnonzero(code <= -2)
    if len(near) == 0:
        return inside.astype(np.int64), code[inside].astype(np.int32)
    x, y = _forward(index.crs).transform(lon[near], lat[near])
    p, h = assign_points(index.metric, x, y)
    point = np.concatenate([inside, near[p]])
    hotspot = np.concatenate([code[inside].astype(np.int32), h])
    # The two sets of points are disjoint and each sorted; a stable sort by point keeps
    # the hotspot order of a point in several hotspots (all from assign_points).
    order = np.argsort(point, kind="stable")
    return point[order].astype(np.int64, copy=False), hotspot[order]
