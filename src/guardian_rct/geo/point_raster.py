"""The build of :class:`~guardian_rct.geo.point_index.HotspotIndex` tables.

Over all hotspots at once; the loops over edges, crossings, tiles and shared cells are
compiled (:mod:`guardian_rct.geo.point_build`), the rest is whole-array numpy:

1. *near pairs*: every (fine cell, edge) with the edge within ``margin`` of the cell, by
   clipping each edge to each column strip it crosses (the strip grown by ``margin``)
   and taking the rows the clipped piece's y-range (grown by ``margin``) touches: the
   exact set, up to rounding far below ``margin`` (a "supercover" traversal,
   Amanatides & Woo 1987, widened by the margin);
2. *parity*: the even-odd crossing count of each hotspot's edges along fine-cell-centre
   rows (Haines 1994), kept as per-row prefix counts at coarse-cell boundaries, and
   inside the coarse cells an edge passes through as flips whose running XOR along the
   row gives the parity of every fine cell centre;
3. *slots*: one per (fine cell, hotspot) an exact test may need, with the hotspot's
   status at the cell centre and the edges near the cell, for the exact stage
   (:mod:`guardian_rct.geo.point_exact`); coarse cells several hotspots reach get
   blocks of their own, merged from the hotspots' tiles.

A cell centre that lies within rounding distance of an edge's line gets status
:data:`UNSURE` (its points go to GEOS), so a parity the scanline might get wrong is never
used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from guardian_rct.geo.point_build import crossings, merge_shared, near_slots, tile_codes

OUTSIDE = -1
UNSURE = 2  # slot status: centre too close to an edge to trust the parity; use GEOS


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
    base, nbin, counts, cross_k, cross_r, cross_c = crossings(edges, owner, w, x0=g.x0, y0=g.y0, cell=g.cell,
                                                              block=g.block)
    return _Prefix(base=base, nbin=nbin, counts=counts, cross_k=cross_k, cross_r=cross_r, cross_c=cross_c)


def _check_block(block: int) -> None:
    """The documented limit (:func:`~guardian_rct.geo.point_index.build_index`)."""
    if block > 64:
        raise ValueError(f"block {block} is too large: at most 64 fine cells per coarse side")


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
    _check_block(g.block)
    nh, nb2 = len(bounds), g.block * g.block
    nr = near_slots(edges, owner, x0=g.x0, y0=g.y0, cell=g.cell, margin=g.margin, block=g.block,
                    ncx=g.ncx, ncy=g.ncy, nh=nh, scale=g.scale)
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
    codes = np.empty((nt + nd, nb2), dtype=np.int16)
    spec = np.empty((nt + nd, nb2), dtype=np.int32)
    status = tile_codes(pre.counts, pre.base, pre.nbin, w, pre.cross_k, pre.cross_r, pre.cross_c, nr, nh=nh,
                        ncx=g.ncx, block=g.block, codes=codes, spec=spec)
    status[nr.unsure] = UNSURE
    bs_k = nr.kt_k[nr.tile]
    many_start, many_slots, in_cell, in_k = merge_shared(cid, src, start[size > 1], size[size > 1], codes, spec,
                                                         nr.kt_k, nh=nh, n_slots=len(nr.first), nt=nt)
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
                  slot_cx=np.r_[nr.cx, in_cx], slot_cy=np.r_[nr.cy, in_cy],
                  slot_edges=np.r_[nr.first, np.full(len(in_cell) + 1, len(nr.pair_edge))].astype(np.int32),
                  pair_edge=nr.pair_edge, pair_side=nr.pair_side, edges=edges)


def _centres(cell: np.ndarray, g: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Centres of fine cells numbered coarse * block**2 + local."""
    blk = g.block
    c, local = cell // (blk * blk), cell % (blk * blk)
    frow = (c // g.ncx) * blk + local // blk
    fcol = (c % g.ncx) * blk + local % blk
    return g.x0 + (fcol + 0.5) * g.cell, g.y0 + (frow + 0.5) * g.cell
