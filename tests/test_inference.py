"""Randomisation inference: against a naive loop, test inversion, alignment, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from estimate_fixtures import crossover_design, make_panel, parallel_design
from guardian_rct._core.errors import DataError
from guardian_rct.estimation.itt import poisson_fe, poisson_parallel
from guardian_rct.estimation.randomisation import randomisation_test


@pytest.fixture(scope="module")
def trial():
    design = crossover_design(12, 30, treated_per_block={"A": 3, "B": 2},
                              blocks=["A"] * 6 + ["B"] * 6)
    frame = make_panel(design, np.random.default_rng(11), irr=0.8, mean_rate=1.0)
    return design, frame


def _naive_p(frame, design, draws, seed, statistic="studentised", rule="equal-tailed"):
    """Independent implementation: statsmodels GLM null fit with dummies, loop over draws.

    ``"studentised"``: the score over sqrt(Σ_hotspots (hotspot's share of the score)²).
    ``rule``: ``"equal-tailed"`` twice the smaller one-sided p, ``"symmetric"`` |t*| ≥ |t|.
    """
    X = pd.get_dummies(frame[["hotspot_id"]].assign(day=frame["day_index"].astype(str)),
                       drop_first=True, dtype=float)
    X.insert(0, "const", 1.0)
    y = frame["count_violence"].to_numpy(float)
    mu = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12).fittedvalues
    r = y - np.asarray(mu)
    p = frame["p_treated"].to_numpy()
    pos = {h: j for j, h in enumerate(design.hotspot_ids)}
    cols = frame["hotspot_id"].map(pos).to_numpy()
    rows = frame["day_index"].to_numpy()

    def stat(t):
        shares = pd.Series((t - p) * r).groupby(cols).sum().to_numpy()
        score = shares.sum()
        return score if statistic == "score" else score / np.sqrt(np.sum(shares ** 2))

    obs = stat(frame["treated"].to_numpy())
    tol = 1e-9 * max(abs(obs), 1e-12)
    rng = np.random.default_rng(seed)
    beyond = below = above = 0
    allocs = design.draw(rng, size=draws)
    for k in range(draws):
        s = stat(allocs[k][rows, cols])
        beyond += abs(s) >= abs(obs) - tol
        below += s <= obs + tol
        above += s >= obs - tol
    if rule == "symmetric":
        return (1 + beyond) / (1 + draws)
    return min(1.0, 2 * (1 + min(below, above)) / (1 + draws))


@pytest.mark.parametrize("rule", ["equal-tailed", "symmetric"])
@pytest.mark.parametrize("statistic", ["studentised", "score"])
def test_p_value_equals_naive_loop(trial, statistic, rule):
    design, frame = trial
    res = randomisation_test(frame, "count_violence", design, draws=400, statistic=statistic,
                             rng=np.random.default_rng(5), conf_int=False, batch=64, p_value_rule=rule)
    assert res.p_value == pytest.approx(_naive_p(frame, design, 400, 5, statistic, rule), abs=1e-12)
    assert res.mc_std_error == pytest.approx(math.sqrt(res.p_value * (1 - res.p_value) / 400))
    assert res.draws == 400


def test_same_seed_same_answer_and_row_order_does_not_matter(trial):
    design, frame = trial
    a = randomisation_test(frame, "count_violence", design, draws=300,
                           rng=np.random.default_rng(1), conf_int=False)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    b = randomisation_test(shuffled, "count_violence", design, draws=300,
                           rng=np.random.default_rng(1), conf_int=False)
    assert a.p_value == b.p_value


def test_interval_is_test_inversion(trial):
    design, frame = trial
    res = randomisation_test(frame, "count_violence", design, draws=300,
                             rng=np.random.default_rng(9), seed=123)
    assert res.provenance.seed_fingerprint is None  # no store key here: the seed is withheld
    assert res.rr_conf_low is not None and res.rr_conf_high is not None
    est = poisson_fe(frame, "count_violence")
    assert res.rr_conf_low < est.irr < res.rr_conf_high
    # p(τ) on the curve equals the plain test of τ on the outcome adjusted by τ^(-T)
    tau, p_tau = res.curve.iloc[7]
    adjusted = frame.assign(count_violence=frame["count_violence"]
                            * np.where(frame["treated"] == 1, 1 / tau, 1.0))
    plain = randomisation_test(adjusted, "count_violence", design, draws=300,
                               rng=np.random.default_rng(9), conf_int=False)
    assert plain.p_value == pytest.approx(p_tau)
    inside = res.curve[(res.curve.rate_ratio > res.rr_conf_low)
                       & (res.curve.rate_ratio < res.rr_conf_high)]
    assert (inside.p_value > res.alpha).all()
    outside = res.curve[(res.curve.rate_ratio < res.rr_conf_low)
                        | (res.curve.rate_ratio > res.rr_conf_high)]
    assert (outside.p_value <= res.alpha).all() and len(outside) > 0
    assert "rate ratio" in res.summary() and res.to_dict()["draws"] == 300
    data = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert data["conf_low"] == res.rr_conf_low and "seed" not in data["provenance"]


def test_milestone_subset_of_days(trial):
    design, frame = trial
    early = frame[frame["day_index"] < 15]
    res = randomisation_test(early, "count_violence", design, draws=200,
                             rng=np.random.default_rng(2), conf_int=False)
    assert 0 < res.p_value <= 1


def test_parallel_design_uses_block_day_and_baseline():
    design = parallel_design(30, 40, n_treated=15)
    frame = make_panel(design, np.random.default_rng(4), irr=0.6, mean_rate=0.5, hotspot_sd=0.3)
    res = randomisation_test(frame, "count_violence", design, draws=300,
                             rng=np.random.default_rng(3))
    assert "block + day + log(1 + baseline)" in res.statistic
    est = poisson_parallel(frame, "count_violence")
    assert res.rr_conf_low < est.irr < res.rr_conf_high


def test_bad_input(trial):
    design, frame = trial
    rng = np.random.default_rng(0)
    stranger = frame.copy()
    stranger.loc[3, "hotspot_id"] = "X1"
    with pytest.raises(DataError, match="row 4, column 'hotspot_id'.*not in the design"):
        randomisation_test(stranger, "count_violence", design, draws=10, rng=rng)
    with pytest.raises(DataError, match="outside the design's days"):
        randomisation_test(frame.assign(day_index=frame["day_index"] + 100), "count_violence",
                           design, draws=10, rng=rng)
    with pytest.raises(DataError, match="redraws must be positive"):
        randomisation_test(frame, "count_violence", design, draws=0, rng=rng)
    with pytest.raises(DataError, match="no treated hotspot-days"):
        randomisation_test(frame.assign(treated=0), "count_violence", design, draws=10, rng=rng)
    with pytest.raises(DataError, match="has no events"):
        randomisation_test(frame.assign(count_violence=0), "count_violence", design, draws=10,
                           rng=rng)
    with pytest.raises(DataError, match="'count_x' is not in the panel"):
        randomisation_test(frame, "count_x", design, draws=10, rng=rng)


def test_hotspot_without_events_is_harmless(trial):
    design, frame = trial
    quiet = frame.copy()
    quiet.loc[quiet["hotspot_id"] == "H001", "count_violence"] = 0
    res = randomisation_test(quiet, "count_violence", design, draws=200,
                             rng=np.random.default_rng(4))
    assert 0 < res.p_value <= 1 and res.rr_conf_low < res.rr_conf_high
