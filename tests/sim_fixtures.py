"""Small trials for the simulator tests: a year-long config and an allocation built here."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.days import date_range, local_instant
from guardian_rct.config.trial_config import TrialConfig, load_config
from guardian_rct.design.allocation import Allocation, allocation_from_frame
from guardian_rct.geo.hotspots import HotspotSet, hotspots_from_frame


def year_trial(tmp_path: Path, hotspots: gpd.GeoDataFrame, *, start: str = "2023-01-02",
               end: str = "2023-12-31", treated: int = 3) -> TrialConfig:
    """A crossover trial config over ``start``..``end`` for the given hotspots."""
    hotspots.to_crs("EPSG:4326").to_file(tmp_path / "hotspots.geojson", driver="GeoJSON")
    text = textwrap.dedent(f"""\
        [trial]
        name = "Simulated trial"
        start_date = {start}
        end_date = {end}
        seed = 4242

        [hotspots]
        path = "hotspots.geojson"
        block_column = "block"

        [design]
        kind = "crossover"
        treated_per_day = {treated}
        windows = ["15:00-23:00"]
        """)
    path = tmp_path / "trial.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def hotspot_set(frame: gpd.GeoDataFrame) -> HotspotSet:
    return hotspots_from_frame(frame, block_column="block" if "block" in frame.columns else None)


def crossover_allocation(config: TrialConfig, hotspots: HotspotSet, *, treated: int = 3,
                         seed: int = 7, jitter: bool = False) -> Allocation:
    """Each day ``treated`` hotspots get a patrol window 15:00-23:00 local (numpy rng,
    not the package's design module, which lives on another branch); with ``jitter``,
    a 15-minute window starting at a random time between 15:00 and 23:00."""
    rng = np.random.default_rng(seed)
    rows = []
    tz = config.trial.tz
    for day in date_range(config.trial.start_date, config.trial.end_date):
        chosen = set(rng.permutation(len(hotspots))[:treated])
        start = pd.Timestamp(local_instant(day, dt.time(15), tz))
        end = pd.Timestamp(local_instant(day, dt.time(23), tz))
        for j, hid in enumerate(hotspots.ids):
            if j in chosen and jitter:
                s = start + pd.Timedelta(minutes=int(rng.integers(0, 465)))
                rows.append((day, hid, "treatment", s, s + pd.Timedelta(minutes=15)))
            elif j in chosen:
                rows.append((day, hid, "treatment", start, end))
            else:
                rows.append((day, hid, "control", pd.NaT, pd.NaT))
    frame = pd.DataFrame(rows, columns=["date", "hotspot_id", "arm", "window_start", "window_end"])
    return allocation_from_frame(frame)


def simple_rings(hotspots: HotspotSet, width: float = 100.0) -> gpd.GeoDataFrame:
    """One ring per hotspot: its ``width`` m buffer minus every hotspot."""
    geoms = hotspots.frame.geometry.to_numpy()
    every = shapely.union_all(geoms)
    ring = shapely.difference(shapely.buffer(geoms, width), every)
    return gpd.GeoDataFrame({"hotspot_id": hotspots.ids, "ring": f"0-{width:g}"}, geometry=ring,
                            crs=hotspots.crs)
