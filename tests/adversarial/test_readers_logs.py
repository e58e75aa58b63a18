"""Patrol logs and allocation CSVs against careless exports (issue 11, items 7 and 8)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import make_hotspots
from guardian_rct._core.errors import DataError
from guardian_rct.compliance.patrol_logs import read_patrol_log
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.design.allocation import read_allocation_csv
from guardian_rct.geo.hotspots import hotspots_from_frame

HOTSPOTS = hotspots_from_frame(make_hotspots(3))


def _log(path, arrived, departed, **extra):
    n = len(arrived)
    frame = pd.DataFrame({"officer_id": [f"o{i}" for i in range(n)], "hotspot_id": ["H01"] * n,
                          "arrived_at": arrived, "departed_at": departed, **extra})
    frame.to_csv(path, index=False)
    return path


def test_placeholder_times_in_a_patrol_log_are_quarantined(tmp_path):
    path = _log(tmp_path / "log.csv",
                ["9999-12-31T10:00:00Z", "2023-05-01T10:00:00Z", "0001-01-01T00:00:00"],
                ["9999-12-31T10:30:00Z", "2023-05-01T10:30:00Z", "0001-01-01T00:30:00"])
    score = read_patrol_log(path, HOTSPOTS, ComplianceSpec(), timezone="Europe/London")
    assert score.n_read == 3 and score.n_used == 1
    assert score.n_read == score.n_used + len(score.quarantine)
    assert score.quarantine.counts() == {"timestamp out of range": 2}
    assert score.quarantine.frame["source_row"].tolist() == [1, 3]


def test_patrol_log_with_team_and_TEAM_is_refused(tmp_path):
    path = _log(tmp_path / "log.csv", ["2023-05-01T10:00:00Z"], ["2023-05-01T10:30:00Z"],
                team=["A"], TEAM=["B"])
    with pytest.raises(DataError, match=r"log.csv, column 'TEAM'.*'team' and 'TEAM'"):
        read_patrol_log(path, HOTSPOTS, ComplianceSpec())


def test_allocation_with_a_placeholder_window_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "alloc.csv"
    pd.DataFrame({"date": ["2023-05-01"] * 2, "hotspot_id": ["H01", "H02"], "arm": ["treatment", "control"],
                  "window_start": ["9999-05-01T10:00:00+01:00", ""],
                  "window_end": ["9999-05-01T10:15:00+01:00", ""]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"alloc.csv, row 1, column 'window_start': time out of range"):
        read_allocation_csv(path)
