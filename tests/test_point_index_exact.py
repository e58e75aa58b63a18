"""The numpy exact stage agrees with geopandas.sjoin(predicate="intersects") on the hard cases.

Every test compares full (point, hotspot) pair lists with sjoin on the same grown
polygons; each also checks that the hard case really reached the stage it targets
(boundary cells, GEOS fallback, shared cells), so a test cannot pass vacuously.
"""

from __future__ import annotations

import pickle

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import one_ulp_around, star_polygon
from guardian_rct.geo import point_exact
from guardian_rct.geo.point_index import assign_points, build_index, cell_codes
from guardian_rct.geo.point_raster import UNSURE


def _sjoin_pairs(geoms, x, y):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y))
    polys = gpd.GeoDataFrame({"k": range(len(geoms))}, geometry=list(geoms))
    joined = gpd.sjoin(points, polys, predicate="intersects")
    p = joined.index.to_numpy()
    h = joined["index_right"].to_numpy()
    order = np.lexsort((h, p))
    return p[order], h[order]


def _assert_same(index, x, y):
    p, h = assign_points(index, x, y)
    sp, sh = _sjoin_pairs(index.geometries, x, y)
    np.testing.assert_array_equal(p, sp)
    np.testing.assert_array_equal(h, sh)
    return p, h


def _near_edge_points(geoms):
    """Vertices, edge midpoints and the points 1 ulp either side of them in x and y."""
    rings = shapely.get_rings(np.asarray(geoms, dtype=object))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    mids = ((coords[:-1] + coords[1:]) / 2)[same]
    base = np.r_[coords, mids]
    return one_ulp_around(base)


@pytest.fixture(scope="module")
def stars():
    rng = np.random.default_rng(21)
    return [star_polygon(rng, 400000 + rng.uniform(0, 2500), 280000 + rng.uniform(0, 2500), int(rng.integers(5, 80)), 40, 300)
            for _ in range(15)]


@pytest.mark.parametrize("tolerance", [0.0, 12.0])
def test_vertices_midpoints_and_one_ulp_either_side(stars, tolerance):
    index = build_index(stars, tolerance_m=tolerance)
    x, y = _near_edge_points(index.geometries)
    p, _ = _assert_same(index, x, y)
    # The case is hard: many of these points are in boundary cells and some are not
    # inside; the GEOS fallback really ran (vertices are on edges exactly).
    codes = cell_codes(index, x, y)
    assert np.mean(codes <= -2) > 0.9
    assert 0 < len(np.unique(p)) < len(x)


def test_random_points_near_and_far(stars):
    rng = np.random.default_rng(5)
    index = build_index(stars)
    x = rng.uniform(399800, 402800, 120_000)
    y = rng.uniform(279800, 282800, 120_000)
    p, _ = _assert_same(index, x, y)
    assert len(p) > 10_000


def test_points_exactly_on_fine_and_coarse_cell_lines(stars):
    rng = np.random.default_rng(8)
    index = build_index(stars, cell_m=3.0)
    cols = rng.integers(0, 900, 400)
    rows = rng.integers(0, 900, 400)
    # Fine-cell lines, coarse-cell lines (multiples of the block) and their crossings.
    gx = index.x0 + np.r_[cols, cols - cols % index.block] * index.cell
    gy = index.y0 + np.r_[rows, rows - rows % index.block] * index.cell
    x = np.r_[gx, rng.uniform(399800, 402800, len(gx)), gx]
    y = np.r_[rng.uniform(279800, 282800, len(gy)), gy, gy]
    _assert_same(index, x, y)


def test_holes_and_multipolygons():
    outer = shapely.box(500000, 200000, 500400, 200400)
    holes = [shapely.box(500050 + 110 * i, 200050, 500120 + 110 * i, 200350) for i in range(3)]
    donut = outer.difference(shapely.union_all(holes))
    islands = shapely.MultiPolygon([shapely.box(500500, 200000, 500530, 200030),
                                    shapely.box(500540, 200000, 500600, 200100).difference(
                                        shapely.box(500550, 200010, 500560, 200020)),
                                    shapely.Point(500700, 200200).buffer(40, quad_segs=7)])
    assert len(shapely.get_rings(donut)) == 4
    index = build_index([donut, islands])
    rng = np.random.default_rng(3)
    x = np.r_[rng.uniform(499990, 500760, 60_000), _near_edge_points([donut, islands])[0]]
    y = np.r_[rng.uniform(199990, 200410, 60_000), _near_edge_points([donut, islands])[1]]
    p, h = _assert_same(index, x, y)
    assert set(h.tolist()) == {0, 1}


def test_grown_overlapping_hotspots_share_cells():
    rng = np.random.default_rng(13)
    geoms = [star_polygon(rng, 300000 + 120 * i, 300000 + 40 * (i % 2), 30, 60, 110) for i in range(6)]
    index = build_index(geoms, tolerance_m=20.0)
    # Overlaps make shared cells, resolved slot by slot.
    assert (index.special <= -2).any()
    x = rng.uniform(299800, 300900, 150_000)
    y = rng.uniform(299800, 300250, 150_000)
    ex, ey = _near_edge_points(index.geometries)
    x, y = np.r_[x, ex], np.r_[y, ey]
    p, _ = _assert_same(index, x, y)
    assert (np.diff(p) == 0).sum() > 1000  # many points in two hotspots


def test_polygons_in_degrees_with_small_cells_and_margin():
    rng = np.random.default_rng(17)
    geoms = [star_polygon(rng, -1.9 + 0.01 * i, 52.48 + 0.004 * i, 40, 0.001, 0.003) for i in range(5)]
    index = build_index(geoms, cell_m=2e-5, margin=1e-8)
    assert index.cell == 2e-5 and index.margin == 1e-8
    x = np.r_[rng.uniform(-1.905, -1.847, 100_000), _near_edge_points(geoms)[0]]
    y = np.r_[rng.uniform(52.476, 52.5, 100_000), _near_edge_points(geoms)[1]]
    p, _ = _assert_same(index, x, y)
    assert len(p) > 2000


def test_cell_centre_on_an_edge_is_left_to_geos():
    """A vertex placed exactly on a cell centre: that cell's status is not trusted."""
    margin = 1e-3
    cell = 4.0
    x0, y0 = -2 * margin, -2 * margin  # build_index puts the origin 2 margins below the box
    cx, cy = x0 + 12.5 * cell, y0 + 20.5 * cell
    poly = shapely.Polygon([(0, 0), (100, 0), (100, 100), (cx, cy), (0, 100)])
    index = build_index([poly], cell_m=cell, margin=margin)
    assert (index.x0, index.y0) == (x0, y0)
    assert (index.slot_status == UNSURE).any()
    rng = np.random.default_rng(2)
    x = np.r_[cx + rng.uniform(-2, 2, 5000), cx]
    y = np.r_[cy + rng.uniform(-2, 2, 5000), cy]
    _assert_same(index, x, y)


def test_pickled_index_gives_the_same_pairs(stars):
    index = build_index(stars, tolerance_m=5.0)
    x, y = _near_edge_points(index.geometries)
    again = pickle.loads(pickle.dumps(index))
    for a, b in zip(assign_points(index, x, y), assign_points(again, x, y), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cell_codes_are_conservative(stars):
    """Codes >= 0 are inside that hotspot and -1 outside all, by GEOS itself."""
    index = build_index(stars)
    rng = np.random.default_rng(9)
    x = rng.uniform(399800, 402800, 50_000)
    y = rng.uniform(279800, 282800, 50_000)
    codes = cell_codes(index, x, y)
    inside = codes >= 0
    assert inside.sum() > 1000 and (codes == -1).sum() > 1000
    for k, geom in enumerate(index.geometries):
        hit = shapely.intersects_xy(geom, x, y)
        assert not (hit & (codes == -1)).any()
        assert hit[codes == k].all()


def test_doubtful_points_really_go_to_geos(stars, monkeypatch):
    """Vertex points are undecidable by the filter; without the GEOS answer they would
    all be lost, so the fallback is what makes them count."""
    index = build_index(stars)
    x, y = _near_edge_points(index.geometries)
    calls = []
    real = point_exact.geos_pairs

    def spy(*args):
        calls.append(len(args[3]))
        return real(*args)

    monkeypatch.setattr("guardian_rct.geo.point_index.geos_pairs", spy)
    _assert_same(index, x, y)
    assert calls and calls[0] >= len(shapely.get_coordinates(index.geometries)) // 2


@pytest.mark.parametrize("options", [{"cell_m": 1.0, "margin": 1e-6}, {"cell_m": 0.5},
                                     {"cell_m": 4.0, "block": 64}, {"cell_m": 1.0, "block": 4, "tolerance_m": 2.0}])
def test_rectilinear_hotspots_on_a_lattice_of_points(options):
    """Boxes with holes at whole metres and a half-metre lattice of points: thousands
    of points exactly on edges and vertices, and cell lines that may meet edges."""
    rng = np.random.default_rng(4)
    geoms = []
    for _ in range(8):
        x0, y0 = rng.integers(0, 200, 2)
        w, h = rng.integers(5, 60, 2)
        g = shapely.box(x0, y0, x0 + w, y0 + h)
        if rng.random() < 0.5:
            g = g.difference(shapely.box(x0 + 2, y0 + 2, x0 + w // 2, y0 + h // 2))
        geoms.append(g)
    index = build_index(geoms, **options)
    gx, gy = np.meshgrid(np.arange(-2, 262, 0.5), np.arange(-2, 262, 0.5))
    x, y = gx.ravel(), gy.ravel()
    on_edge = shapely.intersects_xy(shapely.union_all([shapely.boundary(g) for g in index.geometries]), x, y)
    assert on_edge.sum() > 1000
    _assert_same(index, x, y)


def test_block_wider_than_64_is_refused_in_one_line():
    with pytest.raises(ValueError, match="block 128 is too large: at most 64"):
        build_index([shapely.box(0, 0, 10, 10)], block=128)


def test_cell_codes_refuses_nan_naming_the_first_position(stars):
    index = build_index(stars)
    with pytest.raises(ValueError, match=r"cell_codes: 1 point\(s\) have a missing \(NaN\) coordinate \(first at position 2"):
        cell_codes(index, np.array([400000.0, 400001.0, 400002.0]), np.array([280000.0, 280000.0, np.nan]))
