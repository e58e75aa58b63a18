"""Issue 12, item 1: the default harm table covers the Counting Rules classification list,
and the report says how much hotspot crime had no harm weight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct.harm.coverage import harm_coverage
from guardian_rct.harm.index import default_harm_index
from guardian_rct.harm.tables import (
    NO_WEIGHT_REASONS,
    _data_csv,
    classification_coverage,
    offence_table,
)


def test_every_classification_in_the_counting_rules_list_has_a_weight_or_a_reason():
    classes = _data_csv("ho_classifications.csv")
    medians = _data_csv("cchi_subgroups.csv").set_index("subgroup")["cchi_days"].astype(float)
    cov = classification_coverage()
    assert list(cov["classification"]) == list(classes["classification"])
    for row in cov.itertuples():
        if np.isnan(row.weight):
            assert row.reason, f"{row.classification} has neither a weight nor a documented reason"
            assert row.subgroup in NO_WEIGHT_REASONS
        else:
            assert row.weight == medians[row.subgroup]


def test_the_default_index_weighs_every_code_of_every_weighted_classification():
    """Run the default table over every code of the classification list: each listed code gets
    its classification's subgroup median (or the median over two classifications), and each
    classification's numeric class gives unlisted subcodes a weight unless the class mixes subgroups."""
    index = default_harm_index()
    cov = classification_coverage().set_index("classification")
    codes = offence_table()
    codes = codes[codes["classification"].isin(cov.index)]
    weights = index.weigh(codes["offence_code"].astype("string"), pd.Series(pd.NA, index=codes.index, dtype="string"))
    expected = codes["classification"].map(cov["weight"])
    per_code = pd.DataFrame({"code": codes["offence_code"], "w": weights, "e": expected})
    for code, group in per_code.groupby("code"):
        if group["e"].isna().all():
            assert group["w"].isna().all(), code
        else:
            assert group["w"].iloc[0] == pytest.approx(group["e"].median()), code
    unweighted = per_code[per_code["w"].isna() & per_code["e"].notna()]
    assert unweighted.empty, unweighted
    for row in cov.itertuples():
        if row.offence_class and not np.isnan(row.class_weight):
            # an unlisted subcode of the class (99 is not used by the Counting Rules)
            assert index.weight_of(f"{row.offence_class}/99") == row.class_weight


def test_possession_of_weapons_010_codes_now_weighted_at_the_subgroup_median():
    index = default_harm_index()
    medians = _data_csv("cchi_subgroups.csv").set_index("subgroup")["cchi_days"].astype(float)
    target = medians["Possession of weapons offences"]
    for code in ("010/01", "010/05", "10/2", "008/26", "008/11"):
        assert index.weight_of(code) == target, code
    # a class that mixes subgroups gives an unlisted subcode no weight rather than a guess
    assert np.isnan(index.weight_of("008/98"))


def test_coverage_statement_and_threshold():
    ok = harm_coverage(1000, {"NN": 5}, index_version="v", max_share=0.01)
    assert ok.estimated and ok.status == "within threshold" and ok.share == 0.005
    bad = harm_coverage(1431, {"010/01": 120, "010/05": 39}, index_version="v")
    assert not bad.estimated and bad.status == "incomplete"
    assert bad.to_dict()["by_code"][0] == {"code": "010/01", "crimes": 120}
    assert "159 of 1,431" in bad.statement() and "11.1%" in bad.statement()
    accepted = harm_coverage(1431, {"010/01": 159}, index_version="v", accepted=True)
    assert accepted.estimated and accepted.status == "accepted by the user"
    assert harm_coverage(10, {}, index_version="v").status == "complete"
    with pytest.raises(ValueError):
        harm_coverage(10, {"x": 11}, index_version="v")


def test_report_refuses_to_call_harm_estimated_above_the_threshold(tmp_path):
    """The milestone report (JSON, abstract and HTML) states unweighted hotspot crimes by code
    and, above [harm] max_unweighted_share, does not report a harm rate ratio as estimated."""
    import dataclasses
    import datetime as dt

    import test_milestone_report as tm
    from guardian_rct._core.provenance import make_provenance
    from guardian_rct.estimation.baseline_balance import baseline_balance
    from guardian_rct.estimation.flow import trial_flow
    from guardian_rct.reports.milestone import build_milestone_report, write_milestone_report

    config = tm.trial_config()
    trial = tm.built_trial()
    frame = trial.panel.frame

    def build(panel):
        return build_milestone_report(config, panel, tm.synthetic_estimates(), tm.real_ri(None, tm.END), [],
                                      baseline_balance(frame, tm.OUTCOMES, baseline_days=config.evaluation.baseline_days),
                                      trial_flow(frame), make_provenance(seed=5, now=dt.datetime(2023, 4, 17, tzinfo=dt.UTC)),
                                      ri_draws=tm.RI_DRAWS, figures=False)

    good = build(trial.panel)
    assert good.harm_coverage["status"] in ("complete", "within threshold")
    counts = {**trial.panel.counts, "unweighted": {"010/01": 60, "NN": 3}}
    counts["in_hotspots_trial"] = max(int(counts["in_hotspots_trial"]), 200)
    bad = build(dataclasses.replace(trial.panel, counts=counts))
    cov = bad.to_dict()["harm_coverage"]
    assert cov["n_unweighted"] == 63 and cov["by_code"][0] == {"code": "010/01", "crimes": 60}
    assert cov["status"] == "incomplete" and not cov["estimated"]
    assert "Crime harm is not reported as estimated" in bad.abstract["findings"]
    assert "Crime harm (CCHI) on patrol days was" not in bad.abstract["findings"]
    assert "Crime harm is not reported as estimated" not in good.abstract["findings"]
    html = write_milestone_report(bad, tmp_path)["html"].read_text(encoding="utf-8")
    assert 'id="harm-unweighted"' in html and "010/01" in html
