"""The randomisation test's two-sided p-value rules against their exact values.

With one hotspot of five patrolled a day the assignment probability is 1/5, the complement
of an allocation is not an allocation, and the randomisation distribution of the
studentised score need not be symmetric. Then the symmetric rule ``|t*| ≥ |t|`` and the
equal-tailed rule (twice the smaller one-sided p; Lehmann & Romano 2005, §3.5) differ, and
each Monte Carlo p-value must match its own exact value, computed here by enumerating all
5³ = 125 allocations with :func:`itertools`-based enumeration and the closed-form two-way
null fit (as in ``tests/test_ri_exact.py``), independently of the package.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from estimate_fixtures import all_crossover_allocations, configured_design, day_grid_panel
from guardian_rct._core.errors import DataError
from guardian_rct._core.rng import stream
from guardian_rct.estimation.randomisation import randomisation_test
from guardian_rct.estimation.ri_statistic import two_sided_p

N_HOT, N_DAYS, K = 5, 3, 1
DRAWS = 20_000
DESIGN = configured_design(N_HOT, N_DAYS, treated_per_day=K)
ALLOCATIONS = all_crossover_allocations(N_HOT, N_DAYS, K)
# A panel (found by search) whose studentised randomisation distribution is skewed
COUNTS = np.array([[2, 5, 1, 2, 1], [0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=float)
OBSERVED = np.array([[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=bool)


def studentised(u: np.ndarray, allocations: np.ndarray) -> np.ndarray:
    """Σ_h c_h / sqrt(Σ_h c_h²), c_h = Σ_d (T − p)(u − μ̂), μ̂ the closed-form two-way fit."""
    r = u - np.outer(u.sum(axis=1), u.sum(axis=0)) / u.sum()
    per_hotspot = np.einsum("kdh,dh->kh", allocations.astype(float) - K / N_HOT, r)
    # patrolling one hotspot on all three days makes every c_h = 0 exactly (each hotspot's
    # residuals sum to zero): no evidence, t = 0, decided from the allocation, not round-off
    treated_days = allocations.sum(axis=1)
    zero = ((treated_days == 0) | (treated_days == allocations.shape[1])).all(axis=1)
    variance = np.where(zero, 1.0, (per_hotspot ** 2).sum(axis=1))
    return np.where(zero, 0.0, per_hotspot.sum(axis=1) / np.sqrt(variance))


def exact(counts: np.ndarray) -> dict[str, float]:
    s_all = studentised(counts, ALLOCATIONS)
    s_obs = float(studentised(counts, OBSERVED[None])[0])
    tol = 1e-9 * max(abs(s_obs), 1e-12)
    less, greater = float(np.mean(s_all <= s_obs + tol)), float(np.mean(s_all >= s_obs - tol))
    return {"symmetric": float(np.mean(np.abs(s_all) >= abs(s_obs) - tol)),
            "equal-tailed": min(1.0, 2 * min(less, greater)), "less": less, "greater": greater}


def run(rule: str):
    frame = day_grid_panel(DESIGN, COUNTS, OBSERVED, with_probabilities=True)
    return randomisation_test(frame, "count_x", DESIGN, draws=DRAWS, rng=stream(7, "p_rule"), conf_int=False,
                              p_value_rule=rule)


def test_the_panel_is_one_where_the_rules_differ():
    e = exact(COUNTS)
    se = math.sqrt(0.25 / DRAWS)
    assert abs(e["symmetric"] - e["equal-tailed"]) > 20 * se, e  # else the next test proves nothing
    assert np.isfinite(studentised(COUNTS, ALLOCATIONS)).all()


@pytest.mark.parametrize("rule", ["equal-tailed", "symmetric"])
def test_each_rule_matches_its_exact_p_value(rule):
    e = exact(COUNTS)
    res = run(rule)
    assert res.p_value_rule == rule
    one_sided = min(e["less"], e["greater"])
    scale, q = (2.0, one_sided) if rule == "equal-tailed" else (1.0, e["symmetric"])
    expected = min(1.0, scale * (1 + DRAWS * q) / (1 + DRAWS))
    assert abs(res.p_value - expected) <= 4 * scale * math.sqrt(q * (1 - q) / DRAWS), (res.p_value, e)
    # the one-sided p-values are reported whatever the rule, and match theirs
    for got, want in ((res.p_less, e["less"]), (res.p_greater, e["greater"])):
        assert abs(got - (1 + DRAWS * want) / (1 + DRAWS)) <= 4 * math.sqrt(want * (1 - want) / DRAWS) + 1e-12
    assert res.to_dict()["p_value_rule"] == rule and res.to_dict()["p_less"] == res.p_less


def test_the_default_rule_is_equal_tailed():
    frame = day_grid_panel(DESIGN, COUNTS, OBSERVED, with_probabilities=True)
    res = randomisation_test(frame, "count_x", DESIGN, draws=200, rng=stream(7, "p_rule"), conf_int=False)
    assert res.p_value_rule == "equal-tailed"
    assert res.p_value == pytest.approx(min(1.0, 2 * min(res.p_less, res.p_greater)))


@pytest.mark.parametrize("rule", ["equal-tailed", "symmetric"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_rules_are_exact_under_the_sharp_null(rule, seed):
    """Over every allocation as the observed one, P(p ≤ α) ≤ α for every α (enumeration).

    The counts of the other 124 allocations stand for the redraws, so ``two_sided_p``'s
    ``(1 + #)/(1 + k)`` is the exact share of all 125 (Phipson & Smyth 2010)."""
    counts = np.random.default_rng(seed).poisson(1.5, (N_DAYS, N_HOT)).astype(float)
    counts[0, seed % N_HOT] += 9  # one heavy hotspot-day: a skewed distribution
    s = studentised(counts, ALLOCATIONS)
    tol = 1e-9 * np.maximum(np.abs(s), 1e-12)
    below = (s[None, :] <= s[:, None] + tol[:, None]).sum(axis=1) - 1
    above = (s[None, :] >= s[:, None] - tol[:, None]).sum(axis=1) - 1
    beyond = (np.abs(s)[None, :] >= np.abs(s)[:, None] - tol[:, None]).sum(axis=1) - 1
    p = two_sided_p(below, above, beyond, len(ALLOCATIONS) - 1, rule)
    for alpha in (0.02, 0.05, 0.1, 0.2, 0.5):
        assert np.mean(p <= alpha) <= alpha + 1e-12, (alpha, np.mean(p <= alpha))
    assert p.max() == 1.0 and p.min() < 0.2  # informative: not all ones


def test_an_unknown_rule_is_refused_with_the_fix():
    frame = day_grid_panel(DESIGN, COUNTS, OBSERVED, with_probabilities=True)
    with pytest.raises(DataError, match="equal-tailed"):
        randomisation_test(frame, "count_x", DESIGN, draws=10, rng=stream(7, "p_rule"), p_value_rule="two-sided")
    with pytest.raises(ValueError, match="rule must be one of"):
        two_sided_p(np.array([1]), np.array([1]), np.array([1]), 10, "both")


def test_the_config_key_is_checked(tmp_path):
    from guardian_rct._core.errors import ConfigError
    from guardian_rct.config.trial_config import config_from_dict

    base = {"trial": {"name": "t", "start_date": pd.Timestamp("2024-01-01").date(),
                      "end_date": pd.Timestamp("2024-01-28").date(), "seed": 1},
            "hotspots": {"path": "hotspots.geojson"}, "design": {"treated_per_day": 1}}
    assert config_from_dict(base).evaluation.ri_p_value == "equal-tailed"
    assert config_from_dict({**base, "evaluation": {"ri_p_value": "symmetric"}}).evaluation.ri_p_value == "symmetric"
    with pytest.raises(ConfigError, match="ri_p_value"):
        config_from_dict({**base, "evaluation": {"ri_p_value": "one-sided"}})
