"""Wild cluster score bootstrap (Kline & Santos 2012): exactness, invariance and size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guardian_rct.estimation.fixed_effects import encode, ipf_null_fit
from guardian_rct.estimation.wild_bootstrap import cluster_scores, wild_score_bootstrap

REF = pd.read_csv(Path(__file__).parent / "reference" / "crossover_panel.csv")


def _arrays(frame, col="count_violence"):
    fe = [encode(frame["hotspot_id"].to_numpy()), encode(frame["day_index"].to_numpy())]
    return frame[col].to_numpy(float), frame["treated"].to_numpy(float), fe, frame["hotspot_id"].to_numpy()


def test_scores_sum_to_the_restricted_score_and_are_orthogonal_to_the_fixed_effects():
    y, t, fe, cl = _arrays(REF)
    s = cluster_scores(y, t, fe, cl)
    mu = ipf_null_fit(y, fe)
    # the fixed-effect scores vanish at the restricted fit, so the total is sum T (y - mu)
    assert s.sum() == pytest.approx(float(t @ (y - mu)), rel=1e-8)
    assert s.size == 20 and np.abs(s).max() > 0


def test_rademacher_enumeration_matches_monte_carlo():
    sub = REF[REF["hotspot_id"].isin(sorted(REF["hotspot_id"].unique())[:10])]
    y, t, fe, cl = _arrays(sub)
    fe = [encode(c) for c in (sub["hotspot_id"].to_numpy(), sub["day_index"].to_numpy())]
    exact = wild_score_bootstrap(y, t, fe, cl, rng=np.random.default_rng(1), kind="rademacher", draws=2 ** 10)
    mc = wild_score_bootstrap(y, t, fe, cl, rng=np.random.default_rng(1), kind="rademacher", draws=2 ** 10 - 1)
    assert exact.exact and not mc.exact
    assert mc.p_value == pytest.approx(exact.p_value, abs=4 * np.sqrt(exact.p_value * (1 - exact.p_value) / 1023))


def test_p_value_is_invariant_to_the_unit_of_harm():
    y, t, fe, cl = _arrays(REF, "harm_violence")
    a = wild_score_bootstrap(y, t, fe, cl, rng=np.random.default_rng(4), draws=999)
    b = wild_score_bootstrap(y * 365.0, t, fe, cl, rng=np.random.default_rng(4), draws=999)
    assert a.p_value == b.p_value and a.statistic == pytest.approx(b.statistic, rel=1e-9)


def test_size_under_the_null_is_near_nominal():
    """150 null trials, 20 hotspots x 20 days, NB-like counts: rejection at 5% within 3 MC SEs."""
    rng = np.random.default_rng(12)
    G, T, rejections, trials = 20, 20, 0, 150
    hot = np.repeat(np.arange(G), T)
    day = np.tile(np.arange(T), G)
    fe = [encode(hot), encode(day)]
    for _ in range(trials):
        a = rng.normal(-1, 0.7, G)[hot]
        y = rng.poisson(np.exp(a) * rng.gamma(2, 0.5, G * T)).astype(float)
        treated = np.zeros((T, G))
        for d in range(T):
            treated[d, rng.choice(G, G // 2, replace=False)] = 1
        t = treated.T.ravel()
        rejections += wild_score_bootstrap(y, t, fe, hot, rng=rng, draws=199).p_value < 0.05
    rate = rejections / trials
    assert abs(rate - 0.05) < 3 * np.sqrt(0.05 * 0.95 / trials)
