"""Randomisation inference against its exact distribution, by enumerating every allocation.

A tiny crossover design, 4 hotspots × 3 days with 2 patrolled a day, has
C(4, 2)³ = 6³ = 216 equally likely allocations. For a fixed panel the randomisation
distribution of the test statistic is therefore known exactly: compute it for all 216
allocations and count (Fisher 1935; Imbens & Rubin 2015, §5.3). The reference here is
written independently of :mod:`guardian_rct.estimation.randomisation`: the null
two-way Poisson model is fitted in closed form (μ = hotspot total × day total / grand
total, Bishop, Fienberg & Holland 1975, ch. 3) and the allocations come from
:func:`itertools.combinations`, not from the design.

Checked:

* the design object's ``draw`` is uniform over exactly those 216 allocations (and, for a
  blocked version, over its 64), by a chi-square goodness-of-fit test;
* :func:`randomisation_test`'s observed statistic equals the centred score of the
  reference, and its Monte Carlo p-value lies within 4 Monte Carlo standard errors of the
  exact p-value, for a panel without an effect and one with an effect;
* every point of its p-value curve (the test-inversion interval is read off that curve)
  lies within 4 Monte Carlo standard errors of the exact p-value at that rate ratio.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from estimate_fixtures import (
    all_crossover_allocations,
    configured_design,
    crossover_design,
    day_grid_panel,
)
from guardian_rct._core.rng import stream
from guardian_rct.estimation.randomisation import randomisation_test

N_HOT, N_DAYS, K = 4, 3, 2
DRAWS = 20_000
DESIGN = configured_design(N_HOT, N_DAYS, treated_per_day=K)


ALLOCATIONS = all_crossover_allocations(N_HOT, N_DAYS, K)

# Two fixed panels (counts per day × hotspot) and the allocation that was "observed".
OBSERVED = ALLOCATIONS[137]
NULL_COUNTS = np.array([[3, 1, 4, 2],
                        [2, 5, 1, 3],
                        [4, 2, 3, 6]])
EFFECT_COUNTS = np.where(OBSERVED, 1, 5) + np.array([[0, 1, 0, 1],
                                                     [1, 0, 2, 0],
                                                     [0, 2, 0, 1]])


def panel(counts: np.ndarray, treated: np.ndarray) -> pd.DataFrame:
    return day_grid_panel(DESIGN, counts, treated, with_probabilities=True)


def score(u: np.ndarray, allocations: np.ndarray, statistic: str = "score") -> np.ndarray:
    """Centred Poisson score Σ (T − p)(u − μ̂) of the two-way null model, per allocation.

    ``"studentised"``: divided by its cluster-robust SE, sqrt(Σ_hotspots c_h²) with
    c_h = Σ_days (T − p)(u − μ̂) the hotspot's share of the score.
    """
    mu = np.outer(u.sum(axis=1), u.sum(axis=0)) / u.sum()
    r = u - mu  # (days, hotspots)
    p = K / N_HOT
    per_hotspot = np.einsum("kdh,dh->kh", allocations.astype(float) - p, r)
    total = per_hotspot.sum(axis=1)
    if statistic == "score":
        return total
    # An allocation patrolling every hotspot on all or none of its days has every c_h = 0
    # exactly (each hotspot's residuals sum to zero): 0/0, no evidence, t = 0. Computed
    # here exactly, from the counts of treated days, not by comparing round-off with 0.
    variance = (per_hotspot ** 2).sum(axis=1)
    treated_days = allocations.sum(axis=1)
    zero = ((treated_days == 0) | (treated_days == allocations.shape[1])).all(axis=1)
    return np.where(zero, 0.0, total / np.sqrt(np.where(zero, 1.0, variance)))


def exact_p(counts: np.ndarray, tau: float = 1.0, statistic: str = "score") -> tuple[float, float]:
    """Exact two-sided p-value of the sharp null "rate ratio τ" and the observed statistic.

    With two of four hotspots patrolled a day the complement of an allocation is an
    allocation and the statistic changes sign with it, so the randomisation distribution is
    symmetric and the symmetric and equal-tailed rules give this same exact p; where they
    differ each is checked against its own exact value in ``tests/test_ri_p_value_rule.py``.
    """
    u = counts * np.where(OBSERVED, 1.0 / tau, 1.0)
    s_all = score(u, ALLOCATIONS, statistic)
    s_obs = float(score(u, OBSERVED[None], statistic)[0])
    tol = 1e-9 * max(abs(s_obs), 1e-12)  # ties are ties: the same tolerance as the package
    return float(np.mean(np.abs(s_all) >= abs(s_obs) - tol)), s_obs


def within_mc_error(p_mc: float, p_exact: float, draws: int) -> tuple[bool, float]:
    """Is the Monte Carlo p-value (1 + hits)/(1 + k) within 4 SE of its expectation?"""
    expected = (1 + draws * p_exact) / (1 + draws)
    se = math.sqrt(p_exact * (1 - p_exact) / draws)
    return abs(p_mc - expected) <= 4 * se + 1e-12, se


def allocation_index(draws: np.ndarray) -> np.ndarray:
    """Position of each drawn allocation in ``ALLOCATIONS`` (−1 if it is not one of them)."""
    lookup = {a.tobytes(): i for i, a in enumerate(ALLOCATIONS)}
    return np.array([lookup.get(np.ascontiguousarray(t).tobytes(), -1) for t in draws])


def test_enumeration_is_complete_and_distinct():
    assert ALLOCATIONS.shape == (6 ** 3, N_DAYS, N_HOT)
    assert (ALLOCATIONS.sum(axis=2) == K).all()
    assert len({a.tobytes() for a in ALLOCATIONS}) == 216


def test_design_draw_is_uniform_over_the_216_allocations():
    n = 216 * 150
    drawn = DESIGN.draw(stream(2024, "exact_ri", "uniform"), size=n)
    index = allocation_index(drawn)
    assert (index >= 0).all()  # never an allocation outside the design
    freq = np.bincount(index, minlength=216)
    assert (freq > 0).all()
    chi2 = stats.chisquare(freq)
    assert chi2.pvalue > 1e-3, (chi2, freq.min(), freq.max())
    # each hotspot-day is treated with the declared probability
    np.testing.assert_allclose(drawn.mean(axis=0), DESIGN.probabilities(), atol=4 * math.sqrt(0.25 / n))


def test_blocked_design_draw_is_uniform_over_its_64_allocations():
    """Blocks {H001, H002} and {H003, H004}, one patrolled in each a day: 2² per day, 4³ in all."""
    design = crossover_design(N_HOT, N_DAYS, treated_per_block={"A": 1, "B": 1}, blocks=("A", "A", "B", "B"))
    in_blocks = (ALLOCATIONS[:, :, :2].sum(axis=2) == 1).all(axis=1)
    n = 64 * 300
    index = allocation_index(design.draw(stream(2024, "exact_ri", "blocked"), size=n))
    assert in_blocks.sum() == 64
    assert (index >= 0).all() and in_blocks[index].all()
    freq = np.bincount(index, minlength=216)[in_blocks]
    assert (freq > 0).all() and stats.chisquare(freq).pvalue > 1e-3


@pytest.mark.parametrize("statistic", ["studentised", "score"])
@pytest.mark.parametrize("name, counts", [("no effect", NULL_COUNTS), ("effect", EFFECT_COUNTS)])
def test_monte_carlo_p_value_matches_the_exact_p_value(name, counts, statistic):
    p_exact, s_obs = exact_p(counts, statistic=statistic)
    res = randomisation_test(panel(counts, OBSERVED), "count_x", DESIGN, draws=DRAWS,
                             rng=stream(2024, "exact_ri", name), conf_int=False, statistic=statistic)
    assert res.observed == pytest.approx(s_obs, rel=1e-10, abs=1e-12)  # the same statistic
    ok, se = within_mc_error(res.p_value, p_exact, DRAWS)
    assert ok, f"{name}: Monte Carlo p = {res.p_value:.4f}, exact p = {p_exact:.4f} (MC SE {se:.4f})"
    assert res.mc_std_error == pytest.approx(math.sqrt(res.p_value * (1 - res.p_value) / DRAWS))
    if name == "no effect":
        assert p_exact > 0.05  # a panel the test does not reject ...
    else:
        # ... and one it does (the studentised statistic, with 4 clusters, just misses)
        assert p_exact < (0.05 if statistic == "score" else 0.06)


@pytest.mark.parametrize("statistic", ["studentised", "score"])
def test_p_value_curve_matches_exact_p_values_at_every_rate_ratio(statistic):
    res = randomisation_test(panel(EFFECT_COUNTS, OBSERVED), "count_x", DESIGN, draws=DRAWS,
                             rng=stream(2024, "exact_ri", "curve"), statistic=statistic)
    assert len(res.curve) >= 41
    misses = []
    for tau, p_mc in zip(res.curve["rate_ratio"], res.curve["p_value"], strict=True):
        p_exact, _ = exact_p(EFFECT_COUNTS, tau, statistic)
        ok, se = within_mc_error(p_mc, p_exact, DRAWS)
        if not ok:
            misses.append((round(tau, 4), p_mc, p_exact, se))
    assert not misses, misses
    # the interval holds the rate ratios whose exact p-value exceeds alpha
    taus = res.curve["rate_ratio"].to_numpy()
    exact = np.array([exact_p(EFFECT_COUNTS, t, statistic)[0] for t in taus])
    clear = np.abs(exact - res.alpha) > 4 * np.sqrt(exact * (1 - exact) / DRAWS) + 1 / DRAWS
    assert clear.sum() > len(taus) // 2
    inside = (taus > (res.rr_conf_low or 0)) & (taus < (res.rr_conf_high or np.inf))
    assert ((exact > res.alpha) == inside)[clear].all()
