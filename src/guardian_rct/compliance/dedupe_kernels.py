"""Compiled inner loops of the duplicate-ping set (:mod:`guardian_rct.compliance.ping_dedupe`).

Each is one pass over a chunk's keys that numpy would make in several (and, for the
bitmap, a gather and a scatter per key): the 64-bit key of every ping, the grouping of a
chunk's sorted keys, the Bloom-bitmap test-and-set, the merge of two sorted runs, and the
scatter of duplicate flags back to row order. They compute exactly what the numpy
expressions they replace computed; ``tests/test_ping_dedupe_kernels.py`` checks each
against its numpy form.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["mix_keys", "group_sorted", "mark_seen", "merge_runs", "flags_in_row_order"]

_SEED = np.uint64(0x2545F4914F6CDD1D)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MINUS_ONE = np.array([-1.0]).view(np.uint64)[0]  # the IEEE bits of -1.0 (a missing accuracy)


@kernel
def _fold(h, v):  # noqa: ANN001, ANN202 - numba scalars
    """One multiply-xorshift step of the running hash."""
    z = (h * _GOLDEN) ^ v
    return z ^ (z >> np.uint64(29))


@kernel
def mix_keys(dev_hash, dev_code, off_hash, off_code, team_hash, team_code,  # noqa: ANN001, ANN201
             ns, a_bits, b_bits, accuracy, accuracy_bits, slot_bits, time_shift):
    """The duplicate key of each row: a running multiply-xorshift hash of the row's values
    (each text as its dictionary entry's hash ``*_hash[*_code[i]]``, the instant, the IEEE
    bits of the coordinates and accuracy, a missing accuracy as -1.0), finished with the
    splitmix64 finaliser (Steele, Lea & Flood 2014), its top ``slot_bits`` bits replaced by
    the time slot ``(ns >> time_shift) mod 2**slot_bits``. ``*_bits`` are ``uint64`` views
    of the float columns; ``ns`` is ``int64``."""
    n = ns.shape[0]
    out = np.empty(n, dtype=np.uint64)
    keep = np.uint64(64 - slot_bits)
    drop = np.uint64(slot_bits)
    slot_mask = np.int64((1 << slot_bits) - 1)
    for i in range(n):
        acc = _MINUS_ONE if np.isnan(accuracy[i]) else accuracy_bits[i]
        h = _fold(_SEED, dev_hash[dev_code[i]])
        h = _fold(h, off_hash[off_code[i]])
        h = _fold(h, team_hash[team_code[i]])
        h = _fold(h, np.uint64(ns[i]))
        h = _fold(h, a_bits[i])
        h = _fold(h, b_bits[i])
        h = _fold(h, acc)
        z = (h ^ (h >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
        slot = np.uint64((ns[i] >> time_shift) & slot_mask)
        out[i] = (z >> drop) | (slot << keep)
    return out


@kernel
def group_sorted(sorted_keys, order, slot_shift):  # noqa: ANN001, ANN201
    """Group a chunk's sorted keys: the distinct keys, where each one's copies start,
    which copies (in sorted order) are not the lowest row of their key (``later``), and the
    cuts between time slots (positions into the distinct keys, first 0, last their count).
    """
    n = sorted_keys.shape[0]
    starts = np.empty(n, dtype=np.int64)
    later = np.zeros(n, dtype=np.bool_)
    m = 0
    i = 0
    while i < n:
        k = sorted_keys[i]
        j = i + 1
        lowest = order[i]
        while j < n and sorted_keys[j] == k:
            if order[j] < lowest:
                lowest = order[j]
            j += 1
        if j - i > 1:
            for q in range(i, j):
                later[q] = order[q] != lowest
        starts[m] = i
        m += 1
        i = j
    starts = starts[:m]
    unique = np.empty(m, dtype=np.uint64)
    cuts = np.empty(m + 1, dtype=np.int64)
    c = 0
    for u in range(m):
        unique[u] = sorted_keys[starts[u]]
        if u == 0 or (unique[u] >> slot_shift) != (unique[u - 1] >> slot_shift):
            cuts[c] = u
            c += 1
    cuts[c] = m
    return unique, starts, later, cuts[:c + 1]


@kernel
def mark_seen(bitmap, keys, bit_shift, slot_bits):  # noqa: ANN001, ANN201
    """For each key, whether both its bits in ``bitmap`` (``uint8``) were already set (it may
    have been seen: a Bloom filter with two hashes, Bloom 1970); sets them. The first bit is
    the key's top bits (``key >> bit_shift``); the second has the same top ``slot_bits``
    bits (the time slot) followed by the key's lowest bits, so both lie in the slot's
    stretch of the bitmap (which stays in the CPU cache while the slot is being read)."""
    region = np.uint64(64) - bit_shift - np.uint64(slot_bits)  # log2 of the bits per slot
    low = (np.uint64(1) << region) - np.uint64(1)
    top = np.uint64(64 - slot_bits)
    maybe = np.empty(keys.shape[0], dtype=np.bool_)
    for i in range(keys.shape[0]):
        k = keys[i]
        first = k >> bit_shift
        second = ((k >> top) << region) | (k & low)
        b1 = np.int64(first >> np.uint64(3))
        m1 = np.uint8(1) << np.uint8(first & np.uint64(7))
        b2 = np.int64(second >> np.uint64(3))
        m2 = np.uint8(1) << np.uint8(second & np.uint64(7))
        maybe[i] = (bitmap[b1] & m1) != 0 and (bitmap[b2] & m2) != 0
        bitmap[b1] |= m1
        bitmap[b2] |= m2
    return maybe


@kernel
def merge_runs(first, second):  # noqa: ANN001, ANN201
    """The sorted union (with repeats) of two sorted ``uint64`` runs: one linear merge."""
    n1, n2 = first.shape[0], second.shape[0]
    out = np.empty(n1 + n2, dtype=np.uint64)
    i = j = k = 0
    while i < n1 and j < n2:
        if second[j] < first[i]:
            out[k] = second[j]
            j += 1
        else:
            out[k] = first[i]
            i += 1
        k += 1
    while i < n1:
        out[k] = first[i]
        i += 1
        k += 1
    while j < n2:
        out[k] = second[j]
        j += 1
        k += 1
    return out


@kernel
def flags_in_row_order(order, later, starts, hit):  # noqa: ANN001, ANN201
    """Duplicate flag per row: a copy after the first of its key in the chunk (``later``,
    in sorted order) or a key seen in an earlier chunk (``hit``, per distinct key), moved
    from sorted order back to row order by ``order``."""
    n = order.shape[0]
    dup = np.empty(n, dtype=np.bool_)
    m = starts.shape[0]
    for u in range(m):
        end = starts[u + 1] if u + 1 < m else n
        for q in range(starts[u], end):
            dup[order[q]] = later[q] or hit[u]
    return dup
