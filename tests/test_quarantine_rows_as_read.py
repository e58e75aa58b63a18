"""Rows quarantined as read (typed, RowsAsRead) and made text by the spool many chunks at
once give exactly the quarantine of making each chunk's rows text alone
(RowsAsRead.to_quarantine, i.e. quarantine_rows of rows_as_text): same rows, text, order,
reasons and counts, with duplicates put among a chunk's rows, pieces of different column
sets and types (a column all null in one chunk, dictionaries that differ), plain
quarantines in between, and rows spilled to disk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from guardian_rct._core.quarantine import (
    QuarantineSpool,
    quarantine_rows,
    rows_as_read,
    rows_as_text,
)

COLUMNS = ("device_id", "officer_id", "team", "timestamp", "lat", "lon", "x", "y", "accuracy_m")


def _raw_chunk(rng: np.random.Generator, n: int, *, null_lat: bool = False) -> pd.DataFrame:
    words = np.array([f"R{i}" for i in rng.permutation(6)], dtype=object)
    device = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 6, n), type=pa.int32()), pa.array(words))
    lat = pd.Series(np.where(rng.random(n) < 0.2, np.nan, rng.normal(52.4, 0.1, n)))
    if null_lat:
        lat = pd.Series([None] * n, dtype=object)
    return pd.DataFrame({
        "device_id": pd.Series(pd.arrays.ArrowExtensionArray(device)),
        "timestamp": pd.Series(pd.Timestamp("2023-05-01T05:00Z") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")),
        "lat": lat, "lon": rng.normal(-1.9, 0.1, n),
        "accuracy_m": np.where(rng.random(n) < 0.1, np.nan, rng.choice([4.0, 500.0], n)),
    })


def _pieces(rng: np.random.Generator):
    first = 1
    for k, n in enumerate((0, 1, 40, 300, 25)):
        raw = _raw_chunk(rng, n, null_lat=k == 4)
        bad = np.sort(rng.choice(n, n // 3, replace=False)) if n else np.empty(0, np.int64)
        reasons = rng.choice(np.array(["missing coordinates", "accuracy worse than max_accuracy_m"], dtype=object),
                             len(bad))
        dup = np.setdiff1d(np.arange(n), bad)[: max(0, n // 10)]
        yield (rows_as_read(raw, bad, reasons, source="week.parquet", first_row=first),
               rows_as_read(raw, dup, "exact duplicate", source="week.parquet", first_row=first) if len(dup) else None)
        first += n


@pytest.mark.parametrize("max_rows", [10_000, 30])  # all in memory; most spilled
@pytest.mark.parametrize("batch_rows", [1, 10_000])
def test_rows_as_read_make_the_quarantine_of_each_made_text_alone(max_rows, batch_rows):
    fast = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows, batch_rows=batch_rows)
    slow = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows, batch_rows=batch_rows)
    plain = quarantine_rows(pd.DataFrame({"x": ["1"], "y": ["oops"]}), "coordinates not numeric",
                            source="other.csv", source_row=pd.Series([7]))
    for i, (checked, dups) in enumerate(_pieces(np.random.default_rng(3))):
        fast.add(checked, dups)
        slow.add(checked.to_quarantine(), None if dups is None else dups.to_quarantine())
        if i == 2:  # a quarantine made elsewhere (another reader) among the pieces
            fast.add(plain)
            slow.add(plain)
    a, b = fast.finish(), slow.finish()
    assert len(a) == len(b) > 100
    assert a.counts() == b.counts()
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert (a.spilled is None) == (max_rows == 10_000)


def test_to_quarantine_is_rows_as_text_of_the_rows():
    raw = _raw_chunk(np.random.default_rng(1), 50)
    rows = np.array([3, 9, 10, 40])
    got = rows_as_read(raw, rows, "missing coordinates", source="w.parquet", first_row=101).to_quarantine()
    expected = quarantine_rows(rows_as_text(raw, rows), "missing coordinates", source="w.parquet",
                               source_row=pd.Series(rows + 101))
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.frame["source_row"].tolist() == [104, 110, 111, 141]
    assert len(rows_as_read(raw, rows[:0], "x", source=None, first_row=1).to_quarantine()) == 0


@pytest.mark.parametrize("max_rows", [10_000, 30])
def test_a_chunk_of_bad_rows_is_made_text_in_slices_with_the_same_quarantine(max_rows, monkeypatch):
    """A chunk whose rows are nearly all bad (alone in its add(), no duplicates among it) is
    stored in slices of slice_rows, so making it text holds a slice at a time; the quarantine
    is the same as making each chunk's rows text alone, and a chunk with duplicates among its
    rows is still stored whole (sorted by source row)."""
    rng = np.random.default_rng(11)
    raw = _raw_chunk(rng, 700)
    every = np.arange(700)
    fast = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows, batch_rows=50, slice_rows=50)
    slow = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows, batch_rows=50, slice_rows=10_000)  # never sliced
    stored: list[int] = []
    store = fast._store

    def recording(pending, groups):  # noqa: ANN001, ANN202
        stored.append(sum(len(p) for p in pending))
        return store(pending, groups)

    monkeypatch.setattr(fast, "_store", recording)
    bad = rows_as_read(raw, every, "missing coordinates", source="bad.parquet", first_row=1)
    fast.add(bad)
    slow.add(bad.to_quarantine())
    assert stored == [50] * 14  # the rows as read: in slices
    stored.clear()
    some = rows_as_read(raw, every[:400], "missing coordinates", source="bad.parquet", first_row=701)
    dups = rows_as_read(raw, every[400:410], "exact duplicate", source="bad.parquet", first_row=701)
    fast.add(some, dups)
    slow.add(some.to_quarantine(), dups.to_quarantine())
    assert stored == [410]  # with rows among them: whole
    a, b = fast.finish(), slow.finish()
    assert len(a) == len(b) == 1110
    assert a.counts() == b.counts()
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
