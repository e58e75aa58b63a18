"""The sealed statistical analysis plan (issue 15): build, seal, verify copies, amend, audit.

The trial is a hand-written config (``conftest.write_trial``: six hotspots in two blocks,
22 days) registered with ``guardian-rct init``; crimes and compliance are simulated on
its published schedules, and ``evaluate`` runs the real estimators. Every promise is
attacked: one character of a copy edited, the stored plan or an amendment edited in
SQLite, a legacy store (registered before sealed plans) re-verified.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.canonical import canonical_json, sha256_text
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.plan import plan_for_config, register_trial
from guardian_rct.ledger.plan_history import note_look, read_plan_history
from guardian_rct.ledger.publish import publish_range, published_allocation
from guardian_rct.ledger.records import genesis_hash
from guardian_rct.ledger.store import init_trial, load_trial_hotspots, open_trial
from guardian_rct.ledger.verify import verify
from guardian_rct.reports.deviations import NO_DEVIATIONS

EXTRA = """
[evaluation]
outcomes = ["all_crime", "violence"]
primary_outcome = "all_crime"
ri_draws = 40
milestones = [2023-03-31]
"""
T0 = dt.datetime(2023, 3, 1, 9, 0, tzinfo=dt.UTC)


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _set(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _simulated_inputs(registered, tmp_path) -> None:
    """Publish the whole trial (simulated) and write crimes.csv and compliance.csv for it."""
    from guardian_rct.jobs.milestone import COMPLIANCE_COLUMNS
    from guardian_rct.simulation.writers import simulate_crimes, simulate_pings, write_crimes

    config = load_config(registered)
    hotspots = load_trial_hotspots(config)
    publish_range(config, config.trial.start_date, config.trial.end_date, hotspots=hotspots, simulated=True)
    allocation = published_allocation(config)
    pings = simulate_pings(config, hotspots, allocation, compliance=0.75, seed=3)
    crimes = simulate_crimes(config, hotspots, allocation, seed=3, delivered=pings.compliance, rate_scale=40.0)
    write_crimes(crimes, tmp_path / "crimes.csv", tz=config.trial.timezone)
    pings.compliance[list(COMPLIANCE_COLUMNS)].to_csv(tmp_path / "compliance.csv", index=False)


@pytest.fixture
def registered(tmp_path, capsys):
    path = write_trial(tmp_path, extra=EXTRA)
    code, out, err = _cli(capsys, "init", "--config", path)
    assert code == 0, err
    return path


def test_init_writes_the_plan_and_seals_its_hash(registered, capsys):
    config = load_config(registered)
    plan_dir = config.trial.store.parent / "analysis_plan"
    files = {k: plan_dir / f"analysis_plan.{k}" for k in ("json", "html", "md")}
    assert all(p.is_file() for p in files.values())
    history = read_plan_history(config)
    sealed = history.plan
    # the JSON file is the canonical JSON, byte for byte: its SHA-256 is the sealed hash
    assert sha256_text(files["json"].read_text(encoding="utf-8")) == sealed.sha256
    assert canonical_json(json.loads(files["json"].read_text())) == files["json"].read_text()
    for kind in ("html", "md"):
        assert sealed.sha256 in files[kind].read_text()
    reg = open_trial(config)
    assert reg.plan_sha256 == sealed.sha256
    legacy = sha256_text(canonical_json({"genesis": "guardian_rct ledger", "trial": reg.name, "seed": reg.seed,
                                         "protected_sha256": reg.protected_sha256,
                                         "hotspots_sha256": reg.hotspots_sha256}))
    assert genesis_hash(reg) != legacy  # the chain starts from the plan
    # the plan holds no seed (it goes to registries and journals) and is reproducible
    assert str(config.trial.seed) not in sealed.plan_json
    assert plan_for_config(config).canonical_json() == sealed.plan_json
    plan = sealed.content
    assert plan["blocks"] == [{"block": "A", "n_hotspots": 3, "treated_min": 2, "treated_max": 2, "probability": 0.666667},
                              {"block": "B", "n_hotspots": 3, "treated_min": 1, "treated_max": 1, "probability": 0.333333}]
    assert plan["units"]["hotspot_sha256"] == reg.hotspots_sha256
    assert [lk["date"] for lk in plan["interim_looks"]["looks"]] == ["2023-03-31", "2023-04-10"]
    assert plan["inference"]["ri_draws"] == 40 and plan["primary"]["outcome"] == "all_crime"
    # the registered inference is what the evaluation runs (issue 12): CR2 + Satterthwaite by
    # default, RI for count and harm with the studentised statistic, Holm on the led-with p
    inference = plan["inference"]
    assert inference["variance"].startswith("CR2") and "Satterthwaite" in inference["df_rule"]
    assert "harm" in inference["ri_outcomes"] and "CACE" in inference["ri_outcomes"]
    assert "studentised" in inference["ri_statistic"] and "diagnosis" in inference["lead_rule"]
    assert inference["ri_p_value"].startswith("equal-tailed")
    assert "leads with" in plan["multiplicity"]["tests"]


def test_ledger_verify_checks_the_sealed_plan(registered, capsys):
    config = load_config(registered)
    publish_range(config, config.trial.start_date, config.trial.start_date + dt.timedelta(days=3), simulated=True)
    code, out, _ = _cli(capsys, "ledger", "verify", "--config", registered)
    assert code == 0 and "analysis plan sealed at registration" in out
    store = config.trial.store
    with sqlite3.connect(store) as conn:  # edit one value of the stored plan
        text = conn.execute("SELECT plan_json FROM plan").fetchone()[0]
        conn.execute("UPDATE plan SET plan_json = ?", (text.replace('"ri_draws":40', '"ri_draws":41'),))
    result = verify(config)
    assert not result.ok and "plan was edited" in result.problem
    with sqlite3.connect(store) as conn:  # ... and its hash to match: the chain breaks at record 1
        edited = conn.execute("SELECT plan_json FROM plan").fetchone()[0]
        conn.execute("UPDATE plan SET plan_sha256 = ?", (sha256_text(edited),))
    result = verify(config)
    assert not result.ok and result.bad_seq == 1 and "prev_hash" in result.problem


def test_store_registered_before_sealed_plans_still_verifies(tmp_path):
    config = load_config(write_trial(tmp_path, extra=EXTRA))
    init_trial(config)  # as earlier versions did: no plan
    publish_range(config, config.trial.start_date, config.trial.start_date + dt.timedelta(days=2), simulated=True)
    reg = open_trial(config)
    assert reg.plan_sha256 is None
    result = verify(config)
    assert result.ok and any("registered before sealed plans" in n for n in result.notes)
    # re-running the new init on it neither seals a plan nor breaks the chain
    out = register_trial(config)
    assert out.init.status == "unchanged" and out.plan_sha256 is None
    assert verify(config).ok


@pytest.mark.parametrize("kind", ["json", "html", "md"])
def test_plan_verify_fails_on_one_edited_character(registered, tmp_path, capsys, kind):
    config = load_config(registered)
    original = config.trial.store.parent / "analysis_plan" / f"analysis_plan.{kind}"
    code, out, _ = _cli(capsys, "plan", "--config", registered, "--verify", original)
    assert code == 0 and "true copy of plan version 0" in out
    copy = tmp_path / f"copy.{kind}"
    text = original.read_text(encoding="utf-8")
    needle, edited = {"json": ('"ri_draws":40', '"ri_draws":41'),
                      "html": ('<td class="num">3</td>', '<td class="num">4</td>'),
                      "md": ("| A | 3 |", "| A | 4 |")}[kind]
    assert needle in text and len(needle) == len(edited)
    copy.write_text(text.replace(needle, edited, 1), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text(text.replace('"ri_draws":40', '"ri_draws":4O') if kind == "json" else "{", encoding="utf-8")
    code, bad, _ = _cli(capsys, "plan", "--config", registered, "--verify", broken)
    assert code == 1 and "not valid JSON (line 1, column" in bad
    code, out, _ = _cli(capsys, "plan", "--config", registered, "--verify", copy)
    assert code == 1 and "plan FAILED" in out
    if kind == "json":
        assert "differs from the sealed plan version 0" in out and 'inference.ri_draws: sealed 40, file 41' in out
    else:
        section = "2. Units, hotspots and blocks"
        assert f"(section '{section}')" in out and "line " in out and "column " in out


def test_plan_verify_names_a_copy_of_another_plan(registered, tmp_path, capsys):
    copy = tmp_path / "other.md"
    copy.write_text("# a plan\n<!-- guardian-rct-plan-sha256: " + "0" * 64 + " -->\n")
    code, out, _ = _cli(capsys, "plan", "--config", registered, "--verify", copy)
    assert code == 1 and "not a plan of this trial" in out


def test_amendments_before_and_after_the_first_look(registered):
    config = load_config(registered)
    at = [T0 + dt.timedelta(days=d) for d in range(5)]
    _set(registered, "ri_draws = 40", "ri_draws = 60")
    first = register_trial(load_config(registered), now=at[1]).init.plan_amendment
    assert first.number == 1 and first.timing == "before first look" and not first.post_hoc
    assert [c.to_dict() for c in first.changes] == [{"key": "evaluation.ri_draws", "before": 40, "after": 60}]
    note_look(config, kind="evaluate", crimes_sha256="ab" * 32, look_date=dt.date(2023, 3, 31), now=at[2])
    _set(registered, "ri_draws = 60", "ri_draws = 80")
    second = register_trial(load_config(registered), now=at[3]).init.plan_amendment
    assert second.timing == "after first look" and not second.post_hoc
    assert second.first_look_at == at[2].isoformat(timespec="seconds") and second.label() == "after first look"
    _set(registered, 'primary_outcome = "all_crime"', 'primary_outcome = "violence"')
    third = register_trial(load_config(registered), now=at[4]).init.plan_amendment
    assert third.post_hoc and "primary outcome changed from 'all_crime' to 'violence'" in third.post_hoc_reason
    assert third.label() == "after first look, post hoc"
    history = read_plan_history(load_config(registered))
    assert [a.number for a in history.amendments] == [1, 2, 3]
    assert history.current["primary"]["outcome"] == "violence" and len(history.looks) == 1
    # (an empty ledger never verifies: publish a day so the plan's checks decide)
    publish_range(config, config.trial.start_date, config.trial.start_date, simulated=True)
    assert verify(load_config(registered)).ok
    # an edited amendment is caught
    with sqlite3.connect(config.trial.store) as conn:
        conn.execute("UPDATE plan_amendments SET timing = 'before first look' WHERE number = 3")
    result = verify(load_config(registered))
    assert not result.ok and "plan amendment 3 does not match its hash" in result.problem


def test_a_change_without_the_plan_is_refused_on_a_sealed_trial(registered):
    from guardian_rct._core.errors import StoreError

    _set(registered, "ri_draws = 40", "ri_draws = 41")
    with pytest.raises(StoreError, match="sealed analysis plan.*evaluation"):
        init_trial(load_config(registered))


def test_the_milestone_report_lists_each_deviation(registered, tmp_path, capsys):

    _simulated_inputs(registered, tmp_path)

    def evaluate(*extra, look="2023-03-31"):
        out = tmp_path / f"report{len(list(tmp_path.glob('report*')))}"
        code, _, err = _cli(capsys, "evaluate", "--config", registered, "--crimes", tmp_path / "crimes.csv",
                            "--compliance", tmp_path / "compliance.csv", "--out", out, "--look-date", look,
                            *extra)
        assert code == 0, err
        return json.loads((out / "milestone_report.json").read_text()), (out / "milestone_report.html").read_text()

    data, html = evaluate()
    assert data["analysis_plan"]["audited"] and data["deviations"] == []
    assert data["analysis_plan"]["summary"] == NO_DEVIATIONS and NO_DEVIATIONS in html
    assert data["analysis_plan"]["looks_recorded"] == 1  # this run was recorded as a look
    # an extra outcome, other RI draws, another harm index and an unplanned look date,
    # none registered as an amendment
    _set(registered, 'outcomes = ["all_crime", "violence"]', 'outcomes = ["all_crime", "violence", "serious_youth_violence"]')
    codes = sorted(set(pd.read_csv(tmp_path / "crimes.csv", dtype=str)["offence_code"].dropna()))
    (tmp_path / "harm.csv").write_text("offence_code,weight\n" + "".join(f"{c},10\n" for c in codes))
    registered.write_text(registered.read_text() + '\n[harm]\nindex = "harm.csv"\n')
    # and another randomisation statistic and variance estimator than registered
    _set(registered, "ri_draws = 40\n", 'ri_draws = 40\nri_statistic = "score"\nse_type = "CR1"\nri_p_value = "symmetric"\n')
    data, html = evaluate("--ri-draws", "25", look="2023-04-05")
    kinds = {d["kind"]: d for d in data["deviations"]}
    assert kinds["exploratory_outcome"]["item"] == "serious_youth_violence"
    assert kinds["exploratory_outcome"]["label"] == "exploratory"
    assert (kinds["ri_draws"]["planned"], kinds["ri_draws"]["reported"]) == ("40", "25")
    assert kinds["harm_index"]["reported"].startswith("harm (SHA-256")
    assert kinds["unplanned_look"]["reported"] == "2023-04-05"
    assert "studentised" in kinds["ri_statistic"]["planned"] and "Rao 1948" in kinds["ri_statistic"]["reported"]
    assert kinds["variance"]["planned"].startswith("CR2") and kinds["variance"]["reported"].startswith("CR1")
    assert kinds["ri_p_value"]["planned"].startswith("equal-tailed") and kinds["ri_p_value"]["reported"].startswith("symmetric")
    assert any(d["item"] == "harm.index" for d in data["deviations"] if d["kind"] == "unregistered_change")
    assert data["analysis_plan"]["looks_recorded"] == 2
    assert "Registered plan and deviations" in html and "serious_youth_violence" in html
    assert data["analysis_plan"]["summary"].startswith(f"{len(data['deviations'])} deviation(s)")


def test_unregistered_trial_gets_a_draft_and_reports_say_when_not_audited(tmp_path, capsys):
    from guardian_rct.reports.deviations import unaudited

    path = write_trial(tmp_path, extra=EXTRA)
    code, out, _ = _cli(capsys, "plan", "--config", path, "--out", tmp_path / "draft")
    assert code == 0 and out.startswith("draft analysis plan")
    html = (tmp_path / "draft" / "analysis_plan.html").read_text()
    assert "DRAFT: not registered" in html and "run &#39;guardian-rct init&#39;" in html
    assert not (tmp_path / "trial.db").exists()  # writing a draft never creates the store
    code, out, err = _cli(capsys, "plan", "--config", path, "--verify", tmp_path / "draft" / "analysis_plan.json")
    assert code == 1 and "no sealed plan" in err
    # an unaudited report carries the same fields as an audited one (one JSON schema)
    audited_keys = {"audited", "reason", "sha256", "registered_at", "current_sha256", "version", "amendments",
                    "planned_looks", "looks_recorded", "first_look_at", "summary"}
    assert set(unaudited("no trial store").analysis_plan) == audited_keys


def test_a_package_upgrade_that_rewords_the_plan_is_not_a_deviation(registered, tmp_path, capsys,
                                                                     monkeypatch):
    """The sealed plan was written by one package version; a later version words the plan's
    prose differently. Only config changes are deviations, not the wording."""
    import guardian_rct.reports.plan as plan_module

    _simulated_inputs(registered, tmp_path)
    original = plan_module._selection
    monkeypatch.setattr(plan_module, "_selection", lambda spec: "reworded: " + original(spec))

    def evaluate(out):
        code, _, err = _cli(capsys, "evaluate", "--config", registered, "--crimes", tmp_path / "crimes.csv",
                            "--compliance", tmp_path / "compliance.csv", "--out", out, "--look-date", "2023-03-31")
        assert code == 0, err
        return json.loads((out / "milestone_report.json").read_text())

    assert evaluate(tmp_path / "a")["deviations"] == []
    # a real config change after the upgrade is still caught
    registered.write_text(registered.read_text().replace("[evaluation]", "[compliance]\ngps_tolerance_m = 10\n\n[evaluation]")
                          if "[compliance]" not in registered.read_text()
                          else registered.read_text().replace("[compliance]", "[compliance]\ngps_tolerance_m = 10", 1))
    changed = [d["item"] for d in evaluate(tmp_path / "b")["deviations"] if d["kind"] == "unregistered_change"]
    assert any("gps_tolerance" in item for item in changed), changed


def test_plan_of_a_simulated_trial_carries_the_banner_and_a_real_one_does_not(tmp_path):
    from guardian_rct.reports.plan_documents import PlanVersion, render_plan

    def documents(simulated: bool) -> tuple[str, str]:
        folder = tmp_path / ("sim" if simulated else "real")
        folder.mkdir()
        path = write_trial(folder, extra=EXTRA)
        if simulated:
            _set(path, "[trial]\n", "[trial]\nsimulated = true\n")
        plan = plan_for_config(load_config(path))
        version = PlanVersion(content=plan.to_dict(), version=0, status="draft")
        return render_plan(version, "html"), render_plan(version, "md")

    html, md = documents(True)
    assert 'id="simulated-banner"' in html and "SIMULATED TRIAL" in md
    html, md = documents(False)
    assert "simulated-banner" not in html.split("</style>")[1] and "SIMULATED" not in md


def test_a_plan_sealed_before_the_inference_fields_still_renders(tmp_path):
    """Sealed plans are re-rendered from the store: one sealed before ri_statistic/lead_rule renders."""
    from guardian_rct.reports.plan_documents import PlanVersion, render_plan

    content = plan_for_config(load_config(write_trial(tmp_path, extra=EXTRA))).to_dict()
    for key in ("ri_statistic", "lead_rule", "wild_bootstrap_draws"):
        del content["inference"][key]
    version = PlanVersion(content=content, version=0, status="draft")
    html, md = render_plan(version, "html"), render_plan(version, "md")
    assert "Randomisation statistic" not in html and "What the report leads with" not in md
    assert "Randomisation inference" in html and "Variance" in md
