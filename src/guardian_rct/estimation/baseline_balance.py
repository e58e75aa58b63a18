"""Baseline balance of the arms: pre-trial crime and harm by arm and by day of week.

Randomisation balances baseline crime in expectation; the table shows how well it did in
this allocation, as CONSORT item 15 asks ("a table showing baseline characteristics for
each group"; Moher et al. 2010, *BMJ* 340:c869). Each hotspot-day carries its hotspot's
baseline count and harm (``baseline_count_<o>``, ``baseline_harm_<o>`` in the panel), so
the arm means weight hotspots by the number of days they spent in each arm. The
standardised difference is ``(mean_T - mean_C) / sqrt((var_T + var_C) / 2)``
(Austin 2009, *Statistics in Medicine* 28:3083–3107); no p-values, because under
randomisation any imbalance is by definition due to chance (Altman 1985).

This is the balance of the realised allocation on outcomes; ``balance.py`` (another
module) checks the balance of the schedule itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError

__all__ = ["BalanceTable", "baseline_balance", "DAY_NAMES"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _smd(t: pd.Series, c: pd.Series) -> float | None:
    if len(t) < 2 or len(c) < 2:
        return None
    diff = float(t.mean() - c.mean())
    pooled = math.sqrt((float(t.var(ddof=1)) + float(c.var(ddof=1))) / 2)
    if pooled == 0:
        return 0.0 if diff == 0 else None
    return diff / pooled


@dataclass(frozen=True)
class BalanceTable:
    """Baseline crime and harm by arm, overall and by day of week.

    Attributes
    ----------
    overall
        One record per outcome and measure (``count``/``harm``): ``mean_treatment``,
        ``mean_control`` (baseline per hotspot, averaged over hotspot-days),
        ``difference``, ``std_difference``, ``n_treatment``, ``n_control`` (hotspot-days).
    by_day_of_week
        One record per day of week (Monday first): ``treatment_days``, ``control_days``,
        ``share_treated`` and, per outcome, the mean baseline count and harm in each arm.
    baseline_days
        Length of the baseline period the counts cover, if known.
    """

    overall: tuple[dict[str, Any], ...]
    by_day_of_week: tuple[dict[str, Any], ...]
    baseline_days: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_days": self.baseline_days, "overall": [dict(r) for r in self.overall],
                "by_day_of_week": [dict(r) for r in self.by_day_of_week]}

    def to_frame(self) -> pd.DataFrame:
        """The overall table as a DataFrame."""
        return pd.DataFrame(list(self.overall))


def baseline_balance(panel_frame: pd.DataFrame, outcomes: Sequence[str], *,
                     baseline_days: int | None = None) -> BalanceTable:
    """Balance of baseline crime and harm between arms (see module docstring).

    Parameters
    ----------
    panel_frame
        ``Panel.frame`` (contract columns ``treated``, ``dow``, ``baseline_count_<o>``,
        ``baseline_harm_<o>``).
    outcomes
        Outcome names to tabulate.

    Raises
    ------
    DataError
        If a needed column is missing.
    """
    needed = ["treated", "dow"]
    for o in outcomes:
        needed += [f"baseline_count_{o}", f"baseline_harm_{o}"]
    missing = [c for c in needed if c not in panel_frame.columns]
    if missing:
        raise DataError(f"panel lacks column(s) {', '.join(missing)} for the balance table",
                        expected=", ".join(needed), where="panel",
                        fix="build the panel with baseline counts for every evaluated outcome")
    treated = panel_frame["treated"].to_numpy() == 1
    overall = []
    for o in outcomes:
        for measure in ("count", "harm"):
            col = panel_frame[f"baseline_{measure}_{o}"].astype(float)
            t, c = col[treated], col[~treated]
            mt, mc = _mean(t), _mean(c)
            overall.append({
                "outcome": o, "measure": measure,
                "mean_treatment": mt, "mean_control": mc,
                "difference": (mt - mc) if mt is not None and mc is not None else None,
                "std_difference": _smd(t, c),
                "n_treatment": int(treated.sum()), "n_control": int((~treated).sum()),
            })
    by_dow = []
    dow = panel_frame["dow"].to_numpy()
    for d in range(7):
        here = dow == d
        if not here.any():
            continue
        th, ch = here & treated, here & ~treated
        n_t, n_c = int(th.sum()), int(ch.sum())
        cells = []
        for o in outcomes:
            cnt = panel_frame[f"baseline_count_{o}"].to_numpy(dtype=float)
            hrm = panel_frame[f"baseline_harm_{o}"].to_numpy(dtype=float)
            cells.append({
                "outcome": o,
                "count_treatment": float(np.mean(cnt[th])) if n_t else None,
                "count_control": float(np.mean(cnt[ch])) if n_c else None,
                "harm_treatment": float(np.mean(hrm[th])) if n_t else None,
                "harm_control": float(np.mean(hrm[ch])) if n_c else None,
            })
        by_dow.append({"dow": d, "day": DAY_NAMES[d], "treatment_days": n_t, "control_days": n_c,
                       "share_treated": n_t / (n_t + n_c), "outcomes": cells})
    return BalanceTable(tuple(overall), tuple(by_dow), baseline_days)
