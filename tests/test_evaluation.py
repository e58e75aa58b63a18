"""Orchestration of the milestone evaluation, with the other branches' modules faked.

The fakes have exactly the signatures listed in ``evaluation.ASSUMED_CALLS`` (keyword-only
arguments where the call passes keywords), so this test documents and checks the wiring;
after the merge the same checks run against the real modules by removing the fakes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import types

import numpy as np
import pandas as pd
import pytest

import guardian_rct
from conftest import write_trial
from guardian_rct.cli import main
from guardian_rct.config import load_config
from guardian_rct.errors import DataError
from guardian_rct.estimate_types import Estimate
from guardian_rct.evaluation import (
    ASSUMED_CALLS,
    check_allocation_matches,
    check_panel_usable,
    evaluate,
    read_compliance_csv,
)
from guardian_rct.quarantine import quarantine_rows

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


class Calls(list):
    pass


@pytest.fixture
def fakes(monkeypatch):
    """Install fake crimes/panel/estimate/design/inference/iv/compliance modules."""
    calls = Calls()
    zero = {"outcome": None}

    def read_crimes(path, *, config, hotspots):
        calls.append(("read_crimes", path))
        bad = pd.DataFrame({"crime_id": ["c1", "c2"]})
        q = quarantine_rows(bad, "missing coordinates", source=path, source_row=pd.Series([3, 7]))
        return types.SimpleNamespace(frame=pd.DataFrame(), quarantine=q)

    def build_panel(config, *, hotspots, allocation, crimes, compliance):
        calls.append(("build_panel", compliance is not None))
        days, matrix = allocation.assignment_matrix(list(hotspots.ids))
        rng = np.random.default_rng(11)
        rows = []
        for i, d in enumerate(days):
            for j, h in enumerate(hotspots.ids):
                t = int(matrix[i, j])
                row = {"hotspot_id": h, "block": "A", "date": pd.Timestamp(d), "day_index": i,
                       "dow": d.weekday(), "arm": "treatment" if t else "control", "treated": t,
                       "p_treated": 0.5, "window_start": pd.NaT}
                for o in config.evaluation.outcomes:
                    c = 0 if o == zero["outcome"] else int(rng.poisson(0.8 if t else 1.0))
                    row |= {f"count_{o}": c, f"harm_{o}": 10.0 * c, f"baseline_count_{o}": 100.0 + j,
                            f"baseline_harm_{o}": 1000.0 + j}
                if compliance is not None:
                    row |= {"delivered": t, "dosage_minutes": 15.0 * t, "contaminated": 0}
                rows.append(row)
        frame = pd.DataFrame(rows)
        rings = []
        for ring in ("0-100", "100-200"):
            part = frame[["hotspot_id", "date"]].copy()
            part["ring"] = ring
            for o in config.evaluation.outcomes:
                part[f"count_{o}"] = 0 if o == zero["outcome"] else rng.poisson(0.3, len(part))
                part[f"harm_{o}"] = part[f"count_{o}"] * 5.0
            rings.append(part)
        return types.SimpleNamespace(frame=frame, rings=pd.concat(rings, ignore_index=True),
                                     outcomes=tuple(config.evaluation.outcomes))

    def itt_estimates(panel, outcome, *, alpha):
        calls.append(("itt_estimates", outcome, alpha))
        n = len(panel.frame)
        if panel.frame[f"count_{outcome}"].sum() == 0:
            nan = float("nan")
            return [Estimate(outcome, "ITT", "poisson_fe", nan, nan, nan, nan, nan, None, None, n, 6)]
        return [Estimate(outcome, "ITT", "poisson_fe", -0.2, 0.1, -0.396, -0.004, 0.045, None,
                         float(np.exp(-0.2)), n, 6)]

    def cace(panel, outcome, *, alpha):
        calls.append(("cace", outcome))
        return Estimate(outcome, "CACE", "iv_poisson", -0.25, 0.12, -0.49, -0.01, 0.04, None,
                        float(np.exp(-0.25)), len(panel.frame), 6)

    def design_from_config(config, hotspots):
        calls.append(("design_from_config",))
        return types.SimpleNamespace(kind="crossover")

    def randomisation_test(panel_frame, outcome_column, design, *, draws, rng, alpha):
        calls.append(("randomisation_test", outcome_column, draws))
        assert isinstance(rng, np.random.Generator)
        return types.SimpleNamespace(p_value=0.03, mc_error=0.012, ci=(0.01, 0.07), draws=draws)

    def hotspot_day_compliance(config, hotspots, allocation, pings_path):
        calls.append(("hotspot_day_compliance", pings_path))
        return pd.DataFrame(columns=["date", "hotspot_id", "delivered", "dosage_minutes", "contaminated"])

    modules = {
        "crimes": {"read_crimes": read_crimes},
        "panel": {"build_panel": build_panel},
        "estimate": {"itt_estimates": itt_estimates},
        "iv": {"cace": cace},
        "design": {"design_from_config": design_from_config},
        "inference": {"randomisation_test": randomisation_test},
        "compliance": {"hotspot_day_compliance": hotspot_day_compliance},
    }
    # Import every CLI verb module first, so none binds a fake at import time.
    from guardian_rct.cli import build_parser

    build_parser()
    for name, attrs in modules.items():
        module = types.ModuleType(f"guardian_rct.{name}")
        for k, v in attrs.items():
            setattr(module, k, v)
        monkeypatch.setitem(sys.modules, f"guardian_rct.{name}", module)
        # the package attribute too, so that real modules imported later are not shadowed
        monkeypatch.setattr(guardian_rct, name, module, raising=False)
    calls.zero = zero
    return calls


@pytest.fixture
def trial(tmp_path):
    config_path = write_trial(tmp_path, extra=EXTRA)
    crimes = tmp_path / "crimes.csv"
    crimes.write_text("crime_id,offence_code,occurred_at,x,y\n", encoding="utf-8")
    return tmp_path, config_path, crimes


def test_assumed_calls_are_documented():
    names = " ".join(ASSUMED_CALLS)
    for fn in ("published_allocation", "read_crimes", "build_panel", "design_from_config", "itt_estimates",
               "randomisation_test", "cace", "hotspot_day_compliance"):
        assert fn in names


def test_evaluate_with_imported_allocation_and_compliance(trial, fakes):
    tmp, config_path, crimes = trial
    allocation_frame().to_csv(tmp / "alloc.csv", index=False)
    comp = pd.DataFrame({"date": ["2023-03-20"], "hotspot_id": ["H01"], "delivered": ["1"],
                         "dosage_minutes": ["12.5"], "contaminated": [""]})
    comp.to_csv(tmp / "compliance.csv", index=False)
    result = evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                      compliance=tmp / "compliance.csv", out_dir=tmp / "out", figures=False)
    data = json.loads(result.paths["json"].read_text(encoding="utf-8"))
    assert [e["estimand"] for e in data["estimates"]] == ["ITT", "ITT", "CACE", "CACE"]
    assert data["estimates"][0]["ri_p_value"] == pytest.approx(0.03)  # filled from the RI result
    assert ("randomisation_test", "count_violence", 200) in fakes
    assert {"allocation", "compliance", "crimes", "config", "hotspots"} <= set(data["provenance"]["inputs"])
    assert any("missing coordinates" in n for n in data["notes"])
    assert data["flow"]["assigned"] == 6 * 22 and data["flow"]["checks"]
    assert data["sequential"]["look_dates"] == ["2023-03-31", "2023-04-10"]
    assert result.paths["html"].exists()


def test_outcome_with_no_events_is_reported_not_estimable(trial, fakes):
    tmp, config_path, crimes = trial
    fakes.zero["outcome"] = "violence"
    allocation_frame().to_csv(tmp / "alloc.csv", index=False)
    result = evaluate(load_config(config_path), crimes_path=crimes, allocation=tmp / "alloc.csv",
                      out_dir=tmp / "out", figures=False)
    html = result.paths["html"].read_text(encoding="utf-8")
    assert "no events: not estimable" in html and "NaN" not in html and "nan" not in html.lower().split()
    assert ("randomisation_test", "count_violence", 200) not in fakes
    assert not any(c[0] == "cace" for c in fakes)  # no compliance given


def test_cli_bad_allocation_hotspot_is_one_line_error(trial, fakes, capsys):
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
def test_bad_allocations_and_panels(trial, fakes, kwargs, message):
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
    from guardian_rct.allocation import allocation_from_frame

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
    from guardian_rct.config import config_from_dict
    from guardian_rct.evaluation import report_from_panel
    from guardian_rct.provenance import make_provenance

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
