"""CACE by 2SLS, dose-response table and carry-over estimates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from estimate_fixtures import crossover_design, make_panel
from guardian_rct._core.errors import DataError
from guardian_rct.crimes.panel import Panel
from guardian_rct.estimation.carryover import carryover, history_columns
from guardian_rct.estimation.iv import cace, dose_response, patrol_present


@pytest.fixture(scope="module")
def panel():
    design = crossover_design(40, 150, treated_per_block=20)
    return make_panel(design, np.random.default_rng(21), irr=0.6, mean_rate=0.8,
                      delivered_rate=0.7, contamination_rate=0.1)


def test_wald_estimator_without_fixed_effects(panel):
    est = cace(panel, "count_violence", fe=())
    y, t = panel["count_violence"], panel["treated"] == 1
    d = pd.Series(patrol_present(panel), index=panel.index)
    wald = (y[t].mean() - y[~t].mean()) / (d[t].mean() - d[~t].mean())
    assert est.estimate == pytest.approx(wald, rel=1e-10)
    assert est.irr is None and est.estimand == "CACE (patrol delivered)"


def test_full_compliance_equals_itt_within_estimator(panel):
    frame = panel.assign(delivered=1, contaminated=0)
    est = cace(frame, "count_violence")
    ols = smf.ols("count_violence ~ treated + C(hotspot_id) + C(day_index)", data=frame).fit()
    assert est.estimate == pytest.approx(ols.params["treated"], rel=1e-9)


def test_cace_recovers_the_effect_of_a_delivered_patrol(panel):
    est = cace(panel, "count_violence")
    untreated_rate = panel.loc[patrol_present(panel) == 0, "count_violence"].mean()
    truth = untreated_rate * (0.6 - 1)  # linear effect of presence per hotspot-day
    assert est.conf_low < truth < est.conf_high
    dose = cace(panel, "count_violence", endogenous="dosage_minutes")
    assert dose.term == "dosage_minutes" and dose.estimate < 0


def test_first_stage_is_ols_of_presence_on_assignment_with_clustered_se(panel):
    """Independent reference: statsmodels OLS with explicit dummies, CR1 clustered by hotspot."""
    est = cace(panel, "count_violence")
    fs = est.first_stage
    frame = panel.assign(present=patrol_present(panel))
    ols = smf.ols("present ~ treated + C(hotspot_id) + C(day_index)", data=frame).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(frame["hotspot_id"])[0]})
    assert fs.coefficient == pytest.approx(ols.params["treated"], rel=1e-9)
    assert fs.std_error == pytest.approx(ols.bse["treated"], rel=1e-9)
    assert fs.f_statistic == pytest.approx((ols.params["treated"] / ols.bse["treated"]) ** 2, rel=1e-9)
    assert fs.n_obs == len(panel) and not fs.weak
    # compliance 0.7 and contamination 0.1: presence rises by about 0.6 on patrol days
    assert fs.coefficient == pytest.approx(0.6, abs=0.03)
    data = est.to_dict()
    assert (data["first_stage_coef"], data["first_stage_se"], data["first_stage_f"], data["first_stage_n"],
            data["weak_instrument"]) == (fs.coefficient, fs.std_error, fs.f_statistic, len(panel), False)
    assert "first stage" not in est.details  # prose only: the numbers are fields


def test_dose_response_table(panel):
    table = dose_response(panel, "count_violence")
    assert table["hotspot_days"].sum() == len(panel)
    assert table["events"].sum() == pytest.approx(panel["count_violence"].sum())
    assert (table["conf_low"] <= table["rate"]).all() and (table["rate"] <= table["conf_high"]).all()
    assert table.loc[0, "band"] == "0" and table.loc[0, "rate_ratio"] == 1.0
    zero = panel["dosage_minutes"] == 0
    assert table.loc[0, "hotspot_days"] == zero.sum()


def test_iv_bad_input(panel):
    with pytest.raises(DataError, match="column 'delivered' is not in the panel"):
        cace(panel.drop(columns="delivered"), "count_violence")
    with pytest.raises(DataError, match="vary|no compliers"):
        cace(panel.assign(delivered=0, contaminated=0), "count_violence")
    with pytest.raises(DataError, match="no treated hotspot-days"):
        cace(panel.assign(treated=0), "count_violence")
    with pytest.raises(DataError, match="dosage bands"):
        dose_response(panel, "count_violence", bands=(5, 1))


def test_history_columns():
    frame = pd.DataFrame({"hotspot_id": ["A"] * 6 + ["B"] * 6,
                          "day_index": list(range(6)) * 2,
                          "treated": [1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0]})
    h = history_columns(frame.iloc[::-1])  # order of rows must not matter
    h = h.loc[frame.index]
    assert h["lag1"].isna().tolist() == [True] + [False] * 5 + [True] + [False] * 5
    assert h["lag1"].tolist()[1:6] == [1, 0, 0, 1, 0]
    since = h["days_since"].tolist()
    assert np.isnan(since[0]) and since[1:6] == [1, 2, 3, 1, 2]
    assert np.isnan(since[8]) and since[9:12] == [1, 1, 2]


def test_carryover_recovers_a_lagged_effect():
    design = crossover_design(40, 200, treated_per_block=20)
    rng = np.random.default_rng(8)
    frame = make_panel(design, rng, irr=1.0, mean_rate=1.0)
    T = frame["treated"].to_numpy().reshape(200, 40)
    lag = np.vstack([np.zeros((1, 40)), T[:-1]])
    rate = np.exp(rng.normal(0, 0.5, 40))[None, :] * 0.8 ** T * 0.85 ** lag
    frame["count_violence"] = rng.poisson(rate).ravel()
    ests = {e.term: e for e in carryover(frame, "count_violence")}
    assert set(ests) == {"treated_lag1", "since_2", "since_3", "since_4+"}
    lag1 = ests["treated_lag1"]
    assert lag1.conf_low < math.log(0.85) < lag1.conf_high
    assert lag1.n_obs == 40 * 199
    # last patrol 2+ days ago means no deterrence left: rate higher than after yesterday
    assert ests["since_2"].conf_low < -math.log(0.85) < ests["since_2"].conf_high


def test_carryover_bad_input(panel):
    with pytest.raises(DataError, match="previous day"):
        carryover(panel[panel["day_index"] == 0], "count_violence")
    with pytest.raises(DataError, match="'count_x' is not in the panel"):
        carryover(panel, "count_x")


def test_accepts_panel_object_and_outcome_name(panel):
    whole = Panel(frame=panel, rings=None, outcomes=("violence",), harm={})
    by_name = cace(whole, "violence")
    assert by_name.outcome == "count_violence"
    assert by_name.estimate == cace(panel, "count_violence").estimate
    assert carryover(whole, "violence")[0].outcome == "count_violence"
