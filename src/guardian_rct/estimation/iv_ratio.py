"""The effect of patrol presence as a rate ratio: multiplicative (Poisson) instrumental variables.

The linear 2SLS CACE of :func:`guardian_rct.estimation.iv.cace` is a difference in crimes
per hotspot-day, which cannot be set beside the ITT rate ratio. Here the structural model
is multiplicative (Mullahy 1997, *Rev. Econ. Stat.* 79:586–593; Windmeijer & Santos Silva
1997, *J. Appl. Econometrics* 12:281–294):

    E[y_it | D_it, α_i, γ_t, u_it] = exp(α_i + γ_t + β·D_it) · u_it,   E[u_it | Z_it, α_i, γ_t] = 1,

with ``D`` patrol presence on the experimental day and ``Z`` the random assignment.
``exp(β)`` is the rate ratio of a hotspot-day with a patrol present against the same
hotspot-day without one, among compliers (the multiplicative analogue of the local average
treatment effect). The moment condition is that the *de-treated* outcome
``ỹ(β) = y · exp(−β·D)`` is unrelated to the assignment given the fixed effects: the Poisson
fixed-effects coefficient ``γ(β)`` of ``Z`` in a regression of ``ỹ(β)`` is zero at the true β.

* The estimate ``β̂`` solves ``γ(β̂) = 0`` (the just-identified GMM estimator of Mullahy 1997
  with the fixed effects' moments; in a panel without fixed effects and without patrols on
  control days it is ``exp(−β̂) = (n₁ȳ₀ − S₁₀)/S₁₁``, checked in the tests).
* The Anderson–Rubin interval (Anderson & Rubin 1949; for weak instruments Staiger & Stock
  1997, Andrews, Stock & Sun 2019) is the set of β whose de-treated outcome shows no effect
  of assignment: ``{β : |γ(β)/se(γ(β))| ≤ t_{1−α/2}(G−1)}`` with the same clustered standard
  error as the ITT. It stays valid however weak the first stage; it can be unbounded, and
  then the report says so rather than printing a number.
* The standard error is the delta-method one of a just-identified GMM estimator,
  ``se(γ(β̂)) / |γ′(β̂)|`` (numerical derivative); it is shown but the interval reported is AR.

The outcome may be a count or any non-negative continuous measure such as crime harm (CCHI
days): the moment condition asks only that ``E[ỹ(β) | Z]`` be free of ``Z``, not that ``y``
be Poisson (Santos Silva & Tenreyro 2006 for the same point about PPML). A design-based
interval for the same β, by re-drawing the assignment under the sharp null
``Y(d) = Y(0)·e^(βd)``, is :func:`guardian_rct.estimation.randomisation.randomisation_test`
with ``dose`` = presence (Imbens & Rosenbaum 2005).

Assumptions (stated beside the number in the report): random assignment; the exclusion
restriction (assignment changes crime only through patrol presence on the day); monotonicity
(no hotspot-day is patrolled *because* it was assigned no patrol); no interference between
hotspot-days (a patrol today does not change crime in another hotspot or on another day).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from guardian_rct._core.errors import DataError
from guardian_rct.estimation.fixed_effects import cluster_vcov, fit_glm_fe, single_threaded
from guardian_rct.estimation.iv import cace, patrol_present
from guardian_rct.estimation.panel_checks import model_frame, resolve
from guardian_rct.estimation.results import WEAK_INSTRUMENT_F, Estimate

__all__ = ["cace_ratio", "CACE_ASSUMPTIONS", "BETA_BOUND"]

#: Largest |log rate ratio| searched for the estimate and the AR limits (rate ratios e^±5).
BETA_BOUND = 5.0

#: The identifying assumptions of the CACE, in words for the report.
CACE_ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    ("Random assignment", "Patrol assignment was drawn by the trial's design, independently of crime; "
     "holds by construction."),
    ("Exclusion restriction", "Assignment changes crime only through patrol presence on the day: no effect "
     "of the published list itself (e.g. other units avoiding or targeting listed hotspots). Not testable; "
     "if it fails the CACE attributes to delivery what assignment did."),
    ("Monotonicity", "No hotspot-day is patrolled because it was assigned no patrol (no defiers). Plausible "
     "when control-day presence is ordinary demand-led patrolling."),
    ("No interference", "A patrol in one hotspot-day does not change crime in another hotspot or on another "
     "day. Carry-over and displacement estimates in this report test parts of it."),
)


def mf_clusters(mf) -> int:
    """Number of clusters of a model frame."""
    return int(len(pd.unique(mf.clusters)))


class _GammaFits:
    """The ITT Poisson fit of the de-treated outcome ``y·exp(−βD)``, for many β.

    Only ``y`` changes with β, so the redundant-dummy check is done once, and every fit
    starts from the nearest β already fitted (its means rescaled by ``exp(−Δβ·D)``): the
    same optimum in a few IRLS iterations instead of a cold start each time. A β fitted
    before returns its stored result, so a root search sees the signs the grid scan saw.
    """

    def __init__(self, mf, d: np.ndarray) -> None:
        self.mf, self.d = mf, d
        self.kept: np.ndarray | None = None
        self.done: dict[float, np.ndarray] = {}
        self.results: dict[float, tuple[float, float, int]] = {}

    def __call__(self, beta: float) -> tuple[float, float, int]:
        beta = float(beta)
        if beta not in self.results:
            self.results[beta] = self._fit(beta)
        return self.results[beta]

    def _fit(self, beta: float) -> tuple[float, float, int]:
        mf = self.mf
        start = None
        if self.done:
            near = min(self.done, key=lambda b: abs(b - beta))
            start = self.done[near] * np.exp(-(beta - near) * self.d)
        fit = fit_glm_fe(mf.y * np.exp(-beta * self.d), mf.treated[:, None], mf.fe, family="poisson",
                         weights=mf.weights, start_mu=start, kept=self.kept)
        if not fit.converged:
            return float("nan"), float("nan"), 0
        self.kept = fit.kept
        self.done[float(beta)] = fit.mu
        vcov, G = cluster_vcov(fit.xt, fit.score_w, fit.work_w, mf.clusters, fit.n_params)
        return float(fit.coef[0]), math.sqrt(max(vcov[0, 0], 0.0)), G


@single_threaded
def cace_ratio(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
               fe: Sequence[str] = ("hotspot", "day"), weights: np.ndarray | str | None = None,
               cluster: str = "hotspot_id", alpha: float = 0.05) -> Estimate:
    """CACE of patrol presence as a log rate ratio, with an Anderson–Rubin interval.

    ``estimate`` is ``β̂``, ``irr = exp(β̂)``; ``conf_low``/``conf_high`` are the AR limits
    (``±inf`` when the AR set is unbounded on that side within ``±BETA_BOUND``, reported as
    ``None`` in JSON); ``p_value`` is the AR test of β = 0 — which is the ITT Poisson test of
    the same fixed-effects model, as it must be. ``first_stage`` is the linear first stage of
    :func:`~guardian_rct.estimation.iv.cace` (presence on assignment).
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    if not 0 < alpha < 1:
        raise DataError("alpha must lie between 0 and 1", found=str(alpha), where="alpha", fix="use e.g. 0.05")
    linear = cace(panel_frame, outcome_column, endogenous="delivered", treatment=treatment, fe=fe,
                  weights=weights, cluster=cluster, alpha=alpha)
    present = patrol_present(panel_frame, treatment=treatment, allow_unknown=True)
    known = ~np.isnan(present)
    unknown_note = () if known.all() else (f"{int((~known).sum())} hotspot-days with unknown presence left out",)
    if not known.all():
        panel_frame, present = panel_frame.loc[known].reset_index(drop=True), present[known]
        if isinstance(weights, np.ndarray):
            weights = weights[known]
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=tuple(fe), cluster=cluster,
                     weights=weights)
    d = present[mf.rows]
    fits = _GammaFits(mf, d)

    def gamma(beta: float) -> float:
        return fits(beta)[0]

    def ar_t(beta: float) -> float:
        g, se, _ = fits(beta)
        return g / se if se > 0 else float("inf") * np.sign(g)

    lo, hi = -BETA_BOUND, BETA_BOUND
    q = float(stats.t.ppf(1 - alpha / 2, mf_clusters(mf) - 1))
    grid = np.linspace(lo, hi, 41)
    t_grid = np.array([ar_t(b) for b in grid])
    accepted = grid[np.abs(t_grid) <= q]
    signs = np.sign(t_grid)
    crossing = np.flatnonzero((signs[:-1] * signs[1:] < 0) | (signs[:-1] == 0))
    notes = list(mf.notes) + list(unknown_note)
    if crossing.size:
        k = int(crossing[0])
        # a root exactly on the grid (e.g. an ITT coefficient of exactly 0 at β = 0) is the root
        beta = float(grid[k]) if signs[k] == 0 else float(optimize.brentq(gamma, grid[k], grid[k + 1], xtol=1e-10))
        _, se0, G = fits(beta)
        h = 1e-4
        slope = (gamma(beta + h) - gamma(beta - h)) / (2 * h)
        se = se0 / abs(slope) if slope != 0 else float("inf")
    else:  # no root: the multiplicative IV estimator does not exist for these data
        beta, se, G = float("nan"), float("nan"), mf_clusters(mf)
        notes.append("no rate ratio within e^±5 balances the de-treated outcome across arms: no point estimate")
    limits = [-math.inf, math.inf] if accepted.size == 0 else [float(accepted.min()), float(accepted.max())]
    if accepted.size == 0:
        limits = [float("nan"), float("nan")]
        notes.append("the Anderson-Rubin set is empty within e^±5")
    for j, edge in enumerate((lo, hi)):
        if accepted.size and math.isfinite(limits[j]) and limits[j] != edge and math.isfinite(beta):
            inner = limits[j]
            outer = grid[max(0, np.searchsorted(grid, inner) - 1)] if j == 0 else grid[
                min(grid.size - 1, np.searchsorted(grid, inner) + 1)]
            a, b = sorted((inner, outer))
            if (abs(ar_t(a)) - q) * (abs(ar_t(b)) - q) < 0:
                limits[j] = float(optimize.brentq(lambda x: abs(ar_t(x)) - q, a, b, xtol=1e-8))
        elif accepted.size and limits[j] == edge:
            limits[j] = -math.inf if j == 0 else math.inf
    t0 = ar_t(0.0)
    p_ar = float(2 * stats.t.sf(abs(t0), G - 1))
    fs = linear.first_stage
    if fs is not None and fs.weak:
        notes.append(f"weak instrument: first-stage F = {fs.f_statistic:.1f} < {WEAK_INSTRUMENT_F:g}; "
                     f"read the Anderson-Rubin interval, not the point estimate")
    if not all(map(math.isfinite, limits)):
        notes.append("the Anderson-Rubin interval is unbounded: the data cannot bound the effect of presence")
    return Estimate(outcome=outcome_column, estimand="CACE rate ratio (patrol present on the day)",
                    model="iv_poisson_gmm_fe", estimate=beta, std_error=float(se), conf_low=limits[0],
                    conf_high=limits[1], p_value=p_ar, ri_p_value=None, irr=math.exp(beta), n_obs=int(mf.y.size),
                    n_clusters=int(G), term="present_on_day", se_type="CR1", df=float(G - 1),
                    details=("multiplicative IV (Mullahy 1997) by GMM with fixed effects "
                             f"{' + '.join(fe)}; Anderson-Rubin {round(100 * (1 - alpha))}% interval "
                             "(clustered by hotspot, t(G-1)); delta-method SE"),
                    notes=tuple(notes), first_stage=fs)
