"""Fast version of scripts/simulation_study.py: 60 small trials, loose bounds.

Bounds sit about 3 binomial standard errors from the nominal values (coverage 0.95,
rejection 0.05 with 60 trials), so a real miscalibration still fails.

The full study (500+ trials of 57 × 365) is run by the script, not by the test suite.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "simulation_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("simulation_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run(60, 60, 100, n_hotspots=30, n_days=90, treated=15, ri_ci_trials=10,
                      models=("poisson_fe", "negbin_fe"), seed=1)


def test_effect_recovered_and_intervals_cover(study):
    rows = {r["estimator"]: r for r in study["effect"]}
    pois = rows["poisson_fe"]
    # bias within 3 Monte Carlo standard errors (about 12% of the effect at this size)
    assert abs(pois["bias_pct_of_effect"]) < 3 * pois["mc_se_bias_pct"]
    assert pois["mc_se_bias_pct"] < 6
    assert 0.83 <= pois["coverage_95"] <= 1.0
    assert 0.83 <= rows["negbin_fe"]["coverage_95"] <= 1.0
    # the estimators target the diluted ITT ratio, not the effect of a delivered patrol
    assert math.exp(pois["mean_log_rr"]) == pytest.approx(study["setup"]["true_itt_rate_ratio"], abs=0.03)
    assert rows["randomisation test"]["coverage_95"] >= 0.7


def test_null_rejection_rates(study):
    rows = {r["estimator"]: r for r in study["null"]}
    assert rows["randomisation test"]["reject_5pct"] <= 0.13
    assert rows["poisson_fe"]["reject_5pct"] <= 0.13
