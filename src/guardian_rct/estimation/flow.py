"""CONSORT-style flow of hotspot-days: assigned, delivered, not delivered, contaminated.

In a place-based trial the randomised units are hotspot-days (crossover) or hotspots
(parallel), so the flow diagram counts hotspot-days (CONSORT 2010, Moher et al., *BMJ*
340:c869; Boruch et al.'s adaptation for place-based experiments). Every box is a count
and every split adds up to its parent; :func:`trial_flow` checks that it does, so a
report never shows a flow that leaks hotspot-days.

Compliance columns come from ``Panel.frame`` (``delivered`` on treatment days,
``contaminated`` on control days); where they are missing or empty the hotspot-days are
counted as "compliance unknown" rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError

__all__ = ["TrialFlow", "trial_flow"]


@dataclass(frozen=True)
class TrialFlow:
    """Counts of hotspot-days through the trial.

    ``analysed`` is the number of hotspot-days entering the intention-to-treat analysis
    (all assigned hotspot-days, whatever was delivered).
    """

    hotspots: int
    days: int
    assigned: int
    treatment: int
    delivered: int
    not_delivered: int
    delivery_unknown: int
    control: int
    contaminated: int
    not_contaminated: int
    contamination_unknown: int
    analysed: int

    @property
    def delivery_rate(self) -> float | None:
        """Share of treatment hotspot-days with a known outcome that were delivered."""
        known = self.delivered + self.not_delivered
        return self.delivered / known if known else None

    @property
    def contamination_rate(self) -> float | None:
        """Share of control hotspot-days with known status that saw a patrol."""
        known = self.contaminated + self.not_contaminated
        return self.contaminated / known if known else None

    def checks(self) -> dict[str, bool]:
        """Each split adds up to its parent."""
        return {
            "assigned = treatment + control": self.assigned == self.treatment + self.control,
            "treatment = delivered + not delivered + unknown":
                self.treatment == self.delivered + self.not_delivered + self.delivery_unknown,
            "control = contaminated + not contaminated + unknown":
                self.control == self.contaminated + self.not_contaminated + self.contamination_unknown,
            "analysed = assigned (intention to treat)": self.analysed == self.assigned,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "hotspots": self.hotspots, "days": self.days, "assigned": self.assigned,
            "treatment": self.treatment, "delivered": self.delivered,
            "not_delivered": self.not_delivered, "delivery_unknown": self.delivery_unknown,
            "control": self.control, "contaminated": self.contaminated,
            "not_contaminated": self.not_contaminated,
            "contamination_unknown": self.contamination_unknown, "analysed": self.analysed,
            "delivery_rate": self.delivery_rate, "contamination_rate": self.contamination_rate,
            "checks": self.checks(),
        }


def _split(values: pd.Series | None, n: int) -> tuple[int, int, int]:
    """(yes, no, unknown) counts of a 0/1 column (missing column: all unknown)."""
    if values is None:
        return 0, 0, n
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isnan(numeric) & ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        raise DataError("compliance flag is not 0 or 1", expected="0, 1 or empty",
                        found=repr(values.iloc[int(np.flatnonzero(bad)[0])]), where="panel compliance",
                        fix="code delivered/contaminated as 0 or 1")
    yes = int(np.sum(numeric == 1))
    no = int(np.sum(numeric == 0))
    return yes, no, n - yes - no


def trial_flow(panel_frame: pd.DataFrame) -> TrialFlow:
    """Count hotspot-days through the trial from ``Panel.frame``.

    Raises
    ------
    DataError
        If ``treated`` is missing or not 0/1, or a compliance flag is not 0/1.
    """
    if "treated" not in panel_frame.columns:
        raise DataError("panel lacks the 'treated' column", where="panel",
                        fix="build the panel from an allocation")
    treated = pd.to_numeric(panel_frame["treated"], errors="coerce")
    if treated.isna().any() or not treated.isin([0, 1]).all():
        raise DataError("'treated' must be 0 or 1 on every hotspot-day", where="panel",
                        found=repr(panel_frame["treated"][~treated.isin([0, 1])].iloc[0]),
                        fix="rebuild the panel from a valid allocation")
    t_mask = (treated == 1).to_numpy()
    tr = panel_frame[t_mask]
    co = panel_frame[~t_mask]
    d_yes, d_no, d_unknown = _split(tr["delivered"] if "delivered" in tr.columns else None, len(tr))
    c_yes, c_no, c_unknown = _split(co["contaminated"] if "contaminated" in co.columns else None, len(co))
    flow = TrialFlow(
        hotspots=int(panel_frame["hotspot_id"].nunique()) if "hotspot_id" in panel_frame.columns else 0,
        days=int(panel_frame["date"].nunique()) if "date" in panel_frame.columns else 0,
        assigned=len(panel_frame), treatment=len(tr), delivered=d_yes, not_delivered=d_no,
        delivery_unknown=d_unknown, control=len(co), contaminated=c_yes, not_contaminated=c_no,
        contamination_unknown=c_unknown, analysed=len(panel_frame),
    )
    failed = [name for name, ok in flow.checks().items() if not ok]
    if failed:  # pragma: no cover - arithmetic above makes this impossible; kept as a guard
        raise DataError("the flow of hotspot-days does not add up", found=", ".join(failed), where="panel",
                        fix="report this as a bug")
    return flow
