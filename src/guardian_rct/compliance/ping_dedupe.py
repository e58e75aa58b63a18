"""Exact duplicate pings: a 64-bit key per ping, and the set of keys seen so far.

Exact duplicates are rows whose parsed values (device, officer, team, instant,
coordinates as given, accuracy) are all equal; the first in file order is kept. They are
found with a 64-bit key per ping kept in a few sorted arrays (8 bytes per used ping): the
top 6 bits are the ping's time slot (its UTC instant in blocks of 2**42 ns, about 73
minutes, modulo 64) and the other 58 a hash of all its values. Equal rows have equal
keys; rows of different slots never share a key, so the keys a chunk is compared with are
those of its own slots, which stay in the CPU cache for a file written in time order. A
hash collision between different rows of one slot would quarantine a usable row as a
duplicate: with m rows in a slot its probability is about m²/2⁵⁹; a force-week of 50
million pings has 64 slots of about 780 000 rows (a week is 138 blocks: slots 64 apart
share), so about 7 × 10⁻⁵ for the week.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from guardian_rct._core.quarantine import (
    Quarantine,
    concat_quarantines,
    quarantine_rows,
    rows_as_text,
)
from guardian_rct.compliance.dedupe_kernels import (
    bloom_candidates,
    flags_in_row_order,
    group_sorted,
    mark_found,
    merge_runs,
    mix_keys,
    radix_sort,
    split_seen,
)
from guardian_rct.compliance.ping_types import REASONS, PingChunk

__all__ = ["Deduplicator", "PreparedKeys", "time_slots", "TIME_SHIFT", "SLOT_BITS", "duplicate_key",
           "quarantine_duplicates", "duplicate_quarantine", "quarantine_of_duplicates", "raw_duplicate_quarantine",
           "sorted_by_row"]

_DUPLICATE = 15


def _string_codes(values: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic 64-bit hash of each distinct string (same in every process and run)
    and each row's position among them (``int32``); text read as a dictionary is hashed per
    dictionary entry, so equal strings have equal hashes."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    uniques = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    hashed = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.zeros(1, np.uint64)
    return hashed, encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def duplicate_key(device: pd.Series | pa.Array, officer: pd.Series | pa.Array, team: pd.Series | pa.Array,
                  ns: np.ndarray,
                  a: np.ndarray, b: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """The duplicate key of each usable ping: a 64-bit hash of all its parsed values
    (one compiled pass, :func:`~guardian_rct.compliance.dedupe_kernels.mix_keys`).

    Parameters
    ----------
    device, officer, team
        Trimmed text (``""`` when not given), as pandas or Arrow.
    ns
        UTC instants in nanoseconds.
    a, b
        The coordinates as given (``lat``/``lon`` or ``x``/``y``).
    accuracy
        Reported accuracy in metres (NaN when not given).

    Returns
    -------
    numpy.ndarray
        ``uint64`` keys, equal for rows whose values are all equal; the top
        :data:`SLOT_BITS` bits are the time slot (:func:`time_slots`).
    """
    a, b, accuracy = (np.ascontiguousarray(v, dtype=np.float64) for v in (a, b, accuracy))
    ns = np.ascontiguousarray(ns, dtype=np.int64)
    return mix_keys(*_string_codes(device), *_string_codes(officer), *_string_codes(team), ns,
                    a.view(np.uint64), b.view(np.uint64), accuracy, accuracy.view(np.uint64),
                    SLOT_BITS, TIME_SHIFT)


#: Time slots: blocks of 2**TIME_SHIFT ns (about 73 minutes), numbered modulo 2**SLOT_BITS.
TIME_SHIFT = 42
SLOT_BITS = 6


def time_slots(ns: np.ndarray) -> np.ndarray:
    """The time slot of each instant (UTC ns): its block of 2**42 ns (about 73 minutes)
    modulo 64, the top bits of its duplicate key."""
    return np.right_shift(np.asarray(ns, dtype=np.int64), TIME_SHIFT) & ((1 << SLOT_BITS) - 1)


def _merge_pairs(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Each pair of sorted runs merged (:func:`~guardian_rct.compliance.dedupe_kernels.merge_runs`)."""
    return [merge_runs(first, second) for first, second in pairs]


@dataclass(frozen=True, eq=False)
class PreparedKeys:
    """A chunk's keys prepared by :meth:`Deduplicator.prepare`: the keys in row order
    (``key``), its distinct keys sorted (``unique``), those that occur more than once in the
    chunk (``repeated``), and where each time slot's distinct keys start (``cut``, ending
    with their count)."""

    key: np.ndarray
    unique: np.ndarray
    repeated: np.ndarray
    cut: np.ndarray


class Deduplicator:
    """Moves exact duplicates (same :func:`duplicate_key` as an earlier row) to the
    quarantine, keeping the first occurrence in reading order.

    The keys seen so far (8 bytes per used ping) are partitioned by their top
    :data:`SLOT_BITS` bits, the ping's time slot, and each partition keeps them as a few
    sorted runs in a log-structured merge (O'Neil et al. 1996) of the "binary counter"
    kind: a chunk's new keys are a run, and two neighbouring runs are merged when the later
    one is of the same or a larger size class (log2 of its length in units of ``_SMALL``
    keys; all runs under ``2 * _SMALL`` are one class), so a partition holds about log2(n /
    _SMALL) runs. On the 50-million-ping week (``scripts/bench_dedupe.py``) merges write
    each key about 4 times (0.79-0.94 CPU-s, in the merge thread).

    A Bloom bitmap (Bloom 1970) of ``2**bitmap_bits`` bits (64 MiB by default) answers
    "never seen" for most keys without a search. It is blocked (Putze, Sanders & Singler
    2007): each key sets 6 bits in one 512-bit block, a cache line, chosen by its top bits,
    so a time slot's keys stay in the slot's 1 MiB stretch and a chunk's sorted keys walk
    their blocks in memory order. Only keys whose 6 bits were all set are searched for in
    their partition's runs (one binary search a run). It never gives a wrong answer, only
    a search that was not needed: on the 50-million-ping week 101,875 keys (0.2%) were
    searched; the two-bit bitmap before had 548,014 (1.1%).

    :meth:`prepare` (any thread) sorts a chunk's keys (a compiled radix sort; ``np.sort``
    took four times as long on an AMD EPYC machine, about 80 ns a key, where on an earlier
    machine its vectorised sort took about 12) and finds the keys repeated within it;
    :meth:`resolve` (in reading order) runs the Bloom test of every key in one compiled
    call, searches the few keys it may have seen in the runs of their slot (one compiled
    call per run), splits the new keys from the seen, and sets the flags in row order: a
    small hash table of the chunk's few special keys (seen before, or repeated) that every
    row looks its key up in, the first row of a repeated key kept. The per-key loops are
    compiled, the GIL released (:mod:`guardian_rct.compliance.dedupe_kernels`, with the
    figures measured on the 50-million-ping week).

    Merges run in a background thread (the compiled merge releases the GIL), those a chunk
    starts as one task, one at a time per partition: until a merge is done its two runs
    stay in the partition and are searched as they are, so the answers do not depend on
    when merges finish. Call :meth:`close` (or use the set as a context manager) to stop
    the thread.
    """

    #: Runs shorter than this many keys are one size class (merged together freely).
    _SMALL = 1 << 16

    def __init__(self, bitmap_bits: int = 29) -> None:
        if not SLOT_BITS <= bitmap_bits <= 40:
            raise ValueError(f"bitmap_bits must be from {SLOT_BITS} to 40")
        self._parts: dict[int, list[np.ndarray]] = {}
        self._pending: dict[int, tuple[Future, np.ndarray, np.ndarray]] = {}
        self._merger: ThreadPoolExecutor | None = None
        bits = max(bitmap_bits, 9)  # at least one 512-bit block
        self._block_shift = np.uint64(64 - (bits - 9))
        self._bitmap = np.zeros(1 << (bits - 6), dtype=np.uint64)
        self._scratch = np.empty(0, dtype=np.uint64)  # resolve's output buffer, reused

    def __enter__(self) -> Deduplicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the merge thread (merges under way are abandoned; the set is then unusable)."""
        if self._merger is not None:
            self._merger.shutdown(wait=False, cancel_futures=True)
            self._merger = None
        self._pending.clear()
        self._parts.clear()
        self._scratch = np.empty(0, dtype=np.uint64)

    def _size_class(self, n: int) -> int:
        return max(n // self._SMALL, 1).bit_length()

    def _collect(self) -> None:
        """Put every finished merge in place of its two runs (at once, so that no partition
        holds a merged run and its two inputs for long)."""
        for part in [part for part, (future, _, _, _) in self._pending.items() if future.done()]:
            future, index, first, _ = self._pending.pop(part)
            runs = self._parts[part]
            at = next(i for i, run in enumerate(runs) if run is first)
            runs[at:at + 2] = [future.result()[index]]

    def _merge_to_start(self, part: int, runs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """The last adjacent pair of runs that breaks the binary-counter order (a run at
        least half the size of the one before it), if any and if the partition has no
        merge under way."""
        if part in self._pending:
            return None
        for i in range(len(runs) - 2, -1, -1):
            if self._size_class(len(runs[i + 1])) >= self._size_class(len(runs[i])):
                return runs[i], runs[i + 1]
        return None

    def _start_merges(self, merges: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Merge the ``(part, first, second)`` runs in the merge thread, as one task: a
        chunk starts a merge in most of its partitions (3,500-5,100 merges on the
        50-million-ping week), and a task each cost a submission and a wake-up of the
        thread under the GIL."""
        if not merges:
            return
        if self._merger is None:
            self._merger = ThreadPoolExecutor(1, thread_name_prefix="dedup-merge")
        future = self._merger.submit(_merge_pairs, [(first, second) for _, first, second in merges])
        for index, (part, first, second) in enumerate(merges):
            self._pending[part] = (future, index, first, second)

    def prepare(self, key: np.ndarray) -> PreparedKeys:
        """The work on a chunk's keys that does not depend on the chunks before (sorting,
        keys repeated inside the chunk, the time slots): it may run in a worker thread,
        while :meth:`resolve` runs in reading order. Reads no state of the set."""
        key = np.asarray(key, dtype=np.uint64)
        unique, repeated, cut = group_sorted(radix_sort(key), np.uint64(64 - SLOT_BITS))
        return PreparedKeys(key=key, unique=unique, repeated=repeated, cut=cut)

    def resolve(self, prepared: PreparedKeys) -> np.ndarray:
        """Which of the prepared chunk's keys repeat an earlier key (earlier in this chunk
        or in an earlier chunk); the chunk's keys are remembered. Call in reading order."""
        p = prepared
        if len(p.key) == 0:
            return np.zeros(0, dtype=bool)
        self._collect()
        top = np.uint64(64 - SLOT_BITS)
        parts = (p.unique[p.cut[:-1]] >> top).tolist()
        maybe = bloom_candidates(self._bitmap, p.unique, self._block_shift)
        found = np.zeros(len(maybe), dtype=bool)
        if len(maybe):  # the few keys the bitmap may have seen, searched in their slot's runs
            bounds = np.searchsorted(maybe, p.cut)
            for i, part in enumerate(parts):
                a, b = bounds[i], bounds[i + 1]
                if b > a:
                    queries = p.unique[maybe[a:b]]
                    for run in self._parts.get(part, ()):
                        mark_found(run, queries, found[a:b])
        if len(self._scratch) < len(p.unique):
            self._scratch = np.empty(len(p.unique) + len(p.unique) // 4, dtype=np.uint64)
        out = self._scratch
        fresh_cut = split_seen(p.unique, p.cut, maybe[found], out)
        merges = []
        for i, part in enumerate(parts):
            a, b = fresh_cut[i], fresh_cut[i + 1]
            if b > a:
                part_runs = self._parts.setdefault(part, [])
                part_runs.append(out[a:b].copy())
                pair = self._merge_to_start(part, part_runs)
                if pair is not None:
                    merges.append((part, *pair))
        self._start_merges(merges)
        return flags_in_row_order(p.key, out[fresh_cut[-1]:len(p.unique)], p.repeated)

    def duplicates(self, key: np.ndarray) -> np.ndarray:
        """Which of a chunk's ``key`` values repeat an earlier key (earlier in this chunk
        or in an earlier chunk); the chunk's keys are remembered. Same as :meth:`resolve`
        of :meth:`prepare`."""
        return self.resolve(self.prepare(key))

    def __call__(self, chunk: PingChunk, raw: pd.DataFrame | None = None, *,
                 source: Path | None = None) -> PingChunk:
        """The chunk without its exact duplicates, which move to its quarantine (see
        :func:`quarantine_duplicates` for ``raw`` and ``source``)."""
        frame = chunk.frame
        if frame.empty:
            return chunk
        dup = self.duplicates(frame["key"].to_numpy())
        if not dup.any():
            return chunk
        return quarantine_duplicates(chunk, dup, raw, source)


def quarantine_duplicates(chunk: PingChunk, dup: np.ndarray, raw: pd.DataFrame | None,
                          source: Path | None) -> PingChunk:
    """Move the chunk's rows marked in ``dup`` to its quarantine as exact duplicates.

    Parameters
    ----------
    chunk
        A validated chunk.
    dup
        Which rows of ``chunk.frame`` are duplicates.
    raw
        The chunk's raw rows (with ``attrs["first_row"]``), quarantined as read; without
        it the parsed values are quarantined.
    source
        The file the chunk came from.

    Returns
    -------
    PingChunk
        The chunk without the duplicates; its quarantine sorted by source row.
    """
    quarantine = duplicate_quarantine(chunk, dup, raw, source)
    return PingChunk(frame=chunk.frame[~dup].reset_index(drop=True), quarantine=quarantine,
                     n_read=chunk.n_read, extent=chunk.extent)


def duplicate_quarantine(chunk: PingChunk, dup: np.ndarray, raw: pd.DataFrame | None,
                         source: Path | None) -> Quarantine:
    """The chunk's quarantine with its rows marked in ``dup`` added as exact duplicates,
    sorted by source row (parameters as :func:`quarantine_duplicates`; ``chunk.frame`` is
    left as it is)."""
    extra = quarantine_of_duplicates(chunk, dup, raw, source)
    return sorted_by_row(concat_quarantines([chunk.quarantine, extra])) if len(extra) else chunk.quarantine


def quarantine_of_duplicates(chunk: PingChunk, dup: np.ndarray, raw: pd.DataFrame | None,
                             source: Path | None) -> Quarantine:
    """The chunk's rows marked in ``dup`` quarantined as exact duplicates, by source row
    (as read, with ``raw``; else as parsed)."""
    frame = chunk.frame
    rows = frame["source_row"].to_numpy()[dup]
    if raw is not None:
        return raw_duplicate_quarantine(raw, rows, int(raw.attrs.get("first_row", 1)), source)
    original = frame.loc[dup, ["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m"]]
    return quarantine_rows(original, REASONS[_DUPLICATE], source=source, source_row=pd.Series(rows))


def raw_duplicate_quarantine(raw: pd.DataFrame, rows: np.ndarray, first_row: int,
                             source: Path | None) -> Quarantine:
    """The rows numbered ``rows`` (file rows, inside this raw chunk that starts at
    ``first_row``) quarantined as read, as exact duplicates (as text the way the checks'
    quarantined rows are: :func:`~guardian_rct._core.quarantine.rows_as_text`)."""
    return quarantine_rows(rows_as_text(raw, np.asarray(rows, dtype=np.int64) - first_row), REASONS[_DUPLICATE],
                           source=source, source_row=pd.Series(rows))


def sorted_by_row(quarantine: Quarantine) -> Quarantine:
    """An in-memory quarantine in source-row order (stable for equal rows)."""
    order = np.argsort(quarantine.frame["source_row"].to_numpy(dtype=np.int64), kind="stable")
    return Quarantine(quarantine.frame.iloc[order].reset_index(drop=True))
