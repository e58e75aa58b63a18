"""REFERENCE COPY, for tests only: src/guardian_rct/geo/point_raster.py as of main 011dd8a (the
all-numpy build before the near-pair step was compiled), kept verbatim below this note so that
tests/test_point_build.py can check the compiled build gives bit-identical tables.

The vectorised build of :class:`~guardian_rct.geo.point_index.HotspotIndex` tables.

Everything here is whole-array numpy over all hotspots at once (no loop over cells):

1. *near pairs*: every (fine cell, edge) with the edge within ``margin`` of the cell, by
   clipping each edge to each column strip it crosses (the strip grown by ``margin``)
   and taking the rows the clipped piece's y-range (grown by ``margin``) touches: the
   exact set, up to rounding far below ``margin`` (a "supercover" traversal,
   Amanatides & Woo 1987, widened by the margin);
2. *parity*: the even-odd crossing count of each hotspot's edges along fine-cell-centre
   rows (Haines 1994), kept as per-row prefix counts at coarse-cell boundaries, and
   inside the coarse cells an edge passes through as 16-bit words whose prefix XOR gives
   the parity of every fine cell centre;
3. *slots*: one per (fine cell, hotspot) an exact test may need, with the hotspot's
   status at the cell centre and the edges near the cell, for the exact stage
   (:mod:`guardian_rct.geo.point_exact`).

A cell centre that lies within rounding distance of an edge's line gets status
:data:`UNSURE` (its points go to GEOS), so a parity the scanline might get wrong is never
used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTSIDE = -1
UNSURE = 2  # slot status: centre too close to an edge to trust the parity; use GEOS
# Relative tolerance of the centre check: the scanline's crossing abscissa carries
# rounding error of a few ulps of the coordinates; 1e-12 leaves a factor of > 1000.
_CENTRE_TOL = 1e-12
# Shewchuk (1997) static error bound for orient2d, (3 + 16 eps) eps, rounded up 3x.
ORIENT_ERR = 1e-15


@dataclass(frozen=True)
class Grid:
    """Raster geometry shared by the build steps."""

    x0: float
    y0: float
    cell: float
    block: int
    ncx: int
    ncy: int
    margin: float
    scale: float

    @property
    def nx(self) -> int:
        return self.ncx * self.block

    @property
    def ny(self) -> int:
        return self.ncy * self.block


@dataclass(frozen=True)
class Tables:
    """What the build hands to :class:`HotspotIndex`."""

    coarse: np.ndarray      # (ncy + 2, ncx + 2) codes with a ring of OUTSIDE
    blocks: np.ndarray      # (n_blocks, block * block) int16 codes
    special: np.ndarray     # (n_blocks, block * block) int32: slot, -(m + 2) shared cell m, or -1
    many_start: np.ndarray  # (n_shared + 1,) int32 CSR into many_slots
    many_slots: np.ndarray  # slots of the shared cells, in hotspot order per cell
    slot_hot: np.ndarray    # (n_slots,) int32 hotspot
    slot_status: np.ndarray  # (n_slots,) int8: 0 outside / 1 inside at the centre / UNSURE
    slot_cx: np.ndarray     # (n_slots,) float64 cell centre
    slot_cy: np.ndarray
    slot_edges: np.ndarray  # (n_slots + 1,) int32 CSR into pair_edge
    pair_edge: np.ndarray   # (n_pairs,) int32 edge number
    pair_side: np.ndarray   # (n_pairs,) int8 sign of orient(a, b, centre)
    edges: np.ndarray       # (m, 4) float64 x1, y1, x2, y2


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, rank) of ``counts[i]`` consecutive items per owner ``i``."""
    owner = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, rank


def near_pairs(edges: np.ndarray, g: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and edge numbers of every fine cell each edge passes within
    ``g.margin`` of (column strips, then the clipped piece's rows)."""
    x1, y1, x2, y2 = edges.T
    dx, dy = x2 - x1, y2 - y1
    m, cell = g.margin, g.cell
    c0 = np.clip(np.floor((np.minimum(x1, x2) - m - g.x0) / cell), 0, g.nx - 1).astype(np.int64)
    c1 = np.clip(np.floor((np.maximum(x1, x2) + m - g.x0) / cell), -1, g.nx - 1).astype(np.int64)
    e, k = _expand(np.maximum(c1 - c0 + 1, 0))
    col = c0[e] + k
    left = g.x0 + col * cell - m
    vertical = dx[e] == 0
    ddx = np.where(vertical, 1.0, dx[e])
    ta = np.clip((left - x1[e]) / ddx, 0.0, 1.0)
    tb = np.clip((left + (cell + 2 * m) - x1[e]) / ddx, 0.0, 1.0)
    ta[vertical], tb[vertical] = 0.0, 1.0
    ya, yb = y1[e] + ta * dy[e], y1[e] + tb * dy[e]
    r0 = np.clip(np.floor((np.minimum(ya, yb) - m - g.y0) / cell), 0, g.ny - 1).astype(np.int64)
    r1 = np.clip(np.floor((np.maximum(ya, yb) + m - g.y0) / cell), -1, g.ny - 1).astype(np.int64)
    j, k = _expand(np.maximum(r1 - r0 + 1, 0))
    return r0[j] + k, col[j], e[j]


def _windows(bounds: np.ndarray, g: Grid) -> np.ndarray:
    """Per hotspot, coarse rows R0:R1 and columns B0:B1 covering its bounding box with
    a fine cell and the margin to spare: (n, 4) int64."""
    pad = g.margin + g.cell
    lo_c = np.floor((bounds[:, 0] - pad - g.x0) / g.cell) // g.block
    lo_r = np.floor((bounds[:, 1] - pad - g.y0) / g.cell) // g.block
    hi_c = np.floor((bounds[:, 2] + pad - g.x0) / g.cell) // g.block + 1
    hi_r = np.floor((bounds[:, 3] + pad - g.y0) / g.cell) // g.block + 1
    w = np.column_stack([lo_r, hi_r, lo_c, hi_c]).astype(np.int64)
    w[:, 0:2] = np.clip(w[:, 0:2], 0, g.ncy)
    w[:, 2:4] = np.clip(w[:, 2:4], 0, g.ncx)
    return w


@dataclass(frozen=True)
class _Prefix:
    """Per hotspot window: crossings to the left of each coarse column, per fine row."""

    base: np.ndarray    # (n,) offset of each window's first row
    nbin: np.ndarray    # (n,) bins per row (coarse columns + 1)
    counts: np.ndarray  # flat cumulative counts with a leading 0
    cross_k: np.ndarray  # crossings: hotspot, fine row, first fine column right of it
    cross_r: np.ndarray
    cross_c: np.ndarray

    def parity(self, k: np.ndarray, r: np.ndarray, b: np.ndarray, w: np.ndarray, block: int) -> np.ndarray:
        """Parity of crossings left of fine column ``b * block`` in fine row ``r``."""
        row = self.base[k] + (r - w[k, 0] * block) * self.nbin[k]
        return ((self.counts[row + (b - w[k, 2]) + 1] - self.counts[row]) & 1).astype(np.uint8)


def _prefix(edges: np.ndarray, owner: np.ndarray, w: np.ndarray, g: Grid) -> _Prefix:
    """Crossings of every hotspot's edges with its window's fine-cell-centre rows."""
    blk = g.block
    x1, y1, x2, y2 = edges.T
    lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
    wr0, wr1 = w[owner, 0] * blk, w[owner, 1] * blk
    # Row r's centre is y0 + (r + 0.5) * cell; an edge crosses it when lo <= yc < hi.
    first = np.maximum(np.ceil((lo - g.y0) / g.cell - 0.5), wr0).astype(np.int64)
    last = np.minimum(np.ceil((hi - g.y0) / g.cell - 0.5) - 1, wr1 - 1).astype(np.int64)
    e, k = _expand(np.maximum(last - first + 1, 0))
    r = first[e] + k
    yc = g.y0 + (r + 0.5) * g.cell
    ok = (lo[e] <= yc) & (yc < hi[e])
    e, r, yc = e[ok], r[ok], yc[ok]
    xc = x1[e] + (yc - y1[e]) * (x2[e] - x1[e]) / (y2[e] - y1[e])
    hk = owner[e]
    # Cells with index >= col have this crossing left of their centre.
    col = np.ceil((xc - g.x0) / g.cell - 0.5)
    col = np.clip(col, w[hk, 2] * blk, w[hk, 3] * blk).astype(np.int64)
    nbin = (w[:, 3] - w[:, 2] + 1)
    rows = (w[:, 1] - w[:, 0]) * blk
    base = np.r_[0, np.cumsum(rows * nbin)[:-1]]
    # col <= b * blk  <=>  ceil(col / blk) <= b: bin of the first coarse column it is left of.
    b = -(-col // blk)
    flat = base[hk] + (r - w[hk, 0] * blk) * nbin[hk] + (b - w[hk, 2])
    hist = np.bincount(flat, minlength=int((rows * nbin).sum()))
    counts = np.r_[0, np.cumsum(hist, dtype=np.int32)]
    return _Prefix(base=base, nbin=nbin, counts=counts, cross_k=hk, cross_r=r, cross_c=col)


def _word_dtype(block: int) -> np.dtype:
    if block > 64:
        raise ValueError(f"block {block} is too large: at most 64 fine cells per coarse side")
    return np.dtype(f"<u{max(1, block // 8)}")


def _tile_parity(pre: _Prefix, kt_k, kt_r, kt_b, kt_keys, w, g: Grid, nh: int) -> np.ndarray:
    """(n_tiles, block * block) uint8 parity of each tile's hotspot at its fine-cell centres."""
    blk = g.block
    dt = _word_dtype(blk)
    nt = len(kt_k)
    rows = (kt_r[:, None] * blk + np.arange(blk)).ravel()
    start = pre.parity(np.repeat(kt_k, blk), rows, np.repeat(kt_b, blk), w, blk)
    words = np.zeros(nt * blk, dtype=dt)
    # A crossing strictly inside a tile's column range flips the cells from it rightwards.
    bp = (pre.cross_c - 1) // blk
    loc = pre.cross_c - bp * blk
    key = ((pre.cross_r // blk) * g.ncx + bp) * nh + pre.cross_k
    t = np.searchsorted(kt_keys, key)
    t = np.minimum(t, max(nt - 1, 0))
    hit = (loc < blk) & (kt_keys[t] == key) if nt else np.zeros(len(key), bool)
    np.bitwise_xor.at(words, t[hit] * blk + pre.cross_r[hit] % blk,
                      np.left_shift(np.ones(1, dt), loc[hit].astype(dt)))
    shift = 1
    while shift < blk:  # prefix XOR along the bits: bit j = parity of toggles 0..j
        words ^= words << dt.type(shift)
        shift *= 2
    words ^= np.where(start == 1, dt.type((1 << blk) - 1), dt.type(0)).astype(dt)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").reshape(nt, blk, dt.itemsize * 8)
    return np.ascontiguousarray(bits[:, :, :blk]).reshape(nt, blk * blk)


def _orient_side(edges, pair_edge, cx, cy, g: Grid):
    """Sign of orient(a, b, centre) per pair and whether it is too close to call: within
    the centre tolerance of the edge's line, or within Shewchuk's bound (which the
    per-edge tolerance covers, since the centre is within a cell and margin of the edge
    and ``scale >= 1``; the second term makes sure of it)."""
    dx, dy = edges[:, 2] - edges[:, 0], edges[:, 3] - edges[:, 1]
    length = np.abs(dx) + np.abs(dy)  # >= the Euclidean length
    tol = np.maximum(_CENTRE_TOL * (g.scale + length),
                     4 * ORIENT_ERR * (length + 2 * (g.cell + g.margin))) * length
    ax, ay = edges[:, 0].take(pair_edge), edges[:, 1].take(pair_edge)
    ax -= cx
    ay -= cy
    d = ax * dy.take(pair_edge)
    d -= ay * dx.take(pair_edge)  # (a - c) x (b - a) = orient(a, b, c)
    return np.where(d > 0, 1, -1).astype(np.int8), np.abs(d) <= tol.take(pair_edge)


@dataclass(frozen=True)
class _Near:
    """Near pairs grouped into slots (cell, hotspot) and tiles (coarse cell, hotspot)."""

    pair_edge: np.ndarray
    first: np.ndarray     # first pair of each slot
    local: np.ndarray     # slot's fine cell within its tile
    row: np.ndarray       # slot's fine row and column
    col: np.ndarray
    tile: np.ndarray      # slot's tile
    kt_keys: np.ndarray   # tiles: coarse * n + hotspot, sorted
    kt_k: np.ndarray
    kt_c: np.ndarray


def _group_near(edges: np.ndarray, owner: np.ndarray, g: Grid, nh: int) -> _Near:
    blk = g.block
    sh = blk.bit_length() - 1
    row, col, e = near_pairs(edges, g)
    # Sorted by coarse cell, hotspot, then fine cell: one slot per (cell, hotspot), and
    # the (coarse cell, hotspot) tiles come out sorted too.
    key = ((row >> sh) * g.ncx + (col >> sh)) * nh + owner[e]
    key <<= 2 * sh
    key += ((row & (blk - 1)) << sh) + (col & (blk - 1))
    order = np.argsort(key)
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.empty(0, np.int64)
    at = order[first]
    bs_ck = key[first] >> (2 * sh)
    new_tile = np.r_[True, bs_ck[1:] != bs_ck[:-1]] if len(first) else np.empty(0, bool)
    kt_keys = bs_ck[new_tile]
    return _Near(pair_edge=e[order].astype(np.int32), first=first, local=key[first] & (blk * blk - 1),
                 row=row[at], col=col[at], tile=np.cumsum(new_tile) - 1, kt_keys=kt_keys,
                 kt_k=kt_keys % nh, kt_c=kt_keys // nh)


def _inside_coarse(pre: _Prefix, w: np.ndarray, kt_keys: np.ndarray, g: Grid, nh: int):
    """Coarse cells of each window wholly inside its hotspot (parity at their first
    fine cell; no edge comes near them): coarse numbers and hotspots."""
    wk, rank = _expand((w[:, 1] - w[:, 0]) * (w[:, 3] - w[:, 2]))
    ncw = np.maximum(w[wk, 3] - w[wk, 2], 1)
    wr, wb = w[wk, 0] + rank // ncw, w[wk, 2] + rank % ncw
    ukey = (wr * g.ncx + wb) * nh + wk
    pos = np.minimum(np.searchsorted(kt_keys, ukey), max(len(kt_keys) - 1, 0))
    tiled = kt_keys[pos] == ukey if len(kt_keys) else np.zeros(len(ukey), bool)
    inside = (pre.parity(wk, wr * g.block, wb, w, g.block) == 1) & ~tiled
    return wr[inside] * g.ncx + wb[inside], wk[inside]


def build_tables(edges: np.ndarray, owner: np.ndarray, bounds: np.ndarray, g: Grid) -> Tables:
    """All tables of the index from the hotspots' edges (see the module docstring)."""
    nh, nb2 = len(bounds), g.block * g.block
    nr = _group_near(edges, owner, g, nh)
    w = _windows(bounds, g)
    pre = _prefix(edges, owner, w, g)
    u_cid, u_k = _inside_coarse(pre, w, nr.kt_keys, g, nh)
    # Every coarse cell some hotspot reaches: by coarse cell, then hotspot.
    cid = np.r_[u_cid, nr.kt_c].astype(np.int64)
    src = np.r_[-(u_k + 1), np.arange(len(nr.kt_c))].astype(np.int64)  # -(k + 1): wholly inside k
    order = np.lexsort((np.r_[u_k, nr.kt_k], cid))
    cid, src = cid[order], src[order]
    start = np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]]) if len(cid) else np.empty(0, np.int64)
    size = np.diff(np.r_[start, len(cid)])
    nt, nd = len(nr.kt_k), int((size > 1).sum())
    parity = _tile_parity(pre, nr.kt_k, nr.kt_c // g.ncx, nr.kt_c % g.ncx, nr.kt_keys, w, g, nh)
    codes = np.empty((nt + nd, nb2), dtype=np.int16)
    np.multiply(parity, (nr.kt_k + 1).astype(np.int16)[:, None], out=codes[:nt], casting="unsafe")
    codes[:nt] -= 1
    bs_k = nr.kt_k[nr.tile]
    codes[nr.tile, nr.local] = -(bs_k + 2)
    spec = np.full((nt + nd, nb2), -1, dtype=np.int32)
    spec[nr.tile, nr.local] = np.arange(len(nr.first), dtype=np.int32)
    status = parity[nr.tile, nr.local].astype(np.int8)
    cx, cy = g.x0 + (nr.col + 0.5) * g.cell, g.y0 + (nr.row + 0.5) * g.cell
    n_edges = np.diff(np.r_[nr.first, len(nr.pair_edge)])
    side, unsure = _orient_side(edges, nr.pair_edge, np.repeat(cx, n_edges), np.repeat(cy, n_edges), g)
    if len(nr.first):
        status[np.logical_or.reduceat(unsure, nr.first)] = UNSURE
    many_start, many_slots, in_cell, in_k = _merge_shared(cid, src, start[size > 1], size[size > 1], codes, spec,
                                                          nr.kt_k, nh, len(nr.first), nt)
    inner = np.full(g.ncy * g.ncx, OUTSIDE, dtype=np.int32)
    one = start[size == 1]
    s_cid, s_src = cid[one], src[one]
    inner[s_cid] = np.where(s_src < 0, -(s_src + 1), -(s_src + 2))
    inner[cid[start[size > 1]]] = -(nt + np.arange(nd) + 2)
    small = nt + nd + 2 < np.iinfo(np.int16).max
    coarse = np.full((g.ncy + 2, g.ncx + 2), OUTSIDE, dtype=np.int16 if small else np.int32)
    coarse[1:-1, 1:-1] = inner.reshape(g.ncy, g.ncx)
    in_cx, in_cy = _centres(in_cell, g)
    return Tables(coarse=coarse, blocks=codes, special=spec, many_start=many_start, many_slots=many_slots,
                  slot_hot=np.r_[bs_k, in_k].astype(np.int32),
                  slot_status=np.r_[status, np.ones(len(in_cell), np.int8)].astype(np.int8),
                  slot_cx=np.r_[cx, in_cx], slot_cy=np.r_[cy, in_cy],
                  slot_edges=np.r_[0, np.cumsum(n_edges), np.full(len(in_cell), len(nr.pair_edge))].astype(np.int32),
                  pair_edge=nr.pair_edge, pair_side=side, edges=edges)


def _centres(cell: np.ndarray, g: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Centres of fine cells numbered coarse * block**2 + local."""
    blk = g.block
    c, local = cell // (blk * blk), cell % (blk * blk)
    frow = (c // g.ncx) * blk + local // blk
    fcol = (c % g.ncx) * blk + local % blk
    return g.x0 + (fcol + 0.5) * g.cell, g.y0 + (frow + 0.5) * g.cell


def _merge_shared(cid, src, gs, gsize, codes, spec, kt_k, nh, n_slots, nt):
    """Rows ``nt:`` of ``codes`` and ``spec`` for coarse cells that several hotspots
    reach (``cid`` sorted, ``src`` the tile, or ``-(k + 1)`` for "wholly inside k"): a
    fine cell two of them claim becomes "many", with a list of slots (the boundary
    slot, or a new "inside at the centre" slot for a hotspot whose interior it is).
    Returns the shared cells' slot lists (CSR) and the new slots' cells and hotspots."""
    nb2 = codes.shape[1]
    if len(gs) == 0:
        return np.zeros(1, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int64)
    part = np.concatenate([np.arange(a, a + n) for a, n in zip(gs, gsize, strict=True)])
    psrc = src[part]
    tile = np.maximum(psrc, 0)
    uniform = psrc < 0
    pk = np.where(uniform, -(psrc + 1), kt_k[tile])
    pc = np.where(uniform[:, None], pk[:, None].astype(np.int16), codes[tile])
    ps = np.where(uniform[:, None], np.int32(-1), spec[tile])
    claimed = pc != OUTSIDE
    pstart = np.r_[0, np.cumsum(gsize)[:-1]]
    cnt = np.add.reduceat(claimed.astype(np.int32), pstart, axis=0)
    onecode = np.add.reduceat(np.where(claimed, pc, 0).astype(np.int32), pstart, axis=0) - (cnt == 0)
    onespec = np.add.reduceat(np.where(claimed & (ps >= 0), ps + 1, 0), pstart, axis=0) - 1
    shared = cnt >= 2
    m = np.cumsum(shared.ravel()).reshape(shared.shape) - 1
    codes[nt:] = np.where(shared, -(nh + 2), onecode)
    spec[nt:] = np.where(shared, -(m + 2), onespec)
    # Claims on shared cells, ordered by cell then hotspot (parts are in hotspot order).
    claim3 = np.zeros((len(gs), nb2, int(gsize.max())), dtype=bool)
    claim3[np.repeat(np.arange(len(gs)), gsize), :, np.arange(len(part)) - np.repeat(pstart, gsize)] = claimed
    gi, li, ji = np.nonzero(claim3 & shared[:, :, None])
    pi = pstart[gi] + ji
    slot = ps[pi, li].astype(np.int64)
    interior = slot < 0
    slot[interior] = n_slots + np.arange(int(interior.sum()))
    many_start = np.r_[0, np.cumsum(cnt[shared])].astype(np.int32)
    in_cell = cid[gs[gi[interior]]] * nb2 + li[interior]
    return many_start, slot.astype(np.int32), in_cell, pk[pi[interior]]
