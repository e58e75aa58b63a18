"""Holm against statsmodels; O'Brien–Fleming boundaries against published values and simulation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from guardian_rct._core.errors import ConfigError
from guardian_rct.estimation.multiplicity import (
    holm_adjust,
    information_fractions,
    obf_boundaries,
    obf_spending,
)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=rng.integers(1, 9))
    p[0] = p[-1]  # a tie
    ours = holm_adjust(p)
    reject, theirs, _, _ = multipletests(p, alpha=0.05, method="holm")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours <= 0.05, reject)


def test_holm_edge_cases():
    assert holm_adjust([]).size == 0
    assert holm_adjust([0.3]).tolist() == [0.3]
    np.testing.assert_allclose(holm_adjust([0.6, 0.01]), [0.6, 0.02])
    with pytest.raises(ValueError):
        holm_adjust([0.1, float("nan")])


# Published: gsDesign sfLDOF / Jennison & Turnbull (2000), one-sided 0.025 = two-sided 0.05.
PUBLISHED = [
    ([0.5, 1.0], [2.963, 1.969]),
    ([1 / 3, 2 / 3, 1.0], [3.710, 2.511, 1.993]),
    ([0.25, 0.5, 0.75, 1.0], [4.333, 2.963, 2.359, 2.014]),
    ([0.2, 0.4, 0.6, 0.8, 1.0], [4.877, 3.357, 2.680, 2.290, 2.031]),
]


@pytest.mark.parametrize("fractions, expected", PUBLISHED)
def test_obf_boundaries_match_published(fractions, expected):
    two = obf_boundaries(fractions, 0.05, sides=2)
    one = obf_boundaries(fractions, 0.025, sides=1)
    np.testing.assert_allclose(two.z_boundaries, expected, atol=6e-4)
    np.testing.assert_allclose(one.z_boundaries, expected, atol=6e-4)
    assert two.cumulative_alpha[-1] == pytest.approx(0.05)


def test_single_look_is_fixed_sample_test():
    b = obf_boundaries([1.0], 0.05)
    assert b.z_boundaries[0] == pytest.approx(1.959964, abs=1e-5)
    assert b.nominal_p[0] == pytest.approx(0.05)


def test_spending_function_shape():
    t = np.array([0.1, 0.5, 1.0])
    spent = obf_spending(t, 0.05)
    assert np.all(np.diff(spent) > 0) and spent[-1] == pytest.approx(0.05)
    assert obf_spending(0.0, 0.05) == 0.0


def test_boundaries_control_type_one_error_by_simulation():
    """Simulate Brownian motion at the looks under H0: crossing rate ≈ alpha, per look ≈ spend."""
    rng = np.random.default_rng(20231)
    t = np.array([0.3, 0.65, 1.0])
    b = obf_boundaries(t, 0.05)
    n = 400_000
    increments = rng.standard_normal((n, t.size)) * np.sqrt(np.diff(np.concatenate([[0], t])))
    z = np.cumsum(increments, axis=1) / np.sqrt(t)
    crossed = np.abs(z) >= np.asarray(b.z_boundaries)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    rate = np.mean(first >= 0)
    mc_se = np.sqrt(0.05 * 0.95 / n)
    assert abs(rate - 0.05) < 4 * mc_se
    per_look = np.array([np.mean(first == j) for j in range(t.size)])
    spent = np.diff(np.concatenate([[0], b.cumulative_alpha]))
    np.testing.assert_allclose(per_look, spent, atol=4 * np.sqrt(0.05 / n) + 2e-4)


def test_bad_fractions_are_config_errors():
    with pytest.raises(ConfigError, match="strictly increasing"):
        obf_boundaries([0.6, 0.5])
    with pytest.raises(ConfigError):
        obf_boundaries([0.0, 1.0])


def test_information_fractions_from_dates():
    start, end = dt.date(2023, 1, 1), dt.date(2023, 1, 10)
    assert information_fractions(start, end, [dt.date(2023, 1, 5), end]) == [0.5, 1.0]


def test_very_early_look_spends_nothing_and_serialises():
    b = obf_boundaries([1 / 365, 0.5, 1.0])
    assert np.isinf(b.z_boundaries[0]) and b.nominal_p[0] == 0.0
    np.testing.assert_allclose(b.z_boundaries[1:], obf_boundaries([0.5, 1.0]).z_boundaries, atol=1e-6)
    looks = b.to_dict()["looks"]
    assert looks[0]["z_boundary"] is None
    import json
    json.dumps(b.to_dict(), allow_nan=False)


def test_event_information_fractions():
    from guardian_rct.estimation.multiplicity import (
        event_information_fractions,
        expected_remaining_events,
    )

    assert expected_remaining_events(730.0, 365, 60) == 120.0  # 2 a day for 60 days
    # a quiet first half: 40 events observed, 100 still expected -> less information than calendar 0.5
    assert event_information_fractions([40.0, 210.0], [100.0, 0.0]) == pytest.approx([40 / 140, 1.0])
    # a busy start never reaches 1 before the end, and fractions stay strictly increasing
    f = event_information_fractions([300.0, 290.0, 500.0], [10.0, 50.0, 0.0])
    assert f[0] < 1 and f[0] < f[1] < f[2] == 1.0
    with pytest.raises(ConfigError):
        event_information_fractions([0.0], [0.0])


def test_holm_family_is_outcomes_times_count_and_harm():
    from guardian_rct.estimation.results import Estimate
    from guardian_rct.reports.milestone_tables import holm_family

    def est(outcome, p):
        return Estimate(outcome, "ITT", "poisson_fe", -0.1, 0.05, -0.2, 0.0, p, None, 0.9, 100, 10)

    estimates = [est("a", 0.01), est("a_harm", 0.04), est("b", 0.03), est("b_harm", 0.5),
                 Estimate("a", "CACE (patrol delivered)", "iv_2sls_fe", -0.1, 0.05, -0.2, 0.0, 0.001, None, None, 100, 10)]
    family, sources, summary = holm_family(estimates, ["a", "b"], set(), 0.05)
    assert summary["family_size"] == 4
    assert [f["outcome"] for f in summary["family"]] == ["a", "a_harm", "b", "b_harm"]
    np.testing.assert_allclose([f["p_holm"] for f in summary["family"]], holm_adjust([0.01, 0.04, 0.03, 0.5]))
    assert 4 not in family  # the CACE never enters
    # an outcome with no events leaves its count and harm in the family, untested (p = 1)
    _, _, summary = holm_family(estimates, ["a", "b"], {"b"}, 0.05)
    assert [f["p_source"] for f in summary["family"]][2:] == ["not tested", "not tested"]


def test_holm_family_uses_the_p_value_the_report_leads_with():
    """RI p where the diagnosis distrusts the Wald test, the model p where it trusts it (issue 12)."""
    from guardian_rct.estimation.results import Estimate
    from guardian_rct.reports.milestone_tables import holm_family

    def est(outcome, p, ri):
        return Estimate(outcome, "ITT", "poisson_fe", -0.1, 0.05, -0.2, 0.0, p, ri, 0.9, 100, 10)

    estimates = [est("a", 0.01, 0.20), est("a_harm", 0.04, 0.30)]
    _, sources, summary = holm_family(estimates, ["a"], set(), 0.05,
                                      wald_trusted={"a": True, "a_harm": False})
    assert [f["p_source"] for f in summary["family"]] == ["p_value", "ri_p_value"]
    assert [f["p_raw"] for f in summary["family"]] == [0.01, 0.30]
    np.testing.assert_allclose([f["p_holm"] for f in summary["family"]], holm_adjust([0.01, 0.30]))
    # no diagnosis made: the model p-value leads, as in the monitoring decision
    _, _, summary = holm_family(estimates, ["a"], set(), 0.05)
    assert [f["p_source"] for f in summary["family"]] == ["p_value", "p_value"]
