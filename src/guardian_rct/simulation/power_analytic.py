"""Closed-form power and minimum detectable effect for comparing two Poisson rates.

The simple case: hotspot-days completely randomised to patrol (``n_treated``) or not
(``n_control``), counts Poisson with rate ``rate`` per control hotspot-day and
``rate · RR`` per treated one. The Wald test of the log rate ratio uses

``SE(log RR̂) ≈ sqrt(1 / (rate · n_treated · RR) + 1 / (rate · n_control))``

(the delta-method variance of the log of each arm's total; Signorini 1991, "Sample size
for Poisson regression", *Biometrika* 78(2):446–450; Gu, Ng, Tang & Schucany 2008,
"Testing the ratio of two Poisson rates", *Biometrical Journal* 50(2):283–298, the
"W3"/log-scale Wald statistic). Power for a two-sided test at level α is

``Φ(|log RR| / SE − z_{1−α/2}) + Φ(−|log RR| / SE − z_{1−α/2})``

and the minimum detectable effect solves ``|log RR| = (z_{1−α/2} + z_{1−β}) · SE(RR)``
by fixed-point iteration (SE depends on RR through the treated arm's expected count).

Over-dispersion (negative binomial counts with ``Var = μ + α μ²`` per hotspot-day) adds
``α / n`` to each arm's variance of the log mean (Cameron & Trivedi 2013, §3.3). This is
a planning approximation: it ignores the crossover design's within-hotspot correlation
and the estimator actually used; the simulation-based power function (simulating
through the real estimators) is the check.
"""

from __future__ import annotations

import math
from typing import Literal

from scipy.stats import norm

__all__ = ["log_rate_ratio_se", "poisson_power", "poisson_mde"]


def _check(rate: float, n_treated: float, n_control: float, alpha: float) -> None:
    if not (rate > 0 and n_treated > 0 and n_control > 0):
        raise ValueError("rate, n_treated and n_control must be positive")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")


def log_rate_ratio_se(rate: float, n_treated: float, n_control: float, rate_ratio: float,
                      *, overdispersion: float = 0.0) -> float:
    """Approximate standard error of the estimated log rate ratio.

    Parameters
    ----------
    rate
        Expected count per control hotspot-day (λ).
    n_treated, n_control
        Numbers of treated and control hotspot-days.
    rate_ratio
        The true rate ratio RR (treated / control).
    overdispersion
        Negative-binomial α per hotspot-day (0 = Poisson).
    """
    if rate_ratio <= 0:
        raise ValueError("rate_ratio must be positive")
    var_t = 1.0 / (rate * n_treated * rate_ratio) + overdispersion / n_treated
    var_c = 1.0 / (rate * n_control) + overdispersion / n_control
    return math.sqrt(var_t + var_c)


def poisson_power(rate: float, n_treated: float, n_control: float, rate_ratio: float, *,
                  alpha: float = 0.05, overdispersion: float = 0.0) -> float:
    """Power of the two-sided Wald test of log RR = 0 at level ``alpha``."""
    _check(rate, n_treated, n_control, alpha)
    se = log_rate_ratio_se(rate, n_treated, n_control, rate_ratio, overdispersion=overdispersion)
    z = norm.ppf(1 - alpha / 2)
    d = abs(math.log(rate_ratio)) / se
    return float(norm.cdf(d - z) + norm.cdf(-d - z))


def poisson_mde(rate: float, n_treated: float, n_control: float, *, power: float = 0.8,
                alpha: float = 0.05, direction: Literal["decrease", "increase"] = "decrease",
                overdispersion: float = 0.0, tol: float = 1e-10, max_iter: int = 200) -> float:
    """Minimum detectable rate ratio at ``power`` (two-sided test at ``alpha``).

    Iterates ``RR ← exp(∓(z_{1−α/2} + z_{power}) · SE(RR))`` from RR = 1 to a fixed
    point; returns RR < 1 for ``direction="decrease"`` (a crime reduction).
    """
    _check(rate, n_treated, n_control, alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, not {power}")
    sign = -1.0 if direction == "decrease" else 1.0
    zsum = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    rr = 1.0
    for _ in range(max_iter):
        new = math.exp(sign * zsum * log_rate_ratio_se(rate, n_treated, n_control, rr,
                                                       overdispersion=overdispersion))
        if abs(new - rr) < tol:
            return new
        rr = new
    raise RuntimeError("the minimum detectable effect did not converge; check the inputs")
