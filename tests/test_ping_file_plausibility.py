"""Whole-file faults in a ping file end the job with a message naming the likely cause
(exit 1), never a 0 % report: degrees given as x/y, latitude and longitude swapped,
another area's pings, last week's file for this week (issue 11, item 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from guardian_rct.cli import main
from test_compliance_report import _make_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    return _make_trial(tmp_path_factory.mktemp("plausibility"))


def _run(trial, pings, tmp_path, capsys, week="2023-W18", extra=()):
    out = tmp_path / "report"
    code = main(["compliance", "--config", str(trial["config"]), "--pings", str(pings),
                 "--allocation", str(trial["allocation"]), "--week", week, "--out", str(out), *extra])
    return code, capsys.readouterr().err, out


def _good(trial) -> pd.DataFrame:
    return pd.read_csv(trial["pings"]).iloc[:-4]  # without the deliberate bad rows


def _lonlat(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    return to_ll.transform(frame["x"].to_numpy(), frame["y"].to_numpy())


def test_the_good_file_passes(trial, tmp_path, capsys):
    path = tmp_path / "good.csv"
    _good(trial).to_csv(path, index=False)
    code, err, out = _run(trial, path, tmp_path, capsys)
    assert code == 0, err
    assert (out / "weekly_compliance.html").exists()


def test_degrees_written_as_x_y_are_refused(trial, tmp_path, capsys):
    frame = _good(trial)
    frame["x"], frame["y"] = _lonlat(frame)
    path = tmp_path / "degrees.csv"
    frame.to_csv(path, index=False)
    code, err, out = _run(trial, path, tmp_path, capsys)
    assert code == 1
    assert "look like degrees" in err and "lon and lat" in err and str(path) in err
    assert not (out / "weekly_compliance.html").exists()


def test_swapped_latitude_and_longitude_are_refused(trial, tmp_path, capsys):
    frame = _good(trial)
    lon, lat = _lonlat(frame)
    frame = frame.drop(columns=["x", "y"]).assign(lat=lon, lon=lat)  # swapped
    path = tmp_path / "swapped.csv"
    frame.to_csv(path, index=False)
    code, err, _ = _run(trial, path, tmp_path, capsys)
    assert code == 1 and "latitude and longitude swapped" in err and "swap the lat and lon" in err


def test_another_areas_pings_are_refused(trial, tmp_path, capsys):
    frame = _good(trial)
    frame["x"] += 250_000  # 250 km east: someone else's force
    path = tmp_path / "elsewhere.csv"
    frame.to_csv(path, index=False)
    code, err, _ = _run(trial, path, tmp_path, capsys)
    assert code == 1 and "more than 50 km from every hotspot" in err


def test_last_weeks_file_for_this_week_is_refused(trial, tmp_path, capsys):
    frame = _good(trial)
    t = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame = frame[t < pd.Timestamp("2023-05-01T05:00:00Z")]  # week 17 only
    path = tmp_path / "last_week.csv"
    frame.to_csv(path, index=False)
    code, err, _ = _run(trial, path, tmp_path, capsys)
    assert code == 1 and "do not overlap the reporting period 2023-W18" in err and "last week" in err
    code, err, _ = _run(trial, path, tmp_path, capsys, week="2023-W17")
    assert code == 0, err


def test_a_few_stray_fixes_do_not_stop_the_week(trial, tmp_path, capsys):
    frame = _good(trial)
    stray = frame.iloc[:20].copy()
    stray["x"] += 250_000
    path = tmp_path / "stray.csv"
    pd.concat([frame, stray.assign(timestamp=stray["timestamp"].str.replace(":00+", ":30+"))]).to_csv(
        path, index=False)
    code, err, _ = _run(trial, path, tmp_path, capsys)
    assert code == 0, err


def test_identifying_columns_never_reach_the_written_quarantine(trial, tmp_path, capsys):
    frame = _good(trial)
    frame["collar_number"] = "C-" + frame.index.astype(str)
    frame["officer_name"] = "Officer " + frame["officer_id"]
    frame["imei"] = (356938035643809 + frame.index).astype(str)
    frame.loc[:30, "timestamp"] = frame.loc[:30, "timestamp"].str.slice(0, 19)  # no offset: quarantined
    path = tmp_path / "extra_columns.parquet"
    frame.to_parquet(path)
    code, err, out = _run(trial, path, tmp_path, capsys, extra=["--large-tables", "both"])
    assert code == 0, err
    for q, text in ((pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False),
                     (out / "quarantine.csv").read_text()),
                    (pd.read_parquet(out / "quarantine.parquet"),
                     (out / "quarantine.parquet").read_bytes().decode("latin-1"))):
        assert len(q) == 31 and set(q["reason"]) == {"timestamp without offset"}
        assert not {"collar_number", "officer_name", "imei"} & set(q.columns)
        for raw in ("C-1", "Officer PC-", "356938035643", "PC-100", "R-PC-"):
            assert raw not in text
        assert q["officer_id"].str.match(r"^O-[0-9a-f]{16}$").all()
        assert q["device_id"].str.match(r"^D-[0-9a-f]{16}$").all()


def test_the_evaluation_refuses_the_same_faults(trial, tmp_path):
    """``evaluate --pings`` scores pings through jobs.milestone_inputs: a file in degrees
    must stop it with the cause too, not become a CACE on 0 % delivery."""
    from guardian_rct._core.errors import DataError
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.design.allocation import read_allocation_csv
    from guardian_rct.jobs.milestone_inputs import compliance_from_pings
    from guardian_rct.ledger.store import load_trial_hotspots

    config = load_config(trial["config"])
    hotspots = load_trial_hotspots(config)
    allocation = read_allocation_csv(trial["allocation"])
    good = tmp_path / "good.csv"
    _good(trial).to_csv(good, index=False)
    assert len(compliance_from_pings(config, hotspots, allocation, good)) > 0
    frame = _good(trial)
    frame["x"], frame["y"] = _lonlat(frame)
    bad = tmp_path / "degrees.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataError, match="look like degrees"):
        compliance_from_pings(config, hotspots, allocation, bad)
