"""The compliance-per-hotspot-day contract: read and validate it from CSV.

Columns ``date, hotspot_id, delivered, dosage_minutes, contaminated`` (docs/contracts.md):
flags 0/1, dosage in minutes, empty cells mean unknown. The weekly report writes this file
(``compliance_hotspot_days.csv``); ``guardian-rct panel`` and ``guardian-rct evaluate``
read it with ``--compliance``, through :func:`read_compliance_csv`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where
from guardian_rct._core.textcsv import read_text_csv

__all__ = ["COMPLIANCE_COLUMNS", "read_compliance_csv"]

COMPLIANCE_COLUMNS = ("date", "hotspot_id", "delivered", "dosage_minutes", "contaminated")


def read_compliance_csv(path: str | Path, hotspot_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Read compliance per hotspot-day (contract: ``date, hotspot_id, delivered,
    dosage_minutes, contaminated``; flags 0/1, dosage in minutes, empty = unknown).

    Raises
    ------
    DataError
        Naming the file, row and column of the first unusable value.
    """
    path = Path(path)
    raw = read_text_csv(path, what="compliance", option="--compliance",
                        expected="columns " + ", ".join(COMPLIANCE_COLUMNS))
    missing = [c for c in COMPLIANCE_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"compliance file is missing column(s) {', '.join(missing)}", where=where(path),
                        expected=", ".join(COMPLIANCE_COLUMNS), found=", ".join(raw.columns),
                        fix="export compliance per hotspot-day with the contract's columns")
    out = pd.DataFrame({"hotspot_id": raw["hotspot_id"].str.strip()})
    dates = []
    for i, text in enumerate(raw["date"]):
        try:
            dates.append(dt.date.fromisoformat(text.strip()))
        except ValueError:
            raise DataError("date does not parse", where=where(path, i + 1, "date"), expected="YYYY-MM-DD",
                            found=repr(text), fix="write the experimental day as a date") from None
    out.insert(0, "date", dates)
    if hotspot_ids is not None:
        known = set(map(str, hotspot_ids))
        bad = np.flatnonzero(~out["hotspot_id"].isin(known).to_numpy())
        if len(bad):
            i = int(bad[0])
            raise DataError(f"hotspot '{out['hotspot_id'].iloc[i]}' is not in the trial's hotspot file",
                            where=where(path, i + 1, "hotspot_id"), fix="use compliance for these hotspots")
    optional = [(c, "flag") for c in ("delivered_on_day", "present_on_day") if c in raw.columns]
    for col, allowed in (("delivered", "flag"), ("contaminated", "flag"), ("dosage_minutes", "minutes"),
                         *optional):  # optional: the evaluation's on-day presence (scoring.ON_DAY_COLUMNS)
        text = raw[col].str.strip()
        values = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = (text != "") & values.isna()
        if allowed == "flag":
            bad |= values.notna() & ~values.isin([0, 1])
        else:
            bad |= values.notna() & (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"unusable {col} value", where=where(path, i + 1, col),
                            expected="0 or 1 (or empty)" if allowed == "flag" else "minutes >= 0 (or empty)",
                            found=repr(raw[col].iloc[i]), fix=f"correct the {col} value")
        out[col] = values.astype(float)
    dup = out.duplicated(["date", "hotspot_id"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError("hotspot-day listed twice", where=where(path, i + 1, "hotspot_id"),
                        fix="give one compliance row per hotspot and day")
    return out
