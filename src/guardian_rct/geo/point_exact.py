"""The exact stage of point-in-hotspot assignment, in numpy, for points in boundary cells.

For a point ``p`` in a boundary fine cell, the cell's slots (one per hotspot it may be
in) carry the hotspot's status at the cell centre ``c`` (classified at build time) and
the edges that pass near the cell. ``p`` is inside exactly when the status at ``c``,
flipped once per edge that the segment ``c -> p`` crosses, says so: the segment lies in
the cell, so only the cell's edges can cross it. Each crossing is decided with
orientation tests, ``orient(a, b, p)`` and ``orient(c, p, a)``, ``orient(c, p, b)``,
whose sign is trusted only beyond Shewchuk's (1997, "Adaptive precision floating-point
arithmetic and fast robust geometric predicates", §4.3) static error bound. A point
whose answer is not certain — on or within rounding of an edge or vertex, or whose
segment passes within rounding of a vertex, or whose cell centre is too close to an
edge to trust its status — is sent to GEOS (``shapely.intersects_xy``), so the result is
the ``intersects`` predicate exactly, including points on edges and vertices.
"""

from __future__ import annotations

import numpy as np
import shapely

from guardian_rct.geo.point_raster import ORIENT_ERR, UNSURE


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    owner = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, rank


def _orient(ax, ay, bx, by, px, py):
    """orient2d(a, b, p) and whether its sign is certain (static filter)."""
    t1 = (ax - px) * (by - py)
    t2 = (ay - py) * (bx - px)
    d = t1 - t2
    return d, np.abs(d) > ORIENT_ERR * (np.abs(t1) + np.abs(t2))


def resolve(index, x: np.ndarray, y: np.ndarray, pts: np.ndarray,
            special: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(point, hotspot) pairs for points ``pts`` (ascending; coordinates ``x``, ``y``, one
    per point) in special cells ``special``.

    Returns the certain pairs (inside) as positions into ``pts`` and hotspots, and the
    (point, hotspot) pairs left to GEOS, both sorted by point then hotspot.
    """
    one = special >= 0
    if one.all():
        slot, pt, src = special, pts, None
        px, py = x, y
    else:
        # Cells several hotspots claim list their slots (in hotspot order) separately.
        m = -(special[~one] + 2)
        first = index.many_start[m]
        which, rank = _expand(index.many_start[m + 1] - first)
        slot = np.r_[special[one], index.many_slots[first[which] + rank]]
        src = np.r_[np.flatnonzero(one), np.flatnonzero(~one)[which]]
        pt = pts[src]
        px, py = x.take(src), y.take(src)
    status = index.slot_status[slot]
    e0 = index.slot_edges[slot]
    q, rank = _expand(index.slot_edges[slot + 1] - e0)
    pair = e0[q] + rank
    ax, ay, bx, by = index.edges[index.pair_edge[pair]].T
    qx, qy = px[q], py[q]
    dp, sure_p = _orient(ax, ay, bx, by, qx, qy)
    opposite = sure_p & ((dp > 0) != (index.pair_side[pair] > 0))
    look = np.flatnonzero(opposite | ~sure_p)
    cross = np.zeros(len(pair), dtype=bool)
    unsure = ~sure_p
    if len(look):
        cx, cy = index.slot_cx[slot[q[look]]], index.slot_cy[slot[q[look]]]
        lx, ly = qx[look], qy[look]
        da, sa = _orient(cx, cy, lx, ly, ax[look], ay[look])
        db, sb = _orient(cx, cy, lx, ly, bx[look], by[look])
        same = sa & sb & ((da > 0) == (db > 0))
        apart = sa & sb & ((da > 0) != (db > 0))
        cross[look] = opposite[look] & apart
        unsure[look] = ~same & (~sure_p[look] | ~apart)
    n = len(slot)
    flips = np.bincount(q[cross], minlength=n) & 1
    doubt = (np.bincount(q[unsure], minlength=n) > 0) | (status == UNSURE)
    inside = ((status ^ flips) == 1) & ~doubt
    hot = index.slot_hot[slot]
    p = np.flatnonzero(inside) if src is None else src[inside]
    h, dp_, dh = hot[inside], pt[doubt], hot[doubt]
    if src is not None:
        # Slots of one point are in hotspot order; a stable sort by point keeps it.
        o = np.argsort(p, kind="stable")
        p, h = p[o], h[o]
        o = np.argsort(dp_, kind="stable")
        dp_, dh = dp_[o], dh[o]
    return p, h, dp_, dh


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
