#!/usr/bin/env python
"""Pool simulation-grid runs into one table (docs/estimators_validation.md, follow-up 6).

Runs of ``scripts/simulation_study.py --grid`` over disjoint trial ranges (``--first-trial``)
of the same cell and trial length are pooled by trial count: coverage, size and bias are
means over trials, so the pooled value is the trial-weighted mean and its Monte Carlo SE
``sqrt(p(1 − p)/N)`` (bias: ``sqrt(Σ (n_i se_i)²)/N``). Trial ``i`` has the same seeds in
every mode, so runs whose trial ranges overlap hold the same trials: of overlapping runs
only the longest is used (never the same trial twice). ``--ri-study`` JSON files (RI under
the null only) add null trials to the randomisation rows' size, and to the "led with" row
where randomisation inference leads in every trial. ``--ri-coverage`` files add effect
trials to the randomisation rows' coverage (for the statistic the grid ran), and to "led
with" where RI leads in every trial.

``--cace`` files (``--cace-study``) are pooled into a second table the same way.

Runs made with another randomisation p-value rule than ``--p-value-rule`` (records from
before follow-up 7 carry none and used the symmetric rule) are refused, never pooled.

Usage: python scripts/pool_simulation_grid.py GRID.json [GRID.json ...] [--ri-null F ...]
       [--ri-coverage F ...] [--statistic studentised] [--cace F ...] [--p-value-rule equal-tailed]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def _check_rule(found: str | None, path: Path, wanted: str) -> None:
    """Refuse a run of another p-value rule than ``wanted`` (no record: follow-ups 1-6, symmetric)."""
    rule = found or "symmetric"
    if rule != wanted:
        raise SystemExit(f"{path}: a run with the {rule!r} randomisation p-value rule cannot be pooled "
                         f"with {wanted!r} runs; pool it with --p-value-rule {rule}")


def _first(data: dict) -> int:
    return int(data.get("setup", {}).get("first_trial", 0) or 0)


def _cell_runs(paths: list[Path], rule: str) -> dict[tuple[int, str], list[tuple[range, dict]]]:
    runs: dict[tuple[int, str], list[tuple[range, dict]]] = defaultdict(list)
    for path in paths:
        data = json.loads(path.read_text())
        n, days, first = data["setup"]["trials_per_arm"], data["setup"]["days"], _first(data)
        _check_rule(data["setup"].get("ri_p_value"), path, rule)
        for cell, result in data["cells"].items():
            runs[(days, cell)].append((range(first, first + n),
                                       {(r["outcome"], r["method"]): r for r in result["rows"]}))
    return runs


def _extra(paths: list[Path], kind: str, statistic: str,
           rule: str) -> dict[tuple[int, str, str], list[tuple[range, float]]]:
    """(days, cell, outcome) -> [(trial range, rate)] from RI-only null or coverage runs."""
    out: dict[tuple[int, str, str], list[tuple[range, float]]] = defaultdict(list)
    for path in paths:
        data = json.loads(path.read_text())
        for run in data["ri_null" if kind == "size" else "ri_coverage"]:
            trials = range(run["first_trial"], run["first_trial"] + run["trials"])
            _check_rule(run.get("p_value_rule"), path, rule)
            for col, o in run["outcomes"].items():
                rate = o["size"] if kind == "size" else o[statistic]["coverage"]
                out[(run["days"], run["cell"], col)].append((trials, rate))
    return out


def _pooled(parts: list[tuple[range, float]]) -> tuple[float, int]:
    """Trial-weighted mean over non-overlapping runs (the longest of overlapping ones)."""
    chosen: list[tuple[range, float]] = []
    for trials, value in sorted(parts, key=lambda p: -len(p[0])):
        if all(trials.stop <= c.start or c.stop <= trials.start for c, _ in chosen):
            chosen.append((trials, value))
    total = sum(len(t) for t, _ in chosen)
    return sum(len(t) * v for t, v in chosen) / total, total


def table(grid: list[Path], ri_null: list[Path], ri_coverage: list[Path], statistic: str,
          rule: str = "equal-tailed") -> str:
    runs = _cell_runs(grid, rule)
    sizes, covers = _extra(ri_null, "size", statistic, rule), _extra(ri_coverage, "coverage", statistic, rule)
    lines = ["| days | cell | outcome | method | bias (log RR) ± MC SE | 95% coverage ± MC SE (trials) "
             "| size at 5% ± MC SE (trials) | note |", "|---|---|---|---|---|---|---|---|"]
    for (days, cell), parts in runs.items():
        for key, first in parts[0][1].items():
            outcome, method = key
            rows = [(len(t), r[key]) for t, r in parts if key in r]
            ranges = [(t, r[key]) for t, r in parts if key in r]
            n_all = sum(n for n, _ in rows)
            bias = cov = size = note = ""
            if "bias" in first:
                m = sum(n * r["bias"] for n, r in rows) / n_all
                se = math.sqrt(sum((n * r["bias_se"]) ** 2 for n, r in rows)) / n_all
                bias = f"{m:+.4f} ± {se:.4f}"
            all_ri = method == "led with" and all(r["share_led_by_ri"] == 1.0 for _, r in rows)
            uses_ri = method == "randomisation" or all_ri
            for field, extra in (("coverage", covers), ("size", sizes)):
                if field not in first:
                    continue
                parts_f = [(t, r[field]) for t, r in ranges]
                if uses_ri:
                    parts_f += extra.get((days, cell, outcome), [])
                m, total = _pooled(parts_f)
                text = f"{m:.3f} ± {_se(m, total):.3f} ({total:,})"
                cov, size = (text, size) if field == "coverage" else (cov, text)
            if "median_df" in first:
                note = f"median df {first['median_df']:.1f}"
            if "share_led_by_ri" in first:
                share = sum(n * r["share_led_by_ri"] for n, r in rows) / n_all
                note = f"RI leads in {100 * share:.0f}%"
            lines.append(f"| {days} | {cell} | {outcome.split('_')[0]} | {method} | {bias} | {cov} | {size} | {note} |")
    return "\n".join(lines)


_CACE_RATES = ("ar_cover", "ar_reject", "ri_cover", "ri_reject", "lin_cover", "lin_reject")


def cace_table(paths: list[Path], rule: str = "equal-tailed") -> str:
    """``--cace-study`` runs pooled per cell (disjoint trial ranges; rates and biases by trials)."""
    runs: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for path in paths:
        for run in json.loads(path.read_text())["cace"]:
            _check_rule(run.get("p_value_rule"), path, rule)
            runs[(run["days"], run["cell"])].append(run)
    lines = ["| days | cell | outcome | trials per arm | GMM bias (log RR) ± MC SE | no estimate | AR coverage "
             "| AR size | RI coverage | RI size | 2SLS bias ± MC SE | 2SLS coverage | 2SLS size |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (days, cell), parts in runs.items():
        for col in parts[0]["outcomes"]:
            n = sum(r["trials"] for r in parts)
            out = [str(days), cell, col.split("_")[0], f"{n:,}"]
            if any(r.get("ri_only") for r in parts):  # randomisation rows only (--ri-only runs)
                rates = [sum(r["trials"] * r["outcomes"][col][k] for r in parts) / n for k in ("ri_cover", "ri_reject")]
                below, above = (sum(r["outcomes"][col][f"ri_misses_{s}"] for r in parts) for s in ("below", "above"))
                cover = f"{rates[0]:.3f} ± {_se(rates[0], n):.3f} (misses: {below:,} below, {above:,} above)"
                out += ["—", "—", "—", "—", cover, f"{rates[1]:.3f} ± {_se(rates[1], n):.3f}", "—", "—", "—"]
                lines.append("| " + " | ".join(out) + " |")
                continue
            for field in ("bias", "linear_bias"):
                m = sum(r["trials"] * r["outcomes"][col][field] for r in parts) / n
                se = math.sqrt(sum((r["trials"] * r["outcomes"][col][field + "_se"]) ** 2 for r in parts)) / n
                cell_text = f"{m:+.3f} ± {se:.3f}"
                if field == "bias":
                    out += [cell_text, str(sum(r["outcomes"][col]["no_estimate"] for r in parts))]
                    rates = _CACE_RATES[:4]
                else:
                    out += [cell_text]
                    rates = _CACE_RATES[4:]
                for rate in rates:
                    m = sum(r["trials"] * r["outcomes"][col][rate] for r in parts) / n
                    out.append(f"{m:.3f} ± {_se(m, n):.3f}")
            lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("grid", nargs="+", type=Path, help="--grid JSON files")
    ap.add_argument("--ri-null", nargs="*", type=Path, default=[], help="--ri-study JSON files")
    ap.add_argument("--ri-coverage", nargs="*", type=Path, default=[], help="--ri-coverage JSON files")
    ap.add_argument("--statistic", default="studentised", help="the grid's RI statistic (for --ri-coverage)")
    ap.add_argument("--cace", nargs="*", type=Path, default=[], help="--cace-study JSON files (a table of their own)")
    ap.add_argument("--p-value-rule", choices=["equal-tailed", "symmetric"], default="equal-tailed",
                    help="the runs' randomisation p-value rule (runs of another rule are refused)")
    args = ap.parse_args(argv)
    print(table(args.grid, args.ri_null, args.ri_coverage, args.statistic, args.p_value_rule))
    if args.cace:
        print()
        print(cace_table(args.cace, args.p_value_rule))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
