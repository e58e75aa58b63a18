"""Report GeoPackages (layers, CRS, counts, QGIS styles) and GeoParquet (visits, panel), read back.

The weekly file is made by the real ``compliance`` verb (with ``--csv-bom``) on the
two-week trial of ``test_compliance_report``; it is opened with pyogrio/geopandas and
with plain sqlite3, as QGIS would read it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest

from conftest import make_hotspots
from guardian_rct._core.csv_output import UTF8_BOM
from guardian_rct.cli import main
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.reports.geopackage import (
    STYLE_COLUMNS,
    hotspot_outcomes,
    milestone_layers,
    write_geopackage,
)
from guardian_rct.reports.weekly import RAG_COLOURS, RAG_PALE
from test_compliance_report import _make_trial


@pytest.fixture(scope="module")
def weekly():
    tmp = Path(tempfile.mkdtemp(prefix="grct-gpkg-"))
    made = _make_trial(tmp)
    out = tmp / "report"
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out),
                 "--csv-bom", "--large-tables", "both"])  # both forms of the large tables, compared below
    assert code == 0
    yield out
    shutil.rmtree(tmp, ignore_errors=True)


def _styles(path: Path) -> dict[str, dict]:
    with sqlite3.connect(path) as con:
        con.row_factory = sqlite3.Row
        columns = [r["name"] for r in con.execute("PRAGMA table_info(layer_styles)")]
        assert set(STYLE_COLUMNS) <= set(columns), columns
        geometry = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        srs = {r[0]: r[1] for r in con.execute("SELECT table_name, srs_id FROM gpkg_geometry_columns")}
        rows = [dict(r) for r in con.execute("SELECT * FROM layer_styles WHERE useAsDefault = 1")]
    assert set(srs.values()) == {27700}
    by_layer = {}
    for row in rows:
        assert row["f_geometry_column"] == geometry[row["f_table_name"]]
        assert row["f_table_name"] not in by_layer, "one default style per layer"
        by_layer[row["f_table_name"]] = row
    assert set(by_layer) == set(geometry), "every spatial layer has a default style"
    return by_layer


def test_weekly_geopackage_has_every_layer_in_bng_with_the_report_numbers(weekly):
    path = weekly / "weekly_compliance.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"hotspots", "buffer_rings", "compliance_by_hotspot", "visits", "layer_styles"}
    assert layers["layer_styles"] is None
    frames = {name: gpd.read_file(path, layer=name) for name in layers if name != "layer_styles"}
    assert all(f.crs.to_epsg() == 27700 for f in frames.values())
    assert len(frames["hotspots"]) == 6
    rings = frames["buffer_rings"]
    assert len(rings) == 6 * 2 and set(rings["ring"]) == {"0-100", "100-200"}
    report = json.loads((weekly / "weekly_compliance.json").read_text())
    comp = frames["compliance_by_hotspot"].set_index("hotspot_id")
    for row in report["by_hotspot"]:
        assert comp.loc[row["hotspot_id"], "compliant"] == row["compliant"]
        assert comp.loc[row["hotspot_id"], "rag"] == row["rag"]
    visits_csv = pd.read_csv(weekly / "compliance_visits.csv", encoding="utf-8-sig")
    visits = frames["visits"]
    assert len(visits) == len(visits_csv) > 0
    assert sorted(visits["officer_id"]) == sorted(visits_csv["officer_id"])
    assert not visits["officer_id"].str.startswith("PC-").any()  # pseudonyms, not officer numbers
    # each visit is a point inside its own hotspot (the same point for every visit there)
    polygons = frames["hotspots"].set_index("hotspot_id").geometry
    assert (visits.geom_type == "Point").all()
    assert all(polygons[h].contains(g) for h, g in zip(visits["hotspot_id"], visits.geometry, strict=True))
    assert visits.groupby("hotspot_id").geometry.apply(lambda g: g.iloc[0].equals(g.iloc[-1])).all()


def test_weekly_layers_open_styled_in_qgis_colours(weekly):
    styles = _styles(weekly / "weekly_compliance.gpkg")
    for row in styles.values():
        root = ET.fromstring(row["styleQML"].split("\n", 1)[1])  # after the DOCTYPE line
        assert root.tag == "qgis" and root.find("renderer-v2") is not None
    renderer = ET.fromstring(styles["compliance_by_hotspot"]["styleQML"].split("\n", 1)[1]).find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "rag_style"
    colours = {}
    for cat in renderer.iter("category"):
        symbol = next(s for s in renderer.iter("symbol") if s.get("name") == cat.get("symbol"))
        fill = next(o for o in symbol.iter("Option") if o.get("name") == "color").get("value")
        colours[cat.get("value")] = fill
    layer = gpd.read_file(weekly / "weekly_compliance.gpkg", layer="compliance_by_hotspot")
    assert set(layer["rag_style"]) <= set(colours)
    # the small-numbers caution reaches QGIS: a hotspot on too few patrols is pale, as in the report
    few = layer["few"].fillna(False).astype(bool)
    assert (layer.loc[few, "rag_style"] == layer.loc[few, "rag"] + "_few").all()
    assert (layer.loc[~few, "rag_style"] == layer.loc[~few, "rag"]).all()
    for key, hex_colour in [*RAG_COLOURS.items(), *((f"{k}_few", v) for k, v in RAG_PALE.items())]:
        r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert colours[key].startswith(f"{r},{g},{b},")


def _qgis_python() -> str | None:
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return None
    probe = subprocess.run([python, "-c", "import qgis.core"], capture_output=True, timeout=60)
    return python if probe.returncode == 0 else None


def _qgis_styles(path: Path, layers: list[str]) -> dict:
    python = _qgis_python()
    if python is None:
        pytest.skip("PyQGIS not installed (apt-get install python3-qgis): QGIS itself not tried")
    run = subprocess.run([python, str(Path(__file__).with_name("qgis_style_probe.py")), str(path), *layers],
                         capture_output=True, text=True, timeout=180,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_real_qgis_opens_the_weekly_layers_styled(weekly):
    seen = _qgis_styles(weekly / "weekly_compliance.gpkg", ["hotspots", "buffer_rings", "compliance_by_hotspot",
                                                            "visits"])
    for name, info in seen.items():
        assert info["valid"] and info["crs"] == "EPSG:27700" and info["style_loaded"], (name, info)
    comp = seen["compliance_by_hotspot"]
    assert comp["renderer"] == "categorizedSymbol" and comp["attr"] == "rag_style" and comp["labels"]
    assert comp["categories"] == {**RAG_COLOURS, **{f"{k}_few": v for k, v in RAG_PALE.items()}}
    assert seen["hotspots"]["labels"] and seen["visits"]["features"] > 0


def test_real_qgis_opens_the_milestone_layer_styled(tmp_path):
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    path = write_geopackage(tmp_path / "m.gpkg", milestone_layers(hotspots, _panel_frame(), ["all_crime"],
                                                                  rings=None))
    info = _qgis_styles(path, ["outcomes_by_hotspot"])["outcomes_by_hotspot"]
    assert info["style_loaded"] and info["renderer"] == "graduatedSymbol" and info["attr"] == "rate_ratio"
    assert [r[:2] for r in info["ranges"]] == [[0, 0.8], [0.8, 1.25], [1.25, 1e9]]


def test_visits_geoparquet_reads_back_equal_to_the_csv(weekly):
    path = weekly / "compliance_visits.parquet"
    assert b"geo" in pq.read_metadata(path).metadata  # GeoParquet metadata
    geo = json.loads(pq.read_metadata(path).metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    back = gpd.read_parquet(path)
    assert back.crs.to_epsg() == 27700
    csv = pd.read_csv(weekly / "compliance_visits.csv", encoding="utf-8-sig")
    order = ["device_id", "start"]
    left = back.drop(columns="geometry").sort_values(order).reset_index(drop=True)
    right = csv.sort_values(order).reset_index(drop=True)
    assert set(back.columns) == {*csv.columns, "geometry"}
    for column in ("start", "end"):
        pd.testing.assert_series_equal(left[column].astype("datetime64[ns, UTC]"),
                                       pd.to_datetime(right[column], format="ISO8601", utc=True)
                                       .astype("datetime64[ns, UTC]"))
    for column in ("device_id", "officer_id", "hotspot_id", "n_pings"):
        assert left[column].tolist() == right[column].tolist()
    assert np.allclose(left["minutes"], right["minutes"])


def test_csv_bom_flag_reaches_every_csv_of_the_verb(weekly):
    csvs = sorted(weekly.glob("*.csv"))
    assert len(csvs) >= 10 and weekly / "quarantine.csv" in csvs
    assert all(p.read_bytes().startswith(UTF8_BOM) for p in csvs)
    patrols = pd.read_csv(weekly / "compliance_patrols.csv", encoding="utf-8-sig", dtype=str)
    assert patrols["window_start"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00").all()


def _panel_frame():
    rng = np.random.default_rng(3)
    days = pd.date_range("2023-03-20", periods=10)
    rows = []
    for d in days:
        for h in [f"H{i:02d}" for i in range(1, 7)]:
            treated = int(rng.random() < 0.5)
            rows.append({"hotspot_id": h, "date": d, "treated": treated, "count_all_crime": int(rng.poisson(2)),
                         "harm_all_crime": float(rng.gamma(2, 10)), "count_violence": int(rng.poisson(1)),
                         "harm_violence": float(rng.gamma(2, 20))})
    return pd.DataFrame(rows)


def test_hotspot_outcomes_match_a_loop():
    frame = _panel_frame()
    table = hotspot_outcomes(frame, ["all_crime", "violence"]).set_index(["hotspot_id", "outcome"])
    for (h, o), row in table.iterrows():
        sub = frame[frame["hotspot_id"] == h]
        on, off = sub[sub["treated"] == 1], sub[sub["treated"] == 0]
        assert row["patrol_days"] == len(on) and row["no_patrol_days"] == len(off)
        assert row["patrol_crimes"] == on[f"count_{o}"].sum()
        assert row["no_patrol_harm"] == pytest.approx(off[f"harm_{o}"].sum())
        if len(on) and len(off) and off[f"count_{o}"].sum() > 0:
            expected = on[f"count_{o}"].mean() / off[f"count_{o}"].mean()
            assert row["rate_ratio"] == pytest.approx(expected)
        else:
            assert np.isnan(row["rate_ratio"])


def test_milestone_geopackage_round_trip(tmp_path):
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    frame = _panel_frame()
    layers = milestone_layers(hotspots, frame, ["all_crime", "violence"], rings=None)
    path = write_geopackage(tmp_path / "milestone_layers.gpkg", layers)
    assert {n for n, _ in pyogrio.list_layers(path)} == {"hotspots", "outcomes_by_hotspot", "layer_styles"}
    out = gpd.read_file(path, layer="outcomes_by_hotspot")
    assert out.crs.to_epsg() == 27700 and len(out) == 6 * 2
    assert out.groupby("outcome")["patrol_crimes"].sum().to_dict() == {
        o: int(frame.loc[frame["treated"] == 1, f"count_{o}"].sum()) for o in ("all_crime", "violence")}
    styles = _styles(path)
    renderer = ET.fromstring(styles["outcomes_by_hotspot"]["styleQML"].split("\n", 1)[1]).find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "rate_ratio"


def test_geopackage_refuses_duplicate_layers_and_inputs(tmp_path):
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    layers = milestone_layers(hotspots, _panel_frame(), ["all_crime"], rings=None)
    with pytest.raises(ValueError, match="unique"):
        write_geopackage(tmp_path / "x.gpkg", [layers[0], layers[0]])
    wgs84 = dataclasses.replace(layers[0], frame=layers[0].frame.to_crs("EPSG:4326"))
    with pytest.raises(ValueError, match="projected CRS"):
        write_geopackage(tmp_path / "x.gpkg", [layers[1], wgs84])  # fails after a first layer was written
    assert not (tmp_path / "x.gpkg").exists() and list(tmp_path.iterdir()) == []  # no half-written file
    source = tmp_path / "hotspots.gpkg"
    source.write_bytes(b"keep")
    from guardian_rct._core.errors import UsageError

    with pytest.raises(UsageError):
        write_geopackage(source, layers, inputs=[source])
    assert source.read_bytes() == b"keep"


def test_panel_geoparquet_reads_back_equal_to_the_panel(tmp_path):
    from conftest import write_trial
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.crimes.panel import build_panel
    from guardian_rct.crimes.records import crimes_from_frame
    from test_panel import crime, make_allocation, make_rings

    config = load_config(write_trial(tmp_path, extra="[evaluation]\nbaseline_days = 30\n"))
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    days = [dt.date(2023, 3, 20), dt.date(2023, 3, 21)]
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-20T12:00:00Z")]),
                               now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes, rings=make_rings(hotspots))
    paths = panel.write(tmp_path / "out", hotspots=hotspots)
    back = gpd.read_parquet(paths["panel_geoparquet"])
    assert back.crs.to_epsg() == 27700 and b"geo" in pq.read_metadata(paths["panel_geoparquet"]).metadata
    pd.testing.assert_frame_equal(back.drop(columns="geometry")[list(panel.frame.columns)], panel.frame)
    polygons = hotspots.frame.set_index("hotspot_id").geometry
    assert all(g.equals(polygons[h]) for h, g in zip(back["hotspot_id"], back.geometry, strict=True))
    assert "panel_geoparquet" not in panel.write(tmp_path / "plain")  # only with hotspots


def test_memoised_rings_equal_fresh_rings_and_follow_ids_and_distances():
    from guardian_rct.geo.rings import buffer_rings
    from guardian_rct.reports.geopackage import rings_for

    frame = make_hotspots()
    hotspots = hotspots_from_frame(frame, block_column="block", sha256="same-file")
    first = rings_for(hotspots, (100, 200))
    assert rings_for(hotspots, [100.0, 200.0]) is first  # computed once
    pd.testing.assert_frame_equal(first, buffer_rings(hotspots, [100, 200]))
    assert len(rings_for(hotspots, (50,))) == 6
    renamed = hotspots_from_frame(frame.assign(hotspot_id=[f"X{i}" for i in range(6)]), block_column="block",
                                  sha256="same-file")  # same file hash, another id column
    assert set(rings_for(renamed, (100, 200))["hotspot_id"]) == {f"X{i}" for i in range(6)}
    assert rings_for(hotspots, ()) is None


def test_rings_started_in_the_background_are_the_rings_and_their_errors_surface(monkeypatch):
    from guardian_rct.geo.rings import buffer_rings
    from guardian_rct.reports import geopackage

    frame = make_hotspots()
    hotspots = hotspots_from_frame(frame, block_column="block", sha256="background-file")
    geopackage.start_rings(hotspots, (75, 150))
    early = geopackage.rings_for(hotspots, (75.0, 150.0))
    pd.testing.assert_frame_equal(early, buffer_rings(hotspots, [75, 150]))
    assert geopackage.rings_for(hotspots, (75, 150)) is early  # the background result, kept

    def broken(*_):
        raise RuntimeError("GEOS failed")

    monkeypatch.setattr(geopackage, "buffer_rings", broken)
    other = hotspots_from_frame(frame, block_column="block", sha256="broken-file")
    geopackage.start_rings(other, (75, 150))  # the failure happens in the thread...
    with pytest.raises(RuntimeError, match="GEOS failed"):  # ...and is raised where the rings are used
        geopackage.rings_for(other, (75, 150))
    geopackage.start_rings(other, ())  # no rings asked for: nothing started


def test_polygonal_layers_are_told_from_type_ids_as_from_geometry_type_names():
    """_polygonal reads shapely's type ids (fast); it must decide as the geometry type
    names do, missing and empty geometries included (a wrong answer would write a point
    layer as MultiPolygon or leave polygons unpromoted)."""
    import geopandas as gpd
    from shapely.geometry import LineString, MultiPolygon, Point, Polygon

    from guardian_rct.reports.geopackage import _polygonal

    tri = Polygon([(0, 0), (1, 0), (1, 1)])
    cases = [[tri], [tri, MultiPolygon([tri]), None], [Point(0, 0)], [Point(0, 0), tri], [None, None], [],
             [Polygon()], [Point()], [LineString([(0, 0), (1, 1)]), tri]]
    for geoms in cases:
        frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, dtype="geometry"), crs=27700)
        names = set(frame.geometry.geom_type.dropna().unique())
        assert _polygonal(frame) == (bool(names) and names <= {"Polygon", "MultiPolygon"}), geoms


def test_instants_a_hair_before_the_minute_are_written_as_readable_times(tmp_path):
    """GDAL rounds seconds to three decimals without carrying into the minute: a visit
    ending at 22:29:59.9996 was stored as ``22:29:60.000Z`` (seen in the 50 M-ping week's
    GeoPackage), which QGIS and pandas cannot parse. Every stored text must be a valid
    instant equal to the value rounded to the millisecond."""
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    layer = milestone_layers(hotspots, _panel_frame(), ["all_crime"], rings=None)[0]
    frame = layer.frame.copy()
    times = pd.to_datetime(["2023-05-06 22:29:59.9996", "2023-05-06 23:59:59.9999", "2023-05-06 10:00:00.0004",
                            "2023-12-31 23:59:59.9995"], utc=True)
    frame["end"] = [times[i % len(times)] for i in range(len(frame))]
    path = write_geopackage(tmp_path / "t.gpkg", [dataclasses.replace(layer, frame=frame)])
    with sqlite3.connect(path) as con:
        stored = [row[0] for row in con.execute(f'SELECT "end" FROM "{layer.name}" ORDER BY fid')]
    assert not any(":60" in text for text in stored)
    parsed = pd.to_datetime(pd.Series(stored), format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
    np.testing.assert_array_equal(parsed.to_numpy(), frame["end"].dt.round("ms").to_numpy())
    assert stored[:4] == ["2023-05-06T22:30:00.000Z", "2023-05-07T00:00:00.000Z", "2023-05-06T10:00:00.000Z",
                          "2024-01-01T00:00:00.000Z"]
