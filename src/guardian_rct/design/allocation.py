"""The allocation contract: which hotspot was in which arm on which experimental day.

CSV columns ``date, hotspot_id, arm, window_start, window_end`` (DESIGN.md §3): ``arm`` is
``treatment`` or ``control``; windows are ISO 8601 with an offset and are empty for
control rows. A treated hotspot-day with several scheduled visits has one row per visit.
The schedule module writes this table, and an allocation made by another tool can be
read for evaluation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.errors import DataError, where
from guardian_rct._core.input_checks import YEAR_RANGE, out_of_range_times
from guardian_rct._core.textcsv import read_text_csv

__all__ = ["Allocation", "ALLOCATION_COLUMNS", "read_allocation_csv", "write_allocation_csv",
           "allocation_from_frame"]

ALLOCATION_COLUMNS = ("date", "hotspot_id", "arm", "window_start", "window_end")
ARMS = ("treatment", "control")


@dataclass(frozen=True)
class Allocation:
    """A validated allocation.

    Attributes
    ----------
    frame
        DataFrame with ``date`` (``datetime.date``), ``hotspot_id`` (str), ``arm``
        (``"treatment"``/``"control"``), ``window_start``/``window_end`` (UTC
        ``Timestamp``; ``NaT`` for control rows), sorted by date, hotspot and window.
    source
        File it was read from, if any.
    """

    frame: pd.DataFrame
    source: Path | None = None

    @property
    def days(self) -> list[dt.date]:
        """The experimental days covered, ascending."""
        return sorted(set(self.frame["date"]))

    def assignment_matrix(self, hotspot_ids: np.ndarray | list[str]) -> tuple[list[dt.date], np.ndarray]:
        """Days and a boolean (day × hotspot) matrix, True where the hotspot was treated."""
        days = self.days
        day_index = {d: i for i, d in enumerate(days)}
        hot_index = {h: j for j, h in enumerate(hotspot_ids)}
        out = np.zeros((len(days), len(hot_index)), dtype=bool)
        treated = self.frame[self.frame["arm"] == "treatment"]
        rows = treated["date"].map(day_index).to_numpy()
        cols = treated["hotspot_id"].map(hot_index).to_numpy()
        out[rows, cols] = True
        return days, out


def _parse_instants(values: pd.Series, column: str, path: Path | None, required: np.ndarray) -> pd.Series:
    text = values.astype("string").str.strip()
    missing = text.isna() | (text == "")
    bad_missing = np.flatnonzero(missing.to_numpy() & required)
    if len(bad_missing):
        i = int(bad_missing[0])
        raise DataError("a treatment row has no patrol window", where=where(path, i + 1, column),
                        expected="an ISO 8601 time with offset", found="an empty value",
                        fix="give treated rows their scheduled window")
    far = np.flatnonzero(out_of_range_times(text) & ~missing.to_numpy())
    if len(far):
        i = int(far[0])
        raise DataError("time out of range", where=where(path, i + 1, column),
                        expected=f"a time in the years {YEAR_RANGE[0]}..{YEAR_RANGE[1]} (ISO 8601 with offset)",
                        found=repr(str(text.iloc[i])),
                        fix="a placeholder date (9999-12-31, 0001-01-01) is not a patrol window: "
                            "give the scheduled window, or mark the row control")
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    present = ~missing.to_numpy()
    if present.any():
        sub = text[present]
        has_offset = sub.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
        if not has_offset.all():
            i = int(np.flatnonzero(present)[np.flatnonzero(~has_offset.to_numpy())[0]])
            raise DataError("time without a UTC offset", where=where(path, i + 1, column),
                            expected="ISO 8601 with offset, e.g. 2023-05-01T15:00:00+01:00",
                            found=repr(str(text.iloc[i])), fix="write times with their offset or Z")
        try:
            parsed[present] = pd.to_datetime(sub, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            for k, value in zip(np.flatnonzero(present), sub, strict=True):
                try:
                    pd.to_datetime(value, utc=True, format="ISO8601")
                except (ValueError, TypeError):
                    raise DataError("time does not parse", where=where(path, int(k) + 1, column),
                                    expected="ISO 8601 with offset", found=repr(value),
                                    fix="correct the time") from None
            raise
    return parsed


def allocation_from_frame(frame: pd.DataFrame, *, source: Path | None = None,
                          hotspot_ids: np.ndarray | list[str] | None = None,
                          first_day: dt.date | None = None, last_day: dt.date | None = None) -> Allocation:
    """Validate an allocation table (see module docstring).

    Parameters
    ----------
    hotspot_ids
        When given, every row's hotspot must be one of these.
    first_day, last_day
        When given, every row's date must lie in the trial.
    """
    path = source
    missing = [c for c in ALLOCATION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"allocation is missing column(s) {', '.join(missing)}", where=where(path),
                        expected=", ".join(ALLOCATION_COLUMNS),
                        found=", ".join(map(str, frame.columns)) or "no columns",
                        fix="export the allocation with the contract's columns")
    if len(frame) == 0:
        raise DataError("the allocation has no rows", where=where(path),
                        fix="export at least one day's allocation")
    frame = frame.reset_index(drop=True)
    arm = frame["arm"].astype("string").str.strip().str.lower()
    bad_arm = np.flatnonzero(~arm.isin(ARMS).fillna(False).to_numpy())
    if len(bad_arm):
        i = int(bad_arm[0])
        raise DataError("unknown arm", where=where(path, i + 1, "arm"), expected="treatment or control",
                        found=repr(frame['arm'].iloc[i]), fix="use 'treatment' or 'control'")
    dates = []
    for i, value in enumerate(frame["date"]):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            dates.append(value)
            continue
        try:
            dates.append(dt.date.fromisoformat(str(value).strip()))
        except ValueError:
            raise DataError("date does not parse", where=where(path, i + 1, "date"),
                            expected="YYYY-MM-DD", found=repr(value), fix="write the experimental day as a date") from None
    ids = frame["hotspot_id"].astype("string").str.strip()
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError("row has no hotspot id", where=where(path, i + 1, "hotspot_id"),
                        fix="fill in the hotspot id")
    if hotspot_ids is not None:
        known = set(map(str, hotspot_ids))
        unknown = np.flatnonzero(~ids.isin(known).to_numpy())
        if len(unknown):
            i = int(unknown[0])
            raise DataError(f"hotspot '{ids.iloc[i]}' is not in the trial's hotspot file",
                            where=where(path, i + 1, "hotspot_id"),
                            expected=f"one of the {len(known)} trial hotspot ids",
                            found=repr(ids.iloc[i]), fix="use the allocation made for these hotspots")
    if first_day is not None and last_day is not None:
        for i, day in enumerate(dates):
            if not first_day <= day <= last_day:
                raise DataError("date outside the trial", where=where(path, i + 1, "date"),
                                expected=f"{first_day} to {last_day}", found=str(day),
                                fix="use the allocation made for this trial's dates")
    treated = (arm == "treatment").to_numpy()
    start = _parse_instants(frame["window_start"], "window_start", path, treated)
    end = _parse_instants(frame["window_end"], "window_end", path, treated)
    backwards = np.flatnonzero((end < start).to_numpy())
    if len(backwards):
        i = int(backwards[0])
        raise DataError("window ends before it starts", where=where(path, i + 1, "window_end"),
                        found=f"{start.iloc[i]} to {end.iloc[i]}", fix="swap or correct the times")
    out = pd.DataFrame({"date": dates, "hotspot_id": ids.astype(object), "arm": arm.astype(object),
                        "window_start": start, "window_end": end})
    key = out[["date", "hotspot_id"]]
    arms_per_day = out.groupby(["date", "hotspot_id"])["arm"].nunique()
    if (arms_per_day > 1).any():
        d, h = arms_per_day[arms_per_day > 1].index[0]
        i = int(np.flatnonzero(((key["date"] == d) & (key["hotspot_id"] == h)).to_numpy())[-1])
        raise DataError(f"hotspot '{h}' is in both arms on {d}", where=where(path, i + 1, "arm"),
                        fix="give each hotspot-day one arm")
    controls = out[out["arm"] == "control"]
    dup = controls.duplicated(["date", "hotspot_id"])
    if dup.any():
        i = int(controls.index[np.flatnonzero(dup.to_numpy())[0]])
        raise DataError("control hotspot-day listed twice", where=where(path, i + 1, "hotspot_id"),
                        fix="remove the duplicate row")
    out = out.sort_values(["date", "hotspot_id", "window_start"], kind="stable").reset_index(drop=True)
    return Allocation(out, source=path)


def read_allocation_csv(path: str | Path, **kwargs) -> Allocation:
    """Read an allocation CSV in the contract format (see :func:`allocation_from_frame`)."""
    path = Path(path)
    frame = read_text_csv(path, what="allocation", option="--allocation",
                          expected="columns " + ", ".join(ALLOCATION_COLUMNS))
    return allocation_from_frame(frame, source=path, **kwargs)


def write_allocation_csv(allocation: Allocation, path: str | Path, tz: str = "UTC") -> Path:
    """Write an allocation in the contract format; windows shown with the offset of ``tz``.

    Written atomically, never over the allocation's own source file or a protected trial
    file (:mod:`guardian_rct._core.safe_write`).
    """
    frame = allocation.frame.copy()
    for col in ("window_start", "window_end"):
        local = frame[col].dt.tz_convert(tz)
        frame[col] = [t.isoformat() if not pd.isna(t) else "" for t in local]
    frame["date"] = [d.isoformat() for d in frame["date"]]
    return write_csv(path, frame, inputs=[allocation.source], what="allocation CSV",
                     columns=ALLOCATION_COLUMNS)
