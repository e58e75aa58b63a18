"""``guardian-rct hotspots validate|summary|build`` through ``cli.main``, good and bad input."""

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from conftest import SHARED_DATA, make_hotspots, write_trial
from guardian_rct.cli import main
from hotspot_fixtures import clustered_points, write_boundary, write_legacy

REPO = Path(__file__).resolve().parents[1]
GEODATA = REPO / "geodata"


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------
# the bad-input corpus: every file is written into tmp_path by its builder
# ---------------------------------------------------------------------------

def _write(frame, path, **kw):
    frame.to_file(path, **kw)
    return path


def _dup_ids(t):
    f = make_hotspots(3)
    f.loc[2, "hotspot_id"] = "H01"
    return ["hotspots", "validate", _write(f.to_crs(4326), t / "h.geojson")]


def _no_id_column(t):
    return ["hotspots", "validate", _write(make_hotspots(3).rename(columns={"hotspot_id": "code"}), t / "h.gpkg")]


def _empty_id(t):
    f = make_hotspots(3)
    f.loc[1, "hotspot_id"] = ""
    return ["hotspots", "validate", _write(f, t / "h.gpkg")]


def _no_crs(t):
    _write(make_hotspots(3), t / "h.shp")
    (t / "h.prj").unlink()
    return ["hotspots", "validate", t / "h.shp"]


def _bowtie(t):
    f = make_hotspots(2)
    f.loc[1, "geometry"] = shapely.Polygon([(406000, 287000), (406200, 287200), (406200, 287000),
                                            (406000, 287200)])
    return ["hotspots", "validate", "--no-repair", _write(f, t / "h.gpkg")]


def _empty_collection(t):
    (t / "h.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    return ["hotspots", "validate", t / "h.geojson"]


def _zero_bytes(t):
    (t / "h.geojson").write_bytes(b"")
    return ["hotspots", "validate", t / "h.geojson"]


def _points(t):
    f = make_hotspots(3)
    f["geometry"] = f.geometry.centroid
    return ["hotspots", "validate", _write(f, t / "h.gpkg")]


def _swapped(t):
    f = make_hotspots(3).to_crs(4326)
    f["geometry"] = shapely.transform(f.geometry.to_numpy(), lambda xy: xy[:, ::-1])
    return ["hotspots", "validate", _write(f, t / "h.geojson")]


def _missing_path(t):
    return ["hotspots", "validate", t / "nowhere.geojson"]


def _wrong_suffix(t):
    (t / "h.txt").write_text("hotspot_id\nH01\n")
    return ["hotspots", "validate", t / "h.txt"]


def _toml_type(t):
    return ["hotspots", "validate", "--config", _retype(write_trial(t), "seed = 20230320", 'seed = "twenty"')]


def _retype(path, old, new):
    path.write_text(path.read_text().replace(old, new))
    return path


def _timezone(t):
    return ["hotspots", "validate", "--config",
            _retype(write_trial(t), 'timezone = "Europe/London"', 'timezone = "Europe/Birmingham"')]


def _unknown_key(t):
    return ["hotspots", "validate", "--config", _retype(write_trial(t), 'id_column = "hotspot_id"',
                                                        'id_collumn = "hotspot_id"')]


def _bad_toml(t):
    return ["hotspots", "validate", "--config", _retype(write_trial(t), 'name = "Test trial"', 'name = "Test')]


def _overlap(t):
    f = make_hotspots(3)
    f.loc[1, "geometry"] = shapely.box(406100, 286000, 406300, 286200)
    return ["hotspots", "validate", "--no-boundary", _write(f, t / "h.gpkg")]


def _outside(t):
    f = make_hotspots(3)
    f.loc[2, "geometry"] = shapely.box(420000, 286000, 420200, 286200)
    return ["hotspots", "validate", "--boundary", write_boundary(t / "b.gpkg"), _write(f, t / "h.gpkg")]


def _boundary_points(t):
    _write(gpd.GeoDataFrame(geometry=[shapely.Point(406000, 286000)], crs=27700), t / "b.gpkg")
    return ["hotspots", "validate", "--boundary", t / "b.gpkg", _write(make_hotspots(3), t / "h.gpkg")]


def _no_file(t):
    return ["hotspots", "validate"]


def _not_policeuk(t):
    (t / "c.csv").write_text("device_id,timestamp,lat,lon\nA,2024-01-01T00:00Z,52.4,-1.9\n")
    return ["hotspots", "summary", _write(make_hotspots(3), t / "h.gpkg"), "--boundary",
            write_boundary(t / "b.gpkg"), "--crimes", t / "c.csv"]


def _summary_no_boundary(t):
    return ["hotspots", "summary", "--no-boundary", _write(make_hotspots(3), t / "h.gpkg"), "--crimes",
            write_legacy(t / "c.csv", [(406100.0, 286100.0, "Robbery", "A")])]


def _share(t):
    return ["hotspots", "build", "--crimes", write_legacy(t / "c.csv", [(406100.0, 286100.0, "Robbery", "A")]),
            "--boundary", write_boundary(t / "b.gpkg"), "--share", "140%", "--out", t / "h.geojson"]


def _too_many(t):
    return ["hotspots", "build", "--crimes", write_legacy(t / "c.csv", [(406100.0, 286100.0, "Robbery", "A")]),
            "--boundary", write_boundary(t / "b.gpkg"), "--out", t / "h.geojson"]


def _unknown_option(t):
    return ["hotspots", "validate", "--colour", "red", t / "h.gpkg"]


def _ring_distances(t):
    return ["hotspots", "rings", _write(make_hotspots(3), t / "h.gpkg"), "--distances", "100,fifty",
            "--out", t / "r.geojson"]


CORPUS = [
    (_dup_ids, 1, r"duplicate hotspot id 'H01'"),
    (_no_id_column, 1, r"no 'hotspot_id' column"),
    (_empty_id, 1, r"row 2, column 'hotspot_id': hotspot has no id"),
    (_no_crs, 1, r"no coordinate reference system"),
    (_bowtie, 1, r"hotspot 'H02' has an invalid polygon \(Self-intersection"),
    (_empty_collection, 1, r"holds no hotspots"),
    (_zero_bytes, 1, r"cannot read the file as vector data"),
    (_points, 1, r"hotspot 'H01' is a Point, not a polygon"),
    (_swapped, 1, r"latitude and longitude look swapped"),
    (_missing_path, 1, r"nowhere\.geojson: hotspot file not found"),
    (_wrong_suffix, 1, r"not a hotspot file"),
    (_toml_type, 2, r"trial\.seed: wrong type or value \(expected an integer"),
    (_timezone, 2, r"unknown time zone 'Europe/Birmingham'"),
    (_unknown_key, 2, r"unknown key 'id_collumn'.*did you mean 'id_column'"),
    (_bad_toml, 2, r"not valid TOML"),
    (_overlap, 1, r"overlapping hotspots: hotspots H01 and H02 overlap by 20,000 m²"),
    (_outside, 1, r"hotspots outside the force boundary: hotspot H03 lies 100%"),
    (_boundary_points, 1, r"the boundary file holds no polygons"),
    (_no_file, 2, r"no hotspot file given"),
    (_not_policeuk, 1, r"c\.csv: not a data\.police\.uk street-crime CSV"),
    (_summary_no_boundary, 2, r"the summary needs the force boundary"),
    (_share, 2, r"--share out of range"),
    (_too_many, 1, r"too few for 57 hotspots"),
    (_unknown_option, 2, r"unrecognized arguments: --colour"),
    (_ring_distances, 2, r"--distances does not parse"),
]


@pytest.mark.parametrize(("builder", "code", "message"), CORPUS, ids=[c[0].__name__.strip("_") for c in CORPUS])
def test_bad_input_gives_exit_code_and_one_line_message(tmp_path, capsys, builder, code, message):
    argv = builder(tmp_path)
    got, out, err = _run(capsys, argv)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1, err
    assert re.search(message, lines[0]), lines[0]
    # --json gives the same error as data on stdout
    got_json, out_json, _ = _run(capsys, [*argv, "--json"])
    assert got_json == code
    assert json.loads(out_json)["message"] in lines[0]


def test_corpus_is_at_least_twelve_cases():
    assert len(CORPUS) >= 12


def test_self_intersection_is_repaired_with_a_warning(tmp_path, capsys):
    argv = _bowtie(tmp_path)
    argv.remove("--no-repair")
    code, out, err = _run(capsys, [*argv, "--no-boundary"])
    assert code == 0
    assert "warning:" in err and "repaired invalid polygons of hotspots H02" in err
    assert "repaired polygons: H02" in out


def test_allow_flags_turn_errors_into_reports(tmp_path, capsys):
    code, out, _ = _run(capsys, [*_overlap(tmp_path), "--allow-overlaps", "--json"])
    assert code == 0
    assert json.loads(out)["overlaps"] == [{"hotspot_a": "H01", "hotspot_b": "H02", "overlap_m2": 20000.0}]


def test_validate_uses_the_config_and_sibling_boundary(tmp_path, capsys):
    toml = write_trial(tmp_path)
    write_boundary(tmp_path / "force_boundary.geojson")
    code, out, err = _run(capsys, ["hotspots", "validate", "--config", toml, "--json"])
    data = json.loads(out)
    assert code == 0 and data["hotspots"] == 6
    assert data["boundary"].endswith("force_boundary.geojson") and data["boundary_found_next_to_file"]
    assert data["area_share"] == pytest.approx(6 * 0.04 / 100, rel=1e-6)
    assert {r["block"] for r in data["table"]} == {"A", "B"}


def test_summary_and_build_end_to_end(tmp_path, capsys):
    crimes = write_legacy(tmp_path / "c.csv", clustered_points(
        [(402_075.0, 282_075.0, 40, "Broad Street"), (407_075.0, 282_075.0, 30, "High Street")], background=16))
    boundary = write_boundary(tmp_path / "b.gpkg")
    code, out, err = _run(capsys, ["hotspots", "build", "--crimes", crimes, "--boundary", boundary, "-n", "2",
                                   "--share", "0.2%", "--out", tmp_path / "h.geojson", "--json"])
    assert code == 0, err
    built = json.loads(out)
    assert [h["name"] for h in built["hotspots"]] == ["Broad Street", "High Street"]
    code, out, err = _run(capsys, ["hotspots", "summary", tmp_path / "h.geojson", "--boundary", boundary,
                                   "--crimes", crimes, "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["sentence"] == built["coverage"]["sentence"]
    assert summary["crimes_in_hotspots"] == 70 and summary["crimes_total"] == 86
    code, out, _ = _run(capsys, ["hotspots", "summary", tmp_path / "h.geojson", "--boundary", boundary,
                                 "--crimes", crimes])
    assert out.startswith("2 hotspots cover 0.20% of the force area, 81.4% of violence and 81.4% of harm")


def test_shipped_geodata_validates(capsys):
    code, out, err = _run(capsys, ["hotspots", "validate", GEODATA / "hotspots.geojson", "--boundary",
                                   GEODATA / "force_boundary.geojson", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["hotspots"] == 57
    assert 0.013 <= data["area_share"] <= 0.015
    assert 895 < data["boundary_area_km2"] < 910
    assert data["overlaps"] == [] and data["outside_boundary"] == []
    assert len({r["block"] for r in data["table"]}) >= 5


SHARED_2011 = SHARED_DATA / "police_uk" / "wm_2011-02_street_legacy.csv"


@pytest.mark.skipif(not SHARED_2011.exists(), reason="shared data absent")
def test_shipped_hotspots_are_what_the_documented_command_builds(tmp_path, capsys):
    code, out, err = _run(capsys, ["hotspots", "build", "--crimes", SHARED_2011, "--boundary",
                                   GEODATA / "force_boundary.geojson", "--districts", GEODATA / "districts.geojson",
                                   "-n", "57", "--share", "1.4%", "--cell-size", "150", "--max-radius", "2",
                                   "--min-separation", "4", "--out", tmp_path / "h.geojson"])
    assert code == 0, err
    rebuilt, shipped = gpd.read_file(tmp_path / "h.geojson"), gpd.read_file(GEODATA / "hotspots.geojson")
    cols = ["hotspot_id", "name", "block", "cells", "violent_crimes"]
    assert rebuilt[cols].equals(shipped[cols])
    assert shapely.equals_exact(rebuilt.geometry.to_numpy(), shipped.geometry.to_numpy(), tolerance=1e-9).all()
    assert "57 hotspots cover 1.40% of the force area" in out


def test_validate_table_lists_every_hotspot(capsys):
    code, out, _ = _run(capsys, ["hotspots", "validate", GEODATA / "hotspots.geojson", "--table"])
    assert code == 0
    assert all(f"H{i:02d}" in out for i in range(1, 58))


def test_rings_verb_writes_rings_for_every_hotspot(tmp_path, capsys):
    toml = write_trial(tmp_path, extra="")
    toml.write_text(toml.read_text().replace('block_column = "block"', 'block_column = "block"\nbuffer_rings_m = [50, 150]'))
    code, out, err = _run(capsys, ["hotspots", "rings", "--config", toml, "--out", tmp_path / "r.gpkg", "--json"])
    assert code == 0, err
    assert json.loads(out)["distances_m"] == [50.0, 150.0]
    rings = gpd.read_file(tmp_path / "r.gpkg")
    assert len(rings) == 12 and set(rings["ring"]) == {"0-50", "50-150"}
    assert rings.crs.to_epsg() == 27700
