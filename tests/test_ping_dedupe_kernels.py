"""The compiled loops of the duplicate-ping set against the numpy expressions they replaced
(written out here as the reference), and the set's background merges against timing.

The keys must not change with the implementation: a duplicate is the same duplicate
whichever version scored the week, so the reference is the numpy key formula of version
1.x, bit for bit.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from guardian_rct.compliance import ping_dedupe
from guardian_rct.compliance.dedupe_kernels import (
    flags_in_row_order,
    group_sorted,
    mark_seen,
    merge_runs,
)
from guardian_rct.compliance.ping_dedupe import SLOT_BITS, TIME_SHIFT, Deduplicator, duplicate_key

_TOP = np.uint64(64 - SLOT_BITS)


def _reference_key(device, officer, team, ns, a, b, accuracy) -> np.ndarray:
    """The numpy formula: multiply-xorshift over the columns, splitmix64 finaliser, slot on top."""
    def string_hash(values):
        arr = values if isinstance(values, pa.Array) else pa.array(values)
        enc = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
        uniques = np.asarray(enc.dictionary.to_pylist(), dtype=object)
        return pd.util.hash_array(uniques, categorize=False)[enc.indices.to_numpy()]

    def mix(h, v):
        z = h * np.uint64(0x9E3779B97F4A7C15)
        z ^= v.view(np.uint64) if v.dtype.itemsize == 8 else v.astype(np.uint64)
        return z ^ (z >> np.uint64(29))

    key = np.full(len(ns), 0x2545F4914F6CDD1D, dtype=np.uint64)
    for part in (string_hash(device), string_hash(officer), string_hash(team), ns, a.view(np.uint64),
                 b.view(np.uint64), np.nan_to_num(accuracy, nan=-1.0).view(np.uint64)):
        key = mix(key, part)
    z = (key ^ (key >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(31))) >> np.uint64(SLOT_BITS)
    return z | (((ns >> TIME_SHIFT) & 63).astype(np.uint64) << _TOP)


def test_keys_are_bit_for_bit_those_of_the_numpy_formula():
    rng = np.random.default_rng(3)
    n = 5_000
    device = pa.array([f"R{i:03d}" for i in rng.integers(0, 40, n)]).dictionary_encode()
    officer = pa.array([f"PC{i}" if i else "" for i in rng.integers(0, 9, n)])  # plain text
    team = pa.array(["Team 1", "Team 2"] * (n // 2))
    ns = rng.integers(-10**18, 2 * 10**18, n)  # before 1970 too: the slot of a negative instant
    a = rng.normal(52.5, 0.2, n)
    a[:10] = [0.0, -0.0, np.inf, -np.inf, 1e-300, 5e-324, 90.0, -90.0, 52.5, 52.5]
    b = rng.normal(-1.9, 0.2, n)
    accuracy = rng.choice([4.0, 8.0, np.nan, 0.0, -0.0], n)
    got = duplicate_key(device, officer, team, ns, a, b, accuracy)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, _reference_key(device, officer, team, ns, a, b, accuracy))
    # 0.0 and -0.0 are different values as given: different keys (as the numpy formula had it).
    assert got[0] != got[1] or a[0].tobytes() == a[1].tobytes()


def test_keys_of_no_rows():
    empty = pa.array([], type=pa.string())
    assert duplicate_key(empty, empty, empty, np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0)).shape == (0,)


def _reference_groups(sk: np.ndarray, order: np.ndarray):
    first = np.r_[True, sk[1:] != sk[:-1]]
    starts = np.flatnonzero(first)
    lowest = np.minimum.reduceat(order, starts)
    later = order != lowest[np.cumsum(first) - 1]
    unique = sk[starts]
    slot = unique >> _TOP
    cut = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1], True])
    return unique, starts, later, cut


@pytest.mark.parametrize("n", [1, 2, 7, 3_000])
def test_grouping_of_sorted_keys_matches_numpy(n):
    rng = np.random.default_rng(n)
    keys = rng.integers(0, 2**63, max(1, n // 3), dtype=np.int64).astype(np.uint64) << np.uint64(1)
    keys = keys[rng.integers(0, len(keys), n)]  # many repeats
    keys[: n // 4] |= np.uint64(1) << np.uint64(63)
    order = np.argsort(keys)
    got = group_sorted(keys[order], order, _TOP)
    for g, want in zip(got, _reference_groups(keys[order], order), strict=True):
        np.testing.assert_array_equal(g, want)


def test_merge_runs_is_the_sorted_union_with_repeats():
    rng = np.random.default_rng(5)
    for n1, n2 in [(0, 0), (0, 5), (5, 0), (1000, 3), (400, 400)]:
        first = np.sort(rng.integers(0, 50, n1).astype(np.uint64))
        second = np.sort(rng.integers(0, 50, n2).astype(np.uint64))
        np.testing.assert_array_equal(merge_runs(first, second), np.sort(np.concatenate([first, second])))
    top = np.array([2**64 - 1], dtype=np.uint64)
    np.testing.assert_array_equal(merge_runs(top, np.array([0], dtype=np.uint64)), [0, 2**64 - 1])


def test_bloom_bitmap_never_forgets_and_keeps_a_slot_in_its_stretch():
    rng = np.random.default_rng(11)
    bits = 22  # 2**16 bits a slot: 2,000 keys fill about 6% of it
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    keys = np.sort(rng.integers(0, 2**63, 2_000, dtype=np.int64).astype(np.uint64))
    keys = keys & ((np.uint64(1) << _TOP) - np.uint64(1)) | (np.uint64(5) << _TOP)  # all in slot 5
    mark_seen(bitmap, keys, np.uint64(64 - bits), SLOT_BITS)
    stretch = (1 << (bits - SLOT_BITS)) // 8  # bytes per slot
    touched = np.flatnonzero(bitmap)
    assert touched.min() >= 5 * stretch and touched.max() < 6 * stretch
    assert mark_seen(bitmap, keys, np.uint64(64 - bits), SLOT_BITS).all()  # no false "new"
    # Far fewer false "maybe"s than one hash would give: a fresh key needs both bits set.
    fresh = rng.integers(0, 2**58, 500, dtype=np.int64).astype(np.uint64) | (np.uint64(5) << _TOP)
    fill = np.unpackbits(bitmap[5 * stretch:6 * stretch]).mean()
    rate = mark_seen(bitmap.copy(), np.sort(fresh), np.uint64(64 - bits), SLOT_BITS).mean()
    assert 0.02 < fill < 0.1
    # About fill**2 with two hashes (0.4%; the 500 add at most 1.5% fill as they go); one
    # hash would give about fill (6%).
    assert rate < fill / 3


def test_row_order_flags_match_numpy():
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 300, 2_000).astype(np.uint64)
    order = np.argsort(keys)
    unique, starts, later, _ = group_sorted(keys[order], order, _TOP)
    hit = rng.random(len(unique)) < 0.3
    want = np.empty(len(keys), dtype=bool)
    want[order] = later | np.repeat(hit, np.diff(np.r_[starts, len(keys)]))
    np.testing.assert_array_equal(flags_in_row_order(order, later, starts, hit), want)


class _HeldMerges:
    """An executor whose merges finish only when released (or never)."""

    def __init__(self) -> None:
        self.held: list[tuple[Future, tuple]] = []

    def submit(self, fn, *args):  # noqa: ANN001, ANN201
        future: Future = Future()
        self.held.append((future, (fn, args)))
        return future

    def release(self) -> None:
        for future, (fn, args) in self.held:
            future.set_result(fn(*args))
        self.held.clear()

    def shutdown(self, **_: object) -> None:
        self.held.clear()


def _stream(rng: np.random.Generator, chunks: int = 120):
    pool = rng.integers(0, 2**58, 5_000, dtype=np.int64).astype(np.uint64)
    out = []
    for _ in range(chunks):
        fresh = rng.integers(0, 2**58, 700, dtype=np.int64).astype(np.uint64)
        keys = np.concatenate([fresh, pool[rng.integers(0, len(pool), 60)], fresh[:20]])
        out.append(keys | ((keys % np.uint64(3)) << _TOP))  # three partitions
    return out


@pytest.mark.parametrize("release_every", [None, 1, 7])
def test_answers_do_not_depend_on_when_merges_finish(release_every):
    """Merges that never finish, finish at once, or finish every 7 chunks: the same rows are
    duplicates as with a plain Python set (so a slow merge thread cannot change a result)."""
    chunks = _stream(np.random.default_rng(4))
    seen: set[int] = set()
    dedup = Deduplicator(bitmap_bits=12)
    dedup._SMALL = 256  # many merges
    held = _HeldMerges()
    dedup._merger = held  # type: ignore[assignment]
    for i, keys in enumerate(chunks):
        want = []
        for k in keys.tolist():
            want.append(k in seen)
            seen.add(k)
        assert dedup.duplicates(keys).tolist() == want
        if release_every and i % release_every == 0:
            held.release()
    runs = sum(len(r) for r in dedup._parts.values())
    if release_every == 1:
        assert runs < 3 * 12  # merged: a few runs per partition, not one per chunk
    if release_every is None:
        assert runs == 3 * len(chunks)  # nothing merged, still right


def test_close_stops_the_merge_thread():
    before = {t.name for t in threading.enumerate()}
    with Deduplicator(bitmap_bits=12) as dedup:
        dedup._SMALL = 64
        for keys in _stream(np.random.default_rng(9), chunks=20):
            dedup.duplicates(keys)
        assert any(t.name.startswith("dedup-merge") for t in threading.enumerate())
    for t in threading.enumerate():
        if t.name.startswith("dedup-merge") and t.name not in before:
            t.join(timeout=5)
            assert not t.is_alive()
    assert ping_dedupe.Deduplicator._SMALL == 1 << 16  # the instance setting did not leak
