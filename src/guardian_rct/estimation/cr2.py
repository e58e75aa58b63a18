"""Bell–McCaffrey (CR2) cluster-robust variance with Satterthwaite degrees of freedom.

For a log-link GLM (Poisson PML) fitted by :func:`guardian_rct.estimation.fixed_effects.fit_glm_fe`,
this computes the "bias-reduced linearisation" variance of one coefficient (Bell &
McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 6) and its Satterthwaite degrees of freedom
(Bell & McCaffrey 2002, §3; Pustejovsky & Tipton 2018, §3.1), exactly as R's
``clubSandwich::vcovCR(type = "CR2")`` and ``coef_test(test = "Satterthwaite")`` do for a
``glm`` fit with explicit fixed-effect dummies (clubSandwich 0.5, ``R/glm.R``,
``R/CR-adjustments.R``, ``R/get_arrays.R``):

* model matrix ``X = (dμ/dη) Z = μ Z`` (``Z``: the full design, every fixed-effect
  dummy written out); weight ``W = ω/μ``; working ("target") variance ``Θ = μ/ω``
  (the Poisson variance function over the prior weight ω); residual ``e = y − μ``;
* ``M = (XᵀWX)⁻¹``; for cluster ``j`` with ``D_j = Θ_j^{1/2}`` (diagonal),
  ``B_j = D_j (Θ_j − X_j M X_jᵀ) D_j`` and the adjustment
  ``A_j = D_j B_j^{+1/2} D_j``, where ``B^{+1/2}`` is the inverse symmetric square root on
  the eigenvalues above a tolerance (0 on the rest: with hotspot fixed effects and
  clusters = hotspots, ``B_j`` is singular and the Moore–Penrose root is used, as
  clubSandwich's ``matrix_power`` does; Pustejovsky & Tipton 2018, §2.2, Theorem 2);
* for coefficient ``k``, ``q_j = W_j X_j M e_k`` and ``V_kk = Σ_j (q_jᵀ A_j e_j)²``;
* Satterthwaite: ``a_j = A_j q_j``, ``g_j = Σ_i a_ji² Θ_ji``, ``v_j = X_jᵀ a_j``;
  ``P = diag(g) − VᵀMV`` (``V = [v_1 … v_J]``) and ``df = tr(P)² / Σ P²`` — the
  ratio ``2E[V̂]²/Var[V̂]`` under the working model (Pustejovsky & Tipton 2018, eq. 12).

The full design is held as a sparse matrix (each row has the regressors and one 1 per
factor), so nothing of size N × (number of fixed effects) is ever dense; the cost is one
eigen-decomposition of an ``n_j × n_j`` matrix per cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from guardian_rct.estimation.fixed_effects import GLMFit, encode, single_threaded

__all__ = ["CR2Result", "full_design", "cr2_test", "cr2_for_fit"]

#: Relative tolerance below which an eigenvalue of ``B_j`` is treated as 0 (clubSandwich
#: uses an absolute 1e-12; relative to the largest eigenvalue is scale-free and agrees
#: whenever the null eigenvalues are round-off, as with hotspot effects nested in clusters).
EIGEN_TOL = 1e-10


@dataclass(frozen=True)
class CR2Result:
    """CR2 standard error and Satterthwaite df of one coefficient.

    Attributes
    ----------
    std_error
        ``sqrt(V_kk)`` (no ``G/(G−1)`` factor: the CR2 adjustment replaces it).
    df
        Satterthwaite degrees of freedom (can be far below ``G − 1`` when a few clusters
        dominate the coefficient's leverage).
    n_clusters
        Number of clusters ``G``.
    cluster_share
        Share of ``V_kk`` contributed by each cluster, in the order of the sorted cluster
        labels (the "concentration of the score" diagnosed in
        :mod:`guardian_rct.estimation.diagnosis`).
    """

    std_error: float
    df: float
    n_clusters: int
    cluster_share: np.ndarray


def full_design(X: np.ndarray, fe: list[tuple[np.ndarray, int]], kept: np.ndarray | None,
                absorbed: int | None) -> sp.csr_matrix:
    """The fit's design with every fixed-effect dummy written out (sparse, full rank).

    Column order: ``X``, the kept dummies of the non-absorbed factors (as in the fit), then
    one dummy per level of the absorbed factor (these span the intercept).
    """
    n = X.shape[0]
    blocks = [sp.csr_matrix(X)]
    others = [f for i, f in enumerate(fe) if i != absorbed]
    dums = []
    for codes, lv in others:
        rows = np.flatnonzero(codes > 0)
        dums.append(sp.csr_matrix((np.ones(rows.size), (rows, codes[rows] - 1)), shape=(n, max(lv - 1, 0))))
    if dums:
        D = sp.hstack(dums, format="csc")
        p = X.shape[1]
        cols = (np.arange(D.shape[1]) if kept is None else np.asarray(kept)[np.asarray(kept) >= p] - p)
        blocks.append(D[:, cols])
    if absorbed is None:
        blocks.append(sp.csr_matrix(np.ones((n, 1))))
    else:
        codes, lv = fe[absorbed]
        blocks.append(sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, lv)))
    return sp.hstack(blocks, format="csr")


def _inv_sqrt_psd(B: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(B)
    top = max(float(vals[-1]), 0.0) if vals.size else 0.0
    ok = vals > EIGEN_TOL * top
    pw = np.zeros_like(vals)
    pw[ok] = vals[ok] ** -0.5
    return (vecs * pw) @ vecs.T


@single_threaded
def cr2_test(Z: sp.csr_matrix, y: np.ndarray, mu: np.ndarray, clusters: np.ndarray, *,
             prior: np.ndarray | None = None, k: int = 0) -> CR2Result:
    """CR2 SE and Satterthwaite df of coefficient ``k`` of a log-link Poisson GLM.

    Parameters
    ----------
    Z
        Full design (``N × p``, full column rank), e.g. from :func:`full_design`.
    y, mu
        Outcome and fitted means.
    clusters
        Cluster label of each row.
    prior
        Prior weights ω (e.g. inverse-probability weights); ones when omitted.
    k
        Column of ``Z`` whose coefficient is tested.
    """
    n = y.size
    w = np.ones(n) if prior is None else np.asarray(prior, dtype=float)
    theta = mu / w  # target variance Θ
    Zw = Z.multiply((w * mu)[:, None]).tocsr()  # W X = (ω/μ) μ Z ... times μ: XᵀWX = Zᵀ(ωμ)Z
    XtWX = (Z.T @ Zw).toarray()
    M = np.linalg.inv(XtWX)  # in the Z parametrisation: (Zᵀ ω μ Z)⁻¹
    # X = μZ, so X M_X Xᵀ with M_X = M (same matrix: M_X = (XᵀWX)⁻¹ = (Zᵀ ωμ Z)⁻¹)
    codes, G = encode(clusters)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=G))]
    Mk = M[:, k]
    resid = y - mu
    comps = np.empty(G)
    gdiag = np.empty(G)
    V = np.empty((M.shape[0], G))
    for j in range(G):
        idx = order[bounds[j]:bounds[j + 1]]
        Zj = Z[idx]
        mj, thj, wj = mu[idx], theta[idx], w[idx]
        ZjM = Zj @ M  # dense n_j × p
        XMX = (mj[:, None] * (ZjM @ Zj.T.toarray())) * mj[None, :]
        dj = np.sqrt(thj)
        B = dj[:, None] * (np.diag(thj) - XMX) * dj[None, :]
        A = dj[:, None] * _inv_sqrt_psd(B) * dj[None, :]
        q = wj * (Zj @ Mk)  # W_j X_j M e_k = (ω/μ)·μ·Z_j M e_k
        a = A @ q
        comps[j] = a @ resid[idx]
        gdiag[j] = np.sum(a * a * thj)
        V[:, j] = Zj.T @ (mj * a)  # X_jᵀ a_j
    var = float(np.sum(comps ** 2))
    P = np.diag(gdiag) - V.T @ M @ V
    df = float(np.trace(P) ** 2 / np.sum(P * P))
    share = comps ** 2 / var if var > 0 else np.full(G, np.nan)
    return CR2Result(std_error=math.sqrt(var), df=df, n_clusters=int(G), cluster_share=share)


def cr2_for_fit(fit: GLMFit, y: np.ndarray, X: np.ndarray, fe: list[tuple[np.ndarray, int]],
                clusters: np.ndarray, *, prior: np.ndarray | None = None, k: int = 0) -> CR2Result:
    """:func:`cr2_test` for a Poisson :class:`GLMFit` (rebuilds its full design)."""
    if fit.theta is not None:
        raise ValueError("CR2 is implemented for the Poisson (PML) model only")
    Z = full_design(np.asarray(X, dtype=float).reshape(y.size, -1), fe, fit.kept, fit.absorbed)
    return cr2_test(Z, y, fit.mu, clusters, prior=prior, k=k)
