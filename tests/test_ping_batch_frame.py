"""A Parquet batch of pings becomes the raw chunk frame in one ``to_pandas`` call
(compliance.pings._batch_frame): the same frame, column for column and dtype for dtype, as
converting each column by itself (identifier dictionaries kept as Arrow dictionaries), for
the column types a ping file holds, with a categorical among the other columns, and with
the pandas metadata of a file written from a frame (which must not rebuild its index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guardian_rct.compliance.pings import _batch_frame

N = 6


def _by_column(batch: pa.RecordBatch, ids: list[str], rename: dict[str, str]) -> pd.DataFrame:
    """Each column converted by itself: the specification."""
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in ids and pa.types.is_dictionary(column.type):
            columns[rename[name]] = pd.Series(pd.arrays.ArrowExtensionArray(column), copy=False)
        else:
            columns[rename[name]] = column.to_pandas()
    return pd.DataFrame(columns, copy=False)


def _device(dictionary: bool) -> pa.Array:
    text = pa.array(["r1", " r2", None, "r1", "r3", "r1"])
    return text.dictionary_encode() if dictionary else text


CASES = {
    "typed": {"Device_ID": _device(True), "ts": pa.array(pd.date_range("2023-05-01", periods=N, tz="UTC")),
              "lat": pa.array([52.4, None, 52.5, 52.4, 52.6, 52.4]), "lon": pa.array([-1.9] * N),
              "officer_id": pa.array(["a", "b", "a", "a", None, "c"]).dictionary_encode()},
    "text and integers": {"Device_ID": _device(True), "ts": pa.array(["2023-05-01T10:00:00Z"] * N),
                          "lat": pa.array(range(N), pa.int64()), "lon": pa.array([1, 2, None, 4, 5, 6], pa.int32())},
    "categorical timestamp": {"Device_ID": _device(True),
                              "ts": pa.array(["2023-05-01T10:00:00Z"] * N).dictionary_encode(),
                              "lat": pa.array(["52.4", "x", "", None, "1e1", "52"]), "lon": pa.array([1.0] * N)},
    "naive, plain ids": {"Device_ID": _device(False), "ts": pa.array(pd.date_range("2023-05-01", periods=N)),
                         "lat": pa.array([True, False, None, True, True, False]),
                         "lon": pa.array([1.0, 2, None, 4, 5, 6], pa.float32())},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_frame_is_each_column_converted_by_itself(case):
    batch = pa.record_batch(CASES[case])
    rename = {"Device_ID": "device_id", "ts": "timestamp", "lat": "lat", "lon": "lon", "officer_id": "officer_id"}
    ids = [c for c in ("Device_ID", "officer_id") if c in batch.schema.names
           and pa.types.is_dictionary(batch.schema.field(c).type)]
    got, want = _batch_frame(batch, ids, rename), _by_column(batch, ids, rename)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
    assert isinstance(got.index, pd.RangeIndex) and got.index.start == 0


def test_batch_frame_ignores_the_pandas_metadata_of_a_file_written_from_a_frame(tmp_path):
    # With the metadata, to_pandas would give the index 100..104 and the text its pandas
    # dtype as written ("string"), where the column converted by itself is "str".
    frame = pd.DataFrame({"device_id": pd.Series(["a", "b", "c", "d", "a"], dtype="string"),
                          "timestamp": pd.Series(["2023-05-01T10:00:00Z"] * 5, dtype="string"),
                          "lat": np.arange(5.0), "lon": np.arange(5.0)}, index=pd.RangeIndex(100, 105))
    frame.to_parquet(tmp_path / "p.parquet")
    handle = pq.ParquetFile(tmp_path / "p.parquet", read_dictionary=["device_id"])
    batch = next(handle.iter_batches(batch_size=5, columns=["device_id", "timestamp", "lat", "lon"]))
    assert b"pandas" in batch.schema.metadata
    rename = {c: c for c in batch.schema.names}
    got = _batch_frame(batch, ["device_id"], rename)
    pd.testing.assert_frame_equal(got, _by_column(batch, ["device_id"], rename))
    assert list(got.index) == list(range(5))
