"""guardian-rct simulate: files in the contracts, truth, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_hotspots
from guardian_rct.cli import main
from guardian_rct.design.allocation import write_allocation_csv
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
