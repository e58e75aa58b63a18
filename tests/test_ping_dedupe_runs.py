"""The duplicate-key set (ping_dedupe.Deduplicator) against a plain Python set.

The set is partitioned by the key's top bits (the ping's time slot), each partition a
log-structured merge of sorted runs, behind a Bloom bitmap; these tests make all
three work hard (hundreds of chunks, so runs are merged many times; chunks in one slot, in
a few, and spread over all, as a file written by device rather than by time is; a bitmap
of 2**10 bits, so almost every key is a false positive that must be searched) and check that exactly the rows a set-based reference calls
duplicates are quarantined, the first copy in reading order being kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from guardian_rct._core.quarantine import concat_quarantines
from guardian_rct.compliance.ping_dedupe import (
    SLOT_BITS,
    TIME_SHIFT,
    Deduplicator,
    duplicate_key,
    time_slots,
)
from guardian_rct.compliance.ping_types import PingChunk

_TOP = np.uint64(64 - SLOT_BITS)


def _in_slots(keys: np.ndarray, spread: int) -> np.ndarray:
    """The keys with their top bits (the time slot) set from the key itself, over ``spread``
    slots (equal keys stay equal)."""
    low = keys & ((np.uint64(1) << _TOP) - np.uint64(1))
    return low | ((keys % np.uint64(spread)) << _TOP)


def _chunk(keys: np.ndarray, first_row: int) -> PingChunk:
    n = len(keys)
    frame = pd.DataFrame({"device_id": ["R1"] * n, "officer_id": [""] * n, "team": [""] * n,
                          "time": pd.to_datetime(np.arange(n), unit="s", utc=True),
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
                         [(1, 400, 10), (1, 4000, 16), (3, 400, 29), (64, 4000, 10), (64, 400, 29)])
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
        chunks.append(_in_slots(rng.permutation(keys), spread))
    dedup = Deduplicator(bitmap_bits=bitmap_bits)
    row = 1
    expected = _reference(chunks)
    for keys, want in zip(chunks, expected, strict=True):
        out = dedup(_chunk(keys, row))
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


def test_the_key_s_top_bits_are_the_time_slot_and_equal_rows_have_equal_keys():
    """Duplicates are only looked for among the keys of their own time slot, so the slot
    must be the key's top bits, and a row's key must not depend on anything but its
    values (not on the other rows of its chunk)."""
    ns = np.array([0, (1 << TIME_SHIFT) - 1, 1 << TIME_SHIFT, 64 << TIME_SHIFT, 1_682_900_000 * 10**9])
    assert time_slots(ns).tolist() == [0, 0, 1, 0, (1_682_900_000 * 10**9 >> TIME_SHIFT) % 64]
    dev = pa.array(["R1", "R2", "R1", "R1", "R2"]).dictionary_encode()
    blank = pa.array([""] * 5)
    a = np.array([52.1, 52.2, 52.1, 52.1, 52.2])
    key = duplicate_key(dev, blank, blank, ns, a, a, np.full(5, np.nan))
    assert (key >> np.uint64(64 - SLOT_BITS)).tolist() == time_slots(ns).tolist()
    alone = duplicate_key(pa.array(["R1"]), pa.array([""]), pa.array([""]), ns[:1], a[:1], a[:1], np.full(1, np.nan))
    assert alone[0] == key[0]
    assert len(set(key.tolist())) == 5  # instants differ: keys differ (slots 0 and 0 but other values)
    dedup = Deduplicator(bitmap_bits=12)
    assert dedup.duplicates(np.concatenate([key, key[[1, 3]]])).tolist() == [False] * 5 + [True, True]
    assert dedup.duplicates(np.array([], dtype=np.uint64)).shape == (0,)
