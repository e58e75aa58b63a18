"""Fast, exact assignment of location pings to hotspot polygons.

The obvious way, ``geopandas.sjoin(points, hotspots, predicate="intersects")``, first
builds one shapely Point per ping and then queries an STR-tree; for tens of millions of
pings the Point objects alone dominate. :class:`HotspotIndex` works on the coordinate
arrays directly with a raster over the hotspots' bounding box (a "cell classification"
point-in-polygon method; Haines 1994, "Point in polygon strategies", Graphics Gems IV,
§"grid method"; Žalik & Kolingerová 2001), stored in two levels so that the tables stay
in the CPU cache: a coarse table (64 m cells by default) and 16 × 16 fine blocks (4 m
cells) only where a coarse cell is not wholly inside one hotspot or outside all:

1. every fine cell is classified once as *outside every hotspot*, *strictly inside
   exactly one hotspot* or *boundary* (a hotspot edge passes within ``margin`` of the
   cell, or two hotspots claim it); the build is whole-array numpy with its loops
   compiled (:mod:`guardian_rct.geo.point_raster`, :mod:`guardian_rct.geo.point_build`);
2. one compiled pass per slice of pings (:mod:`guardian_rct.geo.point_kernel`, numba,
   GIL released, slices in threads) reads each ping's cell class and writes its pair;
   pings in boundary cells are decided there exactly from their cell's edges with
   floating-point orientation tests under a static error bound; the very few the bound
   cannot decide (on or within rounding of an edge or vertex) go to GEOS
   (``shapely.intersects_xy``, :mod:`guardian_rct.geo.point_exact`), the predicate
   ``sjoin(..., predicate="intersects")`` evaluates.

Boundary rule (identical to ``sjoin`` with ``predicate="intersects"``): a ping *on* a
hotspot's edge or vertex counts as inside that hotspot; a ping inside a hole does not;
a ping in two overlapping hotspots (possible once they are grown by ``gps_tolerance_m``)
is assigned to both. Polygons must be valid (the even-odd rule is used inside cells).
Hotspots are grown with ``shapely.buffer(geom, tolerance, quad_segs=16)``; the benchmark
compares against ``sjoin`` on the same grown polygons.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

from guardian_rct.geo.point_exact import geos_pairs
from guardian_rct.geo.point_kernel import assign_kernel, cell_codes_kernel, max_slots_per_cell
from guardian_rct.geo.point_raster import Grid, build_tables

__all__ = ["HotspotIndex", "build_index", "assign_points", "cell_codes", "grow_hotspots", "LonLatGrid"]

_TASK = 1 << 20  # points per thread task (tasks balance the load across busy cores)


@dataclass(frozen=True, eq=False)
class HotspotIndex:
    """A two-level raster classification of hotspot polygons for exact point assignment.

    The fine raster (cell ``cell`` metres) is stored sparsely: a coarse table of
    ``block`` × ``block`` fine cells says, per coarse cell, "outside every hotspot"
    (``-1``), "strictly inside hotspot k" (``k >= 0``) or "see fine block b"
    (``-(b + 2)``); fine blocks hold the same codes per fine cell, plus ``-(k + 2)`` for
    a cell near the boundary of hotspot ``k`` only and ``-(n + 2)`` for a cell that
    several hotspots claim. Boundary fine cells get the exact test
    (:mod:`guardian_rct.geo.point_kernel`) from their *slots*: one per (cell, hotspot),
    with the hotspot's status at the cell centre and the edges near the cell.

    Attributes
    ----------
    geometries
        The (grown) hotspot polygons, in the order of the hotspot set (prepared).
    x0, y0, cell, block
        Lower-left corner, fine cell size (metres) and fine cells per coarse side.
    coarse
        ``int16`` (``int32`` beyond 32 765 blocks) (ny + 2, nx + 2) coarse table with a one-cell ring of ``-1`` around it.
    blocks
        ``int16`` (n_blocks, block * block) fine codes.
    bounds
        (n, 4) bounding boxes of the grown polygons, grown by ``margin``.
    margin
        Distance (in the polygons' units) within which an edge makes a fine cell a
        boundary cell.
    special
        ``int32`` like ``blocks``: the slot of a boundary cell, ``-(m + 2)`` for shared
        cell ``m`` (its slots are ``many_slots[many_start[m]:many_start[m + 1]]``), or
        ``-1``. Blocks of coarse cells that several hotspots reach replace their
        hotspots' own tiles, which stay in ``blocks`` unreferenced.
    slot_hot, slot_status, slot_cx, slot_cy, slot_edges
        Per slot: hotspot, status at the cell centre (0 outside, 1 inside, 2 too close
        to an edge to trust: GEOS), the centre, and a CSR range into ``pair_edge``.
    pair_edge, pair_side, edges
        The edges near each slot's cell, the side of each edge's line the centre lies
        on (+1 left / -1 right), and all ring edges as (m, 4) ``x1, y1, x2, y2``.
    """

    geometries: np.ndarray
    x0: float
    y0: float
    cell: float
    block: int
    coarse: np.ndarray
    blocks: np.ndarray
    bounds: np.ndarray
    margin: float
    special: np.ndarray
    many_start: np.ndarray
    many_slots: np.ndarray
    slot_hot: np.ndarray
    slot_status: np.ndarray
    slot_cx: np.ndarray
    slot_cy: np.ndarray
    slot_edges: np.ndarray
    pair_edge: np.ndarray
    pair_side: np.ndarray
    edges: np.ndarray

    @property
    def boundary_fraction(self) -> float:
        """Share of fine cells in fine blocks that are boundary cells (a diagnostic)."""
        return float(np.mean(self.blocks <= -2)) if self.blocks.size else 0.0


def grow_hotspots(geometries: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Grow polygons by ``tolerance_m`` metres (``shapely.buffer``, 16 segments per
    quarter circle); returns them unchanged when the tolerance is 0."""
    geoms = np.asarray(geometries, dtype=object)
    if tolerance_m <= 0:
        return geoms
    return shapely.buffer(geoms, tolerance_m, quad_segs=16)


def build_index(geometries, *, tolerance_m: float = 0.0, cell_m: float | None = None,
                block: int = 16, max_coarse_cells: int = 4_000_000,
                margin: float | None = None) -> HotspotIndex:
    """Classify a raster over the hotspots once, for :func:`assign_points`.

    Parameters
    ----------
    geometries
        Hotspot polygons in a metric CRS (array-like of shapely Polygon/MultiPolygon, or
        a GeoSeries).
    tolerance_m
        Grow every hotspot by this distance first (``[compliance] gps_tolerance_m``).
    cell_m
        Fine cell size; by default 4 m, or larger when the hotspots spread so far that
        the coarse table would exceed ``max_coarse_cells``.
    block
        Fine cells per side of a coarse cell (a power of two, at most 64).
    margin
        Distance (in the polygons' units) within which an edge makes a fine cell a
        boundary cell; by default 1 mm, or more at coordinates so large that rounding in
        the cell arithmetic could approach it. Give it for polygons not in metres (e.g.
        degrees, :mod:`guardian_rct.geo.lonlat_index`).
    """
    geoms = grow_hotspots(np.asarray(geometries, dtype=object), tolerance_m)
    if len(geoms) == 0:
        raise ValueError("build_index needs at least one hotspot polygon")
    if block < 1 or block & (block - 1):
        raise ValueError("block must be a power of two")
    if len(geoms) > np.iinfo(np.int16).max - 2:
        raise ValueError("at most 32765 hotspots are supported")
    bounds = shapely.bounds(geoms)
    xmin, ymin = bounds[:, 0].min(), bounds[:, 1].min()
    xmax, ymax = bounds[:, 2].max(), bounds[:, 3].max()
    scale = max(abs(xmin), abs(xmax), abs(ymin), abs(ymax), 1.0)
    # 1 mm, or far more than floating-point error in the cell arithmetic at this scale.
    margin = max(1e-3, scale * 1e-9) if margin is None else float(margin)
    if not margin > scale * 1e-12:
        raise ValueError(f"margin {margin!r} is too small for coordinates of size {scale:g}")
    width, height = xmax - xmin + 4 * margin, ymax - ymin + 4 * margin
    if cell_m is None:
        cell_m = max(4.0, math.sqrt(width * height / max_coarse_cells) / block)
    cell = float(cell_m)
    ncx = max(1, math.ceil(width / (cell * block)) + 1)
    ncy = max(1, math.ceil(height / (cell * block)) + 1)
    x0, y0 = xmin - 2 * margin, ymin - 2 * margin
    grid = Grid(x0=float(x0), y0=float(y0), cell=cell, block=block, ncx=ncx, ncy=ncy,
                margin=margin, scale=float(scale))
    edges, owner = _edges(geoms)
    t = build_tables(edges, owner, bounds, grid)
    for g in geoms:
        shapely.prepare(g)
    grown = bounds + np.array([-margin, -margin, margin, margin])
    return HotspotIndex(geometries=geoms, x0=grid.x0, y0=grid.y0, cell=cell, block=block,
                        coarse=t.coarse, blocks=t.blocks, bounds=grown, margin=margin,
                        special=t.special, many_start=t.many_start, many_slots=t.many_slots, slot_hot=t.slot_hot,
                        slot_status=t.slot_status, slot_cx=t.slot_cx, slot_cy=t.slot_cy,
                        slot_edges=t.slot_edges, pair_edge=t.pair_edge, pair_side=t.pair_side,
                        edges=t.edges)


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All polygon ring edges of non-zero length as an (m, 4) array x1, y1, x2, y2, and
    the hotspot of each (every part of a MultiPolygon: ``get_rings`` alone sees none)."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    e = np.column_stack([coords[:-1][same], coords[1:][same]])
    owner = part_of[ring_of[ring[:-1][same]]]
    keep = (e[:, 0] != e[:, 2]) | (e[:, 1] != e[:, 3])
    return e[keep], owner[keep].astype(np.int64)


def assign_points(index: HotspotIndex, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign points to the hotspots they intersect.

    Parameters
    ----------
    index
        From :func:`build_index`.
    x, y
        Coordinates in the hotspots' metric CRS (float64 arrays, equal lengths); a NaN
        raises ``ValueError`` (an infinity is simply far from every hotspot).

    Returns
    -------
    point, hotspot
        Parallel int64 / int32 arrays, one pair per (point, hotspot) that intersect,
        sorted by point then hotspot — the pairs ``geopandas.sjoin(..., predicate=
        "intersects")`` returns.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"assign_points: x and y differ in length ({len(x):,} and {len(y):,})")
    starts = range(0, len(x), _TASK)
    tables = _tables(index) + (index.many_start, index.many_slots, index.slot_hot, index.slot_status,
                               index.slot_cx, index.slot_cy, index.slot_edges, index.pair_edge,
                               index.pair_side, index.edges.ravel())
    reserve = max_slots_per_cell(index.many_start)

    def run(lo: int):
        return _assign_slice(tables, reserve, x[lo:lo + _TASK], y[lo:lo + _TASK], lo)

    workers = min(os.cpu_count() or 1, 4, len(starts))
    if workers > 1:
        # The kernel releases the GIL: slices run on all cores.
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, starts))
    else:
        parts = [run(lo) for lo in starts]
    if any(part is None for part in parts):
        _refuse_nan(x, y)
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    pairs_p = [q for part in parts for q in part[0]]
    pairs_h = [q for part in parts for q in part[1]]
    doubt_p = np.concatenate([q for part in parts for q in part[2]])
    extra_p, extra_h = doubt_p, np.empty(0, np.int32)
    if len(doubt_p):
        # The few points the orientation filter could not decide: GEOS, in this thread
        # (prepared geometries are not shared across threads).
        doubt_h = np.concatenate([q for part in parts for q in part[3]])
        extra_p, extra_h = geos_pairs(index.geometries, x, y, doubt_p, doubt_h)
        order = np.lexsort((extra_h, extra_p))
        extra_p, extra_h = extra_p[order], extra_h[order]
    return _assemble(pairs_p, pairs_h, extra_p, extra_h, len(index.geometries))


def _assemble(pairs_p: list[np.ndarray], pairs_h: list[np.ndarray], extra_p: np.ndarray, extra_h: np.ndarray,
              n_hot: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts (each sorted, in point order) in one pair of arrays, with the sorted
    GEOS pairs merged in where they belong: one copy of everything; the merge looks only
    at the parts the GEOS pairs fall in."""
    if len(pairs_p) == 1 and not len(extra_p):
        p, h = pairs_p[0], pairs_h[0]
        if p.base is None or 2 * p.size >= p.base.size:  # never pin a much larger buffer
            return p, h
    total = sum(len(p) for p in pairs_p) + len(extra_p)
    point, hotspot = np.empty(total, np.int64), np.empty(total, np.int32)
    at = e0 = 0
    for k, (p, h) in enumerate(zip(pairs_p, pairs_h, strict=True)):
        # GEOS pairs up to this part's last point (all that are left, after the last).
        e1 = len(extra_p) if k == len(pairs_p) - 1 else int(np.searchsorted(extra_p, p[-1], "right")) if len(p) else e0
        if e1 > e0:
            ins = np.searchsorted(p * n_hot + h, extra_p[e0:e1] * n_hot + extra_h[e0:e1])
            p, h = np.insert(p, ins, extra_p[e0:e1]), np.insert(h, ins, extra_h[e0:e1])
        point[at:at + len(p)] = p
        hotspot[at:at + len(h)] = h
        at, e0 = at + len(p), e1
    return point, hotspot


def _tables(index: HotspotIndex) -> tuple:
    """The raster arguments of both kernels: fine-cell origin (shifted by one block, so
    the padded coarse table's outside ring is fine column/row ``block - 1``: clipping
    sends far points there), scale, clip limits, block, coarse width and flat tables."""
    ncy2, ncx2 = index.coarse.shape
    block = index.block
    return (index.x0 - block * index.cell, index.y0 - block * index.cell, 1.0 / index.cell,
            float((ncx2 - 1) * block), float((ncy2 - 1) * block), block, ncx2,
            index.coarse.ravel(), index.blocks.ravel(), index.special.ravel())


def _assign_slice(tables: tuple, reserve: int, x: np.ndarray, y: np.ndarray, lo: int):
    """Pairs and doubtful pairs of one slice (points numbered from ``lo``) as lists of
    arrays, from as many kernel calls as the buffers need; ``None`` at a NaN."""
    pairs_p, pairs_h, doubts_p, doubts_h = [], [], [], []
    start = 0
    while start < len(x) or not pairs_p:
        left = len(x) - start
        out_p, out_h = np.empty(left + reserve, np.int64), np.empty(left + reserve, np.int32)
        doubt_p, doubt_h = np.empty(left // 4 + reserve, np.int64), np.empty(left // 4 + reserve, np.int32)
        start, n_out, n_doubt, nan = assign_kernel(x, y, start, lo, *tables, reserve, out_p, out_h, doubt_p, doubt_h)
        if nan:
            return None
        pairs_p.append(out_p[:n_out])
        pairs_h.append(out_h[:n_out])
        doubts_p.append(doubt_p[:n_doubt])
        doubts_h.append(doubt_h[:n_doubt])
    return pairs_p, pairs_h, doubts_p, doubts_h


def _refuse_nan(x: np.ndarray, y: np.ndarray, where: str = "assign_points") -> None:
    bad = np.flatnonzero(np.isnan(x) | np.isnan(y))
    raise ValueError(f"{where}: {len(bad):,} point(s) have a missing (NaN) coordinate (first at "
                     f"position {bad[0]}: x={x[bad[0]]!r}, y={y[bad[0]]!r}); expected metres in the hotspots' "
                     "CRS: drop or quarantine such pings before assignment")


def cell_codes(index: HotspotIndex, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The table code of each point's fine cell, without the exact test.

    ``k >= 0``: strictly inside hotspot ``k`` (no edge within ``index.margin``);
    ``-1``: outside every hotspot, likewise; ``<= -2``: a boundary cell (``-(k + 2)``
    near hotspot ``k`` only, ``-(n + 2)`` near several), which :func:`assign_points`
    resolves exactly. ``x`` and ``y`` must not be NaN.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"cell_codes: x and y differ in length ({len(x):,} and {len(y):,})")
    out = np.empty(len(x), dtype=index.coarse.dtype)
    if not cell_codes_kernel(x, y, *_tables(index)[:-1], out):
        _refuse_nan(x, y, "cell_codes")
    return out


@dataclass(frozen=True, eq=False)
class LonLatGrid:
    """Cells of a longitude/latitude grid that lie near a hotspot (a projection filter).

    Built conservatively from each hotspot's longitude/latitude bounding box grown by a
    margin far larger than the curvature of projected edges, so a ping outside every
    marked cell is certainly outside every hotspot.
    """

    lon0: float
    lat0: float
    step: float
    mask: np.ndarray

    @classmethod
    def from_bounds(cls, bounds: np.ndarray, *, margin_deg: float = 0.002, step: float = 0.002) -> LonLatGrid:
        """From (n, 4) longitude/latitude boxes of the (grown) hotspots."""
        b = np.asarray(bounds, dtype=float)
        lon0, lat0 = b[:, 0].min() - 2 * margin_deg, b[:, 1].min() - 2 * margin_deg
        nx = int(np.ceil((b[:, 2].max() + 2 * margin_deg - lon0) / step)) + 1
        ny = int(np.ceil((b[:, 3].max() + 2 * margin_deg - lat0) / step)) + 1
        mask = np.zeros((ny, nx), dtype=bool)
        for x1, y1, x2, y2 in b:
            c0, c1 = int((x1 - margin_deg - lon0) // step), int((x2 + margin_deg - lon0) // step)
            r0, r1 = int((y1 - margin_deg - lat0) // step), int((y2 + margin_deg - lat0) // step)
            mask[max(r0, 0):r1 + 1, max(c0, 0):c1 + 1] = True
        return cls(lon0=float(lon0), lat0=float(lat0), step=float(step), mask=mask)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where (lon, lat) falls in a marked cell."""
        ny, nx = self.mask.shape
        fx = np.floor((lon - self.lon0) / self.step)
        fy = np.floor((lat - self.lat0) / self.step)
        ok = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)
        out = np.zeros(len(lon), dtype=bool)
        idx = np.flatnonzero(ok)
        out[idx] = self.mask[fy[idx].astype(np.int64), fx[idx].astype(np.int64)]
        return out
