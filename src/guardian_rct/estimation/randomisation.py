"""Randomisation inference that re-runs the trial's own design.

The allocation is redrawn from the *same* design object the trial used (its blocks,
counts per day and constraints) thousands of times; the observed statistic is compared
with its distribution over redraws (Fisher 1935; Rosenbaum 2002, ch. 2; Imbens & Rubin
2015, ch. 5). Nothing is refitted per draw.

Statistic
    For a hypothesised rate ratio τ, the sharp null "every hotspot-day's outcome under
    control is ``u = y · τ^(−T)``" fixes ``u`` whatever the allocation. Fit the null
    Poisson model (hotspot + day effects for crossover designs, the estimator's effects
    and covariates otherwise) to ``u`` once, take residuals ``r = u − μ̂`` and use the
    centred score ``S(T) = Σ (T − p)·r`` with ``p`` the design's assignment
    probabilities. At τ = 1 this is the score statistic of the Poisson model for the
    treatment (Rao 1948; the "residualised outcome" statistic of Rosenbaum 2002, §2.4).
    ``S`` is linear in the allocation, so ``k`` redraws cost one matrix product
    ``(k × N)·(N × m)`` for ``m`` values of τ at once. By default the score is divided
    by its cluster-robust standard error, recomputed per redraw, which keeps the test
    valid for the weak null as well (:mod:`guardian_rct.estimation.ri_statistic`).

    The centring constant ``Σ p·r`` does not depend on the allocation, so the test stays
    exact even when ``probabilities()`` is only approximate (e.g. simulated for a
    constrained design); only its power would suffer. The adjusted outcome ``u`` is used
    rather than an offset ``log(τ)·T`` in the null model because an offset would move with
    each redrawn ``T`` and force a refit per draw.

p-value
    Two-sided, equal-tailed by default: twice the smaller one-sided p-value
    ``(1 + #{S* ≤ S_obs}) / (1 + k)`` or ``(1 + #{S* ≥ S_obs}) / (1 + k)`` (Phipson &
    Smyth 2010), each side an exact test at α/2 under the sharp null; ``p_value_rule =
    "symmetric"`` gives ``(1 + #{|S*| ≥ |S_obs|}) / (1 + k)``
    (:func:`~guardian_rct.estimation.ri_statistic.two_sided_p`). Monte Carlo standard
    error ``sqrt(p(1 − p)/k)``. Both one-sided p-values are reported too.

Confidence interval
    By test inversion (Rosenbaum 2002, §4; Imbens & Rubin 2015, §5.7): the set of τ on a
    grid (log scale, centred on the PPML estimate, ±4.5 standard errors, widened when
    needed) whose p-value exceeds α, the end points interpolated linearly in log τ
    between neighbouring grid points. The same redraws serve every τ.

Effect of patrols delivered (CACE as a rate ratio)
    With ``dose`` (patrol presence on the day, 0/1 per hotspot-day) the sharp null is
    the multiplicative dose–response model ``Y_it(d) = Y_it(0) · τ^d`` (Rosenbaum 2002,
    §5.3–5.4; Imbens & Rosenbaum 2005, *JRSS A* 168:109–126): a patrol present
    multiplies the hotspot-day's outcome by τ, whatever the assignment. Under it the
    outcome without a patrol, ``u = y · τ^(−D)`` with the *observed* presence ``D``, is
    fixed whatever the allocation (the exclusion restriction: assignment acts only
    through presence), so the same redraws of the assignment test it exactly and the
    test-inversion interval is a design-based interval for the rate ratio of presence,
    valid however weak the first stage (it can be unbounded, like the Anderson–Rubin
    interval). At τ = 1 the test is the ITT test: no effect of presence implies no
    effect of assignment. Without ``dose`` it is the assignment itself (the ITT).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError
from guardian_rct._core.log import progress
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct.design.protocol import Design
from guardian_rct.estimation.fixed_effects import (
    cluster_vcov,
    encode,
    fit_glm_fe,
    ipf_null_fit,
    single_threaded,
)
from guardian_rct.estimation.panel_checks import (
    drop_all_zero_groups,
    model_frame,
    require_columns,
    resolve,
)
from guardian_rct.estimation.ri_statistic import (
    P_VALUE_RULES,
    STATISTICS,
    GridStatistic,
    one_sided_p,
    two_sided_p,
)

__all__ = ["RITestResult", "randomisation_test"]


@dataclass(frozen=True)
class RITestResult:
    """Result of :func:`randomisation_test`.

    Attributes
    ----------
    outcome
        Panel column tested.
    p_value, mc_std_error
        Two-sided randomisation p-value for "no effect on any hotspot-day" and its Monte
        Carlo standard error.
    rr_conf_low, rr_conf_high
        Confidence limits for the rate ratio by test inversion (``None`` when the
        interval is unbounded on that side within the searched range).
    draws
        Number of allocations redrawn from the design.
    observed
        The observed statistic at τ = τ0 (``statistic`` says which: studentised by default).
    curve
        The p-value at each rate ratio τ on the grid (columns ``rate_ratio``, ``p_value``).
    effect_of
        ``"assignment"`` (ITT: τ multiplies the outcome of assigned hotspot-days) or
        ``"presence"`` (CACE: τ multiplies the outcome of hotspot-days with a patrol present).
    p_value_rule
        How ``p_value`` makes two sides of one (``"equal-tailed"`` or ``"symmetric"``).
    p_less, p_greater
        One-sided p-values at τ0: small ``p_less`` is evidence that the rate ratio is
        below τ0 (fewer crimes than τ0 implies), small ``p_greater`` that it is above.
    """

    outcome: str
    p_value: float
    mc_std_error: float
    rr_conf_low: float | None
    rr_conf_high: float | None
    alpha: float
    draws: int
    observed: float
    statistic: str
    curve: pd.DataFrame = field(repr=False)
    provenance: Provenance | None = None
    effect_of: str = "assignment"
    p_value_rule: str = "equal-tailed"
    p_less: float | None = None
    p_greater: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "outcome": self.outcome, "p_value": self.p_value, "mc_std_error": self.mc_std_error,
            "rr_conf_low": self.rr_conf_low, "rr_conf_high": self.rr_conf_high,
            # the same limits under the generic names readers look for (rate-ratio scale)
            "conf_low": self.rr_conf_low, "conf_high": self.rr_conf_high,
            "alpha": self.alpha, "draws": self.draws, "observed": self.observed,
            "statistic": self.statistic, "effect_of": self.effect_of,
            "p_value_rule": self.p_value_rule, "p_less": self.p_less, "p_greater": self.p_greater,
            "curve": self.curve.to_dict(orient="list"),
            "provenance": self.provenance.to_dict() if self.provenance else None,
        }

    def summary(self) -> str:
        """One line for people."""
        lo = "-" if self.rr_conf_low is None else f"{self.rr_conf_low:.3f}"
        hi = "-" if self.rr_conf_high is None else f"{self.rr_conf_high:.3f}"
        return (f"{self.outcome}: randomisation p = {self.p_value:.4f} "
                f"(Monte Carlo SE {self.mc_std_error:.4f}, {self.draws} redraws of the design); "
                f"{100 * (1 - self.alpha):.0f}% CI for the rate ratio [{lo}, {hi}]")


def _alignment(frame: pd.DataFrame, design: Design) -> tuple[np.ndarray, int]:
    """Flat positions (day × hotspot) of the panel rows in the design's draws."""
    require_columns(frame, ["day_index", "hotspot_id"], purpose="randomisation inference")
    ids = list(design.hotspot_ids)
    pos = {h: j for j, h in enumerate(ids)}
    hot = frame["hotspot_id"].map(pos)
    if hot.isna().any():
        i = int(np.flatnonzero(hot.isna().to_numpy())[0])
        raise DataError("panel hotspot is not in the design", where=f"panel, row {i + 1}, column 'hotspot_id'",
                        expected="one of the design's hotspot_ids", found=repr(frame["hotspot_id"].iloc[i]),
                        fix="evaluate with the design the trial used")
    day = frame["day_index"].to_numpy()
    n_days = len(design.days)
    bad = np.flatnonzero((day < 0) | (day >= n_days))
    if bad.size:
        raise DataError("panel day is outside the design's days",
                        where=f"panel, row {int(bad[0]) + 1}, column 'day_index'",
                        expected=f"0..{n_days - 1}", found=str(day[bad[0]]),
                        fix="build the panel from the trial's experimental days")
    return day.astype(np.intp) * len(ids) + hot.to_numpy(dtype=np.intp), n_days * len(ids)


def _null_residuals(y, dose, taus, fe, covariates):
    """Residual matrix (n × m): u_τ − μ̂(u_τ) for each τ, null model without treatment.

    ``u_τ = y · τ^(−dose)``: the outcome with the hypothesised effect removed (``dose`` is
    the assignment for the ITT, patrol presence for the CACE).
    """
    out = np.empty((y.size, len(taus)))
    for j, tau in enumerate(taus):
        u = y * np.where(dose == 1, 1.0 / tau, np.power(float(tau), -dose))
        if covariates is None:
            mu = ipf_null_fit(u, fe)
        else:
            mu = fit_glm_fe(u, covariates, fe).mu
        out[:, j] = u - mu
    return out


@single_threaded
def _pass(design, rng, draws, batch, statistic: GridStatistic, observed):
    """Redraw counts per hypothesis (column), one pass over draws: ``t* ≤ t``, ``t* ≥ t``, ``|t*| ≥ |t|``.

    Ties within 1e-9 (relative) of the observed value count on both sides, as equal.
    """
    below, above, beyond = (np.zeros(observed.shape[0], dtype=np.int64) for _ in range(3))
    tol = 1e-9 * np.maximum(np.abs(observed), 1e-12)
    threshold = np.abs(observed) - tol
    sizes = [min(batch, draws - start) for start in range(0, draws, batch)]
    for k in progress(sizes, total=len(sizes), desc="randomisation draws", unit="batch"):
        stats = statistic(np.asarray(design.draw(rng, size=k)))
        below += np.sum(stats <= observed + tol, axis=0)
        above += np.sum(stats >= observed - tol, axis=0)
        beyond += np.sum(np.abs(stats) >= threshold, axis=0)
    return below, above, beyond


def _ppml_centre(y, treated, fe, covariates, clusters):
    """PPML estimate and clustered SE, to centre the inversion grid (zero groups left out)."""
    keep = drop_all_zero_groups(y, fe)
    X = treated[:, None] if covariates is None else np.column_stack([treated, covariates])
    fit = fit_glm_fe(y[keep], X[keep], [encode(c[keep]) for c, _ in fe])
    vcov, _ = cluster_vcov(fit.xt, fit.score_w, fit.work_w, clusters[keep], fit.n_params)
    return float(fit.coef[0]), float(math.sqrt(vcov[0, 0]))


def _dose(dose: np.ndarray, n: int) -> np.ndarray:
    """The presence vector, checked: one finite, non-negative number per panel row."""
    d = np.asarray(dose, dtype=float).reshape(-1)
    if d.size != n:
        raise DataError("the dose has the wrong length", where="dose", expected=f"{n} values (one per panel row)",
                        found=f"{d.size} values", fix="pass patrol presence for every row of the panel")
    bad = np.flatnonzero(~np.isfinite(d) | (d < 0))
    if bad.size:
        raise DataError("the dose is unknown or negative", where=f"dose, row {int(bad[0]) + 1}",
                        expected="patrol presence 0 or 1", found=str(d[bad[0]]),
                        fix="leave hotspot-days of unknown presence out of the panel before the test")
    return d


def _grid_centre(mf, d, covariates, given, with_dose):
    """(centre, half-width unit) of the inversion grid on the log rate-ratio scale."""
    if given is not None and all(map(math.isfinite, given)) and given[1] > 0:
        return float(given[0]), float(given[1])
    centre, se = _ppml_centre(mf.y, mf.treated, mf.fe, covariates, mf.clusters)
    if with_dose:  # Wald-ratio guess: ITT over the first-stage difference in presence
        t = mf.treated == 1
        gap = float(d[t].mean() - d[~t].mean()) if t.any() and (~t).any() else 0.0
        if abs(gap) > 0.05:
            centre, se = centre / gap, se / abs(gap)
    return centre, se


def _crossing(log_tau: np.ndarray, pvals: np.ndarray, alpha: float, side: str) -> float | None:
    """Interpolated end point of {p > α} on one side; None if it reaches the grid edge."""
    inside = np.flatnonzero(pvals > alpha)
    if inside.size == 0:
        return None
    i = inside[0] if side == "low" else inside[-1]
    j = i - 1 if side == "low" else i + 1
    if j < 0 or j >= log_tau.size:
        return None
    f = (pvals[i] - alpha) / (pvals[i] - pvals[j])
    return float(math.exp(log_tau[i] + f * (log_tau[j] - log_tau[i])))


def randomisation_test(panel_frame: pd.DataFrame, outcome_column: str, design: Design, *,
                       draws: int = 10_000, rng: np.random.Generator, alpha: float = 0.05,
                       treatment: str = "treated", fe: Sequence[str] | None = None,
                       baseline: str | None = None, conf_int: bool = True,
                       grid_points: int = 41, batch: int = 250,
                       seed: int | None = None, null_rate_ratio: float = 1.0,
                       dose: np.ndarray | None = None,
                       centre: tuple[float, float] | None = None,
                       statistic: str = "studentised",
                       p_value_rule: str = "equal-tailed") -> RITestResult:
    """Randomisation test of no effect and a test-inversion interval for the rate ratio.

    Parameters
    ----------
    panel_frame
        ``Panel.frame`` with ``day_index`` aligned to ``design.days`` and ``hotspot_id``
        in ``design.hotspot_ids``.
    outcome_column
        e.g. ``"count_violence"`` or ``"harm_violence"``.
    design
        The design object the trial used (``draw(rng, size=k)`` returns bool
        ``(k, n_days, n_hotspots)``; ``probabilities()`` the assignment probabilities).
    draws
        Number of redraws (10,000 by default).
    rng
        Generator for the redraws (``guardian_rct._core.rng.stream(seed, "randomisation_inference")``).
    fe
        Fixed effects of the null model; default hotspot + day for crossover designs,
        block + day with ``log(1 + baseline)`` for parallel designs (a hotspot effect would
        absorb a hotspot-level treatment).
    conf_int
        Also invert the test for a confidence interval (grid of ``grid_points`` values).
    seed
        The trial seed, recorded in the provenance.
    null_rate_ratio
        The rate ratio τ0 of the sharp null whose p-value is ``p_value`` (default 1: no
        effect). Testing τ0 = the true ratio is how the simulation study measures the
        coverage of the test-inversion interval without inverting it.
    dose
        Patrol presence per panel row (0/1, finite: leave rows of unknown presence out
        of the panel first). The sharp null is then ``Y(d) = Y(0)·τ^d`` in presence
        (module notes): τ and the interval are the rate ratio of a patrol *present*,
        the design-based CACE. ``None`` (default): the assignment, the ITT.
    centre
        ``(log rate ratio, standard error)`` to centre the inversion grid on (e.g. the
        multiplicative-IV estimate); default the PPML ITT estimate, divided by the
        first-stage difference in mean ``dose`` when a ``dose`` is given.
    statistic
        ``"studentised"`` (default): the centred score over its cluster-robust standard
        error, recomputed per redraw, valid for the weak null too; ``"score"``: the plain
        centred score (:mod:`guardian_rct.estimation.ri_statistic`).
    p_value_rule
        ``"equal-tailed"`` (default): twice the smaller one-sided p-value, each side exact
        at α/2 under the sharp null; ``"symmetric"``: ``|t*| ≥ |t|`` (module notes).
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    if draws < 1:
        raise DataError("the number of redraws must be positive", found=str(draws), where="draws",
                        fix="use e.g. 10000")
    if not 0 < alpha < 1:
        raise DataError("alpha must lie between 0 and 1", found=str(alpha), where="alpha",
                        fix="use e.g. 0.05")
    parallel = design.kind == "parallel"
    fe = tuple(fe) if fe is not None else (("block", "day") if parallel else ("hotspot", "day"))
    if statistic not in STATISTICS:
        raise DataError("unknown randomisation statistic", where="statistic", expected=" or ".join(STATISTICS),
                        found=repr(statistic), fix="use 'studentised' (the default)")
    if p_value_rule not in P_VALUE_RULES:
        raise DataError("unknown randomisation p-value rule", where="p_value_rule",
                        expected=" or ".join(P_VALUE_RULES), found=repr(p_value_rule),
                        fix="use 'equal-tailed' (the default)")
    flat, size = _alignment(panel_frame, design)
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=fe, drop_zero_groups=False)
    flat = flat[mf.rows]
    n_days, n_hotspots = len(design.days), len(design.hotspot_ids)
    d = mf.treated.astype(float) if dose is None else _dose(dose, len(panel_frame))[mf.rows]
    probs = np.asarray(design.probabilities(), dtype=float).reshape(-1)[flat]
    covariates = None
    if parallel:
        base_col = baseline or "baseline_" + outcome_column
        require_columns(panel_frame, [base_col], purpose="randomisation inference (baseline)")
        cov = np.log1p(pd.to_numeric(panel_frame[base_col], errors="coerce").to_numpy(dtype=float))
        covariates = cov[:, None] if np.ptp(cov) > 0 else None
    covariates_fit = covariates

    if not (math.isfinite(null_rate_ratio) and null_rate_ratio > 0):
        raise DataError("the null rate ratio must be positive", found=str(null_rate_ratio),
                        where="null_rate_ratio", fix="use e.g. 1.0")
    taus = [float(null_rate_ratio)]
    if conf_int:
        centre, se = _grid_centre(mf, d, covariates_fit, centre, dose is not None)
        half = 4.5 * se
    state = copy.deepcopy(rng.bit_generator.state)
    curve_tau: list[float] = []
    curve_p: list[float] = []
    p_value = p_less = p_greater = None
    observed0 = 0.0
    for attempt in range(4):
        if conf_int:
            grid = np.exp(np.linspace(centre - half, centre + half, grid_points))
            taus = [float(null_rate_ratio), *grid.tolist()] if attempt == 0 else grid.tolist()
        resid = _null_residuals(mf.y, d, taus, mf.fe, covariates_fit)
        stat = GridStatistic.build(resid, probs, flat, n_days=n_days, n_hotspots=n_hotspots,
                                   statistic=statistic)
        observed_t = np.zeros(size)
        observed_t[flat] = mf.treated
        observed = stat(observed_t.reshape(1, n_days, n_hotspots))[0]
        if attempt == 0:
            gen = rng
        else:
            gen = np.random.Generator(type(rng.bit_generator)())
            gen.bit_generator.state = copy.deepcopy(state)
        below, above, beyond = _pass(design, gen, draws, batch, stat, observed)
        pvals = two_sided_p(below, above, beyond, draws, p_value_rule)
        if attempt == 0:
            p_value, observed0 = float(pvals[0]), float(observed[0])
            p_less, p_greater = float(one_sided_p(below[0], draws)), float(one_sided_p(above[0], draws))
        if not conf_int:
            break
        start = 1 if attempt == 0 else 0
        curve_tau.extend(taus[start:])
        curve_p.extend(pvals[start:].tolist())
        order = np.argsort(curve_tau)
        lt, pv = np.log(np.asarray(curve_tau)[order]), np.asarray(curve_p)[order]
        edges_ok = pv[0] <= alpha and pv[-1] <= alpha
        if edges_ok or attempt == 3:
            break
        # widen on the open side(s), keeping the same redraws (same generator state)
        lo, hi = lt[0], lt[-1]
        width = hi - lo
        centre = (lo - width / 2) if pv[0] > alpha and pv[-1] <= alpha else (
            (hi + width / 2) if pv[-1] > alpha and pv[0] <= alpha else (lo + hi) / 2)
        half = width if pv[0] > alpha and pv[-1] > alpha else width / 2
    if conf_int:
        order = np.argsort(curve_tau)
        lt, pv = np.log(np.asarray(curve_tau)[order]), np.asarray(curve_p)[order]
        low, high = _crossing(lt, pv, alpha, "low"), _crossing(lt, pv, alpha, "high")
        curve = pd.DataFrame({"rate_ratio": np.exp(lt), "p_value": pv})
    else:
        low = high = None
        curve = pd.DataFrame({"rate_ratio": [1.0], "p_value": [p_value]})
    digest = hashlib.sha256(mf.y.tobytes() + mf.treated.tobytes()).hexdigest()
    prov = make_provenance(seed=seed, hashes={f"panel[{outcome_column}, {treatment}]": digest})
    return RITestResult(
        outcome=outcome_column, p_value=float(p_value),
        mc_std_error=float(math.sqrt(p_value * (1 - p_value) / draws)),
        rr_conf_low=low, rr_conf_high=high, alpha=alpha, draws=int(draws), observed=observed0,
        statistic=("studentised " if statistic == "studentised" else "")
                  + f"centred Poisson score sum((T - p) * (y * tau^-{'D' if dose is not None else 'T'} - mu0))"
                  + (" / its cluster-robust SE (clusters: hotspots)" if statistic == "studentised" else "")
                  + (", D = patrol presence" if dose is not None else "") + "; null model: "
                  + " + ".join(fe) + (" + log(1 + baseline)" if covariates_fit is not None else ""),
        curve=curve, provenance=prov, effect_of="presence" if dose is not None else "assignment",
        p_value_rule=p_value_rule, p_less=p_less, p_greater=p_greater)
