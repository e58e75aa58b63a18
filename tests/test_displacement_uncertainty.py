"""Issue 12, item 7: displacement with honest uncertainty (cluster-robust WDD, bootstrap WDQ)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from guardian_rct.estimation.displacement import crossover_displacement


def _trial(rng, *, H=30, T=80, effect=1.0, ring_effect=1.0):
    h = np.repeat(np.arange(H), T).astype(str)
    d = np.tile(np.arange(T), H)
    z = rng.integers(0, 2, H * T)
    lam = np.exp(rng.normal(0, 1, H)).repeat(T) * rng.gamma(0.5, 2, H * T)  # overdispersed, clustered
    panel = pd.DataFrame({"hotspot_id": h, "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(d, "D"),
                          "treated": z, "count_x": rng.poisson(lam * effect ** z)})
    rings = panel[["hotspot_id", "date"]].copy()
    rings["ring"] = "0-100"
    rings["count_x"] = rng.poisson(lam * 0.5 * ring_effect ** z)
    return panel, rings


def test_wdd_standard_error_is_n_treated_times_the_clustered_difference_in_means():
    panel, rings = _trial(np.random.default_rng(2))
    est = crossover_displacement(panel, rings, "x").estimates[0].wdd
    s = panel["count_x"].to_numpy() + rings["count_x"].to_numpy()
    X = sm.add_constant(panel["treated"].to_numpy().astype(float))
    G = panel["hotspot_id"].nunique()
    fit = sm.OLS(s, X).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(panel["hotspot_id"])[0],
                                                          "use_correction": False})
    n1 = int(panel["treated"].sum())
    # statsmodels without correction is the plain sandwich; ours adds G/(G-1) (CR1)
    assert est.std_error == pytest.approx(n1 * fit.bse[1] * np.sqrt(G / (G - 1)), rel=1e-9)
    assert est.wdd == pytest.approx(n1 * fit.params[1], rel=1e-9)
    assert est.se_type.startswith("CR1") and est.df == G - 1
    assert est.std_error > est.poisson_std_error  # overdispersed, clustered counts


def test_cluster_robust_wdd_has_nominal_size_where_the_poisson_test_does_not():
    """Null (no effect anywhere), overdispersed clustered counts: 200 trials."""
    rng = np.random.default_rng(7)
    rej_cluster = rej_poisson = 0
    n = 200
    for _ in range(n):
        panel, rings = _trial(rng, H=30, T=40)
        w = crossover_displacement(panel, rings, "x").estimates[-1].wdd
        rej_cluster += w.p_value < 0.05
        z = w.wdd / w.poisson_std_error
        rej_poisson += abs(z) > 1.96
    assert rej_cluster / n < 0.10  # nominal 5%; MC SE 1.5 points
    assert rej_poisson / n > 0.15  # the Poisson variance ignores overdispersion and clustering


def test_wdq_interval_and_wording_never_claim_a_change_inside_the_interval():
    panel, rings = _trial(np.random.default_rng(3), H=40, T=150, effect=0.5, ring_effect=1.0)
    est = crossover_displacement(panel, rings, "x", rng=np.random.default_rng(1)).estimates[-1].wdq
    assert est.conf_low is not None and est.conf_low < est.wdq < est.conf_high
    assert est.conf_low < 0 < est.conf_high  # no true ring effect: the interval covers 0 ...
    assert est.interpretation == "not distinguishable from no displacement or diffusion"  # ... and says so
    # a real diffusion of benefit (ring crime down by 40% on patrol days) is named as such
    panel, rings = _trial(np.random.default_rng(4), H=40, T=150, effect=0.5, ring_effect=0.6)
    est = crossover_displacement(panel, rings, "x", rng=np.random.default_rng(1)).estimates[-1].wdq
    assert est.conf_low > 0 and est.interpretation == "diffusion of benefits"
    # without an rng there is no interval rather than an invented one
    assert crossover_displacement(panel, rings, "x").estimates[-1].wdq.conf_low is None


def test_wdq_magnitude_words_need_the_whole_interval():
    """"greater than the direct effect" (|WDQ| > 1) and "net benefit" only when the interval
    says so, not the point estimate alone (the demo once read 1.31 (0.35 to 3.00) as
    diffusion greater than the direct effect)."""
    from guardian_rct.estimation.displacement import _interpret_interval

    assert _interpret_interval(0.35, 3.0) == "diffusion of benefits"
    assert _interpret_interval(1.2, 3.0) == "diffusion of benefits greater than the direct effect"
    assert _interpret_interval(-0.8, -0.1) == "displacement smaller than the direct effect (net benefit)"
    assert _interpret_interval(-1.5, -0.1) == "displacement"
    assert _interpret_interval(-3.0, -1.2) == "displacement greater than the direct effect (net harm)"
    assert _interpret_interval(-0.5, 0.4) == "not distinguishable from no displacement or diffusion"
