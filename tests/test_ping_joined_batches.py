"""A Parquet file of small row groups, its identifiers read as dictionaries (one per row
group), is read in chunks of up to chunk_rows rows, not of a row group each
(compliance.pings._joined_batches): the chunks hold the file's rows in order, with the
same values and row numbers as chunks of one row group each, and scoring gives the same
visits and quarantine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guardian_rct.compliance.ping_types import PingOptions
from guardian_rct.compliance.pings import _joined_batches, iter_raw_chunks, read_pings


def _file(tmp_path: Path, groups: tuple[int, ...] = (700, 700, 40, 700, 700, 700, 25, 700, 535)) -> Path:
    """Row groups written one by one (as a writer appending batches does): the reader ends a
    batch of dictionaries at each, and some groups are short (bad rows, a late export)."""
    rng = np.random.default_rng(2)
    devices = np.array([f" R{i} " for i in range(40)], dtype=object)
    path = tmp_path / "pings.parquet"
    writer = None
    for rows in groups:
        table = pa.table({
            "device_id": pa.array(devices[rng.integers(0, 40, rows)]),
            "officer_id": pa.array(np.where(rng.random(rows) < 0.1, None, devices[rng.integers(0, 40, rows)])),
            "timestamp": pa.array(pd.Timestamp("2023-05-01T05:00Z")
                                  + pd.to_timedelta(rng.integers(0, 10**5, rows), unit="s")),
            "lat": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(52.48, 0.01, rows)),
            "lon": rng.normal(-1.89, 0.01, rows),
        })
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({c: object for c in ("device_id", "officer_id")}).reset_index(drop=True)


def test_small_row_groups_are_read_in_chunks_of_chunk_rows(tmp_path):
    path = _file(tmp_path)
    handle = pq.ParquetFile(path, read_dictionary=["device_id", "officer_id"])
    as_read = [b.num_rows for b in handle.iter_batches(batch_size=2_000)]
    joined = list(iter_raw_chunks(path, 2_000))
    sizes = [len(raw) for _, raw, _ in joined]
    assert sum(sizes) == 4_800 and max(sizes) <= 2_000
    assert len(sizes) < len(as_read) >= 9  # the reader's batches end at each row group
    assert all(a + b > 2_000 for a, b in zip(sizes, sizes[1:], strict=False))  # none could have been joined
    assert [first for first, _, _ in joined] == list(np.cumsum([1, *sizes[:-1]]))
    by_group = list(iter_raw_chunks(path, 700))
    pd.testing.assert_frame_equal(_as_text(pd.concat([raw for _, raw, _ in joined])),
                                  _as_text(pd.concat([raw for _, raw, _ in by_group])))


def test_reading_in_joined_chunks_changes_no_ping_or_quarantined_row(tmp_path):
    path = _file(tmp_path)
    a = read_pings(path, PingOptions(chunk_rows=2_000))
    b = read_pings(path, PingOptions(chunk_rows=700))
    assert a.n_read == b.n_read == 4_800
    pd.testing.assert_frame_equal(a.frame.reset_index(drop=True), b.frame.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.quarantine.to_frame(), b.quarantine.to_frame())
    assert len(a.quarantine) > 0


def test_joined_batches_keep_each_row_and_a_batch_alone_as_it_is():
    words = [pa.array(["a", "b"]), pa.array(["b", "c", "d"]), pa.array(["d"])]
    indices = [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    batches = [pa.record_batch({"id": pa.DictionaryArray.from_arrays(pa.array(k, pa.int32()), w),
                                "v": pa.array([i, i, i])}) for i, (w, k) in enumerate(zip(words, indices, strict=True))]
    out = list(_joined_batches(iter(batches), 6))
    assert [b.num_rows for b in out] == [6, 3]
    assert out[1] is batches[2]
    assert out[0].column(0).dictionary_decode().to_pylist() == ["b", "a", "b", "b", "c", "b"]
    assert out[0].column(1).to_pylist() == [0, 0, 0, 1, 1, 1]
    assert [b.num_rows for b in _joined_batches(iter(batches), 2)] == [3, 3, 3]  # each over the limit: alone


def test_long_row_groups_are_split_into_equal_batches(tmp_path):
    from guardian_rct.compliance.pings import even_batch_rows

    path = _file(tmp_path, groups=(1_000, 1_000, 40, 1_000))
    metadata = pq.ParquetFile(path).metadata
    assert even_batch_rows(metadata, None, 400) == 334  # three of at most 334, not 400, 400, 200
    assert even_batch_rows(metadata, None, 500) == 500
    assert even_batch_rows(metadata, None, 5_000) == 5_000
    assert even_batch_rows(metadata, range(2, 3), 30) == 20  # the group of 40 read alone
    sizes = [len(raw) for _, raw, _ in iter_raw_chunks(path, 400)]
    assert max(sizes) <= 400 and sum(sizes) == 3_040
    assert len(sizes) == 9  # three a long group, the short one joined
