"""Compiled inner loops of the duplicate-ping set (:mod:`guardian_rct.compliance.ping_dedupe`).

Each is one pass over a chunk's keys that numpy would make in several: the 64-bit key of
every ping; the sort of a chunk's keys (a radix sort); their grouping (distinct keys,
keys repeated in the chunk, cuts by time slot); the per-chunk search (the blocked Bloom
bitmap's test-and-set of every key, then a binary search in each sorted run of the key's
slot for the few keys the bitmap may have seen, one call a run, then the split into new
and seen keys; the GIL released throughout); the merge of two sorted runs; and the
duplicate flags in row order through a small hash table. ``tests/test_ping_dedupe_kernels.py``
checks each against its numpy form, and ``tests/test_ping_dedupe_equivalence.py`` the set's
flags against version 1's algorithm.

Measured on the 50-million-ping week (273 chunks; ``scripts/bench_dedupe.py``, three
fresh processes each, an AMD EPYC (Zen 4) machine): the whole set 3.75-5.78 CPU-s
against 4.64-4.73 for one ``np.sort`` of all the keys in the same run (0.81× at the
minimum); before, with ``np.sort`` per chunk, one bitmap-and-search call over a numba
typed list of the runs, and a merge that branched on every key, 6.16-7.47 CPU-s against
4.05-4.25 (1.52×). The typed list was also compiled afresh in every process (numba caches
no typed-list method): 0.3 s of the duplicate thread's first chunk.
An interpolation search in the runs (their keys are uniform in their low bits) was tried
and was slower than binary search (1.85 against 1.55 s for the search call): the top of a
binary search is shared by every key and stays in the cache, an interpolation's probes
all miss. Merging a partition's runs only once it
held more than 4, 8 or 16 of them made no difference (3.16-3.26 CPU-s in all): in this
file each chunk holds a few devices' pings for a day, so every slot gets a run from most
chunks either way.

One open-addressing hash table of every key instead (linear probing, sized from the
Parquet row count to 75% full, 533 MB; each chunk inserted in row order, the home slot of
the key 16 rows ahead loaded early to overlap its cache miss) was tried on 2026-12-03: 1.68
CPU-s for the week's keys once its pages were in memory, but 3.5-4.6 s in a fresh process,
where the first touch of its pages cost more than the probes (perf: 13% of the whole
scoring run in the kernel's ``clear_page_erms``), and a table that grows (a CSV, whose
rows are not known in advance) took 8 s. Scoring the 50 M week with it was no faster
(median 7.5 s against 7.2 s, four alternating runs each, ``/usr/bin/time``), and all of
it ran in reading order, where this set's sorting runs in the worker threads.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["mix_keys", "radix_sort", "group_sorted", "bloom_test_and_set", "bloom_candidates", "mark_found",
           "split_seen", "merge_runs", "flags_in_row_order"]

_SEED = np.uint64(0x2545F4914F6CDD1D)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: Bits set per key in its 512-bit block of the Bloom bitmap (:func:`bloom_test_and_set`).
BLOOM_HASHES = 6
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


#: Bits of the key sorted in each pass of :func:`radix_sort` (six passes for 64 bits).
RADIX_BITS = 11


@kernel
def radix_sort(keys):  # noqa: ANN001, ANN201
    """``keys`` (``uint64``) in ascending order, as a new array: a least-significant-digit
    radix sort (Knuth 1998, *The Art of Computer Programming* 3, 5.2.5) with digits of
    :data:`RADIX_BITS` bits. One pass counts the values of every digit; then one stable
    scatter per digit, from the lowest, skipping a digit that every key shares (the time
    slot at the top of a chunk's keys, often). 183,000 random keys take 2.2 ms against
    9.5 ms for ``np.sort`` on an AMD EPYC (Zen 4) machine, whose numpy sort ran at about
    80 ns a key (on an earlier machine its vectorised sort took about 12); the result is
    the same array, and the time does not depend on the machine's vector units."""
    n = keys.shape[0]
    radix = 1 << RADIX_BITS
    mask = np.uint64(radix - 1)
    passes = (64 + RADIX_BITS - 1) // RADIX_BITS
    counts = np.zeros((passes, radix), dtype=np.int64)
    for i in range(n):
        k = keys[i]
        for d in range(passes):
            counts[d, np.int64((k >> np.uint64(d * RADIX_BITS)) & mask)] += 1
    src = keys.copy()
    dst = np.empty_like(src)
    for d in range(passes):
        count = counts[d]
        shared = False
        for v in range(radix):
            if count[v] != 0:
                shared = count[v] == n
                break
        if shared:
            continue
        total = 0
        for v in range(radix):  # counts become each value's first place
            c = count[v]
            count[v] = total
            total += c
        shift = np.uint64(d * RADIX_BITS)
        for i in range(n):
            k = src[i]
            v = np.int64((k >> shift) & mask)
            dst[count[v]] = k
            count[v] += 1
        src, dst = dst, src
    return src


@kernel
def group_sorted(sorted_keys, slot_shift):  # noqa: ANN001, ANN201
    """Group a chunk's sorted keys (one pass): the distinct keys, those that occur more than
    once in the chunk (``repeated``, sorted), and the cuts between time slots (positions
    into the distinct keys, first 0, last their count). The distinct keys are written over
    the first places of ``sorted_keys`` (returned as a view of it: no new 2 MB array a
    chunk, whose first touch costs page faults)."""
    n = sorted_keys.shape[0]
    repeated = np.empty(n // 2, dtype=np.uint64)
    cuts = np.empty(n + 1, dtype=np.int64)
    cuts[0] = 0
    if n == 0:
        return sorted_keys, repeated, cuts[:1].copy()
    prev = sorted_keys[0]
    prev_slot = prev >> slot_shift
    m = c = 1
    r = 0
    for i in range(1, n):
        k = sorted_keys[i]
        if k == prev:
            if r == 0 or repeated[r - 1] != k:
                repeated[r] = k
                r += 1
            continue
        slot = k >> slot_shift
        if slot != prev_slot:
            cuts[c] = m
            c += 1
            prev_slot = slot
        sorted_keys[m] = k
        m += 1
        prev = k
    cuts[c] = m
    return sorted_keys[:m], repeated[:r].copy(), cuts[:c + 1].copy()


@kernel
def bloom_test_and_set(bitmap, k, block_shift):  # noqa: ANN001, ANN201 - numba scalars
    """Whether the :data:`BLOOM_HASHES` bits of key ``k`` in its 512-bit block of ``bitmap``
    (``uint64`` words) were all set already (it may have been seen: a blocked Bloom filter,
    Putze, Sanders & Singler 2007); sets them. The block is the key's top bits (``k >>
    block_shift``; block 0 when ``block_shift`` is 64), so a time slot's keys (same top
    bits) use their slot's stretch of the bitmap only and a slot's sorted keys visit their
    blocks in memory order, one cache line each; the bits in the block are 9-bit fields of
    ``k * 0x9E3779B97F4A7C15`` (Fibonacci hashing, so they do not follow the block)."""
    base = np.int64(k >> block_shift) * 8 if block_shift < np.uint64(64) else np.int64(0)
    h = k * _GOLDEN
    missing = np.uint64(0)
    for f in range(BLOOM_HASHES):  # no branches: whether a bit was set is ~50:50, unpredictable
        bit = (h >> np.uint64(64 - 9 * (f + 1))) & np.uint64(511)
        w = base + np.int64(bit >> np.uint64(6))
        m = np.uint64(1) << (bit & np.uint64(63))
        old = bitmap[w]
        missing |= (old & m) ^ m
        bitmap[w] = old | m
    return missing == np.uint64(0)


@kernel
def _contains(run, k):  # noqa: ANN001, ANN202 - numba scalars
    """Whether the sorted ``run`` holds ``k`` (binary search, then a scan of at most 16)."""
    lo, hi = 0, run.shape[0] - 1
    while hi - lo > 16:
        mid = (lo + hi) // 2
        if run[mid] < k:
            lo = mid + 1
        else:
            hi = mid
    for i in range(lo, hi + 1):
        if run[i] == k:
            return True
    return False


@kernel
def bloom_candidates(bitmap, unique, block_shift):  # noqa: ANN001, ANN201
    """Test-and-set each of a chunk's distinct sorted keys in the Bloom bitmap
    (:func:`bloom_test_and_set`, in order) and return the positions of those it may have
    seen (ascending): the only keys that need a search in the runs of their time slot."""
    m = unique.shape[0]
    maybe = np.empty(m, dtype=np.int64)
    c = 0
    for i in range(m):
        if bloom_test_and_set(bitmap, unique[i], block_shift):
            maybe[c] = i
            c += 1
    return maybe[:c].copy()


@kernel
def mark_found(run, queries, found):  # noqa: ANN001, ANN201
    """Set ``found[i]`` where the sorted ``run`` holds ``queries[i]`` (:func:`_contains`);
    ``found`` is left as it is elsewhere, so one call per run of a slot builds "in any run"."""
    for i in range(queries.shape[0]):
        if not found[i] and _contains(run, queries[i]):
            found[i] = True


@kernel
def split_seen(unique, cut, seen, out):  # noqa: ANN001, ANN201
    """Put a chunk's distinct sorted keys that were not seen before (new keys, still sorted)
    in ``out[:f]`` and those at the positions ``seen`` (ascending) in ``out[f:m]``, in no
    particular order (``m`` is the count of ``unique``; ``out`` at least as long, a buffer
    reused from chunk to chunk, as a new one's first touch costs page faults); return the
    new keys' cuts by time slot (the keys between ``cut[p]`` and ``cut[p + 1]`` are one
    slot's; ``f`` is the last cut)."""
    m = unique.shape[0]
    fresh_cut = np.empty(cut.shape[0], dtype=np.int64)
    f = 0
    h = m
    s = 0
    for p in range(cut.shape[0] - 1):
        fresh_cut[p] = f
        for i in range(cut[p], cut[p + 1]):
            if s < seen.shape[0] and seen[s] == i:
                s += 1
                h -= 1
                out[h] = unique[i]
            else:
                out[f] = unique[i]
                f += 1
    fresh_cut[cut.shape[0] - 1] = f
    return fresh_cut


@kernel
def merge_runs(first, second):  # noqa: ANN001, ANN201
    """The sorted union (with repeats) of two sorted ``uint64`` runs: one linear merge,
    without a branch on which run the next key comes from (which is unpredictable for
    hashed keys: 2.2 against 3.2 ns a key)."""
    n1, n2 = first.shape[0], second.shape[0]
    out = np.empty(n1 + n2, dtype=np.uint64)
    i = j = k = 0
    while i < n1 and j < n2:
        a = first[i]
        b = second[j]
        take_second = np.int64(b < a)
        out[k] = b if take_second else a
        j += take_second
        i += 1 - take_second
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
def flags_in_row_order(keys, seen, repeated):  # noqa: ANN001, ANN201
    """Duplicate flag per row of the chunk (``keys`` in row order): a key seen in an earlier
    chunk (``seen``) on every row, a key repeated in the chunk (``repeated``) on every row
    after its first. These few keys go in a small open-addressing hash table (linear
    probing, Fibonacci hashing: Knuth 1973, 6.4), then one pass over the rows looks each
    row's key up in it. The table is kept at most 1/16 full (up to 4,096 slots; at most
    half full beyond), so a row's lookup almost always meets an empty slot at once (a
    well-predicted branch: at half full the mispredictions doubled the pass's time)."""
    n = keys.shape[0]
    dup = np.zeros(n, dtype=np.bool_)
    special = seen.shape[0] + repeated.shape[0]
    if special == 0:
        return dup
    bits = 3
    while (1 << bits) < 2 * special or ((1 << bits) < 16 * special and bits < 12):
        bits += 1
    mask = np.uint64((1 << bits) - 1)
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, dtype=np.uint64)
    state = np.zeros(1 << bits, dtype=np.uint8)  # 0 empty, 1 seen before, 2 its first row to come, 3 after
    for j in range(special):
        key = seen[j] if j < seen.shape[0] else repeated[j - seen.shape[0]]
        s = (key * _GOLDEN) >> shift
        while state[s] != 0 and table[s] != key:
            s = (s + np.uint64(1)) & mask
        if state[s] == 0:  # a key both seen and repeated keeps "seen": every row a duplicate
            table[s] = key
            state[s] = 1 if j < seen.shape[0] else 2
    for i in range(n):
        k = keys[i]
        s = (k * _GOLDEN) >> shift
        while state[s] != 0:
            if table[s] == k:
                if state[s] == 2:
                    state[s] = 3
                else:
                    dup[i] = True
                break
            s = (s + np.uint64(1)) & mask
    return dup
