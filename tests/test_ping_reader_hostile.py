"""The ping reader against careless exports and identifying columns (issue 11, pings).

Out-of-range timestamps are quarantined (never fatal), Parquet types that cannot hold
instants are refused, extra identifying columns never reach the quarantine, identifiers
in quarantine.csv are pseudonymised, and a spilled quarantine equals an in-memory one.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guardian_rct._core.errors import DataError
from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct._core.quarantine import Quarantine, QuarantineSpool, quarantine_rows
from guardian_rct.compliance.ping_types import QUARANTINE_COLUMNS, PingOptions
from guardian_rct.compliance.pings import read_pings


def _table(ts: pa.Array, **extra) -> pa.Table:
    n = len(ts)
    return pa.table({"device_id": [f"R{i}" for i in range(n)], "timestamp": ts,
                     "lat": [52.48] * n, "lon": [-1.9] * n, **extra})


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_out_of_range_timestamps_are_quarantined_not_fatal(tmp_path, unit):
    values = [dt.datetime(2023, 5, 1, 10), dt.datetime(1999, 12, 31, 23, 59), dt.datetime(2100, 1, 1)]
    if unit != "ns":  # beyond the nanosecond range: year 9999 and 0001-01-01 placeholders
        values += [dt.datetime(9999, 12, 31), dt.datetime(1, 1, 1)]
    path = tmp_path / "p.parquet"
    pq.write_table(_table(pa.array(values, pa.timestamp(unit, tz="UTC"))), path)
    pings = read_pings(path)
    assert pings.n_read == len(values) == pings.n_used + len(pings.quarantine)
    assert pings.frame["time"].tolist() == [pd.Timestamp("2023-05-01T10:00:00Z")]
    reasons = pings.quarantine.frame.set_index("source_row")["reason"].to_dict()
    assert reasons[2] == "implausible timestamp (before 2000)"
    assert reasons[3] == "implausible timestamp (2100 or later)"
    if unit != "ns":
        assert reasons[4] == "implausible timestamp (2100 or later)"
        assert reasons[5] == "implausible timestamp (before 2000)"


def test_csv_out_of_range_timestamps_are_quarantined_not_fatal(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("device_id,timestamp,lat,lon\nR1,9999-01-01T00:00:00Z,52.48,-1.9\n"
                    "R1,0001-01-01T00:00:00Z,52.48,-1.9\nR1,2023-05-01T00:00:00Z,52.48,-1.9\n")
    pings = read_pings(path)
    assert pings.quarantine.frame["reason"].tolist() == ["implausible timestamp (2100 or later)",
                                                         "implausible timestamp (before 2000)"]
    assert pings.n_used == 1


@pytest.mark.parametrize("array, message", [
    (pa.array([dt.date(2023, 5, 1)] * 2, pa.date32()), "dates without a time of day"),
    (pa.array([dt.date(2023, 5, 1)] * 2, pa.date64()), "dates without a time of day"),
    (pa.array([1683000000, 1683000060], pa.int64()), "cannot hold timestamps (int64)"),
    (pa.array([1.5, 2.5], pa.float64()), "cannot hold timestamps (double)"),
    (pa.array([True, False]), "cannot hold timestamps (bool)"),
    (pa.array([b"x", b"y"], pa.binary()), "cannot hold timestamps (binary)"),
])
def test_parquet_timestamp_types_that_cannot_be_instants_are_refused(tmp_path, array, message):
    path = tmp_path / "p.parquet"
    pq.write_table(_table(array), path)
    with pytest.raises(DataError) as info:
        read_pings(path)
    text = str(info.value)
    assert message in text and str(path) in text and "Fix:" in text and "\n" not in text


def test_duplicated_column_names_are_refused_with_a_message(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("device_id,timestamp,lat,LAT,lon\nR1,2023-05-01T00:00:00Z,52.48,52.1,-1.9\n")
    with pytest.raises(DataError, match="2 columns that mean 'lat'"):
        read_pings(path)


def test_invalid_utf8_in_a_parquet_id_column_is_a_clear_error(tmp_path):
    path = tmp_path / "p.parquet"
    ids = pa.array([b"R1", b"R\xe9"], pa.binary()).cast(pa.string(), safe=False)
    pq.write_table(_table(pa.array([dt.datetime(2023, 5, 1)] * 2, pa.timestamp("us", tz="UTC"))).set_column(
        0, "device_id", ids), path)
    try:
        pings = read_pings(path)
    except DataError as exc:
        assert str(path) in str(exc) and "Fix:" in str(exc)
    else:  # Arrow may accept the bytes; then the row is read, never an internal error
        assert pings.n_read == 2


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_identifying_extra_columns_never_reach_the_quarantine(tmp_path, kind):
    frame = pd.DataFrame({"device_id": ["R1", "R2"], "timestamp": ["2023-05-01T10:00:00Z", "2023-13-45T10:00:00Z"],
                          "lat": ["52.48", "52.48"], "lon": ["-1.9", "-1.9"], "officer_id": ["PC1", "PC2"],
                          "collar_number": ["C-4471", "C-4472"], "officer_name": ["Jane Roe", "John Doe"],
                          "imei": ["356938035643809", "356938035643810"]})
    path = tmp_path / f"p.{kind}"
    frame.to_csv(path, index=False) if kind == "csv" else frame.to_parquet(path)
    pings = read_pings(path)
    q = pings.quarantine.frame
    assert len(q) == 1 and q["reason"].iloc[0] == "timestamp does not parse"
    assert set(q.columns) - {"source", "source_row", "reason"} <= set(QUARANTINE_COLUMNS)
    out = tmp_path / "quarantine.csv"
    officers = Pseudonymiser(b"k" * 32)
    pings.quarantine.write_csv(out, transforms={"officer_id": officers.many,
                                                "device_id": officers.for_devices().many})
    text = out.read_text()
    for secret in ("C-4472", "John Doe", "356938035643810", "PC2", "R2,"):
        assert secret not in text
    assert officers("PC2") in text and officers.for_devices()("R2") in text


def _quarantine(n: int, start: int) -> Quarantine:
    rows = pd.DataFrame({"device_id": [f"D{i}" for i in range(start, start + n)], "lat": "x"})
    reasons = pd.Series(np.where(np.arange(n) % 3 == 0, "a", "b"))
    return quarantine_rows(rows, reasons, source="f.csv", source_row=pd.Series(np.arange(start, start + n)))


def test_spooled_quarantine_equals_the_in_memory_one_and_is_removed(tmp_path):
    memory = QuarantineSpool(QUARANTINE_COLUMNS)
    disk = QuarantineSpool(QUARANTINE_COLUMNS, max_rows_in_memory=10)
    for start in (1, 40, 41, 200):
        for spool in (memory, disk):
            spool.add(_quarantine(17, start))
    a, b = memory.finish(), disk.finish()
    assert a.spilled is None and b.spilled is not None and b.spilled.path.exists()
    assert len(a) == len(b) == 68 and a.counts() == b.counts() == {"b": 44, "a": 24}
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    a.write_csv(tmp_path / "a.csv")
    b.write_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    spill = b.spilled.path
    del b
    import gc
    gc.collect()
    assert not spill.exists()


def test_read_pings_options_still_apply_after_projection(tmp_path):
    # Canonical renaming must not change what is read from oddly cased headers.
    path = tmp_path / "p.csv"
    path.write_text(" Device_ID ,TIMESTAMP,Lat,LON,Accuracy_M\nR1,2023-05-01T00:00:00Z,52.48,-1.9,500\n")
    pings = read_pings(path, PingOptions(max_accuracy_m=100))
    assert pings.quarantine.frame["reason"].tolist() == ["accuracy worse than max_accuracy_m"]
    assert pings.quarantine.frame["accuracy_m"].tolist() == ["500"]


def test_prefetch_keeps_order_raises_where_the_error_was_and_stops_early():
    from guardian_rct.compliance.pings import prefetch

    assert list(prefetch(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise DataError("boom at item 3")

    seen = []
    with pytest.raises(DataError, match="boom at item 3"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1, 2]
    import threading

    before = threading.active_count()
    for item in prefetch(iter(range(10_000))):
        if item == 3:
            break
    import time

    time.sleep(0.3)
    assert threading.active_count() <= before


@pytest.mark.parametrize("max_rows", [10_000, 10])  # kept in memory, and spilled to disk
@pytest.mark.parametrize("batch_rows", [25, 1000])  # stored after each part, and all at once
def test_spooled_rows_added_among_others_go_in_by_source_row(max_rows, batch_rows):
    rng = np.random.default_rng(2)
    spool = QuarantineSpool(QUARANTINE_COLUMNS, max_rows_in_memory=max_rows, batch_rows=batch_rows)
    expected = []
    for part, start in enumerate((1, 300, 301, 900, 2)):  # source rows restart: a second file
        rows = np.sort(rng.choice(np.arange(start, start + 200), 30, replace=False))
        first, among = rows[rng.random(30) < 0.6], rows
        among = np.setdiff1d(among, first)
        source = "a.csv" if part < 4 else "b.csv"
        make = [quarantine_rows(pd.DataFrame({"device_id": [f"D{r}" for r in r_]}), why,
                                source=source, source_row=pd.Series(r_)) for r_, why in ((first, "x"), (among, "dup"))]
        spool.add(make[0], make[1] if part % 2 == 0 else None)
        if part % 2 == 1:
            spool.add(make[1])  # added on its own: after the part's rows, as given
            expected += [(source, int(r)) for r in first] + [(source, int(r)) for r in among]
        else:
            expected += [(source, int(r)) for r in np.sort(np.concatenate([first, among]))]
    got = spool.finish().to_frame()
    assert list(zip(got["source"], got["source_row"].astype(int), strict=True)) == expected
    assert set(got.loc[got["device_id"].str[1:].astype(int) != got["source_row"].astype(int)].index) == set()
