"""The duplicate-key set (ping_dedupe.Deduplicator) against a plain Python set.

The set is partitioned by the ping's instant, each partition a log-structured merge of
sorted runs, behind a one-hash Bloom bitmap; these tests make all three work hard (hundreds
of chunks, so runs are merged many times; chunks in one partition, in a few, and spread
over many, as a file written by device rather than by time is; a bitmap of 2**10 bits,
so almost every key is a false positive that must be searched) and check that exactly the rows a set-based reference calls
duplicates are quarantined, the first copy in reading order being kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.quarantine import concat_quarantines
from guardian_rct.compliance.ping_dedupe import TIME_BUCKET_SHIFT, Deduplicator, time_buckets
from guardian_rct.compliance.ping_types import PingChunk

_T0 = 1_682_900_000 * 10**9  # 2023-05-01, in ns


def _instants(keys: np.ndarray, spread: int) -> np.ndarray:
    """Instants that depend on the key only (equal keys, equal instants), spread over
    ``spread`` time buckets."""
    return _T0 + (keys % np.uint64(max(spread, 1))).astype(np.int64) * (1 << TIME_BUCKET_SHIFT) + 17


def _chunk(keys: np.ndarray, first_row: int, spread: int = 1) -> PingChunk:
    n = len(keys)
    frame = pd.DataFrame({"device_id": ["R1"] * n, "officer_id": [""] * n, "team": [""] * n,
                          "time": pd.to_datetime(_instants(keys, spread), unit="ns", utc=True),
                          "x": np.zeros(n), "y": np.zeros(n), "accuracy_m": np.full(n, np.nan),
                          "source_row": np.arange(first_row, first_row + n, dtype=np.int64),
                          "key": keys.astype(np.uint64)})
    return PingChunk(frame=frame, quarantine=concat_quarantines([]), n_read=n)


def _reference(chunks: list[np.ndarray]) -> list[np.ndarray]:
    seen: set[int] = set()
    out = []
    for keys in chunks:
        dup = np.zeros(len(keys), dtype=bool)
        for i, k in enumerate(keys.tolist()):
            dup[i] = k in seen
            seen.add(k)
        out.append(dup)
    return out


@pytest.mark.parametrize(("spread", "chunk", "bitmap_bits"),
                         [(1, 400, 10), (1, 4000, 16), (3, 400, 29), (200, 4000, 10), (200, 400, 29)])
def test_duplicates_match_a_python_set_over_many_chunks(spread, chunk, bitmap_bits):
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 2**63, 40_000, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    pool[:500] |= np.uint64(1) << np.uint64(63)  # keys with the top bit set (the last partition)
    chunks = []
    for c in range(300):  # 300 chunks: each partition's runs are merged many times
        n = int(rng.integers(1, chunk))
        fresh = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        old = pool[rng.integers(0, len(pool), n // 10 + 1)] if c % 3 else np.empty(0, np.uint64)
        keys = np.concatenate([fresh, old, fresh[: n // 20]])  # later copies inside the chunk too
        chunks.append(rng.permutation(keys))
    dedup = Deduplicator(bitmap_bits=bitmap_bits)
    row = 1
    expected = _reference(chunks)
    for keys, want in zip(chunks, expected, strict=True):
        out = dedup(_chunk(keys, row, spread))
        kept = out.frame["source_row"].to_numpy()
        assert np.array_equal(kept, np.arange(row, row + len(keys))[~want])
        assert out.quarantine.counts() == ({"exact duplicate": int(want.sum())} if want.any() else {})
        row += len(keys)
    assert sum(int(w.sum()) for w in expected) > 1000  # the test did meet many duplicates


def test_a_key_seen_long_ago_is_still_a_duplicate():
    dedup = Deduplicator(bitmap_bits=12)
    first = np.array([12345, 2**63 + 5], dtype=np.uint64)
    dedup(_chunk(first, 1))
    rng = np.random.default_rng(1)
    row = 3
    for _ in range(200):
        keys = rng.integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64) | np.uint64(1 << 20)
        dedup(_chunk(keys, row))
        row += len(keys)
    out = dedup(_chunk(np.array([7, 12345, 2**63 + 5], dtype=np.uint64), row))
    assert out.frame["source_row"].tolist() == [row]
    assert out.quarantine.counts() == {"exact duplicate": 2}


def test_keys_are_looked_up_in_their_own_time_bucket_only():
    """The partition is part of the identity: a key met again in another time bucket is not
    a duplicate (it cannot be one: the instant is part of the key), and buckets given with
    the same keys as before find the repeats whatever the chunk's other buckets are."""
    dedup = Deduplicator()
    keys = np.array([11, 22, 33], dtype=np.uint64)
    assert not dedup.duplicates(keys, np.array([5, 5, 6])).any()
    assert dedup.duplicates(np.array([11, 22, 33, 11], dtype=np.uint64),
                            np.array([5, 7, 6, 5])).tolist() == [True, False, True, True]
    assert dedup.duplicates(np.array([22], dtype=np.uint64), np.array([7])).tolist() == [True]
    assert dedup.duplicates(np.array([], dtype=np.uint64), np.array([], dtype=np.int64)).shape == (0,)
    assert dedup.duplicates(np.array([22, 44], dtype=np.uint64), np.array([7, 7])).tolist() == [True, False]


def test_time_buckets_are_blocks_of_2_to_the_42_ns():
    ns = np.array([0, (1 << 42) - 1, 1 << 42, _T0], dtype=np.int64)
    assert time_buckets(ns).tolist() == [0, 0, 1, _T0 >> 42]
