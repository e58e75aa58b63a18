"""Absolute effects: crimes and harm prevented in the hotspots over the trial.

Boards ask how many crimes the patrols prevented. The estimand here is the expected
number of crimes (or CCHI days) that the patrol-assigned hotspot-days would have had
without the assignment, minus what they had:

    prevented = Σ_{treated hotspot-days} (E[y_it(0)] − y_it) = Y_T · (1/IRR − 1),

because under the Poisson fixed-effects model ``E[y_it(0)] = E[y_it(1)] / IRR`` for every
treated hotspot-day (the counterfactual is the fitted count with the treatment term
removed; the "prevented fraction among the exposed", Greenland & Robins 1988, *Am. J.
Epidemiol.* 128:1185–1197, applied to the ITT rate ratio). ``Y_T`` is the observed total
on treated hotspot-days. The interval maps the ITT rate ratio's confidence limits through
the same monotone function, ``Y_T (1/IRR_high − 1)`` to ``Y_T (1/IRR_low − 1)``: it
carries the uncertainty of the rate ratio, the dominant one, and treats ``Y_T`` as
fixed (coverage checked by simulation in ``tests/test_absolute_effects.py``). It is the
effect of *assigning* patrols (ITT), not of a delivered patrol. Per 1,000 patrol-days
divides by the number of patrol-assigned hotspot-days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct.estimation.results import Estimate

__all__ = ["AbsoluteEffect", "absolute_effect"]

ESTIMAND = ("Sum over patrol-assigned hotspot-days of the fitted no-patrol count minus the observed count, "
            "Y_T (1/IRR - 1), with the ITT rate ratio and its confidence limits (Greenland & Robins 1988)")


@dataclass(frozen=True)
class AbsoluteEffect:
    """Crimes (or harm) prevented by assigning patrols, with an interval.

    Positive ``prevented`` = fewer crimes than expected without patrols.
    """

    outcome: str
    measure: str
    observed_treated: float
    treated_days: int
    irr: float
    prevented: float
    conf_low: float
    conf_high: float
    confidence_level: float

    @property
    def per_1000_patrol_days(self) -> tuple[float, float, float]:
        """``(prevented, low, high)`` per 1,000 patrol-assigned hotspot-days."""
        f = 1000.0 / self.treated_days
        return self.prevented * f, self.conf_low * f, self.conf_high * f

    def to_dict(self) -> dict[str, Any]:
        per, lo, hi = self.per_1000_patrol_days
        return {"outcome": self.outcome, "measure": self.measure, "observed_on_patrol_days": self.observed_treated,
                "patrol_days": int(self.treated_days), "irr": self.irr, "prevented": self.prevented,
                "conf_low": self.conf_low, "conf_high": self.conf_high,
                "per_1000_patrol_days": per, "per_1000_conf_low": lo, "per_1000_conf_high": hi,
                "confidence_level": self.confidence_level, "estimand": ESTIMAND}


def absolute_effect(estimate: Estimate, panel_frame: pd.DataFrame, column: str, *,
                    confidence_level: float = 0.95) -> AbsoluteEffect | None:
    """Prevented crimes (or harm) from an ITT rate-ratio estimate; ``None`` if it has no rate ratio."""
    irr, lo, hi = estimate.irr, estimate.irr_conf_low, estimate.irr_conf_high
    if irr is None or lo is None or hi is None or not all(map(math.isfinite, (irr, lo, hi))) or min(irr, lo) <= 0:
        return None
    treated = pd.to_numeric(panel_frame["treated"], errors="coerce").to_numpy(dtype=float) == 1
    y = pd.to_numeric(panel_frame[column], errors="coerce").to_numpy(dtype=float)
    total = float(np.nansum(y[treated]))
    n = int(treated.sum())
    if n == 0:
        return None
    return AbsoluteEffect(outcome=estimate.outcome, measure="harm" if column.startswith("harm_") else "count",
                          observed_treated=total, treated_days=n, irr=float(irr),
                          prevented=total * (1.0 / irr - 1.0), conf_low=total * (1.0 / hi - 1.0),
                          conf_high=total * (1.0 / lo - 1.0), confidence_level=confidence_level)
