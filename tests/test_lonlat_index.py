"""Pings assigned in degrees (geo/lonlat_index.py) give, pair for pair, the assignment of the
projected pings (point_index.assign_points, the sjoin "intersects" rule).

The attacks are the pings a degree raster could get wrong: on hotspot vertices and edges,
a micrometre to a few millimetres either side of an edge (made in metres and mapped to
degrees, as a radio near a kerb line would report them), in holes, in two overlapping
grown hotspots, and far away. Degree polygons that cannot be trusted (PROJ's plain inverse,
too-long pieces) must be refused, and the weekly job must then project every ping.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from guardian_rct.geo import lonlat_index as ll
from guardian_rct.geo.lonlat_index import assign_lonlat, build_lonlat_index
from guardian_rct.geo.point_index import assign_points, build_index

CRS = "EPSG:27700"
TO_DEG = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
SQUARE = shapely.box(406000, 286000, 406200, 286200)
DONUT = shapely.Polygon([(407000, 286000), (407300, 286000), (407300, 286300), (407000, 286300)],
                        holes=[[(407100, 286100), (407200, 286100), (407200, 286200), (407100, 286200)]])
SLANT = shapely.Polygon([(408000, 286000), (408400, 286130), (408310, 286420), (408050, 286390)])
NEIGHBOUR = shapely.box(406190, 286000, 406400, 286200)  # overlaps SQUARE once grown


def _degrees(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres to degrees to the precision of the forward projection (as lonlat_index does)."""
    lonlat = ll._preimage(TO_DEG, np.column_stack([x, y]))
    return lonlat[:, 0], lonlat[:, 1]


def _near_edges(polys, offsets: np.ndarray, per_edge: int, rng: np.random.Generator):
    """Points at ``offsets`` metres either side of every edge, and every vertex."""
    xs, ys = [], []
    for poly in polys:
        coords = shapely.get_coordinates(shapely.get_rings(poly))
        xs.append(coords[:, 0])
        ys.append(coords[:, 1])
        for (x1, y1), (x2, y2) in zip(coords[:-1], coords[1:], strict=True):
            length = np.hypot(x2 - x1, y2 - y1)
            if length == 0:
                continue
            nx, ny = -(y2 - y1) / length, (x2 - x1) / length
            t = rng.uniform(0, 1, per_edge)
            for d in offsets:
                xs.append(x1 + t * (x2 - x1) + d * nx)
                ys.append(y1 + t * (y2 - y1) + d * ny)
    return np.concatenate(xs), np.concatenate(ys)


def _both(polys, tolerance: float, lon: np.ndarray, lat: np.ndarray):
    metric = build_index(polys, tolerance_m=tolerance)
    index = build_lonlat_index(metric, CRS)
    assert index is not None
    x, y = TO_DEG.transform(lon, lat)
    return assign_lonlat(index, lon, lat), assign_points(metric, x, y), index


@pytest.mark.parametrize("tolerance", [0.0, 25.0])
def test_pairs_equal_the_projected_assignment_near_every_edge(tolerance):
    rng = np.random.default_rng(3)
    polys = [SQUARE, DONUT, SLANT, NEIGHBOUR]
    grown = [shapely.buffer(p, tolerance, quad_segs=16) if tolerance else p for p in polys]
    offsets = np.array([-5e-3, -1e-3, -1e-4, -1e-6, 0.0, 1e-6, 1e-4, 1e-3, 5e-3])
    x, y = _near_edges(grown, offsets, 40, rng)
    x = np.concatenate([x, rng.uniform(405500, 409000, 20_000)])
    y = np.concatenate([y, rng.uniform(285500, 287000, 20_000)])
    lon, lat = _degrees(x, y)
    (p, h), (p0, h0), index = _both(polys, tolerance, lon, lat)
    assert index.max_error_m < 1e-5
    assert np.array_equal(p, p0) and np.array_equal(h, h0)
    assert len(p0) > 5_000  # the test met many inside pings ...
    if tolerance:
        assert np.any(np.bincount(p0) > 1)  # ... and pings in two overlapping grown hotspots


def test_hole_and_far_pings_in_degrees():
    lon, lat = _degrees(np.array([407150.0, 407050.0, 300000.0, 406100.0]),
                        np.array([286150.0, 286150.0, 100000.0, 286100.0]))
    (p, h), (p0, h0), _ = _both([SQUARE, DONUT], 0.0, lon, lat)
    assert p.tolist() == p0.tolist() == [1, 3] and h.tolist() == h0.tolist() == [1, 0]


def test_degree_polygons_that_cannot_be_trusted_are_refused(monkeypatch):
    metric = build_index([SQUARE, SLANT], tolerance_m=25.0)
    assert build_lonlat_index(metric, CRS) is not None
    # PROJ's inverse alone is about a millimetre off for OSGB36 (first-order Helmert inverse)
    monkeypatch.setattr(ll, "_preimage", lambda forward, xy: np.column_stack(
        forward.transform(xy[:, 0], xy[:, 1], direction="INVERSE")))
    assert build_lonlat_index(metric, CRS) is None
    monkeypatch.undo()
    monkeypatch.setattr(ll, "MARGIN_DEG", 1e-12)  # a margin below the chord error
    assert build_lonlat_index(metric, CRS) is None


def test_the_weekly_options_project_when_the_degree_index_is_refused(monkeypatch, tmp_path):
    from conftest import make_hotspots
    from guardian_rct.compliance import ping_assignment
    from guardian_rct.config.trial_config import ComplianceSpec
    from guardian_rct.geo.hotspots import hotspots_from_frame

    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    rules = ComplianceSpec()
    options = ping_assignment.ping_options_for(hotspots, rules)
    assert options.locate is not None and options.near is None
    monkeypatch.setattr(ping_assignment, "build_lonlat_index", lambda metric, crs: None)
    options = ping_assignment.ping_options_for(hotspots, rules)
    assert options.locate is None and options.near is not None


def test_multipolygon_hotspots_in_degrees():
    """A hotspot of two parts (a MultiPolygon) must get pings in both parts, as sjoin does."""
    rng = np.random.default_rng(5)
    two = shapely.MultiPolygon([shapely.box(409000, 286000, 409150, 286150),
                                shapely.box(409400, 286000, 409550, 286150)])
    x, y = _near_edges([two.geoms[0], two.geoms[1], SQUARE], np.array([-1e-3, 0.0, 1e-3]), 30, rng)
    x = np.concatenate([x, rng.uniform(405900, 409700, 5_000)])
    y = np.concatenate([y, rng.uniform(285900, 286300, 5_000)])
    lon, lat = _degrees(x, y)
    (p, h), (p0, h0), _ = _both([two, SQUARE], 0.0, lon, lat)
    assert np.array_equal(p, p0) and np.array_equal(h, h0)
    inside = x[p0[h0 == 0]]
    assert (inside < 409200).any() and (inside > 409350).any()  # both parts


@pytest.mark.parametrize("crs", ["EPSG:32630", "EPSG:3857"])
def test_other_trial_crs_give_the_projected_pairs_or_are_refused(crs):
    """A force on UTM (or, wrongly, Web Mercator) gets the degree index too (its measured
    error is micrometres there) and the projected pairs."""
    to_crs = Transformer.from_crs(CRS, crs, always_xy=True)
    polys = [shapely.transform(p, lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])))
             for p in (SQUARE, DONUT, SLANT)]
    metric = build_index(polys, tolerance_m=10.0)
    index = build_lonlat_index(metric, crs)
    assert index is not None and index.max_error_m < 1e-4
    rng = np.random.default_rng(9)
    x, y = _near_edges(metric.geometries, np.array([-1e-3, 0.0, 1e-3]), 30, rng)
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lonlat = ll._preimage(forward, np.column_stack([x, y]))
    px, py = forward.transform(lonlat[:, 0], lonlat[:, 1])
    p, h = assign_lonlat(index, lonlat[:, 0], lonlat[:, 1])
    p0, h0 = assign_points(metric, px, py)
    assert np.array_equal(p, p0) and np.array_equal(h, h0) and len(p0) > 100
