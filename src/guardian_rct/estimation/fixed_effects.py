"""Numerical core: generalised linear models with fixed effects and clustered sandwiches.

Private module behind :mod:`guardian_rct.estimation.itt`, :mod:`guardian_rct.estimation.randomisation`,
:mod:`guardian_rct.estimation.iv` and :mod:`guardian_rct.estimation.carryover`. It fits Poisson
pseudo-maximum-likelihood (PPML; Santos Silva & Tenreyro 2006) and negative binomial
(NB2; Cameron & Trivedi 2013, ch. 3) models by iteratively reweighted least squares.

The factor with the most levels is *absorbed* exactly by weighted within-group demeaning
(Frisch–Waugh–Lovell); the other factors enter as dummy columns (first level dropped),
so every step is an exact weighted least-squares solve with no alternating-projection
tolerance. The fit equals the one with every dummy written out (R's
``glm(y ~ factor(hotspot) + factor(day) + treated)``), and so do the clustered standard
errors: the score of the kept columns is ``x̃_i ω_i (y_i − μ_i)/(1 + μ_i/θ)`` with ``x̃``
demeaned under the final working weights (Correia, Guimarães & Zylkin 2020, ppmlhdfe).

Cluster-robust variance (Cameron, Gelbach & Miller 2008; Cameron & Miller 2015)::

    V = A⁻¹ (Σ_g s_g s_gᵀ) A⁻¹ · G/(G−1) · (N−1)/(N−K)

with ``A = X̃ᵀWX̃``, ``s_g`` the score summed over cluster ``g``, ``G`` clusters, ``N``
observations and ``K`` the number of parameters *including every fixed-effect level*
(the HC1/"CR1" correction of Stata and of R's ``sandwich::vcovCL(type = "HC1")`` applied to
the model with explicit dummies).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import special
from threadpoolctl import ThreadpoolController

__all__ = ["Absorber", "GLMFit", "fit_glm_fe", "cluster_vcov", "ipf_null_fit", "encode",
           "single_threaded", "absorbed_factor", "dummies"]

_THETA_MAX = 1e8


_BLAS = threading.local()


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """One controller per process: building one scans the loaded libraries (~5 ms a call)."""
    return ThreadpoolController()


def single_threaded(fn):
    """Run ``fn`` with single-threaded BLAS.

    The products here are tall and thin (N × ~60); multi-threaded OpenBLAS spends more on
    thread hand-offs than on arithmetic, and on a shared 2-core machine it was measured
    15 times slower than one thread (threadpoolctl, Varoquaux et al.). Only the outermost
    call sets the limit: nested calls (a fit inside a CACE inside the evaluation) run
    inside it, without rescanning the loaded libraries.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_BLAS, "depth", 0):
            return fn(*args, **kwargs)
        _BLAS.depth = 1
        try:
            with _blas_controller().limit(limits=1, user_api="blas"):
                return fn(*args, **kwargs)
        finally:
            _BLAS.depth = 0

    return wrapper


def encode(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..L−1 of a factor and its number of levels L."""
    _, codes = np.unique(np.asarray(values), return_inverse=True)
    codes = codes.astype(np.intp).ravel()
    return codes, int(codes.max()) + 1 if codes.size else 0


class Absorber:
    """Weighted within-group demeaning for one factor (exact, one pass)."""

    def __init__(self, codes: np.ndarray, n_levels: int) -> None:
        self.codes = codes
        self.n_levels = n_levels
        self.order = np.argsort(codes, kind="stable")
        sorted_codes = codes[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])

    def group_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of ``values`` (n,) or (n, q) within each level (levels × q)."""
        return np.add.reduceat(values[self.order], self.starts, axis=0)

    def demean(self, values: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``values`` minus their ``w``-weighted group means."""
        wsum = self.group_sums(w)
        if values.ndim == 1:
            means = self.group_sums(w * values) / wsum
        else:
            means = self.group_sums(w[:, None] * values) / wsum[:, None]
        return values - means[self.codes]


def dummies(codes: np.ndarray, n_levels: int) -> np.ndarray:
    out = np.zeros((codes.size, max(n_levels - 1, 0)))
    rows = np.flatnonzero(codes > 0)
    out[rows, codes[rows] - 1] = 1.0
    return out


@dataclass(frozen=True)
class GLMFit:
    """A converged fit. ``coef``/``xt`` cover the ``X`` columns first, then kept dummies."""

    coef: np.ndarray
    mu: np.ndarray
    work_w: np.ndarray  # working weights ω μ/(1+μ/θ)
    score_w: np.ndarray  # ω (y − μ)/(1 + μ/θ): multiply by x̃ for the score
    xt: np.ndarray  # kept columns demeaned under work_w
    n_params: int  # K: kept columns + absorbed levels
    theta: float | None
    iterations: int
    converged: bool
    loglik: float
    kept: np.ndarray | None = None  # indices into [X, dummies of the non-absorbed factors]
    absorbed: int | None = None  # index in ``fe`` of the absorbed factor (None: intercept only)


def _deviance(y, mu, prior, theta):
    with np.errstate(divide="ignore", invalid="ignore"):
        ylog = np.where(y > 0, y * np.log(y / mu), 0.0)
        if theta is None:
            dev = 2 * (ylog - (y - mu))
        else:
            dev = 2 * (ylog - (y + theta) * np.log((y + theta) / (mu + theta)))
    return float(np.sum(prior * dev))


def _nb_loglik(y, mu, prior, theta):
    ll = (special.gammaln(theta + y) - special.gammaln(theta) - special.gammaln(y + 1)
          + theta * np.log(theta / (theta + mu)) + y * np.log(np.where(mu > 0, mu / (theta + mu), 1.0)))
    return float(np.sum(prior * ll))


def _pois_loglik(y, mu, prior):
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(y > 0, y * np.log(mu), 0.0) - mu - special.gammaln(y + 1)
    return float(np.sum(prior * ll))


def _theta_ml(y, mu, prior, theta0, *, maxiter=50):
    """ML estimate of the NB2 shape θ given μ (Newton steps, as MASS::theta.ml)."""
    t = max(theta0, 1e-8)
    for _ in range(maxiter):
        score = np.sum(prior * (special.digamma(t + y) - special.digamma(t) + np.log(t) + 1
                                - np.log(t + mu) - (y + t) / (mu + t)))
        info = np.sum(prior * (-special.polygamma(1, t + y) + special.polygamma(1, t) - 1 / t
                               + 2 / (mu + t) - (y + t) / (mu + t) ** 2))
        step = score / info
        new = t + step
        if not np.isfinite(new) or new <= 0:
            new = t / 2 if step < 0 else t * 2
        if new > _THETA_MAX:
            return _THETA_MAX
        if abs(new - t) <= 1e-12 * max(t, 1.0):
            return float(new)
        t = float(new)
    return float(t)


def absorbed_factor(fe: list[tuple[np.ndarray, int]]) -> int | None:
    """Index of the factor :func:`fit_glm_fe` absorbs (the one with most levels)."""
    return int(np.argmax([lv for _, lv in fe])) if fe else None


def _design(X: np.ndarray, fe: list[tuple[np.ndarray, int]]):
    """Choose the absorbed factor and build the dummy columns of the others."""
    n = X.shape[0]
    if fe:
        big = absorbed_factor(fe)
        absorber = Absorber(*fe[big])
        others = [f for i, f in enumerate(fe) if i != big]
    else:
        absorber = Absorber(np.zeros(n, dtype=np.intp), 1)
        others = []
    D = np.hstack([dummies(c, lv) for c, lv in others]) if others else np.zeros((n, 0))
    return absorber, D


def _gram_factor(M: np.ndarray) -> np.ndarray:
    """A square R with RᵀR = MᵀM (same column dependencies as M, q × q instead of n × q)."""
    vals, vecs = np.linalg.eigh(M.T @ M)
    return np.sqrt(np.clip(vals, 0, None))[:, None] * vecs.T


def _kept_columns(X: np.ndarray, D: np.ndarray, absorber: Absorber, w: np.ndarray) -> np.ndarray:
    """Drop dummy columns made redundant by the absorbed factor, X or other dummies.

    Raises ``np.linalg.LinAlgError`` naming the X column index when an X column itself is
    collinear with the fixed effects (e.g. a treatment constant within hotspot).
    """
    sw = np.sqrt(w)[:, None]
    p = X.shape[1]
    Xt = absorber.demean(X, w) * sw
    Dt = absorber.demean(D, w) * sw if D.shape[1] else np.zeros((X.shape[0], 0))
    if p:
        # X first, unpivoted: an X column is redundant if its diagonal is ~0
        r = np.linalg.qr(_gram_factor(Xt), mode="r")
        scale = np.linalg.norm(X * sw, axis=0)
        bad = np.flatnonzero(np.abs(np.diag(r)) <= 1e-7 * np.maximum(scale, 1e-300))
        if bad.size:
            raise np.linalg.LinAlgError(int(bad[0]))
    if D.shape[1] == 0:
        return np.arange(p)
    if p:
        coef = np.linalg.lstsq(Xt, Dt, rcond=None)[0]
        Dt = Dt - Xt @ coef
    _, r, piv = scipy.linalg.qr(_gram_factor(Dt), pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > 1e-7 * max(diag[0], 1e-300))) if diag.size else 0
    keep = np.r_[np.arange(p), p + np.sort(piv[:rank])]
    if p:
        # X last: a small diagonal there means X lies in the span of the kept dummies
        full = np.hstack([absorber.demean(D, w)[:, keep[p:] - p] * sw, Xt])
        rr = np.linalg.qr(_gram_factor(full), mode="r")
        dg = np.abs(np.diag(rr))[-p:]
        if np.any(dg <= 1e-7 * np.maximum(scale, 1e-300)):
            raise np.linalg.LinAlgError(int(np.argmin(dg / np.maximum(scale, 1e-300))))
    return keep


def _wls(Zt: np.ndarray, zt: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares by the normal equations (columns are full rank by construction)."""
    Zw = Zt * w[:, None]
    A = Zw.T @ Zt
    b = Zw.T @ zt
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, b, rcond=None)[0]


@single_threaded
def fit_glm_fe(
    y: np.ndarray,
    X: np.ndarray,
    fe: list[tuple[np.ndarray, int]],
    *,
    family: str = "poisson",
    weights: np.ndarray | None = None,
    offset: np.ndarray | None = None,
    tol: float = 1e-12,
    maxiter: int = 200,
    start_mu: np.ndarray | None = None,
    kept: np.ndarray | None = None,
) -> GLMFit:
    """Fit a log-link Poisson or NB2 model with fixed effects by IRLS.

    Parameters
    ----------
    y
        Non-negative outcome (need not be integer for Poisson: PPML).
    X
        (n, p) regressors whose coefficients are reported first.
    fe
        Factors as ``(codes, n_levels)``; an intercept is implied.
    family
        ``"poisson"`` (PPML) or ``"negbin"`` (NB2, θ by maximum likelihood, alternating
        with the IRLS for β as ``MASS::glm.nb``).
    weights
        Prior (e.g. inverse-probability) weights ω.
    start_mu
        Fitted means to start the IRLS from (e.g. a neighbouring fit's, when only ``y``
        changes a little); the optimum is the same, only fewer iterations are needed.
    kept
        The ``kept`` columns of an earlier fit with the same ``X``, ``fe`` and ``weights``
        (the redundancy check depends on nothing else), to skip recomputing them.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    X = np.asarray(X, dtype=float).reshape(n, -1)
    prior = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    absorber, D = _design(X, fe)
    keep = _kept_columns(X, D, absorber, prior) if kept is None else np.asarray(kept)
    Z = np.hstack([X, D])[:, keep]

    if start_mu is not None and np.all(np.isfinite(start_mu)) and np.all(np.asarray(start_mu) > 0):
        mu = np.asarray(start_mu, dtype=float).copy()
    else:
        mu = (y + np.average(y, weights=prior)) / 2
    eta = np.log(mu)
    theta = None
    if family == "negbin":
        theta = _theta_start(y, mu, prior)
    total_iter, converged = 0, False
    for _outer in range(50 if family == "negbin" else 1):
        dev_old = np.inf
        for _ in range(maxiter):
            total_iter += 1
            var_factor = 1.0 if theta is None else 1.0 / (1.0 + mu / theta)
            w = prior * mu * var_factor
            z = eta - off + (y - mu) / mu
            Zt = absorber.demean(Z, w)
            zt = absorber.demean(z, w)
            coef = _wls(Zt, zt, w)
            eta_new = off + z - (zt - Zt @ coef)
            step = 1.0
            while True:
                eta_try = eta + step * (eta_new - eta)
                mu_try = np.exp(np.clip(eta_try, -700, 700))
                dev = _deviance(y, mu_try, prior, theta)
                if np.isfinite(dev) and dev <= dev_old * (1 + 1e-10) + 1e-12 or step < 1e-4:
                    break
                step /= 2
            eta, mu = eta_try, mu_try
            if abs(dev - dev_old) <= tol * (abs(dev) + 0.1):
                converged = True
                break
            dev_old = dev
        if theta is None:
            break
        theta_new = _theta_ml(y, mu, prior, theta)
        if abs(theta_new - theta) <= 1e-10 * theta and converged:
            theta = theta_new
            break
        theta = theta_new
        converged = False
    var_factor = 1.0 if theta is None else 1.0 / (1.0 + mu / theta)
    w = prior * mu * var_factor
    Zt = absorber.demean(Z, w)
    zt = absorber.demean(eta - off + (y - mu) / mu, w)
    coef = _wls(Zt, zt, w)
    loglik = _pois_loglik(y, mu, prior) if theta is None else _nb_loglik(y, mu, prior, theta)
    return GLMFit(coef=coef, mu=mu, work_w=w, score_w=prior * (y - mu) * var_factor, xt=Zt,
                  n_params=Z.shape[1] + absorber.n_levels, theta=theta,
                  iterations=total_iter, converged=converged, loglik=loglik, kept=keep,
                  absorbed=absorbed_factor(fe))


def _theta_start(y, mu, prior):
    """Moment start for θ (as MASS::glm.nb: n / Σ (y/μ − 1)²)."""
    s = np.sum(prior * (y / mu - 1) ** 2)
    return float(min(prior.sum() / s, _THETA_MAX)) if s > 0 else _THETA_MAX


@single_threaded
def cluster_vcov(xt: np.ndarray, score_w: np.ndarray, work_w: np.ndarray, clusters: np.ndarray,
                 n_params: int) -> tuple[np.ndarray, int]:
    """CR1 cluster-robust covariance of the kept coefficients and the cluster count G.

    ``G/(G−1) · (N−1)/(N−K)`` (Cameron & Miller 2015, eq. 12; Stata; ``vcovCL`` HC1).
    """
    codes, G = encode(clusters)
    n = xt.shape[0]
    bread = np.linalg.inv(xt.T @ (xt * work_w[:, None]))
    sums = Absorber(codes, G).group_sums(xt * score_w[:, None])
    meat = sums.T @ sums
    adj = G / (G - 1) * (n - 1) / (n - n_params)
    return bread @ meat @ bread * adj, G


def ipf_null_fit(u: np.ndarray, fe: list[tuple[np.ndarray, int]], *, weights: np.ndarray | None = None,
                 tol: float = 1e-13, maxiter: int = 1000) -> np.ndarray:
    """Fitted means of the fixed-effects-only Poisson model by iterative proportional fitting.

    The Poisson MLE with factors only satisfies ``Σ_g ω(u − μ) = 0`` within every level of
    every factor; cycling ``μ ← μ · Σω u / Σω μ`` over factors converges to it (Deming &
    Stephan 1940; Bishop, Fienberg & Holland 1975, ch. 3). One sweep suffices for a complete
    unweighted two-way table (μ = row total × column total / grand total).
    """
    prior = np.ones(u.size) if weights is None else weights
    mu = np.full(u.size, np.average(u, weights=prior))
    wu = prior * u
    targets = [np.bincount(c, weights=wu, minlength=lv) for c, lv in fe]
    for _ in range(maxiter):
        change = 0.0
        for (codes, lv), target in zip(fe, targets, strict=True):
            current = np.bincount(codes, weights=prior * mu, minlength=lv)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(current > 0, target / current, 0.0)
            mu = mu * ratio[codes]
            change = max(change, float(np.max(np.abs(ratio[current > 0] - 1.0), initial=0.0)))
        if change < tol:
            break
    return mu
