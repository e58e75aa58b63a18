"""The shipped calibration tables are what scripts/build_calibration.py makes from the
real data (skipped when ../shared/data is absent, e.g. on a fresh clone), and what it
makes does not depend on the order of the input rows or on sort stability."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA

SHARED = SHARED_DATA
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "guardian_rct" / "data"
TABLES = ("sim_hotspot_profiles.csv", "sim_offences.csv", "sim_calibration.json")
needs_shared = pytest.mark.skipif(
    not (SHARED / "police_uk" / "wm_lsoa_month_counts_2023-05_2026-03.csv.gz").is_file(),
    reason="the real data folder is not available")


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_calibration", ROOT / "scripts" / "build_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_shared
def test_shipped_tables_match_a_rebuild(builder, tmp_path, capsys):
    builder.build(SHARED, tmp_path)
    for name in TABLES:
        assert (tmp_path / name).read_text() == (SHIPPED / name).read_text(), name
    assert "57 profiles" in capsys.readouterr().out


@needs_shared
def test_a_rebuild_from_shuffled_rows_matches_the_shipped_tables(builder, tmp_path, monkeypatch):
    read_csv = pd.read_csv

    def shuffled(*args, **kwargs):
        frame = read_csv(*args, **kwargs)
        return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)

    monkeypatch.setattr(pd, "read_csv", shuffled)
    builder.build(SHARED, tmp_path)
    for name in TABLES:
        assert (tmp_path / name).read_text() == (SHIPPED / name).read_text(), name


def test_ties_in_violence_are_broken_by_lsoa_code_whatever_the_row_order(builder):
    # Ties inside the top n and one across the cut (two areas with 5, one place left).
    # A sort that relies on stability (or an unstable one) keeps or scrambles the input
    # order of tied areas, so some permutation below would change the result.
    counts = {"E05": 9, "E02": 7, "E07": 7, "E01": 7, "E09": 6, "E04": 5, "E03": 5, "E08": 2, "E06": 1}
    expected = ["E05", "E01", "E02", "E07", "E09", "E03"]
    violence = pd.Series(counts, name="crime_count").rename_axis("lsoa_code")
    rng = np.random.default_rng(20260310)
    for _ in range(30):
        permuted = violence.iloc[rng.permutation(len(violence))]
        assert builder.most_violent(permuted, 6).tolist() == expected
