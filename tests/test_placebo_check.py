"""Fast placebo check on the shipped real-data extract (scripts/placebo_check.py).

Real West Midlands LSOA-month counts (data.police.uk, OGL v3.0) with a randomly assigned
fake treatment: the evaluation's Wald test should reject about 5% of the time. 100 placebo
trials give a binomial SE of about 0.022, so the bound 0.12 (about 3 SE above 5%) can fail
if the estimator's standard errors were too small. The full check (2,000 trials) is the
script itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "placebo_check.py"
EXTRACT = ROOT / "tests" / "data" / "wm_placebo_lsoa_months.csv"


@pytest.fixture(scope="module")
def placebo():
    spec = importlib.util.spec_from_file_location("placebo_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_excludes_the_partial_months(placebo):
    panel = placebo.load_panel(EXTRACT)
    assert panel["hotspot_id"].nunique() == 57 and panel["day_index"].nunique() == 29
    assert not set(placebo.PARTIAL_MONTHS) & set(panel["month"])
    assert (panel["count_all_crime"] >= panel["count_violence"]).all()


def test_placebo_false_positive_rate_is_near_five_percent(placebo, monkeypatch):
    import guardian_rct.estimation.itt as est
    import guardian_rct.estimation.randomisation as inf

    calls = {"fe": 0, "ri": 0}
    real_fe, real_ri = est.poisson_fe, inf.randomisation_test

    def spy_fe(*a, **k):
        calls["fe"] += 1
        return real_fe(*a, **k)

    def spy_ri(*a, **k):
        calls["ri"] += 1
        assert isinstance(a[2], placebo.CrossoverDesign)  # RI redraws the placebo design itself
        return real_ri(*a, **k)

    monkeypatch.setattr(est, "poisson_fe", spy_fe)
    monkeypatch.setattr(inf, "randomisation_test", spy_ri)
    panel = placebo.load_panel(EXTRACT)
    result = placebo.run_placebo(panel, trials=100, ri_trials=3, ri_draws=99, seed=7, progress=None)
    assert calls == {"fe": 200, "ri": 6}
    for outcome in ("violence", "all_crime"):
        wald = result["wald"][outcome]
        assert wald["trials"] == 100
        assert wald["rate"] <= 0.12, wald
        assert result["randomisation"][outcome]["trials"] == 3


def test_placebo_design_treats_28_each_month(placebo):
    panel = placebo.load_panel(EXTRACT)
    design = placebo.placebo_design(panel)
    draws = design.draw(np.random.default_rng(1), size=50)
    assert (draws.sum(axis=2) == 28).all()


def test_extract_matches_the_real_file_when_present(placebo):
    if not placebo.RAW.exists():
        pytest.skip("the shared West Midlands LSOA-month file is not on this machine")
    import pandas as pd

    pd.testing.assert_frame_equal(placebo.load_panel(placebo.RAW), placebo.load_panel(EXTRACT))
