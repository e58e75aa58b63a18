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
  inference redraws it exactly;
* few events on treated hotspot-days compared with control days, where the rate-ratio
  *estimate* is biased towards a larger reduction (the log of a ratio of two sums is
  biased by about ``(1/n_C - 1/n_T)/2``, second-order delta method, with ``n`` the
  effective number of events, Kish 1965: ``(sum y)^2 / sum y^2`` over the arm's
  hotspot-days). The simulation study measured 1.5-4 times this approximation (e.g.
  -0.07 on the log scale for counts and -0.26 for heavy-tailed harm with blocks of 2 and
  10 hotspots over 28 days), shrinking as the trial lengthens;
* a heavy-tailed outcome (harm in CCHI days): within a hotspot, the Kish effective
  number of the days with a non-zero outcome, ``(sum y)^2 / sum y^2``, is a small share
  of their number (median over hotspots; 0.6-1 for counts, about ``exp(-sigma^2)`` for
  lognormal weights). The simulation study measured the CR2 Wald test over-rejecting heavy-tailed
  harm at 6-9% (5% nominal) with 57 hotspots, where no other reason fired.

:func:`diagnose_inference` returns :class:`InferenceDiagnosis`; when ``wald_reliable`` is
False the milestone report states it in the abstract and leads with randomisation
inference. The thresholds are module constants, documented, and checked by the
simulation study (``scripts/simulation_study.py``, docs/estimators_validation.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct.design.diagnosis import DesignDiagnosis
from guardian_rct.estimation.cr2 import cr2_for_fit
from guardian_rct.estimation.fixed_effects import fit_glm_fe
from guardian_rct.estimation.itt import ipw_weights
from guardian_rct.estimation.panel_checks import model_frame, resolve

__all__ = ["InferenceDiagnosis", "diagnose_inference", "sparse_treated_bias", "MIN_CLUSTERS", "MIN_DF",
           "MAX_TOP3_SHARE", "MAX_SPARSE_BIAS", "MIN_TAIL_SHARE", "tail_share"]

#: Fewer hotspots than this: cluster-robust Wald tests are not trusted (Cameron & Miller 2015).
MIN_CLUSTERS = 30
#: Satterthwaite df below this: the t reference itself is fragile (Pustejovsky & Tipton 2018).
MIN_DF = 15.0
#: Three hotspots holding more than this share of the variance: the score is concentrated.
MAX_TOP3_SHARE = 0.5
#: Approximate small-sample bias of the log rate ratio above this: the point estimate is flagged.
MAX_SPARSE_BIAS = 0.01
#: Effective share of the non-zero hotspot-days below this: the outcome is heavy-tailed.
MIN_TAIL_SHARE = 0.45


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
    sparse = sparse_treated_bias(mf.y, mf.treated, mf.weights)
    return _judge(outcome_column, cr2.n_clusters, cr2.df, top3, design, sparse=sparse,
                  tail=tail_share(mf.y, mf.clusters))


def tail_share(y: np.ndarray, clusters: np.ndarray) -> float:
    """Median over hotspots of the Kish effective share of their non-zero hotspot-days.

    For one hotspot's non-zero values ``v``: ``(sum v)^2 / sum v^2 / len(v)``; 1 when all
    are equal, about 0.6-0.8 for Poisson or geometric counts (even with a mean of 2 a
    day), near ``exp(-sigma^2)`` for lognormal harm weights. Within a hotspot, so that
    differences in rate between hotspots do not count as a tail. Hotspots with fewer than
    five non-zero days are left out; 1.0 when none is left.
    """
    v = np.asarray(y, dtype=float)
    c = np.asarray(clusters)
    keep = v != 0
    v, c = v[keep], c[keep]
    if v.size == 0:
        return 1.0
    codes, inv = np.unique(c, return_inverse=True)
    n = np.bincount(inv, minlength=codes.size)
    total = np.bincount(inv, weights=v, minlength=codes.size)
    square = np.bincount(inv, weights=v * v, minlength=codes.size)
    ok = n >= 5
    if not ok.any():
        return 1.0
    return float(np.median(total[ok] ** 2 / square[ok] / n[ok]))


def sparse_treated_bias(y: np.ndarray, treated: np.ndarray,
                        weights: np.ndarray | None = None) -> tuple[float, float, float]:
    """Effective events on treated and control hotspot-days, and the bias they imply.

    Returns ``(n_T, n_C, b)`` with ``n = (sum w y)^2 / sum (w y)^2`` over an arm's
    hotspot-days (Kish 1965; for Poisson counts about the number of events, for
    heavy-tailed harm far fewer) and ``b = (1/n_C - 1/n_T) / 2``, the second-order delta
    method bias of the log of a ratio of two independent sums (``E log S ~ log E S -
    CV^2/2``). A heuristic for the fixed-effects estimator: the simulation study
    (docs/estimators_validation.md) measured a bias of the same sign, 1.5-4 times ``b``.
    """
    y = np.asarray(y, dtype=float) * (1.0 if weights is None else np.asarray(weights, dtype=float))
    arm = np.asarray(treated) == 1

    def n_eff(v: np.ndarray) -> float:
        sq = float(np.sum(v * v))
        return float(np.sum(v)) ** 2 / sq if sq > 0 else 0.0

    n_t, n_c = n_eff(y[arm]), n_eff(y[~arm])
    if n_t == 0 or n_c == 0:
        return n_t, n_c, -math.inf
    return n_t, n_c, 0.5 * (1 / n_c - 1 / n_t)


def _judge(outcome: str, G: int, df: float, top3: float, design: DesignDiagnosis | None, *,
           sparse: tuple[float, float, float] | None = None,
           tail: float | None = None) -> InferenceDiagnosis:
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
    if tail is not None and tail < MIN_TAIL_SHARE:
        reasons.append(f"the outcome is heavy-tailed (the non-zero hotspot-days count as {100 * tail:.0f}% "
                       "as many equal ones): cluster-robust Wald tests over-reject such outcomes")
    if sparse is not None and not math.isfinite(sparse[2]):
        reasons.append("no events on treated or on control hotspot-days: the rate ratio cannot be estimated")
    elif sparse is not None and abs(sparse[2]) > MAX_SPARSE_BIAS:
        n_t, n_c, b = sparse
        reasons.append(f"few events on treated hotspot-days (about {n_t:.0f} effective, against {n_c:.0f} on "
                       f"control days): the rate-ratio estimate is biased in small samples, by roughly "
                       f"{b:+.2f} or more on the log scale; read the randomisation interval")
    return InferenceDiagnosis(outcome, int(G), float(df), top3, unequal, near_det, tuple(reasons))
