"""Hotspot files that look fine but are not (issue 11, item 7)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from conftest import make_hotspots
from guardian_rct._core.errors import DataError
from guardian_rct.cli import main
from guardian_rct.geo.hotspots import read_hotspots


def test_degrees_declared_as_british_national_grid_fail_validate(tmp_path, capsys):
    wgs = make_hotspots().to_crs(4326)
    lying = gpd.GeoDataFrame(wgs.drop(columns="geometry"), geometry=wgs.geometry.to_numpy(), crs="EPSG:27700")
    path = tmp_path / "h.gpkg"  # a GeoPackage keeps the (wrong) declared CRS
    lying.to_file(path, driver="GPKG")
    code = main(["hotspots", "validate", str(path), "--no-boundary"])
    err = capsys.readouterr().err
    assert code == 1 and "look like degrees" in err and "EPSG:27700" in err and "h.gpkg" in err


def test_zero_area_polygon_is_refused(tmp_path):
    frame = make_hotspots(3)
    frame.loc[1, "geometry"] = shapely.box(406500, 286000, 406500.0001, 286000.0001)
    path = tmp_path / "h.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(DataError, match=r"row 2, column 'geometry'.*degenerate polygon"):
        read_hotspots(path)


def test_collinear_polygon_is_refused_not_repaired_into_nothing(tmp_path):
    frame = make_hotspots(3)
    frame.loc[0, "geometry"] = shapely.Polygon([(406000, 286000), (406100, 286000), (406200, 286000)])
    path = tmp_path / "h.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(DataError, match="hotspot 'H01'"):
        read_hotspots(path)


def test_ordinary_hotspots_still_read(tmp_path):
    path = tmp_path / "h.gpkg"
    make_hotspots().to_file(path, driver="GPKG")
    assert len(read_hotspots(path)) == 6
