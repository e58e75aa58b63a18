"""Ping reading: the bad-input corpus, chunking, formats, and read = used + quarantined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.compliance.ping_types import REASONS, PingOptions
from guardian_rct.compliance.pings import area_around, read_pings

AREA = area_around((405000, 285000, 408000, 288000))
AREA_LL = (-2.6, 52.0, -1.2, 53.0)  # roughly the same 50 km around Birmingham
HEADER = "device_id,timestamp,lat,lon,officer_id,team,accuracy_m"
GOOD = "R1,2023-05-01T10:00:00+01:00,52.48,-1.90,PC1,Alpha,5"

# (row, expected reason): one row per kind of bad input.
CORPUS = [
    (",2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,5", "missing device id"),
    ("R2,,52.48,-1.90,PC1,Alpha,5", "missing timestamp"),
    ("R2,2023-05-01T10:00:00,52.48,-1.90,PC1,Alpha,5", "timestamp without offset"),
    ("R2,2023-13-45T10:00:00Z,52.48,-1.90,PC1,Alpha,5", "timestamp does not parse"),
    ("R2,1999-08-22T10:00:00Z,52.48,-1.90,PC1,Alpha,5", "implausible timestamp (before 2000)"),
    ("R2,2023-05-01T10:00:00Z,,-1.90,PC1,Alpha,5", "missing coordinates"),
    ("R2,2023-05-01T10:00:00Z,52.4x,-1.90,PC1,Alpha,5", "coordinates not numeric"),
    ("R2,2023-05-01T10:00:00Z,152.4,-191.0,PC1,Alpha,5", "impossible coordinates"),
    ("R2,2023-05-01T10:00:00Z,inf,-1.90,PC1,Alpha,5", "impossible coordinates"),
    ("R2,2023-05-01T10:00:00Z,0,0,PC1,Alpha,5", "zero coordinates (0, 0)"),
    ("R2,2023-05-01T10:00:00Z,-1.90,52.48,PC1,Alpha,5", "latitude and longitude swapped"),
    ("R2,2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,abc", "accuracy not numeric"),
    ("R2,2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,-3", "negative accuracy"),
    ("R2,2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,500", "accuracy worse than max_accuracy_m"),
    (GOOD, "exact duplicate"),
    # Same instant written in another offset is the same fix: also a duplicate.
    ("R1,2023-05-01T09:00:00Z,52.48,-1.90,PC1,Alpha,5", "exact duplicate"),
]


def _write(tmp_path: Path, lines: list[str], name: str = "pings.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_input_corpus_each_row_quarantined_with_its_reason(tmp_path):
    path = _write(tmp_path, [HEADER, GOOD] + [row for row, _ in CORPUS] + ["R3,2023-05-01T10:00:00Z,52.49,-1.91,,,"])
    pings = read_pings(path, PingOptions(area=AREA, area_lonlat=AREA_LL))
    assert pings.n_read == len(CORPUS) + 2
    assert pings.n_read == pings.n_used + len(pings.quarantine)
    assert pings.n_used == 2
    q = pings.quarantine.frame
    assert q["source_row"].tolist() == list(range(2, len(CORPUS) + 2))
    assert q["reason"].tolist() == [reason for _, reason in CORPUS]
    assert len({reason for _, reason in CORPUS}) >= 10
    assert set(q["reason"]) <= set(REASONS.values())
    # The quarantine keeps the original text so a user can fix the row.
    assert q.loc[q["reason"] == "coordinates not numeric", "lat"].iloc[0] == "52.4x"
    counts = pings.to_dict()["quarantine_reasons"]
    assert sum(counts.values()) == len(CORPUS)


def test_naive_timestamps_are_used_when_a_zone_is_named(tmp_path):
    path = _write(tmp_path, [HEADER, "R2,2023-05-01T10:00:00,52.48,-1.90,PC1,Alpha,5",
                             "R2,2023-03-26T01:30:00,52.48,-1.90,PC1,Alpha,5"])
    pings = read_pings(path, PingOptions(area=AREA, area_lonlat=AREA_LL, timezone="Europe/London"))
    assert pings.frame["time"].iloc[0] == pd.Timestamp("2023-05-01T09:00:00Z")
    # 01:30 on the spring-forward night does not exist in London.
    assert pings.quarantine.frame["reason"].tolist() == ["nonexistent or ambiguous local time"]
    with pytest.raises(UsageError, match="unknown time zone"):
        read_pings(path, PingOptions(timezone="Mars/Olympus"))


def test_lat_lon_projected_to_bng(tmp_path):
    path = _write(tmp_path, [HEADER, GOOD])
    frame = read_pings(path, PingOptions(area=AREA, area_lonlat=AREA_LL)).frame
    # Birmingham: about (406 900, 286 900) in British National Grid.
    assert 406_000 < frame["x"].iloc[0] < 408_000
    assert 286_000 < frame["y"].iloc[0] < 288_000


@pytest.mark.parametrize("lines, message", [
    ([], "ping file is empty"),
    (["device_id,lat,lon", "R1,52,-1"], "missing column(s) timestamp"),
    (["device_id,timestamp,easting", "R1,2023-05-01T10:00:00Z,1"], "lat/lon or x/y"),
    ([HEADER, GOOD, "R1,2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,5,extra,fields"], "cannot read the ping CSV"),
])
def test_file_level_problems_raise_clear_errors(tmp_path, lines, message):
    path = _write(tmp_path, lines)
    with pytest.raises(DataError) as info:
        read_pings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "Fix:" in str(info.value)


def test_missing_unsupported_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="ping file not found"):
        read_pings(tmp_path / "nope.csv")
    (tmp_path / "pings.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported ping file type"):
        read_pings(tmp_path / "pings.xlsx")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read the ping file as Parquet"):
        read_pings(tmp_path / "broken.parquet")
    (tmp_path / "latin.csv").write_bytes(HEADER.encode() + b"\nR\xe9,2023-05-01T10:00:00Z,52.4,-1.9,,,\n")
    with pytest.raises(DataError, match="UTF-8"):
        read_pings(tmp_path / "latin.csv")


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2023-05-01T00:00:00Z") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    frame = pd.DataFrame({"device_id": rng.choice(["R1", "R2", "R3"], n),
                          "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "x": 406000 + rng.uniform(0, 500, n), "y": 286000 + rng.uniform(0, 500, n),
                          "officer_id": rng.choice(["A", "B"], n), "team": "T", "accuracy_m": 5.0})
    frame.loc[3, "x"] = np.nan
    return frame


def test_chunked_reading_matches_one_chunk_and_finds_duplicates_across_chunks(tmp_path):
    frame = _frame(5000)
    frame = pd.concat([frame, frame.iloc[[10, 20, 4000]]], ignore_index=True)  # duplicates far apart
    frame.to_parquet(tmp_path / "p.parquet")
    whole = read_pings(tmp_path / "p.parquet", PingOptions(chunk_rows=10_000_000))
    chunked = read_pings(tmp_path / "p.parquet", PingOptions(chunk_rows=700))
    pd.testing.assert_frame_equal(whole.frame, chunked.frame)
    pd.testing.assert_frame_equal(whole.quarantine.frame, chunked.quarantine.frame)
    assert chunked.quarantine.counts() == {"exact duplicate": 3, "missing coordinates": 1}
    assert chunked.quarantine.frame["source_row"].tolist() == [4, 5001, 5002, 5003]
    assert chunked.n_read == 5003 == chunked.n_used + len(chunked.quarantine)


def test_csv_and_parquet_give_the_same_pings(tmp_path):
    frame = _frame(300)
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet")
    a = read_pings(tmp_path / "p.csv")
    b = read_pings(tmp_path / "p.parquet")
    cols = ["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m", "source_row"]
    pd.testing.assert_frame_equal(a.frame[cols], b.frame[cols], check_exact=False, rtol=1e-12)


def test_parquet_timestamp_types(tmp_path):
    frame = _frame(20).drop(columns="timestamp")
    frame["timestamp"] = pd.date_range("2023-05-01 10:00", periods=20, freq="min", tz="Europe/London")
    frame.to_parquet(tmp_path / "aware.parquet")
    aware = read_pings(tmp_path / "aware.parquet")
    assert aware.frame["time"].iloc[0] == pd.Timestamp("2023-05-01T09:00:00Z")
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None)
    frame.to_parquet(tmp_path / "naive.parquet")
    naive = read_pings(tmp_path / "naive.parquet")
    # The first reason that applies is given: the row without x is reported for its time.
    assert naive.quarantine.counts() == {"timestamp without offset": 20}
    zoned = read_pings(tmp_path / "naive.parquet", PingOptions(timezone="Europe/London"))
    assert zoned.frame["time"].iloc[0] == pd.Timestamp("2023-05-01T09:00:00Z")


def test_folder_of_files_read_in_name_order(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    _frame(50, 1).to_parquet(folder / "part-1.parquet")
    _frame(40, 2).to_parquet(folder / "part-0.parquet")
    pings = read_pings(folder)
    assert pings.n_read == 90
    assert [Path(s).name for s in pings.sources] == ["part-0.parquet", "part-1.parquet"]
    with pytest.raises(DataError, match="no ping files"):
        (tmp_path / "empty").mkdir()
        read_pings(tmp_path / "empty")


def test_parquet_numeric_ids_and_column_names_in_any_case(tmp_path):
    frame = pd.DataFrame({"Device_ID": [1, 2, None], "TimeStamp": ["2023-05-01T10:00:00Z"] * 3,
                          " X ": [406100.0, 406200.0, 406300.0], "Y": [286100.0, 286100.0, 286100.0]})
    frame.to_parquet(tmp_path / "p.parquet")
    pings = read_pings(tmp_path / "p.parquet")
    assert pings.frame["device_id"].tolist() == ["1", "2"]
    assert pings.quarantine.counts() == {"missing device id": 1}


def test_parquet_duplicates_are_quarantined_in_the_same_text_as_other_bad_rows(tmp_path):
    """A Parquet file has no text "as read": every quarantined row, a duplicate or a row that
    failed a check, is written in one text form (Arrow's), not two."""
    ts = pd.to_datetime(["2023-05-01T09:00:00.250Z", "2023-05-01T09:00:05.000Z", "2023-05-01T09:00:00.250Z"], utc=True)
    frame = pd.DataFrame({"device_id": ["R1", "R1", "R1"], "timestamp": ts, "lat": [52.48, np.nan, 52.48],
                          "lon": [-1.90, -1.90, -1.90], "accuracy_m": [4.0, 4.0, 4.0]})
    frame.to_parquet(tmp_path / "p.parquet")
    q = read_pings(tmp_path / "p.parquet", PingOptions(area=AREA, area_lonlat=AREA_LL)).quarantine.frame
    assert q["reason"].tolist() == ["missing coordinates", "exact duplicate"]
    assert q["timestamp"].tolist() == ["2023-05-01 09:00:05.000000Z", "2023-05-01 09:00:00.250000Z"]
    assert q["accuracy_m"].tolist() == ["4", "4"]


@pytest.mark.parametrize("chunk_rows", [1000, 400_000])  # the bad row in a later block, and in the first
def test_a_row_with_too_many_fields_is_named_by_its_row_number(tmp_path, chunk_rows):
    """Arrow's CSV reader fails for the whole block it reads and names no line number: the
    error must still give the row to fix, not the block's first row."""
    bad_row = 3_000 + 17
    lines = [HEADER, *[GOOD] * (bad_row - 1), "R1,2023-05-01T10:00:00Z,52.48,-1.90,PC1,Alpha,5,extra,fields", GOOD]
    path = _write(tmp_path, lines)
    with pytest.raises(DataError) as info:
        read_pings(path, PingOptions(chunk_rows=chunk_rows))
    assert f"row {bad_row}:" in str(info.value) and "cannot read the ping CSV" in str(info.value)
