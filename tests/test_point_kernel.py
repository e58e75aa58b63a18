"""The compiled point-in-hotspot pass (geo/point_kernel.py) against geopandas.sjoin.

Every test compares the (point, hotspot) pairs of ``assign_points`` with those of
``sjoin(..., predicate="intersects")`` on the same polygons, at the places where a
compiled pass can go wrong: points on vertices and edges and one ulp off them, points in
2- and 3-way overlaps (shared cells, several pairs per point, output buffers refilled),
holes and MultiPolygons, the kernel's 1024-point slices and the thread tasks' edges,
several callers at once, NaN and infinities.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import one_ulp_around, star_polygon
from guardian_rct.geo import point_index
from guardian_rct.geo.point_index import assign_points, build_index, cell_codes
from guardian_rct.geo.point_kernel import assign_kernel, max_slots_per_cell

SLICE = 1024  # point_kernel._SLICE


def _sjoin_pairs(geoms, x, y):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y))
    polys = gpd.GeoDataFrame({"k": range(len(geoms))}, geometry=list(geoms))
    joined = gpd.sjoin(points, polys, predicate="intersects")
    p, h = joined.index.to_numpy(), joined["index_right"].to_numpy()
    order = np.lexsort((h, p))
    return p[order], h[order]


def _assert_same(index, x, y):
    p, h = assign_points(index, x, y)
    sp, sh = _sjoin_pairs(index.geometries, x, y)
    assert p.dtype == np.int64 and h.dtype == np.int32
    np.testing.assert_array_equal(p, sp)
    np.testing.assert_array_equal(h, sh)
    return p, h


def _boundary_points(geoms, rng, per_edge=3):
    """Vertices, points along edges (interpolated, so on or within rounding of the edge)
    and each of them moved one ulp in x or y, either way."""
    rings = shapely.get_rings(shapely.get_parts(np.asarray(geoms, dtype=object)))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    t = rng.random((len(a), per_edge, 1))
    along = (a[:, None, :] + t * (b - a)[:, None, :]).reshape(-1, 2)
    base = np.r_[coords, along]
    return one_ulp_around(base)


@pytest.fixture(scope="module")
def stars():
    rng = np.random.default_rng(8)
    return [star_polygon(rng, 400000 + rng.uniform(0, 3000), 280000 + rng.uniform(0, 3000), int(rng.integers(6, 90)), 30, 280)
            for _ in range(20)]


def test_random_points_vertices_edges_and_one_ulp_off_them(stars):
    rng = np.random.default_rng(1)
    index = build_index(stars)
    bx, by = _boundary_points(index.geometries, rng)
    n = 200_000
    x = np.r_[rng.uniform(399500, 403800, n), bx]
    y = np.r_[rng.uniform(279500, 283800, n), by]
    order = rng.permutation(len(x))  # boundary points spread over many slices
    p, _ = _assert_same(index, x[order], y[order])
    assert len(np.unique(p)) > n // 10


def test_points_within_rounding_of_long_edges_need_the_error_bound():
    """Edges as long as the coordinates are large: a point within rounding of such an
    edge has an orientation smaller than the rounding error of its computation, so
    only the static error bound (and GEOS after it) gets its side right."""
    rng = np.random.default_rng(12)
    geoms = [shapely.Polygon([(0.1, 0.3), (3000.7, 0.9), (1500.3, 2400.1)]),
             shapely.Polygon([(2999.3, 2.7), (3.1, 2999.9), (2950.2, 2990.6)])]
    index = build_index(geoms, cell_m=8.0)
    bx, by = _boundary_points(index.geometries, rng, per_edge=20_000)
    _assert_same(index, bx, by)


@pytest.mark.parametrize("tolerance", [0.0, 7.5])
def test_two_and_three_way_overlaps_give_every_pair_in_hotspot_order(tolerance):
    # Three discs overlapping pairwise, with a region all three share.
    centres = [(1000.0, 1000.0), (1060.0, 1000.0), (1030.0, 1050.0)]
    geoms = [shapely.Point(c).buffer(50, quad_segs=16) for c in centres]
    index = build_index(geoms, tolerance_m=tolerance)
    assert max_slots_per_cell(index.many_start) >= 3
    rng = np.random.default_rng(2)
    x, y = rng.uniform(900, 1160, 150_000), rng.uniform(900, 1160, 150_000)
    bx, by = _boundary_points(index.geometries, rng)
    p, h = _assert_same(index, np.r_[x, bx], np.r_[y, by])
    counts = np.bincount(p)
    assert (counts == 3).sum() > 1000 and (counts == 2).sum() > 1000


def test_points_all_in_a_three_way_overlap_refill_the_output_buffers():
    """Three pairs per point: more pairs than points, so the kernel stops when its
    buffers are full and continues with new ones; nothing may be lost or repeated."""
    geoms = [shapely.box(0, 0, 100, 100), shapely.box(10, 10, 110, 110), shapely.box(5, -5, 95, 120)]
    index = build_index(geoms, cell_m=1.0)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(12, 94, 50_000), rng.uniform(12, 94, 50_000)
    p, h = _assert_same(index, x, y)
    assert len(p) == 3 * len(x)


@pytest.mark.parametrize("room", [1, 7, 200])
def test_the_kernel_stops_and_resumes_whatever_its_buffer_room(stars, room):
    """The kernel's contract with any caller: with buffers of only ``room`` pairs over
    the reserve it stops where they are full and resumes there, losing nothing."""
    index = build_index(stars, tolerance_m=15.0)  # overlaps: several pairs per point
    rng = np.random.default_rng(13)
    bx, by = _boundary_points(index.geometries, rng)
    x = np.r_[rng.uniform(399500, 403800, 20_000), bx]
    y = np.r_[rng.uniform(279500, 283800, 20_000), by]
    reserve = max_slots_per_cell(index.many_start)
    tables = point_index._tables(index) + (index.many_start, index.many_slots, index.slot_hot, index.slot_status,
                                           index.slot_cx, index.slot_cy, index.slot_edges, index.pair_edge,
                                           index.pair_side, index.edges.ravel())
    got_p, got_h, doubts, start, calls = [], [], 0, 0, 0
    while start < len(x):
        # Each buffer is the head of a larger array: a write past its end shows in the guard.
        size = room + reserve
        whole = [np.full(size + 64, -7, dtype) for dtype in (np.int64, np.int32, np.int64, np.int32)]
        out_p, out_h, doubt_p, doubt_h = (w[:size] for w in whole)
        stop, n_out, n_doubt, nan = assign_kernel(x, y, start, 0, *tables, reserve, out_p, out_h, doubt_p, doubt_h)
        assert not nan and stop > start and n_out <= size and n_doubt <= size
        assert all((w[size:] == -7).all() for w in whole)
        got_p.append(out_p[:n_out])
        got_h.append(out_h[:n_out])
        doubts += n_doubt
        start, calls = stop, calls + 1
    assert calls > 20
    p, h = np.concatenate(got_p), np.concatenate(got_h)
    whole_p, whole_h = assign_points(index, x, y)
    assert doubts > 0
    keep = np.isin(whole_p * 100 + whole_h, p * 100 + h)  # assign_points adds the GEOS pairs
    np.testing.assert_array_equal(whole_p[keep], p)
    np.testing.assert_array_equal(whole_h[keep], h)
    assert len(p) + doubts >= len(whole_p)


def test_holes_and_multipolygons():
    # Centred off the origin: a vertex at x = 0 moved one ulp is subnormal (5e-324), where
    # GEOS disagrees with itself (sjoin counts the point, ``intersects_xy`` does not; the
    # exact answer is "outside"), so no reference exists there.
    outer = shapely.Point(0.5, 0.25).buffer(100, quad_segs=32)
    donut = outer.difference(shapely.Point(10, 0).buffer(40, quad_segs=32))
    multi = shapely.MultiPolygon([shapely.box(150, -50, 250, 50).difference(shapely.box(180, -20, 220, 20)),
                                  shapely.box(300, -50, 340, 50)])
    touching = shapely.box(250, -10, 300, 10)  # shares edges with both parts of ``multi``
    index = build_index([donut, multi, touching])
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-120, 360, 100_000), rng.uniform(-120, 120, 100_000)
    bx, by = _boundary_points(index.geometries, rng)
    p, h = _assert_same(index, np.r_[x, bx], np.r_[y, by])
    in_hole = shapely.contains_xy(shapely.Point(10, 0).buffer(39), x, y)
    assert in_hole.sum() > 100 and not np.isin(np.flatnonzero(in_hole), p[h == 0]).any()
    assert np.isin(2, h) and (np.bincount(p)[p] == 2).any()  # points on the shared edges


@pytest.mark.parametrize("task", [SLICE, 3 * SLICE + 5, 100_000])
def test_slice_and_task_edges(stars, monkeypatch, task):
    """Boundary, inside and doubtful points at the first and last positions of the
    kernel's slices and of the thread tasks give the same pairs whatever the tasks."""
    rng = np.random.default_rng(5)
    index = build_index(stars)
    bx, by = _boundary_points(index.geometries, rng)
    n = 6 * SLICE + 3
    x, y = rng.uniform(399500, 403800, n), rng.uniform(279500, 283800, n)
    edges = np.r_[np.arange(0, n, SLICE), np.arange(SLICE - 1, n, SLICE), np.arange(task - 1, n, task),
                  np.arange(task, n, task), n - 1]
    pick = rng.integers(0, len(bx), len(edges))
    x[edges], y[edges] = bx[pick], by[pick]
    whole = assign_points(index, x, y)
    monkeypatch.setattr(point_index, "_TASK", task)
    p, h = _assert_same(index, x, y)
    np.testing.assert_array_equal(p, whole[0])
    np.testing.assert_array_equal(h, whole[1])
    assert np.isin(edges, p).sum() > len(edges) // 4


def test_several_callers_at_once_get_their_own_pairs(stars, monkeypatch):
    """Callers in threads (ping-checking workers) each with inner thread tasks."""
    monkeypatch.setattr(point_index, "_TASK", 20_000)
    index = build_index(stars, tolerance_m=5.0)
    rng = np.random.default_rng(6)
    inputs = [(rng.uniform(399500, 403800, 90_000 + 17 * k), rng.uniform(279500, 283800, 90_000 + 17 * k))
              for k in range(6)]
    alone = [assign_points(index, x, y) for x, y in inputs]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda xy: assign_points(index, *xy), inputs))
    for (p, h), (q, g) in zip(alone, together, strict=True):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(h, g)
    sp, sh = _sjoin_pairs(index.geometries, *inputs[0])
    np.testing.assert_array_equal(alone[0][0], sp)
    np.testing.assert_array_equal(alone[0][1], sh)


@pytest.mark.parametrize("where", [0, SLICE - 1, SLICE, 5 * SLICE + 2])
@pytest.mark.parametrize("axis", ["x", "y"])
def test_nan_anywhere_is_refused_naming_the_first(stars, where, axis, monkeypatch):
    monkeypatch.setattr(point_index, "_TASK", 2 * SLICE)
    index = build_index(stars)
    rng = np.random.default_rng(7)
    x, y = rng.uniform(399500, 403800, 6 * SLICE), rng.uniform(279500, 283800, 6 * SLICE)
    (x if axis == "x" else y)[[where, where + 3]] = np.nan
    with pytest.raises(ValueError, match=rf"assign_points: 2 point\(s\) have a missing \(NaN\) coordinate \(first at position {where}:"):
        assign_points(index, x, y)
    with pytest.raises(ValueError, match=rf"cell_codes: 2 point\(s\) .*first at position {where}:"):
        cell_codes(index, x, y)


def test_infinities_and_huge_values_are_outside_every_hotspot(stars):
    index = build_index(stars)
    rng = np.random.default_rng(9)
    n = 3 * SLICE
    x, y = rng.uniform(399500, 403800, n), rng.uniform(279500, 283800, n)
    bad = rng.choice(n, 400, replace=False)
    values = np.array([np.inf, -np.inf, 1e308, -1e308, 5e15])
    x[bad[:200]] = rng.choice(values, 200)
    y[bad[200:]] = rng.choice(values, 200)
    p, _ = _assert_same(index, x, y)
    assert not np.isin(bad, p).any() and len(p) > 100
    assert (cell_codes(index, x[bad], y[bad]) == -1).all()


def test_cell_codes_match_the_tables_read_directly(stars):
    """An independent reading of the two-level tables (floor of the cell coordinate),
    away from cell lines where rounding could pick the neighbour."""
    index = build_index(stars)
    rng = np.random.default_rng(10)
    x, y = rng.uniform(399000, 404500, 300_000), rng.uniform(279000, 284500, 300_000)
    fx, fy = (x - index.x0) / index.cell, (y - index.y0) / index.cell
    clear = (np.abs(fx - np.round(fx)) > 1e-6) & (np.abs(fy - np.round(fy)) > 1e-6)
    x, y, fx, fy = x[clear], y[clear], fx[clear], fy[clear]
    b = index.block
    col, row = np.floor(fx).astype(np.int64) + b, np.floor(fy).astype(np.int64) + b  # + one block: the ring
    ncy2, ncx2 = index.coarse.shape
    col, row = np.clip(col, b - 1, (ncx2 - 1) * b), np.clip(row, b - 1, (ncy2 - 1) * b)
    expect = index.coarse[row // b, col // b].astype(np.int64)
    mixed = expect <= -2
    expect[mixed] = index.blocks[-(expect[mixed] + 2), (row[mixed] % b) * b + col[mixed] % b]
    got = cell_codes(index, x, y)
    assert got.dtype == index.coarse.dtype
    np.testing.assert_array_equal(got, expect)
    assert mixed.mean() > 0.05 and (expect <= -2).sum() > 1000


def test_empty_and_single_points(stars):
    index = build_index(stars)
    p, h = assign_points(index, np.empty(0), np.empty(0))
    assert len(p) == len(h) == 0 and p.dtype == np.int64 and h.dtype == np.int32
    c = shapely.get_coordinates(index.geometries[0])[0]
    _assert_same(index, c[:1].copy(), c[1:2].copy())  # a vertex: decided by GEOS


def test_strided_and_integer_inputs_are_read_like_float_arrays(stars):
    index = build_index(stars)
    rng = np.random.default_rng(11)
    xy = np.c_[rng.uniform(399500, 403800, 20_000), rng.uniform(279500, 283800, 20_000)]
    p, h = assign_points(index, xy[:, 0], xy[:, 1])  # strided views
    q, g = _assert_same(index, xy[:, 0].copy(), xy[:, 1].copy())
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(h, g)
    ix, iy = np.round(xy[:, 0]).astype(np.int64), np.round(xy[:, 1]).astype(np.int64)
    _assert_same(index, ix.astype(float), iy.astype(float))
    np.testing.assert_array_equal(assign_points(index, ix, iy)[0], assign_points(index, ix.astype(float), iy.astype(float))[0])


def test_compiling_afresh_emits_no_warning(tmp_path):
    """With an empty numba cache the kernels compile; under ``-W error`` any numba
    warning (deprecation, performance, caching) would fail this run."""
    code = ("import numpy as np, shapely\n"
            "from guardian_rct.geo.point_index import assign_points, build_index, cell_codes\n"
            "i = build_index([shapely.box(0, 0, 10, 10), shapely.box(5, 5, 15, 15)])\n"
            "p, h = assign_points(i, np.array([1.0, 6.0, 10.0, np.inf]), np.array([1.0, 6.0, 10.0, 0.0]))\n"
            "assert p.tolist() == [0, 1, 1, 2, 2] and h.tolist() == [0, 0, 1, 0, 1], (p, h)\n"
            "cell_codes(i, np.array([1.0]), np.array([1.0]))\n"
            "from guardian_rct.geo import point_kernel as k\n"
            "assert sum(k.assign_kernel.stats.cache_misses.values()) == 1\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == ""
    assert any(tmp_path.rglob("*.nbi"))  # and the cache was written there


def test_the_kernels_constants_are_the_builds():
    # Written out in point_kernel (numba's cache would not see a change made where they
    # were imported from): they must stay the build's.
    from guardian_rct.geo import point_build, point_kernel, point_raster

    assert point_kernel.ORIENT_ERR == point_build.ORIENT_ERR
    assert point_kernel.UNSURE == point_raster.UNSURE
