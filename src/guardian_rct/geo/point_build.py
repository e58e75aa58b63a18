"""The compiled steps of the :class:`~guardian_rct.geo.point_index.HotspotIndex` build.

The loops of :mod:`guardian_rct.geo.point_raster`, as numba kernels
(:func:`guardian_rct._core.compiled.kernel`) over plain arrays, called from numpy code:

- :func:`near_slots`: every (fine cell, edge) with the edge within ``margin`` of the
  cell — per edge, the column strips it crosses (each grown by ``margin``) and, per
  strip, the rows the edge's clipped piece (its y-range grown by ``margin``) touches, a
  "supercover" traversal (Amanatides & Woo 1987) widened by the margin — sorted by
  *(coarse cell, hotspot, fine cell)* with ``numpy.argsort`` (numpy's, so that the order
  of one slot's edges is exactly that of the all-numpy build this replaced), then in one
  pass grouped into *slots* (one per fine cell and hotspot) and *tiles* (one per coarse
  cell and hotspot), with the side of each edge's line each slot's centre lies on and
  whether it is too close to call (Shewchuk 1997 static bound, or the centre tolerance);
- :func:`crossings`: the even-odd crossings of each hotspot's edges with its window's
  fine-cell-centre rows (Haines 1994) and their per-row prefix counts;
- :func:`tile_codes`: each tile's fine codes from the prefix parity and the crossings
  inside it, and its slots' status at their centres;
- :func:`merge_shared`: blocks for coarse cells that several hotspots reach.

The arithmetic is the all-numpy build's, operation for operation, in IEEE double without
fastmath (no contraction into fused multiply-adds), so the tables are bit-identical to
it (tests/test_point_build.py keeps that build as the reference). All compiled functions
live in this module (numba's cache checks only the source file of the function it loads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["ORIENT_ERR", "NearSlots", "crossings", "merge_shared", "near_slots", "tile_codes"]

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
def _group(key, order, pe, edges, x0, y0, cell, margin, scale, ncx, nh, sh, pair_edge, pair_side,
           first, unsure, local, slot_cx, slot_cy, tile, kt_keys):
    """Slots and tiles of the keys in sort order, with each pair's edge, side and doubt
    (into the given buffers, sized for one slot and tile per pair); returns (slots, tiles).

    A pair is too close to call when ``orient(a, b, centre)`` is within the centre
    tolerance of the edge's line, or within Shewchuk's bound (which the per-edge
    tolerance covers, since the centre is within a cell and margin of the edge and
    ``scale >= 1``; the second term makes sure of it).
    """
    ne = edges.shape[0]
    tol = np.empty(ne, np.float64)
    for e in range(ne):  # per edge: the centre tolerance, or Shewchuk's bound if larger
        dx, dy = edges[e, 2] - edges[e, 0], edges[e, 3] - edges[e, 1]
        length = abs(dx) + abs(dy)  # >= the Euclidean length
        tol[e] = max(_CENTRE_TOL * (scale + length), 4 * ORIENT_ERR * (length + 2 * (cell + margin))) * length
    blk = np.int64(1) << sh
    ns, nt = -1, -1
    cx, cy = 0.0, 0.0
    previous = np.int64(-1)  # keys are >= 0
    for i in range(len(order)):
        k = key[order[i]]
        e = pe[order[i]]
        pair_edge[i] = e
        if k != previous:
            previous = k
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
    ns, nt = _group(key, order, pe, edges, float(x0), float(y0), float(cell), float(margin),
                    float(scale), ncx, nh, sh, pair_edge, side, first, unsure, local, cx, cy, tile, kt_keys)
    kt_keys = kt_keys[:nt]
    return NearSlots(pair_edge=pair_edge, pair_side=side, first=first[:ns], unsure=unsure[:ns],
                     local=local[:ns], cx=cx[:ns], cy=cy[:ns], tile=tile[:ns], kt_keys=kt_keys,
                     kt_k=kt_keys % nh, kt_c=kt_keys // nh)


@kernel
def _crossings(edges, owner, w, x0, y0, cell, blk, base, nbin, n_bins):
    """Crossings of each edge with its window's fine-cell-centre rows (hotspot, row,
    first fine column right of it, clipped to the window) and the per-row cumulative
    crossing counts at coarse-column bins (with a leading 0); see :func:`crossings`."""
    ne = edges.shape[0]
    first = np.empty(ne, np.int64)
    last = np.empty(ne, np.int64)
    n = 0
    for e in range(ne):
        lo, hi = min(edges[e, 1], edges[e, 3]), max(edges[e, 1], edges[e, 3])
        k = owner[e]
        # Row r's centre is y0 + (r + 0.5) * cell; an edge crosses it when lo <= yc < hi.
        first[e] = np.int64(max(np.ceil((lo - y0) / cell - 0.5), np.float64(w[k, 0] * blk)))
        last[e] = np.int64(min(np.ceil((hi - y0) / cell - 0.5) - 1, np.float64(w[k, 1] * blk - 1)))
        n += max(last[e] - first[e] + 1, 0)
    cross_k, cross_r, cross_c = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    hist = np.zeros(n_bins, np.int32)
    m = 0
    for e in range(ne):
        x1, y1, x2, y2 = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        lo, hi = min(y1, y2), max(y1, y2)
        k = owner[e]
        for r in range(first[e], last[e] + 1):
            yc = y0 + (r + 0.5) * cell
            if not (lo <= yc and yc < hi):
                continue
            xc = x1 + (yc - y1) * (x2 - x1) / (y2 - y1)
            # Cells with index >= col have this crossing left of their centre.
            col = np.ceil((xc - x0) / cell - 0.5)
            col = np.int64(min(max(col, np.float64(w[k, 2] * blk)), np.float64(w[k, 3] * blk)))
            # col <= b * blk  <=>  ceil(col / blk) <= b: bin of the first coarse column it is left of.
            b = -(-col // blk)
            hist[base[k] + (r - w[k, 0] * blk) * nbin[k] + (b - w[k, 2])] += 1
            cross_k[m], cross_r[m], cross_c[m] = k, r, col
            m += 1
    counts = np.empty(n_bins + 1, np.int32)
    counts[0] = 0
    for i in range(n_bins):
        counts[i + 1] = counts[i] + hist[i]
    return counts, cross_k[:m], cross_r[:m], cross_c[:m]


def crossings(edges: np.ndarray, owner: np.ndarray, w: np.ndarray, *, x0: float, y0: float, cell: float,
              block: int) -> tuple[np.ndarray, ...]:
    """The even-odd crossings of every hotspot's edges with its window's fine-cell-centre
    rows (Haines 1994), for windows ``w`` (per hotspot: coarse rows and columns
    ``R0, R1, B0, B1``): ``base``, ``nbin`` (each window's first bin and bins a row),
    ``counts`` (flat per-row cumulative counts at coarse-column bins, leading 0) and the
    crossings' hotspot, fine row and first fine column right of it."""
    nbin = w[:, 3] - w[:, 2] + 1
    rows = (w[:, 1] - w[:, 0]) * block
    base = np.r_[0, np.cumsum(rows * nbin)[:-1]].astype(np.int64)
    counts, cross_k, cross_r, cross_c = _crossings(
        np.ascontiguousarray(edges, dtype=np.float64), np.ascontiguousarray(owner, dtype=np.int64),
        np.ascontiguousarray(w, dtype=np.int64), float(x0), float(y0), float(cell), block, base, nbin,
        int((rows * nbin).sum()))
    return base, nbin, counts, cross_k, cross_r, cross_c


@kernel
def _tile_flips(cross_k, cross_r, cross_c, kt_keys, w, wbase, nh, ncx, blk, flip):
    """Into rows ``:n_tiles`` of ``flip`` (per tile, fine row and column, 0 or 1): whether
    an odd number of crossings of the tile's hotspot lie just left of the cell's centre,
    strictly inside the tile's column range. A crossing's tile is looked up in a table of
    its hotspot's window (coarse cells ``wbase[k]:wbase[k + 1]``, row by row), where
    every tile of the hotspot lies: an edge's tiles are within a cell and the margin of
    its hotspot's bounding box, which the window covers with that to spare."""
    nt = len(kt_keys)
    table = np.full(wbase[-1], -1, np.int32)
    for t in range(nt):
        k, c = kt_keys[t] % nh, kt_keys[t] // nh
        table[wbase[k] + (c // ncx - w[k, 0]) * (w[k, 3] - w[k, 2]) + (c % ncx - w[k, 2])] = t
    flip[:nt] = 0
    for i in range(len(cross_c)):
        bp = (cross_c[i] - 1) // blk
        loc = cross_c[i] - bp * blk
        if loc >= blk:  # on the tile's left edge (bp + 1 * blk): in the row's start parity
            continue
        k = cross_k[i]
        t = table[wbase[k] + (cross_r[i] // blk - w[k, 0]) * (w[k, 3] - w[k, 2]) + (bp - w[k, 2])]
        if t >= 0:
            flip[t, (cross_r[i] % blk) * blk + loc] ^= 1


@kernel
def _tile_codes(counts, base, nbin, w, kt_keys, nh, ncx, blk, tile, local, codes, spec, status):
    """Rows ``:n_tiles`` of ``codes`` (holding the flips on entry) and ``spec``, and each
    slot's status at its centre.

    A tile's row starts with the parity of the crossings left of the tile (the window's
    prefix counts); each flip turns the parity from its cell rightwards. A cell inside
    gets the tile's hotspot, outside ``-1``; then each slot's cell, its status read first,
    becomes ``-(k + 2)`` with the slot in ``spec``. (Flat, unsigned indices: no
    negative-index wraparound in the inner loop.)
    """
    flat_codes, flat_spec = codes.ravel(), spec.ravel()
    ublk = np.uint64(blk)
    for t in range(len(kt_keys)):
        k, c = kt_keys[t] % nh, kt_keys[t] // nh
        code_in = np.int16(k + 1)
        for rr in range(blk):
            at = base[k] + ((c // ncx) * blk + rr - w[k, 0] * blk) * nbin[k]
            inside = np.int16((counts[at + (c % ncx - w[k, 2]) + 1] - counts[at]) & 1)
            o = np.uint64(t * blk + rr) * ublk
            for j in range(blk):
                inside ^= flat_codes[o + np.uint64(j)]
                flat_codes[o + np.uint64(j)] = code_in * inside - 1
                flat_spec[o + np.uint64(j)] = -1
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
    wbase = np.r_[0, np.cumsum((w[:, 1] - w[:, 0]) * (w[:, 3] - w[:, 2]))].astype(np.int64)
    _tile_flips(cross_k, cross_r, cross_c, near.kt_keys, w, wbase, nh, ncx, block, codes)
    _tile_codes(counts, base, nbin, w, near.kt_keys, nh, ncx, block, near.tile, near.local, codes, spec, status)
    return status


@kernel
def _merge_shared(cid, src, gs, gsize, codes, spec, kt_k, nh, n_slots, nt, many_start, many_slots, in_cell,
                  in_k):
    """See :func:`merge_shared`; returns the numbers of shared cells, claims and new slots."""
    nb2 = codes.shape[1]
    n_many, n_claims, n_new = 0, 0, 0
    many_start[0] = 0
    for gi in range(len(gs)):
        row = nt + gi
        for cl in range(nb2):
            count, one_code, one_spec = 0, -1, -1
            for p in range(gs[gi], gs[gi] + gsize[gi]):
                code = (-(src[p] + 1)) if src[p] < 0 else codes[src[p], cl]
                if code != -1:
                    count += 1
                    one_code = code
                    one_spec = -1 if src[p] < 0 else spec[src[p], cl]
            if count < 2:
                codes[row, cl], spec[row, cl] = one_code, one_spec
                continue
            codes[row, cl], spec[row, cl] = -(nh + 2), -(n_many + 2)
            for p in range(gs[gi], gs[gi] + gsize[gi]):  # the claims, in hotspot order
                code = (-(src[p] + 1)) if src[p] < 0 else codes[src[p], cl]
                if code == -1:
                    continue
                slot = -1 if src[p] < 0 else spec[src[p], cl]
                if slot < 0:  # the hotspot's interior: a new slot, inside at the centre
                    slot = n_slots + n_new
                    in_cell[n_new] = cid[gs[gi]] * nb2 + cl
                    in_k[n_new] = -(src[p] + 1) if src[p] < 0 else kt_k[src[p]]
                    n_new += 1
                many_slots[n_claims] = slot
                n_claims += 1
            n_many += 1
            many_start[n_many] = n_claims
    return n_many, n_claims, n_new


def merge_shared(cid: np.ndarray, src: np.ndarray, gs: np.ndarray, gsize: np.ndarray, codes: np.ndarray,
                 spec: np.ndarray, kt_k: np.ndarray, *, nh: int, n_slots: int,
                 nt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``nt:`` of ``codes`` and ``spec`` for coarse cells that several hotspots
    reach (group ``i``: ``cid``/``src`` entries ``gs[i]:gs[i] + gsize[i]``, in hotspot
    order; ``src`` the tile, or ``-(k + 1)`` for "wholly inside k"): a fine cell two of
    them claim becomes "many" (code ``-(nh + 2)``), with a list of slots (the boundary
    slot, or a new "inside at the centre" slot for a hotspot whose interior it is); a
    cell one claims takes its code and slot. Returns the shared cells' slot lists (CSR
    ``many_start``, ``many_slots``) and the new slots' fine cells and hotspots."""
    nb2 = codes.shape[1]
    room = int(gsize.sum()) * nb2
    many_start, many_slots = np.empty(room + 1, np.int32), np.empty(room, np.int32)
    in_cell, in_k = np.empty(room, np.int64), np.empty(room, np.int64)
    n_many, n_claims, n_new = _merge_shared(cid, src, np.asarray(gs, np.int64), np.asarray(gsize, np.int64), codes,
                                            spec, np.asarray(kt_k, np.int64), nh, n_slots, nt, many_start,
                                            many_slots, in_cell, in_k)
    return many_start[:n_many + 1], many_slots[:n_claims], in_cell[:n_new], in_k[:n_new]
