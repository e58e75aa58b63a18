"""The compiled build (geo/point_build.py) against the all-numpy build it replaced.

``tests/reference/point_raster_main.py`` is main's ``geo/point_raster.py`` of commit
011dd8a verbatim (whole-array numpy: near pairs, crossings, tile parity, shared-cell
merge). Every table of :func:`build_index` must be bit-identical to what that code builds
from the same edges and grid — dtype, shape and bytes — on polygons chosen for the edge
cases of a raster build: holes, MultiPolygons, edges along cell lines, vertices on cell
corners, grown hotspots, one polygon, many overlapping ones, other block sizes, a
force-wide spread (fine cells larger than 4 m) and coordinates in degrees.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from guardian_rct.geo import point_index
from guardian_rct.geo.point_index import assign_points, build_index

_REF_PATH = Path(__file__).parent / "reference" / "point_raster_main.py"


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("point_raster_main", _REF_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _stars(rng: np.random.Generator, n: int, spread: float, x: float = 400_000.0, y: float = 280_000.0):
    """Irregular star-shaped polygons (valid via buffer(0)), like street hotspots."""
    polys = []
    for _ in range(n):
        cx, cy = x + rng.uniform(0, spread), y + rng.uniform(0, spread)
        k = int(rng.integers(5, 120))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(20, 350, k)
        polys.append(shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]).buffer(0))
    return polys


def _on_grid(x0: float = 1000.0, y0: float = 2000.0, cell: float = 4.0):
    """Polygons whose edges run along fine-cell lines, whose vertices sit on cell corners
    and whose edges pass through cell centres, for the grid build_index makes with margin 0.25 and cell 4: the first box
    puts the grid origin at exactly (x0, y0) (its corner minus two margins)."""
    c = cell
    anchor = shapely.box(x0 + 0.5, y0 + 0.5, x0 + 0.5 + 10 * c, y0 + 0.5 + 10 * c)
    along = shapely.box(x0 + 16 * c, y0 + 8 * c, x0 + 40 * c, y0 + 33 * c)  # on cell lines, across blocks
    corners = shapely.Polygon([(x0 + 20 * c, y0 + 40 * c), (x0 + 36 * c, y0 + 48 * c), (x0 + 32 * c, y0 + 64 * c),
                               (x0 + 16 * c, y0 + 56 * c)])  # vertices on corners, diagonal edges
    holed = shapely.Polygon(shapely.box(x0 + 48 * c, y0 + 4 * c, x0 + 80 * c, y0 + 36 * c).exterior.coords,
                            [shapely.box(x0 + 56 * c, y0 + 12 * c, x0 + 64 * c, y0 + 20 * c).exterior.coords])
    centres = shapely.Polygon([(x0 + 84.5 * c, y0 + 4.5 * c), (x0 + 100.5 * c, y0 + 4.5 * c),
                               (x0 + 102.5 * c, y0 + 8.5 * c), (x0 + 92.5 * c, y0 + 12.5 * c)])
    # ^ edges through cell centres, and vertices on centre rows: a pass-through (102.5, 8.5),
    # a top (92.5, 12.5) and a flat bottom
    return [anchor, along, corners, holed, centres]


def _holes_and_parts(rng: np.random.Generator):
    """Polygons with several holes (one touching a block edge) and MultiPolygons whose
    parts share coarse cells with other hotspots."""
    ring = shapely.Point(500_000, 200_000).buffer(300, quad_segs=32)
    holes = [shapely.Point(500_000 + dx, 200_000 + dy).buffer(40) for dx, dy in [(-100, 0), (100, 30), (0, -150)]]
    holed = ring.difference(shapely.union_all(holes))
    multi = shapely.MultiPolygon([shapely.Point(500_000 + 400 * i, 200_100).buffer(60 + 10 * i) for i in range(4)])
    donut_multi = shapely.MultiPolygon([holed.buffer(-20), shapely.box(500_350, 199_700, 500_420, 199_800)])
    return [holed, multi, donut_multi, *_stars(rng, 5, 900, 499_600, 199_600)]


CASES = {
    "bench-like 57 hotspots": lambda rng: (_stars(rng, 57, 25_000), {}),
    "one polygon": lambda rng: (_stars(rng, 1, 10), {}),
    "many overlapping": lambda rng: (_stars(rng, 40, 300), {}),
    "grown by 3 m": lambda rng: (_stars(rng, 20, 2_000), {"tolerance_m": 3.0}),
    "holes and MultiPolygons": lambda rng: (_holes_and_parts(rng), {}),
    "edges on cell lines, vertices on corners": lambda rng: (_on_grid(), {"margin": 0.25}),
    "on the grid, grown": lambda rng: (_on_grid(), {"margin": 0.25, "tolerance_m": 4.0}),
    "block 4": lambda rng: (_stars(rng, 15, 1_500), {"block": 4}),
    "block 64, 2 m cells": lambda rng: (_stars(rng, 15, 1_500), {"block": 64, "cell_m": 2.0}),
    "block 1": lambda rng: (_stars(rng, 6, 600), {"block": 1}),
    "spread over 150 km, coarse cells capped": lambda rng: (_stars(rng, 30, 150_000), {"max_coarse_cells": 20_000}),
    "degrees": lambda rng: ([shapely.affinity.scale(p, 1e-5, 1e-5, origin=(0, 0))
                             for p in _stars(rng, 10, 3_000, -190_000, 5_200_000)],
                            {"cell_m": 4e-5, "margin": 1e-8}),
}


def _build_both(reference, monkeypatch, geoms, kwargs):
    """build_index's tables and the reference build's from the same edges and grid."""
    seen = {}
    real = point_index.build_tables

    def spy(edges, owner, bounds, grid):
        seen["args"] = (edges.copy(), owner.copy(), bounds.copy(), grid)
        return real(edges, owner, bounds, grid)

    monkeypatch.setattr(point_index, "build_tables", spy)
    index = build_index(geoms, **kwargs)
    edges, owner, bounds, grid = seen["args"]
    old = reference.build_tables(edges, owner, bounds, reference.Grid(**dataclasses.asdict(grid)))
    return index, old


@pytest.mark.parametrize("case", list(CASES))
def test_tables_bit_identical_to_the_numpy_build(reference, monkeypatch, case):
    geoms, kwargs = CASES[case](np.random.default_rng(sum(map(ord, case))))
    index, old = _build_both(reference, monkeypatch, geoms, kwargs)
    for field in dataclasses.fields(old):
        new_a, old_a = getattr(index, field.name), getattr(old, field.name)
        assert new_a.dtype == old_a.dtype, (case, field.name, new_a.dtype, old_a.dtype)
        assert new_a.shape == old_a.shape, (case, field.name, new_a.shape, old_a.shape)
        assert new_a.tobytes() == old_a.tobytes(), (case, field.name)


def test_cases_reach_what_they_are_for(reference, monkeypatch):
    """The edge-case builds really contain shared cells, UNSURE slots, interior slots of
    shared cells and on-line edges (else the identity test would not cover them)."""
    index, _ = _build_both(reference, monkeypatch, *CASES["many overlapping"](np.random.default_rng(5)))
    assert len(index.many_start) > 100 and (index.blocks == -(len(index.geometries) + 2)).any()
    n_boundary = index.slot_edges.size - 1
    assert (index.slot_edges[1:] == index.slot_edges[:-1]).any()  # interior slots of shared cells: no edges
    assert n_boundary > len(np.unique(index.pair_edge))
    index, _ = _build_both(reference, monkeypatch, *CASES["edges on cell lines, vertices on corners"](None))
    assert index.x0 == 1000.0 and index.y0 == 2000.0 and index.cell == 4.0
    assert (index.slot_status == 2).any()  # centres on an edge's line: UNSURE
    e = index.edges
    on_lines = (e[:, 0] == e[:, 2]) & (((e[:, 0] - 1000.0) % 4.0) == 0)
    assert on_lines.any()


@pytest.mark.parametrize("case", ["holes and MultiPolygons", "many overlapping",
                                  "edges on cell lines, vertices on corners", "block 1"])
def test_assignment_matches_geos_on_the_compiled_build(case):
    """The pairs from the new tables are those of shapely.intersects_xy, including points
    on edges, on vertices and at cell corners."""
    rng = np.random.default_rng(11)
    geoms, kwargs = CASES[case](np.random.default_rng(sum(map(ord, case))))
    index = build_index(geoms, **kwargs)
    lo, hi = index.bounds[:, :2].min(axis=0), index.bounds[:, 2:].max(axis=0)
    x, y = rng.uniform(lo[0] - 5, hi[0] + 5, 40_000), rng.uniform(lo[1] - 5, hi[1] + 5, 40_000)
    v = shapely.get_coordinates(index.geometries)
    corners = index.x0 + index.cell * np.round((x[:2000] - index.x0) / index.cell)
    x, y = np.r_[x, v[:, 0], corners], np.r_[y, v[:, 1], y[:2000]]
    p, h = assign_points(index, x, y)
    want_p, want_h = [], []
    for k, g in enumerate(index.geometries):
        hit = np.flatnonzero(shapely.intersects_xy(g, x, y))
        want_p.append(hit)
        want_h.append(np.full(len(hit), k))
    want_p, want_h = np.concatenate(want_p), np.concatenate(want_h)
    order = np.lexsort((want_h, want_p))
    np.testing.assert_array_equal(p, want_p[order])
    np.testing.assert_array_equal(h, want_h[order])
