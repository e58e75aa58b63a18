"""The one CSV writer: ISO 8601 times, formula-safe cells, atomic writes, optional UTF-8 BOM.

Every CSV the package writes for people and their tools (tasking lists, compliance
tables, the panel, the power grid, the demo's tables) goes through :func:`write_csv`, so
they all follow the same rules (``docs/outputs.md``):

* **Times are ISO 8601.** A time-zone-aware datetime column is written as
  ``2023-10-09T18:31:00+00:00`` (the instant in the column's own zone, with its offset;
  the package keeps times in UTC), never as pandas' default ``2023-10-09 18:31:00+00:00``
  that Excel and Power BI read as text. A naive datetime column whose values are all
  midnights is a calendar date and is written ``2023-10-09``; a naive datetime column
  with times of day is refused (:class:`ValueError`): the package never writes a time
  without its offset. ``datetime.date``/``datetime`` objects in object columns follow
  the same rules. Durations (``timedelta``) are written as ISO 8601 durations.
* **Cells are formula-safe** (:func:`guardian_rct._core.formula_safe.formula_safe_frame`,
  the OWASP "CSV Injection" rule).
* **Writes are atomic and never replace an input** (:mod:`guardian_rct._core.safe_write`).
* **UTF-8, with a byte-order mark on request.** Excel opens a BOM-less UTF-8 CSV as the
  local code page (``Bishop's Stortford`` survives, ``Łódź`` does not) and Power BI's
  "Text/CSV" connector guesses the encoding from the first bytes; a BOM (``EF BB BF``)
  makes both read UTF-8. The BOM is off by default (command-line tools such as ``cut``
  see it as part of the first header) and is turned on by ``--csv-bom`` or
  ``[outputs] csv_bom = true`` for one command (:func:`csv_bom_scope`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.formula_safe import formula_safe_frame
from guardian_rct._core.output_options import csv_bom_enabled, csv_bom_scope, set_csv_bom
from guardian_rct._core.safe_write import write_bytes

__all__ = ["UTF8_BOM", "write_csv", "csv_text", "iso_frame", "csv_bom_scope", "csv_bom_enabled", "set_csv_bom"]

UTF8_BOM = b"\xef\xbb\xbf"


def _iso_timedelta(value: pd.Timedelta) -> str:
    return pd.Timedelta(value).isoformat()


def _iso_object(value: object, column: str) -> object:
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            if stamp == stamp.normalize():
                return stamp.date().isoformat()
            raise ValueError(f"CSV column {column!r} holds a time without a UTC offset ({stamp}); "
                             "localise it (tz_localize) before writing")
        return stamp.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return _iso_timedelta(value)
    return value


def _offset_text(offset_ns: int) -> str | None:
    """A UTC offset as ``datetime.isoformat`` writes it (``+01:00``, ``-03:30``,
    ``+00:19:32``); ``None`` for a sub-second offset (left to ``isoformat``)."""
    seconds, rest = divmod(abs(int(offset_ns)), 1_000_000_000)
    if rest:
        return None
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{'-' if offset_ns < 0 else '+'}{hours:02d}:{minutes:02d}"
    return text + f":{seconds:02d}" if seconds else text


def _iso_aware(series: pd.Series) -> np.ndarray | None:
    """``Timestamp.isoformat()`` of each value of a time-zone-aware column, vectorised
    (numpy's ``datetime_as_string`` on the local wall-clock times, then the offset), or
    ``None`` when an offset is not whole seconds. Fractions as pandas writes them: none
    for whole seconds, 6 digits when the nanoseconds within the microsecond are 0, else
    9. NaT gives ``None``."""
    utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    local = series.dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    known = ~np.isnat(utc)
    out = np.full(len(series), None, dtype=object)
    if not known.any():
        return out
    u, w = utc[known], local[known]
    offset = w.view(np.int64) - u.view(np.int64)
    codes, uniques = pd.factorize(offset)
    texts = [_offset_text(v) for v in uniques]
    if any(t is None for t in texts):
        return None
    ns = w.view(np.int64) % 1_000_000_000
    text = np.empty(len(w), dtype=object)
    for unit, rows in (("s", ns == 0), ("us", (ns != 0) & (ns % 1000 == 0)), ("ns", ns % 1000 != 0)):
        if rows.any():
            text[rows] = np.datetime_as_string(w[rows], unit=unit).astype(object)
    out[known] = text + np.asarray(texts, dtype=object)[codes]
    return out


def _iso_datetime_series(series: pd.Series) -> pd.Series:
    name = str(series.name)
    valid = series.notna()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        fast = _iso_aware(series)
        if fast is not None:
            return pd.Series(fast, index=series.index, name=series.name, dtype=object)
        text = series.map(lambda v: v.isoformat(), na_action="ignore")
        return text.astype(object).where(valid, None)
    if series[valid].empty or (series[valid] == series[valid].dt.normalize()).all():
        return series.dt.strftime("%Y-%m-%d").astype(object).where(valid, None)
    raise ValueError(f"CSV column {name!r} holds times without a UTC offset; localise it "
                     "(tz_localize) before writing, or write dates (normalize())")


def iso_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every date, time and duration as ISO 8601 text.

    Raises
    ------
    ValueError
        A column holds a time of day without a UTC offset (a programming error: the
        package keeps every instant time-zone aware).
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            out[column] = _iso_datetime_series(series)
        elif pd.api.types.is_timedelta64_dtype(series.dtype):
            out[column] = series.map(_iso_timedelta, na_action="ignore")
        elif pd.api.types.is_object_dtype(series.dtype):
            out[column] = series.map(lambda v, c=str(column): _iso_object(v, c), na_action="ignore")
    return out


def csv_text(frame: pd.DataFrame, *, columns: Iterable[str] | None = None) -> str:
    """``frame`` as CSV text with ISO 8601 times and formula-safe cells (no BOM, no index)."""
    table = frame if columns is None else frame.loc[:, list(columns)]
    return formula_safe_frame(iso_frame(table)).to_csv(index=False, lineterminator="\n")


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame, *,
              inputs: Iterable[str | os.PathLike[str] | None] = (), what: str = "CSV output",
              bom: bool | None = None, columns: Iterable[str] | None = None) -> Path:
    """Write ``frame`` to ``path`` as UTF-8 CSV, atomically and never over an input.

    Parameters
    ----------
    path
        The CSV file.
    frame
        The table; its index is not written.
    inputs
        Files this output must not replace (:func:`guardian_rct._core.safe_write.check_output_path`).
    what
        What the file is, for error messages.
    bom
        Start the file with a UTF-8 byte-order mark (for Excel and Power BI); ``None``
        (default) follows :func:`csv_bom_scope` (``--csv-bom`` / ``[outputs] csv_bom``).
    columns
        Write only these columns, in this order.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    data = csv_text(frame, columns=columns).encode("utf-8")
    if csv_bom_enabled() if bom is None else bom:
        data = UTF8_BOM + data
    return write_bytes(path, data, inputs=inputs, what=what)
