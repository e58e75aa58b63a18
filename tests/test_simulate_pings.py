"""simulate_pings: compliance, arrivals inside hotspots, cadence, contamination, contract."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import make_hotspots
from guardian_rct._core.days import experimental_days
from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.simulation.writers import simulate_pings, write_pings
from sim_fixtures import crossover_allocation, hotspot_set, year_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simpings")
    frame = make_hotspots(6)
    config = year_trial(tmp, frame)
    hotspots = hotspot_set(frame)
    return config, hotspots, crossover_allocation(config, hotspots)


@pytest.fixture(scope="module")
def sim(trial):
    config, hotspots, allocation = trial
    return simulate_pings(config, hotspots, allocation, compliance=0.75, contamination=0.1, seed=21)


def test_delivered_share_within_binomial_error(sim):
    sched = sim.visits[sim.visits["kind"] == "scheduled"]
    n = len(sched)
    assert n == 3 * 364
    share = (sched["status"] == "on_time").mean()
    assert abs(share - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)
    # Of the rest, about 30% late and 70% never.
    rest = sched[sched["status"] != "on_time"]
    late = (rest["status"] == "late").mean()
    assert abs(late - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(rest))
    assert sim.truth["delivered_share"] == pytest.approx(share)


def test_other_visits_within_the_window_are_counted_and_compensated(trial):
    """With varied patrol times the next day's patrol can arrive within a missed patrol's
    24 h; the scheduled officer's own arrival probability is lowered so that the share
    truly delivered is still the chosen compliance."""
    config, hotspots, _ = trial
    allocation = crossover_allocation(config, hotspots, treated=3, jitter=True, seed=8)
    sim = simulate_pings(config, hotspots, allocation, compliance=0.5, contamination=0.05, seed=9)
    sched = sim.visits[sim.visits["kind"] == "scheduled"]
    share = (sched["status"] == "on_time").mean()
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / len(sched))
    assert sim.truth["own_arrival_probability"] < 0.48
    rescued = sched[(sched["status"] == "on_time") & (sched["intended_status"] != "on_time")]
    assert len(rescued) > 0 and (rescued["arrived_by"].notna()).all()


def test_status_agrees_with_true_arrival_times(trial, sim):
    config = trial[0]
    sched = sim.visits[sim.visits["kind"] == "scheduled"]
    hours = (sched["arrived_at"] - sched["window_start"]).dt.total_seconds() / 3600
    on = sched["status"] == "on_time"
    assert (hours[on].between(0, config.compliance.arrival_within_hours)).all()
    assert (hours[sched["status"] == "late"] > config.compliance.arrival_within_hours).all()
    assert sched.loc[sched["status"] == "never", "arrived_at"].isna().all()
    # Koper-length stays: around 15 minutes.
    assert 10 < sched.loc[on, "stay_minutes"].median() < 20


def test_pings_land_inside_the_hotspot_when_delivered(trial, sim):
    _, hotspots, _ = trial
    geoms = hotspots.frame.set_index("hotspot_id").geometry
    pings = sim.frame
    on = sim.visits[sim.visits["status"] == "on_time"]
    merged = pings.merge(on[["device_id", "hotspot_id", "stay_start", "stay_end"]], on="device_id")
    during = merged[(merged["timestamp"] >= merged["stay_start"]) & (merged["timestamp"] <= merged["stay_end"])]
    g = geoms.reindex(during["hotspot_id"]).to_numpy()
    inside = shapely.contains_xy(g, during["x"].to_numpy(), during["y"].to_numpy())
    near = shapely.dwithin(g, shapely.points(during["x"].to_numpy(), during["y"].to_numpy()),
                           3 * during["accuracy_m"].to_numpy())
    assert near.mean() > 0.99 and inside.mean() > 0.8
    # Every delivered visit has pings inside its hotspot.
    per_visit = during.assign(inside=inside).groupby(["device_id", "stay_start"])["inside"].any()
    assert per_visit.all() and len(per_visit) >= len(on) * 0.95
    # A never-delivered patrol has no pings in its hotspot in the 24 h after its window start.
    never = sim.visits[sim.visits["status"] == "never"].head(20)
    pts = shapely.points(pings["x"].to_numpy(), pings["y"].to_numpy())
    for _, v in never.iterrows():
        window = (pings["timestamp"] >= v["window_start"]) & (pings["timestamp"] < v["window_start"] + pd.Timedelta(hours=24))
        mine = window & (pings["device_id"] == v["device_id"])
        assert not shapely.contains(geoms[v["hotspot_id"]], pts[mine.to_numpy()]).any()


def test_cadence_and_volume(sim):
    gaps = sim.frame.groupby("device_id")["timestamp"].diff().dt.total_seconds().dropna()
    within = gaps[gaps < 120]
    assert within.between(29, 61).mean() > 0.99
    assert 40 < within.median() < 50
    per_visit = len(sim.frame) / (sim.visits["arrived_at"].notna().sum())
    assert 20 < per_visit < 120  # travel legs plus stay, not 24-hour tracks


def test_contamination_within_binomial_error(sim):
    comp = sim.compliance
    controls = comp[comp["arm"] == "control"]
    visits = (sim.visits["kind"] == "contamination").sum()
    assert abs(visits / len(controls) - 0.1) < 4 * math.sqrt(0.1 * 0.9 / len(controls))
    assert controls["contaminated"].mean() >= visits / len(controls) * 0.9
    assert (comp.loc[comp["arm"] == "treatment", "contaminated"] == 0).all()


def test_compliance_table_matches_visits(trial, sim):
    config = trial[0]
    comp = sim.compliance
    assert list(comp.columns) == ["date", "hotspot_id", "arm", "delivered", "dosage_minutes", "contaminated"]
    assert not comp.duplicated(["date", "hotspot_id"]).any()
    treated = comp[comp["arm"] == "treatment"]
    assert treated["delivered"].mean() == pytest.approx(sim.truth["delivered_share"])
    # Dosage on a delivered day is the on-time stay (arrival on that experimental day).
    on = sim.visits[sim.visits["status"] == "on_time"].copy()
    on["day"] = [d.item() for d in experimental_days(on["stay_start"], config.trial.tz, config.trial.day_start_time)]
    same = on[on["day"] == on["date"]]
    merged = same.merge(comp, on=["date", "hotspot_id"])
    assert (merged["dosage_minutes"] >= merged["stay_minutes"] - 0.01).all()


def test_written_pings_follow_the_contract(sim, tmp_path):
    for name in ("pings.parquet", "pings.csv"):
        path = write_pings(sim, tmp_path / name)
        back = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path, dtype={"timestamp": str})
        assert list(back.columns) == ["device_id", "timestamp", "x", "y", "officer_id", "team", "accuracy_m"]
        assert back["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
        parsed = pd.to_datetime(back["timestamp"], utc=True, format="ISO8601")
        assert (parsed.to_numpy() == sim.frame["timestamp"].to_numpy()).all()
        assert back["accuracy_m"].between(4, 20).all()
    with pytest.raises(UsageError):
        write_pings(sim, tmp_path / "p.txt", fmt="xlsx")


def test_determinism_and_seed(trial):
    config, hotspots, allocation = trial
    small = allocation.frame[allocation.frame["date"] < config.trial.start_date + pd.Timedelta(days=30).to_pytimedelta()]
    from guardian_rct.design.allocation import Allocation

    alloc = Allocation(small.reset_index(drop=True))
    a = simulate_pings(config, hotspots, alloc, seed=5)
    b = simulate_pings(config, hotspots, alloc, seed=5)
    c = simulate_pings(config, hotspots, alloc, seed=6)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    assert not a.visits["status"].equals(c.visits["status"]) or not a.frame.equals(c.frame)


def test_full_and_zero_compliance(trial):
    config, hotspots, allocation = trial
    none = simulate_pings(config, hotspots, allocation, compliance=0.0, late_share=0.0, contamination=0.0)
    assert len(none.frame) == 0 and none.compliance["delivered"].sum() == 0
    full = simulate_pings(config, hotspots, allocation, compliance=1.0, contamination=0.0)
    assert full.compliance.loc[full.compliance["arm"] == "treatment", "delivered"].all()


@pytest.mark.parametrize("kwargs", [{"compliance": 1.5}, {"contamination": -0.1}, {"late_share": 2},
                                    {"cadence_s": (0, 10)}])
def test_bad_parameters_raise(trial, kwargs):
    config, hotspots, allocation = trial
    with pytest.raises(UsageError):
        simulate_pings(config, hotspots, allocation, **kwargs)


def test_allocation_for_other_hotspots_is_refused(trial):
    config, _, allocation = trial
    with pytest.raises(DataError, match="not in the hotspot file"):
        simulate_pings(config, hotspot_set(make_hotspots(2)), allocation)


def test_teams_without_blocks_and_large_polygons(tmp_path):
    frame = make_hotspots(6, blocks=False)
    frame.loc[0, "geometry"] = shapely.box(400000, 280000, 401000, 281000)
    config = year_trial(tmp_path, frame.assign(block="x"), start="2023-06-01", end="2023-06-14")
    hotspots = hotspot_set(frame)
    sim = simulate_pings(config, hotspots, crossover_allocation(config, hotspots), compliance=1.0, seed=3)
    assert set(sim.frame["team"]) == {"Team A"}
    assert np.isfinite(sim.frame[["x", "y"]].to_numpy()).all()


def test_no_officer_is_in_two_places_at_once(trial):
    config, hotspots, _ = trial
    allocation = crossover_allocation(config, hotspots, treated=5, jitter=True, seed=3)
    sim = simulate_pings(config, hotspots, allocation, officers_per_team=1, contamination=0.2, seed=4)
    going = sim.visits[sim.visits["stay_start"].notna()]
    for device, group in sim.frame.groupby("device_id"):
        # Fixes of one device are ordered and never closer than the cadence allows.
        gaps = group["timestamp"].diff().dt.total_seconds().dropna()
        assert (gaps >= 0).all() and (gaps[gaps < 29].size == 0), device
    assert going["officer_id"].nunique() > 2  # extra officers joined the one-officer teams
    assert sum(len(v) for v in sim.truth["teams"].values()) == sim.visits["officer_id"].nunique()


def test_until_cuts_the_pings_and_nothing_else(trial):
    """``until`` removes exactly the fixes at or after it: the same seed without ``until``
    gives the same pings before it, and the truth (the simulated world) is unchanged."""
    import datetime as dt

    config, hotspots, allocation = trial
    until = dt.datetime(2023, 6, 1, 4, 30, tzinfo=dt.UTC)
    full = simulate_pings(config, hotspots, allocation, compliance=0.75, contamination=0.1, seed=21)
    cut = simulate_pings(config, hotspots, allocation, compliance=0.75, contamination=0.1, seed=21, until=until)
    before = full.frame[full.frame["timestamp"] < pd.Timestamp(until)].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut.frame, before)
    assert 0 < len(cut.frame) < len(full.frame)
    assert cut.truth["n_pings_after_until"] == len(full.frame) - len(cut.frame)
    assert cut.truth["pings_until"] == "2023-06-01T04:30:00+00:00" and full.truth["pings_until"] is None
    pd.testing.assert_frame_equal(cut.visits, full.visits)
    pd.testing.assert_frame_equal(cut.compliance, full.compliance)
    with pytest.raises(UsageError):
        simulate_pings(config, hotspots, allocation, seed=21, until=dt.datetime(2023, 6, 1))
