"""guardian-rct simulate: files in the contracts, truth, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_hotspots
from guardian_rct.cli import main
from guardian_rct.design.allocation import allocation_from_frame, write_allocation_csv
from sim_fixtures import crossover_allocation, hotspot_set, simple_rings, year_trial


def _setup(tmp_path):
    frame = make_hotspots(6)
    config = year_trial(tmp_path, frame, start="2023-03-01", end="2023-05-31")
    hotspots = hotspot_set(frame)
    alloc = crossover_allocation(config, hotspots)
    write_allocation_csv(alloc, tmp_path / "allocation.csv", tz="Europe/London")
    return config, hotspots


def test_simulate_writes_contract_files_and_truth(tmp_path, capsys):
    config, hotspots = _setup(tmp_path)
    simple_rings(hotspots).to_file(tmp_path / "rings.gpkg")
    out = tmp_path / "sim"
    code = main(["simulate", "--config", str(tmp_path / "trial.toml"), "--allocation", str(tmp_path / "allocation.csv"),
                 "--out", str(out), "--effect", "0.7", "--harm-effect", "0.6", "--compliance", "0.8",
                 "--months", "2", "--baseline-days", "60", "--displacement", "1.2",
                 "--rings", str(tmp_path / "rings.gpkg"), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    for name in ("crimes.csv", "pings.parquet", "truth.json", "truth_compliance.csv", "truth_visits.csv"):
        assert (out / name).is_file(), name
    truth = json.loads((out / "truth.json").read_text())
    assert truth["crimes"]["effects"]["volume"] == 0.7 and truth["crimes"]["effects"]["harm"] == 0.6
    assert truth["crimes"]["effect_applies_to"] == "delivered patrols"
    assert truth["pings"]["compliance"] == 0.8
    assert truth["crimes"]["days"]["n_baseline"] == 60
    # --months 2: March and April only.
    assert truth["crimes"]["days"]["trial_last"] == "2023-04-30"
    crimes = pd.read_csv(out / "crimes.csv", dtype=str)
    assert list(crimes.columns) == ["crime_id", "offence_code", "occurred_at", "x", "y", "victim_age", "detection"]
    assert len(crimes) == truth["crimes"]["n_crimes"]["total"] == data["crimes"]["n_crimes"]["total"]
    assert truth["crimes"]["n_crimes"]["rings"] > 0
    pings = pd.read_parquet(out / "pings.parquet")
    assert pings["timestamp"].str.endswith("Z").all() and len(pings) == truth["pings"]["n_pings"]
    comp = pd.read_csv(out / "truth_compliance.csv")
    assert {"date", "hotspot_id", "delivered", "dosage_minutes", "contaminated"} <= set(comp.columns)
    # truth.json lists every scheduled patrol with its true status and arrival.
    patrols = pd.DataFrame(truth["pings"]["patrols"])
    assert len(patrols) == truth["pings"]["n_scheduled"]
    assert set(patrols["status"]) <= {"on_time", "late", "never"}
    on = patrols[patrols["status"] == "on_time"]
    assert on["arrived_at"].notna().all() and patrols.loc[patrols["status"] == "never", "arrived_at"].isna().all()
    lag = pd.to_datetime(on["arrived_at"], utc=True) - pd.to_datetime(on["window_start"], utc=True)
    assert (lag.dt.total_seconds().between(0, 24 * 3600)).all()
    delivered = comp[comp["arm"] == "treatment"]["delivered"].mean()
    assert delivered == pytest.approx((patrols["status"] == "on_time").mean())


def test_simulate_latlon(tmp_path):
    _setup(tmp_path)
    assert main(["simulate", "--config", str(tmp_path / "trial.toml"), "--allocation", str(tmp_path / "allocation.csv"),
                 "--out", str(tmp_path / "ll"), "--latlon", "--pings-format", "csv", "--baseline-days", "0",
                 "--months", "1"]) == 0
    pings = pd.read_csv(tmp_path / "ll" / "pings.csv")
    assert {"lat", "lon"} <= set(pings.columns) and "x" not in pings.columns
    assert pings["lat"].between(52.3, 52.6).all()


def test_simulate_crimes_only_and_bad_input(tmp_path, capsys):
    _setup(tmp_path)
    base = ["simulate", "--config", str(tmp_path / "trial.toml"), "--out", str(tmp_path / "o")]
    assert main([*base, "--allocation", str(tmp_path / "allocation.csv"), "--no-pings", "--baseline-days", "0"]) == 0
    assert not (tmp_path / "o" / "pings.parquet").exists()
    truth = json.loads((tmp_path / "o" / "truth.json").read_text())
    assert truth["crimes"]["effect_applies_to"] == "every scheduled patrol"
    capsys.readouterr()
    # Bad effect -> usage error (2); missing allocation -> data error (1); months < 1 -> 2.
    assert main([*base, "--allocation", str(tmp_path / "allocation.csv"), "--effect", "-1"]) == 2
    assert "effect_volume" in capsys.readouterr().err
    assert main([*base, "--allocation", str(tmp_path / "missing.csv")]) == 1
    assert main([*base, "--allocation", str(tmp_path / "allocation.csv"), "--months", "0"]) == 2
    assert main([*base, "--allocation", str(tmp_path / "allocation.csv"), "--compliance", "7"]) == 2
    # An allocation naming a hotspot the trial does not have -> 1.
    alloc = pd.read_csv(tmp_path / "allocation.csv", dtype=str, keep_default_na=False)
    alloc.loc[0, "hotspot_id"] = "H99"
    alloc.to_csv(tmp_path / "bad.csv", index=False)
    assert main([*base, "--allocation", str(tmp_path / "bad.csv")]) == 1
    assert "H99" in capsys.readouterr().err


def test_simulate_help(capsys):
    try:
        code = main(["simulate", "--help"])
    except SystemExit as exc:  # argparse exits after printing the help
        code = exc.code
    assert code == 0
    assert "--compliance" in capsys.readouterr().out


def test_real_trial_pings_stop_at_the_end_of_the_last_complete_day(tmp_path, capsys):
    """A real trial (an imported allocation running past today) gets no pings from the
    future: arrivals for the last complete day's patrols that run past the end of the day
    (into today) are not written, though the truth keeps them."""
    import datetime as dt

    from guardian_rct._core.days import day_bounds, last_complete_day

    today = dt.date.today()
    start, end = today - dt.timedelta(days=20), today + dt.timedelta(days=10)
    config, _ = _setup_dates(tmp_path, start, end)
    out = tmp_path / "real"
    assert main(["simulate", "--config", str(tmp_path / "trial.toml"), "--allocation",
                 str(tmp_path / "allocation.csv"), "--out", str(out), "--baseline-days", "0",
                 "--compliance", "0.9", "--json"]) == 0
    last = last_complete_day(config.trial.tz, config.trial.day_start_time)
    until = day_bounds(last, config.trial.tz, config.trial.day_start_time)[1]
    pings = pd.read_parquet(out / "pings.parquet")
    stamps = pd.to_datetime(pings["timestamp"], utc=True)
    assert len(pings) > 0 and stamps.max() < pd.Timestamp(until)
    truth = json.loads((out / "truth.json").read_text())
    assert truth["pings"]["pings_until"] == until.isoformat()
    # The cut removed something: the last day's 05:44 patrols run past 06:00.
    assert truth["pings"]["n_pings_after_until"] > 0
    assert truth["pings"]["n_pings"] == len(pings)


def _setup_dates(tmp_path, start, end):
    frame = make_hotspots(6)
    config = year_trial(tmp_path, frame, start=start.isoformat(), end=end.isoformat())
    hotspots = hotspot_set(frame)
    alloc = crossover_allocation(config, hotspots)
    # Patrol windows 05:44-05:59, just before the experimental day ends at 06:00: every
    # arriving officer is still there (or not yet there) when the day ends.
    frame = alloc.frame.copy()
    treated = frame["arm"] == "treatment"
    start = frame.loc[treated, "window_start"] + pd.Timedelta(hours=14, minutes=44)
    frame.loc[treated, "window_start"] = start
    frame.loc[treated, "window_end"] = start + pd.Timedelta(minutes=15)
    write_allocation_csv(allocation_from_frame(frame), tmp_path / "allocation.csv", tz="Europe/London")
    return config, hotspots
