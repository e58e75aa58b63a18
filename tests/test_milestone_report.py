"""The milestone report: data schema (golden), no NaN, Holm/sequential wiring, HTML = JSON.

The report is built from a small trial made with the package's own parts
(``evaluation_fixtures.built_trial``: config, design, allocation, crimes, ``build_panel``)
and real :func:`~guardian_rct.estimation.randomisation.randomisation_test` results on that
panel, re-drawing its design; the effect estimates are hand-picked records so that the
Holm and sequential arithmetic can be checked exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation_fixtures import OUTCOMES, built_trial, synthetic_estimates, trial_config
from guardian_rct._core.provenance import make_provenance
from guardian_rct._core.rng import stream
from guardian_rct.design.diagnosis import diagnose_design
from guardian_rct.estimation.baseline_balance import baseline_balance
from guardian_rct.estimation.diagnosis import diagnose_inference
from guardian_rct.estimation.displacement import crossover_displacement
from guardian_rct.estimation.flow import trial_flow
from guardian_rct.estimation.itt import poisson_fe
from guardian_rct.estimation.multiplicity import holm_adjust, obf_boundaries
from guardian_rct.estimation.randomisation import RITestResult, randomisation_test
from guardian_rct.estimation.results import FirstStage
from guardian_rct.reports.milestone import (
    NO_EVENTS,
    SCHEMA_VERSION,
    build_milestone_report,
    write_milestone_report,
)
from plan_fixtures import plan_context_for

GOLDEN = Path(__file__).parent / "golden" / "milestone_report_schema.json"
TEMPLATE = Path(__file__).parents[1] / "src/guardian_rct/reports/templates/milestone.html"
RI_DRAWS = 500
END = dt.date(2023, 4, 16)


@functools.lru_cache(maxsize=4)
def real_ri(zero_outcome=None, end=END) -> dict[str, RITestResult]:
    """randomisation_test on the built trial's panel, re-drawing its own design (as evaluate does)."""
    trial = built_trial(zero_outcome=zero_outcome, end=end)
    out = {}
    for o in OUTCOMES:
        if o == zero_outcome:
            continue
        for col, label in ((f"count_{o}", o), (f"harm_{o}", f"{o}_harm")):  # counts and harm
            out[label] = randomisation_test(trial.panel.frame, col, trial.design, draws=RI_DRAWS,
                                            rng=stream(trial.config.trial.seed, "randomisation_inference",
                                                       label), seed=trial.config.trial.seed)
    return out


@functools.lru_cache(maxsize=4)
def real_diagnosis(zero_outcome=None, end=END):
    """The design and data diagnosis of the built trial (as evaluate computes them)."""
    trial = built_trial(zero_outcome=zero_outcome, end=end)
    design = diagnose_design(trial.design)
    rows = tuple(diagnose_inference(trial.panel.frame, f"{m}_{o}", design=design)
                 for o in OUTCOMES if o != zero_outcome for m in ("count", "harm"))
    return design, rows


def make_report(*, zero_outcome=None, figures=False, milestones=(), end=END, estimates=None,
                compliance=True, ri=None, diagnosis=None):
    config = trial_config(milestones=milestones, end=end)
    trial = built_trial(zero_outcome=zero_outcome, end=end, compliance=compliance)
    panel, rings = trial.panel.frame, trial.panel.rings
    estimates = synthetic_estimates(zero_outcome=zero_outcome) if estimates is None else estimates
    ri = real_ri(zero_outcome, end) if ri is None else ri
    disp = [crossover_displacement(panel, rings, o) for o in OUTCOMES]
    report = build_milestone_report(config, trial.panel, estimates, ri, disp,
                                    baseline_balance(panel, OUTCOMES,
                                                     baseline_days=config.evaluation.baseline_days),
                                    trial_flow(panel),
                                    make_provenance(seed=5, now=dt.datetime(2023, 4, 17, tzinfo=dt.UTC)),
                                    ri_draws=RI_DRAWS, figures=figures,
                                    plan_context=plan_context_for(config, trial),
                                    design_diagnosis=real_diagnosis(zero_outcome, end)[0],
                                    inference_diagnosis=(real_diagnosis(zero_outcome, end)[1]
                                                         if diagnosis is None else diagnosis))
    return report, panel


def _leaf(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _merge(a, b, path):
    """One schema for two list elements: same keys; 'null' gives way to the other type."""
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), f"{path}: list elements differ in keys {sorted(set(a) ^ set(b))}"
        return {k: _merge(a[k], b[k], f"{path}.{k}") for k in a}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(a[0], b[0], f"{path}[]")] if a and b else (a or b)
    raise AssertionError(f"{path}: list elements differ in type ({a} vs {b})")


def shape(value, path="report"):
    """Structure of report data: dict keys (recursively), leaf types, and for a list the one
    element schema that every element satisfies (merged over all elements)."""
    if isinstance(value, dict):
        return {k: shape(v, f"{path}.{k}") for k, v in sorted(value.items())}
    if isinstance(value, list):
        element = None
        for i, v in enumerate(value):
            s = shape(v, f"{path}[{i}]")
            element = s if element is None else _merge(element, s, f"{path}[{i}]")
        return [] if element is None else [element]
    return _leaf(value)


def _compare(golden, actual, path="report"):
    """Check ``actual`` (data, not its shape) against the golden schema, every list element."""
    if actual is None:
        return  # optional values: null is allowed wherever the golden file has a type
    if isinstance(golden, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, found {_leaf(actual)}"
        assert sorted(golden) == sorted(actual), f"{path}: keys changed: {sorted(set(golden) ^ set(actual))}"
        for k in golden:
            _compare(golden[k], actual[k], f"{path}.{k}")
    elif isinstance(golden, list):
        assert isinstance(actual, list), f"{path}: expected a list, found {_leaf(actual)}"
        assert golden or not actual, f"{path}: the golden file has no element schema for this list"
        for i, element in enumerate(actual):
            _compare(golden[0], element, f"{path}[{i}]")
    else:
        assert golden in ("null", _leaf(actual)), f"{path}: {golden} became {_leaf(actual)}"


def test_report_schema_matches_golden_file():
    report, _ = make_report()
    data = report.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(shape(data), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    _compare(golden, data)
    for row in data["estimates"]:
        for key in ("outcome", "estimand", "model", "estimate", "std_error", "conf_low", "conf_high",
                    "p_value", "ri_p_value", "irr", "n_obs", "n_clusters"):
            assert key in row


def test_json_has_no_nan_and_zero_outcome_is_not_estimable(tmp_path):
    report, _ = make_report(zero_outcome="violence")
    data = report.to_dict()
    json.dumps(data, allow_nan=False)  # raises on NaN/inf
    rows = [r for r in data["estimates"] if r["outcome"] == "violence"]
    assert rows and all(r["status"] == NO_EVENTS and r["estimate"] is None for r in rows)
    family = {f["outcome"]: f for f in data["multiplicity"]["family"]}
    assert family["violence"]["p_source"] == "not tested" and family["violence"]["p_holm"] is None
    assert any("no events" in n for n in data["notes"])
    paths = write_milestone_report(report, tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    assert NO_EVENTS in html
    assert not re.search(r"\bnan\b", html, flags=re.IGNORECASE)
    assert not re.search(r"\binf\b", html)


def test_holm_uses_design_based_p_and_fills_ri():
    # all_crime's ITT estimate carries its own ri_p_value (0.015); violence's primary has none,
    # so the report fills it from the randomisation test of violence
    estimates = [dataclasses.replace(e, ri_p_value=None) if (e.outcome, e.model) == ("violence", "poisson_fe")
                 else e for e in synthetic_estimates()]
    report, _ = make_report(estimates=estimates)
    data = report.to_dict()
    family = data["multiplicity"]["family"]
    assert [f["outcome"] for f in family] == list(OUTCOMES)
    raw = [f["p_raw"] for f in family]
    ri_violence = real_ri()["violence"].p_value
    assert raw == [pytest.approx(0.015), ri_violence]
    assert [f["p_source"] for f in family] == ["ri_p_value", "ri_p_value"]
    np.testing.assert_allclose([f["p_holm"] for f in family], holm_adjust(raw))
    primary = next(r for r in data["estimates"] if r["in_holm_family"] and r["outcome"] == "all_crime")
    assert primary["holm_p_value"] == pytest.approx(holm_adjust(raw)[0])
    non_family = [r for r in data["estimates"] if not r["in_holm_family"]]
    assert non_family and all(r["holm_p_value"] is None for r in non_family)


def test_sequential_boundaries_for_looks_so_far():
    end = dt.date(2023, 4, 16)
    report, panel = make_report(milestones=[dt.date(2023, 4, 2)], end=end)
    seq = report.to_dict()["sequential"]
    assert seq["look_dates"] == ["2023-04-02", "2023-04-16"]
    # information = events observed by the look / events planned at the baseline rate (issue 12)
    rate = panel.groupby("hotspot_id")["baseline_count_all_crime"].first().sum() / 28
    observed = panel.loc[panel["date"] <= pd.Timestamp("2023-04-02"), "count_all_crime"].sum()
    expected = obf_boundaries([observed / (observed + rate * 14), 1.0])
    assert seq["information_scale"].startswith("expected events")
    assert [lk["z_boundary"] for lk in seq["looks"]] == pytest.approx(expected.z_boundaries)
    assert seq["current_look"]["z_boundary"] == pytest.approx(expected.z_boundaries[-1], abs=1e-6)
    assert seq["crossed"] == (seq["primary_p"] <= seq["current_look"]["nominal_p"])


def test_abstract_has_the_five_parts_and_the_primary_numbers():
    report, _ = make_report()
    abstract = report.to_dict()["abstract"]
    assert list(abstract) == ["research_question", "data", "methods", "findings", "conclusions"]
    primary = next(r for r in report.estimates if r["in_holm_family"] and r["outcome"] == "all_crime")
    assert f"rate ratio {primary['irr']:.2f}" in abstract["findings"]
    assert "168 hotspot-days" in abstract["data"]


def test_figures_are_png_data_uris():
    report, _ = make_report(figures=True)
    for key in ("forest", "timeseries"):
        assert report.figures[key].startswith("data:image/png;base64,")
    assert "figures" not in report.to_dict()


def test_template_does_no_arithmetic():
    text = TEMPLATE.read_text(encoding="utf-8")
    expressions = re.findall(r"{{(.*?)}}|{%(.*?)%}", text, flags=re.S)
    for expr in (a or b for a, b in expressions):
        code = re.sub(r'"[^"]*"|\'[^\']*\'', "", expr)  # drop string literals
        assert not re.search(r"[+*/%]|\s-\s", code), f"arithmetic in template: {expr.strip()}"


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._key, self._digits, self._text = [], None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-key" in attrs:
            self._key, self._digits, self._text = attrs["data-key"], int(attrs["data-digits"]), []

    def handle_data(self, data):
        if self._key is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._key is not None and tag == "td":
            self.cells.append((self._key, self._digits, "".join(self._text).strip()))
            self._key = None


def _lookup(data, key):
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def check_numbers_match(html: str, data: dict) -> list[str]:
    """Every numeric cell shows its JSON value; returns the keys checked."""
    parser = _Cells()
    parser.feed(html)
    assert parser.cells, "no numeric cells found"
    for key, digits, text in parser.cells:
        value = _lookup(data, key)
        if value is None:
            assert text == "–", f"{key}: JSON null shown as {text!r}"
            continue
        if text.startswith("<"):  # a p-value below the shown precision, e.g. "<0.0001"
            assert value < float(text[1:]), f"{key}: {text} vs {value}"
            continue
        shown = float(text.replace(",", ""))
        assert math.isclose(shown, value, abs_tol=0.5 * 10 ** -digits + 1e-12), f"{key}: {text} vs {value}"
    return [key for key, _, _ in parser.cells]


def assert_tables_shown(keys: list[str], data: dict) -> None:
    """The effects, CACE (with first stage), carry-over and dose-response cells are all shown."""
    shown = set(keys)
    sections = data["estimate_sections"]
    for i in sections["itt"]:
        assert f"estimates.{i}.n_obs" in shown
    for i in sections["cace"]:
        if data["estimates"][i]["status"] == "ok":
            assert {f"estimates.{i}.estimate", f"estimates.{i}.first_stage_f"} <= shown
    for g in sections["carryover"]:
        for i in g["rows"] + [g["main"]]:
            if data["estimates"][i]["status"] == "ok":
                assert {f"estimates.{i}.irr", f"estimates.{i}.irr_conf_low"} <= shown
    for d, table in enumerate(data["dose_response"]):
        for b in range(len(table["bands"])):
            assert f"dose_response.{d}.bands.{b}.rate" in shown
        assert f"dose_response.{d}.control.rate" in shown


def test_html_numbers_equal_json(tmp_path):
    report, _ = make_report(zero_outcome="violence")
    paths = write_milestone_report(report, tmp_path)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    keys = check_numbers_match(paths["html"].read_text(encoding="utf-8"), data)
    assert len(keys) > 50
    assert_tables_shown(keys, data)


@pytest.mark.browser
def test_html_in_headless_chromium_numbers_equal_json(tmp_path, chromium):
    report, _ = make_report(figures=True)
    paths = write_milestone_report(report, tmp_path / "out")
    profile = tmp_path / "profile"
    profile.mkdir()
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic", "--dump-dom", paths["html"].as_uri()],
        capture_output=True, text=True, timeout=60, check=True)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    keys = check_numbers_match(result.stdout, data)
    assert len(keys) > 50
    assert data["dose_response"] and data["estimate_sections"]["cace"] and data["estimate_sections"]["carryover"]
    assert_tables_shown(keys, data)
    for table in ('id="estimates"', 'id="cace"', 'id="carryover"', 'id="dose-response"'):
        assert table in result.stdout
    assert "Structured abstract" in result.stdout and "not causal" in result.stdout


def test_sections_holm_family_and_first_stage():
    report, _ = make_report()
    data = report.to_dict()
    rows, sections = data["estimates"], data["estimate_sections"]
    # every record is in exactly one table
    listed = sections["itt"] + sections["cace"] + sections["other"] + [
        i for g in sections["carryover"] for i in g["rows"]]
    assert sorted(listed) == list(range(len(rows)))
    # the Holm family is exactly the first ITT Poisson record of each declared outcome
    family = [i for i, r in enumerate(rows) if r["in_holm_family"]]
    assert [(rows[i]["outcome"], rows[i]["estimand"], rows[i]["model"]) for i in family] == [
        (o, "ITT", "poisson_fe") for o in OUTCOMES]
    assert [f["estimate_index"] for f in data["multiplicity"]["family"]] == family
    assert all(rows[i]["section"] in ("cace", "carryover") for i in sections["cace"] + listed[len(sections["itt"]):])
    for i in sections["cace"]:
        assert rows[i]["first_stage_coef"] == pytest.approx(0.8) and rows[i]["first_stage_f"] == pytest.approx(45.25)
        assert rows[i]["weak_instrument"] is False and not rows[i]["in_holm_family"]
    for g in sections["carryover"]:
        assert rows[g["main"]]["in_holm_family"] and rows[g["main"]]["outcome"] == g["outcome"]
        assert [rows[i]["comparison"] for i in g["rows"]] == [
            "patrol assigned yesterday vs not (today's assignment held fixed)",
            "last assigned patrol 2 days ago vs yesterday"]


def test_dose_response_matches_an_independent_tally():
    report, panel = make_report()
    tables = {d["outcome"]: d for d in report.to_dict()["dose_response"]}
    assert list(tables) == list(OUTCOMES)
    treated = panel[panel["treated"] == 1]
    for o in OUTCOMES:
        # the fixture gives 0 or 15 minutes: bands "0" and "5-15"
        expected = {("0" if m == 0 else "5-15"): (len(g), g[f"count_{o}"].sum())
                    for m, g in treated.groupby("dosage_minutes")}
        bands = {b["band"]: b for b in tables[o]["bands"]}
        assert set(bands) == set(expected)
        for band, (days, events) in expected.items():
            assert bands[band]["hotspot_days"] == days and bands[band]["events"] == events
            assert bands[band]["rate"] == pytest.approx(events / days)
            assert bands[band]["conf_low"] <= bands[band]["rate"] <= bands[band]["conf_high"]
        assert bands["5-15"]["rate_ratio"] == pytest.approx(bands["5-15"]["rate"] / bands["0"]["rate"])
        control = panel[panel["treated"] == 0]
        assert tables[o]["control"]["rate"] == pytest.approx(control[f"count_{o}"].mean())
        assert tables[o]["causal"] is False


def test_dose_response_absent_without_compliance():
    report, _ = make_report(compliance=False, ri={})
    data = report.to_dict()
    assert data["dose_response"] == []
    assert "was not recorded" in data["abstract"]["data"]


def test_abstract_reads_with_real_numbers():
    report, panel = make_report()
    data = report.to_dict()
    abstract, flow = data["abstract"], data["flow"]
    primary = next(r for r in data["estimates"] if r["in_holm_family"] and r["outcome"] == "all_crime")
    findings = abstract["findings"]
    # 6 hotspots: the diagnosis distrusts the Wald test, so the findings lead with the RI result
    lead, _, rest = findings.partition(" All crime was")
    ri0 = real_ri()["all_crime"]
    assert lead.startswith("The model-based (Wald) test is not reliable for this trial (only 6 hotspots")
    assert f"randomisation p = {ri0.p_value:.3f}" in lead and f"{ri0.rr_conf_low:.2f} to" in lead
    findings = "All crime was" + rest
    assert findings.startswith(f"All crime was {abs(primary['pct_change']):.1f}% lower (rate ratio "
                               f"{primary['irr']:.2f}, 95% CI {primary['irr_conf_low']:.2f} to "
                               f"{primary['irr_conf_high']:.2f})")
    ri = real_ri()["all_crime"]
    assert (f"randomisation p = 0.015 from 500 re-draws, randomisation 95% CI {ri.rr_conf_low:.2f} to "
            f"{ri.rr_conf_high:.2f}") in findings
    cace = next(r for r in data["estimates"] if r["section"] == "cace" and r["outcome"] == "all_crime")
    # distrusted Wald test (6 hotspots): the 2SLS CACE follows the design-based one, named model-based
    assert f"two-stage least squares CACE of a delivered patrol was {cace['estimate']:+.3f} crimes per hotspot-day" in findings
    assert "first-stage F = 45" in findings
    assert "the WDQ was" in findings and "nan" not in findings.lower()
    assert f"({flow['delivery_rate']:.1%} compliance)" in abstract["data"]
    assert "_" not in findings.split("(")[0]  # outcome names in words, not identifiers
    # final look (information fraction 1) and p = 0.015 < 0.05: the boundary is crossed
    assert data["sequential"]["crossed"] and "crosses the pre-specified" in abstract["conclusions"]
    interim, _ = make_report(end=dt.date(2023, 6, 30))
    text = interim.to_dict()["abstract"]["conclusions"]
    assert text.startswith("This is an interim look") and "should continue" in text


def test_weak_instrument_is_flagged(tmp_path):
    weak = FirstStage(coefficient=0.05, std_error=0.05 / math.sqrt(3.2), f_statistic=3.2, n_obs=168)
    estimates = [dataclasses.replace(e, first_stage=weak) if e.estimand.startswith("CACE") else e
                 for e in synthetic_estimates()]
    report, _ = make_report(estimates=estimates, ri={})
    cace = [r for r in report.to_dict()["estimates"] if r["section"] == "cace"]
    assert cace and all(r["weak_instrument"] and r["first_stage_f"] == pytest.approx(3.2)
                        and r["first_stage_coef"] == pytest.approx(0.05) for r in cace)
    html = write_milestone_report(report, tmp_path)["html"].read_text(encoding="utf-8")
    assert html.count("Weak instrument:") == len(cace)


def test_ri_interval_in_the_report_is_the_rate_ratio_interval_of_the_test(tmp_path):
    """The report's randomisation CI is RITestResult's test-inversion interval for the rate
    ratio, never the p-value's Monte Carlo interval (a mock once put (p - 0.01, p + 0.01)
    there, and the abstract printed it as a rate-ratio interval)."""
    report, panel = make_report()
    records = {r["outcome"]: r for r in report.to_dict()["randomisation_inference"]}
    assert list(records) == [k for o in OUTCOMES for k in (o, f"{o}_harm")]  # counts and harm
    for o, res in real_ri().items():
        rec = records[o]
        assert (rec["conf_low"], rec["conf_high"]) == (res.rr_conf_low, res.rr_conf_high)
        assert (rec["p_value"], rec["mc_error"], rec["draws"], rec["observed"], rec["statistic"]) == (
            res.p_value, res.mc_std_error, RI_DRAWS, res.observed, res.statistic)
        # the rule and the one-sided p-values travel with it; the default is equal-tailed
        assert (rec["p_value_rule"], rec["p_less"], rec["p_greater"]) == ("equal-tailed", res.p_less, res.p_greater)
        assert rec["p_value"] == pytest.approx(min(1.0, 2 * min(res.p_less, res.p_greater)))
        # on the rate-ratio scale: it holds the Poisson FE rate ratio of the same panel ...
        col = f"harm_{o[:-5]}" if o.endswith("_harm") else f"count_{o}"
        assert res.outcome == col
        irr = poisson_fe(panel, col).irr
        assert rec["conf_low"] < irr < rec["conf_high"]
        # ... and it is where the test's p-value curve crosses alpha: inside p > alpha, outside p <= alpha
        curve = res.curve
        inside = curve[(curve.rate_ratio > rec["conf_low"]) & (curve.rate_ratio < rec["conf_high"])]
        outside = curve[(curve.rate_ratio < rec["conf_low"]) | (curve.rate_ratio > rec["conf_high"])]
        assert len(inside) and (inside.p_value > res.alpha).all()
        assert len(outside) and (outside.p_value <= res.alpha).all()
    html = write_milestone_report(report, tmp_path)["html"].read_text(encoding="utf-8")
    assert "Rate ratio CI low" in html and "One-sided p, fewer crimes" in html and "equal-tailed" in html


def test_report_takes_only_real_ri_results():
    mock = SimpleNamespace(p_value=0.02, mc_error=0.006, ci=(0.01, 0.03), draws=500, observed=-0.3)
    with pytest.raises(TypeError, match="must be an RITestResult"):
        make_report(ri={"all_crime": mock})


def test_golden_comparison_checks_every_list_element():
    """A change in any element of a list (not only the first) fails the schema check."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    data = make_report()[0].to_dict()
    _compare(golden, data)
    last = len(data["estimates"]) - 1
    assert last > 0
    wrong_type = json.loads(json.dumps(data))
    wrong_type["estimates"][last]["estimate"] = "0.5"
    with pytest.raises(AssertionError, match=rf"estimates\[{last}\]\.estimate: number became string"):
        _compare(golden, wrong_type)
    lost_key = json.loads(json.dumps(data))
    del lost_key["randomisation_inference"][-1]["mc_error"]
    last_ri = len(data["randomisation_inference"]) - 1
    with pytest.raises(AssertionError, match=rf"randomisation_inference\[{last_ri}\]: keys changed: \['mc_error'\]"):
        _compare(golden, lost_key)
    nested = json.loads(json.dumps(data))
    nested["dose_response"][-1]["bands"][-1]["rate"] = [1.0]
    with pytest.raises(AssertionError, match=r"dose_response\[1\]\.bands\[\d+\]\.rate"):
        _compare(golden, nested)


def test_abstract_leads_harm_and_the_rate_ratio_cace_with_randomisation_where_the_wald_test_is_distrusted():
    """Issue 12: the design-based result leads wherever the diagnosis distrusts the Wald test,
    for harm and for the Anderson-Rubin (Wald-type) interval of the rate-ratio CACE too."""
    from guardian_rct.reports.milestone_abstract import _cace_ratio_sentence, _harm_sentence

    harm = {"irr": 0.8, "pct_change": -20.0, "irr_conf_low": 0.7, "irr_conf_high": 0.9, "p_value": 0.001,
            "ri_p_value": 0.04, "ri_conf_low": 0.66, "ri_conf_high": 0.99}
    led = _harm_sentence(harm, 95, lead_ri=True)
    assert "not reliable" in led and led.index("randomisation p = 0.040") < led.index("model-based 95% CI 0.70")
    assert "randomisation 95% CI 0.66 to 0.99" in led
    plain = _harm_sentence(harm, 95, lead_ri=False)
    assert "randomisation" not in plain and "95% CI 0.70 to 0.90" in plain
    # without randomisation inference nothing can lead but the model-based result
    assert _harm_sentence({**harm, "ri_p_value": None, "ri_conf_low": None, "ri_conf_high": None},
                          95, lead_ri=True) == plain
    cace = {"irr": 0.7, "irr_conf_low": 0.5, "irr_conf_high": None, "ri_p_value": 0.02,
            "ri_conf_low": 0.45, "ri_conf_high": 0.95}
    led = _cace_ratio_sentence(cace, 95, lead_ri=True)
    assert led.index("randomisation 95% CI 0.45 to 0.95") < led.index("Anderson–Rubin 95% CI 0.50 to open")
    assert "shown for comparison" in led
    plain = _cace_ratio_sentence(cace, 95)
    assert plain.index("Anderson–Rubin") < plain.index("randomisation 95% CI")


def test_the_report_passes_the_distrusted_outcomes_to_the_abstract():
    report, _ = make_report()  # 6 hotspots: the diagnosis distrusts every Wald test
    findings = report.to_dict()["abstract"]["findings"]
    # the design-based CACE comes first, the model-based 2SLS after it and named as such
    cace = findings[findings.index("The effect of a patrol present on the day (CACE), design-based:"):]
    assert cace.index("randomisation 95% CI") < cace.index("Anderson–Rubin")
    assert cace.index("Anderson–Rubin") < cace.index("the model-based two-stage least squares CACE")
    assert "As a rate ratio comparable" not in findings


def test_html_states_the_information_scale_used_and_the_wild_bootstrap_caution(tmp_path):
    """The O'Brien-Fleming paragraph names the scale the fractions were computed on (it once
    said "share of the trial's days" whatever the scale), and the diagnosis says what the
    wild bootstrap p-value in the JSON is worth (measured, docs/estimators_validation.md)."""
    report, _ = make_report(milestones=[dt.date(2023, 4, 2)], end=dt.date(2023, 4, 16))
    data = report.to_dict()
    html = write_milestone_report(report, tmp_path)["html"].read_text(encoding="utf-8")
    scale = data["sequential"]["information_scale"]
    assert scale.startswith("expected events") and f"information fraction on the scale of {scale}" in html
    assert "share of the trial's days elapsed" not in html
    caution = data["diagnosis"]["wild_bootstrap"]
    assert "never led with" in caution and caution in html.replace("&amp;", "&")


def test_an_outcome_whose_crimes_share_one_harm_weight_is_explained():
    """Harm = count x one weight on every hotspot-day: the note says why the harm and count
    rate ratios are equal; an outcome with mixed weights gets no such note."""
    from guardian_rct.reports.milestone import _single_weight_notes

    frame = pd.DataFrame({"count_a": [0, 1, 3, 2], "harm_a": [0.0, 365.0, 1095.0, 730.0],
                          "count_b": [0, 1, 3, 2], "harm_b": [0.0, 365.0, 1000.0, 730.0]})
    notes = _single_weight_notes(frame, ["a", "b"])
    assert len(notes) == 1 and notes[0].startswith("Every crime of a carries the same harm weight (365 CCHI days)")
    # harm on a day without counted crimes is not one weight times the count
    frame.loc[0, "harm_a"] = 10.0
    assert _single_weight_notes(frame, ["a"]) == []
