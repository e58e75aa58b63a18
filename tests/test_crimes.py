"""Force crime records: the contract, quarantine with reasons, counts that add up."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from guardian_rct._core.errors import DataError
from guardian_rct.crimes.records import crimes_from_frame, read_crimes

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def rows(**overrides):
    base = {"crime_id": "C1", "offence_code": "008/06", "occurred_at": "2023-05-01T12:00:00+01:00",
            "x": "406100", "y": "286100"}
    base.update(overrides)
    return base


def test_contract_columns_and_derived_crime_type(tmp_path):
    frame = pd.DataFrame([rows(), rows(crime_id="C2", offence_code="Robbery", victim_age="17",
                                       detection="Reactive"),
                          rows(crime_id="C3", offence_code="8/1")])
    frame.to_csv(tmp_path / "c.csv", index=False)
    crimes = read_crimes(tmp_path / "c.csv", now=NOW)
    f = crimes.frame
    assert list(f.columns[:8]) == ["crime_id", "offence_code", "crime_type", "occurred_at", "x", "y",
                                   "victim_age", "detection"]
    assert f["offence_code"].tolist()[0] == "008/06" and pd.isna(f["offence_code"].iloc[1])
    assert f["offence_code"].iloc[2] == "008/01"
    assert f["crime_type"].tolist() == ["Violence and sexual offences", "Robbery", "Violence and sexual offences"]
    assert f["occurred_at"].iloc[0] == pd.Timestamp("2023-05-01T11:00:00Z")
    assert f["victim_age"].iloc[1] == 17 and np.isnan(f["victim_age"].iloc[0])
    assert f["detection"].iloc[1] == "reactive"
    assert crimes.summary() == {"read": 3, "used": 3, "quarantined": 0, "quarantine_reasons": {}}
    assert list(crimes.sources) == [str(tmp_path / "c.csv")]


def test_unusable_rows_are_quarantined_with_reasons_and_counts_add_up(tmp_path):
    frame = pd.DataFrame([
        rows(crime_id="ok"),
        rows(crime_id="noloc", x="", y=""),
        rows(crime_id="null-island", x="0", y="0"),
        rows(crime_id="badcode", offence_code="8N?"),
        rows(crime_id="nocode", offence_code=""),
        rows(crime_id="old", occurred_at="1989-12-31T23:00:00Z"),
        rows(crime_id="future", occurred_at="2030-01-01T00:00:00Z"),
        rows(crime_id="naive", occurred_at="2023-05-01T12:00:00"),
        rows(crime_id="garbage", occurred_at="yesterday+01:00"),
        rows(crime_id="age", victim_age="twelve"),
        rows(crime_id="age2", victim_age="130"),
        rows(crime_id="det", detection="maybe"),
        rows(crime_id="ok"),
        rows(crime_id=""),
    ])
    crimes = crimes_from_frame(frame, source="crimes.csv", now=NOW)
    q = crimes.quarantine.frame.set_index("crime_id")["reason"]
    assert crimes.frame["crime_id"].tolist() == ["ok"]
    assert q["noloc"] == "missing coordinates" and q["null-island"] == "missing coordinates"
    assert q["badcode"] == "unparseable offence code" and q["nocode"] == "missing offence code"
    assert q["old"] == q["future"] == "time outside 1990..today"
    assert q["naive"] == "time without UTC offset"
    assert q["garbage"] == "unparseable time"
    assert q["age"] == q["age2"] == "victim age not a number from 0 to 120"
    assert q["det"] == "detection not 'reactive' or 'proactive'"
    assert q[""] == "missing crime_id"
    dup = crimes.quarantine.frame[crimes.quarantine.frame["reason"] == "duplicate crime_id"]
    assert dup["source_row"].tolist() == [13]
    s = crimes.summary()
    assert s["read"] == len(frame) == s["used"] + s["quarantined"]
    assert sum(s["quarantine_reasons"].values()) == s["quarantined"]


def test_naive_times_accepted_with_a_named_zone():
    frame = pd.DataFrame([rows(occurred_at="2023-05-01T12:00:00"), rows(crime_id="C2",
                          occurred_at="2023-01-01T12:00:00")])
    crimes = crimes_from_frame(frame, assume_tz="Europe/London", now=NOW)
    assert crimes.frame["occurred_at"].tolist() == [pd.Timestamp("2023-05-01T11:00Z"),
                                                    pd.Timestamp("2023-01-01T12:00Z")]


def test_time_windows_placed_at_midpoint_and_long_windows_quarantined():
    frame = pd.DataFrame([
        {"crime_id": "w1", "offence_code": "028/01", "occurred_from": "2023-05-01T22:00:00+01:00",
         "occurred_to": "2023-05-02T08:00:00+01:00", "x": 1, "y": 2},
        {"crime_id": "w2", "offence_code": "028/01", "occurred_from": "2023-05-01T22:00:00Z",
         "occurred_to": "2023-05-03T08:00:00Z", "x": 1, "y": 2},
        {"crime_id": "w3", "offence_code": "028/01", "occurred_from": "2023-05-02T22:00:00Z",
         "occurred_to": "2023-05-01T08:00:00Z", "x": 1, "y": 2},
        {"crime_id": "w4", "offence_code": "028/01", "occurred_from": "2023-05-02T22:00:00Z",
         "occurred_to": "", "x": 1, "y": 2},
    ])
    crimes = crimes_from_frame(frame, now=NOW)
    f = crimes.frame.set_index("crime_id")
    assert f.loc["w1", "occurred_at"] == pd.Timestamp("2023-05-02T02:00:00Z")
    assert f.loc["w1", "occurred_window_h"] == 10
    assert f.loc["w4", "occurred_at"] == pd.Timestamp("2023-05-02T22:00:00Z")
    q = crimes.quarantine.frame.set_index("crime_id")["reason"]
    assert q["w2"] == "time window longer than a day"
    assert q["w3"] == "time window ends before it starts"


def test_lat_lon_reprojected_to_the_trial_crs(tmp_path):
    lat, lon = 52.4797, -1.9026
    frame = pd.DataFrame([{"crime_id": "a", "offence_code": "049/01", "occurred_at": "2023-05-01T12:00Z",
                           "lat": lat, "lon": lon},
                          {"crime_id": "b", "offence_code": "049/01", "occurred_at": "2023-05-01T12:00Z",
                           "lat": 95, "lon": lon}])
    frame.to_parquet(tmp_path / "c.parquet")
    crimes = read_crimes(tmp_path / "c.parquet", now=NOW)
    ex, ey = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(lon, lat)
    assert crimes.frame["x"].iloc[0] == pytest.approx(ex) and crimes.frame["y"].iloc[0] == pytest.approx(ey)
    assert 400_000 < ex < 420_000  # Birmingham in British National Grid
    assert crimes.quarantine.frame["reason"].tolist() == ["coordinates out of range"]


def test_wrong_files_raise_clear_errors(tmp_path):
    street = tmp_path / "street.csv"
    street.write_text("Crime ID,Month,Longitude,Latitude,Crime type\nx,2023-01,-1.9,52.4,Robbery\n")
    with pytest.raises(DataError, match="data.police.uk street file"):
        read_crimes(street)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="cannot read the crime file"):
        read_crimes(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("crime_id,offence_code,occurred_at,x,y\n")
    with pytest.raises(DataError, match="no rows"):
        read_crimes(tmp_path / "head.csv")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(DataError, match="CSV or Parquet"):
        read_crimes(tmp_path / "c.json")
    with pytest.raises(DataError, match="not found"):
        read_crimes(tmp_path / "missing.csv")


def test_duplicates_across_files_are_quarantined(tmp_path):
    pd.DataFrame([rows()]).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame([rows(), rows(crime_id="C9")]).to_csv(tmp_path / "b.csv", index=False)
    crimes = read_crimes([tmp_path / "a.csv", tmp_path / "b.csv"], now=NOW)
    assert crimes.frame["crime_id"].tolist() == ["C1", "C9"]
    q = crimes.quarantine.frame
    assert q["reason"].tolist() == ["duplicate crime_id"]
    assert q["source"].tolist() == [str(tmp_path / "b.csv")] and q["source_row"].tolist() == [1]


def test_parquet_timestamps_and_all_naive_times(tmp_path):
    frame = pd.DataFrame({"crime_id": ["a", "b"], "offence_code": ["008/01", "008/06"],
                          "occurred_at": pd.to_datetime(["2023-05-01T12:00:00+01:00",
                                                         "2023-05-01T13:30:00+01:00"], utc=True),
                          "x": [1.0, 2.0], "y": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "aware.parquet")
    crimes = read_crimes(tmp_path / "aware.parquet", now=NOW)
    assert crimes.frame["occurred_at"].tolist() == frame["occurred_at"].tolist()
    frame.assign(occurred_at=frame["occurred_at"].dt.tz_localize(None)).to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(DataError, match="--crimes-timezone"):
        read_crimes(tmp_path / "naive.parquet", now=NOW)
    local = read_crimes(tmp_path / "naive.parquet", now=NOW, assume_tz="Europe/London")
    assert local.frame["occurred_at"].iloc[0] == pd.Timestamp("2023-05-01T10:00:00Z")
