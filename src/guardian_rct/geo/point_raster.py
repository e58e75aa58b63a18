"""The vectorised build of :class:`~guardian_rct.geo.point_index.HotspotIndex` tables.

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
    special: np.ndarray     # (n_blocks, block * block) int32 special-cell number or -1
    cell_slots: np.ndarray  # (n_special + 1,) int32 CSR into the slot arrays
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
    words ^= np.where(start == 1, dt.type((1 << blk) - 1 if blk < 64 else -1), dt.type(0)).astype(dt)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").reshape(nt, blk, dt.itemsize * 8)
    return np.ascontiguousarray(bits[:, :, :blk]).reshape(nt, blk * blk)


def _orient_side(edges, pair_edge, cx, cy, scale):
    """Sign of orient(a, b, centre) per pair and whether it is too close to call."""
    ax, ay, bx, by = edges[pair_edge].T
    p, q = (ax - cx) * (by - cy), (ay - cy) * (bx - cx)
    d = p - q
    length = np.hypot(bx - ax, by - ay)
    tol = np.maximum(ORIENT_ERR * (np.abs(p) + np.abs(q)), _CENTRE_TOL * (scale + length) * length)
    return np.where(d > 0, 1, -1).astype(np.int8), np.abs(d) <= tol


def build_tables(edges: np.ndarray, owner: np.ndarray, bounds: np.ndarray, g: Grid) -> Tables:
    """All tables of the index from the hotspots' edges (see the module docstring)."""
    nh, blk = len(bounds), g.block
    nb2 = blk * blk
    row, col, e = near_pairs(edges, g)
    k = owner[e]
    key = (((row // blk) * g.ncx + col // blk) * nb2 + (row % blk) * blk + col % blk) * nh + k
    order = np.argsort(key, kind="stable")
    key, pair_edge = key[order], e[order].astype(np.int32)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    bs_key = key[first]
    bs_k, bs_cell = bs_key % nh, bs_key // nh
    kt_keys, bs_tile = np.unique((bs_cell // nb2) * nh + bs_k, return_inverse=True)
    kt_k, kt_c = kt_keys % nh, kt_keys // nh
    w = _windows(bounds, g)
    pre = _prefix(edges, owner, w, g)
    parity = _tile_parity(pre, kt_k, kt_c // g.ncx, kt_c % g.ncx, kt_keys, w, g, nh)
    codes = np.where(parity == 1, kt_k[:, None], OUTSIDE).astype(np.int16)
    local = bs_cell % nb2
    codes[bs_tile, local] = -(bs_k + 2)
    bs_status = parity[bs_tile, local].astype(np.int8)
    cidx = bs_cell // nb2
    frow = (cidx // g.ncx) * blk + local // blk
    fcol = (cidx % g.ncx) * blk + local % blk
    bs_cx, bs_cy = g.x0 + (fcol + 0.5) * g.cell, g.y0 + (frow + 0.5) * g.cell
    slot_of_pair = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(key)]))
    side, unsure = _orient_side(edges, pair_edge, bs_cx[slot_of_pair], bs_cy[slot_of_pair], g.scale)
    if len(first):
        bs_status[np.logical_or.reduceat(unsure, first)] = UNSURE
    # Coarse cells of each window wholly inside its hotspot: parity at the first fine cell.
    wk, rank = _expand((w[:, 1] - w[:, 0]) * (w[:, 3] - w[:, 2]))
    ncw = w[wk, 3] - w[wk, 2]
    wr, wb = w[wk, 0] + rank // np.maximum(ncw, 1), w[wk, 2] + rank % np.maximum(ncw, 1)
    ukey = (wr * g.ncx + wb) * nh + wk
    pos = np.minimum(np.searchsorted(kt_keys, ukey), max(len(kt_keys) - 1, 0))
    tiled = kt_keys[pos] == ukey if len(kt_keys) else np.zeros(len(ukey), bool)
    inside = (pre.parity(wk, wr * blk, wb, w, blk) == 1) & ~tiled
    slots = (bs_cell, bs_k, bs_status, bs_cx, bs_cy, np.diff(np.r_[first, len(key)]))
    return _assemble(g, nh, wr[inside] * g.ncx + wb[inside], wk[inside], kt_c, kt_k, codes, slots,
                     pair_edge, side, edges)


def _merge_shared(cid, src, codes, kt_k, nh, nb2):
    """Tiles of coarse cells several hotspots reach: cells two of them claim become
    "many"; returns the tiles and the interior slots (cell, hotspot) those cells need."""
    many = -(nh + 2)
    start = np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]])
    size = np.diff(np.r_[start, len(cid)])
    out_cid, out_codes, in_cell, in_k = [], [], [], []
    for a in start[size > 1]:  # rare: only where hotspots overlap or nearly touch
        stop = a + int(size[start == a][0])
        parts = np.stack([np.full(nb2, -(src[j] + 1), np.int16) if src[j] < 0 else codes[src[j]]
                          for j in range(a, stop)])
        claimed = parts != OUTSIDE
        merged = np.full(nb2, OUTSIDE, np.int16)
        for p in parts:
            merged = np.where(p != OUTSIDE, p, merged)
        shared = claimed.sum(axis=0) >= 2
        merged[shared] = many
        hi, lo = np.nonzero((parts >= 0) & shared[None, :])
        in_cell.append(cid[a] * nb2 + lo)
        in_k.append(parts[hi, lo].astype(np.int64))
        out_cid.append(cid[a])
        out_codes.append(merged)
    single = start[size == 1]
    return single, out_cid, out_codes, in_cell, in_k


def _assemble(g, nh, u_cid, u_k, kt_c, kt_k, codes, slots, pair_edge, side, edges) -> Tables:
    blk = g.block
    nb2 = blk * blk
    cid = np.r_[u_cid, kt_c].astype(np.int64)
    src = np.r_[-(u_k + 1), np.arange(len(kt_c))].astype(np.int64)  # uniform k: -(k + 1); tile t: t
    order = np.argsort(cid, kind="stable")
    cid, src = cid[order], src[order]
    single, d_cid, d_codes, in_cell, in_k = _merge_shared(cid, src, codes, kt_k, nh, nb2)
    inner = np.full(g.ncy * g.ncx, OUTSIDE, dtype=np.int32)
    s_cid, s_src = cid[single], src[single]
    uni = s_src < 0
    inner[s_cid[uni]] = -(s_src[uni] + 1)
    b_cid = np.r_[s_cid[~uni], np.array(d_cid, dtype=np.int64)]
    b_codes = np.concatenate([codes[s_src[~uni]]] + [c[None, :] for c in d_codes]) if len(b_cid) else \
        np.empty((0, nb2), np.int16)
    order = np.argsort(b_cid, kind="stable")
    b_cid, b_codes = b_cid[order], np.ascontiguousarray(b_codes[order])
    inner[b_cid] = -(np.arange(len(b_cid)) + 2)
    small = len(b_cid) + 2 < np.iinfo(np.int16).max
    coarse = np.full((g.ncy + 2, g.ncx + 2), OUTSIDE, dtype=np.int16 if small else np.int32)
    coarse[1:-1, 1:-1] = inner.reshape(g.ncy, g.ncx)
    s_cell, s_k, s_status, s_cx, s_cy, s_n = slots
    if in_cell:  # interior slots of shared cells: status 1 at the centre, no edges
        c = np.concatenate(in_cell)
        kk = np.concatenate(in_k)
        local = c % nb2
        frow = (c // nb2 // g.ncx) * blk + local // blk
        fcol = (c // nb2 % g.ncx) * blk + local % blk
        s_cell, s_k = np.r_[s_cell, c], np.r_[s_k, kk]
        s_status = np.r_[s_status, np.ones(len(c), np.int8)]
        s_cx = np.r_[s_cx, g.x0 + (fcol + 0.5) * g.cell]
        s_cy = np.r_[s_cy, g.y0 + (frow + 0.5) * g.cell]
        s_n = np.r_[s_n, np.zeros(len(c), np.int64)]
        order = np.argsort(s_cell * nh + s_k, kind="stable")
        s_cell, s_k, s_status, s_cx, s_cy, s_n = (a[order] for a in (s_cell, s_k, s_status, s_cx, s_cy, s_n))
    cell_first = np.flatnonzero(np.r_[True, s_cell[1:] != s_cell[:-1]]) if len(s_cell) else np.empty(0, np.int64)
    cells = s_cell[cell_first]
    special = np.full((len(b_cid), nb2), -1, dtype=np.int32)
    special[-(inner[cells // nb2] + 2), cells % nb2] = np.arange(len(cells))
    return Tables(coarse=coarse, blocks=b_codes, special=special,
                  cell_slots=np.r_[cell_first, len(s_cell)].astype(np.int32),
                  slot_hot=s_k.astype(np.int32), slot_status=s_status.astype(np.int8),
                  slot_cx=s_cx, slot_cy=s_cy, slot_edges=np.r_[0, np.cumsum(s_n)].astype(np.int32),
                  pair_edge=pair_edge, pair_side=side, edges=edges)
