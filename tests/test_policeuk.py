
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from conftest import SHARED_DATA
from guardian_rct._core.errors import DataError
from guardian_rct.crimes.policeuk import find_street_files, read_street_crimes
from hotspot_fixtures import LEGACY_HEADER, write_current, write_legacy

SHARED = SHARED_DATA / "police_uk"


def test_legacy_layout_reads_eastings_as_bng(tmp_path):
    path = write_legacy(tmp_path / "a.csv", [(408811.0, 284398.0, "Robbery", "Alfred Road"),
                                             (397578.0, 296792.0, "Violent crime", "Lawrence Way")])
    crimes = read_street_crimes(path)
    assert crimes.era == "2011" and len(crimes) == 2 and len(crimes.quarantine) == 0
    frame = crimes.frame
    assert list(frame.columns[:5]) == ["crime_id", "month", "crime_type", "location", "lsoa_code"]
    assert frame.crs.to_epsg() == 27700
    assert shapely.get_coordinates(frame.geometry.to_numpy()).tolist() == [[408811.0, 284398.0],
                                                                         [397578.0, 296792.0]]
    assert frame["location"].iloc[0] == "On or near Alfred Road"
    assert frame["crime_id"].iloc[0] == "" and frame["month"].iloc[0] == "2011-02"


def test_current_layout_is_reprojected(tmp_path):
    pts = [(406000.0, 286000.0, "Robbery", "Broad Street"), (407500.0, 287500.0, "Drugs", "Hill Street")]
    crimes = read_street_crimes(write_current(tmp_path / "2024-01-x-street.csv", pts))
    assert crimes.era == "current"
    xy = shapely.get_coordinates(crimes.frame.geometry.to_numpy())
    # 6 decimal degrees are ~0.1 m; the round trip must land within a metre
    assert np.allclose(xy, [[406000, 286000], [407500, 287500]], atol=1.0)
    assert crimes.frame["crime_id"].tolist() == ["id0", "id1"]
    assert crimes.frame["lsoa_code"].iloc[1] == "E01000001"


def test_folder_prefers_street_files_and_concatenates(tmp_path):
    pts = [(406000.0, 286000.0, "Robbery", "Broad Street")]
    write_current(tmp_path / "2024-01" / "2024-01-x-street.csv", pts, month="2024-01")
    write_current(tmp_path / "2024-02" / "2024-02-x-street.csv", pts * 2, month="2024-02")
    (tmp_path / "2024-02" / "2024-02-x-outcomes.csv").write_text("Crime ID,Month,Outcome type\n")
    assert [p.name for p in find_street_files(tmp_path)] == ["2024-01-x-street.csv", "2024-02-x-street.csv"]
    crimes = read_street_crimes(tmp_path)
    assert len(crimes) == 3 and crimes.months == ("2024-01", "2024-02")
    assert set(crimes.sources) == {"2024-01-x-street.csv", "2024-02-x-street.csv"}


def test_unusable_rows_are_quarantined_with_reasons(tmp_path):
    extra = [
        "2011-02,P,P,,,On or near Nowhere,Violent crime,",          # missing coordinates
        "2011-02,P,P,abc,284000,On or near X,Violent crime,",        # not numeric
        "2011-02,P,P,-5000,284000,On or near X,Violent crime,",      # outside range
        "2011-02,P,P,408000,284000,On or near X,,",                  # missing type
        "Feb 2011,P,P,408000,284000,On or near X,Robbery,",          # bad month
    ]
    crimes = read_street_crimes(write_legacy(tmp_path / "a.csv", [(408000.0, 284000.0, "Robbery", "Y")],
                                             extra=extra))
    assert len(crimes) == 1
    q = crimes.quarantine
    assert len(crimes) + len(q) == 6
    assert q.frame["reason"].tolist() == ["missing coordinates", "coordinates not numeric",
                                          "coordinates outside plausible range", "missing crime type",
                                          "month not YYYY-MM"]
    assert q.frame["source_row"].tolist() == [2, 3, 4, 5, 6]


def test_wrong_file_names_file_and_expected_columns(tmp_path):
    path = tmp_path / "pings.csv"
    path.write_text("device_id,timestamp,lat,lon\nA,2024-01-01T00:00Z,52.4,-1.9\n")
    with pytest.raises(DataError, match=r"pings\.csv: not a data\.police\.uk street-crime CSV.*Longitude"):
        read_street_crimes(path)


def test_mixed_layouts_are_refused(tmp_path):
    write_legacy(tmp_path / "a.csv", [(408000.0, 284000.0, "Robbery", "Y")])
    write_current(tmp_path / "b.csv", [(408000.0, 284000.0, "Robbery", "Y")])
    with pytest.raises(DataError, match="both data.police.uk layouts"):
        read_street_crimes([tmp_path / "a.csv", tmp_path / "b.csv"])


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="crime file not found"):
        read_street_crimes(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CSV files"):
        read_street_crimes(tmp_path / "empty")
    (tmp_path / "header_only.csv").write_text(LEGACY_HEADER + "\n")
    assert len(read_street_crimes(tmp_path / "header_only.csv")) == 0


@pytest.mark.skipif(not (SHARED / "wm_2011-02_street_legacy.csv").exists(), reason="shared data absent")
def test_real_2011_file_counts_match_its_readme():
    crimes = read_street_crimes(SHARED / "wm_2011-02_street_legacy.csv")
    counts = crimes.frame["crime_type"].value_counts()
    assert len(crimes) + len(crimes.quarantine) == 25_558
    assert counts["Violent crime"] == 3_037 and counts["Robbery"] == 807


def test_transformer_reference_point():
    # Independent check of the WGS84 -> BNG direction the reader relies on.
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(406000, 286000)
    assert -1.95 < lon < -1.85 and 52.45 < lat < 52.5
