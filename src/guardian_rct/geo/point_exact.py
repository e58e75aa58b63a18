"""The last resort of the exact stage: GEOS for the (point, hotspot) pairs that the
compiled orientation tests (:mod:`guardian_rct.geo.point_kernel`) cannot decide.

Those are points on or within rounding of an edge or vertex, points whose segment from
the cell centre passes within rounding of a vertex, and points of cells whose centre is
too close to an edge to trust its status. ``shapely.intersects_xy`` evaluates exactly
the predicate ``sjoin(..., predicate="intersects")`` uses, so such a point counts in a
hotspot exactly when ``sjoin`` would count it (on an edge or vertex: inside).
"""

from __future__ import annotations

import numpy as np
import shapely


def geos_pairs(geometries: np.ndarray, x: np.ndarray, y: np.ndarray, pt: np.ndarray,
               hot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (point, hotspot) pairs among candidates that ``shapely.intersects_xy`` keeps."""
    keep = np.zeros(len(pt), dtype=bool)
    if len(pt) == 0:
        return pt, hot
    order = np.argsort(hot, kind="stable")
    bounds = np.flatnonzero(np.r_[True, hot[order][1:] != hot[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        sel = order[a:b]
        keep[sel] = shapely.intersects_xy(geometries[hot[sel[0]]], x[pt[sel]], y[pt[sel]])
    return pt[keep], hot[keep]
