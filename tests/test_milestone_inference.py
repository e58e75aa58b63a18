"""Issue 12, items 1-4 in the milestone evaluation: the rate-ratio CACE (count and harm) with its
randomisation p-value and interval, the monitoring decision on the p-value the report leads
with, and the estimates table saying how each interval was computed.

The trial is built with the package's own parts (``evaluation_fixtures.built_trial``), the
estimates by :func:`standard_estimates` and the inference by :func:`run_inference`, as
``guardian-rct evaluate`` runs them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from evaluation_fixtures import built_trial, synthetic_estimates
from guardian_rct.design.diagnosis import diagnose_design
from guardian_rct.estimation.diagnosis import InferenceDiagnosis
from guardian_rct.estimation.iv import patrol_present
from guardian_rct.estimation.results import Estimate
from guardian_rct.estimation.standard_set import standard_estimates
from guardian_rct.jobs.milestone_inference import run_inference
from guardian_rct.reports.milestone import write_milestone_report
from guardian_rct.reports.milestone_tables import inference_words
from test_milestone_report import make_report, real_diagnosis

OUT = ("all_crime", "violence")


@pytest.fixture(scope="module")
def inferred():
    trial = built_trial()
    notes: list[str] = []
    est = standard_estimates(trial.panel, OUT, 0.05, True, set(), "crossover", notes)
    ri, out, diags = run_inference(trial.config, trial.panel, trial.design, diagnose_design(trial.design), OUT,
                                   set(), est, draws=400, wild_draws=0)
    return ri, out


def test_rate_ratio_cace_for_count_and_harm_carries_a_randomisation_interval(inferred):
    ri, out = inferred
    ratio = [e for e in out if e.model == "iv_poisson_gmm_fe"]
    assert sorted(e.outcome for e in ratio) == sorted(["all_crime", "all_crime_harm", "violence", "violence_harm"])
    for e in ratio:
        assert e.ri_p_value is not None and 0 < e.ri_p_value <= 1, e.outcome
        assert e.ri_conf_low is not None or e.ri_conf_high is not None, e.outcome
        lo = e.ri_conf_low if e.ri_conf_low is not None else 0.0
        hi = e.ri_conf_high if e.ri_conf_high is not None else math.inf
        assert lo < e.irr < hi, (e.outcome, lo, e.irr, hi)  # the GMM root balances the same moment
        assert any("Imbens & Rosenbaum" in n for n in e.notes)
        assert e.se_type == "CR1" and e.df == e.n_clusters - 1
    # the test of no effect of presence is the test of no effect of assignment, draw for draw
    assert np.isfinite(patrol_present(built_trial().panel.frame, allow_unknown=True)).all()
    for e in ratio:
        assert e.ri_p_value == ri[e.outcome].p_value, e.outcome
    # the primary ITT carries its own randomisation interval, the one of the RI record
    itt = next(e for e in out if e.outcome == "all_crime" and e.model == "poisson_fe")
    assert (itt.ri_conf_low, itt.ri_conf_high) == (ri["all_crime"].rr_conf_low, ri["all_crime"].rr_conf_high)


def test_inference_words():
    e = synthetic_estimates()[0]
    assert inference_words(e) == "CR2 (Bell–McCaffrey), Satterthwaite df 4.3"
    cr1 = dataclasses.replace(e, se_type="CR1", df=5.0)
    assert inference_words(cr1) == "CR1, t with 5 df (clusters − 1)"
    ar = next(x for x in synthetic_estimates() if x.model == "iv_poisson_gmm_fe")
    assert inference_words(ar) == "Anderson–Rubin interval; CR1, t with 5 df (clusters − 1)"


def test_html_estimates_table_names_se_type_df_and_clusters(tmp_path):
    report, _ = make_report()
    html = write_milestone_report(report, tmp_path)["html"].read_text(encoding="utf-8")
    for row in report.estimates:
        if row["status"] == "ok" and row["section"] in ("itt", "cace"):
            assert f'<td class="inference">{row["inference"]}</td>' in html
    assert "Satterthwaite df 4.3" in html and "SE and df (clustered by hotspot)" in html
    assert html.count("Hotspots (clusters)") == 2  # the effects and CACE tables


def _diag(reasons: tuple[str, ...]) -> InferenceDiagnosis:
    return InferenceDiagnosis("count_all_crime", 6, 4.3, 0.5, False, False, reasons)


def _with_ri_p(p: float | None) -> list[Estimate]:
    return [dataclasses.replace(e, ri_p_value=p) if (e.outcome, e.model) == ("all_crime", "poisson_fe") else e
            for e in synthetic_estimates()]


def _sequential(diags, ri_p, ri=None):
    report, _ = make_report(estimates=_with_ri_p(ri_p), diagnosis=diags, ri=ri)
    return report.sequential


def test_monitoring_uses_the_randomisation_p_value_when_the_wald_test_is_distrusted():
    model_p = next(e for e in synthetic_estimates() if e.model == "poisson_fe").p_value
    # distrusted (the built trial's own diagnosis: 6 hotspots), randomisation p far above the boundary
    assert not next(d for d in real_diagnosis()[1] if d.outcome == "count_all_crime").wald_reliable
    seq = _sequential(None, 0.4)
    nominal = seq["current_look"]["nominal_p"]
    assert model_p <= nominal < 0.4  # the two p-values disagree about crossing: the choice matters
    assert seq["primary_p"] == 0.4 and seq["primary_p_source"] == "randomisation"
    assert seq["crossed"] is False
    assert "randomisation p-value (0.400) does not cross" in seq["decision"]
    assert "does not trust the model-based test" in seq["p_value_basis"]


def test_monitoring_uses_the_model_p_value_when_the_wald_test_is_trusted():
    model_p = next(e for e in synthetic_estimates() if e.model == "poisson_fe").p_value
    seq = _sequential((_diag(()),), 0.4)
    assert seq["primary_p"] == model_p and seq["primary_p_source"] == "model"
    assert seq["crossed"] is True
    assert "model-based p-value" in seq["decision"] and "randomisation p = 0.400, shown for comparison" in seq["decision"]


def test_distrusted_without_randomisation_inference_uses_the_model_p_with_a_caution():
    model_p = next(e for e in synthetic_estimates() if e.model == "poisson_fe").p_value
    seq = _sequential((_diag(("only 6 hotspots",)),), None, ri={})
    assert seq["primary_p"] == model_p and seq["primary_p_source"] == "model"
    assert "randomisation inference was not run" in seq["p_value_basis"]
    assert seq["p_value_basis"] in seq["decision"]


def test_findings_give_the_rate_ratio_cace_with_both_intervals():
    report, _ = make_report()
    findings = report.abstract["findings"]
    ar = next(r for r in report.estimates if r["model"] == "iv_poisson_gmm_fe" and r["outcome"] == "all_crime")
    assert f"multiplied the rate by {ar['irr']:.2f}" in findings
    assert f"randomisation 95% CI {ar['ri_conf_low']:.2f} to open" in findings  # open upper side is said so
    assert "Imbens & Rosenbaum 2005" in report.abstract["methods"]


def test_the_configured_randomisation_statistic_is_the_one_run(inferred):
    """``[evaluation] ri_statistic`` reaches every randomisation test of the evaluation."""
    ri, _ = inferred
    assert all(r.statistic.startswith("studentised ") for r in ri.values())  # the default
    trial = built_trial()
    config = dataclasses.replace(trial.config, evaluation=dataclasses.replace(
        trial.config.evaluation, ri_statistic="score"))
    est = standard_estimates(trial.panel, OUT[:1], 0.05, True, set(), "crossover", [])
    score, _, _ = run_inference(config, trial.panel, trial.design, diagnose_design(trial.design), OUT[:1],
                                set(), est, draws=400, wild_draws=0)
    assert score and all(r.statistic.startswith("centred Poisson score") for r in score.values())
    assert any(score[k].p_value != ri[k].p_value for k in score)
