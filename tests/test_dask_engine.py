"""The Dask engine on a real local cluster (two worker processes) gives the same answer as
the in-process engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct.compliance.presence import score_pings
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import load_trial_hotspots

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install '.[dask]')")


def test_dask_local_cluster_matches_in_process_engine(tmp_path):
    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    rng = np.random.default_rng(2)
    n = 4000
    t = pd.Timestamp("2023-05-01T15:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 3 * 86_400, n)), unit="s")
    frame = pd.DataFrame({
        "device_id": rng.choice(["R1", "R2", "R3", "R4"], n),
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x": 406000 + rng.uniform(-50, 1250, n), "y": 286000 + rng.uniform(-50, 1250, n),
        "officer_id": rng.choice(["A", "B", ""], n), "team": rng.choice(["T1", "T2"], n),
        "accuracy_m": rng.choice([5.0, 20.0, 400.0], n, p=[0.6, 0.38, 0.02]),
    })
    frame.loc[[7, 8], "x"] = np.nan
    folder = tmp_path / "pings"
    folder.mkdir()
    # Three partitions; rows duplicated across partitions must be found by both engines.
    frame.iloc[:1500].to_parquet(folder / "part-0.parquet")
    frame.iloc[1500:3000].to_parquet(folder / "part-1.parquet")
    pd.concat([frame.iloc[3000:], frame.iloc[[1, 2, 1600]]]).to_parquet(folder / "part-2.parquet")
    local = score_pings(folder, hotspots, config.compliance)
    dask = score_pings(folder, hotspots, config.compliance, engine="dask", n_workers=2, processes=True)
    assert local.counts() == dask.counts()
    assert local.extent == dask.extent and local.extent.n_ok == local.n_used + 3  # before de-duplication
    assert local.counts()["quarantine_reasons"]["exact duplicate"] == 3
    assert local.n_read == n + 3 == local.n_used + len(local.quarantine)
    assert len(local.visits) > 50
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)
