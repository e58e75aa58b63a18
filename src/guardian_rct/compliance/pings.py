"""Read and validate officers' location pings, in chunks, with nothing dropped silently.

Pings come as CSV or Parquet (or a folder of them, read in sorted file-name order), one
row per location fix (DESIGN.md §3): ``device_id``, ``timestamp`` (ISO 8601 with an
offset or ``Z``; or a Parquet timestamp type), and either ``lat``/``lon`` (WGS84) or
``x``/``y`` (metres, trial CRS); optional ``officer_id``, ``team``, ``accuracy_m``.
Column names are matched without regard to case or surrounding spaces.

Files are read in chunks (``pyarrow`` streaming CSV reader, Parquet row batches), so a
file larger than memory works. Every row is checked; a row that cannot be used goes to
the :class:`~guardian_rct._core.quarantine.Quarantine` with one of the fixed reasons in
:data:`REASONS` (the first that applies, in that order), so that for every file
``read = used + quarantined``.

Exact duplicates are rows whose parsed values (device, officer, team, instant,
coordinates as given, accuracy) are all equal; the first in file order is kept. They are
found with a 64-bit hash of those values kept in a sorted array (8 bytes per used ping);
a hash collision between different rows (probability about n²/2⁶⁵, i.e. below 10⁻⁴ for
50 million rows) would quarantine a usable row as a duplicate.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyproj import Transformer

from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.quarantine import Quarantine, concat_quarantines, quarantine_rows
from guardian_rct.geo.point_index import LonLatGrid

__all__ = [
    "REASONS",
    "PingOptions",
    "PingChunk",
    "PingSet",
    "Deduplicator",
    "ping_files",
    "iter_raw_chunks",
    "validate_chunk",
    "iter_ping_chunks",
    "read_pings",
    "area_around",
]

#: Quarantine reasons, in the order they are checked (the first that applies is given).
REASONS: dict[int, str] = {
    1: "missing device id",
    2: "missing timestamp",
    3: "timestamp without offset",
    4: "timestamp does not parse",
    5: "nonexistent or ambiguous local time",
    6: "implausible timestamp (before 2000)",
    7: "missing coordinates",
    8: "coordinates not numeric",
    9: "impossible coordinates",
    10: "zero coordinates (0, 0)",
    11: "latitude and longitude swapped",
    12: "accuracy not numeric",
    13: "negative accuracy",
    14: "accuracy worse than max_accuracy_m",
    15: "exact duplicate",
}
_DUPLICATE = 15
_EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
_OFFSET = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
_OPTIONAL = ("officer_id", "team", "accuracy_m")
_SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class PingOptions:
    """How pings are read and checked.

    Attributes
    ----------
    crs
        The trial's metric CRS; ``lat``/``lon`` are projected into it.
    timezone
        IANA zone for timestamps written without an offset; ``None`` quarantines them.
    max_accuracy_m
        Fixes with a reported accuracy worse (larger) than this are quarantined.
    area
        ``(xmin, ymin, xmax, ymax)`` in the trial CRS where pings are plausible (the
        hotspots' extent grown by 50 km); used to recognise swapped ``x``/``y``.
    area_lonlat
        The same area as ``(lon_min, lat_min, lon_max, lat_max)``; used to recognise
        swapped latitude and longitude.
    near
        Where hotspots are, in longitude/latitude (:class:`LonLatGrid`). ``lat``/``lon``
        pings elsewhere cannot be in any hotspot and are not projected: their ``x``/``y``
        stay NaN. ``None`` projects every ping.
    chunk_rows
        Rows per chunk (Parquet exactly; CSV approximately, by bytes).
    """

    crs: str = "EPSG:27700"
    timezone: str | None = None
    max_accuracy_m: float = 100.0
    area: tuple[float, float, float, float] | None = None
    area_lonlat: tuple[float, float, float, float] | None = None
    near: LonLatGrid | None = None
    chunk_rows: int = 1_000_000


@dataclass(frozen=True)
class PingChunk:
    """Validated pings of one chunk.

    ``frame`` columns: ``device_id``, ``officer_id``, ``team`` (str; ``""`` when not
    given), ``time`` (``datetime64[ns, UTC]``), ``x``, ``y`` (float, trial CRS),
    ``accuracy_m`` (float, NaN when not given), ``source_row`` (1-based data row) and
    ``key`` (uint64 duplicate key).
    """

    frame: pd.DataFrame
    quarantine: Quarantine
    n_read: int


@dataclass(frozen=True)
class PingSet:
    """All validated pings of a file (for data that fits in memory)."""

    frame: pd.DataFrame
    quarantine: Quarantine
    n_read: int
    sources: tuple[str, ...] = field(default=())

    @property
    def n_used(self) -> int:
        return len(self.frame)

    def to_dict(self) -> dict:
        """Counts of rows read, used and quarantined (by reason)."""
        return {"read": self.n_read, "used": self.n_used, "quarantined": len(self.quarantine),
                "quarantine_reasons": self.quarantine.counts()}


# ---------------------------------------------------------------------------
# Files and raw chunks
# ---------------------------------------------------------------------------

def ping_files(path: str | Path) -> list[Path]:
    """The ping files at ``path``: the file itself, or a folder's CSV/Parquet files in
    sorted order (Parquet datasets written by Spark or Dask are folders)."""
    path = Path(path)
    if not path.exists():
        raise DataError("ping file not found", where=where(path), fix="check the path given to --pings")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if not files:
            raise DataError("no ping files in the folder", where=where(path),
                            expected="*.csv or *.parquet files", found="none",
                            fix="point --pings at a CSV or Parquet file or a folder of them")
        return files
    if path.suffix.lower() not in _SUFFIXES:
        raise DataError("unsupported ping file type", where=where(path),
                        expected="a .csv or .parquet file", found=repr(path.suffix or "no suffix"),
                        fix="export the pings as CSV or Parquet")
    return [path]


def _canonical(columns: list[str], path: Path) -> dict[str, str]:
    """Map canonical names to the file's column names; check the required ones."""
    lower = {}
    for col in columns:
        lower.setdefault(str(col).strip().lower(), col)
    has_ll = "lat" in lower and "lon" in lower
    has_xy = "x" in lower and "y" in lower
    missing = [c for c in ("device_id", "timestamp") if c not in lower]
    if not (has_ll or has_xy):
        missing.append("lat/lon or x/y")
    if missing:
        raise DataError(f"ping file is missing column(s) {', '.join(missing)}", where=where(path),
                        expected="device_id, timestamp and lat/lon (WGS84) or x/y (trial CRS); "
                        "optional officer_id, team, accuracy_m",
                        found="columns " + (", ".join(map(str, columns)) or "none"),
                        fix="rename the columns to the ping contract (README, 'Weekly compliance')")
    wanted = ["device_id", "timestamp", *(("lat", "lon") if has_ll else ("x", "y")), *_OPTIONAL]
    return {c: lower[c] for c in wanted if c in lower}


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            line = handle.readline()
        except UnicodeDecodeError:
            raise DataError("ping file is not UTF-8 text", where=where(path),
                            fix="save the CSV as UTF-8") from None
    if not line.strip():
        raise DataError("ping file is empty", where=where(path), expected="a header row",
                        found="no header", fix="export the pings with a header row")
    return next(csv.reader(io.StringIO(line)))


def iter_raw_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame, dict[str, str]]]:
    """Yield ``(first_row, raw_frame, column_map)`` chunks of one file, unvalidated.

    CSV columns are read as text (so that a stray letter in a number is a quarantined
    row, not a failed read); Parquet columns keep their types.
    """
    kind = _SUFFIXES[path.suffix.lower()]
    first = 1
    if kind == "csv":
        header = _csv_header(path)
        cols = _canonical(header, path)
        types = {c: pa.string() for c in header}
        block = max(1 << 16, min(1 << 28, chunk_rows * 80))
        try:
            reader = pacsv.open_csv(
                path, read_options=pacsv.ReadOptions(block_size=block, encoding="utf8"),
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                     quoted_strings_can_be_null=False))
            for batch in reader:
                frame = batch.to_pandas()
                yield first, frame, cols
                first += len(frame)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0]
            raise DataError(f"cannot read the ping CSV ({detail})", where=where(path, first),
                            fix="check that every row has the header's number of fields "
                            "and the file is UTF-8 CSV") from None
        return
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read the ping file as Parquet ({str(exc).splitlines()[0]})",
                        where=where(path), fix="check that the file is a complete Parquet file") from None
    cols = _canonical(handle.schema_arrow.names, path)
    for batch in handle.iter_batches(batch_size=chunk_rows, columns=list(cols.values())):
        frame = batch.to_pandas()
        yield first, frame, cols
        first += len(frame)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _transformer(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _arrow_text(values: pd.Series) -> pa.Array:
    """Column as trimmed Arrow strings, missing values as ``""`` (fast, no Python objects)."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if (finite == np.floor(finite)).all():  # ids stored as float (a null among ints)
            values = values.astype("Int64")
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("string")
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.large_string())
    return pc.fill_null(pc.utf8_trim_whitespace(arr), "")


def _text(values: pd.Series) -> pd.Series:
    """Column as trimmed strings (Arrow-backed), missing values as ``""``."""
    out = _arrow_text(values).to_pandas()
    out.index = values.index
    return out


_NUMBER = r"^[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])$"


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, missing mask and not-numeric mask of a column."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return out, np.isnan(out), np.zeros(len(out), dtype=bool)
    text = _arrow_text(values)
    missing = pc.equal(text, "").to_numpy(zero_copy_only=False)
    numeric = pc.match_substring_regex(text, _NUMBER).to_numpy(zero_copy_only=False)
    out = np.full(len(text), np.nan)
    idx = np.flatnonzero(numeric)
    if len(idx):
        sub = text.take(pa.array(idx))
        try:
            out[idx] = pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out[idx] = pd.to_numeric(sub.to_pandas(), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out, missing, ~missing & ~numeric


def _times(values: pd.Series, tz: str | None, code: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of each timestamp; flags problems into ``code``."""
    n = len(values)
    ns = np.zeros(n, dtype=np.int64)
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        t = values.dt.tz_convert("UTC").dt.as_unit("ns")
        missing = t.isna().to_numpy()
        _flag(code, missing, 2)
        ns[~missing] = t[~missing].astype("int64").to_numpy()
        return ns
    if pd.api.types.is_datetime64_dtype(dtype):
        missing = values.isna().to_numpy()
        _flag(code, missing, 2)
        if tz is None:
            _flag(code, ~missing, 3)
            return ns
        local = values.dt.as_unit("ns").dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        bad = local.isna().to_numpy() & ~missing
        _flag(code, bad, 5)
        ok = ~local.isna().to_numpy()
        ns[ok] = local[ok].dt.tz_convert("UTC").astype("int64").to_numpy()
        return ns
    text = _text(values)
    missing = (text == "").to_numpy()
    _flag(code, missing, 2)
    has_offset = text.str.contains(_OFFSET, regex=True).to_numpy() & ~missing
    if has_offset.any():
        parsed = pd.to_datetime(text[has_offset], utc=True, format="ISO8601", errors="coerce")
        parsed = parsed.dt.as_unit("ns")
        bad = parsed.isna().to_numpy()
        idx = np.flatnonzero(has_offset)
        _flag(code, _mask(n, idx[bad]), 4)
        ns[idx[~bad]] = parsed[~bad].astype("int64").to_numpy()
    naive = ~has_offset & ~missing
    if naive.any():
        if tz is None:
            _flag(code, naive, 3)
        else:
            idx = np.flatnonzero(naive)
            parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            bad = parsed.isna().to_numpy()
            _flag(code, _mask(n, idx[bad]), 4)
            local = parsed.dt.as_unit("ns").dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            gap = local.isna().to_numpy() & ~bad
            _flag(code, _mask(n, idx[gap]), 5)
            good = ~local.isna().to_numpy()
            ns[idx[good]] = local[good].dt.tz_convert("UTC").astype("int64").to_numpy()
    return ns


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[idx] = True
    return out


def _flag(code: np.ndarray, mask: np.ndarray, reason: int) -> None:
    """Give ``reason`` to rows in ``mask`` that have no reason yet."""
    code[mask & (code == 0)] = reason


def _in_area(x: np.ndarray, y: np.ndarray, area) -> np.ndarray:
    return (x >= area[0]) & (x <= area[2]) & (y >= area[1]) & (y <= area[3])


def _mix(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Fold a 64-bit value into a running hash (multiply-xorshift step)."""
    z = h * np.uint64(0x9E3779B97F4A7C15)
    z ^= v.astype(np.uint64, copy=False)
    z ^= z >> np.uint64(29)
    return z


def _finish(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (Steele, Lea & Flood 2014): full avalanche of the running hash."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _string_hash(values: pd.Series) -> np.ndarray:
    """Deterministic 64-bit hash of each string (same in every process and run)."""
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = arr.dictionary_encode()
    uniques = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    hashed = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.empty(0, np.uint64)
    return hashed[encoded.indices.to_numpy(zero_copy_only=False)]


def validate_chunk(raw: pd.DataFrame, columns: dict[str, str], *, source: Path, first_row: int,
                   options: PingOptions) -> PingChunk:
    """Check one raw chunk; return the usable pings and the quarantined rows.

    See :data:`REASONS` for the checks, in order. Duplicates are not looked for here
    (see :class:`Deduplicator`); the chunk's ``key`` column is their hash.
    """
    n = len(raw)
    code = np.zeros(n, dtype=np.int8)
    device = _text(raw[columns["device_id"]])
    _flag(code, (device == "").to_numpy(), 1)
    ns = _times(raw[columns["timestamp"]], options.timezone, code)
    _flag(code, (ns < _EARLIEST.value) & (code == 0), 6)
    geographic = "lat" in columns
    a_name, b_name = ("lat", "lon") if geographic else ("x", "y")
    a, a_missing, a_bad = _numbers(raw[columns[a_name]])
    b, b_missing, b_bad = _numbers(raw[columns[b_name]])
    _flag(code, a_missing | b_missing, 7)
    _flag(code, a_bad | b_bad, 8)
    finite = np.isfinite(a) & np.isfinite(b)
    _flag(code, ~finite & ~(a_missing | b_missing | a_bad | b_bad), 9)
    _flag(code, (a == 0) & (b == 0), 10)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if geographic:
        lat, lon = a, b
        in_range = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if options.area_lonlat is not None:
            ll = options.area_lonlat
            outside = ~in_range | ~_in_area(lon, lat, ll)
            _flag(code, outside & (np.abs(lon) <= 90) & _in_area(lat, lon, ll), 11)
        _flag(code, ~in_range, 9)
        todo = code == 0
        if options.near is not None:
            todo &= options.near.contains(lon, lat)
        idx = np.flatnonzero(todo)
        if len(idx):
            x[idx], y[idx] = _transformer(options.crs).transform(lon[idx], lat[idx])
    else:
        x, y = a.copy(), b.copy()
        if options.area is not None:
            todo = np.flatnonzero(code == 0)
            out = todo[~_in_area(x[todo], y[todo], options.area)]
            _flag(code, _mask(n, out[_in_area(y[out], x[out], options.area)]), 11)
    if "accuracy_m" in columns:
        acc, acc_missing, acc_bad = _numbers(raw[columns["accuracy_m"]])
        _flag(code, acc_bad, 12)
        _flag(code, acc < 0, 13)
        _flag(code, acc > options.max_accuracy_m, 14)
    else:
        acc = np.full(n, np.nan)
    ok = code == 0
    blank = pd.Series("", index=raw.index, dtype=device.dtype)
    officer = _text(raw[columns["officer_id"]]) if "officer_id" in columns else blank
    team = _text(raw[columns["team"]]) if "team" in columns else blank
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    dev_ok, off_ok, team_ok = device[ok], officer[ok], team[ok]
    key = np.full(int(ok.sum()), 0x2545F4914F6CDD1D, dtype=np.uint64)
    for part in (_string_hash(dev_ok), _string_hash(off_ok), _string_hash(team_ok), ns[ok],
                 a[ok].view(np.uint64), b[ok].view(np.uint64),
                 np.nan_to_num(acc[ok], nan=-1.0).view(np.uint64)):
        key = _mix(key, part)
    key = _finish(key)
    frame = pd.DataFrame({
        "device_id": dev_ok.reset_index(drop=True),
        "officer_id": off_ok.reset_index(drop=True),
        "team": team_ok.reset_index(drop=True),
        "time": pd.DatetimeIndex(ns[ok].view("datetime64[ns]")).tz_localize("UTC"),
        "x": x[ok], "y": y[ok], "accuracy_m": acc[ok],
        "source_row": rows[ok], "key": key,
    })
    bad = ~ok
    if bad.any():
        reasons = pd.Series([REASONS[int(c)] for c in code[bad]], dtype="string")
        quarantine = quarantine_rows(raw[bad], reasons, source=source,
                                     source_row=pd.Series(rows[bad]))
    else:
        quarantine = concat_quarantines([])
    return PingChunk(frame=frame, quarantine=quarantine, n_read=n)


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``values`` in the sorted array ``sorted_set`` (one binary search each)."""
    pos = np.searchsorted(sorted_set, values)
    return sorted_set[np.minimum(pos, len(sorted_set) - 1)] == values


class Deduplicator:
    """Moves exact duplicates (same :func:`validate_chunk` key as an earlier row) to the
    quarantine, keeping the first occurrence in reading order.

    The keys seen so far (8 bytes per used ping) are kept sorted in ``partitions``
    arrays split by the keys' top bits, so that adding a chunk never needs more than one
    small partition's worth of temporary memory.
    """

    def __init__(self, partitions: int = 256) -> None:
        self._shift = np.uint64(64 - int(np.log2(partitions)))
        self._parts: list[np.ndarray] = [np.empty(0, dtype=np.uint64) for _ in range(partitions)]

    def _split(self, sorted_keys: np.ndarray) -> np.ndarray:
        """Start and stop positions of each partition's keys in a sorted key array."""
        top = (sorted_keys >> self._shift).astype(np.int64)
        return np.searchsorted(top, np.arange(len(self._parts) + 1), side="left")

    def _seen(self, keys: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(keys), dtype=bool)
        cut = self._split(keys)
        for p, part in enumerate(self._parts):
            lo, hi = cut[p], cut[p + 1]
            if hi > lo and len(part):
                hit[lo:hi] = _member(keys[lo:hi], part)
        return hit

    def _add(self, keys: np.ndarray) -> None:
        cut = self._split(keys)
        for p in np.flatnonzero(np.diff(cut)):
            new = keys[cut[p]:cut[p + 1]]
            merged = np.concatenate([self._parts[p], new])
            merged.sort(kind="stable")  # two sorted runs: a linear merge
            self._parts[p] = merged

    def __call__(self, chunk: PingChunk, raw: pd.DataFrame | None = None, *,
                 source: Path | None = None) -> PingChunk:
        frame = chunk.frame
        if frame.empty:
            return chunk
        key = frame["key"].to_numpy()
        sk = np.sort(key)
        repeated = sk[1:] == sk[:-1]
        dup = np.zeros(len(key), dtype=bool)
        if repeated.any():
            # Later copies of a key repeated inside this chunk (rare: look at those rows only).
            rows = np.flatnonzero(_member(key, np.unique(sk[1:][repeated])))
            _, first = np.unique(key[rows], return_index=True)
            later = np.ones(len(rows), dtype=bool)
            later[first] = False
            dup[rows[later]] = True
            sk = sk[np.r_[True, ~repeated]]
        hit = self._seen(sk)
        if hit.any():
            dup |= _member(key, sk[hit])
        new = sk[~hit]
        if len(new):
            self._add(new)
        if not dup.any():
            return chunk
        return _move_to_quarantine(chunk, dup, raw, source)


def _move_to_quarantine(chunk: PingChunk, dup: np.ndarray, raw: pd.DataFrame | None,
                        source: Path | None) -> PingChunk:
    frame = chunk.frame
    rows = frame["source_row"].to_numpy()[dup]
    if raw is not None:
        first_row = int(raw.attrs.get("first_row", 1))
        original = raw.iloc[rows - first_row]
    else:
        original = frame.loc[dup, ["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m"]]
    extra = quarantine_rows(original, REASONS[_DUPLICATE], source=source, source_row=pd.Series(rows))
    quarantine = concat_quarantines([chunk.quarantine, extra])
    order = np.argsort(quarantine.frame["source_row"].to_numpy(dtype=np.int64), kind="stable")
    quarantine = Quarantine(quarantine.frame.iloc[order].reset_index(drop=True))
    return PingChunk(frame=frame[~dup].reset_index(drop=True), quarantine=quarantine,
                     n_read=chunk.n_read)


def iter_ping_chunks(path: str | Path, options: PingOptions | None = None) -> Iterator[PingChunk]:
    """Validated, de-duplicated chunks of every ping file at ``path`` (a file or folder)."""
    options = options or PingOptions()
    if options.timezone is not None:
        _check_zone(options.timezone)
    dedup = Deduplicator()
    for file in ping_files(path):
        for first, raw, cols in iter_raw_chunks(file, options.chunk_rows):
            raw.attrs["first_row"] = first
            chunk = validate_chunk(raw, cols, source=file, first_row=first, options=options)
            yield dedup(chunk, raw, source=file)


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone '{name}'", expected="an IANA name such as Europe/London",
                         found=repr(name), where="--ping-timezone", fix="use a name from the tz database") from None


def read_pings(path: str | Path, options: PingOptions | None = None) -> PingSet:
    """Read every ping at ``path`` into memory (small data and tests; the weekly job
    streams with :func:`iter_ping_chunks` instead)."""
    frames, quarantines, n = [], [], 0
    for chunk in iter_ping_chunks(path, options):
        frames.append(chunk.frame)
        quarantines.append(chunk.quarantine)
        n += chunk.n_read
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m", "source_row", "key"])
    return PingSet(frame=frame, quarantine=concat_quarantines(quarantines), n_read=n,
                   sources=tuple(str(p) for p in ping_files(path)))


def area_around(bounds: np.ndarray | tuple[float, float, float, float], grow_m: float = 50_000.0
                ) -> tuple[float, float, float, float]:
    """The plausible-ping area: hotspot bounds grown by ``grow_m`` metres."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    return (xmin - grow_m, ymin - grow_m, xmax + grow_m, ymax + grow_m)

