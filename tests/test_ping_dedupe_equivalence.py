"""The Deduplicator gives exactly the duplicate flags of version 1.x's algorithm.

Version 1.x sorted each chunk with ``argsort``, called a copy a duplicate when a lower row of
the chunk had its key (``later``) or when an earlier chunk had it (each distinct key searched
with ``searchsorted`` in every sorted run of its time slot), and scattered the flags back to
row order through the sort's permutation. That algorithm is written out here in numpy (one
sorted array of every key seen so far stands for the runs: the answers cannot depend on how
the runs are cut) and the set must agree with it on every row of every chunk, on key streams
made to break the shortcuts of the compiled version: copies inside a chunk, across chunks and
far back; equal low bits in different time slots (not duplicates); keys that share their
Bloom block (equal top bits) or are all in one block; empty and one-key chunks; chunks of
nothing but copies (more special keys than the small flag table of a chunk holds); the
smallest and largest keys.
"""

from __future__ import annotations

import numpy as np
import pytest

from guardian_rct.compliance.ping_dedupe import SLOT_BITS, Deduplicator

_TOP = np.uint64(64 - SLOT_BITS)
_LOW = (np.uint64(1) << _TOP) - np.uint64(1)


def _version_1_flags(chunks: list[np.ndarray]) -> list[np.ndarray]:
    """Version 1.x's duplicate flags, chunk by chunk (its algorithm in numpy)."""
    seen = np.empty(0, dtype=np.uint64)
    out = []
    for keys in chunks:
        dup = np.zeros(len(keys), dtype=bool)
        if len(keys):
            order = np.argsort(keys, kind="stable")
            sk = keys[order]
            first = np.r_[True, sk[1:] != sk[:-1]]
            starts = np.flatnonzero(first)
            lowest = np.minimum.reduceat(order, starts)
            later = order != lowest[np.cumsum(first) - 1]
            unique = sk[starts]
            pos = np.minimum(np.searchsorted(seen, unique), max(len(seen) - 1, 0))
            hit = seen[pos] == unique if len(seen) else np.zeros(len(unique), dtype=bool)
            dup[order] = later | np.repeat(hit, np.diff(np.r_[starts, len(keys)]))
            seen = np.sort(np.concatenate([seen, unique[~hit]]))
        out.append(dup)
    return out


def _stream(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    block = np.uint64(0x2A5) << np.uint64(64 - 20)  # top 20 bits: one Bloom block of slot 10

    def fresh(n: int, slots: int = 64) -> np.ndarray:
        low = rng.integers(0, 2**58, n, dtype=np.int64).astype(np.uint64)
        return low | (rng.integers(0, slots, n).astype(np.uint64) << _TOP)

    chunks: list[np.ndarray] = []
    history: list[np.ndarray] = []
    for c in range(160):
        kind = c % 8
        if kind == 0:
            keys = np.empty(0, dtype=np.uint64)
        elif kind == 1:
            keys = fresh(1) if c % 16 == 1 else history[-1][:1].copy()  # one new key, or one copy
        elif kind == 2:  # equal low bits in another slot: not a copy
            base = history[-1][:200]
            keys = (base & _LOW) | (((base >> _TOP) + np.uint64(1 + c % 63)) % np.uint64(64) << _TOP)
        elif kind == 3:  # all in one Bloom block, with copies of the same block's earlier keys
            keys = block | rng.integers(0, 2**44, 300, dtype=np.int64).astype(np.uint64)
            keys = np.r_[keys, keys[:20]]
            old = [h for h in history if len(h) and (h[0] >> np.uint64(44)) == (block >> np.uint64(44))]
            if old:
                keys = np.r_[keys, old[-1][rng.integers(0, len(old[-1]), 30)]]
        elif kind == 4:  # nothing but copies: of an earlier chunk, and of itself
            pool = np.concatenate(history[-6:])
            keys = pool[rng.integers(0, len(pool), 6_000)]
        elif kind == 5:
            keys = np.r_[fresh(400), np.array([0, 2**64 - 1, 0, 2**64 - 1], dtype=np.uint64)]
        else:  # a chunk of a few slots with copies inside, across chunks and from long ago
            keys = fresh(3_000, slots=4)
            far = np.concatenate(history[: max(1, len(history) // 4)])
            keys = np.r_[keys, keys[rng.integers(0, 3_000, 60)], history[-1][: 40],
                         far[rng.integers(0, len(far), 40)] if len(far) else far]
        keys = rng.permutation(keys)
        chunks.append(keys)
        history.append(keys if len(keys) else fresh(1))
    return chunks


@pytest.mark.parametrize(("bitmap_bits", "small"), [(9, 1 << 16), (12, 256), (29, 1 << 16), (20, 64)])
def test_flags_equal_version_1_on_every_row(bitmap_bits, small):
    chunks = _stream(bitmap_bits)
    want = _version_1_flags(chunks)
    with Deduplicator(bitmap_bits=bitmap_bits) as dedup:
        dedup._SMALL = small  # small: many merges, while the chunks are being resolved
        for i, (keys, expected) in enumerate(zip(chunks, want, strict=True)):
            got = dedup.resolve(dedup.prepare(keys))
            assert got.dtype == bool and got.shape == keys.shape
            np.testing.assert_array_equal(got, expected, err_msg=f"chunk {i}")
    total = sum(int(w.sum()) for w in want)
    assert total > 20_000  # the stream did make copies of every kind
    assert sum(int(w.sum()) for w, c in zip(want, chunks, strict=True) if len(c) == 6_000) > 10_000
