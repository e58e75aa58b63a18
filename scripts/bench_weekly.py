"""Benchmark: the demo's weekly reports one period at a time vs in one bulk call.

Builds the demo trial up to the scored pings (``guardian-rct demo`` steps 1-4) once,
copies it, and writes every week's report twice on identical data: period by period with
:func:`guardian_rct.jobs.weekly.weekly_compliance_report` (a fresh scoring context,
provenance, pseudonymised visits and map context per week, as the demo did before) and
with :func:`guardian_rct.jobs.weekly.weekly_compliance_reports`. Prints both wall times,
their ratio, and the share spent drawing the static map and the trend chart (the same in
both paths; timed by wrapping, not replacing, those functions).

    python scripts/bench_weekly.py [--days 182]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs import demo
from guardian_rct.jobs.weekly import weekly_compliance_report, weekly_compliance_reports
from guardian_rct.ledger.pseudonym import pseudonym_key
from guardian_rct.ledger.publish import published_allocation
from guardian_rct.ledger.store import load_trial_hotspots
from guardian_rct.reports import weekly as weekly_report

_SPENT = {"map": 0.0, "trend": 0.0}


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _SPENT[name] += time.perf_counter() - began
    return wrapper


def _trial(folder: Path, days: int) -> dict:
    config = load_config(folder / "trial.toml")
    hotspots = load_trial_hotspots(config)
    first = demo.DEMO_START
    last = first + demo.dt.timedelta(days=days - 1)
    allocation = published_allocation(config, first=first, last=last, hotspots=hotspots)
    pings = folder / "simulated" / "pings.parquet"  # the demo's simulation writes Parquet
    return {"config": config, "hotspots": hotspots, "allocation": allocation, "pings": pings,
            "score": demo._score(config, hotspots, pings), "periods": demo.demo_periods(first, last, folder / "weekly")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=demo.DEMO_DAYS)
    args = parser.parse_args()
    weekly_report._map_uri = _timed("map", weekly_report._map_uri)
    weekly_report._trend_uri = _timed("trend", weekly_report._trend_uri)
    root = Path(tempfile.mkdtemp(prefix="bench-weekly-"))
    try:
        base = root / "one"
        base.mkdir()
        config = demo._register(base, seed=20231002, ri_draws=100)
        first = demo.DEMO_START
        last = first + demo.dt.timedelta(days=args.days - 1)
        allocation, hotspots, _ = demo._publish(config, base, first, last)
        demo._simulate(config, hotspots, allocation, base, effect=0.8, compliance=0.75)
        pseudonym_key(config.trial.store)  # made on first use: make it before copying
        shutil.copytree(base, root / "bulk")
        one, bulk = _trial(base, args.days), _trial(root / "bulk", args.days)
        spent = {}
        began, cpu = time.perf_counter(), time.process_time()
        for p in one["periods"]:
            weekly_compliance_report(one["config"], one["hotspots"], one["allocation"], one["score"], first=p.first,
                                     last=p.last, out_dir=p.out_dir, period_label=p.label,
                                     source="simulated location pings", inputs={"pings": one["pings"]})
        t_one, cpu_one = time.perf_counter() - began, time.process_time() - cpu
        spent["one"] = dict(_SPENT)
        _SPENT.update(map=0.0, trend=0.0)
        began, cpu = time.perf_counter(), time.process_time()
        weekly_compliance_reports(bulk["config"], bulk["hotspots"], bulk["allocation"], bulk["score"],
                                  periods=bulk["periods"], source="simulated location pings",
                                  inputs={"pings": bulk["pings"]})
        t_bulk, cpu_bulk = time.perf_counter() - began, time.process_time() - cpu
        spent["bulk"] = dict(_SPENT)
        n = len(one["periods"])
        for name, total in (("one period at a time", t_one), ("bulk", t_bulk)):
            key = "one" if name.startswith("one") else "bulk"
            rest = total - spent[key]["map"] - spent[key]["trend"]
            print(f"{name:>21}: {total:6.1f} s for {n} weeks ({total / n:.2f} s/week; static map "
                  f"{spent[key]['map'] / n:.2f}, trend chart {spent[key]['trend'] / n:.2f}, "
                  f"everything else {rest / n:.2f} s/week)")
        rest_one = t_one - spent["one"]["map"] - spent["one"]["trend"]
        rest_bulk = t_bulk - spent["bulk"]["map"] - spent["bulk"]["trend"]
        print(f"ratio one-at-a-time / bulk: {t_one / t_bulk:.2f}x overall (wall), "
              f"{rest_one / rest_bulk:.2f}x outside the two charts; CPU {cpu_one:.1f} s vs {cpu_bulk:.1f} s "
              f"({cpu_one / cpu_bulk:.2f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
