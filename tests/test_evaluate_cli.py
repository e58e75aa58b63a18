"""``guardian-rct evaluate`` end to end through the command line, on small simulated trials.

A trial is registered, its schedules published in the store (simulated), crimes and
officers' pings simulated with a known effect, and the CLI run on them: with a compliance
CSV, with raw pings to score, and on bad input (one-line messages, never a traceback or NaN).
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.estimation.results import ESTIMATE_FIELDS
from guardian_rct.jobs.milestone import COMPLIANCE_COLUMNS
from test_milestone_report import assert_tables_shown, check_numbers_match

EXTRA = """
[evaluation]
outcomes = ["all_crime", "violence"]
primary_outcome = "all_crime"
ri_draws = 500
milestones = [2023-03-31]
"""


def _no_nan(text: str) -> dict:
    def refuse(name):
        raise AssertionError(f"non-finite number {name} in JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def sim_trial(tmp_path_factory):
    """Six hotspots, 22 days (2023-03-20 to 04-10), schedules published in the store."""
    from guardian_rct.ledger.publish import publish_range, published_allocation
    from guardian_rct.ledger.store import init_trial, load_trial_hotspots
    from guardian_rct.simulation.writers import (
        simulate_crimes,
        simulate_pings,
        write_crimes,
        write_pings,
    )

    tmp = tmp_path_factory.mktemp("evaluate_cli")
    config_path = write_trial(tmp, extra=EXTRA)
    config = load_config(config_path)
    init_trial(config)
    hotspots = load_trial_hotspots(config)
    publish_range(config, config.trial.start_date, config.trial.end_date, hotspots=hotspots, simulated=True)
    allocation = published_allocation(config)
    pings = simulate_pings(config, hotspots, allocation, compliance=0.75, seed=3)
    crimes = simulate_crimes(config, hotspots, allocation, seed=3, delivered=pings.compliance,
                             rate_scale=40.0, effect_volume=0.7, effect_harm=0.7)
    write_crimes(crimes, tmp / "crimes.csv", tz=config.trial.timezone)
    pings.compliance[list(COMPLIANCE_COLUMNS)].to_csv(tmp / "compliance.csv", index=False)
    write_pings(pings, tmp / "pings.csv")
    return {"dir": tmp, "config": config_path, "allocation": allocation, "pings": pings}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["evaluate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_from_trial_store_with_compliance_csv(sim_trial, capsys):
    tmp = sim_trial["dir"]
    code, out, err = _run(capsys, "--config", sim_trial["config"], "--crimes", tmp / "crimes.csv",
                          "--compliance", tmp / "compliance.csv", "--out", tmp / "out_store",
                          "--ri-draws", 100, "--json")
    assert code == 0, err
    summary = _no_nan(out)
    assert summary["estimates"], "no estimates in the --json summary"
    for row in summary["estimates"]:
        assert set(ESTIMATE_FIELDS) <= set(row)
    data = _no_nan((tmp / "out_store" / "milestone_report.json").read_text(encoding="utf-8"))
    assert not any("imported from a file" in n for n in data["notes"])  # read from the trial store
    # the evaluate job hands the report the panel's crime counts: harm coverage is measured,
    # not "unknown" (it was, through the job, until the Panel itself reached the report)
    coverage = data["harm_coverage"]
    assert coverage["status"] in ("complete", "within threshold") and coverage["n_crimes"] > 0
    rows = data["estimates"]
    primary = [r for r in rows if r["in_holm_family"]]
    # Holm family: the first ITT Poisson estimate of each declared outcome, count and harm (issue 12)
    assert [(r["outcome"], r["estimand"], r["model"]) for r in primary] == [
        ("all_crime", "ITT", "poisson_fe"), ("all_crime_harm", "ITT", "poisson_fe"),
        ("violence", "ITT", "poisson_fe"), ("violence_harm", "ITT", "poisson_fe")]
    assert [f["estimate_index"] for f in data["multiplicity"]["family"]] == [rows.index(r) for r in primary]
    assert primary[0]["ri_p_value"] is not None and 0 < primary[0]["ri_p_value"] <= 1
    assert {r["section"] for r in rows} == {"itt", "cace", "carryover"}
    for r in rows:
        if r["section"] != "itt" or r not in primary:
            assert not r["in_holm_family"] and r["holm_p_value"] is None
    ratio = [r for r in rows if r["model"] == "iv_poisson_gmm_fe"]  # issue 12: CACE as a rate ratio
    # count and harm (issue 12), each with its randomisation p-value and interval through the CLI
    assert sorted(r["outcome"] for r in ratio) == ["all_crime", "all_crime_harm", "violence", "violence_harm"]
    assert all(r["irr"] is not None and r["first_stage_f"] > 10 for r in ratio)
    assert all(r["ri_p_value"] is not None for r in ratio)
    # with 6 hotspots the studentised statistic cannot reject far-off rate ratios for every
    # outcome (|t| <= sqrt(6)): an interval open on both sides is an honest answer there,
    # but the interval is attached wherever the data bound it
    assert any(r["ri_conf_low"] is not None or r["ri_conf_high"] is not None for r in ratio)
    assert len(data["cace_assumptions"]["rate_ratios"]) == 4
    assert data["sequential"]["primary_p_source"] in ("model", "randomisation")
    assert data["sequential"]["p_value_basis"] in data["sequential"]["decision"]
    cace = [r for r in rows if r["section"] == "cace" and r["model"] != "iv_poisson_gmm_fe"]
    assert {r["estimand"] for r in cace} == {"CACE (patrol delivered)", "CACE (dosage minutes)"}
    assert all(r["first_stage_f"] > 10 and 0 < r["first_stage_coef"] for r in cace)
    # CACE on volume and on harm, for both outcomes and both measures of receipt
    assert sorted((r["outcome"], r["term"]) for r in cace) == sorted(
        (f"{o}{m}", t) for o in ("all_crime", "violence") for m in ("", "_harm")
        for t in ("delivered", "dosage_minutes"))
    # first stage of "delivered" = share delivered on patrol days - share present on control days
    comp = sim_trial["pings"].compliance
    treated = comp["arm"] == "treatment"
    expected = comp.loc[treated, "delivered"].mean() - comp.loc[~treated, "contaminated"].mean()
    delivered = next(r for r in cace if r["term"] == "delivered" and r["outcome"] == "all_crime")
    assert delivered["first_stage_coef"] == pytest.approx(expected, abs=0.03)
    carry = [r for r in rows if r["section"] == "carryover"]
    assert {r["estimand"] for r in carry} >= {"carry-over: patrol assigned yesterday"}
    assert all(r["comparison"] for r in carry)
    groups = data["estimate_sections"]["carryover"]
    assert [g["outcome"] for g in groups] == ["all_crime", "violence"]
    assert all(rows[g["main"]]["in_holm_family"] for g in groups)
    # dose-response: on patrol-assigned hotspot-days only, bands add up to them
    dose = {d["outcome"]: d for d in data["dose_response"]}
    assert set(dose) == {"all_crime", "violence"}
    n_treated = int(treated.sum())
    assert sum(b["hotspot_days"] for b in dose["all_crime"]["bands"]) == n_treated
    assert dose["all_crime"]["control"]["hotspot_days"] == len(comp) - n_treated
    assert dose["all_crime"]["causal"] is False
    html = (tmp / "out_store" / "milestone_report.html").read_text(encoding="utf-8")
    assert "not causal" in html and 'id="cace"' in html and 'id="carryover"' in html
    assert_tables_shown(check_numbers_match(html, data), data)  # every shown number equals the JSON
    assert not any(w in html.split() for w in ("nan", "NaN", "inf"))


def test_evaluate_scores_pings(sim_trial, capsys):
    tmp = sim_trial["dir"]
    code, out, err = _run(capsys, "--config", sim_trial["config"], "--crimes", tmp / "crimes.csv",
                          "--pings", tmp / "pings.csv", "--out", tmp / "out_pings", "--ri-draws", 100, "--json")
    assert code == 0, err
    data = _no_nan((tmp / "out_pings" / "milestone_report.json").read_text(encoding="utf-8"))
    assert "pings" in data["provenance"]["inputs"]
    flow = data["flow"]
    truth = sim_trial["pings"].compliance
    true_delivered = int(truth.loc[truth["arm"] == "treatment", "delivered"].sum())
    assert flow["delivery_unknown"] == 0
    assert abs(flow["delivered"] - true_delivered) <= max(2, 0.05 * true_delivered)
    assert any(r["section"] == "cace" for r in data["estimates"])
    assert data["dose_response"] and "compliance" in data["abstract"]["data"]


def _allocation_csv(sim_trial, path, *, all_control=False, extra_day=False):
    frame = sim_trial["allocation"].frame.copy()
    if all_control:
        frame["arm"] = "control"
        frame["window_start"] = pd.NaT
        frame["window_end"] = pd.NaT
    if extra_day:
        last = frame[frame["date"] == frame["date"].max()].copy()
        last["date"] = last["date"] + dt.timedelta(days=30)
        frame = pd.concat([frame, last], ignore_index=True)
    frame["date"] = [d.isoformat() for d in frame["date"]]
    for col in ("window_start", "window_end"):
        frame[col] = [("" if pd.isna(t) else pd.Timestamp(t).isoformat()) for t in frame[col]]
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind, message", [
    ("dates", "dates outside the evaluated period"),
    ("hotspot", "not in the trial's hotspot file"),
    ("no_treated", "no treated hotspot-days"),
])
def test_bad_input_is_one_line(sim_trial, capsys, kind, message, tmp_path):
    tmp = sim_trial["dir"]
    path = tmp_path / "alloc.csv"
    _allocation_csv(sim_trial, path, all_control=kind == "no_treated", extra_day=kind == "dates")
    if kind == "hotspot":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[frame["hotspot_id"] == "H03", "hotspot_id"] = "H99"
        frame.to_csv(path, index=False)
    code, out, err = _run(capsys, "--config", sim_trial["config"], "--crimes", tmp / "crimes.csv",
                          "--allocation", path, "--out", tmp_path / "out", "--ri-draws", 100)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert "Traceback" not in err and "nan" not in err.lower().split()


def test_outcome_without_events_is_reported_not_estimable(sim_trial, capsys, tmp_path):
    tmp = sim_trial["dir"]
    from guardian_rct.crimes.outcomes import outcome_mask
    from guardian_rct.crimes.records import read_crimes

    config = load_config(sim_trial["config"])
    spec = next(o for o in config.outcomes if o.name == "violence")
    read = read_crimes(tmp / "crimes.csv", crs=config.hotspots.crs).frame
    violent_ids = set(read.loc[outcome_mask(read, spec), "crime_id"].astype(str))
    assert violent_ids, "the simulated trial should have violent crimes to remove"
    crimes = pd.read_csv(tmp / "crimes.csv", dtype=str, keep_default_na=False)
    crimes[~crimes["crime_id"].isin(violent_ids)].to_csv(tmp_path / "crimes.csv", index=False)
    code, out, err = _run(capsys, "--config", sim_trial["config"], "--crimes", tmp_path / "crimes.csv",
                          "--compliance", tmp / "compliance.csv", "--out", tmp_path / "out",
                          "--ri-draws", 100, "--json")
    assert code == 0, err
    summary = _no_nan(out)
    data = _no_nan((tmp_path / "out" / "milestone_report.json").read_text(encoding="utf-8"))
    violence = [r for r in data["estimates"] if r["outcome_name"] == "violence"]
    assert violence and all(r["status"] == "no events: not estimable" and r["estimate"] is None
                            for r in violence)
    family = {f["outcome"]: f for f in data["multiplicity"]["family"]}
    assert family["violence"]["p_source"] == "not tested" and data["multiplicity"]["family_size"] == 4
    assert family["violence_harm"]["p_source"] == "not tested"  # no events: harm untested too
    assert [d["outcome"] for d in data["dose_response"]] == ["all_crime"]
    assert any("no events" in n for n in summary["notes"])
    html = (tmp_path / "out" / "milestone_report.html").read_text(encoding="utf-8")
    assert "no events: not estimable" in html
    assert not any(w.lower() in ("nan", "inf") for w in html.split())


def test_first_stage_is_a_typed_field_of_the_cace_estimate():
    from evaluation_fixtures import synthetic_panel
    from guardian_rct.estimation.itt import poisson_fe
    from guardian_rct.estimation.iv import cace
    from guardian_rct.estimation.results import FirstStage

    panel, _ = synthetic_panel(n_days=40)
    est = cace(panel, "count_all_crime", endogenous="delivered")
    fs = est.first_stage
    assert isinstance(fs, FirstStage)
    # the first stage of a 0/1 "present" on assignment, with hotspot and day effects, is
    # close to the raw difference in presence between the arms
    present = np.where(panel["treated"] == 1, panel["delivered"], panel["contaminated"])
    raw = present[panel["treated"] == 1].mean() - present[panel["treated"] == 0].mean()
    assert fs.coefficient == pytest.approx(raw, abs=0.05)
    assert math.isfinite(fs.f_statistic) and fs.f_statistic > 10 and not fs.weak
    assert fs.f_statistic == pytest.approx((fs.coefficient / fs.std_error) ** 2)
    assert poisson_fe(panel, "count_all_crime").first_stage is None



def test_parallel_design_evaluates_without_carryover(tmp_path, capsys):
    """A parallel trial: CACE with block and day effects, no carry-over (assignment never
    changes within a hotspot), and a note saying so."""
    from test_evaluation import END, IDS, START, write_crimes
    from test_evaluation import EXTRA as SMALL

    path = write_trial(tmp_path, extra=SMALL, design="n_treated = 3")
    path.write_text(path.read_text().replace('kind = "crossover"', 'kind = "parallel"'))
    write_crimes(tmp_path / "crimes.csv")
    rng = np.random.default_rng(5)
    rows, day = [], START
    while day <= END:
        for h in IDS:
            t = h in ("H01", "H02", "H06")
            delivered = int(t and rng.random() < 0.8)
            rows.append({"date": day.isoformat(), "hotspot_id": h, "arm": "treatment" if t else "control",
                         "window_start": f"{day}T15:00:00+00:00" if t else "",
                         "window_end": f"{day}T23:00:00+00:00" if t else "",
                         "delivered": delivered, "dosage_minutes": 15.0 * delivered, "contaminated": 0})
        day += dt.timedelta(days=1)
    frame = pd.DataFrame(rows)
    frame[["date", "hotspot_id", "arm", "window_start", "window_end"]].to_csv(tmp_path / "alloc.csv", index=False)
    frame[list(COMPLIANCE_COLUMNS)].to_csv(tmp_path / "comp.csv", index=False)
    code, out, err = _run(capsys, "--config", path, "--crimes", tmp_path / "crimes.csv", "--allocation",
                          tmp_path / "alloc.csv", "--compliance", tmp_path / "comp.csv", "--out", tmp_path / "out",
                          "--ri-draws", 0)
    assert code == 0, err
    data = _no_nan((tmp_path / "out" / "milestone_report.json").read_text(encoding="utf-8"))
    sections = {r["section"] for r in data["estimates"]}
    assert sections == {"itt", "cace"}
    assert [r["model"] for r in data["estimates"] if r["in_holm_family"]] == ["poisson_parallel"] * 4
    cace = next(r for r in data["estimates"] if r["section"] == "cace" and r["term"] == "delivered")
    assert "block + day" in cace["details"]
    # first stage with block + day effects: blocks A (H01 of H01, H03, H05 treated) and B (H02, H06 of
    # H02, H04, H06) have the same assignment variance, so it is the mean of the blocks' delivery rates
    rate = frame.groupby("hotspot_id")["delivered"].mean()
    expected = 0.5 * rate["H01"] + 0.5 * rate[["H02", "H06"]].mean()
    assert cace["first_stage_coef"] == pytest.approx(expected, abs=1e-5)
    assert any("carry-over" in n for n in data["notes"])
