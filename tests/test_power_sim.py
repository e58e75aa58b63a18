"""Simulated power (power_sim) against the closed form, its MDE, inputs and bad input."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import write_trial
from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.design.crossover import CrossoverDesign
from guardian_rct.ledger.store import load_trial_hotspots
from guardian_rct.simulation.power_analytic import poisson_power
from guardian_rct.simulation.power_inputs import (
    BaselineRates,
    baseline_rates_from_crimes,
    constant_rates,
)
from guardian_rct.simulation.power_sim import check_grid, power_analysis, simulate_power


def _complete_design(n_hot: int, n_days: int, treated: int) -> CrossoverDesign:
    ids = tuple(f"H{i:02d}" for i in range(n_hot))
    days = tuple(dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(n_days))
    return CrossoverDesign(hotspot_ids=ids, blocks=("all",) * n_hot, days=days,
                           treated_per_block=(("all", treated),))


def test_simulated_power_agrees_with_the_closed_form_for_complete_randomisation():
    """Equal Poisson rates, full compliance: the FE Poisson test's power is the two-rate Wald power.

    The estimator tests with t(G-1), so the closed form is evaluated at the level whose
    normal critical value equals t_{0.975, G-1}; the bound is 3.5 binomial Monte Carlo
    standard errors from the number of simulations.
    """
    n_hot, n_days, treated, rate, sims = 40, 30, 20, 0.5, 300
    design = _complete_design(n_hot, n_days, treated)
    rates = BaselineRates(design.hotspot_ids, np.full(n_hot, rate), None, "--rate")
    result = simulate_power(design, rates, effects=[0.85, 1.0], days=[n_days], compliance=1.0, sims=sims,
                            overdispersion=0.0, rng=np.random.default_rng(5))
    alpha_t = 2 * stats.norm.sf(stats.t.ppf(0.975, n_hot - 1))
    n_t = n_days * treated
    for row in result.grid.itertuples():
        closed = poisson_power(rate, n_t, n_days * n_hot - n_t, row.effect, alpha=alpha_t)
        bound = 3.5 * math.sqrt(closed * (1 - closed) / sims)
        assert abs(row.power - closed) < bound, (row.effect, row.power, closed, bound)
        assert row.mc_se == pytest.approx(math.sqrt(row.power * (1 - row.power) / sims))
    assert "30 days: 0." in result.summary() and "no reduction" in result.summary()
    null = result.grid[result.grid["effect"] == 1.0].iloc[0]
    assert null["label"] == "no reduction" and null["itt_rate_ratio"] == 1.0
    # the clustered SE is on average the sampling SD of the estimate
    eff = result.grid[result.grid["effect"] == 0.85].iloc[0]
    assert eff["mean_se"] == pytest.approx(eff["sd_estimate"], rel=0.15)
    assert abs(eff["mean_estimate"] - math.log(0.85)) < 4 * eff["sd_estimate"] / math.sqrt(sims)


def test_compliance_dilutes_the_effect_and_the_mde_is_consistent():
    design = _complete_design(20, 60, 10)
    rates = BaselineRates(design.hotspot_ids, np.linspace(0.2, 0.8, 20), None, "test")
    result = simulate_power(design, rates, effects=[0.6, 0.8], days=[30, 60], compliance=0.5, sims=60,
                            overdispersion=0.3, rng=np.random.default_rng(9))
    g = result.grid
    assert np.allclose(g["itt_rate_ratio"], 1 - 0.5 * (1 - g["effect"]))
    # the simulated ITT estimate centres on log(1 - c(1 - RR))
    for row in g.itertuples():
        assert abs(row.mean_estimate - math.log(row.itt_rate_ratio)) < 4 * row.sd_estimate / math.sqrt(60)
    q = stats.t.ppf(0.975, 19) + stats.norm.ppf(0.8)
    for row in result.mde.itertuples():
        sub = g[g["days"] == row.days].sort_values("itt_rate_ratio")
        se = math.exp(np.interp(math.log(row.mde_itt), np.log(sub["itt_rate_ratio"]), np.log(sub["mean_se"])))
        assert -math.log(row.mde_itt) == pytest.approx(q * se, rel=1e-6)
        if math.isfinite(row.mde_patrol):
            assert row.mde_patrol == pytest.approx(1 - (1 - row.mde_itt) / 0.5)
    # a longer trial detects a smaller effect
    assert result.mde["mde_itt"].iloc[1] > result.mde["mde_itt"].iloc[0]


def _crimes_csv(path, rows):
    pd.DataFrame(rows, columns=["crime_id", "offence_code", "occurred_at", "x", "y"]).to_csv(path, index=False)


def test_rates_from_a_crimes_file_count_each_hotspot_over_the_period(tmp_path):
    config = load_config(write_trial(tmp_path))
    hotspots = load_trial_hotspots(config)
    rows = []
    # 10 days of data (noon local = same experimental day); H01 at (406100, 286100)
    for d in range(10):
        day = (dt.date(2023, 1, 1) + dt.timedelta(days=d)).isoformat()
        rows.append((f"a{d}", "Robbery", f"{day}T12:00:00Z", 406100, 286100))
        if d % 2 == 0:
            rows.append((f"b{d}", "Burglary", f"{day}T12:00:00Z", 406600, 286100))  # H02
        rows.append((f"c{d}", "Robbery", f"{day}T12:00:00Z", 300000, 200000))  # outside every hotspot
    _crimes_csv(tmp_path / "crimes.csv", rows)
    rates = baseline_rates_from_crimes(tmp_path / "crimes.csv", config, hotspots, outcome="all_crime")
    assert rates.period_days == 10 and rates.crimes_in_hotspots == 15
    got = dict(zip(rates.hotspot_ids, rates.rates, strict=True))
    assert got["H01"] == pytest.approx(1.0) and got["H02"] == pytest.approx(0.5) and got["H03"] == 0


def test_rates_from_a_policeuk_street_file_use_the_months_days(tmp_path):
    config = load_config(write_trial(tmp_path))
    hotspots = load_trial_hotspots(config)
    street = pd.DataFrame({"Month": ["2011-02"] * 3, "Reported by": "West Midlands Police",
                           "Falls within": "West Midlands Police", "Easting": [406100, 406100, 406600],
                           "Northing": [286100, 286100, 286100], "Location": "On or near X",
                           "Crime type": ["Violent crime", "Burglary", "Violent crime"], "Context": ""})
    street.to_csv(tmp_path / "street.csv", index=False)
    rates = baseline_rates_from_crimes(tmp_path / "street.csv", config, hotspots, outcome="violence")
    assert rates.period_days == 28 and rates.crimes_in_hotspots == 2
    assert rates.rates[0] == pytest.approx(1 / 28)


def test_no_crimes_in_the_hotspots_is_a_one_line_error(tmp_path):
    config = load_config(write_trial(tmp_path))
    hotspots = load_trial_hotspots(config)
    _crimes_csv(tmp_path / "crimes.csv", [("a", "Robbery", "2023-01-01T12:00:00Z", 300000, 200000)])
    with pytest.raises(DataError, match="no 'all_crime' crimes fall in any hotspot") as err:
        baseline_rates_from_crimes(tmp_path / "crimes.csv", config, hotspots, outcome="all_crime")
    assert "\n" not in str(err.value) and "--rate" in str(err.value)


@pytest.mark.parametrize("effects,days,kw,match", [
    ([1.2], [30], {}, "rate ratio"),
    ([0.0], [30], {}, "rate ratio"),
    ([], [30], {}, "no effects"),
    ([0.8], [], {}, "no trial lengths"),
    ([0.8], [3], {}, "too short"),
    ([0.8, 0.8], [30], {}, "repeats"),
    ([0.8], [30], {"compliance": 0.0}, "compliance"),
    ([0.8], [30], {"sims": 5}, "too few"),
    ([0.8], [30], {"overdispersion": -1.0}, "over-dispersion"),
])
def test_invalid_grids_are_refused(effects, days, kw, match):
    opts = {"compliance": 0.75, "sims": 200, "alpha": 0.05, "overdispersion": 0.0, **kw}
    with pytest.raises(UsageError, match=match) as err:
        check_grid(effects, days, **opts)
    assert "\n" not in str(err.value)


def test_zero_rates_and_misaligned_rates_are_refused():
    design = _complete_design(6, 10, 3)
    with pytest.raises(DataError, match="baseline rate of 0"):
        simulate_power(design, BaselineRates(design.hotspot_ids, np.zeros(6), None, "x"), effects=[0.8],
                       days=[10], sims=20, rng=np.random.default_rng(1))
    with pytest.raises(DataError, match="not aligned"):
        simulate_power(design, BaselineRates(("a",) * 6, np.ones(6), None, "x"), effects=[0.8],
                       days=[10], sims=20, rng=np.random.default_rng(1))
    with pytest.raises(UsageError, match="positive"):
        constant_rates(-1, None)


def test_power_analysis_extends_the_trial_design_to_longer_lengths(tmp_path):
    config = load_config(write_trial(tmp_path))  # a 22-day trial
    hotspots = load_trial_hotspots(config)
    result = power_analysis(config, hotspots, constant_rates(1.0, hotspots), effects=[0.7], days=[14, 40],
                            sims=20, overdispersion=0.0, progress=None)
    assert list(result.grid["days"]) == [14, 40] and result.settings["treated_per_day"] == 3
    null_only = power_analysis(config, hotspots, constant_rates(1.0, hotspots), effects=[1.0], days=[14],
                               sims=20, overdispersion=0.0, progress=None)
    assert "not computed (the grid has no effect below 1)" in null_only.summary()
    assert (result.grid["failed"] == 0).all()


def test_cli_power_writes_grid_plot_and_json(tmp_path, capsys):
    toml = write_trial(tmp_path)
    out = tmp_path / "power"
    code = main(["power", "--config", str(toml), "--rate", "0.8", "--effects", "0.7,1", "--days", "14,21",
                 "--sims", "20", "--overdispersion", "0", "--out", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["grid"]) == 4 and len(data["mde"]) == 2
    assert all(0 <= r["power"] <= 1 and r["mc_se"] >= 0 for r in data["grid"])
    assert (out / "power.png").stat().st_size > 5000
    assert len(pd.read_csv(out / "power_grid.csv")) == 4


def test_cli_power_bad_grid_exits_2_with_one_line(tmp_path, capsys):
    toml = write_trial(tmp_path)
    code = main(["power", "--config", str(toml), "--rate", "0.8", "--effects", "1.25", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--effects" in err and len(err.splitlines()) == 1
    assert main(["power", "--config", str(toml), "--effects", "0.8", "--out", str(tmp_path / "o")]) == 2


def test_cli_power_no_crimes_in_hotspots_exits_1_with_one_line(tmp_path, capsys):
    toml = write_trial(tmp_path)
    _crimes_csv(tmp_path / "crimes.csv", [("a", "Robbery", "2023-01-01T12:00:00Z", 300000, 200000)])
    code = main(["power", "--config", str(toml), "--crimes", str(tmp_path / "crimes.csv"),
                 "--outcome", "all_crime", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "no 'all_crime' crimes fall in any hotspot" in err
