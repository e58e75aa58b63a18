#!/usr/bin/env python
"""Benchmark: guardian_rct's raster point-in-hotspot assignment against geopandas.sjoin.

Both run in one process on the same synthetic data: 57 irregular hotspot polygons
(20-120 vertices, 150-350 m across, like street-based hotspots) spread over a 25 km
square of British National Grid, and N pings of which 30% cluster around hotspots (so
many fall near edges) and the rest spread over the area; the polygons' own vertices are
added as pings (on-boundary cases). The "obvious" way builds a GeoDataFrame of points
from the coordinate arrays and calls ``gpd.sjoin(points, hotspots,
predicate="intersects")``; ours builds the index and assigns from the arrays. Both are
timed after a small warm-up, once each, from coordinate arrays to (ping, hotspot) pairs;
the pairs must be identical. The first build and assignment in the process (numba's
start and cache load of our compiled kernels, or their compilation on a machine without
a cache) is timed and printed apart, before the warm-up.

With ``--repeat R`` both are run R times (alternating) and the medians are compared.

Usage: python scripts/bench_pings.py [--n 10000000] [--tolerance 0] [--seed 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import geopandas as gpd  # noqa: E402
import shapely  # noqa: E402

from guardian_rct.geo.point_index import assign_points, build_index  # noqa: E402


def synthetic_hotspots(rng: np.random.Generator, n: int = 57) -> np.ndarray:
    """Irregular star-shaped polygons (valid, via buffer(0)) in a 25 km square."""
    polys = []
    for _ in range(n):
        cx, cy = 400000 + rng.uniform(0, 25000), 280000 + rng.uniform(0, 25000)
        k = int(rng.integers(20, 120))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(150, 350, k)
        polys.append(shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]).buffer(0))
    return np.array(polys, dtype=object)


def synthetic_pings(rng: np.random.Generator, polys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    k = rng.integers(0, len(polys), n)
    near = rng.random(n) < 0.3
    c = shapely.centroid(polys)
    cx, cy = shapely.get_x(c)[k], shapely.get_y(c)[k]
    x = np.where(near, cx + rng.normal(0, 250, n), rng.uniform(398000, 427000, n))
    y = np.where(near, cy + rng.normal(0, 250, n), rng.uniform(278000, 307000, n))
    v = shapely.get_coordinates(polys)
    m = min(len(v), n)
    x[:m], y[:m] = v[:m, 0], v[:m, 1]
    return x, y


def run_ours(polys, x, y, tolerance):
    c0, t0 = time.process_time(), time.perf_counter()
    index = build_index(polys, tolerance_m=tolerance)
    t1 = time.perf_counter()
    p, h = assign_points(index, x, y)
    t2, c2 = time.perf_counter(), time.process_time()
    return p, h, t1 - t0, t2 - t1, index, c2 - c0


def run_sjoin(geoms, x, y):
    c0, t0 = time.process_time(), time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:27700")
    t1 = time.perf_counter()
    hot = gpd.GeoDataFrame({"k": np.arange(len(geoms))}, geometry=list(geoms), crs="EPSG:27700")
    joined = gpd.sjoin(points, hot, predicate="intersects")
    t2, c2 = time.perf_counter(), time.process_time()
    p, h = joined.index.to_numpy(), joined["index_right"].to_numpy()
    order = np.lexsort((h, p))
    return p[order], h[order], t1 - t0, t2 - t1, c2 - c0


def first_call(polys, x, y, tolerance) -> str:
    """Time the kernels' first calls in this process — the build's and the assignment's
    (numba loads them from its cache, or compiles them when the cache is missing or
    stale) — apart from the timed runs."""
    from guardian_rct.geo import point_build, point_kernel

    t0 = time.perf_counter()
    index = build_index(polys, tolerance_m=tolerance)
    assign_points(index, x, y)
    t1 = time.perf_counter()
    kernels = [f for m in (point_build, point_kernel) for f in vars(m).values() if hasattr(f, "stats")]
    how = "compiled" if any(sum(k.stats.cache_misses.values()) for k in kernels) else "loaded from the cache"
    return f"first kernel calls in this process, build + assign ({how}, {len(x):,} points): {t1 - t0:.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000_000, help="pings (default 10,000,000)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="gps_tolerance_m (default 0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians are reported (default 1)")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(args.seed)
    polys = synthetic_hotspots(rng)
    x, y = synthetic_pings(rng, polys, args.n)
    warm = first_call(polys, x[:10_000], y[:10_000], args.tolerance)
    # Warm-up (imports, caches) on a small slice, for both.
    _, _, _, _, index, _ = run_ours(polys, x[:10_000], y[:10_000], args.tolerance)
    run_sjoin(index.geometries, x[:10_000], y[:10_000])
    runs_ours, runs_sjoin, cpu_ours, cpu_sjoin, same = [], [], [], [], True
    for _ in range(max(1, args.repeat)):
        p, h, t_build, t_assign, index, cpu = run_ours(polys, x, y, args.tolerance)
        runs_ours.append((t_build, t_assign))
        cpu_ours.append(cpu)
        sp, sh, t_points, t_join, cpu = run_sjoin(index.geometries, x, y)
        runs_sjoin.append((t_points, t_join))
        cpu_sjoin.append(cpu)
        same = same and np.array_equal(p, sp) and np.array_equal(h, sh)
        del sp, sh
    t_build, t_assign = np.median(np.array(runs_ours), axis=0)
    t_points, t_join = np.median(np.array(runs_sjoin), axis=0)
    if args.repeat > 1:
        totals = [a + b for a, b in runs_ours]
        print(f"medians of {args.repeat} runs; ours (build + assign) per run: "
              + ", ".join(f"{t:.3f}" for t in totals) + f" s (min {min(totals):.3f}, max {max(totals):.3f}); "
              "sjoin call alone per run: " + ", ".join(f"{b:.3f}" for _, b in runs_sjoin) + " s")
    print(f"CPU time (all threads), median per run: ours {np.median(cpu_ours):.3f} s, "
          f"points_from_xy + sjoin {np.median(cpu_sjoin):.3f} s")
    ours = t_build + t_assign
    theirs = t_points + t_join
    print(f"pings: {args.n:,}; hotspots: {len(polys)}; tolerance: {args.tolerance} m; "
          f"pairs: {len(p):,}; fine cell {index.cell:.2f} m, {index.coarse.size:,} coarse cells, {len(index.blocks):,} fine blocks, "
          f"boundary cells {100 * index.boundary_fraction:.2f}%")
    print(f"guardian_rct: build {t_build:.3f} s + assign {t_assign:.3f} s = {ours:.3f} s")
    print(f"geopandas.sjoin: points_from_xy {t_points:.3f} s + sjoin {t_join:.3f} s = {theirs:.3f} s")
    print(f"identical assignments: {same}")
    print(warm)
    print(f"ratio (sjoin total / ours total): {theirs / ours:.1f}x; "
          f"(sjoin call alone / ours total): {t_join / ours:.1f}x")
    print(f"ratio with the index built once per trial (sjoin total / assign): {theirs / t_assign:.1f}x; "
          f"(sjoin call alone / assign): {t_join / t_assign:.1f}x")
    print(f"load average (1 min) before {load0:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
