"""Baseline crime rates per hotspot-day for power analysis.

:func:`baseline_rates_from_crimes` counts an outcome's crimes in each hotspot over the
period a crimes file covers and divides by its length in days. Two kinds of file are read:

* force crime records (the crimes contract, :func:`guardian_rct.crimes.records.read_crimes`): the
  crimes are placed on experimental days exactly as the panel does (trial time zone and
  day start, ``[harm]`` exclusions applied) and the period runs from the first to the last
  experimental day that holds any crime in the file;
* data.police.uk street CSVs (:func:`guardian_rct.crimes.policeuk.read_street_crimes`; dated by
  month only): the period is the calendar days of the months present.

A crime counts in a hotspot when the polygon intersects its point (as in
:mod:`guardian_rct.crimes.panel`; overlapping hotspots both count it). :func:`constant_rates`
gives every hotspot the same rate (``--rate``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["BaselineRates", "baseline_rates_from_crimes", "constant_rates"]


@dataclass(frozen=True)
class BaselineRates:
    """Expected crimes per hotspot-day (aligned with the hotspot set's ``ids``).

    Attributes
    ----------
    rates
        Crimes per day in each hotspot.
    outcome
        Outcome counted (``None`` for a rate given by hand).
    source
        Where the rates came from (a file, or ``"--rate"``).
    period_days
        Length of the period counted over (``None`` for a given rate).
    crimes_in_hotspots
        Crimes of the outcome counted in the hotspots.
    """

    hotspot_ids: tuple[str, ...]
    rates: np.ndarray
    outcome: str | None
    source: str
    period_days: int | None = None
    crimes_in_hotspots: int | None = None
    period: tuple[str, str] | None = None

    @property
    def mean_rate(self) -> float:
        """Mean crimes per hotspot-day."""
        return float(np.mean(self.rates))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the per-hotspot rates included)."""
        return {"source": self.source, "outcome": self.outcome, "period_days": self.period_days,
                "period": list(self.period) if self.period else None,
                "crimes_in_hotspots": self.crimes_in_hotspots, "mean_rate_per_hotspot_day": self.mean_rate,
                "hotspots_with_no_crime": int(np.sum(self.rates == 0)),
                "rates": dict(zip(self.hotspot_ids, map(float, self.rates), strict=True))}


def constant_rates(rate: float, hotspots: HotspotSet) -> BaselineRates:
    """Every hotspot ``rate`` crimes per day."""
    if not (np.isfinite(rate) and rate > 0):
        raise UsageError("the crime rate must be a positive number of crimes per hotspot-day",
                         where="--rate", found=str(rate), fix="give e.g. --rate 0.2")
    ids = tuple(str(h) for h in hotspots.ids)
    return BaselineRates(ids, np.full(len(ids), float(rate)), None, "--rate")


def _is_street_file(path: Path) -> bool:
    try:
        head = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except Exception:  # not a CSV (e.g. Parquet): the crimes reader decides
        return False
    cols = {str(c).strip() for c in head.columns}
    return {"Month", "Crime type"} <= cols


def _count_in_hotspots(x: np.ndarray, y: np.ndarray, hotspots: HotspotSet) -> np.ndarray:
    tree = shapely.STRtree(hotspots.frame.geometry.to_numpy())
    _, hot = tree.query(shapely.points(x, y), predicate="intersects")
    return np.bincount(hot, minlength=len(hotspots)).astype(float)


def baseline_rates_from_crimes(path: str | Path, config: TrialConfig, hotspots: HotspotSet, *,
                               outcome: str) -> BaselineRates:
    """Crimes of ``outcome`` per hotspot-day over the period ``path`` covers.

    Parameters
    ----------
    path
        Force crime records (CSV/Parquet, the crimes contract) or a data.police.uk street CSV.
    config
        The trial config (outcome definitions, time zone, day start, harm exclusions).
    hotspots
        The trial's hotspots.
    outcome
        Name of an ``[outcomes.NAME]`` table.

    Raises
    ------
    DataError
        No crime of the outcome falls in any hotspot.
    """
    from guardian_rct._core.days import experimental_days
    from guardian_rct.crimes.outcomes import exclusions, outcome_mask

    path = Path(path)
    if not path.is_file():
        raise DataError("crimes file not found", where=str(path), fix="check the path given to --crimes")
    spec = config.outcome(outcome)
    crs = hotspots.crs.to_string()
    if _is_street_file(path):
        from guardian_rct.crimes.policeuk import read_street_crimes

        street = read_street_crimes(path, crs=crs)
        frame = pd.DataFrame({"offence_code": pd.Series(pd.NA, index=street.frame.index, dtype="string"),
                              "crime_type": street.frame["crime_type"],
                              "victim_age": np.nan})
        mask = outcome_mask(frame, spec)
        months = sorted(set(street.frame["month"]))
        if not months:
            raise DataError("the crimes file holds no usable crimes", where=str(path),
                            fix="check the file (its rows were quarantined)")
        period_days = sum(calendar.monthrange(int(m[:4]), int(m[5:7]))[1] for m in months)
        period = (months[0] + "-01", months[-1])
        pts = street.frame.geometry[mask]
        counts = _count_in_hotspots(pts.x.to_numpy(), pts.y.to_numpy(), hotspots)
    else:
        from guardian_rct.crimes.records import read_crimes

        crimes = read_crimes(path, crs=crs)
        frame = crimes.frame
        if len(frame) == 0:
            raise DataError("the crimes file holds no usable crimes", where=str(path),
                            fix="check the file (its rows were quarantined)")
        kept = exclusions(frame, config.harm).isna().to_numpy()
        days = experimental_days(frame["occurred_at"], config.trial.tz, config.trial.day_start_time)
        first, last = days.min(), days.max()
        period_days = int((last - first).astype(int)) + 1
        period = (str(first), str(last))
        mask = outcome_mask(frame, spec) & kept
        counts = _count_in_hotspots(frame["x"].to_numpy(dtype=float)[mask],
                                    frame["y"].to_numpy(dtype=float)[mask], hotspots)
    total = int(counts.sum())
    if total == 0:
        raise DataError(f"no '{outcome}' crimes fall in any hotspot", where=str(path),
                        expected="crimes of the outcome inside the hotspot polygons",
                        found=f"0 of {int(mask.sum())} '{outcome}' crimes in the file",
                        fix="check the file covers the hotspots' area and the outcome "
                            "(street files have no victim ages), or give --rate")
    return BaselineRates(tuple(str(h) for h in hotspots.ids), counts / period_days, outcome, str(path),
                         period_days=period_days, crimes_in_hotspots=total, period=period)
