"""Data diagnosis at evaluation: is the model-based (Wald) test trustworthy here?

For one outcome of the panel it measures what makes cluster-robust Wald inference
unreliable (Cameron & Miller 2015, §VI; MacKinnon & Webb 2017; Pustejovsky & Tipton 2018;
Young 2019):

* the number of clusters ``G`` (hotspots);
* the Satterthwaite effective degrees of freedom of the CR2 variance
  (:mod:`guardian_rct.estimation.cr2`) — low when the treatment's leverage sits in a few
  hotspots, however many there are;
* the concentration of the score: the share of the CR2 variance contributed by the
  largest three hotspots (heavy-tailed harm often puts most of it in one or two);
* unequal blocks (from the design diagnosis), where assignment probabilities and cluster
  sizes differ and the Wald test has been measured far from nominal (issue 12);
* a design that is nearly deterministic, or whose history constraints
  (``max_consecutive_control_days``, ``min_gap_days``) make a hotspot's days dependent:
  the cluster-robust variance ignores that dependence (the simulation study measured a
  Wald size of 8% for harm with 57 hotspots under such constraints), while randomisation
  inference redraws it exactly.

:func:`diagnose_inference` returns :class:`InferenceDiagnosis`; when ``wald_reliable`` is
False the milestone report states it in the abstract and leads with randomisation
inference. The thresholds are module constants, documented, and checked by the
simulation study (``scripts/simulation_study.py``, docs/estimators_validation.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct.design.diagnosis import DesignDiagnosis
from guardian_rct.estimation.cr2 import cr2_for_fit
from guardian_rct.estimation.fixed_effects import fit_glm_fe
from guardian_rct.estimation.itt import ipw_weights
from guardian_rct.estimation.panel_checks import model_frame, resolve

__all__ = ["InferenceDiagnosis", "diagnose_inference", "MIN_CLUSTERS", "MIN_DF", "MAX_TOP3_SHARE"]

#: Fewer hotspots than this: cluster-robust Wald tests are not trusted (Cameron & Miller 2015).
MIN_CLUSTERS = 30
#: Satterthwaite df below this: the t reference itself is fragile (Pustejovsky & Tipton 2018).
MIN_DF = 15.0
#: Three hotspots holding more than this share of the variance: the score is concentrated.
MAX_TOP3_SHARE = 0.5


@dataclass(frozen=True)
class InferenceDiagnosis:
    """Diagnosis of one outcome column; ``lead`` is what the report leads with."""

    outcome: str
    n_clusters: int
    satterthwaite_df: float
    top3_share: float
    unequal_blocks: bool
    near_deterministic: bool
    reasons: tuple[str, ...]

    @property
    def wald_reliable(self) -> bool:
        """True when no reason to distrust the Wald test was found."""
        return not self.reasons

    @property
    def lead(self) -> str:
        """``"randomisation"`` when the Wald test is not trusted, else ``"wald"``."""
        return "wald" if self.wald_reliable else "randomisation"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"outcome": self.outcome, "n_clusters": self.n_clusters,
                "satterthwaite_df": self.satterthwaite_df, "top3_share": self.top3_share,
                "unequal_blocks": self.unequal_blocks, "near_deterministic": self.near_deterministic,
                "wald_reliable": self.wald_reliable, "lead": self.lead,
                "reasons": list(self.reasons)}


def diagnose_inference(panel_frame: pd.DataFrame, outcome_column: str, *,
                       design: DesignDiagnosis | None = None,
                       fe: tuple[str, ...] = ("hotspot", "day")) -> InferenceDiagnosis:
    """Diagnose the Poisson FE Wald test for ``outcome_column`` (see module notes)."""
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    mf = model_frame(panel_frame, outcome_column, fe=fe, weights=ipw_weights(panel_frame))
    X = mf.treated[:, None]
    fit = fit_glm_fe(mf.y, X, mf.fe, weights=mf.weights)
    cr2 = cr2_for_fit(fit, mf.y, X, mf.fe, mf.clusters, prior=mf.weights)
    share = np.sort(np.nan_to_num(cr2.cluster_share))[::-1]
    top3 = float(share[:3].sum())
    return _judge(outcome_column, cr2.n_clusters, cr2.df, top3, design)


def _judge(outcome: str, G: int, df: float, top3: float,
           design: DesignDiagnosis | None) -> InferenceDiagnosis:
    reasons = []
    if G < MIN_CLUSTERS:
        reasons.append(f"only {G} hotspots (clusters); cluster-robust tests need about {MIN_CLUSTERS} or more")
    if df < MIN_DF:
        reasons.append(f"the effective degrees of freedom are {df:.1f} (Satterthwaite), below {MIN_DF:.0f}")
    if top3 > MAX_TOP3_SHARE:
        reasons.append(f"three hotspots hold {100 * top3:.0f}% of the variance of the estimate")
    unequal = bool(design is not None and design.unequal_blocks)
    if unequal:
        reasons.append("the blocks differ in size by more than a factor of two")
    near_det = bool(design is not None and (design.refuse or design.warnings))
    if near_det:
        reasons.append("the design has little randomness (see the design diagnosis)")
    elif design is not None and design.constrained:
        reasons.append("the design constrains consecutive days of a hotspot, a dependence the "
                       "model-based variance ignores")
    return InferenceDiagnosis(outcome, int(G), float(df), top3, unequal, near_det, tuple(reasons))
