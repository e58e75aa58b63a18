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
    BLOOM_HASHES,
    _contains,
    bloom_candidates,
    bloom_test_and_set,
    flags_in_row_order,
    group_sorted,
    mark_found,
    merge_runs,
    radix_sort,
    split_seen,
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


def _reference_groups(sk: np.ndarray):
    first = np.r_[True, sk[1:] != sk[:-1]]
    unique = sk[first]
    counts = np.diff(np.r_[np.flatnonzero(first), len(sk)])
    slot = unique >> _TOP
    cut = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1], True])
    return unique, unique[counts > 1], cut


@pytest.mark.parametrize("n", [0, 1, 2, 7, 3_000])
def test_grouping_of_sorted_keys_matches_numpy(n):
    rng = np.random.default_rng(n)
    keys = rng.integers(0, 2**63, max(1, n // 3), dtype=np.int64).astype(np.uint64) << np.uint64(1)
    keys = keys[rng.integers(0, len(keys), n)]  # many repeats
    keys[: n // 4] |= np.uint64(1) << np.uint64(63)
    got = group_sorted(np.sort(keys), _TOP)
    want = _reference_groups(np.sort(keys)) if n else (keys, keys, np.array([0]))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", ["uniform", "geometric", "dense", "two clusters", "all equal", "tiny"])
def test_run_search_matches_numpy_whatever_the_keys(name):
    """The search in a sorted run against ``np.isin``, on runs far from the uniform keys of
    a time slot too (the search must only get slower there, never wrong)."""
    rng = np.random.default_rng(8)
    run = {"uniform": np.sort(rng.integers(0, 2**63, 50_000, dtype=np.int64).astype(np.uint64)),
           "geometric": np.unique((2.0 ** rng.uniform(0, 63, 20_000)).astype(np.uint64)),
           "dense": np.arange(0, 30_000, 3, dtype=np.uint64),
           "two clusters": np.r_[np.arange(100, dtype=np.uint64), np.arange(2**63, 2**63 + 5_000, dtype=np.uint64)],
           "all equal": np.full(1_000, 7, dtype=np.uint64),
           "tiny": np.array([2**64 - 1], dtype=np.uint64)}[name]
    hi = int(run[-1])
    queries = np.r_[run[rng.integers(0, len(run), 300)], run[:1], run[-1:], run[:1] - np.uint64(run[0] > 0),
                    rng.integers(0, hi + 1, 300, dtype=np.uint64) if hi else np.zeros(3, np.uint64),
                    np.array([0, 2**64 - 1], dtype=np.uint64)]
    got = [bool(_contains(run, q)) for q in queries]
    assert got == np.isin(queries, run).tolist()
    assert not _contains(np.empty(0, np.uint64), np.uint64(0))


def _bloom_reference(bitmap: np.ndarray, keys: np.ndarray, block_bits: int) -> np.ndarray:
    """The Bloom test-and-set in numpy: each key's block is its top ``block_bits`` bits, its
    bits in the block 9-bit fields of ``key * 0x9E3779B97F4A7C15``, all set before?"""
    bits = np.unpackbits(bitmap.view(np.uint8), bitorder="little").astype(bool)
    block = keys >> np.uint64(64 - block_bits) if block_bits else np.zeros(len(keys), np.uint64)
    h = keys * np.uint64(0x9E3779B97F4A7C15)
    maybe = np.empty(len(keys), dtype=bool)
    for i in range(len(keys)):  # in order: a key's own bits count for the keys after it
        at = [int(block[i]) * 512 + int((h[i] >> np.uint64(64 - 9 * (f + 1))) & np.uint64(511))
              for f in range(BLOOM_HASHES)]
        maybe[i] = bits[at].all()
        bits[at] = True
    return maybe, np.packbits(bits, bitorder="little").view(np.uint64)


def test_bloom_bitmap_matches_numpy_never_forgets_and_keeps_a_slot_in_its_stretch():
    rng = np.random.default_rng(11)
    bits = 22  # 2**16 bits a slot: 2,000 keys fill about 17% of it with 6 bits each
    block_bits = bits - 9
    keys = np.sort(rng.integers(0, 2**63, 2_000, dtype=np.int64).astype(np.uint64))
    keys = keys & ((np.uint64(1) << _TOP) - np.uint64(1)) | (np.uint64(5) << _TOP)  # all in slot 5
    keys = np.r_[keys, keys[:50]]  # seen again at once
    bitmap = np.zeros(1 << (bits - 6), dtype=np.uint64)
    want, want_bitmap = _bloom_reference(bitmap, keys, block_bits)
    shift = np.uint64(64 - block_bits)
    got = [bool(bloom_test_and_set(bitmap, k, shift)) for k in keys]
    assert got == want.tolist()
    np.testing.assert_array_equal(bitmap, want_bitmap)
    assert all(got[-50:])  # no false "new"
    stretch = (1 << (bits - SLOT_BITS)) // 64  # words per slot
    touched = np.flatnonzero(bitmap)
    assert touched.min() >= 5 * stretch and touched.max() < 6 * stretch
    # Fresh keys: about fill**6 are false "maybe"s (well under 1%); one bit would give fill.
    fresh = rng.integers(0, 2**58, 2_000, dtype=np.int64).astype(np.uint64) | (np.uint64(5) << _TOP)
    fill = np.unpackbits(bitmap[5 * stretch:6 * stretch].view(np.uint8)).mean()
    copy = bitmap.copy()
    rate = np.mean([bloom_test_and_set(copy, k, shift) for k in np.sort(fresh)])
    assert 0.1 < fill < 0.25
    assert rate < fill / 10
    # A bitmap of one block (block_shift 64): everything in block 0, still never forgets.
    one = np.zeros(8, dtype=np.uint64)
    assert not bloom_test_and_set(one, np.uint64(12345), np.uint64(64))
    assert bloom_test_and_set(one, np.uint64(12345), np.uint64(64))


def _search(bitmap, unique, cut, runs_of_slot, block_shift, out):
    """The per-chunk search as ``Deduplicator.resolve`` composes it: the Bloom candidates,
    each searched in its slot's runs, then the split into new and seen keys."""
    maybe = bloom_candidates(bitmap, unique, block_shift)
    found = np.zeros(len(maybe), dtype=bool)
    bounds = np.searchsorted(maybe, cut)
    for p, runs in enumerate(runs_of_slot):
        for run in runs:
            mark_found(run, unique[maybe[bounds[p]:bounds[p + 1]]], found[bounds[p]:bounds[p + 1]])
    return maybe, split_seen(unique, np.asarray(cut), maybe[found], out)


def test_search_matches_numpy():
    """The per-chunk search (Bloom, then each run of the key's slot) against ``np.isin``."""
    rng = np.random.default_rng(12)
    runs_of_slot, unique, cut = [], [], [0]
    for slot in (0, 3, 63):
        top = np.uint64(slot) << _TOP
        slot_runs = [np.unique(rng.integers(0, 2**58, n, dtype=np.int64).astype(np.uint64)) | top
                     for n in (5, 3_000, 200)]
        runs_of_slot.append(slot_runs)
        old = np.concatenate(slot_runs)
        keys = np.unique(np.r_[old[rng.integers(0, len(old), 100)],
                               rng.integers(0, 2**58, 500, dtype=np.int64).astype(np.uint64) | top])
        unique.append(keys)
        cut.append(cut[-1] + len(keys))
    unique = np.concatenate(unique)
    everything = np.concatenate([run for runs in runs_of_slot for run in runs])
    for bitmap_bits in (9, 12, 29):  # one block (every key searched) to a roomy bitmap
        bitmap = np.zeros(1 << (bitmap_bits - 6), dtype=np.uint64)
        shift = np.uint64(64 - (bitmap_bits - 9))
        for k in everything:  # the runs' keys were seen: their bits are set
            bloom_test_and_set(bitmap, k, shift)
        out = np.full(len(unique) + 5, 7, dtype=np.uint64)
        maybe, fresh_cut = _search(bitmap, unique, cut, runs_of_slot, shift, out)
        fresh, seen = out[:fresh_cut[-1]], np.sort(out[fresh_cut[-1]:len(unique)])
        assert (out[len(unique):] == 7).all()  # nothing written past the keys
        is_old = np.isin(unique, everything)
        np.testing.assert_array_equal(seen, unique[is_old])
        np.testing.assert_array_equal(fresh, unique[~is_old])
        new_per_slot = [np.count_nonzero(~is_old[a:b]) for a, b in zip(cut[:-1], cut[1:], strict=True)]
        np.testing.assert_array_equal(fresh_cut, np.r_[0, np.cumsum(new_per_slot)])
        assert 0 < len(seen) < len(unique)
        assert np.isin(np.flatnonzero(is_old), maybe).all()  # a seen key is always a candidate
        if bitmap_bits == 9:
            assert len(maybe) > 0.9 * len(unique)  # one block: nearly every key searched
        if bitmap_bits == 29:
            assert len(maybe) < np.count_nonzero(is_old) + 0.01 * len(unique)  # few needless searches


@pytest.mark.parametrize("name", ["uniform", "one slot", "low bits only", "all equal", "top bit", "empty", "one",
                                  "few values"])
def test_radix_sort_is_numpy_s_sort(name):
    """The radix sort against ``np.sort``, including keys that share digits (passes skipped)
    and keys with the top bit set (no sign trouble)."""
    rng = np.random.default_rng(21)
    n = 50_000
    keys = {"uniform": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1),
            "one slot": rng.integers(0, 2**58, n, dtype=np.int64).astype(np.uint64) | (np.uint64(40) << _TOP),
            "low bits only": rng.integers(0, 2**11, n).astype(np.uint64),
            "all equal": np.full(n, 2**64 - 5, dtype=np.uint64),
            "top bit": rng.integers(0, 2**20, n).astype(np.uint64) | (np.uint64(1) << np.uint64(63)),
            "empty": np.empty(0, dtype=np.uint64),
            "one": np.array([2**64 - 1], dtype=np.uint64),
            "few values": rng.choice(np.array([0, 2**64 - 1, 2**32, 7], dtype=np.uint64), n)}[name]
    before = keys.copy()
    got = radix_sort(keys)
    np.testing.assert_array_equal(got, np.sort(keys))
    np.testing.assert_array_equal(keys, before)  # the input is left as it is
    assert got.dtype == np.uint64


def test_merge_runs_is_the_sorted_union_with_repeats():
    rng = np.random.default_rng(5)
    for n1, n2 in [(0, 0), (0, 5), (5, 0), (1000, 3), (400, 400)]:
        first = np.sort(rng.integers(0, 50, n1).astype(np.uint64))
        second = np.sort(rng.integers(0, 50, n2).astype(np.uint64))
        np.testing.assert_array_equal(merge_runs(first, second), np.sort(np.concatenate([first, second])))
    top = np.array([2**64 - 1], dtype=np.uint64)
    np.testing.assert_array_equal(merge_runs(top, np.array([0], dtype=np.uint64)), [0, 2**64 - 1])


@pytest.mark.parametrize("repeats", [0, 1, 50, 900])
def test_row_order_flags_match_numpy(repeats):
    """Flags in row order against numpy: every row of a seen key, every row but the first
    of a key repeated in the chunk (also when it is seen as well); from no special keys to
    more than fit a small table."""
    rng = np.random.default_rng(repeats)
    keys = rng.integers(0, 2**63, 2_000, dtype=np.int64).astype(np.uint64)
    keys[rng.integers(0, 2_000, repeats)] = keys[rng.integers(0, 2_000, repeats)]
    unique, counts = np.unique(keys, return_counts=True)
    seen = unique[rng.random(len(unique)) < 0.05]
    order = np.argsort(keys, kind="stable")
    first = np.zeros(len(keys), dtype=bool)
    first[order[np.r_[True, keys[order][1:] != keys[order][:-1]]]] = True
    want = np.isin(keys, seen) | ~first
    got = flags_in_row_order(keys, seen, unique[counts > 1])
    np.testing.assert_array_equal(got, want)
    assert flags_in_row_order(keys, seen[:0], unique[:0]).sum() == 0


@pytest.mark.parametrize("special", [1, 2, 8, 256, 4096, 8192, 16384])
def test_row_order_flags_with_a_power_of_two_of_special_keys(special):
    """The flags' hash table never fills up: with exactly 2**k special keys (seen before, or
    repeated), where a table sized to the count would have no empty slot and a lookup of a
    key not in it would never end, every row still gets its flag."""
    rng = np.random.default_rng(special)
    keys = rng.choice(np.arange(1, 2**62, 2**40, dtype=np.uint64), 3 * special, replace=False)
    seen = keys[: special // 2]
    repeated = keys[special // 2: special]
    rows = np.concatenate([keys, repeated])  # every repeated key a second time, after its first
    got = flags_in_row_order(rows, seen, repeated)
    want = np.concatenate([np.isin(keys, seen), np.ones(len(repeated), dtype=bool)])
    np.testing.assert_array_equal(got, want)


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
