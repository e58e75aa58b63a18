"""Exact duplicate pings: a 64-bit key per ping, and the set of keys seen so far.

Exact duplicates are rows whose parsed values (device, officer, team, instant,
coordinates as given, accuracy) are all equal; the first in file order is kept. They are
found with a 64-bit hash of those values kept in a few sorted arrays (8 bytes per used ping);
a hash collision between different rows (probability about n²/2⁶⁵, i.e. below 10⁻⁴ for
50 million rows) would quarantine a usable row as a duplicate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from guardian_rct._core.quarantine import Quarantine, concat_quarantines, quarantine_rows
from guardian_rct.compliance.ping_types import REASONS, PingChunk

__all__ = ["Deduplicator", "duplicate_key", "quarantine_duplicates", "duplicate_quarantine",
           "raw_duplicate_quarantine", "sorted_by_row"]

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
        ``uint64`` keys, equal for rows whose values are all equal.
    """
    key = np.full(len(ns), 0x2545F4914F6CDD1D, dtype=np.uint64)
    for part in (_string_hash(device), _string_hash(officer), _string_hash(team), ns,
                 a.view(np.uint64), b.view(np.uint64),
                 np.nan_to_num(accuracy, nan=-1.0).view(np.uint64)):
        key = _mix(key, part)
    return _finish(key)


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``values`` in the sorted array ``sorted_set`` (one binary search each)."""
    pos = np.searchsorted(sorted_set, values)
    return sorted_set[np.minimum(pos, len(sorted_set) - 1)] == values


class Deduplicator:
    """Moves exact duplicates (same :func:`duplicate_key` as an earlier row) to the
    quarantine, keeping the first occurrence in reading order.

    The keys seen so far (8 bytes per used ping) are split by their top bits into
    ``partitions``; each partition keeps them as a few sorted runs whose sizes grow
    geometrically (a log-structured merge, O'Neil et al. 1996: a chunk's new keys are a
    run, and a run is merged into the one before it once it is a quarter of its size,
    each merge a linear merge of two sorted arrays). Adding a chunk therefore costs about
    its size times the number of levels, not the size of everything seen so far (merging
    every chunk into one sorted array copies all the keys once per chunk: quadratic in
    the file size, 15 s of a 50 M-ping week), and a merge's temporary memory is at most
    one partition's keys.

    A bitmap of ``2**bitmap_bits`` bits (64 MiB by default), one bit set per key seen
    (indexed by the key's top bits), answers "never seen" for most keys without a search:
    only keys whose bit is set (about ``n / 2**bitmap_bits`` of them after ``n`` keys, a
    Bloom filter with one hash, Bloom 1970) are looked up in the runs. It never gives a
    wrong answer, only a search that was not needed.
    """

    #: A run is merged into the previous one once it is at least 1/_GROWTH of its size.
    _GROWTH = 4

    def __init__(self, partitions: int = 16, bitmap_bits: int = 29) -> None:
        self._shift = np.uint64(64 - int(np.log2(partitions)))
        self._parts: list[list[np.ndarray]] = [[] for _ in range(partitions)]
        self._bit_mask = np.uint64((1 << bitmap_bits) - 1)
        self._bit_shift = np.uint64(64 - bitmap_bits)
        self._bitmap = np.zeros(1 << max(0, bitmap_bits - 3), dtype=np.uint8)

    def _split(self, sorted_keys: np.ndarray) -> np.ndarray:
        """Start and stop positions of each partition's keys in a sorted key array."""
        top = (sorted_keys >> self._shift).astype(np.int64)
        return np.searchsorted(top, np.arange(len(self._parts) + 1), side="left")

    def _bits(self, sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Byte index and bit of each key in the bitmap: the key's top bits, so that sorted
        keys have sorted byte indices (equal ones adjacent, touched in increasing order)."""
        slot = (sorted_keys >> self._bit_shift) & self._bit_mask
        return (slot >> np.uint64(3)).astype(np.intp), np.left_shift(1, (slot & np.uint64(7)).astype(np.uint8))

    def _seen(self, keys: np.ndarray) -> np.ndarray:
        """Which of the sorted, distinct ``keys`` were seen before."""
        byte, bit = self._bits(keys)
        maybe = np.flatnonzero(self._bitmap[byte] & bit)
        hit = np.zeros(len(keys), dtype=bool)
        if len(maybe) == 0:
            return hit
        candidates = keys[maybe]  # sorted, as ``keys`` are
        found = np.zeros(len(candidates), dtype=bool)
        cut = self._split(candidates)
        for p in np.flatnonzero(np.diff(cut)):
            lo, hi = cut[p], cut[p + 1]
            for run in self._parts[p]:
                found[lo:hi] |= _member(candidates[lo:hi], run)
        hit[maybe] = found
        return hit

    def _add(self, keys: np.ndarray) -> None:
        """Remember the sorted, distinct, new ``keys``."""
        byte, bit = self._bits(keys)
        start = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])  # ``byte`` is sorted
        self._bitmap[byte[start]] |= np.bitwise_or.reduceat(bit, start)
        cut = self._split(keys)
        for p in np.flatnonzero(np.diff(cut)):
            runs = self._parts[p]
            runs.append(keys[cut[p]:cut[p + 1]].copy())
            while len(runs) > 1 and self._GROWTH * len(runs[-1]) >= len(runs[-2]):
                last = runs.pop()
                merged = np.concatenate([runs[-1], last])
                merged.sort(kind="stable")  # two sorted runs: a linear merge (timsort)
                runs[-1] = merged

    def duplicates(self, key: np.ndarray) -> np.ndarray:
        """Which of a chunk's ``key`` values repeat an earlier key (earlier in this chunk
        or in an earlier chunk); the chunk's keys are remembered."""
        if len(key) == 0:
            return np.zeros(0, dtype=bool)
        order = np.argsort(key)
        sk = key[order]
        first = np.r_[True, sk[1:] != sk[:-1]]  # first position of each distinct key
        starts = np.flatnonzero(first)
        later = ~first
        if later.any():
            # Within the chunk the copy with the lowest row is kept (argsort is not stable).
            lowest = np.minimum.reduceat(order, starts)
            run = np.cumsum(first) - 1
            later = order != lowest[run]
        unique = sk[starts]
        hit = self._seen(unique)
        dup_sorted = later | np.repeat(hit, np.diff(np.r_[starts, len(sk)]))
        new = unique[~hit]
        if len(new):
            self._add(new)
        dup = np.empty(len(key), dtype=bool)
        dup[order] = dup_sorted
        return dup

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
