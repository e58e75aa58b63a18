"""CSV text of an Arrow table, built column-wise in Arrow compute: the bytes pandas writes.

``DataFrame.to_csv`` formats every cell through Python's :mod:`csv` writer, a few
million cells a second; a quarantine of millions of raw ping rows took most of a minute.
:func:`csv_bytes` builds the same text with Arrow kernels (quote the fields that need it,
join the columns of each row, join the rows) at close to memory speed.

It writes exactly what ``frame.to_csv(handle, index=False)`` writes (Python's
``csv.QUOTE_MINIMAL`` with ``lineterminator="\\n"``): a field is quoted when it holds a
comma, a double quote (doubled inside) or a line feed — not for a lone carriage return,
which Python's writer leaves bare with a ``\\n`` terminator — and missing values are empty.
Only text and integer columns are handled (:func:`supported`); anything else (floats,
dates) is left to pandas by the caller, since their text form is pandas' own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["supported", "csv_bytes", "string_buffers", "rows_with_bytes", "datetime_csv_text"]

_NEEDS_QUOTES = b',"\n'


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The ``len + 1`` offsets and the UTF-8 bytes of an Arrow (large) string array, as
    numpy views (no copy); cell ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _, offsets, data = values.buffers()
    ends = np.frombuffer(offsets, dtype=width)[values.offset:values.offset + len(values) + 1]
    body = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    return ends.astype(np.int64, copy=False), body


def rows_with_bytes(values: pa.Array, chars: bytes) -> np.ndarray:
    """Which cells of a string array without nulls contain any of the ASCII bytes ``chars``
    (one vectorised pass over the data buffer)."""
    ends, body = string_buffers(values)
    part = body[ends[0]:ends[-1]]
    hit = np.zeros(len(part), dtype=bool)
    for c in chars:
        hit |= part == c
    out = np.zeros(len(values), dtype=bool)
    where = np.flatnonzero(hit)
    if len(where):
        out[np.searchsorted(ends, where + ends[0], side="right") - 1] = True
    return out


def supported(schema: pa.Schema) -> bool:
    """Whether every column of ``schema`` is text or an integer (what :func:`csv_bytes` writes)."""
    return all(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_integer(f.type)
               for f in schema)


def _field(values: pa.Array) -> pa.Array:
    """One column as CSV fields: text as large strings, quoted where needed; nulls empty."""
    if pa.types.is_integer(values.type):
        return pc.fill_null(pc.cast(values, pa.large_string()), "")
    values = pc.fill_null(pc.cast(values, pa.large_string()), "")
    needs = rows_with_bytes(values, _NEEDS_QUOTES)
    if not needs.any():
        return values
    quote, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(values, '"', '""'), quote, empty)
    return pc.if_else(pa.array(needs), quoted, values)


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name


def csv_bytes(table: pa.Table, *, header: bool) -> bytes:
    """The UTF-8 CSV text of ``table`` (see the module docstring), with its header line
    when ``header``; ``b""`` for no rows and no header.

    Raises
    ------
    TypeError
        A column that is neither text nor an integer (check with :func:`supported`).
    """
    if not supported(table.schema):
        raise TypeError("csv_bytes writes text and integer columns only: " + str(table.schema))
    head = (",".join(_quote_name(str(n)) for n in table.column_names) + "\n").encode("utf-8") if header else b""
    if table.num_rows == 0 or table.num_columns == 0:
        return head
    fields = [_field(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col) for col in table.columns]
    # each row's fields joined by ",", then "\n" appended (joined with an empty string)
    big = pa.large_string()
    row = pc.binary_join_element_wise(*fields, pa.scalar(",", big))
    lines = pc.binary_join_element_wise(row, pa.scalar("", big), pa.scalar("\n", big))
    ends, body = string_buffers(lines)
    return head + body[ends[0]:ends[-1]].tobytes()


_UNITS = (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1))


def datetime_csv_text(series: pd.Series) -> pd.Series | None:
    """The text ``DataFrame.to_csv`` writes for a datetime column, formatted in Arrow.

    pandas formats each datetime cell through a ``Timestamp`` (a few microseconds each:
    most of the time of writing a visits table of a million rows). The rule it follows,
    reproduced here: the local wall time as ``YYYY-MM-DD HH:MM:SS``, with the fraction
    of a second at the finest of milli-, micro- or nanoseconds that any value of the
    column needs (none if all are whole seconds), then the UTC offset ``+HH:MM`` for a
    zone-aware column; missing values empty. A naive column of dates only (every time
    midnight) is left to pandas (it writes ``YYYY-MM-DD``), as are years outside
    1000-9999 and offsets that are not whole minutes.

    Returns
    -------
    pandas.Series or None
        The text (Arrow-backed strings, same index), or ``None`` when the column is not a
        datetime column this function formats exactly.
    """
    dtype = series.dtype
    aware = isinstance(dtype, pd.DatetimeTZDtype)
    if not (aware or pd.api.types.is_datetime64_dtype(dtype)):
        return None
    local = series.dt.tz_localize(None) if aware else series
    wall = local.to_numpy()
    ns = wall.astype("datetime64[ns]").view(np.int64) if len(wall) else np.empty(0, np.int64)
    known = ~np.isnat(wall)
    if not known.any():
        return None
    years = wall[known].astype("datetime64[Y]").astype(np.int64) + 1970
    if years.min() < 1000 or years.max() > 9999:
        return None
    sub = ns[known] % 10**9
    if not aware and not np.any(ns[known] % 86_400_000_000_000):
        return None  # dates only: pandas writes YYYY-MM-DD
    unit = next(u for u, step in _UNITS if not np.any(sub % step))
    stamps = pa.array(wall.astype(f"datetime64[{unit}]"), mask=~known)
    text = pc.strftime(stamps, format="%Y-%m-%d %H:%M:%S")
    if aware:
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").view(np.int64)
        offset = (ns - utc) // 10**9
        if np.any(offset[known] % 60):
            return None
        uniq, inverse = np.unique(offset // 60, return_inverse=True)
        names = pa.array([("-" if m < 0 else "+") + f"{abs(int(m)) // 60:02d}:{abs(int(m)) % 60:02d}" for m in uniq])
        text = pc.binary_join_element_wise(text, names.take(pa.array(inverse.ravel())), "")
    out = pd.Series(pd.arrays.ArrowStringArray(pc.cast(pc.fill_null(text, ""), pa.large_string())),
                    index=series.index, name=series.name)
    return out
