"""The crimes reader against careless exports (issue 11, items 7 and 8)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyproj import Transformer

from guardian_rct._core.errors import DataError
from guardian_rct.crimes.records import read_crimes
from guardian_rct.geo.plausibility import assess_points, trial_area_bounds

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
AREA = trial_area_bounds((406000, 286000, 408000, 287200))
RNG = np.random.default_rng(11)
X = RNG.uniform(406000, 408000, 40)
Y = RNG.uniform(286000, 287200, 40)


def _frame(n=40, **cols):
    base = {"crime_id": [f"c{i}" for i in range(n)], "offence_code": ["008/01"] * n,
            "occurred_at": ["2023-05-01T10:00:00+01:00"] * n, "x": X[:n], "y": Y[:n]}
    base.update(cols)
    return pd.DataFrame(base)


def _read(path, **kw):
    return read_crimes(path, now=NOW, **kw)


def _balanced(cs):
    assert cs.n_read == len(cs.frame) + len(cs.quarantine)


@pytest.mark.parametrize("placeholder", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00+00:00", "0001-01-01"])
def test_placeholder_times_in_csv_are_quarantined_not_fatal(tmp_path, placeholder):
    times = ["2023-05-01T10:00:00+01:00"] * 40
    times[3] = placeholder
    _frame(occurred_at=times).to_csv(tmp_path / "c.csv", index=False)
    cs = _read(tmp_path / "c.csv", assume_tz="Europe/London")
    _balanced(cs)
    assert cs.quarantine.counts() == {"time out of range": 1}
    assert cs.quarantine.frame["source_row"].tolist() == [4]


def test_year_9999_parquet_timestamp_is_quarantined(tmp_path):
    times = [dt.datetime(2023, 5, 1, 9)] * 40
    times[0] = dt.datetime(9999, 12, 31)
    table = pa.Table.from_pandas(_frame().drop(columns="occurred_at"), preserve_index=False)
    table = table.append_column("occurred_at", pa.array(times, pa.timestamp("us", tz="UTC")))
    pq.write_table(table, tmp_path / "c.parquet")
    cs = _read(tmp_path / "c.parquet")
    _balanced(cs)
    assert cs.quarantine.counts() == {"time out of range": 1} and len(cs.frame) == 39
    assert cs.frame["occurred_at"].min() == pd.Timestamp("2023-05-01 09:00", tz="UTC")


@pytest.mark.parametrize("kind, values, message", [
    (pa.date32(), [dt.date(2023, 5, 1)] * 40, "date without a time of day"),
    (pa.int64(), list(range(40)), "cannot hold times"),
    (pa.bool_(), [True] * 40, "cannot hold times"),
])
def test_parquet_time_columns_that_cannot_be_times_are_refused(tmp_path, kind, values, message):
    table = pa.Table.from_pandas(_frame().drop(columns="occurred_at"), preserve_index=False)
    pq.write_table(table.append_column("occurred_at", pa.array(values, kind)), tmp_path / "c.parquet")
    with pytest.raises(DataError, match=message) as err:
        _read(tmp_path / "c.parquet", assume_tz="Europe/London")
    assert "c.parquet" in str(err.value) and "column 'occurred_at'" in str(err.value)


def test_invalid_utf8_in_a_parquet_id_column_names_column_and_row(tmp_path):
    ids = [f"c{i}".encode() for i in range(40)]
    ids[6] = b"\xff\xfe"
    frame = _frame().drop(columns="crime_id")
    table = pa.Table.from_pandas(frame, preserve_index=False).add_column(0, "crime_id", pa.array(ids, pa.binary()))
    pq.write_table(table, tmp_path / "c.parquet")
    with pytest.raises(DataError, match=r"row 7, column 'crime_id'.*not valid UTF-8"):
        _read(tmp_path / "c.parquet")


def test_lat_and_LAT_are_refused_as_one_column_twice(tmp_path):
    _frame(lat=[52.5] * 40, LAT=[52.6] * 40, lon=[-1.9] * 40).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match=r"column 'LAT'.*'lat' and 'LAT'"):
        _read(tmp_path / "c.csv")


def test_mixed_offset_and_offset_free_times_with_a_zone(tmp_path):
    times = ["2023-05-01T10:00:00+01:00", "2023-05-01 10:00", "2023-05-01T10:00:00Z", "2023-05-01T10:00"] * 10
    _frame(occurred_at=times).to_csv(tmp_path / "c.csv", index=False)
    cs = _read(tmp_path / "c.csv", assume_tz="Europe/London")
    _balanced(cs)
    assert len(cs.quarantine) == 0
    local = cs.frame["occurred_at"].iloc[[0, 1, 3]]
    assert (local == pd.Timestamp("2023-05-01 09:00", tz="UTC")).all()
    assert cs.frame["occurred_at"].iloc[2] == pd.Timestamp("2023-05-01 10:00", tz="UTC")


def test_mixed_offset_free_times_without_a_zone_are_quarantined_by_row(tmp_path):
    times = ["2023-05-01T10:00:00+01:00", "2023-05-01 10:00"] * 20
    _frame(occurred_at=times).to_csv(tmp_path / "c.csv", index=False)
    cs = _read(tmp_path / "c.csv")
    _balanced(cs)
    assert cs.quarantine.counts() == {"time without UTC offset": 20}


def _to_lonlat():
    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(X, Y)


@pytest.mark.parametrize("case, cause", [
    ("degrees_in_xy", "degrees, not metres"),
    ("swapped_xy", "x and y swapped"),
    ("swapped_latlon", "latitude and longitude swapped"),
    ("other_force", "outside the trial area"),
])
def test_implausible_coordinates_are_an_error_naming_the_cause(tmp_path, case, cause):
    lon, lat = _to_lonlat()
    if case == "degrees_in_xy":
        frame = _frame(x=lon, y=lat)
    elif case == "swapped_xy":
        frame = _frame(x=Y, y=X)
    elif case == "swapped_latlon":
        frame = _frame().drop(columns=["x", "y"]).assign(lat=lon, lon=lat)
    else:
        frame = _frame(x=X + 150_000, y=Y + 200_000)
    frame.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError) as err:
        _read(tmp_path / "c.csv", area_bounds=AREA)
    message = str(err.value)
    assert f"likely cause: {cause}" in message and "c.csv" in message and "Fix:" in message


def test_plausible_crimes_with_a_few_strays_pass(tmp_path):
    x = X.copy()
    x[:5] += 80_000  # 5 of 40 elsewhere: a handful of mis-geocoded crimes is not a wrong file
    _frame(x=x).to_csv(tmp_path / "c.csv", index=False)
    cs = _read(tmp_path / "c.csv", area_bounds=AREA)
    assert len(cs.frame) == 40
    assert assess_points(x, Y, area_bounds=AREA).share_inside == pytest.approx(35 / 40)


def test_lat_lon_crimes_in_the_area_pass_the_check(tmp_path):
    lon, lat = _to_lonlat()
    _frame().drop(columns=["x", "y"]).assign(lat=lat, lon=lon).to_csv(tmp_path / "c.csv", index=False)
    cs = _read(tmp_path / "c.csv", area_bounds=AREA)
    assert np.allclose(np.sort(cs.frame["x"]), np.sort(X), atol=0.01)
