"""Intention-to-treat estimators on the hotspot × day panel.

Crossover designs (every hotspot its own control): Poisson pseudo-maximum-likelihood
with hotspot and day fixed effects (:func:`poisson_fe`; Santos Silva & Tenreyro 2006),
used for crime counts and for crime harm (non-negative and heavy-tailed: the Poisson
pseudo-likelihood needs only the conditional mean to be right), a negative binomial
sensitivity check (:func:`negbin_fe`) and a plain difference in means
(:func:`diff_in_means`). Parallel designs: Poisson with block (and day) effects and the
pre-trial baseline as a covariate (:func:`poisson_parallel`). :func:`itt_estimates` runs
the standard set for a design kind.

Standard errors are clustered by hotspot. For the Poisson models the default
(``se_type="CR2"``, config ``[evaluation] se_type``) is the Bell–McCaffrey CR2 variance
with Satterthwaite degrees of freedom (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018;
R ``clubSandwich``; :mod:`guardian_rct.estimation.cr2`), which keeps t-intervals close to
nominal with 20 or fewer hotspots, or when a few hotspots dominate. ``se_type="CR1"``
gives the small-cluster correction ``G/(G−1)·(N−1)/(N−K)``, K counting every fixed-effect
level (Stata; R ``sandwich::vcovCL(type = "HC1")`` on the model with dummies; Cameron,
Gelbach & Miller 2008; Cameron & Miller 2015) with Student's t on G − 1 degrees of
freedom (Cameron & Miller 2015, §VI); the negative binomial and difference-in-means
estimates always use CR1. Every :class:`Estimate` records ``se_type`` and ``df``. Where assignment probabilities differ across
hotspot-days, hotspot-days are weighted by inverse assignment probabilities
(``1/p_treated`` if treated, ``1/(1 − p_treated)`` otherwise; Horvitz & Thompson 1952).
Hotspots and patrol dosage: Sherman & Weisburd 1995; Koper 1995.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from guardian_rct._core.errors import DataError
from guardian_rct.estimation.cr2 import cr2_for_fit
from guardian_rct.estimation.fixed_effects import cluster_vcov, fit_glm_fe
from guardian_rct.estimation.panel_checks import ModelFrame, model_frame, require_columns, resolve
from guardian_rct.estimation.results import Estimate

if TYPE_CHECKING:
    from guardian_rct.crimes.panel import Panel

__all__ = ["Estimate", "poisson_fe", "negbin_fe", "diff_in_means", "poisson_parallel",
           "itt_estimates", "ipw_weights", "estimate_from_fit"]

SE_TYPE = "CR1 clustered by hotspot: G/(G-1)*(N-1)/(N-K), K incl. fixed effects; t(G-1)"
SE_TYPE_CR2 = "CR2 (Bell-McCaffrey) clustered by hotspot; t with Satterthwaite df"
SEType = Literal["CR2", "CR1"]


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise DataError("alpha must lie between 0 and 1", found=str(alpha), where="alpha",
                        fix="use e.g. 0.05")


def estimate_from_fit(coef: float, se: float, df: float, *, alpha: float, log_scale: bool,
                      se_type: str = "CR1", **fields: Any) -> Estimate:
    """Build an :class:`Estimate` with t(df) interval and p-value; refuse non-finite values."""
    if not (np.isfinite(coef) and np.isfinite(se) and se > 0):
        raise DataError("the model gave no finite estimate", where=f"panel ({fields.get('outcome')})",
                        expected="a finite coefficient and standard error",
                        found=f"estimate {coef}, standard error {se}",
                        fix="check that both arms have events and that hotspots vary in treatment")
    q = stats.t.ppf(1 - alpha / 2, df)
    p = float(2 * stats.t.sf(abs(coef / se), df))
    return Estimate(estimate=float(coef), std_error=float(se), conf_low=float(coef - q * se),
                    conf_high=float(coef + q * se), p_value=p, ri_p_value=None,
                    irr=float(math.exp(coef)) if log_scale else None, se_type=se_type,
                    df=float(df), **fields)


def ipw_weights(frame: pd.DataFrame, *, treatment: str = "treated",
                probability: str = "p_treated") -> np.ndarray | None:
    """Inverse-probability weights, or ``None`` when every hotspot-day has the same probability.

    ``1/p`` for treated and ``1/(1 − p)`` for control hotspot-days (Horvitz & Thompson 1952;
    Gerber & Green 2012, §4.5).
    """
    if probability not in frame.columns:
        return None
    p = pd.to_numeric(frame[probability], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(p) | (p <= 0) | (p >= 1))
    if bad.size:
        raise DataError("assignment probability is not strictly between 0 and 1",
                        where=f"panel, row {int(bad[0]) + 1}, column '{probability}'",
                        expected="0 < p_treated < 1", found=repr(frame[probability].iloc[bad[0]]),
                        fix="rebuild the panel from the trial's design")
    if np.ptp(p) < 1e-12:
        return None
    t = pd.to_numeric(frame[treatment], errors="coerce").to_numpy(dtype=float)
    return t / p + (1 - t) / (1 - p)


def _glm(mf: ModelFrame, outcome: str, *, family: str, X: np.ndarray, model: str, details: str,
         alpha: float, estimand: str = "ITT", term: str = "treated",
         se_type: SEType = "CR1") -> tuple[Estimate, Any]:
    try:
        fit = fit_glm_fe(mf.y, X, mf.fe, family=family, weights=mf.weights)
    except np.linalg.LinAlgError as exc:
        raise DataError("the treatment is collinear with the fixed effects", where="panel",
                        expected="treatment that varies within hotspots (crossover) or blocks",
                        found=f"column {exc} redundant",
                        fix="use poisson_parallel for a parallel design") from None
    if not fit.converged:
        raise DataError(f"the {model} model did not converge", where=f"panel ({outcome})",
                        expected="convergence within 200 iterations",
                        found=f"{fit.iterations} iterations",
                        fix="check the outcome for extreme values or use a longer period")
    vcov, G = cluster_vcov(fit.xt, fit.score_w, fit.work_w, mf.clusters, fit.n_params)
    notes = mf.notes + (("weighted by inverse assignment probabilities",) if mf.weights is not None else ())
    se, df, label = math.sqrt(vcov[0, 0]), float(G - 1), SE_TYPE
    if se_type == "CR2":
        if family != "poisson":
            raise ValueError("CR2 is implemented for the Poisson models; use se_type='CR1'")
        cr2 = cr2_for_fit(fit, mf.y, X, mf.fe, mf.clusters, prior=mf.weights)
        se, df, label = cr2.std_error, cr2.df, SE_TYPE_CR2
    elif se_type != "CR1":
        raise ValueError(f"unknown se_type {se_type!r}: use 'CR2' or 'CR1'")
    est = estimate_from_fit(fit.coef[0], se, df, alpha=alpha, log_scale=True, se_type=se_type,
                            outcome=outcome, estimand=estimand, model=model, n_obs=int(mf.y.size),
                            n_clusters=G, term=term, details=details + "; " + label, notes=notes,
                            nb_theta=None if fit.theta is None else float(fit.theta))
    return est, (fit, vcov, G)


def _fe_spec(fe: Sequence[str], week_fe: bool) -> tuple[str, ...]:
    fe = tuple(fe)
    if week_fe:
        fe = tuple(f for f in fe if f != "day") + ("week", "dow")
    return fe


def poisson_fe(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
               fe: Sequence[str] = ("hotspot", "day"), week_fe: bool = False,
               weights: np.ndarray | str | None = None, cluster: str = "hotspot_id",
               alpha: float = 0.05, se_type: SEType = "CR2") -> Estimate:
    """ITT rate ratio by Poisson pseudo-maximum-likelihood with fixed effects.

    ``E[y_it] = exp(α_i + γ_t + β·T_it)``; ``exp(β)`` is the incidence rate ratio of
    patrol-assigned versus control hotspot-days (Santos Silva & Tenreyro 2006; Wooldridge
    1999 on the robustness of the fixed-effects Poisson estimator). Works for counts and for
    non-negative harm scores alike.

    Parameters
    ----------
    panel_frame
        ``Panel.frame`` (docs/contracts.md).
    outcome_column
        e.g. ``"count_violence"`` or ``"harm_violence"``.
    fe
        Fixed effects by alias (``hotspot``, ``day``, ``block``, ``week``, ``dow``) or column.
    week_fe
        Replace the day effect by week-of-trial and day-of-week effects.
    weights
        Prior weights (array or column), e.g. :func:`ipw_weights`.
    cluster
        Column whose values define clusters (default hotspot).
    alpha
        1 − confidence level.
    se_type
        ``"CR2"`` (default: Bell–McCaffrey SE, Satterthwaite df) or ``"CR1"``.

    Returns
    -------
    Estimate
        Log rate ratio with clustered standard error (see module notes).
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    _check_alpha(alpha)
    spec = _fe_spec(fe, week_fe)
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=spec, cluster=cluster,
                     weights=weights)
    return _glm(mf, outcome_column, family="poisson", X=mf.treated[:, None],
                model="poisson_fe_week" if week_fe else "poisson_fe",
                details="Poisson PML, fixed effects: " + " + ".join(spec), alpha=alpha,
                se_type=se_type)[0]


def negbin_fe(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
              fe: Sequence[str] = ("hotspot", "day"), week_fe: bool = False,
              weights: np.ndarray | str | None = None, cluster: str = "hotspot_id",
              alpha: float = 0.05) -> Estimate:
    """Negative binomial (NB2) sensitivity check with fixed-effect dummies.

    Maximum likelihood for β and the shape θ (variance ``μ + μ²/θ``), alternating as
    ``MASS::glm.nb`` does (Venables & Ripley 2002, §7.4; Cameron & Trivedi 2013, §3.3);
    fixed effects as dummies ("unconditional" NB; Allison & Waterman 2002). Standard
    errors clustered by hotspot as for :func:`poisson_fe`. Unlike PPML it is consistent
    only if the NB2 variance is right, hence a sensitivity check, not the primary analysis.
    The fitted θ is returned as ``Estimate.nb_theta``.
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    _check_alpha(alpha)
    spec = _fe_spec(fe, week_fe)
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=spec, cluster=cluster,
                     weights=weights)
    return _glm(mf, outcome_column, family="negbin", X=mf.treated[:, None], model="negbin_fe",
                details="negative binomial (NB2), fixed effects: " + " + ".join(spec), alpha=alpha)[0]


def diff_in_means(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
                  weights: np.ndarray | str | None = None, cluster: str = "hotspot_id",
                  alpha: float = 0.05) -> Estimate:
    """Difference in mean outcome per hotspot-day, treated minus control.

    OLS of the outcome on an intercept and the treatment (weighted if ``weights``), with
    CR1 standard errors clustered by hotspot (Stata ``regress, vce(cluster)``; R
    ``estimatr::lm_robust(se_type = "stata")``). Unbiased for the ITT in counts per
    hotspot-day when every hotspot-day has the same assignment probability, or with
    inverse-probability weights (Imbens & Rubin 2015, ch. 6).
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    _check_alpha(alpha)
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=(), cluster=cluster,
                     weights=weights, drop_zero_groups=False)
    w = np.ones(mf.y.size) if mf.weights is None else mf.weights
    X = np.column_stack([np.ones(mf.y.size), mf.treated])
    xtwx = X.T @ (X * w[:, None])
    coef = np.linalg.solve(xtwx, X.T @ (w * mf.y))
    resid = mf.y - X @ coef
    vcov, G = cluster_vcov(X, w * resid, w, mf.clusters, n_params=2)
    notes = mf.notes + (("weighted by inverse assignment probabilities",) if mf.weights is not None else ())
    return estimate_from_fit(coef[1], math.sqrt(vcov[1, 1]), G - 1, alpha=alpha, log_scale=False,
                             outcome=outcome_column, estimand="ITT", model="diff_in_means",
                             n_obs=int(mf.y.size), n_clusters=G,
                             details="difference in means per hotspot-day (OLS); " + SE_TYPE,
                             notes=notes)


def _baseline_column(outcome_column: str) -> str:
    return "baseline_" + outcome_column


def poisson_parallel(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
                     fe: Sequence[str] = ("block", "day"), baseline: str | None = None,
                     weights: np.ndarray | str | None = None, cluster: str = "hotspot_id",
                     alpha: float = 0.05, se_type: SEType = "CR2") -> Estimate:
    """ITT for a parallel design: Poisson with block (and day) effects and the baseline.

    ``E[y_it] = exp(block_b + γ_t + δ·log(1 + baseline_i) + β·T_i)``: the pre-trial count
    (or harm) of the hotspot, ``baseline_<outcome>``, adjusts for chance imbalance and
    gains precision (Gerber & Green 2012, §4.4; Santos Silva & Tenreyro 2006 for PPML).
    Standard errors clustered by hotspot (the unit of assignment); ``se_type`` as
    :func:`poisson_fe`.
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    _check_alpha(alpha)
    base_col = baseline or _baseline_column(outcome_column)
    require_columns(panel_frame, [outcome_column], purpose=f"outcome '{outcome_column}'")
    require_columns(panel_frame, [base_col], purpose="the parallel-design model (baseline)")
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=tuple(fe),
                     cluster=cluster, weights=weights)
    base = pd.to_numeric(panel_frame[base_col], errors="coerce").to_numpy(dtype=float)[mf.rows]
    if not np.all(np.isfinite(base) & (base >= 0)):
        raise DataError("baseline is missing or negative", where=f"panel, column '{base_col}'",
                        expected="a pre-trial count or harm >= 0", found="missing/negative values",
                        fix="rebuild the panel with a baseline period")
    X = np.column_stack([mf.treated, np.log1p(base)])
    if np.ptp(X[:, 1]) == 0:
        X = X[:, :1]
    return _glm(mf, outcome_column, family="poisson", X=X, model="poisson_parallel",
                details=f"Poisson PML, fixed effects: {' + '.join(fe)}, covariate log(1 + {base_col})",
                alpha=alpha, se_type=se_type)[0]


def itt_estimates(panel: Panel | pd.DataFrame, outcome: str, *, alpha: float = 0.05,
                  kind: Literal["crossover", "parallel"] | None = None,
                  se_type: SEType = "CR2") -> list[Estimate]:
    """The standard ITT set for one outcome, for counts and harm.

    Crossover: :func:`poisson_fe` (primary), :func:`negbin_fe` (counts only: NB2 needs
    integer outcomes), :func:`diff_in_means`. Parallel: :func:`poisson_parallel` and
    :func:`diff_in_means`. Inverse-probability weights are used when ``p_treated`` varies.

    Parameters
    ----------
    panel
        A ``Panel`` (its ``.frame``) or the frame itself.
    outcome
        Outcome name ``o``; columns ``count_o`` and ``harm_o`` are used (harm if present).
    kind
        Design kind; guessed from the panel when omitted (treatment constant within every
        hotspot → parallel).
    se_type
        Standard errors of the Poisson models (``"CR2"`` default, or ``"CR1"``).
    """
    frame = getattr(panel, "frame", panel)
    count_col, harm_col = f"count_{outcome}", f"harm_{outcome}"
    require_columns(frame, [count_col, "treated", "hotspot_id"], purpose=f"outcome '{outcome}'")
    if kind is None:
        per_hotspot = frame.groupby("hotspot_id", sort=False)["treated"].nunique()
        kind = "parallel" if bool((per_hotspot <= 1).all()) else "crossover"
    w = ipw_weights(frame)
    columns = [count_col] + ([harm_col] if harm_col in frame.columns else [])
    out: list[Estimate] = []
    for col in columns:
        if kind == "crossover":
            out.append(poisson_fe(frame, col, weights=w, alpha=alpha, se_type=se_type))
            if col == count_col:
                out.append(negbin_fe(frame, col, weights=w, alpha=alpha))
        else:
            out.append(poisson_parallel(frame, col, weights=w, alpha=alpha, se_type=se_type))
        out.append(diff_in_means(frame, col, weights=w, alpha=alpha))
    return out
