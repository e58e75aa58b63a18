"""The numerical core: IPF null fit equals the IRLS fit; absorbed FE equal explicit dummies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from guardian_rct.estimation.fixed_effects import encode, fit_glm_fe, ipf_null_fit


def _unbalanced(seed=0):
    rng = np.random.default_rng(seed)
    h, d = np.meshgrid(np.arange(8), np.arange(25), indexing="ij")
    keep = rng.random(h.size) > 0.2  # missing hotspot-days
    h, d = h.ravel()[keep], d.ravel()[keep]
    y = rng.poisson(np.exp(0.3 * h / 8 + np.sin(d / 4)))
    w = rng.uniform(0.5, 2.0, y.size)
    return h, d, y.astype(float), w


def test_ipf_equals_irls_with_missing_cells_and_weights():
    h, d, y, w = _unbalanced()
    fe = [encode(h), encode(d)]
    mu_ipf = ipf_null_fit(y, fe, weights=w)
    mu_irls = fit_glm_fe(y, np.zeros((y.size, 0)), fe, weights=w).mu
    assert np.allclose(mu_ipf, mu_irls, rtol=1e-8)


def test_absorbed_fit_equals_statsmodels_with_dummies():
    h, d, y, w = _unbalanced(1)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, y.size).astype(float)
    fit = fit_glm_fe(y, x[:, None], [encode(h), encode(d)], weights=w)
    X = pd.get_dummies(pd.DataFrame({"h": h.astype(str), "d": d.astype(str)}), drop_first=True,
                       dtype=float)
    X.insert(0, "x", x)
    X.insert(0, "const", 1.0)
    ref = sm.GLM(y, X, family=sm.families.Poisson(), freq_weights=w).fit(tol=1e-12)
    assert fit.coef[0] == pytest.approx(ref.params["x"], rel=1e-7)
    assert np.allclose(fit.mu, ref.fittedvalues, rtol=1e-7)
    assert fit.n_params == X.shape[1]


def test_single_threaded_limits_blas_once_and_restores_it():
    """The limit holds inside nested fits and the caller's BLAS threads come back after."""
    from threadpoolctl import threadpool_info

    from guardian_rct.estimation.fixed_effects import single_threaded

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    @single_threaded
    def inner():
        return blas_threads()

    @single_threaded
    def outer():
        return inner(), blas_threads()

    before = blas_threads()
    nested, own = outer()
    assert set(nested) <= {1} and set(own) <= {1}
    assert blas_threads() == before

    @single_threaded
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert blas_threads() == before and inner() == [1] * len(before)
