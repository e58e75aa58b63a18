"""Simulation study: do the ITT estimators and randomisation inference keep their promises?

Simulates whole trials (57 hotspots × 365 days by default, daily complete randomisation
of 28 hotspots, NB2 overdispersed counts with hotspot and day heterogeneity, partial
compliance and some contamination, heavy-tailed harm) with a known ITT rate ratio, and
reports for each estimator the bias of the log rate ratio (as % of the true effect), the
coverage of its 95% interval, and (under no effect) the rejection rates of the model
p-value and of the randomisation test at the 5% level.

Usage::

    PYTHONPATH=src python scripts/simulation_study.py --trials 500 --null-trials 1000 --draws 500

The design is the package's own: ``[design] kind = "crossover", treated_per_day = 28`` and
57 hotspots through :func:`guardian_rct.design.factory.design_from_config`
(``tests/estimate_fixtures.configured_design``); every trial's allocation and every
randomisation-inference redraw come from that object. The outcomes are simulated by
``tests/estimate_fixtures.make_panel`` (known effect, panel schema of docs/contracts.md). A
fast version runs as a normal test (tests/test_simulation_fast.py).

``--grid`` runs the issue-12 grid of designs (``CELLS``, in ``scripts/simulation_grid.py``)
× {count, harm}; the follow-up studies are in ``scripts/simulation_followups.py``: ``--ri-study``
(with ``--alloc-check N``) runs randomisation inference alone under the null in grid cells
and compares observed allocations with redraws; ``--ri-coverage`` compares the statistics'
coverage on the same trials; ``--cace-study`` checks the CACE's intervals; ``--bias-study
DAYS ...`` measures the PPML bias against trial length. Commands and results:
docs/estimators_validation.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from estimate_fixtures import configured_design, make_panel  # noqa: E402
from guardian_rct._core.rng import stream  # noqa: E402
from guardian_rct.estimation.itt import diff_in_means, negbin_fe, poisson_fe  # noqa: E402
from guardian_rct.estimation.randomisation import randomisation_test  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import simulation_grid  # noqa: E402
from simulation_followups import (  # noqa: E402
    allocation_check,
    bias_study,
    cace_study,
    ri_coverage_study,
    ri_null_study,
)
from simulation_grid import CELLS, grid_table, run_grid  # noqa: E402

IRR = 0.8  # effect of a delivered patrol on the crime rate
DELIVERED, CONTAMINATED = 0.8, 0.05


def true_itt_irr(irr: float = IRR) -> float:
    """ITT rate ratio implied by partial compliance and contamination (multiplicative)."""
    return (DELIVERED * irr + 1 - DELIVERED) / (CONTAMINATED * irr + 1 - CONTAMINATED)


def one_trial(design, seed: int, irr: float, *, ri_draws: int, ri_ci: bool,
              models: tuple[str, ...]) -> dict:
    rng = stream(seed, "simulation", 0)
    frame = make_panel(design, rng, irr=irr, mean_rate=0.25, hotspot_sd=0.7, day_sd=0.25,
                       overdispersion=2.0, delivered_rate=DELIVERED,
                       contamination_rate=CONTAMINATED)
    out: dict = {}
    fits = {"poisson_fe": lambda: poisson_fe(frame, "count_violence"),
            "poisson_fe_harm": lambda: poisson_fe(frame, "harm_violence"),
            "negbin_fe": lambda: negbin_fe(frame, "count_violence"),
            "diff_in_means": lambda: diff_in_means(frame, "count_violence")}
    for name in models:
        est = fits[name]()
        out[name] = (est.estimate, est.conf_low, est.conf_high, est.p_value)
    if ri_draws:
        res = randomisation_test(frame, "count_violence", design, draws=ri_draws,
                                 rng=stream(seed, "randomisation_inference"), conf_int=ri_ci)
        out["ri"] = (res.p_value, res.rr_conf_low, res.rr_conf_high)
    if "diff_in_means" in models:
        treated = frame["treated"] == 1
        out["dim_truth"] = float(frame.loc[~treated, "count_violence"].mean())
    return out


def summarise(results: list[dict], truth_log: float) -> list[dict]:
    rows = []
    for name in ("poisson_fe", "poisson_fe_harm", "negbin_fe"):
        if name not in results[0]:
            continue
        est = np.array([r[name][0] for r in results])
        lo = np.array([r[name][1] for r in results])
        hi = np.array([r[name][2] for r in results])
        p = np.array([r[name][3] for r in results])
        bias = est.mean() - truth_log
        row = {"estimator": name, "trials": len(results), "mean_log_rr": est.mean(),
               "bias_pct_of_effect": 100 * bias / abs(truth_log) if truth_log else float("nan"),
               "mc_se_bias_pct": 100 * est.std(ddof=1) / math.sqrt(len(est)) / abs(truth_log)
               if truth_log else float("nan"),
               "coverage_95": float(np.mean((lo <= truth_log) & (truth_log <= hi))),
               "reject_5pct": float(np.mean(p < 0.05)), "sd_log_rr": est.std(ddof=1),
               "bias_abs": bias}
        rows.append(row)
    ri = [r for r in results if "ri" in r]
    if ri:
        results = ri
        p = np.array([r["ri"][0] for r in results])
        row = {"estimator": "randomisation test", "trials": len(results),
               "reject_5pct": float(np.mean(p <= 0.05))}
        lo = np.array([np.nan if r["ri"][1] is None else r["ri"][1] for r in results])
        hi = np.array([np.nan if r["ri"][2] is None else r["ri"][2] for r in results])
        if np.isfinite(lo).any():
            t = math.exp(truth_log)
            row["coverage_95"] = float(np.mean((lo <= t) & (t <= hi)))
        rows.append(row)
    return rows


ALL_MODELS = ("poisson_fe", "poisson_fe_harm", "negbin_fe", "diff_in_means")


def run(trials: int, null_trials: int, draws: int, *, n_hotspots: int = 57, n_days: int = 365,
        treated: int = 28, ri_ci_trials: int = 0, seed: int = 2024,
        models: tuple[str, ...] = ALL_MODELS) -> dict:
    design = configured_design(n_hotspots, n_days, treated_per_day=treated)
    t0 = time.perf_counter()
    effect = [one_trial(design, seed + i, IRR, ri_draws=draws if i < ri_ci_trials else 0,
                        ri_ci=True, models=models)
              for i in range(trials)]
    t1 = time.perf_counter()
    null = [one_trial(design, seed + 10**6 + i, 1.0, ri_draws=draws, ri_ci=False,
                      models=("poisson_fe",)) for i in range(null_trials)]
    t2 = time.perf_counter()
    truth = math.log(true_itt_irr())
    eff_rows = summarise(effect, truth)
    return {"setup": {"design": f"{type(design).__module__}.{type(design).__name__}",
                      "hotspots": n_hotspots, "days": n_days, "treated_per_day": treated,
                      "true_itt_rate_ratio": true_itt_irr(), "ri_draws": draws,
                      "effect_trials": trials, "null_trials": null_trials,
                      "seconds_effect": round(t1 - t0, 1), "seconds_null": round(t2 - t1, 1)},
            "effect": eff_rows, "null": summarise(null, 0.0)}


def table(result: dict) -> str:
    lines = ["| scenario | estimator | trials | bias (% of effect) ± MC SE | 95% coverage | rejection at 5% |",
             "|---|---|---|---|---|---|"]
    for scen in ("effect", "null"):
        for r in result[scen]:
            bias = (f"{r['bias_pct_of_effect']:+.2f} ± {r['mc_se_bias_pct']:.2f}"
                    if scen == "effect" and "bias_pct_of_effect" in r else "")
            cov = f"{r['coverage_95']:.3f}" if "coverage_95" in r and scen == "effect" else ""
            rej = f"{r['reject_5pct']:.3f}" if scen == "null" else ""
            lines.append(f"| {scen} | {r['estimator']} | {r['trials']} | {bias} | {cov} | {rej} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500, help="trials with an effect")
    ap.add_argument("--null-trials", type=int, default=1000, help="trials with no effect")
    ap.add_argument("--draws", type=int, default=500, help="randomisation redraws per trial")
    ap.add_argument("--ri-ci-trials", type=int, default=0,
                    help="effect trials that also get a test-inversion interval")
    ap.add_argument("--hotspots", type=int, default=57)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--treated", type=int, default=28, help="hotspots patrolled per day")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--grid", action="store_true",
                    help="run the issue-12 grid (designs × outcomes; --trials per arm and cell)")
    ap.add_argument("--wild-draws", type=int, default=999, help="wild bootstrap draws (grid)")
    ap.add_argument("--cells", nargs="*", help="grid cells to run (default all)")
    ap.add_argument("--grid-days", type=int, default=None, help="trial length of every grid cell (default 56)")
    ap.add_argument("--ri-study", action="store_true",
                    help="RI-only null study in --cells (--trials trials, --draws redraws, --grid-days)")
    ap.add_argument("--alloc-check", type=int, default=0, metavar="N",
                    help="with --ri-study: also compare N observed allocations with N redraws")
    ap.add_argument("--bias-study", nargs="*", type=int, metavar="DAYS",
                    help="PPML bias in --cells at these trial lengths (--trials effect trials)")
    ap.add_argument("--ri-coverage", action="store_true",
                    help="RI-only coverage study in --cells: every --ri-statistics on the same effect trials")
    ap.add_argument("--cace-study", action="store_true",
                    help="rate-ratio CACE (Anderson-Rubin and randomisation intervals) in --cells")
    ap.add_argument("--led", action="store_true",
                    help="with --cace-study: the report's diagnosis per trial, and the interval it leads with")
    ap.add_argument("--ri-only", action="store_true",
                    help="with --cace-study: the randomisation test alone (same trials and redraws)")
    ap.add_argument("--ri-statistics", nargs="*", default=["score", "studentised"],
                    help="with --ri-coverage: the statistics to compare")
    ap.add_argument("--first-trial", type=int, default=0, help="index of the first trial (--grid, --ri-study, --ri-coverage)")
    ap.add_argument("--ri-statistic", choices=["studentised", "score"], default="studentised",
                    help="randomisation statistic (grid and --ri-study; default the package's)")
    ap.add_argument("--ri-p-value", choices=["equal-tailed", "symmetric"], default="equal-tailed",
                    help="randomisation two-sided p-value rule (every study; default the package's)")
    ap.add_argument("--outcomes", nargs="*", default=["count_violence", "harm_violence"],
                    help="with --ri-study: outcome columns")
    args = ap.parse_args(argv)
    simulation_grid.RI_STATISTIC = args.ri_statistic
    simulation_grid.RI_P_VALUE = args.ri_p_value
    if args.ri_study or args.bias_study or args.ri_coverage or args.cace_study:
        days = args.grid_days or 28
        res: dict = {"ri_null": [], "allocation": [], "bias": [], "ri_coverage": [], "cace": []}
        for name in args.cells or list(CELLS):
            if args.cace_study:
                res["cace"].append(cace_study(name, args.trials, args.draws, seed=args.seed, days=days,
                                              first=args.first_trial, outcomes=tuple(args.outcomes),
                                              ri_only=args.ri_only, led=args.led))
                print(json.dumps(res["cace"][-1]), flush=True)
                if args.json:
                    args.json.write_text(json.dumps(res, indent=1, default=float))
            if args.ri_coverage:
                res["ri_coverage"].append(ri_coverage_study(
                    name, args.trials, args.draws, seed=args.seed, days=days, first=args.first_trial,
                    statistics=tuple(args.ri_statistics), outcomes=tuple(args.outcomes)))
                print(json.dumps(res["ri_coverage"][-1]), flush=True)
                if args.json:
                    args.json.write_text(json.dumps(res, indent=1, default=float))
            if args.ri_study:
                if args.alloc_check:
                    res["allocation"].append(allocation_check(name, args.alloc_check, seed=args.seed, days=days))
                    print(json.dumps(res["allocation"][-1]), flush=True)
                res["ri_null"].append(ri_null_study(name, args.trials, args.draws, seed=args.seed, days=days,
                                                    first=args.first_trial, outcomes=tuple(args.outcomes)))
                print(json.dumps(res["ri_null"][-1]), flush=True)
            if args.bias_study:
                res["bias"].extend(bias_study(name, args.bias_study, args.trials, seed=args.seed))
        if args.json:
            args.json.write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps(res, default=float))
        return 0
    if args.grid:
        res = run_grid(args.trials, args.draws, args.wild_draws, cells=args.cells, seed=args.seed,
                       out=args.json, days=args.grid_days, first=args.first_trial)
        print(grid_table(res))
        return 0
    result = run(args.trials, args.null_trials, args.draws, ri_ci_trials=args.ri_ci_trials,
                 n_hotspots=args.hotspots, n_days=args.days, treated=args.treated, seed=args.seed)
    print(json.dumps(result["setup"]))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
