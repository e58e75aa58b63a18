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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from guardian_rct._core.quarantine import Quarantine, concat_quarantines, quarantine_rows
from guardian_rct.compliance.ping_types import REASONS, PingChunk

__all__ = ["Deduplicator", "PreparedKeys", "time_slots", "TIME_SHIFT", "SLOT_BITS", "duplicate_key",
           "quarantine_duplicates", "duplicate_quarantine", "raw_duplicate_quarantine", "sorted_by_row"]

_DUPLICATE = 15


def _mix(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Fold a 64-bit value into a running hash (multiply-xorshift step)."""
    z = np.multiply(h, np.uint64(0x9E3779B97F4A7C15), out=h)  # in place: no temporaries
    np.bitwise_xor(z, v.view(np.uint64) if v.dtype.itemsize == 8 else v.astype(np.uint64), out=z)
    np.bitwise_xor(z, z >> np.uint64(29), out=z)
    return z


def _finish(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (Steele, Lea & Flood 2014): full avalanche of the running hash."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _string_hash(values: pd.Series | pa.Array) -> np.ndarray:
    """Deterministic 64-bit hash of each string (same in every process and run)."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    # Text read as a dictionary is hashed per dictionary entry (equal strings, equal hashes).
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    uniques = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    hashed = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.empty(0, np.uint64)
    return hashed[encoded.indices.to_numpy(zero_copy_only=False)]


def duplicate_key(device: pd.Series | pa.Array, officer: pd.Series | pa.Array, team: pd.Series | pa.Array,
                  ns: np.ndarray,
                  a: np.ndarray, b: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """The duplicate key of each usable ping: a 64-bit hash of all its parsed values.

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
    key = np.full(len(ns), 0x2545F4914F6CDD1D, dtype=np.uint64)
    for part in (_string_hash(device), _string_hash(officer), _string_hash(team), ns,
                 a.view(np.uint64), b.view(np.uint64),
                 np.nan_to_num(accuracy, nan=-1.0).view(np.uint64)):
        key = _mix(key, part)
    key = _finish(key) >> np.uint64(SLOT_BITS)
    key |= time_slots(ns).astype(np.uint64) << np.uint64(64 - SLOT_BITS)
    return key


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``values`` in the sorted array ``sorted_set`` (one binary search each)."""
    pos = np.searchsorted(sorted_set, values)
    return sorted_set[np.minimum(pos, len(sorted_set) - 1)] == values


#: Time slots: blocks of 2**TIME_SHIFT ns (about 73 minutes), numbered modulo 2**SLOT_BITS.
TIME_SHIFT = 42
SLOT_BITS = 6


def time_slots(ns: np.ndarray) -> np.ndarray:
    """The time slot of each instant (UTC ns): its block of 2**42 ns (about 73 minutes)
    modulo 64, the top bits of its duplicate key."""
    return np.right_shift(np.asarray(ns, dtype=np.int64), TIME_SHIFT) & ((1 << SLOT_BITS) - 1)


@dataclass(frozen=True, eq=False)
class PreparedKeys:
    """A chunk's keys sorted and grouped by :meth:`Deduplicator.prepare` (positions in
    key order, bitmap bytes and bits, the first copy of each distinct key, and where each
    time slot's distinct keys start)."""

    order: np.ndarray
    byte: np.ndarray
    bit: np.ndarray
    set_at: np.ndarray
    set_bits: np.ndarray
    starts: np.ndarray
    later: np.ndarray
    unique: np.ndarray
    parts: np.ndarray
    cut: np.ndarray


class Deduplicator:
    """Moves exact duplicates (same :func:`duplicate_key` as an earlier row) to the
    quarantine, keeping the first occurrence in reading order.

    The keys seen so far (8 bytes per used ping) are partitioned by their top
    :data:`SLOT_BITS` bits, the ping's time slot, and each partition keeps them as a few
    sorted runs whose sizes grow geometrically (a log-structured merge, O'Neil et al.
    1996: a chunk's new keys are a run, merged into the run before once it is 1/8 of its
    size). Adding a chunk therefore costs about its size times the number of levels,
    whatever the order of the file.

    A bitmap of ``2**bitmap_bits`` bits (64 MiB by default), one bit set per key seen
    (indexed by the key's top bits, so a time slot's keys share a 1 MiB stretch of it),
    answers "never seen" for most keys without a search: only keys whose bit is set (a
    Bloom filter with one hash, Bloom 1970) are looked up in their partition's runs. It
    never gives a wrong answer, only a search that was not needed.
    """

    #: A run is merged into the previous one once it is at least 1/_GROWTH of its size.
    _GROWTH = 8

    def __init__(self, bitmap_bits: int = 29) -> None:
        if not SLOT_BITS <= bitmap_bits <= 40:
            raise ValueError(f"bitmap_bits must be from {SLOT_BITS} to 40")
        self._parts: dict[int, list[np.ndarray]] = {}
        self._bit_shift = np.uint64(64 - bitmap_bits)
        self._bitmap = np.zeros(1 << max(0, bitmap_bits - 3), dtype=np.uint8)

    def _bits(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Byte index and bit of each key in the bitmap (from the key's top bits)."""
        slot = keys >> self._bit_shift
        return (slot >> np.uint64(3)).astype(np.intp), np.left_shift(1, (slot & np.uint64(7)).astype(np.uint8))

    def _seen_and_add(self, part: int, keys: np.ndarray, maybe: np.ndarray) -> np.ndarray:
        """Which of the sorted, distinct ``keys`` of partition ``part`` were seen before
        (only those at positions ``maybe`` can have been); the new ones are remembered."""
        runs = self._parts.setdefault(part, [])
        hit = np.zeros(len(keys), dtype=bool)
        if len(maybe) and runs:
            candidates = keys[maybe]
            found = np.zeros(len(maybe), dtype=bool)
            for run in runs:
                found |= _member(candidates, run)
            hit[maybe] = found
        new = keys[~hit] if hit.any() else keys
        if len(new):
            runs.append(new.copy())
            while len(runs) > 1 and self._GROWTH * len(runs[-1]) >= len(runs[-2]):
                last = runs.pop()
                merged = np.concatenate([runs[-1], last])
                merged.sort(kind="stable")  # two sorted runs: one linear merge (timsort)
                runs[-1] = merged
        return hit

    def prepare(self, key: np.ndarray) -> PreparedKeys:
        """The work on a chunk's keys that does not depend on the chunks before (sorting,
        duplicates inside the chunk, bitmap positions): it may run in a worker thread,
        while :meth:`resolve` runs in reading order. Reads no state of the set."""
        key = np.asarray(key, dtype=np.uint64)
        order = np.argsort(key)
        sk = key[order]  # sorted keys: grouped by time slot, bitmap bytes in increasing order
        byte, bit = self._bits(sk)
        set_at = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]]) if len(sk) else np.zeros(0, dtype=np.intp)
        first = np.r_[True, sk[1:] != sk[:-1]] if len(sk) else np.zeros(0, dtype=bool)
        starts = np.flatnonzero(first)
        later = ~first
        if later.any():
            # Within the chunk the copy with the lowest row is kept (argsort is not stable).
            lowest = np.minimum.reduceat(order, starts)
            run = np.cumsum(first) - 1
            later = order != lowest[run]
        unique = sk[starts]
        slot = (unique >> np.uint64(64 - SLOT_BITS)).astype(np.int64)
        cut = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1], True]) if len(unique) else np.zeros(1, np.int64)
        return PreparedKeys(order=order, byte=byte, bit=bit, set_at=byte[set_at],
                            set_bits=np.bitwise_or.reduceat(bit, set_at) if len(sk) else bit,
                            starts=starts, later=later, unique=unique, parts=slot[cut[:-1]], cut=cut)

    def resolve(self, prepared: PreparedKeys) -> np.ndarray:
        """Which of the prepared chunk's keys repeat an earlier key (earlier in this chunk
        or in an earlier chunk); the chunk's keys are remembered. Call in reading order."""
        p = prepared
        n = len(p.order)
        if n == 0:
            return np.zeros(0, dtype=bool)
        maybe_sorted = (self._bitmap[p.byte] & p.bit) != 0
        self._bitmap[p.set_at] |= p.set_bits
        maybe = np.flatnonzero(maybe_sorted[p.starts])
        hit = np.zeros(len(p.unique), dtype=bool)
        at = np.searchsorted(maybe, p.cut)
        for i, part in enumerate(p.parts.tolist()):
            a, b = p.cut[i], p.cut[i + 1]
            hit[a:b] = self._seen_and_add(part, p.unique[a:b], maybe[at[i]:at[i + 1]] - a)
        dup_sorted = p.later | np.repeat(hit, np.diff(np.r_[p.starts, n]))
        dup = np.empty(n, dtype=bool)
        dup[p.order] = dup_sorted
        return dup

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
    frame = chunk.frame
    rows = frame["source_row"].to_numpy()[dup]
    if not len(rows):
        return chunk.quarantine
    if raw is not None:
        extra = raw_duplicate_quarantine(raw, rows, int(raw.attrs.get("first_row", 1)), source)
    else:
        original = frame.loc[dup, ["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m"]]
        extra = quarantine_rows(original, REASONS[_DUPLICATE], source=source, source_row=pd.Series(rows))
    return sorted_by_row(concat_quarantines([chunk.quarantine, extra]))


def raw_duplicate_quarantine(raw: pd.DataFrame, rows: np.ndarray, first_row: int,
                             source: Path | None) -> Quarantine:
    """The rows numbered ``rows`` (file rows, inside this raw chunk that starts at
    ``first_row``) quarantined as read, as exact duplicates."""
    return quarantine_rows(raw.iloc[np.asarray(rows, dtype=np.int64) - first_row], REASONS[_DUPLICATE],
                           source=source, source_row=pd.Series(rows))


def sorted_by_row(quarantine: Quarantine) -> Quarantine:
    """An in-memory quarantine in source-row order (stable for equal rows)."""
    order = np.argsort(quarantine.frame["source_row"].to_numpy(dtype=np.int64), kind="stable")
    return Quarantine(quarantine.frame.iloc[order].reset_index(drop=True))
