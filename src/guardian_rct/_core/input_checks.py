"""Checks every reader applies to a raw table: columns that clash by case, times out of range.

* Two columns whose names differ only in case or surrounding spaces (``lat`` and
  ``LAT``) are refused: readers match names case-insensitively, and silently taking one
  of them could place every crime or visit with the other's numbers.
* pandas holds times as nanoseconds from 1970, so only 1677-09-21 to 2262-04-11 fit.
  Exports often carry placeholders such as ``9999-12-31`` or ``0001-01-01``; they must be
  quarantined row by row (reason ``time out of range``), not abort the job with
  ``OutOfBoundsDatetime``. :func:`out_of_range_times` finds them by their year before any
  parsing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where

__all__ = ["lower_unique_columns", "out_of_range_times", "YEAR_RANGE"]

#: Years whose times pandas can hold (with a day's margin at each end).
YEAR_RANGE = (1678, 2261)


def lower_unique_columns(frame: pd.DataFrame, path: str | Path | None, *, what: str = "file") -> pd.DataFrame:
    """A copy of ``frame`` with stripped lower-case column names.

    Raises
    ------
    DataError
        Two columns have the same lower-case name; the message names both.
    """
    original = [str(c) for c in frame.columns]
    seen: dict[str, str] = {}
    for name in original:
        low = name.strip().lower()
        if low in seen:
            raise DataError(f"the {what} has columns '{seen[low]}' and '{name}', which are the same column",
                            where=where(path, None, name),
                            expected="each column once (names are not case-sensitive)",
                            found=f"'{seen[low]}' and '{name}'", fix="delete or rename one of them")
        seen[low] = name
    out = frame.copy()
    out.columns = [c.strip().lower() for c in original]
    return out


def out_of_range_times(values: pd.Series) -> np.ndarray:
    """Boolean mask of text times whose year pandas cannot hold (``9999-…``, ``0001-…``)."""
    text = values.astype("string").str.strip()
    year = pd.to_numeric(text.str.extract(r"^(\d{4})-", expand=False), errors="coerce")
    return ((year < YEAR_RANGE[0]) | (year > YEAR_RANGE[1])).fillna(False).to_numpy(dtype=bool)
