"""Orchestration of the milestone evaluation, end to end on small hand-made trials."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.errors import DataError, GuardianError
from guardian_rct.cli import main
from guardian_rct.compliance.hotspot_day_csv import read_compliance_csv
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.milestone import evaluate
from guardian_rct.jobs.milestone_inputs import check_allocation_matches, check_panel_usable

IDS = [f"H{i:02d}" for i in range(1, 7)]
START, END = dt.date(2023, 3, 20), dt.date(2023, 4, 10)
EXTRA = """
[evaluation]
outcomes = ["all_crime", "violence"]
ri_draws = 200
milestones = [2023-03-31]
"""


def allocation_frame(*, all_control=False, drop=None, extra_row=None) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    day = START
    while day <= END:
        treated = set() if all_control else set(rng.choice(IDS, 3, replace=False))
        for h in IDS:
            if drop == (day, h):
                continue
            if h in treated:
                rows.append({"date": day.isoformat(), "hotspot_id": h, "arm": "treatment",
                             "window_start": f"{day}T15:00:00+00:00", "window_end": f"{day}T23:00:00+00:00"})
            else:
                rows.append({"date": day.isoformat(), "hotspot_id": h, "arm": "control",
                             "window_start": "", "window_end": ""})
        day += dt.timedelta(days=1)
    if extra_row:
        rows.append(extra_row)
    return pd.DataFrame(rows)


def write_crimes(path, *, violence: bool = True, seed: int = 11) -> None:
    """Crimes inside the fixture's hotspots (200 m squares), some violent, one unusable row."""
    rng = np.random.default_rng(seed)
    rows, n = [], 0
    day = START - dt.timedelta(days=30)  # a short pre-trial baseline too
    while day <= END:
        for i in range(len(IDS)):
            x0, y0 = 406000 + 500 * (i % 3), 286000 + 1000 * (i // 3)
            for _ in range(rng.poisson(1.2)):
                code = "008/06" if violence and rng.random() < 0.4 else "Shoplifting"
                n += 1
                rows.append({"crime_id": f"C{n}", "offence_code": code,
                             "occurred_at": f"{day}T{rng.integers(8, 22):02d}:30:00+00:00",
                             "x": x0 + rng.uniform(10, 190), "y": y0 + rng.uniform(10, 190), "victim_age": 20})
        day += dt.timedelta(days=1)
    rows.append({"crime_id": "Cbad", "offence_code": "008/06", "occurred_at": f"{START}T12:00:00+00:00",
                 "x": "", "y": "", "victim_age": 30})
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture
def trial(tmp_path):
    config_path = write_trial(tmp_path, extra=EXTRA)
    crimes = tmp_path / "crimes.csv"
    write_crimes(crimes)
    return tmp_path, config_path, crimes


ALLOC_DESIGN = '[design]\nkind = "crossover"\ntreated_per_day = 3\nwindows = ["15:00-23:00"]\n'


def _alloc_design(tmp):
    """The design allocation_frame() draws from (3 of 6 hotspots a day), declared with it."""
    path = tmp / "alloc_design.toml"
    path.write_text(ALLOC_DESIGN, encoding="utf-8")
    return path


def test_evaluate_with_imported_allocation_and_compliance(trial):
    tmp, config_path, crimes = trial
    alloc = allocation_frame()
    alloc.to_csv(tmp / "alloc.csv", index=False)
    rng = np.random.default_rng(2)
    treated = (alloc["arm"] == "treatment").to_numpy()
    delivered = treated & (rng.random(len(alloc)) < 0.8)
    comp = pd.DataFrame({"date": alloc["date"], "hotspot_id": alloc["hotspot_id"],
                         "delivered": delivered.astype(int), "dosage_minutes": np.where(delivered, 15.0, 0.0),
                         "contaminated": 0})
    comp.to_csv(tmp / "compliance.csv", index=False)
    result = evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                      compliance=tmp / "compliance.csv", out_dir=tmp / "out", figures=False,
                      design_config=_alloc_design(tmp))
    data = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    estimands = {(e["outcome"], e["estimand"], e["model"]) for e in data["estimates"]}
    assert {("violence", "ITT", "poisson_fe"), ("violence_harm", "ITT", "poisson_fe"),
            ("all_crime", "ITT", "negbin_fe")} <= estimands
    assert any(e[1].startswith("CACE") for e in estimands)
    # every headline number has a randomisation p-value: ITT count and harm, and the CACE
    ri = {r["outcome"]: r["p_value"] for r in data["randomisation_inference"]}
    assert {"violence", "violence_harm", "all_crime", "all_crime_harm"} <= set(ri)
    for e in data["estimates"]:
        if e["estimand"].startswith("CACE"):
            assert e["ri_p_value"] == ri[e["outcome"]] and any("Imbens & Rosenbaum" in n for n in e["notes"])
    primary_wild = [e for e in data["estimates"] if e["model"] == "poisson_fe" and e["wild_p_value"] is not None]
    assert {e["outcome"] for e in primary_wild} == {"violence", "violence_harm", "all_crime", "all_crime_harm"}
    assert all(e["se_type"] == "CR2" and 0 < e["df"] <= 5 for e in primary_wild)  # 6 hotspots
    primary = next(e for e in data["estimates"] if e["outcome"] == "violence" and e["model"] == "poisson_fe")
    # PPML drops days whose fixed-effect group is all zeros (as ppmlhdfe and glm do: no information)
    assert 0 < primary["ri_p_value"] <= 1 and 100 < primary["n_obs"] <= 6 * 22 and primary["n_clusters"] == 6
    assert set(data["randomisation_inference"][0]) >= {"outcome", "p_value"}
    assert {"allocation", "compliance", "crimes", "config", "hotspots"} <= set(data["provenance"]["inputs"])
    assert any("missing coordinates" in n for n in data["notes"])
    assert data["flow"]["assigned"] == 6 * 22 and data["flow"]["checks"]
    assert data["sequential"]["look_dates"] == ["2023-03-31", "2023-04-10"]
    assert result.paths["html"].exists()


def test_outcome_with_no_events_is_reported_not_estimable(trial):
    tmp, config_path, crimes = trial
    write_crimes(crimes, violence=False)
    allocation_frame().to_csv(tmp / "alloc.csv", index=False)
    result = evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                      out_dir=tmp / "out", figures=False, design_config=_alloc_design(tmp))
    html = result.paths["html"].read_text(encoding="utf-8")
    assert "no events: not estimable" in html and "NaN" not in html and "nan" not in html.lower().split()
    data = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    assert [r["outcome"] for r in data["randomisation_inference"]] == ["all_crime", "all_crime_harm"]
    assert not any(e["estimand"].startswith("CACE") for e in data["estimates"])  # no compliance given


def test_imported_allocation_without_its_design_refuses_randomisation_inference(trial):
    tmp, config_path, crimes = trial
    allocation_frame().to_csv(tmp / "alloc.csv", index=False)
    result = evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                      out_dir=tmp / "out", figures=False, ri_draws=50)
    data = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    assert data["randomisation_inference"] == []
    assert data["diagnosis"]["randomisation_refused"].startswith("Randomisation inference was not run")
    assert "design would test the wrong null" in \
        result.paths["html"].read_text(encoding="utf-8")


def test_imported_allocation_with_a_permutation_matrix(trial):
    tmp, config_path, crimes = trial
    alloc = allocation_frame()
    alloc.to_csv(tmp / "alloc.csv", index=False)
    config = load_config(config_path)
    n_days = (config.trial.end_date - config.trial.start_date).days + 1
    observed = (alloc.pivot(index="date", columns="hotspot_id", values="arm")[IDS] == "treatment").to_numpy()
    rng = np.random.default_rng(9)
    others = np.zeros((199, n_days, len(IDS)), dtype=bool)
    for a in others:  # 3 of 6 a day, as the tool that made the allocation
        for d in range(n_days):
            a[d, rng.choice(len(IDS), 3, replace=False)] = True
    matrix = np.concatenate([others, np.zeros((1, n_days, len(IDS)), dtype=bool)])
    matrix[-1, :observed.shape[0]] = observed
    np.save(tmp / "perms.npy", matrix)
    result = evaluate(config, crimes_path=crimes, allocation=tmp / "alloc.csv", out_dir=tmp / "out",
                      figures=False, ri_draws=100, permutations=tmp / "perms.npy")
    data = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    assert {r["outcome"] for r in data["randomisation_inference"]} == {"violence", "violence_harm",
                                                                       "all_crime", "all_crime_harm"}
    assert data["diagnosis"]["design"]["method"].startswith("exact (distinct allocations")
    # a matrix that does not contain the observed allocation is refused
    np.save(tmp / "wrong.npy", others)
    with pytest.raises(GuardianError, match="not one of the permutation matrix"):
        evaluate(config, crimes_path=crimes, allocation=tmp / "alloc.csv", out_dir=tmp / "out2",
                 figures=False, ri_draws=10, permutations=tmp / "wrong.npy")


def test_cli_bad_allocation_hotspot_is_one_line_error(trial, capsys):
    tmp, config_path, crimes = trial
    allocation_frame(extra_row={"date": "2023-03-20", "hotspot_id": "H99", "arm": "control",
                                "window_start": "", "window_end": ""}).to_csv(tmp / "alloc.csv", index=False)
    code = main(["evaluate", "--config", str(config_path), "--crimes", str(crimes), "--allocation",
                 str(tmp / "alloc.csv"), "--out", str(tmp / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "H99" in err and "not in the trial's hotspot file" in err and "Traceback" not in err


@pytest.mark.parametrize("kwargs, message", [
    ({"extra_row": {"date": "2023-05-01", "hotspot_id": "H01", "arm": "control", "window_start": "",
                    "window_end": ""}}, "dates outside the evaluated period"),
    ({"drop": (dt.date(2023, 3, 25), "H04")}, "first H04 on 2023-03-25"),
    ({"all_control": True}, "no treated hotspot-days"),
])
def test_bad_allocations_and_panels(trial, kwargs, message):
    tmp, config_path, crimes = trial
    allocation_frame(**kwargs).to_csv(tmp / "alloc.csv", index=False)
    with pytest.raises(DataError, match=message):
        evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                 out_dir=tmp / "out", figures=False)


def test_cli_rejects_pings_and_compliance_together(trial, capsys):
    tmp, config_path, crimes = trial
    code = main(["evaluate", "--config", str(config_path), "--crimes", str(crimes), "--pings", "p.csv",
                 "--compliance", "c.csv", "--out", str(tmp / "out")])
    assert code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_check_allocation_hotspot_never_present(trial):
    from guardian_rct.design.allocation import allocation_from_frame

    frame = allocation_frame()
    frame = frame[frame["hotspot_id"] != "H06"]
    alloc = allocation_from_frame(frame)
    with pytest.raises(DataError, match="'H06' never appears"):
        check_allocation_matches(alloc, IDS, START, END)


def test_check_panel_usable_messages():
    frame = pd.DataFrame({"treated": [1, 1], "count_all_crime": [0, 1]})
    with pytest.raises(DataError, match="no control hotspot-days"):
        check_panel_usable(frame, ["all_crime"])
    with pytest.raises(DataError, match="no counts for outcome 'violence'"):
        check_panel_usable(frame, ["violence"])


def test_read_compliance_csv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("date,hotspot_id,delivered,dosage_minutes,contaminated\n"
                    "2023-03-20,H01,1,15,\n2023-03-20,H02,,,0\n", encoding="utf-8")
    frame = read_compliance_csv(path, IDS)
    assert frame["delivered"].tolist()[0] == 1.0 and np.isnan(frame["delivered"].tolist()[1])
    path.write_text("date,hotspot_id,delivered,dosage_minutes,contaminated\n"
                    "2023-03-20,H01,yes,15,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1, column 'delivered'"):
        read_compliance_csv(path, IDS)
    path.write_text("date,hotspot_id,delivered,dosage_minutes,contaminated\n"
                    "2023-03-20,H01,1,-5,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="dosage_minutes"):
        read_compliance_csv(path, IDS)
    path.write_text("date,hotspot_id,delivered\n2023-03-20,H01,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column"):
        read_compliance_csv(path, IDS)


def test_report_from_panel_parallel_design_uses_before_after_form(tmp_path):
    from evaluation_fixtures import OUTCOMES, synthetic_estimates, synthetic_panel
    from guardian_rct._core.provenance import make_provenance
    from guardian_rct.config.trial_config import config_from_dict
    from guardian_rct.jobs.milestone import report_from_panel

    config = config_from_dict({
        "trial": {"name": "Parallel", "start_date": dt.date(2023, 3, 20), "end_date": dt.date(2023, 4, 16),
                  "seed": 1},
        "hotspots": {"path": "h.geojson"},
        "design": {"kind": "parallel", "n_treated": 3},
        "evaluation": {"outcomes": list(OUTCOMES), "baseline_days": 365},
    })
    panel, rings = synthetic_panel(parallel=True)
    report, paths = report_from_panel(config, (panel, rings), synthetic_estimates(), {}, out_dir=tmp_path,
                                      provenance=make_provenance(seed=1), figures=False)
    data = report.to_dict()
    assert {d["form"] for d in data["displacement"]} == {"before_after"}
    assert data["displacement"][0]["estimates"][0]["quantities"]["D_before"] is not None
    assert data["randomisation_inference"] == []
    assert "model-based p-values" in data["abstract"]["methods"]
    json.dumps(data, allow_nan=False)
