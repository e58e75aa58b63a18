"""power.py against Monte Carlo simulations of a plain Poisson (and NB) comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guardian_rct.simulation.power_analytic import log_rate_ratio_se, poisson_mde, poisson_power


def _mc_power(rate, n_t, n_c, rr, reps, rng, alpha_nb=0.0):
    """Empirical power of the log-scale Wald test, from the arms' totals."""
    if alpha_nb > 0:  # NB totals: sum of n gamma-Poisson draws = Poisson(gamma(n/alpha) * ...)
        lam_t = rng.gamma(n_t / alpha_nb, rate * rr * alpha_nb, reps)
        lam_c = rng.gamma(n_c / alpha_nb, rate * alpha_nb, reps)
    else:
        lam_t, lam_c = np.full(reps, rate * n_t * rr), np.full(reps, rate * n_c)
    y_t, y_c = rng.poisson(lam_t), rng.poisson(lam_c)
    ok = (y_t > 0) & (y_c > 0)
    z = np.log((y_t[ok] / n_t) / (y_c[ok] / n_c)) / np.sqrt(1 / y_t[ok] + 1 / y_c[ok] + alpha_nb * (1 / n_t + 1 / n_c))
    return float(np.mean(np.abs(z) > 1.959964))


@pytest.mark.parametrize("rate,n_t,n_c,rr", [(0.5, 400, 400, 0.8), (0.17, 2000, 2000, 0.85), (1.6, 100, 300, 0.7)])
def test_power_matches_monte_carlo(rate, n_t, n_c, rr):
    rng = np.random.default_rng(11)
    reps = 20000
    analytic = poisson_power(rate, n_t, n_c, rr)
    empirical = _mc_power(rate, n_t, n_c, rr, reps, rng)
    mc_se = math.sqrt(analytic * (1 - analytic) / reps)
    # Monte Carlo error plus the normal approximation's own (small) error.
    assert abs(empirical - analytic) < 4 * mc_se + 0.02


def test_power_with_overdispersion_matches_negative_binomial_monte_carlo():
    rng = np.random.default_rng(12)
    analytic = poisson_power(0.8, 600, 600, 0.8, overdispersion=0.6)
    empirical = _mc_power(0.8, 600, 600, 0.8, 20000, rng, alpha_nb=0.6)
    assert abs(empirical - analytic) < 4 * math.sqrt(analytic * (1 - analytic) / 20000) + 0.02
    assert analytic < poisson_power(0.8, 600, 600, 0.8)


def test_size_is_alpha_under_the_null():
    assert poisson_power(0.5, 300, 300, 1.0) == pytest.approx(0.05)
    empirical = _mc_power(0.5, 300, 300, 1.0, 40000, np.random.default_rng(13))
    assert abs(empirical - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 40000) + 0.005


def test_mde_is_the_fixed_point_and_has_the_chosen_power():
    rr = poisson_mde(0.5, 500, 500, power=0.8)
    assert rr < 1
    se = log_rate_ratio_se(0.5, 500, 500, rr)
    assert -math.log(rr) == pytest.approx((1.959964 + 0.841621) * se, rel=1e-5)
    assert poisson_power(0.5, 500, 500, rr) == pytest.approx(0.8, abs=0.002)
    up = poisson_mde(0.5, 500, 500, power=0.8, direction="increase")
    assert up > 1 and poisson_power(0.5, 500, 500, up) == pytest.approx(0.8, abs=0.002)
    # More data, smaller detectable effect.
    assert poisson_mde(0.5, 5000, 5000) > rr


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        poisson_power(0, 10, 10, 0.8)
    with pytest.raises(ValueError):
        poisson_mde(0.5, 10, 10, power=1.2)
    with pytest.raises(ValueError):
        log_rate_ratio_se(0.5, 10, 10, -1)
