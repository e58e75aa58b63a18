#!/usr/bin/env python
"""Benchmark: the point-index build (``build_index``) with the compiled build steps against
the all-numpy build they replaced (``tests/reference/point_raster_main.py``, main's
``geo/point_raster.py`` of 011dd8a, kept verbatim for the identity test).

Both run in one process on the 57 synthetic hotspots of ``bench_pings.py``, alternating,
``--n`` times each after a warm-up; prints min / median / max wall and CPU time of each and
the ratio of the minima and of the medians, and checks that the tables are identical.

Usage: python scripts/bench_build.py [--n 200] [--seed 1] [--tolerance 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import guardian_rct.geo.point_index as point_index  # noqa: E402
from bench_pings import synthetic_hotspots  # noqa: E402


def _reference():
    spec = importlib.util.spec_from_file_location("point_raster_main", ROOT / "tests" / "reference" / "point_raster_main.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="builds of each (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=0.0, help="gps_tolerance_m (default 0)")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    polys = synthetic_hotspots(np.random.default_rng(args.seed))
    ways = {"compiled": point_index.build_tables, "numpy (main)": _reference().build_tables}
    built = {}
    for name, tables in list(ways.items()) * 3:  # warm-up: imports, numba's cache, allocator
        point_index.build_tables = tables
        built[name] = point_index.build_index(polys, tolerance_m=args.tolerance)
    same = all(np.array_equal(getattr(built["compiled"], f.name), getattr(built["numpy (main)"], f.name))
               for f in dataclasses.fields(built["compiled"]) if f.name != "geometries")
    wall = {name: [] for name in ways}
    cpu = {name: [] for name in ways}
    for _ in range(args.n):
        for name, tables in ways.items():
            point_index.build_tables = tables
            c0, t0 = time.process_time(), time.perf_counter()
            point_index.build_index(polys, tolerance_m=args.tolerance)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    for name in ways:
        w, c = np.array(wall[name]) * 1e3, np.array(cpu[name]) * 1e3
        print(f"{name:13s} build_index wall min {w.min():.2f} / median {np.median(w):.2f} / max {w.max():.2f} ms; "
              f"CPU min {c.min():.2f} / median {np.median(c):.2f} ms ({args.n} builds)")
    fast, slow = np.array(wall["compiled"]), np.array(wall["numpy (main)"])
    print(f"ratio numpy / compiled: {slow.min() / fast.min():.2f}x (minima), "
          f"{np.median(slow) / np.median(fast):.2f}x (medians)")
    print(f"identical tables: {same}")
    print(f"load average (1 min) before {load0:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
