import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import SHARED_DATA, make_hotspots
from guardian_rct._core.errors import DataError
from guardian_rct.crimes.policeuk import read_street_crimes
from guardian_rct.geo.checks import check_hotspots, read_boundary
from guardian_rct.geo.coverage import coverage
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.geo.rings import buffer_rings
from hotspot_fixtures import write_boundary, write_legacy


def _set(geoms, ids=None):
    ids = ids or [f"H{i + 1:02d}" for i in range(len(geoms))]
    return hotspots_from_frame(gpd.GeoDataFrame({"hotspot_id": ids}, geometry=geoms, crs="EPSG:27700"))


def test_table_gives_analytic_area_and_centroid():
    hs = hotspots_from_frame(make_hotspots(6))
    table = check_hotspots(hs).table
    assert np.allclose(table["area_m2"], 200 * 200)
    assert np.allclose(table["perimeter_m"], 800)
    assert table.loc[0, ["centroid_x", "centroid_y"]].tolist() == [406100.0, 286100.0]


def test_overlaps_found_with_their_area_and_touching_is_not_overlap():
    hs = _set([shapely.box(0, 0, 100, 100), shapely.box(50, 0, 150, 100), shapely.box(150, 0, 250, 100),
               shapely.box(1000, 0, 1100, 100)])
    found = check_hotspots(hs).overlaps
    assert found.to_dict(orient="records") == [{"hotspot_a": "H01", "hotspot_b": "H02", "overlap_m2": 5000.0}]


def test_outside_boundary_share(tmp_path):
    boundary = read_boundary(write_boundary(tmp_path / "b.gpkg", (0, 0, 1000, 1000)))
    hs = _set([shapely.box(100, 100, 200, 200), shapely.box(950, 0, 1050, 100), shapely.box(2000, 0, 2100, 100)])
    check = check_hotspots(hs, boundary)
    out = check.outside.set_index("hotspot_id")
    assert out.index.tolist() == ["H03", "H02"]
    assert out.loc["H02", "outside_share"] == pytest.approx(0.5)
    assert out.loc["H03", "outside_share"] == pytest.approx(1.0)
    assert check.area_share == pytest.approx((100 * 100 + 50 * 100) / 1e6)
    assert len(check.problems()) == 2


def test_boundary_without_polygons_is_refused(tmp_path):
    frame = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs="EPSG:27700")
    frame.to_file(tmp_path / "b.gpkg")
    with pytest.raises(DataError, match="holds no polygons.*found Point"):
        read_boundary(tmp_path / "b.gpkg")


def test_isolated_ring_areas_match_the_analytic_buffer():
    side = 200.0
    rings = buffer_rings(hotspots_from_frame(make_hotspots(1)), (100, 200))
    areas = rings.set_index("ring").area
    # buffer of a square: side² + 4·side·d + π·d² (minus the square itself)
    full = [4 * side * d + math.pi * d * d for d in (100, 200)]
    assert areas["0-100"] == pytest.approx(full[0], rel=1e-3)
    assert areas["100-200"] == pytest.approx(full[1] - full[0], rel=1e-3)
    assert rings[["inner_m", "outer_m"]].values.tolist() == [[0, 100], [100, 200]]


def test_split_rings_partition_the_overlapping_rings():
    # Two squares 150 m apart: their 0-200 m rings overlap; split gives each place to the nearer.
    hs = _set([shapely.box(0, 0, 100, 100), shapely.box(250, 0, 350, 100), shapely.box(5000, 0, 5100, 100)])
    split = buffer_rings(hs, (100, 200), split_spacing_m=2.0)
    keep = buffer_rings(hs, (100, 200), neighbours="overlap")
    every_hotspot = shapely.union_all(hs.frame.geometry.to_numpy())
    geoms = split.geometry.to_numpy()
    # disjoint: the sum of areas equals the area of the union
    assert sum(shapely.area(geoms)) == pytest.approx(shapely.union_all(geoms).area, rel=1e-6)
    # same ground as the overlapping rings, and never inside a hotspot
    assert shapely.union_all(geoms).area == pytest.approx(shapely.union_all(keep.geometry.to_numpy()).area,
                                                          rel=1e-6)
    assert shapely.intersection(shapely.union_all(geoms), every_hotspot).area < 1e-6
    # the dividing line is the perpendicular bisector x = 175 (within the 2 m spacing)
    h1 = shapely.union_all(split[split.hotspot_id == "H01"].geometry.to_numpy())
    assert h1.bounds[2] == pytest.approx(175, abs=2.0)
    # the isolated hotspot is untouched
    iso = split[split.hotspot_id == "H03"].area.to_numpy()
    assert iso == pytest.approx(keep[keep.hotspot_id == "H03"].area.to_numpy())


def test_split_rings_stay_valid_for_grid_aligned_neighbours():
    # Evenly spaced points on parallel, axis-aligned edges are co-circular: the case that
    # makes a naive Voronoi split produce invalid cells.
    geoms = [shapely.box(x, y, x + 150, y + 150) for x in (0, 300, 600) for y in (0, 300, 600)]
    hs = _set(geoms)
    split = buffer_rings(hs, (100, 200))
    keep = buffer_rings(hs, (100, 200), neighbours="overlap")
    g = split.geometry.to_numpy()
    assert shapely.is_valid(g).all()
    assert sum(shapely.area(g)) == pytest.approx(shapely.union_all(g).area, rel=1e-6)
    assert shapely.union_all(g).area == pytest.approx(shapely.union_all(keep.geometry.to_numpy()).area, rel=1e-6)
    # by symmetry the four corner hotspots get equal rings
    corners = split[split.hotspot_id.isin(["H01", "H03", "H07", "H09"])].groupby("ring").apply(
        lambda f: f.area.std() / f.area.mean(), include_groups=False)
    assert (corners < 0.01).all()


def test_rings_exclude_a_hotspot_inside_another_ring():
    hs = _set([shapely.box(0, 0, 100, 100), shapely.box(130, 0, 160, 30)])
    rings = buffer_rings(hs, (100,), neighbours="overlap")
    assert shapely.intersection(rings.geometry.iloc[0], hs.frame.geometry.iloc[1]).area == 0


def test_rings_reject_bad_distances():
    hs = hotspots_from_frame(make_hotspots(1))
    with pytest.raises(ValueError, match="increasing"):
        buffer_rings(hs, (200, 100))


def test_coverage_counts_crimes_and_harm_against_hand_counts(tmp_path):
    boundary = read_boundary(write_boundary(tmp_path / "b.gpkg"))
    hs = hotspots_from_frame(make_hotspots(2))  # squares at (406000, 286000) and (406500, 286000)
    pts = ([(406050.0, 286050.0, "Violent crime", "A")] * 3 + [(406550.0, 286150.0, "Robbery", "B")]
           + [(401000.0, 281000.0, "Violent crime", "C")] * 4 + [(401000.0, 281000.0, "Robbery", "C")]
           + [(406050.0, 286050.0, "Burglary", "A")] * 5           # not violence
           + [(420000.0, 281000.0, "Violent crime", "D")])         # outside the boundary
    crimes = read_street_crimes(write_legacy(tmp_path / "c.csv", pts))
    cov = coverage(hs, boundary, crimes)
    v, r = 194.21, 365.0  # shipped CCHI weights: Violent crime, Robbery (2011 layout)
    assert (cov.crimes_in_hotspots, cov.crimes_total, cov.crimes_outside_boundary) == (4, 9, 1)
    assert cov.harm_in_hotspots == pytest.approx(3 * v + r)
    assert cov.harm_share == pytest.approx((3 * v + r) / (7 * v + 2 * r))
    assert cov.area_share == pytest.approx(2 * 0.04 / 100)
    assert cov.sentence() == (f"2 hotspots cover 0.08% of the force area, {4 / 9:.1%} of violence and "
                              f"{(3 * v + r) / (7 * v + 2 * r):.1%} of harm")
    assert cov.to_dict()["crimes_in_hotspots"] == 4


def test_coverage_refuses_types_without_harm_weight(tmp_path):
    boundary = read_boundary(write_boundary(tmp_path / "b.gpkg"))
    crimes = read_street_crimes(write_legacy(tmp_path / "c.csv", [(406050.0, 286050.0, "Violent crime", "A")]))
    with pytest.raises(DataError, match="'Anti-social behaviour' has no harm weight"):
        coverage(hotspots_from_frame(make_hotspots(1)), boundary, crimes,
                 crime_types=["Violent crime", "Anti-social behaviour"])


def test_shipped_hotspots_rings_are_disjoint_and_valid():
    from guardian_rct.geo.hotspots import read_hotspots

    hs = read_hotspots(Path(__file__).resolve().parents[1] / "geodata" / "hotspots.geojson")
    rings = buffer_rings(hs, (100, 200))
    g = rings.geometry.to_numpy()
    assert len(rings) == 2 * len(hs) and shapely.is_valid(g).all()
    assert sum(shapely.area(g)) == pytest.approx(shapely.union_all(g).area, rel=1e-6)


@pytest.mark.skipif(not (SHARED_DATA / "police_uk/wm_2011-02_street_legacy.csv").exists(),
                    reason="shared data absent")
def test_coverage_of_shipped_hotspots_matches_a_geopandas_spatial_join():
    from guardian_rct.geo.hotspots import read_hotspots

    geodata = Path(__file__).resolve().parents[1] / "geodata"
    hs = read_hotspots(geodata / "hotspots.geojson")
    boundary = read_boundary(geodata / "force_boundary.geojson")
    crimes = read_street_crimes(SHARED_DATA / "police_uk/wm_2011-02_street_legacy.csv")
    cov = coverage(hs, boundary, crimes)
    # independent reference: geopandas sjoin against the hotspot and boundary layers
    violent = crimes.frame[crimes.frame["crime_type"].isin(["Violent crime", "Robbery"])]
    force = gpd.GeoDataFrame(geometry=[boundary.geometry], crs=hs.crs)
    inside = gpd.sjoin(violent, force, predicate="intersects", how="inner")
    hot = gpd.sjoin(inside.drop(columns="index_right"), hs.frame, predicate="intersects", how="inner")
    weight = {"Violent crime": 194.21, "Robbery": 365.0}
    assert cov.crimes_total == len(inside) and cov.crimes_in_hotspots == hot.index.nunique()
    hot = hot[~hot.index.duplicated()]
    assert cov.harm_in_hotspots == pytest.approx(hot["crime_type"].map(weight).sum())
    assert cov.area_share == pytest.approx(hs.frame.area.sum() / boundary.geometry.area, rel=1e-6)
