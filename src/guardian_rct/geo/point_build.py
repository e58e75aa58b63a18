"""The compiled near-pair step of the :class:`~guardian_rct.geo.point_index.HotspotIndex` build.

Every (fine cell, edge) with the edge within ``margin`` of the cell, grouped into *slots*
(one per fine cell and hotspot) and *tiles* (one per coarse cell and hotspot), with the
side of each edge's line the slot's cell centre lies on. Two kernels around one numpy
sort:

1. :func:`_near_keys`: per edge, the column strips it crosses (each grown by ``margin``)
   and, per strip, the rows the edge's clipped piece (its y-range grown by ``margin``)
   touches: a "supercover" traversal (Amanatides & Woo 1987) widened by the margin. Each
   pair gets the sort key *(coarse cell, hotspot, fine cell in the coarse cell)*;
2. ``numpy.argsort`` of the keys (numpy's, so the order of equal keys — the edges of one
   slot — is exactly that of the all-numpy build this replaces);
3. :func:`_group`: one pass over the sorted pairs: slots, tiles, and per pair the sign of
   ``orient(a, b, centre)`` and whether it is too close to call (then the slot's status
   is not trusted: :data:`~guardian_rct.geo.point_raster.UNSURE`).

The arithmetic is the all-numpy build's, operation for operation, in IEEE double without
fastmath (no contraction into fused multiply-adds), so the tables are bit-identical to
it. All compiled functions live in this module (numba's cache checks only the source
file of the function it loads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["ORIENT_ERR", "NearSlots", "near_slots", "tile_codes"]

# Relative tolerance of the centre check: the scanline's crossing abscissa carries
# rounding error of a few ulps of the coordinates; 1e-12 leaves a factor of > 1000.
_CENTRE_TOL = 1e-12
# Shewchuk (1997) static error bound for orient2d, (3 + 16 eps) eps, rounded up 3x.
ORIENT_ERR = 1e-15


@dataclass(frozen=True)
class NearSlots:
    """Near pairs grouped into slots (cell, hotspot) and tiles (coarse cell, hotspot)."""

    pair_edge: np.ndarray  # (n_pairs,) int32 edge, sorted by slot
    pair_side: np.ndarray  # (n_pairs,) int8 sign of orient(a, b, slot's centre): +1 / -1
    first: np.ndarray      # first pair of each slot
    unsure: np.ndarray     # per slot: some edge passes within rounding of the centre
    local: np.ndarray      # slot's fine cell within its tile
    cx: np.ndarray         # slot's fine cell centre
    cy: np.ndarray
    tile: np.ndarray       # slot's tile
    kt_keys: np.ndarray    # tiles: coarse * n + hotspot, sorted
    kt_k: np.ndarray
    kt_c: np.ndarray


@kernel
def _near_keys(edges, owner, x0, y0, cell, m, nx, ny, ncx, nh, sh, fill, key, pe):
    """Count (``fill`` false) or write (``fill`` true) the near pairs' sort keys and
    edges, edge by edge, column by column, row by row; returns the number of pairs."""
    blk1 = (1 << sh) - 1
    n = 0
    for e in range(edges.shape[0]):
        x1, y1, x2, y2 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        dx, dy = x2 - x1, y2 - y1
        vertical = dx == 0
        ddx = 1.0 if vertical else dx
        c0 = min(max(np.floor((min(x1, x2) - m - x0) / cell), 0.0), nx - 1.0)
        c1 = min(max(np.floor((max(x1, x2) + m - x0) / cell), -1.0), nx - 1.0)
        hk = np.int64(owner[e])
        for col in range(np.int64(c0), np.int64(c1) + 1):
            left = x0 + col * cell - m
            ta, tb = 0.0, 1.0
            if not vertical:
                ta = min(max((left - x1) / ddx, 0.0), 1.0)
                tb = min(max((left + (cell + 2 * m) - x1) / ddx, 0.0), 1.0)
            ya, yb = y1 + ta * dy, y1 + tb * dy
            r0 = min(max(np.floor((min(ya, yb) - m - y0) / cell), 0.0), ny - 1.0)
            r1 = min(max(np.floor((max(ya, yb) + m - y0) / cell), -1.0), ny - 1.0)
            for row in range(np.int64(r0), np.int64(r1) + 1):
                if fill:
                    k = ((row >> sh) * ncx + (col >> sh)) * nh + hk
                    key[n] = (k << (2 * sh)) + (((row & blk1) << sh) + (col & blk1))
                    pe[n] = e
                n += 1
    return n


@kernel
def _group(skey, order, pe, edges, x0, y0, cell, margin, scale, ncx, nh, sh, pair_edge, pair_side,
           first, unsure, local, slot_cx, slot_cy, tile, kt_keys):
    """Slots and tiles of the sorted keys, with each pair's edge, side and doubt (into
    the given buffers, sized for one slot and tile per pair); returns (slots, tiles)."""
    ne = edges.shape[0]
    tol = np.empty(ne, np.float64)
    for e in range(ne):  # per edge: the centre tolerance, or Shewchuk's bound if larger
        dx, dy = edges[e, 2] - edges[e, 0], edges[e, 3] - edges[e, 1]
        length = abs(dx) + abs(dy)  # >= the Euclidean length
        tol[e] = max(_CENTRE_TOL * (scale + length), 4 * ORIENT_ERR * (length + 2 * (cell + margin))) * length
    blk = np.int64(1) << sh
    ns, nt = -1, -1
    cx, cy = 0.0, 0.0
    for i in range(len(skey)):
        k = skey[i]
        e = pe[order[i]]
        pair_edge[i] = e
        if i == 0 or k != skey[i - 1]:
            ns += 1
            first[ns] = i
            unsure[ns] = False
            ck = k >> (2 * sh)
            if nt < 0 or ck != kt_keys[nt]:
                nt += 1
                kt_keys[nt] = ck
            c = ck // nh
            loc = k & (blk * blk - 1)
            local[ns] = loc
            row = (c // ncx) * blk + (loc >> sh)
            col = (c % ncx) * blk + (loc & (blk - 1))
            tile[ns] = nt
            cx, cy = x0 + (col + 0.5) * cell, y0 + (row + 0.5) * cell
            slot_cx[ns], slot_cy[ns] = cx, cy
        ax = edges[e, 0] - cx
        ay = edges[e, 1] - cy
        d = ax * (edges[e, 3] - edges[e, 1])
        d -= ay * (edges[e, 2] - edges[e, 0])  # (a - c) x (b - a) = orient(a, b, c)
        pair_side[i] = 1 if d > 0 else -1
        if abs(d) <= tol[e]:
            unsure[ns] = True
    return ns + 1, nt + 1


def near_slots(edges: np.ndarray, owner: np.ndarray, *, x0: float, y0: float, cell: float, margin: float,
               block: int, ncx: int, ncy: int, nh: int, scale: float) -> NearSlots:
    """The near pairs of ``edges`` (owned by hotspots ``owner`` of ``nh``) on the fine
    grid at ``(x0, y0)`` (``ncx`` × ``ncy`` coarse cells of ``block`` × ``block`` cells
    of side ``cell``), grouped into slots and tiles (see the module docstring)."""
    sh = block.bit_length() - 1
    edges = np.ascontiguousarray(edges, dtype=np.float64)
    owner = np.ascontiguousarray(owner, dtype=np.int64)
    nx, ny = ncx * block, ncy * block
    args = (edges, owner, float(x0), float(y0), float(cell), float(margin), nx, ny, ncx, nh, sh)
    n = _near_keys(*args, False, np.empty(0, np.int64), np.empty(0, np.int32))
    key, pe = np.empty(n, np.int64), np.empty(n, np.int32)
    _near_keys(*args, True, key, pe)
    order = np.argsort(key)
    pair_edge, side = np.empty(n, np.int32), np.empty(n, np.int8)
    first, local, tile, kt_keys = (np.empty(n, np.int64) for _ in range(4))
    cx, cy = np.empty(n, np.float64), np.empty(n, np.float64)
    unsure = np.empty(n, np.bool_)
    ns, nt = _group(key[order], order, pe, edges, float(x0), float(y0), float(cell), float(margin),
                    float(scale), ncx, nh, sh, pair_edge, side, first, unsure, local, cx, cy, tile, kt_keys)
    kt_keys = kt_keys[:nt]
    return NearSlots(pair_edge=pair_edge, pair_side=side, first=first[:ns], unsure=unsure[:ns],
                     local=local[:ns], cx=cx[:ns], cy=cy[:ns], tile=tile[:ns], kt_keys=kt_keys,
                     kt_k=kt_keys % nh, kt_c=kt_keys // nh)


@kernel
def _tile_codes(counts, base, nbin, w, cross_k, cross_r, cross_c, kt_keys, nh, ncx, blk, tile, local,
                codes, spec, status):
    """Rows ``:n_tiles`` of ``codes`` and ``spec``, and each slot's status at its centre.

    A tile's row starts with the parity of the crossings left of the tile (the window's
    prefix counts); each crossing strictly inside the tile's column range flips the cells
    from it rightwards. A cell inside gets the tile's hotspot, outside ``-1``; then each
    slot's cell, its status read first, becomes ``-(k + 2)`` with the slot in ``spec``.
    """
    nt = len(kt_keys)
    flip = np.zeros((nt, blk, blk), np.bool_)
    for i in range(len(cross_c)):
        bp = (cross_c[i] - 1) // blk
        loc = cross_c[i] - bp * blk
        key = ((cross_r[i] // blk) * ncx + bp) * nh + cross_k[i]
        t = np.searchsorted(kt_keys, key)
        if loc < blk and t < nt and kt_keys[t] == key:
            flip[t, cross_r[i] % blk, loc] ^= True
    for t in range(nt):
        k, c = kt_keys[t] % nh, kt_keys[t] // nh
        for rr in range(blk):
            at = base[k] + ((c // ncx) * blk + rr - w[k, 0] * blk) * nbin[k]
            inside = ((counts[at + (c % ncx - w[k, 2]) + 1] - counts[at]) & 1) == 1
            for j in range(blk):
                inside ^= flip[t, rr, j]
                codes[t, rr * blk + j] = k if inside else -1
                spec[t, rr * blk + j] = -1
    for s in range(len(tile)):
        t, cl = tile[s], local[s]
        status[s] = 1 if codes[t, cl] >= 0 else 0
        codes[t, cl] = -(kt_keys[t] % nh + 2)
        spec[t, cl] = s


def tile_codes(counts: np.ndarray, base: np.ndarray, nbin: np.ndarray, w: np.ndarray, cross_k: np.ndarray,
               cross_r: np.ndarray, cross_c: np.ndarray, near: NearSlots, *, nh: int, ncx: int, block: int,
               codes: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """Fill rows ``:n_tiles`` of the fine ``codes`` and ``spec`` tables from each hotspot
    window's per-row crossing counts (``counts`` from ``base``, ``nbin`` bins a row, for
    windows ``w``: coarse rows and columns) and its crossings (hotspot, fine row, first
    fine column right of it); returns the slots' status at their centres (0 / 1)."""
    status = np.empty(len(near.tile), np.int8)
    _tile_codes(counts, base, nbin, w, cross_k, cross_r, cross_c, near.kt_keys, nh, ncx, block,
                near.tile, near.local, codes, spec, status)
    return status
