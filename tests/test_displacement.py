"""WDQ and WDD against hand-computed values, including zero counts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evaluation_fixtures import synthetic_panel
from guardian_rct._core.errors import DataError
from guardian_rct.estimation.displacement import (
    ALL_RINGS,
    before_after_displacement,
    crossover_displacement,
    ring_outcomes_by_arm,
    weighted_displacement_difference,
    weighted_displacement_quotient,
)


def test_wdq_hand_computed():
    # A: 100 -> 60, B: 50 -> 45, C: 200 -> 200.
    r = weighted_displacement_quotient(100, 60, 50, 45, 200, 200)
    assert r.success_measure == pytest.approx(60 / 200 - 100 / 200)   # -0.2
    assert r.buffer_measure == pytest.approx(45 / 200 - 50 / 200)     # -0.025
    assert r.wdq == pytest.approx(0.125)
    assert r.total_net_effect == pytest.approx((100 - 60) + (50 - 45))
    assert r.interpretation == "diffusion of benefits"


def test_wdq_displacement_and_control_trend():
    # C doubles, so expected A_after = 80; observed 40. B expected 40, observed 60.
    r = weighted_displacement_quotient(40, 40, 20, 60, 100, 200)
    assert r.success_measure == pytest.approx(0.2 - 0.4)
    assert r.buffer_measure == pytest.approx(0.3 - 0.2)
    assert r.wdq == pytest.approx(-0.5)
    assert r.total_net_effect == pytest.approx((80 - 40) + (40 - 60))
    assert "displacement smaller" in r.interpretation


def test_wdq_zero_counts():
    zero_c = weighted_displacement_quotient(10, 5, 3, 3, 0, 10)
    assert zero_c.wdq is None and "zero in the before period" in zero_c.note
    no_change = weighted_displacement_quotient(10, 10, 3, 5, 50, 50)
    assert no_change.wdq is None and no_change.success_measure == 0 and "undefined" in no_change.note
    worse = weighted_displacement_quotient(5, 10, 3, 5, 50, 50)
    assert worse.wdq is None and worse.interpretation == "not interpretable"
    empty_buffer = weighted_displacement_quotient(10, 5, 0, 0, 50, 50)
    assert empty_buffer.wdq == 0.0 and empty_buffer.interpretation == "no displacement or diffusion"
    all_zero = weighted_displacement_quotient(0, 0, 0, 0, 5, 5)
    assert all_zero.wdq is None


def test_wdd_hand_computed():
    # Wheeler & Ratcliffe form: dT=-20, dCT=+5, dD=+4, dCD=-2 -> WDD = -20-5+4+2 = -19.
    r = weighted_displacement_difference(50, 30, 40, 45, 20, 24, 18, 16)
    assert r.wdd == pytest.approx(-19)
    var = 50 + 30 + 40 + 45 + 20 + 24 + 18 + 16
    assert r.std_error == pytest.approx(math.sqrt(var))
    assert r.z == pytest.approx(-19 / math.sqrt(var))
    assert r.p_value == pytest.approx(math.erfc(abs(r.z) / math.sqrt(2)))
    assert r.conf_low == pytest.approx(-19 - 1.959964 * math.sqrt(var), rel=1e-6)


def test_wdd_target_only_and_scaled():
    r = weighted_displacement_difference(10, 4, 8, 8)
    assert r.wdd == pytest.approx(-6) and r.std_error == pytest.approx(math.sqrt(30))
    scaled = weighted_displacement_difference(10, 4, 8, 8, before_scale=0.5)
    assert scaled.wdd == pytest.approx((4 - 5) - (8 - 4))
    assert scaled.std_error == pytest.approx(math.sqrt(4 + 8 + 0.25 * (10 + 8)))


def test_wdd_zero_counts():
    r = weighted_displacement_difference(0, 0, 0, 0, 0, 0, 0, 0)
    assert r.wdd == 0 and r.std_error == 0 and r.z is None and r.p_value is None
    assert "not estimable" in r.note
    with pytest.raises(DataError, match="together"):
        weighted_displacement_difference(1, 1, 1, 1, d_before=1)
    with pytest.raises(DataError, match="non-negative"):
        weighted_displacement_difference(-1, 1, 1, 1)


def test_crossover_mapping_matches_hand_computation():
    panel, rings = synthetic_panel()
    out = crossover_displacement(panel, rings, "all_crime")
    t = panel["treated"] == 1
    a1, a0 = panel.loc[t, "count_all_crime"].sum(), panel.loc[~t, "count_all_crime"].sum()
    n1, n0 = t.sum(), (~t).sum()
    inner = rings[rings["ring"] == "0-100"].merge(panel[["hotspot_id", "date", "treated"]])
    b1 = inner.loc[inner["treated"] == 1, "count_all_crime"].sum()
    b0 = inner.loc[inner["treated"] == 0, "count_all_crime"].sum()
    first = out.estimates[0]
    assert first.ring == "0-100"
    sm = a1 / n1 - a0 / n0
    bdm = b1 / n1 - b0 / n0
    assert first.wdq.success_measure == pytest.approx(sm)
    assert first.wdq.buffer_measure == pytest.approx(bdm)
    if sm < 0:
        assert first.wdq.wdq == pytest.approx(bdm / sm)
    k = n1 / n0
    assert first.wdd.wdd == pytest.approx((a1 - k * a0) + (b1 - k * b0))
    # the Poisson variance of Wheeler & Ratcliffe is kept for reference; the reported SE is
    # clustered by hotspot (issue 12; tests/test_displacement_uncertainty.py)
    assert first.wdd.poisson_std_error == pytest.approx(math.sqrt(a1 + b1 + k * k * (a0 + b0)))
    assert first.wdd.se_type.startswith("CR1")
    assert [e.ring for e in out.estimates] == ["0-100", "100-200", ALL_RINGS]


def test_crossover_zero_outcome_gives_notes_not_nan():
    panel, rings = synthetic_panel(zero_outcome="violence")
    out = crossover_displacement(panel, rings, "violence")
    for e in out.estimates:
        assert e.wdq.wdq is None and e.wdd.z is None
    assert out.notes
    text = pd.Series([str(v) for v in out.to_frame().to_numpy().ravel()])
    assert not text.str.contains("nan").any()


def test_crossover_no_treated_days_is_clear_error():
    panel, rings = synthetic_panel()
    panel = panel.assign(treated=0, arm="control")
    with pytest.raises(DataError, match="no treatment hotspot-days"):
        crossover_displacement(panel, rings, "all_crime")


def test_ring_outcomes_by_arm_add_up():
    panel, rings = synthetic_panel()
    records = ring_outcomes_by_arm(panel, rings, "all_crime")
    by = {(r["area"], r["arm"]): r for r in records}
    assert by[("hotspot", "treatment")]["count"] + by[("hotspot", "control")]["count"] == panel["count_all_crime"].sum()
    total_rings = sum(by[(ALL_RINGS, a)]["count"] for a in ("treatment", "control"))
    assert total_rings == rings["count_all_crime"].sum()
    assert by[("hotspot", "treatment")]["hotspot_days"] == (panel["treated"] == 1).sum()


def test_before_after_form():
    panel, rings = synthetic_panel(parallel=True)
    out = before_after_displacement(panel, rings, "all_crime", baseline_days=365)
    e = out.estimates[-1]
    t = panel["treated"] == 1
    a0 = panel[t].groupby("hotspot_id")["baseline_count_all_crime"].first().sum()
    c0 = panel[~t].groupby("hotspot_id")["baseline_count_all_crime"].first().sum()
    assert e.quantities["A_before"] == pytest.approx(a0)
    assert e.quantities["C_before"] == pytest.approx(c0)
    assert e.quantities["k"] == pytest.approx(panel["date"].nunique() / 365)
    assert e.form == "before_after"
    crossover_panel, crossover_rings = synthetic_panel()
    with pytest.raises(DataError, match="changes arm"):
        before_after_displacement(crossover_panel, crossover_rings, "all_crime", baseline_days=365)


def test_crossover_wdd_test_has_nominal_size_under_no_effect():
    """Poisson counts with no effect and unequal exposure: the WDD z-test rejects ~5%."""
    import numpy as np

    from guardian_rct.estimation.displacement import _wdd_from_terms

    rng = np.random.default_rng(42)
    n1, n0, lam_a, lam_b = 30, 50, 0.8, 1.5
    k = n1 / n0
    sims = 4000
    a1, a0 = rng.poisson(lam_a * n1, sims), rng.poisson(lam_a * n0, sims)
    b1, b0 = rng.poisson(lam_b * n1, sims), rng.poisson(lam_b * n0, sims)
    rejections = 0
    for i in range(sims):
        r = _wdd_from_terms([(a1[i], 1.0), (a0[i], -k), (b1[i], 1.0), (b0[i], -k)], 0.05)
        rejections += r.p_value < 0.05
    rate = rejections / sims
    assert abs(rate - 0.05) < 4 * math.sqrt(0.05 * 0.95 / sims)
