"""Wild cluster score bootstrap p-value for the Poisson fixed-effects ITT.

Kline & Santos (2012, "A score based approach to wild bootstrap inference", *Journal of
Econometric Methods* 1(1), 23–41): under H0 β = 0 fit the *restricted* model (fixed
effects only), take each cluster's efficient score for β,

    s_g = Σ_{i∈g} ω_i x̃_i (y_i − μ̃_i),

where ``x̃`` is the treatment residualised on the fixed effects under the restricted
working weights ``ω μ̃`` (partialling out the nuisance parameters; Kline & Santos 2012,
eq. 11), and compare the studentised score ``t = Σ s_g / sqrt(Σ s_g²)`` with its
distribution over ``t* = Σ v_g s_g / sqrt(Σ v_g² s_g²)``, ``v_g`` i.i.d. weights with mean
0 and variance 1. Nothing is refitted per draw.

Weights: Webb's six-point distribution (±√(1/2), ±1, ±√(3/2) with probability 1/6 each;
Webb 2023, *Canadian Journal of Economics* 56(3)) by default — with few clusters the
Rademacher distribution (±1; Cameron, Gelbach & Miller 2008) has only 2^G distinct
draws, and with Rademacher weights the denominator is constant so ``t*`` is the plain
score. With ``G`` small enough that all 2^G Rademacher sign vectors fit in ``draws``, the
Rademacher p-value is computed exactly by enumeration (Roodman et al. 2019, §3.2).

p-value: two-sided, ``#{|t*| ≥ |t|} / B`` over the draws (Roodman, MacKinnon, Nielsen &
Webb 2019, *Stata Journal* 19(1), eq. 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from guardian_rct.estimation.fixed_effects import encode, ipf_null_fit, single_threaded

__all__ = ["WildBootstrapResult", "wild_score_bootstrap", "cluster_scores"]

_WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])


@dataclass(frozen=True)
class WildBootstrapResult:
    """Result of :func:`wild_score_bootstrap`."""

    p_value: float
    statistic: float
    draws: int
    weights: str
    exact: bool
    n_clusters: int

    def to_dict(self) -> dict[str, float | int | str | bool]:
        """JSON-ready fields."""
        return {"p_value": self.p_value, "statistic": self.statistic, "draws": self.draws,
                "weights": self.weights, "exact": self.exact, "n_clusters": self.n_clusters}


def _fe_matrix(fe: list[tuple[np.ndarray, int]], n: int) -> sp.csr_matrix:
    cols, start = [], 0
    rows = np.arange(n)
    for codes, lv in fe:
        cols.append(sp.csr_matrix((np.ones(n), (rows, codes)), shape=(n, lv)))
        start += lv
    return sp.hstack(cols, format="csr") if cols else sp.csr_matrix(np.ones((n, 1)))


def _residualise(t: np.ndarray, F: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    """``t`` minus its ``w``-weighted least-squares projection on the dummy matrix ``F``."""
    Fw = F.multiply(w[:, None]).tocsr()
    A = (F.T @ Fw).tocsc()
    b = Fw.T @ t
    # dummies of several factors are collinear (each spans the intercept): a tiny ridge makes
    # the system definite without changing the projection (LSQR-equivalent on the range)
    A = A + sp.identity(A.shape[0], format="csc") * (1e-10 * float(A.diagonal().max()))
    coef = spla.spsolve(A, b)
    return t - F @ coef


def cluster_scores(y: np.ndarray, treated: np.ndarray, fe: list[tuple[np.ndarray, int]],
                   clusters: np.ndarray, *, weights: np.ndarray | None = None,
                   covariates: np.ndarray | None = None) -> np.ndarray:
    """Per-cluster efficient scores ``s_g`` of the treatment at β = 0 (restricted fit)."""
    from guardian_rct.estimation.fixed_effects import fit_glm_fe

    n = y.size
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if covariates is None:
        mu = ipf_null_fit(y, fe, weights=weights)
        F = _fe_matrix(fe, n)
    else:
        mu = fit_glm_fe(y, covariates, fe, weights=weights).mu
        F = sp.hstack([_fe_matrix(fe, n), sp.csr_matrix(covariates)], format="csr")
    xt = _residualise(treated.astype(float), F, w * mu)
    codes, G = encode(clusters)
    return np.bincount(codes, weights=w * xt * (y - mu), minlength=G)


@single_threaded
def wild_score_bootstrap(y: np.ndarray, treated: np.ndarray, fe: list[tuple[np.ndarray, int]],
                         clusters: np.ndarray, *, rng: np.random.Generator, draws: int = 9_999,
                         weights: np.ndarray | None = None, covariates: np.ndarray | None = None,
                         kind: Literal["webb", "rademacher"] = "webb",
                         batch: int = 2_000) -> WildBootstrapResult:
    """Two-sided wild cluster score bootstrap p-value for H0: no treatment effect.

    Parameters
    ----------
    y, treated
        Outcome and 0/1 treatment per row.
    fe
        Fixed effects as ``(codes, n_levels)`` (the restricted model).
    clusters
        Cluster label per row (hotspot).
    rng
        Generator for the bootstrap weights.
    draws
        Bootstrap replications ``B``.
    weights
        Prior (inverse-probability) weights.
    covariates
        Extra regressors of the restricted model (e.g. log baseline of a parallel design).
    kind
        ``"webb"`` (default) or ``"rademacher"``.
    """
    s = cluster_scores(y, treated, fe, clusters, weights=weights, covariates=covariates)
    G = s.size
    denom = math.sqrt(float(np.sum(s ** 2)))
    t_obs = float(s.sum()) / denom if denom > 0 else 0.0
    thr = abs(t_obs) * (1 - 1e-12)
    if kind == "rademacher" and 2 ** G <= draws:
        signs = ((np.arange(2 ** G)[:, None] >> np.arange(G)[None, :]) & 1) * 2.0 - 1.0
        t_star = (signs @ s) / denom
        p = float(np.mean(np.abs(t_star) >= thr))
        return WildBootstrapResult(p, t_obs, int(2 ** G), kind, True, G)
    exceed, done = 0, 0
    while done < draws:
        k = min(batch, draws - done)
        if kind == "webb":
            v = _WEBB[rng.integers(0, 6, size=(k, G))]
        else:
            v = rng.integers(0, 2, size=(k, G)) * 2.0 - 1.0
        num = v @ s
        den = np.sqrt((v * v) @ (s * s))
        with np.errstate(invalid="ignore", divide="ignore"):
            t_star = np.where(den > 0, num / den, 0.0)
        exceed += int(np.sum(np.abs(t_star) >= thr))
        done += k
    return WildBootstrapResult(exceed / draws, t_obs, int(draws), kind, False, G)
