"""Benchmark the simulator at the reference trial's size.

57 hotspots (circles of 150-300 m radius scattered over Birmingham), six months of
daily crossover allocation with 28 patrols a day, 365 baseline days; times
``simulate_pings``, ``simulate_crimes`` and writing the files, and prints the volumes.
There is no peer tool to compare with, so this prints absolute times only.

Usage::

    PYTHONPATH=src python scripts/bench_simulate.py [--months 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.days import date_range, local_instant
from guardian_rct.config.trial_config import config_from_dict
from guardian_rct.design.allocation import allocation_from_frame
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.simulation.writers import simulate_crimes, simulate_pings, write_simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--hotspots", type=int, default=57)
    parser.add_argument("--treated", type=int, default=28)
    args = parser.parse_args()
    rng = np.random.default_rng(2022)
    centres = rng.uniform([398000, 280000], [415000, 295000], size=(args.hotspots * 3, 2))
    geoms = []
    for x, y in centres:
        g = shapely.Point(x, y).buffer(rng.uniform(150, 300))
        if not any(g.distance(o) < 200 for o in geoms):
            geoms.append(g)
        if len(geoms) == args.hotspots:
            break
    frame = gpd.GeoDataFrame({"hotspot_id": [f"HS{i + 1:02d}" for i in range(len(geoms))]},
                             geometry=geoms, crs="EPSG:27700")
    hotspots = hotspots_from_frame(frame)
    start = dt.date(2022, 10, 3)
    end = (pd.Timestamp(start) + pd.DateOffset(months=args.months)).date() - dt.timedelta(days=1)
    config = config_from_dict({
        "trial": {"name": "bench", "start_date": start.isoformat(), "end_date": end.isoformat(), "seed": 20221003},
        "hotspots": {"path": "unused.geojson"},
        "design": {"kind": "crossover", "treated_per_day": args.treated},
    })
    rows = []
    tz = config.trial.tz
    for day in date_range(start, end):
        chosen = set(rng.permutation(len(geoms))[:args.treated])
        for j, hid in enumerate(hotspots.ids):
            if j in chosen:
                s = pd.Timestamp(local_instant(day, dt.time(15), tz)) + pd.Timedelta(minutes=int(rng.integers(0, 480)))
                rows.append((day, hid, "treatment", s, s + pd.Timedelta(minutes=15)))
            else:
                rows.append((day, hid, "control", pd.NaT, pd.NaT))
    allocation = allocation_from_frame(pd.DataFrame(rows, columns=["date", "hotspot_id", "arm", "window_start",
                                                                   "window_end"]))
    t0 = time.perf_counter()
    pings = simulate_pings(config, hotspots, allocation)
    t1 = time.perf_counter()
    crimes = simulate_crimes(config, hotspots, allocation, baseline_days=365, delivered=pings.compliance)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        written = write_simulation(tmp, crimes=crimes, pings=pings)
        t3 = time.perf_counter()
        sizes = {k: Path(v).stat().st_size for k, v in written.items()}
    print(f"{len(hotspots)} hotspots, {len(allocation.days)} trial days, {args.treated} patrols/day")
    print(f"simulate_pings : {t1 - t0:6.2f} s  {len(pings.frame):>9,} pings, "
          f"{pings.truth['delivered_share']:.1%} delivered")
    print(f"simulate_crimes: {t2 - t1:6.2f} s  {len(crimes.frame):>9,} crimes (incl. 365 baseline days)")
    print(f"write files    : {t3 - t2:6.2f} s  " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
