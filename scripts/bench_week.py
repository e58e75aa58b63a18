#!/usr/bin/env python
"""Benchmark: score a force-week of location pings end to end, measuring time and memory.

Generates (once, into --workdir) a synthetic trial: 57 irregular hotspots (as in
bench_pings.py), a crossover allocation for ISO week 2023-W18 (28 of 57 treated per
day, patrol start times drawn in 15:00-23:00 local), and N pings in one Parquet file:
--devices radios reporting every few seconds all week (WGS84 lat/lon, a Parquet
timestamp column in UTC, accuracy), each spending about 15% of its half-hour slots
patrolling a hotspot and the rest elsewhere in the force area, with a sprinkling of bad
rows (missing coordinates, poor accuracy, exact duplicates) that must be quarantined.

Then runs the real command line once under ``/usr/bin/time -v``:

    guardian-rct compliance --config trial.toml --pings pings.parquet \\
        --allocation allocation.csv --week 2023-W18 --out report

and prints its wall-clock time, peak resident memory (maximum RSS of the process) and
the report's row counts (read = used + quarantined), beside the floor: the time to read
the same file's columns with ``pyarrow.parquet.ParquetFile.iter_batches`` in this
process (with the default pre-buffering and without it; the faster is the floor), and
the ratio ours / read. The 1-minute load average is printed before and
after (the machine may be shared: read the ratio with it).

``--all-bad`` writes a file in which every row must be quarantined (no offset on the
timestamp, accuracy 500 m, or no coordinates, in turn): the peak RSS must stay bounded
however many rows are bad (the quarantine is spooled to disk).

``--partitions N`` scores a folder of N Parquet files cut from the same pings (row groups
in order), as a Spark or Dask export would be. The Dask engine splits Parquet files into
tasks of a few row groups, so even a single file is shared by the workers; it prints how
many tasks each worker ran.

Usage: python scripts/bench_week.py [--n 50000000] [--devices 600] [--workdir DIR]
       [--engine local|dask] [--all-bad] [--partitions N] [--large-tables parquet|csv|both]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import shapely  # noqa: E402
from pyproj import Transformer  # noqa: E402

from bench_pings import synthetic_hotspots  # noqa: E402

WEEK_START = pd.Timestamp("2023-05-01T05:00:00Z")  # Monday 06:00 BST
WEEK_SECONDS = 7 * 86_400


def disjoint_hotspots(rng: np.random.Generator, n: int = 57) -> np.ndarray:
    """:func:`bench_pings.synthetic_hotspots`, redrawing any polygon that overlaps an
    earlier one (the trial refuses overlapping hotspots)."""
    polys = list(synthetic_hotspots(rng, n))
    for i in range(len(polys)):
        while any(polys[i].intersects(p) for p in polys[:i]):
            polys[i] = synthetic_hotspots(rng, 1)[0]
    return np.array(polys, dtype=object)


def write_trial(work: Path, rng: np.random.Generator) -> np.ndarray:
    polys = disjoint_hotspots(rng)
    frame = gpd.GeoDataFrame({"hotspot_id": [f"H{i + 1:02d}" for i in range(len(polys))],
                              "block": ["A" if i % 2 else "B" for i in range(len(polys))]},
                             geometry=list(polys), crs="EPSG:27700")
    frame.to_file(work / "hotspots.gpkg", driver="GPKG")
    (work / "trial.toml").write_text(textwrap.dedent("""\
        [trial]
        name = "Benchmark week"
        timezone = "Europe/London"
        day_starts = "06:00"
        start_date = 2023-04-01
        end_date = 2023-09-30
        seed = 1
        store = "trial.db"

        [hotspots]
        path = "hotspots.gpkg"
        block_column = "block"

        [design]
        kind = "crossover"
        treated_per_day = 28
        windows = ["15:00-23:00"]
        """), encoding="utf-8")
    rows = []
    ids = frame["hotspot_id"].tolist()
    for d in pd.date_range("2023-05-01", "2023-05-07").date:
        treated = set(rng.choice(ids, 28, replace=False))
        for h in ids:
            if h in treated:
                ws = pd.Timestamp(f"{d} 15:00", tz="Europe/London") + pd.Timedelta(minutes=int(rng.integers(0, 465)))
                rows.append((d.isoformat(), h, "treatment", ws.isoformat(), (ws + pd.Timedelta(minutes=15)).isoformat()))
            else:
                rows.append((d.isoformat(), h, "control", "", ""))
    pd.DataFrame(rows, columns=["date", "hotspot_id", "arm", "window_start", "window_end"]).to_csv(
        work / "allocation.csv", index=False)
    return polys


def write_pings(path: Path, polys: np.ndarray, n: int, devices: int, rng: np.random.Generator) -> int:
    step = devices * WEEK_SECONDS / n  # seconds between one device's fixes
    per_device = int(WEEK_SECONDS / step)
    centroids = shapely.centroid(polys)
    cx, cy = shapely.get_x(centroids), shapely.get_y(centroids)
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    schema = pa.schema([("device_id", pa.string()), ("officer_id", pa.string()), ("team", pa.string()),
                        ("timestamp", pa.timestamp("us", tz="UTC")), ("lat", pa.float64()),
                        ("lon", pa.float64()), ("accuracy_m", pa.float64())])
    written = 0
    group = max(1, 2_000_000 // per_device)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for d0 in range(0, devices, group):
            ds = np.arange(d0, min(devices, d0 + group))
            dev = np.repeat(ds, per_device)
            t = np.tile(np.arange(per_device) * step, len(ds)) + rng.uniform(0, step / 2, len(dev))
            slot = (t // 1800).astype(np.int64)
            key = dev * 10_000 + slot
            uniq, inv = np.unique(key, return_inverse=True)
            patrol = rng.random(len(uniq)) < 0.15
            target = rng.integers(0, len(polys), len(uniq))
            ex = np.where(patrol, cx[target], rng.uniform(398000, 427000, len(uniq)))
            ey = np.where(patrol, cy[target], rng.uniform(278000, 307000, len(uniq)))
            spread = np.where(patrol[inv], 120.0, 400.0)
            x = ex[inv] + rng.normal(0, 1, len(dev)) * spread
            y = ey[inv] + rng.normal(0, 1, len(dev)) * spread
            lon, lat = to_ll.transform(x, y)
            acc = rng.choice([4.0, 8.0, 15.0, 30.0], len(dev))
            bad = rng.random(len(dev))
            lat[bad < 0.0005] = np.nan
            acc[(bad >= 0.0005) & (bad < 0.001)] = 500.0
            ts = (WEEK_START.value // 1000 + (t * 1e6).astype(np.int64))
            order = np.argsort(ts, kind="stable")
            dup = np.flatnonzero(rng.random(len(dev)) < 0.0002)
            order = np.insert(order, np.searchsorted(order, order[dup]), order[dup])
            names = np.array([f"R{i:04d}" for i in ds], dtype=object)[dev - d0]
            officers = np.array([f"PC{i:05d}" for i in ds], dtype=object)[dev - d0]
            teams = np.array([f"Team {i % 6 + 1}" for i in ds], dtype=object)[dev - d0]
            table = pa.table({"device_id": names[order], "officer_id": officers[order], "team": teams[order],
                              "timestamp": pa.array(ts[order], type=pa.timestamp("us", tz="UTC")),
                              "lat": lat[order], "lon": lon[order], "accuracy_m": acc[order]}, schema=schema)
            writer.write_table(table, row_group_size=1_000_000)
            written += len(table)
    return written


def make_all_bad(path: Path, good: Path) -> None:
    """Rewrite ``good`` so that every row is unusable (three reasons in turn); same size."""
    handle = pq.ParquetFile(good)
    schema = handle.schema_arrow.set(handle.schema_arrow.get_field_index("timestamp"),
                                     pa.field("timestamp", pa.timestamp("us")))
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for batch in handle.iter_batches(batch_size=1_000_000):
            table = pa.Table.from_batches([batch])
            k = np.arange(len(table)) % 3
            lat = table["lat"].to_numpy()
            lat = np.where(k == 2, np.nan, lat)
            acc = np.where(k == 1, 500.0, table["accuracy_m"].to_numpy())
            ts = table["timestamp"].cast(pa.timestamp("us"))  # no offset: quarantined without --ping-timezone
            table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", ts)
            table = table.set_column(table.schema.get_field_index("lat"), "lat", pa.array(lat))
            table = table.set_column(table.schema.get_field_index("accuracy_m"), "accuracy_m", pa.array(acc))
            writer.write_table(table.cast(schema), row_group_size=1_000_000)


def write_parts(folder: Path, source: Path, parts: int) -> None:
    """Split ``source`` into ``parts`` Parquet files of consecutive row groups (a
    partitioned dataset, as Spark or Dask write them)."""
    handle = pq.ParquetFile(source)
    groups = np.array_split(np.arange(handle.num_row_groups), parts)
    folder.mkdir(parents=True, exist_ok=True)
    for i, chosen in enumerate(groups):
        if len(chosen) == 0:
            continue
        with pq.ParquetWriter(folder / f"part-{i:05d}.parquet", handle.schema_arrow, compression="snappy") as writer:
            for g in chosen:
                writer.write_table(handle.read_row_group(int(g)), row_group_size=1_000_000)


def read_floor(path: Path, *, pre_buffer: bool = True) -> float:
    """Seconds to read every column of ``path`` (a file, or a folder of files) with
    ``iter_batches`` (the I/O + decode floor); ``pre_buffer`` as ``ParquetFile`` takes it."""
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    t0 = time.perf_counter()
    rows = 0
    for file in files:
        for batch in pq.ParquetFile(file, pre_buffer=pre_buffer).iter_batches(batch_size=1_000_000):
            rows += batch.num_rows
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000_000, help="pings (default 50,000,000)")
    parser.add_argument("--devices", type=int, default=600)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/guardian-bench-week"))
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--all-bad", action="store_true", help="every row unusable (quarantine memory)")
    parser.add_argument("--large-tables", choices=("parquet", "csv", "both"), default="parquet",
                        help="format of the visits and quarantine tables written (default parquet)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="score a folder of this many Parquet files made from the pings (a partitioned "
                        "dataset, as Spark or Dask write them); 0 (default): the single file")
    args = parser.parse_args()
    work = args.workdir / f"n{args.n}"
    work.mkdir(parents=True, exist_ok=True)
    pings = work / "pings.parquet"
    if not pings.exists():
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        polys = write_trial(work, rng)
        rows = write_pings(work / "pings.tmp", polys, args.n, args.devices, rng)
        (work / "pings.tmp").rename(pings)
        print(f"generated {rows:,} pings in {time.perf_counter() - t0:.0f} s "
              f"({pings.stat().st_size / 2**20:.0f} MiB Parquet)")
    if args.all_bad:
        bad = work / "pings-all-bad.parquet"
        if not bad.exists():
            make_all_bad(work / "bad.tmp", pings)
            (work / "bad.tmp").rename(bad)
        pings = bad
    if args.partitions > 0:
        folder = work / f"{pings.stem}-{args.partitions}-parts"
        if not folder.exists():
            write_parts(work / "parts.tmp", pings, args.partitions)
            (work / "parts.tmp").rename(folder)
        pings = folder
        print(f"pings: {pings} ({len(list(folder.glob('*.parquet')))} files)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "guardian_rct", "init", "--config", str(work / "trial.toml")],
                   env=env, check=True, capture_output=True)
    out = work / ("report-all-bad" if args.all_bad else "report")
    load0 = os.getloadavg()[0]
    floors = {"default": read_floor(pings), "pre_buffer=False": read_floor(pings, pre_buffer=False)}
    floor = min(floors.values())  # the faster read is the floor
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "guardian_rct", "compliance",
               "--config", str(work / "trial.toml"), "--pings", str(pings), "--allocation",
               str(work / "allocation.csv"), "--week", "2023-W18", "--out", str(out), "--engine", args.engine,
               "--large-tables", args.large_tables, *(["-v"] if args.engine == "dask" else [])]
    print("running:", " ".join(command[2:]))
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    print(run.stdout.strip())
    for line in run.stderr.splitlines():  # with -v: how many tasks, and which worker ran how many
        if "dask engine:" in line:
            print(line.strip())
    if run.returncode != 0:
        print(run.stderr)
        return 1
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", run.stderr).group(1)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    cpu = re.search(r"Percent of CPU this job got: (\S+)", run.stderr).group(1)
    cpu_s = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", run.stderr).group(1)) for k in ("User", "System"))
    report = json.loads((out / "weekly_compliance.json").read_text())
    p = report["pings"]
    print(f"pings read {p['read']:,} = used {p['used']:,} + quarantined {p['quarantined']:,}; "
          f"in hotspots {p['in_hotspots']:,}; visits {report['visits']['visits']:,}")
    print(f"wall clock {wall}; peak RSS {rss / 2**20:.2f} GiB ({rss:,} kB); CPU {cpu} "
          f"(/usr/bin/time -v, {os.cpu_count()} cores)")
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    quarantine = next(out / n for n in ("quarantine.parquet", "quarantine.csv") if (out / n).exists())
    print("read floor (ParquetFile.iter_batches, all columns; the faster of "
          + ", ".join(f"{k} {v:.2f} s" for k, v in floors.items()) + f"): {floor:.2f} s; "
          f"ratio ours / read: {seconds / floor:.1f}x; {quarantine.name} {quarantine.stat().st_size / 2**20:.0f} MiB")
    print(f"CPU time (user + system) {cpu_s:.1f} s: on a quiet 2-core machine the wall clock is "
          f"about this divided by the cores kept busy")
    print(f"load average (1 min) before {load0:.2f}, after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
