"""Estimators against values computed once with R (tests/reference/reference.R).

R 4.2.2: ``glm`` + ``sandwich::vcovCL(type = "HC1", cluster = hotspot)``, ``MASS::glm.nb``,
``estimatr::lm_robust`` / ``iv_robust`` (``se_type = "stata"``), all with explicit
hotspot and day dummies. The panels are fixed simulated CSVs (20 hotspots × 60 days).
Tolerances: 1e-6 relative for coefficients, 1e-4 relative for standard errors.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from guardian_rct.estimation.carryover import carryover
from guardian_rct.estimation.fixed_effects import encode, fit_glm_fe
from guardian_rct.estimation.itt import (
    diff_in_means,
    ipw_weights,
    negbin_fe,
    poisson_fe,
    poisson_parallel,
)
from guardian_rct.estimation.iv import cace

REF = Path(__file__).parent / "reference"
CROSS = pd.read_csv(REF / "crossover_panel.csv")
PARALLEL = pd.read_csv(REF / "parallel_panel.csv")
R = pd.read_csv(REF / "r_reference.csv").set_index("name")


def _carry(term):
    return lambda: next(e for e in carryover(CROSS, "count_violence") if e.term == term)


CASES = {
    "poisson_fe_count": lambda: poisson_fe(CROSS, "count_violence"),
    "poisson_fe_harm": lambda: poisson_fe(CROSS, "harm_violence"),
    "poisson_fe_count_ipw": lambda: poisson_fe(CROSS, "count_violence", weights=ipw_weights(CROSS)),
    "poisson_fe_week": lambda: poisson_fe(CROSS, "count_violence", week_fe=True),
    "poisson_parallel": lambda: poisson_parallel(PARALLEL, "count_violence"),
    "negbin_fe_count": lambda: negbin_fe(CROSS, "count_violence"),
    "diff_in_means_count": lambda: diff_in_means(CROSS, "count_violence"),
    "diff_in_means_count_ipw": lambda: diff_in_means(CROSS, "count_violence",
                                                     weights=ipw_weights(CROSS)),
    "iv_patrolled": lambda: cace(CROSS, "count_violence", endogenous="delivered"),
    "iv_dosage_minutes": lambda: cace(CROSS, "count_violence", endogenous="dosage_minutes"),
    "carryover_lag1": _carry("treated_lag1"),
    "carryover_since_2": _carry("since_2"),
    "carryover_since_3": _carry("since_3"),
    "carryover_since_4+": _carry("since_4+"),
}


def test_every_reference_value_is_checked():
    assert set(CASES) == set(R.index)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_r(name):
    est = CASES[name]()
    ref = R.loc[name]
    assert est.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert est.std_error == pytest.approx(ref["std_error"], rel=1e-4)
    assert est.p_value == pytest.approx(ref["p_value"], rel=1e-4, abs=1e-8)
    assert est.n_clusters == 20


def test_negbin_theta_matches_glm_nb():
    fe = [encode(CROSS["hotspot_id"].to_numpy()), encode(CROSS["day_index"].to_numpy())]
    fit = fit_glm_fe(CROSS["count_violence"].to_numpy(float), CROSS[["treated"]].to_numpy(float),
                     fe, family="negbin")
    assert fit.theta == pytest.approx(R.loc["negbin_fe_count", "extra"], rel=1e-6)
    est = negbin_fe(CROSS, "count_violence")
    assert est.nb_theta == fit.theta and est.to_dict()["nb_theta"] == fit.theta
    assert poisson_fe(CROSS, "count_violence").nb_theta is None
    assert "theta" not in est.details  # prose only: θ is a field
