"""Read a user's Parquet file into pandas with checks that name the column at fault.

``pandas.read_parquet`` fails deep inside pyarrow on some files a force's export tool
writes, or silently reinterprets them:

* a string column holding bytes that are not UTF-8 (``ArrowInvalid``) — refused here
  naming the column and the first bad row;
* a time column written as ``date32`` (a date, no time of day) would be taken as
  midnight — refused, since a crime or ping needs a time;
* a time column of numbers or booleans — refused (epoch numbers have no unit we could
  trust);
* timestamps outside pandas' nanosecond range (year 9999, ``0001-01-01`` placeholders)
  would abort the whole job — time columns are returned as ISO 8601 *text* (with
  ``+0000`` when the Parquet type carries a zone, none when it is naive), so the
  reader's row-by-row time parser quarantines the out-of-range rows like a CSV's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from guardian_rct._core.errors import DataError, where

__all__ = ["read_parquet_checked"]


def _first_bad_utf8(column: pa.ChunkedArray) -> int | None:
    row = 0
    for chunk in column.chunks:
        raw = chunk.cast(pa.binary()) if pa.types.is_string(chunk.type) else chunk
        for value in raw.to_pylist():
            row += 1
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return row
    return None


def _check_text(table: pa.Table, name: str, path: Path, what: str) -> pa.ChunkedArray:
    column = table.column(name)
    kind = column.type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        bad = _first_bad_utf8(column)
        if bad is None:
            return column.cast(pa.string())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            for chunk in column.chunks:
                chunk.validate(full=True)
            return column
        except pa.ArrowInvalid:
            bad = _first_bad_utf8(column)
    else:
        return column
    raise DataError(f"the {what} column holds text that is not valid UTF-8", where=where(path, bad, name),
                    expected="UTF-8 text", found="bytes that do not decode as UTF-8",
                    fix="re-export the file with UTF-8 text columns")


def _time_as_text(column: pa.ChunkedArray, name: str, path: Path, what: str) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_timestamp(kind):
        fmt = "%Y-%m-%dT%H:%M:%S%z" if kind.tz else "%Y-%m-%dT%H:%M:%S"
        return pc.strftime(column, format=fmt)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return column
    if pa.types.is_date(kind):
        raise DataError(f"the {what} time column is a date without a time of day (Parquet {kind})",
                        where=where(path, None, name), expected="a timestamp (with a zone) or ISO 8601 text",
                        found=f"{kind}",
                        fix="export the full date and time; a date alone cannot be placed on an "
                            "experimental day and would be read as midnight")
    raise DataError(f"the {what} time column cannot hold times (Parquet {kind})", where=where(path, None, name),
                    expected="a timestamp (with a zone) or ISO 8601 text", found=str(kind),
                    fix="export the times as timestamps or as ISO 8601 text such as 2023-05-01T14:00:00+01:00")


def read_parquet_checked(path: str | Path, *, what: str, time_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read ``path`` (Parquet) as a DataFrame with lower-case column names.

    Parameters
    ----------
    what
        What the file is (``"crime"``), for messages.
    time_columns
        Lower-case names of the columns that hold times; these come back as ISO 8601
        text (see the module docstring).

    Raises
    ------
    DataError
        Unreadable file, invalid UTF-8, or a time column of a type that cannot hold times.
    """
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read the {what} file as Parquet ({detail})", where=where(path),
                        fix=f"export the {what} records as Parquet or CSV (UTF-8)") from None
    times = set(time_columns)
    columns = {}
    for name in table.column_names:
        column = _check_text(table, name, path, what)
        if str(name).strip().lower() in times:
            column = _time_as_text(column, name, path, what)
        columns[name] = column
    return pa.table(columns).to_pandas()
