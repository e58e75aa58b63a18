"""The one CSV writer: ISO 8601 times with offsets, formula-safe cells, BOM option, safe writes."""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.csv_output import UTF8_BOM, csv_text, write_csv
from guardian_rct._core.errors import UsageError
from guardian_rct._core.output_options import csv_bom_enabled, csv_bom_scope
from guardian_rct.cli import build_parser, main
from guardian_rct.cli._common import apply_csv_bom
from guardian_rct.config.trial_config import load_config


def _frame():
    utc = pd.to_datetime(["2023-10-09T18:31:00Z", "2023-03-26T00:30:00Z", None], utc=True)
    return pd.DataFrame({
        "hotspot_id": ["H01", "=HYPERLINK(\"http://x\")", "H03"],
        "name": ["Łódź Road", "Bishop's Stortford", "-1.5"],
        "at_utc": utc,
        "at_local": utc.tz_convert("Europe/London"),
        "date": pd.to_datetime(["2023-10-09", "2023-03-26", "2023-03-27"]),
        "day_obj": [dt.date(2023, 10, 9), dt.date(2023, 3, 26), None],
        "wait": pd.to_timedelta(["1h30min", "0s", None]),
        "n": [1, 2, 3],
    })


def test_times_are_iso_8601_with_offset_and_read_back_to_the_same_instants(tmp_path):
    frame = _frame()
    path = write_csv(tmp_path / "t.csv", frame)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert raw["at_utc"].tolist() == ["2023-10-09T18:31:00+00:00", "2023-03-26T00:30:00+00:00", ""]
    # BST after the spring clock change (01:00 UTC 26 March 2023), GMT before it
    assert raw["at_local"].tolist() == ["2023-10-09T19:31:00+01:00", "2023-03-26T00:30:00+00:00", ""]
    assert raw["date"].tolist() == ["2023-10-09", "2023-03-26", "2023-03-27"]
    assert raw["day_obj"].tolist() == ["2023-10-09", "2023-03-26", ""]
    assert raw["wait"].tolist() == ["P0DT1H30M0S", "P0DT0H0M0S", ""]
    back = pd.to_datetime(raw["at_local"].replace("", None), format="ISO8601", utc=True)
    pd.testing.assert_series_equal(back, frame["at_utc"], check_names=False)
    assert raw["n"].tolist() == ["1", "2", "3"]


def test_cells_are_formula_safe_and_numbers_stay_numbers(tmp_path):
    raw = pd.read_csv(write_csv(tmp_path / "t.csv", _frame()), dtype=str)
    assert raw["hotspot_id"][1] == "'=HYPERLINK(\"http://x\")"
    assert raw["name"][2] == "-1.5"  # a plain number is not a formula


def test_a_time_without_offset_is_refused_and_the_old_file_kept(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old\n")
    naive = pd.DataFrame({"at": pd.to_datetime(["2023-10-09 18:31"])})
    with pytest.raises(ValueError, match="without a UTC offset"):
        write_csv(path, naive)
    with pytest.raises(ValueError, match="without a UTC offset"):
        csv_text(pd.DataFrame({"at": [dt.datetime(2023, 10, 9, 18, 31)]}))
    assert path.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_bom_is_off_by_default_and_on_by_option_or_scope(tmp_path):
    frame = _frame()
    plain = write_csv(tmp_path / "a.csv", frame).read_bytes()
    assert not plain.startswith(UTF8_BOM) and plain.startswith(b"hotspot_id,")
    marked = write_csv(tmp_path / "b.csv", frame, bom=True).read_bytes()
    assert marked == UTF8_BOM + plain
    with csv_bom_scope(True):
        assert write_csv(tmp_path / "c.csv", frame).read_bytes() == marked
        assert write_csv(tmp_path / "d.csv", frame, bom=False).read_bytes() == plain
    assert not csv_bom_enabled()
    # Excel's and Power BI's reading: UTF-8 with signature gives the names back intact
    back = pd.read_csv(tmp_path / "b.csv", encoding="utf-8-sig")
    assert back.columns[0] == "hotspot_id" and back["name"][0] == "Łódź Road"


def test_never_writes_over_an_input(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("keep\n")
    with pytest.raises(UsageError, match="refusing to write"):
        write_csv(source, _frame(), inputs=[source])
    assert source.read_text() == "keep\n"


def test_config_key_and_flag_turn_the_bom_on_for_one_command(tmp_path):
    for name in ("on", "off", "bad"):
        (tmp_path / name).mkdir()
    on = load_config(write_trial(tmp_path / "on", extra="[outputs]\ncsv_bom = true\n"))
    off = load_config(write_trial(tmp_path / "off"))
    assert on.outputs.csv_bom is True and off.outputs.csv_bom is False
    for config, flag, expected in ((on, False, True), (off, False, False), (off, True, True)):
        with csv_bom_scope(False):
            apply_csv_bom(argparse.Namespace(csv_bom=flag), config)
            assert csv_bom_enabled() is expected
        assert csv_bom_enabled() is False  # the scope ends with the command
    bad = write_trial(tmp_path / "bad", extra="[outputs]\ncsv_bom = \"yes\"\n")
    assert main(["status", "--config", str(bad)]) == 2


@pytest.mark.parametrize("argv", [["schedule"], ["compliance"], ["panel"], ["demo"], ["power"],
                                  ["simulate"], ["ledger", "export"]])
def test_every_verb_that_writes_csv_takes_csv_bom(argv, capsys):
    parser = build_parser(argv)
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])
    assert "--csv-bom" in capsys.readouterr().out
