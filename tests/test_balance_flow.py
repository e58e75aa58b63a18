"""Baseline balance table and CONSORT flow of hotspot-days."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation_fixtures import OUTCOMES, synthetic_panel
from guardian_rct._core.errors import DataError
from guardian_rct.estimation.baseline_balance import baseline_balance
from guardian_rct.estimation.flow import trial_flow


def test_balance_means_match_direct_computation():
    panel, _ = synthetic_panel()
    table = baseline_balance(panel, OUTCOMES, baseline_days=365)
    row = next(r for r in table.overall if r["outcome"] == "all_crime" and r["measure"] == "count")
    t = panel["treated"] == 1
    col = panel["baseline_count_all_crime"]
    assert row["mean_treatment"] == pytest.approx(col[t].mean())
    assert row["mean_control"] == pytest.approx(col[~t].mean())
    sd = np.sqrt((col[t].var() + col[~t].var()) / 2)
    assert row["std_difference"] == pytest.approx((col[t].mean() - col[~t].mean()) / sd)
    assert row["n_treatment"] + row["n_control"] == len(panel)


def test_balance_by_day_of_week_counts():
    panel, _ = synthetic_panel(n_days=10)
    table = baseline_balance(panel, OUTCOMES)
    assert sum(r["treatment_days"] + r["control_days"] for r in table.by_day_of_week) == len(panel)
    for r in table.by_day_of_week:
        sub = panel[panel["dow"] == r["dow"]]
        assert r["treatment_days"] == (sub["treated"] == 1).sum()
        assert r["share_treated"] == pytest.approx((sub["treated"] == 1).mean())


def test_balance_missing_column():
    panel, _ = synthetic_panel()
    with pytest.raises(DataError, match="baseline_harm_all_crime"):
        baseline_balance(panel.drop(columns=["baseline_harm_all_crime"]), OUTCOMES)


def test_flow_adds_up_and_matches_panel():
    panel, _ = synthetic_panel()
    flow = trial_flow(panel)
    assert all(flow.checks().values())
    t = panel["treated"] == 1
    assert flow.treatment == t.sum() and flow.control == (~t).sum()
    assert flow.delivered == panel.loc[t, "delivered"].sum()
    assert flow.contaminated == panel.loc[~t, "contaminated"].sum()
    assert flow.delivery_unknown == 0 and flow.contamination_unknown == 0
    assert flow.hotspots == 6 and flow.days == 28


def test_flow_without_compliance_counts_unknown():
    panel, _ = synthetic_panel(compliance=False)
    flow = trial_flow(panel)
    assert flow.delivery_unknown == flow.treatment and flow.delivered == 0
    assert flow.delivery_rate is None
    assert all(flow.checks().values())


def test_flow_partly_missing_compliance():
    panel, _ = synthetic_panel()
    panel["delivered"] = panel["delivered"].astype(float)
    idx = panel.index[panel["treated"] == 1][:4]
    panel.loc[idx, "delivered"] = np.nan
    flow = trial_flow(panel)
    assert flow.delivery_unknown == 4
    assert flow.delivered + flow.not_delivered + flow.delivery_unknown == flow.treatment


def test_flow_bad_flags():
    panel, _ = synthetic_panel()
    panel.loc[panel["treated"] == 1, "delivered"] = 2
    with pytest.raises(DataError, match="0 or 1"):
        trial_flow(panel)
