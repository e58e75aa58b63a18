import sqlite3

import pytest

from conftest import make_hotspots, write_trial
from guardian_rct._core.errors import StoreError
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import init_trial, open_trial


def test_init_creates_then_is_a_no_op(trial_toml):
    cfg = load_config(trial_toml)
    first = init_trial(cfg)
    assert first.status == "created" and cfg.trial.store.exists()
    before = cfg.trial.store.read_bytes()
    second = init_trial(load_config(trial_toml))
    assert second.status == "unchanged"
    assert second.registration == first.registration
    with sqlite3.connect(cfg.trial.store) as conn:
        assert conn.execute("SELECT count(*) FROM amendments").fetchone()[0] == 0
    assert len(before) > 0


def test_changed_seed_is_refused(tmp_path, trial_toml):
    init_trial(load_config(trial_toml))
    trial_toml.write_text(trial_toml.read_text().replace("seed = 20230320", "seed = 1"))
    with pytest.raises(StoreError, match="seed differs.*seed = 20230320.*seed = 1"):
        init_trial(load_config(trial_toml))


def test_changed_hotspots_are_refused(tmp_path, trial_toml):
    init_trial(load_config(trial_toml))
    make_hotspots(5).to_crs(4326).to_file(tmp_path / "hotspots.geojson", driver="GeoJSON")
    with pytest.raises(StoreError, match="hotspot file differs"):
        init_trial(load_config(trial_toml))
    with pytest.raises(StoreError, match="hotspot file differs"):
        open_trial(load_config(trial_toml))


def test_changed_design_is_refused_but_compliance_is_amended(tmp_path, trial_toml):
    init_trial(load_config(trial_toml))
    trial_toml.write_text(trial_toml.read_text() + "\n[compliance]\nkoper_minutes = 10\n")
    result = init_trial(load_config(trial_toml))
    assert result.status == "amended" and result.amendments == ("compliance",)
    assert init_trial(load_config(trial_toml)).status == "unchanged"
    trial_toml.write_text(trial_toml.read_text().replace("treated_per_day = 3", "treated_per_day = 2"))
    with pytest.raises(StoreError, match="design.treated_per_day"):
        init_trial(load_config(trial_toml))


def test_open_trial_missing_store(trial_toml):
    with pytest.raises(StoreError, match="trial store not found.*guardian-rct init"):
        open_trial(load_config(trial_toml))


def test_open_trial_from_another_trial(tmp_path, trial_toml):
    init_trial(load_config(trial_toml))
    trial_toml.write_text(trial_toml.read_text().replace('name = "Test trial"', 'name = "Other"'))
    with pytest.raises(StoreError, match="belongs to another trial"):
        open_trial(load_config(trial_toml))


def test_cli_init_exit_codes(tmp_path, capsys):
    path = write_trial(tmp_path)
    assert main(["init", "--config", str(path)]) == 0
    assert "registered trial 'Test trial'" in capsys.readouterr().out
    assert main(["init", "--config", str(path), "--json"]) == 0
    assert '"status": "unchanged"' in capsys.readouterr().out
    path.write_text(path.read_text().replace("seed = 20230320", "seed = 5"))
    assert main(["init", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["init", "--config", str(tmp_path / "missing.toml")]) == 2
    assert main(["init"]) == 2
