"""The shipped calibration tables are what scripts/build_calibration.py makes from the
real data (skipped when ../shared/data is absent, e.g. on a fresh clone)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conftest import SHARED_DATA

SHARED = SHARED_DATA
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (SHARED / "police_uk" / "wm_lsoa_month_counts_2023-05_2026-03.csv.gz").is_file(),
                    reason="the real data folder is not available")
def test_shipped_tables_match_a_rebuild(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("build_calibration", ROOT / "scripts" / "build_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(SHARED, tmp_path)
    shipped = ROOT / "src" / "guardian_rct" / "data"
    for name in ("sim_hotspot_profiles.csv", "sim_offences.csv", "sim_calibration.json"):
        assert (tmp_path / name).read_text() == (shipped / name).read_text(), name
    assert "57 profiles" in capsys.readouterr().out
