"""Exact point-in-hotspot assignment: hand-built cases and agreement with geopandas.sjoin."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from guardian_rct.geo.point_index import assign_points, build_index


def _sjoin_pairs(geoms, x, y):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:27700")
    polys = gpd.GeoDataFrame({"k": range(len(geoms))}, geometry=list(geoms), crs="EPSG:27700")
    joined = gpd.sjoin(points, polys, predicate="intersects")
    p = joined.index.to_numpy()
    h = joined["index_right"].to_numpy()
    order = np.lexsort((h, p))
    return p[order], h[order]


SQUARE = shapely.box(406000, 286000, 406200, 286200)
DONUT = shapely.Polygon([(407000, 286000), (407300, 286000), (407300, 286300), (407000, 286300)],
                        holes=[[(407100, 286100), (407200, 286100), (407200, 286200), (407100, 286200)]])


def test_points_on_edge_and_vertex_count_as_inside():
    index = build_index([SQUARE])
    x = np.array([406000.0, 406100.0, 406200.0, 406200.0, 405999.999, 406200.001, 406100.0])
    y = np.array([286100.0, 286200.0, 286200.0, 286000.0, 286100.0, 286100.0, 286100.0])
    point, hot = assign_points(index, x, y)
    assert point.tolist() == [0, 1, 2, 3, 6]
    assert hot.tolist() == [0, 0, 0, 0, 0]


def test_hole_is_outside_and_its_edge_inside():
    index = build_index([SQUARE, DONUT])
    x = np.array([407150.0, 407100.0, 407050.0])
    y = np.array([286150.0, 286150.0, 286150.0])
    point, hot = assign_points(index, x, y)
    assert point.tolist() == [1, 2]
    assert hot.tolist() == [1, 1]


def test_gps_jitter_around_edge_with_and_without_tolerance():
    rng = np.random.default_rng(7)
    # Pings jittering ±5 m around the east edge x = 406200.
    x = 406200 + rng.uniform(-5, 5, 500)
    y = rng.uniform(286050, 286150, 500)
    exact = build_index([SQUARE])
    grown = build_index([SQUARE], tolerance_m=10.0)
    p0, _ = assign_points(exact, x, y)
    p1, _ = assign_points(grown, x, y)
    assert set(p0) == set(np.flatnonzero(x <= 406200))
    assert 0 < len(p0) < 500
    assert len(p1) == 500  # all within 10 m of the square


def test_overlapping_grown_hotspots_give_both():
    a = shapely.box(0 + 400000, 280000, 400100, 280100)
    b = shapely.box(400110, 280000, 400210, 280100)
    index = build_index([a, b], tolerance_m=10.0)
    point, hot = assign_points(index, np.array([400105.0, 400050.0]), np.array([280050.0, 280050.0]))
    assert list(zip(point.tolist(), hot.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 0)]


def test_far_points_and_points_just_outside_the_raster():
    index = build_index([SQUARE])
    x = np.array([0.0, 1e7, 405999.9999, 406000.0 - index.cell * 0.5, -1e7])
    y = np.array([0.0, 1e7, 286000.0, 286000.0, 286100.0])
    point, _ = assign_points(index, x, y)
    assert point.tolist() == []


@pytest.mark.parametrize("tolerance", [0.0, 15.0])
def test_identical_to_sjoin_on_irregular_hotspots(tolerance):
    rng = np.random.default_rng(11)
    geoms = []
    for _ in range(12):
        cx, cy = 400000 + rng.uniform(0, 3000), 280000 + rng.uniform(0, 3000)
        n = int(rng.integers(5, 60))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(60, 300, n)
        geoms.append(shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]).buffer(0))
    index = build_index(geoms, tolerance_m=tolerance)
    n = 40_000
    x = rng.uniform(399500, 403500, n)
    y = rng.uniform(279500, 283500, n)
    # Vertices and edge midpoints of the grown polygons: the hardest cases.
    coords = shapely.get_coordinates(index.geometries)
    mids = (coords[:-1] + coords[1:]) / 2
    x = np.r_[x, coords[:, 0], mids[:, 0]]
    y = np.r_[y, coords[:, 1], mids[:, 1]]
    p, h = assign_points(index, x, y)
    sp, sh = _sjoin_pairs(index.geometries, x, y)
    assert len(p) > 1000
    np.testing.assert_array_equal(p, sp)
    np.testing.assert_array_equal(h, sh)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(405900, 406300), st.floats(285900, 286300)), min_size=1, max_size=50),
       st.sampled_from([1.0, 3.0, 50.0]))
def test_property_agrees_with_sjoin_at_any_cell_size(points, cell):
    geoms = [SQUARE, shapely.Polygon([(406050, 286050), (406250, 286020), (406150, 286250)])]
    index = build_index(geoms, cell_m=cell)
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    p, h = assign_points(index, x, y)
    sp, sh = _sjoin_pairs(index.geometries, x, y)
    np.testing.assert_array_equal(p, sp)
    np.testing.assert_array_equal(h, sh)


def test_lonlat_filter_keeps_every_point_of_every_grown_hotspot():
    import geopandas as gpd

    from guardian_rct.geo.point_index import LonLatGrid

    rng = np.random.default_rng(4)
    hotspots = gpd.GeoSeries([SQUARE, DONUT, shapely.box(420000, 300000, 420050, 300400)], crs="EPSG:27700")
    grown = hotspots.buffer(25.0 + 50.0)
    grid = LonLatGrid.from_bounds(grown.to_crs("EPSG:4326").bounds.to_numpy())
    # Points on and inside the 25 m-grown hotspots, and far away.
    inner = hotspots.buffer(25.0)
    pts = shapely.get_coordinates(inner.segmentize(1.0))
    bx0, by0, bx1, by1 = inner.total_bounds
    cand = np.c_[rng.uniform(bx0, bx1, 20000), rng.uniform(by0, by1, 20000)]
    inside = cand[shapely.intersects_xy(shapely.union_all(inner.to_numpy()), cand[:, 0], cand[:, 1])]
    pts = np.r_[pts, inside]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs="EPSG:27700").to_crs("EPSG:4326")
    assert grid.contains(lonlat.x.to_numpy(), lonlat.y.to_numpy()).all()
    assert not grid.contains(np.array([-1.0, 0.0]), np.array([52.0, 51.5])).any()
