"""simulate_crimes: calibration, effects, places, times, contract, determinism, bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import make_hotspots
from guardian_rct._core.days import experimental_days
from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.harm.index import policeuk_category_weights
from guardian_rct.simulation.common import load_calibration, local_clock_instants
from guardian_rct.simulation.writers import simulate_crimes, write_crimes
from sim_fixtures import crossover_allocation, hotspot_set, simple_rings, year_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simcrimes")
    frame = make_hotspots(6)
    config = year_trial(tmp, frame)
    hotspots = hotspot_set(frame)
    return config, hotspots, crossover_allocation(config, hotspots)


def _gp_sd(mu: np.ndarray, k: float) -> float:
    """SD of a sum of independent gamma-Poisson counts with means ``mu`` and shape ``k``."""
    return float(np.sqrt(np.sum(mu + mu ** 2 / k)))


def test_offence_mix_reproduces_the_shipped_category_weights():
    cal = load_calibration()
    off = cal.offences
    assert off.groupby("crime_type")["share_in_category"].sum().to_numpy() == pytest.approx(1.0, abs=1e-5)
    mean_harm = (off["share_in_category"] * off["cchi_days"]).groupby(off["crime_type"]).sum()
    shipped = policeuk_category_weights("current").as_dict()
    for crime_type, value in mean_harm.items():
        assert value == pytest.approx(shipped[crime_type], rel=1e-3), crime_type
    assert set(cal.crime_types) <= set(shipped)
    assert len(cal.profiles) == 57 and off["offence_code"].str.fullmatch(r"\d{3}/\d{2}").all()


def test_counts_match_the_calibration_within_sampling_error(trial):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, effect_volume=1.0, effect_harm=1.0, seed=1)
    cal = load_calibration()
    # Baselines in the truth equal the chosen real LSOA profiles (independent lookup).
    by_lsoa = cal.profiles.set_index("lsoa_code")[cal.crime_types].sum(axis=1)
    for h in sim.truth["hotspots"]:
        assert h["baseline_daily_count"] == pytest.approx(by_lsoa[h["profile_lsoa"]], abs=1e-4)
    # Expected counts: baseline rate x day-of-week x month factors.
    exp = sim.expected
    base = {h["hotspot_id"]: h["baseline_daily_count"] for h in sim.truth["hotspots"]}
    dates = pd.to_datetime(exp["date"].astype(str))
    factor = cal.dow_factor[dates.dt.day_of_week] * cal.month_factor[dates.dt.month - 1]
    assert exp["expected_count"].to_numpy() == pytest.approx(exp["hotspot_id"].map(base).to_numpy() * factor, rel=1e-4)
    # Observed totals per hotspot within 4 SD of the gamma-Poisson expectation.
    k = cal.gamma_shape
    observed = sim.origin.groupby("hotspot_id").size()
    for hid, group in exp.groupby("hotspot_id"):
        mu = group["expected_count"].to_numpy()
        assert abs(observed.get(hid, 0) - mu.sum()) < 4 * _gp_sd(mu, k), hid
    # Over-dispersion: the variance of daily counts exceeds the Poisson variance.
    daily = sim.origin.groupby(["hotspot_id", "date"]).size()
    full = daily.reindex(pd.MultiIndex.from_frame(exp[["hotspot_id", "date"]]), fill_value=0).to_numpy()
    resid = (full - exp["expected_count"].to_numpy())
    ratio = np.mean(resid ** 2) / np.mean(exp["expected_count"].to_numpy())
    expected_ratio = 1 + np.mean(exp["expected_count"].to_numpy() ** 2) / k / np.mean(exp["expected_count"].to_numpy())
    assert ratio > 1.2 and ratio == pytest.approx(expected_ratio, rel=0.25)


def test_treatment_effect_is_present_within_error(trial):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, effect_volume=0.6, effect_harm=0.6, seed=2, rate_scale=2.0)
    exp = sim.expected
    obs = sim.origin.groupby(["hotspot_id", "date"]).size()
    exp = exp.assign(observed=obs.reindex(pd.MultiIndex.from_frame(exp[["hotspot_id", "date"]]), fill_value=0).to_numpy())
    k = load_calibration().gamma_shape
    t, c = exp[exp["treated"] == 1], exp[exp["treated"] == 0]
    # Observed / counterfactual in each arm (removes hotspot and season differences).
    r_t = t["observed"].sum() / t["counterfactual_count"].sum()
    r_c = c["observed"].sum() / c["counterfactual_count"].sum()
    se = math.sqrt((_gp_sd(t["expected_count"].to_numpy(), k) / t["expected_count"].sum()) ** 2
                   + (_gp_sd(c["expected_count"].to_numpy(), k) / c["expected_count"].sum()) ** 2)
    assert abs(math.log(r_t / r_c) - math.log(0.6)) < 4 * se
    assert sim.truth["itt_rate_ratio_count"] == pytest.approx(0.6)


def test_volume_and_harm_effects_can_differ_exactly(trial):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, effect_volume=0.85, effect_harm=0.5, seed=3)
    on = sim.expected[sim.expected["active"] == 1]
    assert on["expected_count"].sum() / on["counterfactual_count"].sum() == pytest.approx(0.85)
    assert on["expected_harm"].sum() / on["counterfactual_harm"].sum() == pytest.approx(0.5)
    for h in sim.truth["hotspots"]:
        assert h["multiplier_serious"] < 0.5 < 0.85 < h["multiplier_other"]
    # Serious offences fall more: their share among treated-day crimes is lower.
    crimes = sim.origin.merge(sim.expected[["hotspot_id", "date", "active"]], on=["hotspot_id", "date"])
    serious = crimes["cchi_days"] >= 100
    assert serious[crimes["active"] == 1].mean() < serious[crimes["active"] == 0].mean()
    with pytest.raises(UsageError, match="cannot both hold"):
        simulate_crimes(config, hotspots, allocation, effect_volume=1.0, effect_harm=0.01)


def test_per_outcome_truth_for_youth_violence(trial):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, effect_volume=0.8, effect_harm=0.8, seed=4)
    out = sim.truth["outcomes"]
    assert set(out) == {o.name for o in config.outcomes}
    assert out["all_crime"]["rate_ratio_count"] == pytest.approx(0.8)
    syv = out["serious_youth_violence"]
    assert 0 < syv["baseline_daily_count_per_hotspot"] < out["violence"]["baseline_daily_count_per_hotspot"]
    # Victims under 25 exist and only on person offences.
    frame = sim.frame
    assert (frame["victim_age"] < 25).sum() > 0
    person = set(load_calibration().offences.query("person_victim")["offence_code"])
    assert frame.loc[frame["victim_age"].notna(), "offence_code"].isin(person).all()
    assert set(frame["detection"]) == {"reactive", "proactive"}
    assert (frame["detection"] == "reactive").mean() > 0.8


def test_residual_deterrence_on_the_day_after(trial):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, residual_deterrence=0.5, seed=5)
    exp = sim.expected
    res = exp[exp["residual"] == 1]
    assert len(res) > 50
    assert (res["expected_count"] / res["counterfactual_count"]).to_numpy() == pytest.approx(0.5)
    # A residual day follows a patrol day and has no patrol itself.
    assert (res["active"] == 0).all()
    prev = exp.set_index(["hotspot_id", "date"])["active"]
    for _, row in res.head(20).iterrows():
        assert prev[(row["hotspot_id"], row["date"] - pd.Timedelta(days=1).to_pytimedelta())] == 1


def test_places_and_times(trial):
    config, hotspots, allocation = trial
    rings = simple_rings(hotspots)
    sim = simulate_crimes(config, hotspots, allocation, displacement=1.5, rings=rings, seed=6, baseline_days=30)
    frame, origin = sim.frame, sim.origin
    geoms = hotspots.frame.set_index("hotspot_id").geometry
    ring_geoms = rings.set_index("hotspot_id").geometry
    in_hot = origin["ring"] == "hotspot"
    g = np.where(in_hot, geoms.reindex(origin["hotspot_id"]).to_numpy(), ring_geoms.reindex(origin["hotspot_id"]).to_numpy())
    assert shapely.contains_xy(g, frame["x"].to_numpy(), frame["y"].to_numpy()).all()
    every = shapely.union_all(hotspots.frame.geometry.to_numpy())
    ring_pts = frame[~in_hot]
    assert len(ring_pts) > 0
    assert not shapely.contains_xy(every, ring_pts["x"].to_numpy(), ring_pts["y"].to_numpy()).any()
    # Displacement: ring expectations rise by 1.5 on the hotspot's patrol days.
    ring_exp = sim.expected[(sim.expected["ring"] != "hotspot") & (sim.expected["active"] == 1)]
    assert (ring_exp["expected_count"] / ring_exp["counterfactual_count"]).to_numpy() == pytest.approx(1.5)
    # Every crime's time falls in its experimental day; baseline days precede the trial.
    days = experimental_days(frame["occurred_at"], config.trial.tz, config.trial.day_start_time)
    assert (pd.to_datetime(days).date == origin["date"].to_numpy()).all()
    assert sim.truth["days"]["n_baseline"] == 30
    assert (origin.loc[origin["period"] == "baseline", "date"] < config.trial.start_date).all()
    # Night-time economy shape: more crimes 18:00-02:00 than 06:00-14:00 local.
    hour = frame["occurred_at"].dt.tz_convert(config.trial.tz).dt.hour
    assert hour.isin([18, 19, 20, 21, 22, 23, 0, 1]).sum() > hour.isin(range(6, 14)).sum()


def test_local_clock_instants_across_clock_changes():
    import datetime as dt
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/London")
    # 2023-03-26: clocks go forward at 01:00 GMT; 01:30 local does not exist.
    days = np.array(["2023-03-25", "2023-03-25", "2023-10-28"], dtype="datetime64[D]")
    minute = np.array([90.0, 20 * 60.0, 90.0])
    out = local_clock_instants(days, minute, tz, dt.time(6))
    assert out[0] == pd.Timestamp("2023-03-26T01:30:00Z")  # shifted forward to 02:30 BST
    assert out[1] == pd.Timestamp("2023-03-25T20:00:00Z")
    assert out[2] == pd.Timestamp("2023-10-29T00:30:00Z")  # ambiguous 01:30: first (BST) instant
    assert (pd.to_datetime(experimental_days(out, tz, dt.time(6))).date
            == pd.to_datetime(days).date).all()


def test_written_crimes_follow_the_contract(trial, tmp_path):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, seed=8)
    path = write_crimes(sim, tmp_path / "crimes.csv", tz=config.trial.timezone)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == ["crime_id", "offence_code", "occurred_at", "x", "y", "victim_age", "detection"]
    assert back["occurred_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d").all()
    assert set(back["occurred_at"].str[-6:]) == {"+00:00", "+01:00"}  # GMT and BST in one year
    parsed = pd.to_datetime(back["occurred_at"], utc=True, format="ISO8601")
    assert (parsed == sim.frame["occurred_at"]).all()
    assert back["crime_id"].is_unique
    assert back["offence_code"].map(lambda c: bool(re.fullmatch(r"\d{3}/\d{2}", c))).all()
    ages = back["victim_age"][back["victim_age"] != ""].astype(int)
    assert ages.between(0, 90).all()


def test_determinism_given_the_seed(trial):
    config, hotspots, allocation = trial
    a = simulate_crimes(config, hotspots, allocation, seed=9, baseline_days=10)
    b = simulate_crimes(config, hotspots, allocation, seed=9, baseline_days=10)
    c = simulate_crimes(config, hotspots, allocation, seed=10, baseline_days=10)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame[["x", "y"]].equals(c.frame[["x", "y"]])
    # Default seed is the trial seed.
    d = simulate_crimes(config, hotspots, allocation, baseline_days=10)
    assert d.truth["seed"] == config.trial.seed


def test_delivered_limits_the_effect_to_delivered_patrols(trial):
    config, hotspots, allocation = trial
    treated = allocation.frame[allocation.frame["arm"] == "treatment"][["date", "hotspot_id"]].copy()
    treated["delivered"] = (np.arange(len(treated)) % 2 == 0).astype(int)
    sim = simulate_crimes(config, hotspots, allocation, effect_volume=0.5, delivered=treated, seed=11)
    exp = sim.expected[sim.expected["period"] == "trial"]
    assert exp["active"].sum() == treated["delivered"].sum()
    assert (exp["active"] <= exp["treated"]).all()
    # ITT ratio on treated days = share delivered x 0.5 + rest x 1 (expected counts).
    assert sim.truth["itt_rate_ratio_count"] == pytest.approx(0.75, abs=0.03)
    with pytest.raises(UsageError, match="no delivered value"):
        simulate_crimes(config, hotspots, allocation, delivered=treated.iloc[1:])
    with pytest.raises(UsageError, match="lacks columns"):
        simulate_crimes(config, hotspots, allocation, delivered=treated.drop(columns="delivered"))


@pytest.mark.parametrize("kwargs,match", [
    ({"effect_volume": 0}, "effect_volume"),
    ({"effect_harm": -1}, "effect_harm"),
    ({"displacement": float("nan")}, "displacement"),
    ({"baseline_days": -3}, "baseline_days"),
])
def test_bad_parameters_raise_usage_errors(trial, kwargs, match):
    config, hotspots, allocation = trial
    with pytest.raises(UsageError, match=match):
        simulate_crimes(config, hotspots, allocation, **kwargs)


def test_allocation_for_other_hotspots_is_refused(trial):
    config, hotspots, allocation = trial
    small = hotspot_set(make_hotspots(3))
    with pytest.raises(DataError, match="not in the hotspot file"):
        simulate_crimes(config, small, allocation)
    bad_rings = simple_rings(hotspots).assign(hotspot_id="nope")
    with pytest.raises(DataError, match="unknown hotspot"):
        simulate_crimes(config, hotspots, allocation, rings=bad_rings)


def test_baseline_rates_replace_the_calibrated_totals(trial):
    config, hotspots, allocation = trial
    wanted = {h: 0.5 + i for i, h in enumerate(hotspots.ids)}
    sim = simulate_crimes(config, hotspots, allocation, baseline_rates=wanted, effect_volume=1.0, seed=12)
    for h in sim.truth["hotspots"]:
        assert h["baseline_daily_count"] == pytest.approx(wanted[h["hotspot_id"]], abs=1e-4)
    with pytest.raises(UsageError, match="no rate"):
        simulate_crimes(config, hotspots, allocation, baseline_rates={"H01": 1.0})
    with pytest.raises(UsageError, match="positive"):
        simulate_crimes(config, hotspots, allocation, baseline_rates={h: -1.0 for h in hotspots.ids})


def test_contamination_can_have_an_effect(trial):
    config, hotspots, allocation = trial
    comp = allocation.frame.drop_duplicates(["date", "hotspot_id"])[["date", "hotspot_id", "arm"]].copy()
    comp["delivered"] = (comp["arm"] == "treatment").astype(int)
    comp["contaminated"] = ((comp["arm"] == "control") & (np.arange(len(comp)) % 5 == 0)).astype(int)
    plain = simulate_crimes(config, hotspots, allocation, effect_volume=0.5, delivered=comp, seed=13)
    diluted = simulate_crimes(config, hotspots, allocation, effect_volume=0.5, delivered=comp, seed=13,
                              contamination_has_effect=True)
    assert plain.truth["control_days_rate_ratio_count"] == pytest.approx(1.0)
    share = comp.loc[comp["arm"] == "control", "contaminated"].mean()
    assert diluted.truth["control_days_rate_ratio_count"] == pytest.approx(1 - 0.5 * share, abs=0.02)
    assert diluted.truth["itt_rate_ratio_count"] == pytest.approx(0.5)


def test_latlon_output(trial, tmp_path):
    config, hotspots, allocation = trial
    sim = simulate_crimes(config, hotspots, allocation, seed=14)
    path = write_crimes(sim, tmp_path / "c.csv", coords="latlon")
    back = pd.read_csv(path)
    assert list(back.columns) == ["crime_id", "offence_code", "occurred_at", "lat", "lon", "victim_age", "detection"]
    assert back["lat"].between(52.3, 52.6).all() and back["lon"].between(-2.0, -1.7).all()
    with pytest.raises(UsageError):
        write_crimes(sim, tmp_path / "d.csv", coords="utm")
