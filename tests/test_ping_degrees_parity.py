"""Scoring lat/lon pings in degrees (PingOptions.locate, the weekly job's default) gives the
visits, counts and quarantine of projecting every ping first (locate=None), in CSV and
Parquet, with identifiers that differ only by spaces, missing officers, exact duplicates,
unusable rows and pings a few millimetres either side of hotspot edges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from conftest import write_trial
from guardian_rct.compliance.ping_assignment import ping_options_for
from guardian_rct.compliance.presence import score_pings
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import load_trial_hotspots


def _degree_pings(hotspots, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2023-05-01T15:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 3 * 86_400, n)), unit="s")
    x = 406000 + rng.uniform(-50, 1250, n)
    y = 286000 + rng.uniform(-50, 1250, n)
    # a tenth of the pings within 5 mm of a hotspot edge
    rings = shapely.get_coordinates(shapely.get_rings(hotspots.frame.geometry.to_numpy()))
    k = rng.integers(0, len(rings) - 1, n // 10)
    f = rng.uniform(0, 1, len(k))
    x[: len(k)] = rings[k, 0] + f * (rings[k + 1, 0] - rings[k, 0]) + rng.uniform(-5e-3, 5e-3, len(k))
    y[: len(k)] = rings[k, 1] + f * (rings[k + 1, 1] - rings[k, 1]) + rng.uniform(-5e-3, 5e-3, len(k))
    lon, lat = Transformer.from_crs(hotspots.crs, "EPSG:4326", always_xy=True).transform(x, y)
    frame = pd.DataFrame({
        "device_id": rng.choice(["R1", " R1", "R2 ", "R3"], n),
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "lat": lat, "lon": lon,
        "officer_id": rng.choice(["A", "B", "", None], n), "team": rng.choice(["T1", "T2", " T1"], n),
        "accuracy_m": rng.choice([5.0, 20.0, 400.0], n, p=[0.6, 0.38, 0.02]),
    })
    frame.loc[[3, 30, 300], "accuracy_m"] = 5.0
    frame = pd.concat([frame, frame.iloc[[3, 30, 300]]], ignore_index=True)  # exact duplicates
    frame.loc[[5, 50], "lat"] = np.nan
    return frame


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_degrees_and_projection_give_the_same_score(tmp_path, kind):
    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    frame = _degree_pings(hotspots, 6000, 11)
    path = tmp_path / f"week.{kind}"
    frame.to_csv(path, index=False) if kind == "csv" else frame.to_parquet(path, row_group_size=1000)
    options = ping_options_for(hotspots, config.compliance, chunk_rows=1000)
    assert options.locate is not None
    degrees = score_pings(path, hotspots, config.compliance, options=options)
    projected = score_pings(path, hotspots, config.compliance, options=dataclasses.replace(options, locate=None))
    assert degrees.counts() == projected.counts()
    assert degrees.n_in_hotspots == projected.n_in_hotspots > 1000
    assert degrees.counts()["quarantine_reasons"]["exact duplicate"] == 3
    pd.testing.assert_frame_equal(degrees.visits.frame, projected.visits.frame)
    pd.testing.assert_frame_equal(degrees.quarantine.frame, projected.quarantine.frame)
    assert set(degrees.visits.frame["device_id"]) == {"R1", "R2", "R3"}  # spaces trimmed: one track each
