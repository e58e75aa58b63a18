"""Read back a panel written by :meth:`guardian_rct.crimes.panel.Panel.write` (``guardian-rct panel``).

The exported panel is an evaluator's input: ``itt_estimates(read_panel(path), outcome)``
must give the numbers of the milestone report. :func:`read_panel` therefore restores the
column types the estimators rely on (``date`` as a datetime, ``hotspot_id`` as text,
``treated`` 0/1, ``p_treated`` a probability) and refuses a file that lacks them, in
particular a ``p_treated`` column left empty (the inverse-probability weights of
:func:`guardian_rct.estimation.itt.ipw_weights` need it whenever blocks differ).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where

__all__ = ["read_panel"]

_REQUIRED = ("hotspot_id", "date", "treated", "p_treated")


def _locate(path: Path, name: str) -> Path:
    if path.is_dir():
        for suffix in (".parquet", ".csv"):
            if (path / f"{name}{suffix}").is_file():
                return path / f"{name}{suffix}"
        raise DataError(f"no {name}.parquet or {name}.csv in the folder", where=where(path),
                        fix="give the folder written by 'guardian-rct panel --out'")
    if not path.is_file():
        raise DataError("panel file not found", where=where(path), fix="check the path")
    return path


def read_panel(path: str | Path, *, table: str = "panel") -> pd.DataFrame:
    """The hotspot × day panel (``table="panel"``) or its rings (``"rings"``) as a DataFrame.

    Parameters
    ----------
    path
        ``panel.parquet``, ``panel.csv`` or the folder holding them (Parquet preferred:
        it keeps the types exactly).

    Raises
    ------
    DataError
        Missing file or column, an empty or out-of-range ``p_treated``, or ``treated``
        other than 0/1, naming the file, row and column.
    """
    path = _locate(Path(path), table)
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, dtype={"hotspot_id": str, "block": str, "ring": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the panel as CSV ({exc})", where=where(path),
                            fix="give the panel.csv written by 'guardian-rct panel'") from None
        for col in ("window_start",):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce")
    else:
        raise DataError("not a panel file", where=where(path), expected=".parquet or .csv",
                        found=path.suffix or "no extension", fix="give panel.parquet or panel.csv")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"the panel lacks column(s) {', '.join(missing)}", where=where(path),
                        expected=", ".join(_REQUIRED), found=", ".join(map(str, frame.columns[:10])),
                        fix="rebuild it with 'guardian-rct panel'")
    frame["hotspot_id"] = frame["hotspot_id"].astype(str)
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    for col, ok, expected in (("treated", lambda v: np.isin(v, (0.0, 1.0)), "0 or 1"),
                              ("p_treated", lambda v: np.isfinite(v) & (v > 0) & (v < 1),
                               "a probability strictly between 0 and 1")):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~ok(values))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"'{col}' is not {expected}", where=where(path, i + 1, col),
                            expected=expected, found=repr(frame[col].iloc[i]),
                            fix="rebuild the panel with 'guardian-rct panel' (it fills p_treated from the design)")
        frame[col] = values.astype(np.int64) if col == "treated" else values
    return frame
