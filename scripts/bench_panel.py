"""Time the panel build at trial scale, and compare its point-in-polygon step with geopandas.

57 hotspots (200 m squares) × 365 days, N crimes spread over a 10 km square, three
outcomes, two buffer rings. Prints the panel build time, and the time of our STRtree
placement against ``geopandas.sjoin(predicate="intersects")`` on the same points (the
peer), with their ratio and a check that both place the same pairs.

Run: PYTHONPATH=src python scripts/bench_panel.py [N]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.days import date_range
from guardian_rct.config.trial_config import config_from_dict
from guardian_rct.crimes.panel import _place, build_panel
from guardian_rct.crimes.records import crimes_from_frame
from guardian_rct.design.allocation import allocation_from_frame
from guardian_rct.geo.hotspots import hotspots_from_frame


def main(n: int) -> None:
    rng = np.random.default_rng(1)
    xs, ys = 400_000 + rng.uniform(0, 10_000, 57), 280_000 + rng.uniform(0, 10_000, 57)
    frame = gpd.GeoDataFrame({"hotspot_id": [f"H{i:02d}" for i in range(57)]},
                             geometry=[shapely.box(x, y, x + 200, y + 200) for x, y in zip(xs, ys, strict=True)],
                             crs="EPSG:27700")
    hotspots = hotspots_from_frame(frame)
    rings = []
    for hid, geom in zip(hotspots.ids, hotspots.frame.geometry, strict=True):
        rings.append({"hotspot_id": hid, "ring": "0-100", "inner_m": 0.0, "outer_m": 100.0,
                      "geometry": geom.buffer(100).difference(geom)})
        rings.append({"hotspot_id": hid, "ring": "100-200", "inner_m": 100.0, "outer_m": 200.0,
                      "geometry": geom.buffer(200).difference(geom.buffer(100))})
    rings = gpd.GeoDataFrame(rings, crs="EPSG:27700")
    config = config_from_dict({"trial": {"name": "bench", "start_date": "2023-01-01", "end_date": "2023-12-31",
                                         "seed": 1},
                               "hotspots": {"path": "x.geojson"},
                               "design": {"treated_per_day": 28}})
    days = date_range(dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    arms = rng.random((len(days), 57)) < 0.5
    alloc = pd.DataFrame({"date": np.repeat([d.isoformat() for d in days], 57),
                          "hotspot_id": np.tile(hotspots.ids, len(days)),
                          "arm": np.where(arms.ravel(), "treatment", "control")})
    alloc["window_start"] = np.where(arms.ravel(), alloc["date"] + "T15:00:00Z", "")
    alloc["window_end"] = np.where(arms.ravel(), alloc["date"] + "T15:15:00Z", "")
    allocation = allocation_from_frame(alloc)
    start = pd.Timestamp("2022-01-01T00:00Z").value // 10**9
    stamps = pd.to_datetime(rng.integers(start, start + 730 * 86400, n), unit="s", utc=True)
    raw = pd.DataFrame({"crime_id": np.arange(n).astype(str),
                        "offence_code": rng.choice(["008/06", "008/01", "105/01", "049/10", "028/03"], n),
                        "occurred_at": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "x": 400_000 + rng.uniform(0, 10_000, n), "y": 280_000 + rng.uniform(0, 10_000, n),
                        "victim_age": rng.integers(10, 60, n).astype(str)})
    t0 = time.perf_counter()
    crimes = crimes_from_frame(raw, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    t1 = time.perf_counter()
    panel = build_panel(config, hotspots, allocation, crimes, rings=rings)
    t2 = time.perf_counter()
    print(f"{n} crimes: validate {t1 - t0:.2f} s, build panel ({len(panel.frame)} rows, "
          f"{len(panel.rings)} ring rows) {t2 - t1:.2f} s")
    points = shapely.points(crimes.frame["x"].to_numpy(), crimes.frame["y"].to_numpy())
    t3 = time.perf_counter()
    ours, _, _ = _place(points, hotspots, None)
    t4 = time.perf_counter()
    pts = gpd.GeoDataFrame(geometry=points, crs="EPSG:27700")
    joined = gpd.sjoin(pts, hotspots.frame, predicate="intersects", how="inner")
    t5 = time.perf_counter()
    same = set(zip(ours[0], ours[1], strict=True)) == set(zip(joined.index, joined["index_right"], strict=True))
    print(f"point-in-polygon: ours {t4 - t3:.3f} s, geopandas.sjoin {t5 - t4:.3f} s, "
          f"ratio {(t5 - t4) / (t4 - t3):.2f}x, same pairs: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
