"""``init`` proves the design can run before registering it, and a mistaken registration
that published nothing can be replaced (recorded)."""

import json
import sqlite3

import pytest
import shapely
from attack_fixtures import NOW, START, make_hotspots, trial, write_trial

from guardian_rct._core.errors import ConfigError, DataError, StoreError
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.publish import publish_range
from guardian_rct.ledger.store import init_trial
from guardian_rct.ledger.verify import verify


def _init(tmp_path, **kwargs):
    return init_trial(load_config(write_trial(tmp_path, **kwargs)))


def test_more_treated_than_hotspots_is_refused_and_no_store_is_made(tmp_path):
    with pytest.raises(ConfigError, match="more hotspots treated per day than there are hotspots"):
        _init(tmp_path, design="treated_per_day = 9")
    assert not (tmp_path / "trial.db").exists()


def test_one_hotspot_block_is_refused(tmp_path):
    frame = make_hotspots()
    frame["block"] = ["A", "A", "A", "A", "A", "B"]
    with pytest.raises(ConfigError, match="block 'B' \\(1 hotspot\\)"):
        _init(tmp_path, hotspots=frame, design="treated_per_block_per_day = 1")


def test_windows_that_cannot_hold_the_visits_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot hold the visits"):
        _init(tmp_path, design="treated_per_day = 3\nvisits_per_day = 5\nvisit_spacing_minutes = 180")


def test_negative_constraint_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="design.min_gap_days.*must not be negative|must not be negative"):
        _init(tmp_path, design="treated_per_day = 3\nmin_gap_days = -2")


def test_infeasible_constraints_are_refused_by_the_dry_run(tmp_path):
    # 1 of 3 treated per block and day, yet no hotspot may go 0 days untreated: impossible
    with pytest.raises(ConfigError):
        _init(tmp_path, design="treated_per_block_per_day = 1\nmax_consecutive_control_days = 0")
    assert not (tmp_path / "trial.db").exists()


def test_overlapping_hotspots_are_refused(tmp_path):
    frame = make_hotspots()
    frame.loc[1, "geometry"] = shapely.box(406050, 286050, 406250, 286250)  # overlaps H01
    with pytest.raises(DataError, match="overlap"):
        _init(tmp_path, hotspots=frame)


def test_zero_area_hotspot_is_refused(tmp_path):
    frame = make_hotspots()
    frame.loc[2, "geometry"] = shapely.box(407000, 286000, 407000.0001, 286000.0001)
    with pytest.raises(DataError, match="no area|degenerate"):
        _init(tmp_path, hotspots=frame)


def test_degrees_declared_as_british_national_grid_are_refused(tmp_path):
    path = write_trial(tmp_path)
    frame = make_hotspots().to_crs("EPSG:4326").set_crs("EPSG:27700", allow_override=True)
    frame.to_file(tmp_path / "hotspots.geojson", driver="GeoJSON")  # degrees, labelled metres
    with pytest.raises(DataError, match="look like degrees"):
        init_trial(load_config(path))


def test_replace_unpublished_records_what_it_replaced(tmp_path):
    cfg = trial(tmp_path)
    cfg.source.write_text(cfg.source.read_text().replace("treated_per_day = 3", "treated_per_day = 2"))
    with pytest.raises(StoreError, match="design.treated_per_day"):
        init_trial(load_config(cfg.source))
    result = init_trial(load_config(cfg.source), replace_unpublished=True)
    assert result.status == "replaced"
    with sqlite3.connect(cfg.trial.store) as conn:
        kind, detail = conn.execute("SELECT kind, detail FROM trial_events").fetchone()
    old = json.loads(detail)["replaced"]
    assert kind == "replaced" and json.loads(old["config_json"])["design"]["treated_per_day"] == 3
    new = load_config(cfg.source)
    publish_range(new, START, START, now=NOW)
    assert verify(new).ok


def test_replace_is_refused_once_anything_was_published(tmp_path):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START, now=NOW)
    cfg.source.write_text(cfg.source.read_text().replace("treated_per_day = 3", "treated_per_day = 2"))
    with pytest.raises(StoreError, match="cannot be replaced"):
        init_trial(load_config(cfg.source), replace_unpublished=True)
    cfg.source.write_text(cfg.source.read_text().replace("treated_per_day = 2", "treated_per_day = 3"))
    assert verify(load_config(cfg.source)).ok


def test_a_corrected_design_registers_after_a_refused_one(tmp_path):
    with pytest.raises(ConfigError):
        _init(tmp_path, design="treated_per_day = 9")
    result = _init(tmp_path, design="treated_per_day = 3")  # the corrected design: no store to delete
    assert result.status == "created"


def test_hotspot_outside_the_force_boundary_is_refused(tmp_path):
    import geopandas as gpd

    path = write_trial(tmp_path)
    boundary = gpd.GeoDataFrame(geometry=[shapely.box(405000, 285000, 406800, 288000)], crs="EPSG:27700")
    boundary.to_file(tmp_path / "boundary.geojson", driver="GeoJSON")  # H03 and H06 lie east of it
    path.write_text(path.read_text().replace('block_column = "block"',
                                             'block_column = "block"\nboundary = "boundary.geojson"'))
    with pytest.raises(DataError, match="outside the boundary"):
        init_trial(load_config(path))
    assert not (tmp_path / "trial.db").exists()
