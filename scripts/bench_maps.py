#!/usr/bin/env python
"""Benchmark: the weekly compliance map (all 57 shipped hotspots, labelled), new vs old.

Draws the weekly report's map (8.0 x 6.2 in, 110 dpi, RAG colours, legend, force
boundary and districts) with today's :func:`guardian_rct.reports.maps.hotspot_map_png`
and with the one at a git revision (default ``c3357b1``, the last with the first greedy
placer, which created and measured a matplotlib artist per candidate position), in one
process, interleaved, and prints the median time of each and the ratio old / new. The
new map is timed twice: with the same context as the old (no wards) and with the
shipped wards too.(That the new labels never overlap is
tested in tests/test_map_labels.py, not here.) The 1-minute load average is printed (the machine may be
shared: read the ratio, not the seconds).

Usage: python scripts/bench_maps.py [--rev c3357b1] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd

from guardian_rct.reports import maps

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
COLOURS = ("#1a9850", "#fdae61", "#d73027", "#bdbdbd")


def _old_module(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:src/guardian_rct/reports/maps.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_maps.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_maps", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_maps"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="c3357b1")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    old = _old_module(args.rev)
    hotspots = gpd.read_file(GEODATA / "hotspots.geojson").to_crs("EPSG:27700")
    outline = gpd.read_file(GEODATA / "force_boundary.geojson").to_crs("EPSG:27700")
    districts = gpd.read_file(GEODATA / "districts.geojson").to_crs("EPSG:27700")
    wards = gpd.read_file(GEODATA / "wards.geojson").to_crs("EPSG:27700")
    names = tuple(districts["name"])
    colours = [COLOURS[i % 4] for i in range(len(hotspots))]
    legend = {c: t for c, t in zip(COLOURS, ("on target", "within 15 points", "below", "none"), strict=True)}
    contexts = {
        "old": (old, old.MapContext(outline=outline, districts=districts, district_names=names)),
        "new": (maps, maps.MapContext(outline=outline, districts=districts, district_names=names)),
        "new+wards": (maps, maps.MapContext(outline=outline, districts=districts, district_names=names,
                                            wards=wards, ward_names=tuple(wards["name"]),
                                            notes=tuple(wards["source"].unique()))),
    }
    times: dict[str, list[float]] = {k: [] for k in contexts}
    for _ in range(args.repeat + 1):  # the first round warms caches and is discarded
        for key, (module, context) in contexts.items():
            began = time.perf_counter()
            module.hotspot_map_png(hotspots, colours=colours, labels=list(hotspots["hotspot_id"]),
                                   context=context, title="Compliance by hotspot", legend=legend,
                                   size_inches=(8.0, 6.2))
            times[key].append(time.perf_counter() - began)
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}; {args.repeat} maps each, median seconds:")
    median = {k: statistics.median(v[1:]) for k, v in times.items()}
    for key, value in median.items():
        print(f"  {key:10s} {value:6.3f} s")
    print(f"ratio old / new: {median['old'] / median['new']:.2f}x "
          f"(old / new+wards: {median['old'] / median['new+wards']:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
