"""Check one raw chunk of pings: every row is used or quarantined with a reason.

The checks, in order, are the reasons of :data:`~guardian_rct.compliance.ping_types.REASONS`
(the first that applies is given): device id, timestamp (missing, without an offset,
unparseable, nonexistent or ambiguous local time, before 2000), coordinates (missing,
not numeric, impossible, ``(0, 0)``, swapped) and accuracy. Exact duplicates are found
later, from the key computed here (:mod:`~guardian_rct.compliance.ping_dedupe`).

:func:`check_rows` gives every row's reason and parsed values without copying a row;
:func:`validate_chunk` then makes a frame of the usable rows (for :func:`~guardian_rct.compliance.pings.read_pings` and
the Dask engine), while scoring takes only what it needs
(:func:`~guardian_rct.compliance.chunk_scoring.score_rows`).

:func:`as_text`, :func:`parse_times` and :func:`flag_rows` are shared with the patrol
log reader (:mod:`~guardian_rct.compliance.patrol_logs`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Transformer

from guardian_rct._core.quarantine import rows_as_read
from guardian_rct.compliance.check_kernels import coordinate_codes, time_window, usable_columns
from guardian_rct.compliance.ping_dedupe import duplicate_key
from guardian_rct.compliance.ping_types import (
    REASONS,
    CheckedRows,
    PingChunk,
    PingExtent,
    PingOptions,
)

__all__ = ["check_rows", "validate_chunk", "UsableRows", "usable_rows", "usable_chunk", "usable_extent", "full_text", "as_text", "parse_times",
           "flag_rows"]

_EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
_LATEST = pd.Timestamp("2100-01-01", tz="UTC")
_REASON_TEXT = np.array([REASONS.get(i, "") for i in range(max(REASONS) + 1)], dtype=object)
_OFFSET = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
_NUMBER = r"^[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])$"


@lru_cache(maxsize=32)
def _transformer_for(crs: str, thread: int) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _transformer(crs: str) -> Transformer:
    """WGS84 longitude/latitude to ``crs``, one per thread (chunks are checked in
    threads; pyproj advises against sharing a Transformer between threads) and cached
    (building one is slow)."""
    return _transformer_for(crs, threading.get_ident())


def _dictionary_text(values: pd.Series) -> pa.DictionaryArray | None:
    """A text column read as an Arrow dictionary (Parquet id columns, see
    :func:`~guardian_rct.compliance.pings.iter_raw_chunks`) as a dictionary of trimmed
    strings with missing values as ``""``: the work is done once per distinct value.
    ``None`` for any other column."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype)):
        return None
    arr = pa.array(values)  # zero copy
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    words = arr.dictionary
    if not (pa.types.is_string(words.type) or pa.types.is_large_string(words.type)):
        return None
    words = pc.fill_null(pc.utf8_trim_whitespace(words), "")
    indices = arr.indices
    if indices.null_count:  # missing values: an entry "" after the others
        words = pa.concat_arrays([words, pa.array([""], type=words.type)])
        indices = pc.fill_null(indices, len(words) - 1)
    # safe=False: no bounds check of every index (they index the same entries, or the one added)
    return pa.DictionaryArray.from_arrays(indices, words, safe=False)


def _is_empty(text: pa.Array) -> np.ndarray | None:
    """Where trimmed text (plain or dictionary) is ``""``; ``None`` when no row is (a
    dictionary without an empty entry: nothing to look up per row)."""
    if pa.types.is_dictionary(text.type):
        empty = pc.equal(text.dictionary, "").to_numpy(zero_copy_only=False)
        if not empty.any():
            return None
        return empty[text.indices.to_numpy(zero_copy_only=False)]
    return pc.equal(text, "").to_numpy(zero_copy_only=False)


def _plain(text: pa.Array) -> pa.Array:
    """Dictionary text decoded to plain strings (plain text as it is)."""
    return text.dictionary_decode() if pa.types.is_dictionary(text.type) else text


def _arrow_text(values: pd.Series, *, keep_dictionary: bool = False) -> pa.Array:
    """Column as trimmed Arrow strings, missing values as ``""`` (fast, no Python objects).

    With ``keep_dictionary``, a column read as a dictionary stays one (see
    :func:`_dictionary_text`); otherwise the result is plain strings.
    """
    words = _dictionary_text(values)
    if words is not None:
        return words if keep_dictionary else words.dictionary_decode()
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


def as_text(values: pd.Series) -> pd.Series:
    """Column as trimmed strings (Arrow-backed), missing values as ``""``."""
    out = _arrow_text(values).to_pandas()
    out.index = values.index
    return out


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


def _window(t: pd.Series, code: np.ndarray, idx: np.ndarray, ns: np.ndarray, *, missing: int = 0) -> None:
    """Store the UTC nanoseconds of the parsed instants ``t`` (tz-aware, any unit, rows
    ``idx``) into ``ns``; flag instants outside [2000, 2100) (which may lie outside the
    nanosecond range, e.g. year 9999 or 0001-01-01 placeholders) instead of converting,
    and missing ones (NaT) with reason ``missing`` (0: already flagged by the caller).
    One compiled pass (:func:`~guardian_rct.compliance.check_kernels.time_window`)."""
    naive = t.dt.tz_convert(None) if isinstance(t.dtype, pd.DatetimeTZDtype) else t  # UTC wall time
    raw = naive.to_numpy()
    unit = np.datetime_data(raw.dtype)[0]
    lo = np.datetime64(_EARLIEST.tz_localize(None), unit).astype(np.int64)
    hi = np.datetime64(_LATEST.tz_localize(None), unit).astype(np.int64)
    scale = int(np.timedelta64(1, unit) // np.timedelta64(1, "ns"))
    time_window(np.ascontiguousarray(raw).view(np.int64), np.asarray(idx, dtype=np.int64), lo, hi, scale,
                missing, 6, 16, code, ns)


def parse_times(values: pd.Series, tz: str | None, code: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of each timestamp; flags problems into ``code``.

    Codes (ping reasons): 2 missing, 3 without offset (and no ``tz``), 4 does not parse,
    5 nonexistent or ambiguous local time, 6 before 2000, 16 from 2100 on. Flagged rows
    get 0.
    """
    n = len(values)
    ns = np.zeros(n, dtype=np.int64)
    dtype = values.dtype
    every = np.arange(n)
    if isinstance(dtype, pd.DatetimeTZDtype):
        _window(values, code, every, ns, missing=2)
        return ns
    if pd.api.types.is_datetime64_dtype(dtype):
        missing = values.isna().to_numpy()
        flag_rows(code, missing, 2)
        if tz is None:
            flag_rows(code, ~missing, 3)
            return ns
        _localise(values, tz, code, every, ns)
        return ns
    text = as_text(values)
    missing = (text == "").to_numpy()
    flag_rows(code, missing, 2)
    has_offset = text.str.contains(_OFFSET, regex=True).to_numpy() & ~missing
    if has_offset.any():
        idx = np.flatnonzero(has_offset)
        parsed = pd.to_datetime(text[has_offset], utc=True, format="ISO8601", errors="coerce")
        flag_rows(code, _mask(n, idx[parsed.isna().to_numpy()]), 4)
        _window(parsed, code, idx, ns)
    naive = ~has_offset & ~missing
    if naive.any():
        if tz is None:
            flag_rows(code, naive, 3)
        else:
            idx = np.flatnonzero(naive)
            parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            flag_rows(code, _mask(n, idx[parsed.isna().to_numpy()]), 4)
            _localise(parsed, tz, code, idx, ns)
    return ns


def _localise(parsed: pd.Series, tz: str, code: np.ndarray, idx: np.ndarray, ns: np.ndarray) -> None:
    """Naive local times (rows ``idx``; NaT already flagged) in zone ``tz`` to UTC ``ns``."""
    known = ~parsed.isna().to_numpy()
    local = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    gap = local.isna().to_numpy() & known
    flag_rows(code, _mask(len(code), idx[gap]), 5)
    _window(local, code, idx, ns)


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    """Boolean mask of length ``n``, true at ``idx``."""
    out = np.zeros(n, dtype=bool)
    out[idx] = True
    return out


def flag_rows(code: np.ndarray, mask: np.ndarray, reason: int) -> None:
    """Give ``reason`` to rows in ``mask`` that have no reason yet."""
    code[mask & (code == 0)] = reason


def _in_area(x: np.ndarray, y: np.ndarray, area: tuple[float, float, float, float]) -> np.ndarray:
    """Whether each point lies in the box ``(xmin, ymin, xmax, ymax)``."""
    return (x >= area[0]) & (x <= area[2]) & (y >= area[1]) & (y <= area[3])


def _box(area: tuple[float, float, float, float] | None) -> np.ndarray:
    """A plausible area as the kernels take it (empty: none known)."""
    return np.empty(0) if area is None else np.asarray(area, dtype=np.float64)


def _positions(lat: np.ndarray, lon: np.ndarray, code: np.ndarray,
               options: PingOptions) -> tuple[np.ndarray, np.ndarray]:
    """Trial-CRS coordinates of checked longitude/latitude pings: NaN for flagged pings
    and (with ``options.near``) for pings far from every hotspot; with ``options.locate``
    none (empty arrays: NaN for every ping, see :func:`usable_chunk`), as pings are then
    located in degrees (:func:`~guardian_rct.compliance.ping_assignment.assign_chunk`)."""
    if options.locate is not None:
        return np.empty(0), np.empty(0)  # not 2 x 8 bytes per ping of NaN, faulted in for each chunk
    n = len(lat)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    todo = code == 0
    if options.near is not None:
        todo &= options.near.contains(lon, lat)
    idx = np.flatnonzero(todo)
    if len(idx):
        x[idx], y[idx] = _transformer(options.crs).transform(lon[idx], lat[idx])
    return x, y


def _accuracy(raw: pd.DataFrame, columns: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Reported accuracy in metres (NaN when not given) and where it is not numeric."""
    if "accuracy_m" not in columns:
        return np.full(len(raw), np.nan), np.zeros(len(raw), dtype=bool)
    acc, _, acc_bad = _numbers(raw[columns["accuracy_m"]])
    return acc, acc_bad


def check_rows(raw: pd.DataFrame, columns: dict[str, str], *, source: Path, first_row: int,
               options: PingOptions) -> CheckedRows:
    """Check one raw chunk: every row's reason (0: usable), its parsed values and the
    quarantine of the flagged rows. No row is copied (see :class:`CheckedRows`).

    See :data:`REASONS` for the checks, in order.
    """
    n = len(raw)
    code = np.zeros(n, dtype=np.int8)
    device = _arrow_text(raw[columns["device_id"]], keep_dictionary=True)  # Arrow, as a dictionary
    empty = _is_empty(device)
    if empty is not None:
        flag_rows(code, empty, 1)
    ns = parse_times(raw[columns["timestamp"]], options.timezone, code)
    geographic = "lat" in columns
    a_name, b_name = ("lat", "lon") if geographic else ("x", "y")
    a, a_missing, a_bad = _numbers(raw[columns[a_name]])
    b, b_missing, b_bad = _numbers(raw[columns[b_name]])
    acc, acc_bad = _accuracy(raw, columns)
    coordinate_codes(code, a, b, a_missing, a_bad, b_missing, b_bad, geographic,
                     _box(options.area_lonlat if geographic else options.area), acc, acc_bad,
                     float(options.max_accuracy_m))
    x, y = _positions(a, b, code, options) if geographic else (a, b)
    # Identifiers as dictionaries (entries trimmed once each), so no text is copied per row.
    officer = _dictionary(_arrow_text(raw[columns["officer_id"]], keep_dictionary=True)) if "officer_id" in columns else None
    team = _dictionary(_arrow_text(raw[columns["team"]], keep_dictionary=True)) if "team" in columns else None
    bad = np.flatnonzero(code)
    quarantine = rows_as_read(raw, bad, _REASON_TEXT[code[bad]], source=source, first_row=first_row)
    return CheckedRows(code=code, first_row=first_row, ns=ns, a=a, b=b, accuracy=acc, x=x, y=y,
                       device=_dictionary(device), officer=officer, team=team, geographic=geographic,
                       quarantine=quarantine)


def validate_chunk(raw: pd.DataFrame, columns: dict[str, str], *, source: Path, first_row: int,
                   options: PingOptions) -> PingChunk:
    """Check one raw chunk; return the usable pings and the quarantined rows.

    See :data:`REASONS` for the checks, in order (:func:`check_rows`). Duplicates are not
    looked for here (see :class:`~guardian_rct.compliance.ping_dedupe.Deduplicator`); the
    chunk's ``key`` column is their hash.
    """
    return usable_chunk(check_rows(raw, columns, source=source, first_row=first_row, options=options), options)


@dataclass(frozen=True, eq=False)
class UsableRows:
    """What both the frame path and scoring take of checked rows, in one compiled pass
    (:func:`~guardian_rct.compliance.check_kernels.usable_columns`): each usable row's
    position in the chunk, instant, coordinates as given and duplicate key; the three
    identifiers for every row (``""`` for a column not in the file); and the extent."""

    positions: np.ndarray
    ns: np.ndarray
    a: np.ndarray
    b: np.ndarray
    key: np.ndarray
    device: pa.DictionaryArray
    officer: pa.DictionaryArray
    team: pa.DictionaryArray
    extent: PingExtent


def usable_rows(checked: CheckedRows, options: PingOptions) -> UsableRows:
    """The usable rows of checked rows (see :class:`UsableRows`)."""
    c = checked
    device, officer, team = c.device, full_text(c.officer, c.n_read), full_text(c.team, c.n_read)
    key = duplicate_key(device, officer, team, c.ns, c.a, c.b, c.accuracy)
    positions, ns_ok, a_ok, b_ok, key_ok = usable_columns(c.code, c.ns, c.a, c.b, key)
    return UsableRows(positions=positions, ns=ns_ok, a=a_ok, b=b_ok, key=key_ok, device=device, officer=officer,
                      team=team, extent=usable_extent(a_ok, b_ok, ns_ok, c.code, c.geographic, options))


def usable_chunk(checked: CheckedRows, options: PingOptions) -> PingChunk:
    """The usable rows of checked rows as a frame (see :class:`PingChunk`), with the
    quarantine and the extent."""
    c = checked
    n = c.n_read
    u = usable_rows(c, options)
    positions, ns_ok, a_ok, b_ok = u.positions, u.ns, u.a, u.b
    rows_ok = positions + c.first_row
    acc_ok = c.accuracy[positions]
    projected = len(c.x) == n
    x_ok = c.x[positions] if projected else np.full(len(positions), np.nan)
    y_ok = c.y[positions] if projected else np.full(len(positions), np.nan)
    dev_ok, off_ok, team_ok = (_with_indices(text, _indices(text)[positions]) for text in (u.device, u.officer, u.team))
    # Identifiers as categories while scoring (a code per row, each distinct text once),
    # as text when the pings are read for themselves (read_pings).
    ids = _categorical if options.locate is not None else _text_column
    frame = pd.DataFrame({  # copy=False: fresh arrays, kept as they are (no block copies)
        "device_id": ids(dev_ok),
        "officer_id": ids(off_ok),
        "team": ids(team_ok),
        "time": pd.DatetimeIndex(ns_ok.view("datetime64[ns]")).tz_localize("UTC"),
        "x": x_ok, "y": y_ok, "accuracy_m": acc_ok,
        "source_row": rows_ok, "key": u.key,
    }, copy=False)
    lonlat = (b_ok, a_ok) if c.geographic and options.locate is not None else None
    return PingChunk(frame=frame, quarantine=c.quarantine.to_quarantine(), n_read=n, extent=u.extent, lonlat=lonlat)


_BLANK = pa.array([""], type=pa.large_string())


def _dictionary(text: pa.Array) -> pa.DictionaryArray:
    """Trimmed text (plain or dictionary) as a dictionary array."""
    return text if pa.types.is_dictionary(text.type) else text.dictionary_encode()


def _indices(text: pa.DictionaryArray) -> np.ndarray:
    """The ``int32`` dictionary indices of dictionary text (no nulls: see
    :func:`_dictionary_text`)."""
    return np.ascontiguousarray(text.indices.to_numpy(zero_copy_only=False), dtype=np.int32)


def full_text(text: pa.DictionaryArray | None, n: int) -> pa.DictionaryArray:
    """Checked identifier text, or ``""`` for each of the ``n`` rows of a column that is
    not in the file (``None``)."""
    return text if text is not None else _with_indices(None, np.zeros(n, dtype=np.int32))


def _with_indices(text: pa.DictionaryArray | None, indices: np.ndarray) -> pa.DictionaryArray:
    """Dictionary text with the given indices into its entries (``None``: a column that
    is not in the file, ``""`` for every row)."""
    return pa.DictionaryArray.from_arrays(pa.array(indices), _BLANK if text is None else text.dictionary,
                                          safe=False)  # indices taken from valid ones (or 0 into _BLANK)


def _text_column(text: pa.Array) -> pd.Series:
    """Trimmed text (plain or dictionary) as a pandas text column."""
    return _plain(text).to_pandas()


def _categorical(text: pa.Array) -> pd.Categorical:
    """Trimmed text (plain or dictionary) as a pandas categorical, without a string per row:
    distinct dictionary entries that are equal once trimmed share a category."""
    if not pa.types.is_dictionary(text.type):
        text = text.dictionary_encode()
    codes, words = pd.factorize(text.dictionary.to_numpy(zero_copy_only=False))
    indices = text.indices.to_numpy(zero_copy_only=False)
    if len(words) == len(codes):  # distinct entries (the usual case): the indices are the codes
        row_codes = indices
    else:
        row_codes = codes[indices] if len(indices) else indices.astype(np.int64)
    # The codes are factorize's own (0 <= code < len(words)): nothing for pandas to check.
    return pd.Categorical.from_codes(row_codes, categories=pd.Index(words, dtype=object), validate=False)


def usable_extent(a: np.ndarray, b: np.ndarray, t: np.ndarray, code: np.ndarray,
                  geographic: bool, options: PingOptions) -> PingExtent:
    """Counts for the file-level checks (see :class:`PingExtent`) from the usable rows'
    coordinates and instants (``code`` of all rows)."""
    outside = degree = 0
    if geographic and options.area_lonlat is not None:
        outside = int(np.count_nonzero(~_in_area(b, a, options.area_lonlat)))
    elif not geographic:
        if options.area is not None:
            outside = int(np.count_nonzero(~_in_area(a, b, options.area)))
        degree = int(np.count_nonzero((np.abs(a) <= 180) & (np.abs(b) <= 90)))
    return PingExtent(n_ok=len(t), n_outside_area=outside, n_degree_like=degree,
                      n_swapped=int(np.count_nonzero(code == 11)),
                      t_min=int(t.min()) if len(t) else None, t_max=int(t.max()) if len(t) else None)
