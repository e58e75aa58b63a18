#!/usr/bin/env python3
"""Benchmark: publish a 365-day schedule for 57 hotspots, and 10,000 whole-trial redraws.

Builds a synthetic 57-hotspot trial (three blocks, 28 treated a day, 15:00-23:00
windows) in a temporary folder, registers it, and times:

1. publishing all 365 days into the SQLite ledger (simulated trial: horizon lifted),
2. ``ledger.verify`` (chain + re-deriving every draw),
3. writing one day's tasking outputs (CSV, XLSX, GeoJSON, HTML with map),
4. ``design.draw(rng, size=10_000)`` (what randomisation inference calls),
5. the same with ``max_consecutive_control_days = 4`` for 1,000 redraws.

No peer tool does this job, so the numbers are absolute. Run once:
``PYTHONPATH=src python scripts/bench_schedule.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from guardian_rct.config.trial_config import load_config  # noqa: E402
from guardian_rct.design.factory import design_from_config  # noqa: E402
from guardian_rct.ledger.publish import publish_range  # noqa: E402
from guardian_rct.ledger.store import init_trial, load_trial_hotspots  # noqa: E402
from guardian_rct.ledger.verify import verify  # noqa: E402
from guardian_rct.reports.tasking import write_daily_outputs  # noqa: E402


def _trial(folder: Path) -> Path:
    ids, geoms, blocks = [], [], []
    for i in range(57):
        x, y = 400000 + 400 * (i % 8), 280000 + 400 * (i // 8)
        ids.append(f"H{i + 1:02d}")
        geoms.append(shapely.box(x, y, x + 150, y + 150))
        blocks.append("ABC"[i % 3])
    gpd.GeoDataFrame({"hotspot_id": ids, "name": [f"Hotspot {i}" for i in ids], "block": blocks},
                     geometry=geoms, crs="EPSG:27700").to_file(folder / "h.geojson", driver="GeoJSON")
    (folder / "trial.toml").write_text(textwrap.dedent("""\
        [trial]
        name = "Benchmark"
        start_date = 2022-10-03
        end_date = 2023-10-02
        seed = 20221003
        store = "trial.db"
        [hotspots]
        path = "h.geojson"
        block_column = "block"
        [design]
        kind = "crossover"
        treated_per_day = 28
        windows = ["15:00-23:00"]
        patrol_minutes = 15
        """))
    return folder / "trial.toml"


def _time(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(_trial(Path(tmp)))
        init_trial(config)
        records = _time("publish 365 days x 57 hotspots into the ledger",
                        lambda: publish_range(config, config.trial.start_date, config.trial.end_date,
                                              simulated=True))
        assert len(records) == 365
        result = _time("ledger verify (chain + re-derive 365 draws)", lambda: verify(config))
        assert result.ok, result.summary()
        hotspots = load_trial_hotspots(config)
        _time("write one day's tasking outputs (csv, xlsx, geojson, html+map)",
              lambda: write_daily_outputs(config, records[0], hotspots, Path(tmp) / "out"))
        design = design_from_config(config, hotspots)
        draws = _time("design.draw(size=10_000): 10,000 x 365 x 57",
                      lambda: design.draw(np.random.default_rng(1), size=10_000))
        print(f"  {draws.nbytes / 1e6:.0f} MB; treated per day always 28: "
              f"{bool((draws.sum(axis=2) == 28).all())}")
        del draws
        constrained = dataclasses.replace(design, max_consecutive_control_days=4)
        _time("constrained design (max 4 control days in a row) draw(size=1_000)",
              lambda: constrained.draw(np.random.default_rng(2), size=1_000))
    print(f"(numpy {np.__version__}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
