"""ITT estimators: result type, recovery of a known effect, design kinds and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from estimate_fixtures import crossover_design, make_panel, parallel_design
from guardian_rct._core.errors import DataError
from guardian_rct.crimes.panel import Panel
from guardian_rct.estimation.itt import (
    Estimate,
    diff_in_means,
    ipw_weights,
    itt_estimates,
    negbin_fe,
    poisson_fe,
    poisson_parallel,
)

CONTRACT_FIELDS = ["outcome", "estimand", "model", "estimate", "std_error", "conf_low",
                   "conf_high", "p_value", "ri_p_value", "irr", "n_obs", "n_clusters"]


@pytest.fixture(scope="module")
def panel():
    design = crossover_design(30, 120, treated_per_block=15)
    return make_panel(design, np.random.default_rng(7), irr=0.7, mean_rate=0.6)


def test_estimate_fields_and_derived_values(panel):
    est = poisson_fe(panel, "count_violence")
    d = est.to_dict()
    assert list(d)[:12] == CONTRACT_FIELDS
    assert est.irr == pytest.approx(math.exp(est.estimate))
    assert est.irr_conf_low == pytest.approx(math.exp(est.conf_low))
    assert est.pct_change == pytest.approx(100 * (est.irr - 1))
    assert est.conf_low < est.estimate < est.conf_high
    assert est.n_obs == 30 * 120 and est.n_clusters == 30
    assert est.ri_p_value is None and est.with_ri(0.01).ri_p_value == 0.01
    assert "rate ratio" in est.summary() and len(est.to_frame()) == 1
    assert (est.outcome_name, est.measure) == ("violence", "count")
    assert d["outcome_name"] == "violence" and d["measure"] == "count"
    with pytest.raises(dataclasses_error()):
        est.estimate = 0.0  # frozen


def dataclasses_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_recovers_known_effect_within_interval(panel):
    for est in (poisson_fe(panel, "count_violence"), negbin_fe(panel, "count_violence"),
                poisson_fe(panel, "count_violence", week_fe=True)):
        assert est.conf_low < math.log(0.7) < est.conf_high, est.summary()
        assert est.p_value < 1e-6


def test_interval_level_follows_alpha(panel):
    wide = poisson_fe(panel, "count_violence", alpha=0.01)
    narrow = poisson_fe(panel, "count_violence", alpha=0.2)
    assert wide.conf_high - wide.conf_low > narrow.conf_high - narrow.conf_low


def test_harm_uses_poisson_pseudo_likelihood(panel):
    est = poisson_fe(panel, "harm_violence")
    assert est.outcome == "harm_violence" and np.isfinite(est.std_error)


def test_itt_set_for_crossover(panel):
    models = [(e.outcome, e.model) for e in itt_estimates(panel, "violence")]
    assert models == [("count_violence", "poisson_fe"), ("count_violence", "negbin_fe"),
                      ("count_violence", "diff_in_means"), ("harm_violence", "poisson_fe"),
                      ("harm_violence", "diff_in_means")]


def test_itt_set_for_parallel_design():
    design = parallel_design(40, 90, n_treated=20)
    frame = make_panel(design, np.random.default_rng(3), irr=0.6, mean_rate=0.5, hotspot_sd=0.3)
    ests = itt_estimates(frame, "violence")
    assert [e.model for e in ests][:2] == ["poisson_parallel", "diff_in_means"]
    # a hotspot effect would absorb a hotspot-level treatment: clear error, not NaN
    with pytest.raises(DataError, match="collinear"):
        poisson_fe(frame, "count_violence")
    est = poisson_parallel(frame, "count_violence")
    # one simulated trial: within 3 standard errors of the truth (a 95% interval misses 1 in 20)
    assert abs(est.estimate - math.log(0.6)) < 3 * est.std_error, est.summary()


def test_unequal_probabilities_are_weighted():
    design = crossover_design(20, 60, treated_per_block={"A": 5, "B": 2},
                              blocks=["A"] * 10 + ["B"] * 10)
    frame = make_panel(design, np.random.default_rng(1))
    w = ipw_weights(frame)
    t = frame["treated"].to_numpy()
    p = frame["p_treated"].to_numpy()
    assert np.allclose(w, np.where(t == 1, 1 / p, 1 / (1 - p)))
    assert all("inverse assignment probabilities" in " ".join(e.notes)
               for e in itt_estimates(frame, "violence"))
    equal = make_panel(crossover_design(10, 20, treated_per_block=5), np.random.default_rng(1))
    assert ipw_weights(equal) is None


def test_diff_in_means_equals_arm_means(panel):
    est = diff_in_means(panel, "count_violence")
    means = panel.groupby("treated")["count_violence"].mean()
    assert est.estimate == pytest.approx(means[1] - means[0])
    assert est.irr is None and est.pct_change is None


def test_all_zero_hotspot_is_left_out_with_a_note(panel):
    frame = panel.copy()
    frame.loc[frame["hotspot_id"] == "H001", "count_violence"] = 0
    est = poisson_fe(frame, "count_violence")
    assert est.n_obs == 29 * 120
    assert any("no events" in n for n in est.notes)


# ---- bad input: a clear DataError, never a traceback or NaN ----

def _one_line(exc: DataError) -> str:
    text = str(exc)
    assert "\n" not in text and "Fix:" in text
    return text


@pytest.mark.parametrize("fn", [poisson_fe, negbin_fe, diff_in_means])
def test_no_treated_days(panel, fn):
    frame = panel.assign(treated=0)
    with pytest.raises(DataError) as info:
        fn(frame, "count_violence")
    assert "no treated hotspot-days" in _one_line(info.value)


@pytest.mark.parametrize("fn", [poisson_fe, negbin_fe, diff_in_means])
def test_outcome_without_events(panel, fn):
    frame = panel.assign(count_violence=0)
    with pytest.raises(DataError) as info:
        fn(frame, "count_violence")
    assert "has no events" in _one_line(info.value)


def test_no_events_on_treated_days(panel):
    frame = panel.copy()
    frame.loc[frame["treated"] == 1, "count_violence"] = 0
    with pytest.raises(DataError, match="no events on treated hotspot-days"):
        poisson_fe(frame, "count_violence")


@pytest.mark.parametrize("fn", [poisson_fe, negbin_fe, diff_in_means, poisson_parallel])
def test_missing_outcome_column(panel, fn):
    with pytest.raises(DataError) as info:
        fn(panel, "count_burglary")
    text = _one_line(info.value)
    assert "'count_burglary' is not in the panel" in text and "count_violence" in text


def test_itt_estimates_missing_outcome(panel):
    with pytest.raises(DataError, match="count_robbery"):
        itt_estimates(panel, "robbery")


def test_missing_and_negative_outcome_values_name_the_row(panel):
    frame = panel.copy()
    frame["count_violence"] = frame["count_violence"].astype(float)
    frame.loc[5, "count_violence"] = np.nan
    with pytest.raises(DataError, match="row 6, column 'count_violence'"):
        poisson_fe(frame, "count_violence")
    frame.loc[5, "count_violence"] = -1
    with pytest.raises(DataError, match="row 6"):
        diff_in_means(frame, "count_violence")


def test_bad_treatment_and_probabilities(panel):
    with pytest.raises(DataError, match="not 0 or 1"):
        poisson_fe(panel.assign(treated=panel["treated"] * 2), "count_violence")
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        ipw_weights(panel.assign(p_treated=1.0))
    with pytest.raises(DataError, match="alpha"):
        poisson_fe(panel, "count_violence", alpha=1.5)
    with pytest.raises(DataError, match="column 'hotspot_id'"):
        poisson_fe(panel.drop(columns="hotspot_id"), "count_violence")


def test_results_are_finite(panel):
    for est in itt_estimates(panel, "violence"):
        json.dumps(est.to_dict(), allow_nan=False)
        assert isinstance(est, Estimate)
        vals = [est.estimate, est.std_error, est.conf_low, est.conf_high, est.p_value]
        assert np.all(np.isfinite(vals))


def test_panel_object_gives_the_same_estimates_as_its_frame(panel):
    whole = Panel(frame=panel, rings=None, outcomes=("violence",), harm={})
    from_panel = itt_estimates(whole, "violence")
    assert len(from_panel) == 5
    assert [e.to_dict() for e in from_panel] == [e.to_dict() for e in itt_estimates(panel, "violence")]


def test_events_in_one_hotspot_only(panel):
    frame = panel.copy()
    frame.loc[frame["hotspot_id"] != "H001", "count_violence"] = 0
    with pytest.raises(DataError, match="at least two hotspots"):
        poisson_fe(frame, "count_violence")
    with pytest.raises(DataError, match="at least two hotspots"):
        diff_in_means(frame.assign(hotspot_id="H001"), "count_violence")
