"""Randomisation inference for the CACE as a rate ratio (issue 12, item 1).

Under the sharp dose-response null ``Y(d) = Y(0)·τ^d`` in patrol *presence* (Rosenbaum
2002, §5; Imbens & Rosenbaum 2005) the outcome without a patrol ``y·τ^(−D)`` is fixed
whatever the allocation, so re-drawing the assignment tests it exactly. Checked here:

* against a hand computation on a tiny enumerable design (4 hotspots × 3 days, 2 a day:
  216 allocations), with non-compliance on both sides: every point of the p-value curve
  is within 4 Monte Carlo SE of the exact p-value, and the interval holds exactly the
  rate ratios whose exact p-value exceeds alpha;
* with full compliance (presence = assignment) it *is* the ITT randomisation test;
  at τ = 1 it is the ITT test whatever the compliance;
* a simulation with a known rate ratio of presence on the package's own crossover design,
  with delivery that depends on the hotspot-day's crime (selection that breaks an
  as-treated comparison): the interval covers the truth at the nominal rate;
* bad dose input is refused with a one-line error.
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

N_HOT, N_DAYS, K = 4, 3, 2
DRAWS = 20_000
DESIGN = configured_design(N_HOT, N_DAYS, treated_per_day=K)


ALLOCATIONS = all_crossover_allocations(N_HOT, N_DAYS, K)
OBSERVED = ALLOCATIONS[101]
# presence: one assigned patrol never arrived, two no-patrol hotspot-days had one anyway
PRESENT = OBSERVED.astype(int).copy()
_t = np.argwhere(OBSERVED)
_c = np.argwhere(~OBSERVED)
PRESENT[tuple(_t[1])] = 0
PRESENT[tuple(_c[0])] = 1
PRESENT[tuple(_c[4])] = 1
COUNTS = np.where(PRESENT == 1, 1, 6) + np.array([[0, 1, 0, 2],
                                                  [1, 0, 2, 0],
                                                  [0, 2, 1, 1]])


def _panel(counts: np.ndarray, treated: np.ndarray) -> pd.DataFrame:
    return day_grid_panel(DESIGN, counts, treated)


def exact_p(tau: float) -> float:
    """By hand: remove τ from the hotspot-days with a patrol present, enumerate all 216 allocations.

    The null two-way Poisson fit is closed-form (μ = row total × column total / grand total).
    """
    u = COUNTS * np.power(tau, -PRESENT.astype(float))
    mu = np.outer(u.sum(axis=1), u.sum(axis=0)) / u.sum()
    r = (u - mu).ravel()
    s_all = (ALLOCATIONS.reshape(len(ALLOCATIONS), -1) - K / N_HOT) @ r
    s_obs = float((OBSERVED.ravel() - K / N_HOT) @ r)
    return float(np.mean(np.abs(s_all) >= abs(s_obs) - 1e-9 * max(abs(s_obs), 1e-12)))


def _within(p_mc: float, p_exact: float, draws: int) -> bool:
    expected = (1 + draws * p_exact) / (1 + draws)
    return abs(p_mc - expected) <= 4 * math.sqrt(p_exact * (1 - p_exact) / draws) + 1e-12


def test_cace_curve_matches_the_hand_computation_on_an_enumerable_design():
    # The plain score: the hand computation below is of that statistic (the studentised
    # one is checked against enumeration in test_ri_exact.py; the dose enters the same way).
    res = randomisation_test(_panel(COUNTS, OBSERVED), "count_x", DESIGN, draws=DRAWS,
                             rng=stream(7, "ri_cace", "exact"), dose=PRESENT.ravel(), statistic="score")
    assert res.effect_of == "presence" and "D = patrol presence" in res.statistic
    taus = res.curve["rate_ratio"].to_numpy()
    exact = np.array([exact_p(t) for t in taus])
    misses = [(t, p, e) for t, p, e in zip(taus, res.curve["p_value"], exact, strict=True)
              if not _within(p, e, DRAWS)]
    assert not misses, misses
    # the hand computation differs from the ITT's (presence is not assignment here) ...
    itt_exact = []
    for t in taus:
        u = COUNTS * np.where(OBSERVED, 1 / t, 1.0)
        mu = np.outer(u.sum(axis=1), u.sum(axis=0)) / u.sum()
        r = (u - mu).ravel()
        s_all = (ALLOCATIONS.reshape(216, -1) - 0.5) @ r
        itt_exact.append(np.mean(np.abs(s_all) >= abs((OBSERVED.ravel() - 0.5) @ r) - 1e-9))
    assert np.max(np.abs(np.array(itt_exact) - exact)) > 0.05
    # ... and the interval is exactly {τ: exact p > α} where the MC error cannot blur it
    clear = np.abs(exact - res.alpha) > 4 * np.sqrt(exact * (1 - exact) / DRAWS) + 1 / DRAWS
    assert clear.sum() > len(taus) // 2
    inside = (taus > (res.rr_conf_low or 0)) & (taus < (res.rr_conf_high or np.inf))
    assert ((exact > res.alpha) == inside)[clear].all()


@pytest.mark.parametrize("statistic", ["studentised", "score"])
def test_full_compliance_is_the_itt_test_and_tau_one_is_the_itt_p_value(statistic):
    frame = _panel(COUNTS, OBSERVED)
    itt = randomisation_test(frame, "count_x", DESIGN, draws=2000, rng=stream(7, "ri_cace", "same"),
                             statistic=statistic)
    same = randomisation_test(frame, "count_x", DESIGN, draws=2000, rng=stream(7, "ri_cace", "same"),
                              dose=OBSERVED.ravel().astype(float), statistic=statistic)
    assert same.p_value == itt.p_value
    assert (same.rr_conf_low, same.rr_conf_high) == (itt.rr_conf_low, itt.rr_conf_high)
    assert same.effect_of == "presence" and itt.effect_of == "assignment"
    # with non-compliance the test of τ = 1 is still the ITT test (no effect of presence
    # implies no effect of assignment), but the interval is not the ITT's
    cace = randomisation_test(frame, "count_x", DESIGN, draws=2000, rng=stream(7, "ri_cace", "same"),
                              dose=PRESENT.ravel(), statistic=statistic)
    assert cace.p_value == itt.p_value
    # (with 4 clusters the studentised intervals can both be unbounded: compare the curves)
    assert not cace.curve.equals(itt.curve)


def test_bad_dose_is_refused_with_the_row():
    frame = _panel(COUNTS, OBSERVED)
    dose = PRESENT.ravel().astype(float)
    dose[5] = np.nan
    with pytest.raises(DataError, match="row 6"):
        randomisation_test(frame, "count_x", DESIGN, draws=10, rng=stream(7, "x"), dose=dose)
    with pytest.raises(DataError, match="wrong length"):
        randomisation_test(frame, "count_x", DESIGN, draws=10, rng=stream(7, "x"), dose=dose[:-1])
    with pytest.raises(DataError, match="negative"):
        randomisation_test(frame, "count_x", DESIGN, draws=10, rng=stream(7, "x"), dose=-np.ones(12))


def _sim_panel(design, rng, tau: float, *, harm: bool):
    """Y(0) from hotspot and day effects; presence depends on Y(0); Y = Y(0)·τ^D (sharp model)."""
    t = design.draw(rng).astype(int)
    n_days, n_hot = t.shape
    rate = 0.6 * np.exp(rng.normal(0, 0.6, n_hot))[None, :] * np.exp(rng.normal(0, 0.2, n_days))[:, None]
    y0 = rng.poisson(rate).astype(float)
    if harm:  # heavy-tailed CCHI-like days per crime
        y0 = np.array([rng.lognormal(3.0, 1.2, int(k)).sum() for k in y0.ravel()]).reshape(y0.shape)
    busy = y0 > np.median(y0)
    # officers deliver more often where it is busy; demand-led patrols reach busy control days
    present = np.where(t == 1, rng.random(t.shape) < np.where(busy, 0.9, 0.6),
                       rng.random(t.shape) < np.where(busy, 0.15, 0.03)).astype(float)
    y = y0 * np.power(tau, present)
    frame = pd.DataFrame({"hotspot_id": np.tile(design.hotspot_ids, n_days),
                          "day_index": np.repeat(np.arange(n_days), n_hot),
                          "treated": t.ravel(), "count_x": y.ravel()})
    return frame, present.ravel()


@pytest.mark.parametrize("harm", [False, True], ids=["count", "harm"])
def test_coverage_with_a_known_rate_ratio_of_presence(harm):
    """Rejection of the true τ at 5% over 300 trials on the package's design: 5% ± 3 MC SE.

    The naive as-treated Poisson ratio (presence as if randomised) is biased here, which
    is why the check means something: the design-based interval must not be.
    """
    design = configured_design(20, 40, treated_per_day=10)
    tau, reps = 0.6, 300
    rng = stream(99, "ri_cace_coverage", str(harm))
    rejected = 0
    naive = []
    for _ in range(reps):
        frame, present = _sim_panel(design, rng, tau, harm=harm)
        res = randomisation_test(frame, "count_x", design, draws=199, rng=rng, conf_int=False,
                                 null_rate_ratio=tau, dose=present)
        rejected += res.p_value <= 0.05
        y = frame["count_x"].to_numpy()
        naive.append(y[present == 1].mean() / y[present == 0].mean())
    rate = rejected / reps
    se = math.sqrt(0.05 * 0.95 / reps)
    assert abs(rate - 0.05) <= 3 * se, (rate, se)
    assert abs(float(np.median(naive)) - tau) > 0.1  # the selection is real
