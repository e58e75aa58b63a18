"""Fast, exact assignment of location pings to hotspot polygons.

The obvious way, ``geopandas.sjoin(points, hotspots, predicate="intersects")``, first
builds one shapely Point per ping and then queries an STR-tree; for tens of millions of
pings the Point objects alone dominate. :class:`HotspotIndex` works on the coordinate
arrays directly with a raster over the hotspots' bounding box (a "cell classification"
point-in-polygon method; Haines 1994, "Point in polygon strategies", Graphics Gems IV,
§"grid method"; Žalik & Kolingerová 2001), stored in two levels so that the tables stay
in the CPU cache: a coarse table (32 m cells by default) and 16 × 16 fine blocks (2 m
cells) only where a coarse cell is not wholly inside one hotspot or outside all:

1. every fine cell is classified once as *outside every hotspot*, *strictly inside
   exactly one hotspot* or *boundary* (a hotspot edge passes within ``margin`` of the
   cell, or two hotspots overlap there). Boundary cells are found conservatively by
   cutting every polygon edge into pieces no longer than half a cell, taking the cells
   each piece's bounding box (grown by ``margin``) touches, and dropping those whose
   grown corners all lie strictly on one side of the edge's line (separating-axis
   test); the remaining cells of a hotspot's bounding box are inside or outside by the
   even-odd crossing rule at the cell centre, which is exact there because no edge
   comes near a non-boundary cell;
2. a ping takes its cell's class with a few vectorised array operations, in blocks of
   points that fit in the cache;
3. only pings in boundary cells are tested exactly, with GEOS
   (``shapely.intersects_xy`` on a prepared polygon) — the same predicate
   ``sjoin(..., predicate="intersects")`` evaluates.

Boundary rule (identical to ``sjoin`` with ``predicate="intersects"``): a ping *on* a
hotspot's edge or vertex counts as inside that hotspot; a ping inside a hole does not;
a ping in two overlapping hotspots (possible once they are grown by ``gps_tolerance_m``)
is assigned to both. Hotspots are grown with ``shapely.buffer(geom, tolerance,
quad_segs=16)``; the benchmark compares against ``sjoin`` on the same grown polygons.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["HotspotIndex", "build_index", "assign_points", "cell_codes", "grow_hotspots", "LonLatGrid"]

_OUTSIDE = -1
_CHUNK = 1 << 17  # points per block: keeps temporaries in the CPU cache


def _many(n: int) -> int:
    """Table code of a boundary cell that more than one hotspot touches."""
    return -(n + 2)


@dataclass(frozen=True, eq=False)
class HotspotIndex:
    """A two-level raster classification of hotspot polygons for exact point assignment.

    The fine raster (cell ``cell`` metres) is stored sparsely: a coarse table of
    ``block`` × ``block`` fine cells says, per coarse cell, "outside every hotspot"
    (``-1``), "strictly inside hotspot k" (``k >= 0``) or "see fine block b"
    (``-(b + 2)``); fine blocks hold the same codes per fine cell, plus ``-(k + 2)`` for
    a cell near the boundary of hotspot ``k`` only and ``-(n + 2)`` for a cell that
    several hotspots touch. Boundary fine cells get the exact GEOS test.

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
        Distance (metres) within which an edge makes a fine cell a boundary cell.
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
        Fine cell size; by default 2 m, or larger when the hotspots spread so far that
        the coarse table would exceed ``max_coarse_cells``.
    block
        Fine cells per side of a coarse cell.
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
        cell_m = max(2.0, math.sqrt(width * height / max_coarse_cells) / block)
    cell = float(cell_m)
    ncx = max(1, math.ceil(width / (cell * block)) + 1)
    ncy = max(1, math.ceil(height / (cell * block)) + 1)
    nx, ny = ncx * block, ncy * block
    x0, y0 = xmin - 2 * margin, ymin - 2 * margin
    many = _many(len(geoms))
    cids, tiles_all = [], []
    # Boundary cells of every hotspot in one vectorised pass, then grouped by hotspot.
    edge_sets = [_edges(geom) for geom in geoms]
    owner = np.repeat(np.arange(len(geoms)), [len(e) for e in edge_sets])
    all_by, all_bx, all_edge = _boundary_cells(np.concatenate(edge_sets), x0, y0, cell, margin, nx, ny)
    all_owner = owner[all_edge]
    order = np.argsort(all_owner, kind="stable")
    all_by, all_bx = all_by[order], all_bx[order]
    cut = np.searchsorted(all_owner[order], np.arange(len(geoms) + 1))
    for k, edges in enumerate(edge_sets):
        by, bx = all_by[cut[k]:cut[k + 1]], all_bx[cut[k]:cut[k + 1]]
        r0 = max(0, (int(math.floor((bounds[k, 1] - y0) / cell)) - 1) // block * block)
        c0 = max(0, (int(math.floor((bounds[k, 0] - x0) / cell)) - 1) // block * block)
        r1 = min(ny, -(-(int(math.floor((bounds[k, 3] - y0) / cell)) + 2) // block) * block)
        c1 = min(nx, -(-(int(math.floor((bounds[k, 2] - x0) / cell)) + 2) // block) * block)
        inside = _interior_cells(edges, r0, r1, c0, c1, x0, y0, cell)
        local = np.where(inside, np.int16(k), np.int16(_OUTSIDE))
        local[by - r0, bx - c0] = -(k + 2)
        nr, nc = (r1 - r0) // block, (c1 - c0) // block
        tiles = local.reshape(nr, block, nc, block).transpose(0, 2, 1, 3).reshape(nr * nc, block * block)
        ids = ((r0 // block + np.arange(nr))[:, None] * ncx + (c0 // block + np.arange(nc))[None, :]).ravel()
        touched = np.any(tiles != _OUTSIDE, axis=1)
        cids.append(ids[touched])
        tiles_all.append(tiles[touched])
    cid = np.concatenate(cids)
    tiles = np.concatenate(tiles_all)
    # A coarse cell touched by several hotspots: merge their tiles (overlaps -> "many").
    order = np.argsort(cid, kind="stable")
    cid, tiles = cid[order], tiles[order]
    dup = np.flatnonzero(cid[1:] == cid[:-1]) + 1
    if len(dup):
        keep = np.ones(len(cid), dtype=bool)
        for i in dup[::-1]:
            j = i - 1
            both = (tiles[j] != _OUTSIDE) & (tiles[i] != _OUTSIDE)
            tiles[j] = np.where(tiles[j] == _OUTSIDE, tiles[i], tiles[j])
            tiles[j][both] = many
            keep[i] = False
        cid, tiles = cid[keep], tiles[keep]
    first = tiles[:, :1]
    uniform = np.all(tiles == first, axis=1) & (first[:, 0] >= 0)
    small = len(tiles) + 2 < np.iinfo(np.int16).max
    coarse = np.full((ncy + 2, ncx + 2), _OUTSIDE, dtype=np.int16 if small else np.int32)
    inner = np.full(ncy * ncx, _OUTSIDE, dtype=np.int32)
    inner[cid[uniform]] = first[uniform, 0]
    mixed = np.flatnonzero(~uniform)
    inner[cid[mixed]] = -(np.arange(len(mixed)) + 2)
    blocks = np.ascontiguousarray(tiles[mixed])
    coarse[1:-1, 1:-1] = inner.reshape(ncy, ncx)
    for g in geoms:
        shapely.prepare(g)
    grown = bounds + np.array([-margin, -margin, margin, margin])
    return HotspotIndex(geometries=geoms, x0=float(x0), y0=float(y0), cell=cell, block=block,
                        coarse=coarse, blocks=blocks, bounds=grown, margin=margin)


def _edges(geom) -> np.ndarray:
    """All polygon ring edges as an (m, 4) array x1, y1, x2, y2."""
    rings = shapely.get_rings(geom)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    return np.column_stack([coords[:-1][same], coords[1:][same]])


def _boundary_cells(edges: np.ndarray, x0: float, y0: float, cell: float, margin: float,
                    nx: int, ny: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and edge numbers of the cells polygon edges pass within ``margin``
    of (conservative: a cell may be listed although no edge is that close, never missed)."""
    out_y, out_x, out_e = [], [], []
    x1, y1, x2, y2 = edges.T
    length = np.hypot(x2 - x1, y2 - y1)
    pieces = np.maximum(1, np.ceil(length / (0.5 * cell))).astype(np.int64)
    e = np.repeat(np.arange(len(edges)), pieces)
    start = np.cumsum(pieces) - pieces
    k = np.arange(len(e)) - np.repeat(start, pieces)
    n = pieces[e].astype(float)
    ta, tb = k / n, (k + 1) / n
    ax, ay = x1[e] + ta * (x2[e] - x1[e]), y1[e] + ta * (y2[e] - y1[e])
    bx, by = x1[e] + tb * (x2[e] - x1[e]), y1[e] + tb * (y2[e] - y1[e])
    # Piece endpoints carry rounding error ~1e-16 relative; margin dwarfs it.
    cx0 = np.floor((np.minimum(ax, bx) - margin - x0) / cell).astype(np.int64)
    cx1 = np.floor((np.maximum(ax, bx) + margin - x0) / cell).astype(np.int64)
    cy0 = np.floor((np.minimum(ay, by) - margin - y0) / cell).astype(np.int64)
    cy1 = np.floor((np.maximum(ay, by) + margin - y0) / cell).astype(np.int64)
    span = int(max((cx1 - cx0).max(), (cy1 - cy0).max())) + 1
    ex1, ey1, edx, edy = x1[e], y1[e], (x2 - x1)[e], (y2 - y1)[e]
    # A cell whose (margin-grown) corners all lie strictly on one side of the edge's line
    # cannot be near the edge (separating-axis test); 1 µm of slack covers rounding.
    slack = 1e-6 * length[e]
    for dx in range(span):
        for dy in range(span):
            cx, cy = cx0 + dx, cy0 + dy
            ok = (cx <= cx1) & (cy <= cy1) & (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
            lo_x = x0 + cx * cell - margin - ex1
            hi_x = lo_x + cell + 2 * margin
            lo_y = y0 + cy * cell - margin - ey1
            hi_y = lo_y + cell + 2 * margin
            d = np.stack([lo_x * edy - lo_y * edx, hi_x * edy - lo_y * edx,
                          lo_x * edy - hi_y * edx, hi_x * edy - hi_y * edx])
            ok &= ~((d.min(axis=0) > slack) | (d.max(axis=0) < -slack))
            out_y.append(cy[ok])
            out_x.append(cx[ok])
            out_e.append(e[ok])
    return np.concatenate(out_y), np.concatenate(out_x), np.concatenate(out_e)


def _interior_cells(edges: np.ndarray, r0: int, r1: int, c0: int, c1: int, x0: float, y0: float,
                    cell: float) -> np.ndarray:
    """Boolean grid over rows ``r0:r1`` and columns ``c0:c1``: cell centre inside the
    polygon by the even-odd crossing rule (only trusted away from edges)."""
    toggles = np.zeros((r1 - r0, c1 - c0 + 1), dtype=np.uint8)
    x1, y1, x2, y2 = edges.T
    lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
    # Row r's centre is y0 + (r + 0.5) * cell; an edge crosses it when lo <= yc < hi.
    first = np.maximum(np.ceil((lo - y0) / cell - 0.5), r0).astype(np.int64)
    last = np.minimum(np.ceil((hi - y0) / cell - 0.5) - 1, r1 - 1).astype(np.int64)
    count = np.maximum(last - first + 1, 0)
    e = np.repeat(np.arange(len(edges)), count)
    if len(e):
        r = np.repeat(first, count) + (np.arange(len(e)) - np.repeat(np.cumsum(count) - count, count))
        yc = y0 + (r + 0.5) * cell
        ok = (lo[e] <= yc) & (yc < hi[e])
        e, r, yc = e[ok], r[ok], yc[ok]
        xc = x1[e] + (yc - y1[e]) * (x2[e] - x1[e]) / (y2[e] - y1[e])
        # Cells whose centre lies right of the crossing see one more crossing to their left.
        col = np.ceil((xc - x0) / cell - 0.5).astype(np.int64)
        col = np.clip(col - c0, 0, c1 - c0)
        np.add.at(toggles, (r - r0, col), 1)
    # Parity only: uint8 sums may wrap, which keeps them even or odd.
    return (np.cumsum(toggles, axis=1, dtype=np.uint8)[:, :-1] & 1).astype(bool)


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
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"assign_points: x and y differ in length ({len(x):,} and {len(y):,})")
    if np.isnan(x).any() or np.isnan(y).any():
        _refuse_nan(x, y)
    n = len(x)
    code = np.empty(n, dtype=np.int16)

    def classify(lo: int) -> None:
        hi = min(n, lo + _CHUNK)
        code[lo:hi] = _cell_codes(index, x[lo:hi], y[lo:hi])  # int16 or int32 table values

    starts = range(0, n, _CHUNK)
    workers = min(os.cpu_count() or 1, 4, len(starts))
    if workers > 1:
        # numpy's array kernels release the GIL, so cache-sized chunks scale across cores;
        # each thread writes its own slice of ``code``.
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(classify, starts))
    else:
        for lo in starts:
            classify(lo)
    extra_p, extra_h = _exact(index, x, y, code)
    point = np.flatnonzero(code >= 0)
    hotspot = code[point].astype(np.int32)
    if len(extra_p):
        # Points in several hotspots are not in ``point``; insert their pairs in order.
        order = np.lexsort((extra_h, extra_p))
        extra_p, extra_h = extra_p[order], extra_h[order]
        at = np.searchsorted(point, extra_p)
        point = np.insert(point, at, extra_p)
        hotspot = np.insert(hotspot, at, extra_h)
    return point.astype(np.int64, copy=False), hotspot


def _refuse_nan(x: np.ndarray, y: np.ndarray) -> None:
    bad = np.flatnonzero(np.isnan(x) | np.isnan(y))
    raise ValueError(f"assign_points: {len(bad):,} point(s) have a missing (NaN) coordinate (first at "
                     f"position {bad[0]}: x={x[bad[0]]!r}, y={y[bad[0]]!r}); expected metres in the hotspots' "
                     "CRS: drop or quarantine such pings before assignment")


def cell_codes(index: HotspotIndex, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The table code of each point's fine cell, without the exact test.

    ``k >= 0``: strictly inside hotspot ``k`` (no edge within ``index.margin``);
    ``-1``: outside every hotspot, likewise; ``<= -2``: a boundary cell (``-(k + 2)``
    near hotspot ``k`` only, ``-(n + 2)`` near several), which :func:`assign_points`
    resolves exactly. ``x`` and ``y`` must not be NaN.
    """
    return _cell_codes(index, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))


def _cell_codes(index: HotspotIndex, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    coarse = index.coarse
    ncy2, ncx2 = coarse.shape
    block = index.block
    shift = block.bit_length() - 1
    inv = 1.0 / index.cell
    # Fine coordinates shifted by one block, so that the padded coarse table's outside
    # ring is fine column/row block - 1 (and (nc + 1) * block): clipping sends far points
    # there. astype truncates toward zero, but every clipped value is >= block - 1 >= 0,
    # so truncation is the floor. A point up to one fine cell left of (below) the raster
    # reads fine cell 0, which lies beyond every hotspot's bounding box and so is never
    # "inside" (only outside or boundary, tested exactly): still correct.
    fx = np.subtract(x, index.x0 - block * index.cell)
    fx *= inv
    np.clip(fx, block - 1, (ncx2 - 1) * block, out=fx)
    gx = fx.astype(np.int32)
    fy = np.subtract(y, index.y0 - block * index.cell, out=fx)
    fy *= inv
    np.clip(fy, block - 1, (ncy2 - 1) * block, out=fy)
    gy = fy.astype(np.int32)
    cell = gy >> shift
    cell *= ncx2
    cell += gx >> shift
    code = coarse.ravel().take(cell)
    fine = np.flatnonzero(code <= -2)
    if len(fine):
        b = -(code[fine].astype(np.int32) + 2)
        local = (gy[fine] & (block - 1)) * block + (gx[fine] & (block - 1))
        code[fine] = index.blocks.ravel().take(b * (block * block) + local)
    return code


def _exact(index: HotspotIndex, x: np.ndarray, y: np.ndarray,
           code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resolve boundary-cell points with GEOS; writes single hits into ``code`` and
    returns the (point, hotspot) pairs of points in several hotspots."""
    n_hot = len(index.geometries)
    many = _many(n_hot)
    edge = np.flatnonzero(code <= -2)
    if len(edge) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    owner = code[edge]
    code[edge] = _OUTSIDE
    order = np.argsort(owner, kind="stable")
    edge, owner = edge[order], owner[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    stops = np.r_[starts[1:], len(owner)]
    extra_p, extra_h = [], []
    for a, b in zip(starts, stops, strict=True):
        pts = edge[a:b]
        if owner[a] != many:
            k = -int(owner[a]) - 2
            hit = pts[shapely.intersects_xy(index.geometries[k], x[pts], y[pts])]
            code[hit] = k
            continue
        ex, ey = x[pts], y[pts]
        for k, geom in enumerate(index.geometries):
            bx0, by0, bx1, by1 = index.bounds[k]
            cand = np.flatnonzero((ex >= bx0) & (ex <= bx1) & (ey >= by0) & (ey <= by1))
            if len(cand):
                hit = cand[shapely.intersects_xy(geom, ex[cand], ey[cand])]
                extra_p.append(pts[hit])
                extra_h.append(np.full(len(hit), k, dtype=np.int32))
    if not extra_p:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    p = np.concatenate(extra_p)
    h = np.concatenate(extra_h)
    # A point with a single hit among "many" cells goes back into ``code``; points with
    # several hits are returned as pairs.
    counts = np.bincount(p, minlength=0) if len(p) else np.empty(0, np.int64)
    single = counts[p] == 1
    code[p[single]] = h[single]
    return p[~single].astype(np.int64), h[~single]


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
