"""CR2 + Satterthwaite against clubSandwich (stored by tests/reference/cr2_reference.R).

R 4.2.2, clubSandwich 0.5.8: ``glm(family = quasipoisson)`` with explicit hotspot and day
(or block and day) dummies, ``vcovCR(cluster = hotspot, type = "CR2")`` and
``coef_test(test = "Satterthwaite")``. The panels are the fixed 20-hotspot × 60-day CSVs
of tests/reference. ``harm_skewed`` multiplies three hotspots' harm by 40 so that a few
hotspots hold most of the harm (where the Satterthwaite df falls). Its R reference is
computed on harm in CCHI years (harm / 365): clubSandwich drops eigenvalues below an
absolute 1e-12, so with harm in days the round-off null eigenvalue of the hotspot-dummy
direction is kept and R's df changes with the unit of harm (1.13 in days, 3.21 in years;
``harm_skewed_days_r_artefact``). Ours uses a relative tolerance and is scale-invariant,
as CR2 and its df are (tested below).

Tolerance 1e-6 relative (the brief's): R's ``glm`` stops one IRLS step short of
convergence under ``epsilon = 1e-14`` (see test_estimate_reference.py), which moves its
SEs by about 1e-8.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from guardian_rct.estimation.itt import ipw_weights, poisson_fe, poisson_parallel

REF = Path(__file__).parent / "reference"
CROSS = pd.read_csv(REF / "crossover_panel.csv")
PARALLEL = pd.read_csv(REF / "parallel_panel.csv")
R = pd.read_csv(REF / "cr2_reference.csv").set_index("name")


def _skewed() -> pd.DataFrame:
    d = CROSS.copy()
    first3 = d["hotspot_id"].drop_duplicates().iloc[:3]
    d.loc[d["hotspot_id"].isin(first3), "harm_violence"] *= 40
    return d


CASES = {
    "count": lambda: poisson_fe(CROSS, "count_violence"),
    "harm": lambda: poisson_fe(CROSS, "harm_violence"),
    "count_ipw": lambda: poisson_fe(CROSS, "count_violence", weights=ipw_weights(CROSS)),
    "harm_skewed": lambda: poisson_fe(_skewed(), "harm_violence"),
    "parallel": lambda: poisson_parallel(PARALLEL, "count_violence"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cr2_satterthwaite_matches_clubsandwich(name):
    est = CASES[name]()
    ref = R.loc[name]
    assert est.se_type == "CR2"
    assert est.n_clusters == ref["n_clusters"]
    assert est.estimate == pytest.approx(ref["estimate"], rel=1e-9)
    assert est.std_error == pytest.approx(ref["cr2_se"], rel=1e-6)
    assert est.df == pytest.approx(ref["df"], rel=1e-6)
    assert est.p_value == pytest.approx(ref["p_value"], rel=1e-6)


@pytest.mark.parametrize("name", ["count", "harm"])
def test_cr1_stays_available_and_differs(name):
    col = "count_violence" if name == "count" else "harm_violence"
    est = poisson_fe(CROSS, col, se_type="CR1")
    assert est.se_type == "CR1" and est.df == est.n_clusters - 1
    assert est.std_error == pytest.approx(R.loc[name]["cr1_se"], rel=1e-6)
    assert est.std_error != pytest.approx(R.loc[name]["cr2_se"], rel=1e-3)


def test_skewed_harm_has_few_effective_df():
    # a few hotspots holding the harm: Satterthwaite df far below G - 1 = 19
    assert poisson_fe(_skewed(), "harm_violence").df < 0.5 * poisson_fe(CROSS, "harm_violence").df


def test_estimate_json_carries_se_type_clusters_and_df():
    d = poisson_fe(CROSS, "count_violence").to_dict()
    assert d["se_type"] == "CR2" and d["n_clusters"] == 20 and 1 < d["df"] < 19


def test_cr2_and_df_are_invariant_to_the_unit_of_harm():
    d = _skewed()
    base = poisson_fe(d, "harm_violence")
    d["harm_violence"] *= 1000.0
    scaled = poisson_fe(d, "harm_violence")
    assert scaled.std_error == pytest.approx(base.std_error, rel=1e-8)
    assert scaled.df == pytest.approx(base.df, rel=1e-8)
    # and R's unscaled df is the artefact, not ours
    assert base.df != pytest.approx(R.loc["harm_skewed_days_r_artefact"]["df"], rel=0.1)
