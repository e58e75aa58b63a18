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

``--grid`` runs the issue-12 grid of designs (``CELLS``) × {count, harm}; ``--ri-study``
(with ``--alloc-check N``) runs randomisation inference alone under the null in grid cells
and compares observed allocations with redraws; ``--bias-study DAYS ...`` measures the PPML
bias against trial length. Commands and results: docs/estimators_validation.md.
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


# ---------------------------------------------------------------------------
# The grid study of issue 12: real designs from config, every reported interval and test
# ---------------------------------------------------------------------------

def grid_design(n_hotspots: int, n_days: int, design_keys: dict, blocks: list[str] | None = None):
    """A design declared as a trial declares it: ``[design]`` keys + a hotspot set with blocks."""
    import datetime as dt

    import geopandas as gpd
    import shapely

    from guardian_rct.config.trial_config import config_from_dict
    from guardian_rct.design.factory import design_from_config
    from guardian_rct.geo.hotspots import hotspots_from_frame

    ids = [f"H{i + 1:03d}" for i in range(n_hotspots)]
    squares = [shapely.box(400_000 + 300 * (i % 10), 280_000 + 300 * (i // 10),
                           400_100 + 300 * (i % 10), 280_100 + 300 * (i // 10)) for i in range(n_hotspots)]
    cols = {"hotspot_id": ids}
    if blocks is not None:
        cols["block"] = blocks
    frame = gpd.GeoDataFrame(cols, geometry=squares, crs="EPSG:27700")
    hotspots = hotspots_from_frame(frame, block_column="block" if blocks is not None else None)
    start = dt.date(2024, 1, 1)
    config = config_from_dict({
        "trial": {"name": "simulated trial", "start_date": start,
                  "end_date": start + dt.timedelta(days=n_days - 1), "seed": 1},
        "hotspots": {"path": "hotspots.geojson", **({"block_column": "block"} if blocks else {})},
        "design": design_keys})
    return design_from_config(config, hotspots)


#: The grid: name -> (hotspots, days, [design] keys, blocks).
CELLS = {
    "57 unconstrained": (57, 56, {"kind": "crossover", "treated_per_day": 28}, None),
    "20 unconstrained": (20, 56, {"kind": "crossover", "treated_per_day": 10}, None),
    "12 unequal blocks (2+10)": (12, 56, {"kind": "crossover", "treated_per_block_per_day": 1},
                                 ["S"] * 2 + ["L"] * 10),
    "20 tightly constrained (k=3, L=6)": (20, 56, {"kind": "crossover", "treated_per_day": 3,
                                                   "max_consecutive_control_days": 6}, None),
    "57 constrained (k=12, L=6, gap 1)": (57, 56, {"kind": "crossover", "treated_per_day": 12,
                                                   "max_consecutive_control_days": 6,
                                                   "min_gap_days": 1}, None),
    "20 parallel": (20, 56, {"kind": "parallel", "n_treated": 10}, None),
}

GRID_IRR = 0.8
RI_STATISTIC = "studentised"  # --ri-statistic: the package default; "score" reproduces the older records


def grid_trial(design, design_diag, seed: int, irr: float, *, ri_draws: int, wild_draws: int) -> dict:
    """One simulated trial: every reported number for count and harm.

    One PPML fit per outcome serves the CR2 and CR1 intervals (the estimator code of
    ``itt._glm``: :func:`fit_glm_fe`, :func:`cr2_for_fit`, :func:`cluster_vcov`), the
    data diagnosis and the wild bootstrap; randomisation inference redraws ``design``.
    """
    from scipy import stats

    from guardian_rct.estimation.cr2 import cr2_for_fit
    from guardian_rct.estimation.diagnosis import _judge, sparse_treated_bias, tail_share
    from guardian_rct.estimation.fixed_effects import cluster_vcov, fit_glm_fe
    from guardian_rct.estimation.itt import ipw_weights
    from guardian_rct.estimation.panel_checks import model_frame
    from guardian_rct.estimation.wild_bootstrap import wild_score_bootstrap

    rng = stream(seed, "simulation", 0)
    frame = make_panel(design, rng, irr=irr, mean_rate=0.3, hotspot_sd=0.7, day_sd=0.25)
    parallel = design.kind == "parallel"
    w = ipw_weights(frame)
    fe = (("block", "day") if frame["block"].nunique() > 1 else ("day",)) if parallel else ("hotspot", "day")
    out = {}
    for col in ("count_violence", "harm_violence"):
        row = {}
        mf = model_frame(frame, col, fe=fe, weights=w)
        cov = None
        if parallel:
            cov = np.log1p(frame["baseline_count_violence"].to_numpy(float))[mf.rows][:, None]
        X = mf.treated[:, None] if cov is None else np.column_stack([mf.treated, cov])
        fit = fit_glm_fe(mf.y, X, mf.fe, weights=mf.weights)
        b = float(fit.coef[0])
        cr2 = cr2_for_fit(fit, mf.y, X, mf.fe, mf.clusters, prior=mf.weights)
        vcov, G = cluster_vcov(fit.xt, fit.score_w, fit.work_w, mf.clusters, fit.n_params)
        for se_type, se, df in (("CR2", cr2.std_error, cr2.df), ("CR1", math.sqrt(vcov[0, 0]), G - 1)):
            q = stats.t.ppf(0.975, df)
            row[se_type] = (b, b - q * se, b + q * se, float(2 * stats.t.sf(abs(b / se), df)), float(df))
        top3 = float(np.sort(np.nan_to_num(cr2.cluster_share))[::-1][:3].sum())
        diag = _judge(col, cr2.n_clusters, cr2.df, top3, design_diag,
                      sparse=sparse_treated_bias(mf.y, mf.treated, mf.weights), tail=tail_share(mf.y, mf.clusters))
        row["lead"] = diag.lead
        if wild_draws:
            wb = wild_score_bootstrap(mf.y, mf.treated, mf.fe, mf.clusters, weights=mf.weights,
                                      covariates=cov, rng=stream(seed, "wild", col), draws=wild_draws)
            row["wild_p"] = wb.p_value
        if ri_draws:
            base = "baseline_count_violence" if parallel else None
            ri = randomisation_test(frame, col, design, draws=ri_draws, conf_int=False,
                                    rng=stream(seed, "randomisation_inference", col),
                                    null_rate_ratio=irr, baseline=base, statistic=RI_STATISTIC)
            row["ri_p_at_truth"] = ri.p_value
        out[col] = row
    return out


def _rate(x: np.ndarray) -> tuple[float, float]:
    m = float(np.mean(x))
    return m, math.sqrt(max(m * (1 - m), 1e-12) / len(x))


def summarise_cell(effect: list[dict], null: list[dict], irr: float) -> list[dict]:
    truth = math.log(irr)
    rows = []
    for col in ("count_violence", "harm_violence"):
        e = [t[col] for t in effect]
        z = [t[col] for t in null]
        for se_type in ("CR2", "CR1"):
            est = np.array([r[se_type][0] for r in e])
            lo = np.array([r[se_type][1] for r in e])
            hi = np.array([r[se_type][2] for r in e])
            cov, cov_se = _rate((lo <= truth) & (truth <= hi))
            size, size_se = _rate(np.array([r[se_type][3] for r in z]) < 0.05)
            rows.append({"outcome": col, "method": f"Wald {se_type}", "bias": float(est.mean() - truth),
                         "bias_se": float(est.std(ddof=1) / math.sqrt(len(est))),
                         "coverage": cov, "coverage_se": cov_se, "size": size, "size_se": size_se,
                         "median_df": float(np.median([r[se_type][4] for r in e]))})
        if "wild_p" in z[0]:
            size, size_se = _rate(np.array([r["wild_p"] for r in z]) < 0.05)
            rows.append({"outcome": col, "method": "wild score bootstrap", "size": size, "size_se": size_se})
        if "ri_p_at_truth" in z[0]:
            cov, cov_se = _rate(np.array([r["ri_p_at_truth"] for r in e]) > 0.05)
            size, size_se = _rate(np.array([r["ri_p_at_truth"] for r in z]) <= 0.05)
            rows.append({"outcome": col, "method": "randomisation", "coverage": cov, "coverage_se": cov_se,
                         "size": size, "size_se": size_se})
            # what the report leads with: RI where the diagnosis distrusts the Wald test
            lead_cov = np.array([(r["ri_p_at_truth"] > 0.05) if r["lead"] == "randomisation"
                                 else (r["CR2"][1] <= truth <= r["CR2"][2]) for r in e])
            lead_rej = np.array([(r["ri_p_at_truth"] <= 0.05) if r["lead"] == "randomisation"
                                 else (r["CR2"][3] < 0.05) for r in z])
            cov, cov_se = _rate(lead_cov)
            size, size_se = _rate(lead_rej)
            rows.append({"outcome": col, "method": "led with", "coverage": cov, "coverage_se": cov_se,
                         "size": size, "size_se": size_se,
                         "share_led_by_ri": float(np.mean([r["lead"] == "randomisation" for r in e + z]))})
    return rows


def run_grid(trials: int, ri_draws: int, wild_draws: int, *, cells: list[str] | None = None,
             seed: int = 12, out: Path | None = None, days: int | None = None, first: int = 0) -> dict:
    """Run every cell with ``trials`` effect and ``trials`` null trials; write JSON as it goes.

    ``first`` is the index of the first trial: a run with ``first = 1000`` continues one of
    1,000 trials with new trials (the same seeds a single longer run would use).
    """
    from guardian_rct.design.diagnosis import diagnose_design

    result = {"setup": {"trials_per_arm": trials, "first_trial": first, "ri_draws": ri_draws,
                        "wild_draws": wild_draws, "irr": GRID_IRR, "seed": seed, "days": days,
                        "ri_statistic": RI_STATISTIC}, "cells": {}}
    for name in cells or list(CELLS):
        n, cell_days, keys, blocks = CELLS[name]
        design = grid_design(n, days or cell_days, keys, blocks)
        ddiag = diagnose_design(design)
        t0 = time.perf_counter()
        eff = [grid_trial(design, ddiag, seed * 10**6 + i, GRID_IRR, ri_draws=ri_draws, wild_draws=0)
               for i in range(first, first + trials)]
        nul = [grid_trial(design, ddiag, seed * 10**6 + 500_000 + i, 1.0, ri_draws=ri_draws,
                          wild_draws=wild_draws) for i in range(first, first + trials)]
        result["cells"][name] = {"design": ddiag.to_dict(), "seconds": round(time.perf_counter() - t0, 1),
                                 "rows": summarise_cell(eff, nul, GRID_IRR)}
        print(f"{name}: {result['cells'][name]['seconds']} s", flush=True)
        if out is not None:
            out.write_text(json.dumps(result, indent=1, default=float))
    return result


def grid_table(result: dict) -> str:
    lines = ["| cell | outcome | method | bias (log RR) ± MC SE | 95% coverage ± MC SE | size at 5% ± MC SE | note |",
             "|---|---|---|---|---|---|---|"]
    for name, cell in result["cells"].items():
        for r in cell["rows"]:
            bias = f"{r['bias']:+.4f} ± {r['bias_se']:.4f}" if "bias" in r else ""
            cov = f"{r['coverage']:.3f} ± {r['coverage_se']:.3f}" if "coverage" in r else ""
            size = f"{r['size']:.3f} ± {r['size_se']:.3f}" if "size" in r else ""
            note = (f"median df {r['median_df']:.1f}" if "median_df" in r else
                    (f"RI leads in {100 * r['share_led_by_ri']:.0f}%" if "share_led_by_ri" in r else ""))
            lines.append(f"| {name} | {r['outcome'].split('_')[0]} | {r['method']} | {bias} | {cov} | {size} | {note} |")
    return "\n".join(lines)



# ---------------------------------------------------------------------------
# Cheap follow-up studies of the grid: RI size under the null with many trials, the
# observed-versus-redraw allocation check, and the PPML bias against trial length
# ---------------------------------------------------------------------------

def ri_null_study(name: str, trials: int, draws: int, *, seed: int = 12, days: int = 28,
                  first: int = 0, outcomes: tuple[str, ...] = ("count_violence", "harm_violence")) -> dict:
    """Randomisation inference only, under the null, in grid cell ``name``.

    Trial ``i`` uses exactly the seeds of null trial ``i`` of :func:`run_grid` (same panel
    and redraw streams), so the first 400 trials reproduce the grid's RI p-values. Besides
    the rejection rate it tests that the rank of the observed statistic among the redraws
    is uniform on ``0..draws``, which an exact test implies (chi-square over 10 rank bins,
    expected counts proportional to their widths).
    """
    from scipy import stats

    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    t0 = time.perf_counter()
    pvals: dict[str, list[float]] = {col: [] for col in outcomes}
    for i in range(first, first + trials):
        s = seed * 10**6 + 500_000 + i
        frame = make_panel(design, stream(s, "simulation", 0), irr=1.0, mean_rate=0.3,
                           hotspot_sd=0.7, day_sd=0.25)
        base = "baseline_count_violence" if design.kind == "parallel" else None
        for col in pvals:
            ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                    statistic=RI_STATISTIC,
                                    rng=stream(s, "randomisation_inference", col))
            pvals[col].append(ri.p_value)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "exact_size": math.floor(0.05 * (draws + 1)) / (draws + 1),
           "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col, p in pvals.items():
        p = np.array(p)
        exceed = np.rint(p * (draws + 1) - 1).astype(int)  # redraws at least as extreme: 0..draws
        bins = np.bincount(np.minimum(exceed * 10 // (draws + 1), 9), minlength=10)
        # exceed is uniform on 0..draws under exactness; a bin's expected share is its width
        width = np.bincount(np.minimum(np.arange(draws + 1) * 10 // (draws + 1), 9), minlength=10)
        size, size_se = _rate(p <= 0.05)
        first = p[:400]
        out["outcomes"][col] = {
            "size": size, "size_se": size_se, "z_vs_exact": (size - out["exact_size"]) / size_se,
            "size_first_400": float(np.mean(first <= 0.05)), "mean_p": float(p.mean()),
            "rank_bins": bins.tolist(), "rank_chi2_p": float(stats.chisquare(bins, width / width.sum() * bins.sum()).pvalue),
            "share_p_equal_1": float(np.mean(exceed >= draws))}
    return out


def ri_coverage_study(name: str, trials: int, draws: int, *, seed: int = 12, days: int = 28,
                      first: int = 0, statistics: tuple[str, ...] = ("score", "studentised"),
                      outcomes: tuple[str, ...] = ("count_violence", "harm_violence")) -> dict:
    """Coverage of the RI test-inversion interval of each statistic, on the same trials.

    Effect trials of :func:`run_grid` (trial ``i`` has the grid's seeds, so the first
    trials are the grid's effect trials), a rate ratio of ``GRID_IRR``. For every statistic
    the sharp null at the true rate ratio is tested with the same redraws (same stream), so
    the statistics are compared on identical trials and allocations; coverage is the share
    of trials with ``p > 0.05``.
    """
    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    t0 = time.perf_counter()
    covered = {(col, st): [] for col in outcomes for st in statistics}
    for i in range(first, first + trials):
        s = seed * 10**6 + i
        frame = make_panel(design, stream(s, "simulation", 0), irr=GRID_IRR, mean_rate=0.3,
                           hotspot_sd=0.7, day_sd=0.25)
        base = "baseline_count_violence" if design.kind == "parallel" else None
        for col in outcomes:
            for st in statistics:
                ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                        statistic=st, null_rate_ratio=GRID_IRR,
                                        rng=stream(s, "randomisation_inference", col))
                covered[(col, st)].append(ri.p_value > 0.05)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col in outcomes:
        out["outcomes"][col] = {}
        for st in statistics:
            cov, cov_se = _rate(np.array(covered[(col, st)]))
            out["outcomes"][col][st] = {"coverage": cov, "coverage_se": cov_se}
    return out


CACE_IRR, CACE_DELIVERED, CACE_CONTAMINATED = 0.6, 0.75, 0.05


def cace_study(name: str, trials: int, draws: int, *, seed: int = 12, days: int = 28, first: int = 0,
               outcomes: tuple[str, ...] = ("count_violence", "harm_violence")) -> dict:
    """The rate-ratio CACE of patrol presence as the report computes it, in grid cell ``name``.

    A patrol is present on 75% of assigned hotspot-days and 5% of the others (the trial's
    ~75% compliance and some demand-led contamination), and multiplies the hotspot-day's
    rate by 0.6 (effect trials) or 1 (null trials): the multiplicative IV model holds, and
    the ITT rate ratio is diluted. Per trial and outcome: the GMM estimate and its
    Anderson-Rubin interval (:func:`~guardian_rct.estimation.iv_ratio.cace_ratio`, CR1
    t(G−1)) and the randomisation test of the presence sharp null at the truth
    (``randomisation_test(dose=...)``, the report's CACE randomisation interval by
    inversion). Coverage from the effect trials, size from the null trials.

    The linear CACE the abstract quotes (2SLS, crimes or CCHI days per hotspot-day,
    :func:`~guardian_rct.estimation.iv.cace`) is checked against its estimand, the
    complier effect averaged over hotspots as clusters and the trial's days:
    ``(τ − 1) · 0.3 · E[exp(a)] · mean_d exp(g_d)`` (× ``E[w] = exp(1 + 1.5²/2)`` for harm),
    with ``E[exp(a)] = exp(0.7²/2)`` and the trial's day effects ``g_d`` replayed from its
    stream (``make_panel`` draws the allocation, then ``a``, then ``g``).
    """
    from guardian_rct.estimation.iv import cace, patrol_present
    from guardian_rct.estimation.iv_ratio import cace_ratio

    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    t0 = time.perf_counter()
    truth = math.log(CACE_IRR)
    res = {col: {"est": [], "ar_cover": [], "ri_cover": [], "ar_reject": [], "ri_reject": [], "weak": [],
                 "lin_err": [], "lin_cover": [], "lin_reject": []} for col in outcomes}
    mean_weight = {"count_violence": 1.0, "harm_violence": math.exp(1.0 + 1.5 ** 2 / 2)}
    for arm, irr in (("effect", CACE_IRR), ("null", 1.0)):
        for i in range(first, first + trials):
            s = seed * 10**6 + 700_000 + i + (0 if arm == "effect" else 100_000)
            frame = make_panel(design, stream(s, "simulation", 0), irr=irr, mean_rate=0.3, hotspot_sd=0.7,
                               day_sd=0.25, delivered_rate=CACE_DELIVERED, contamination_rate=CACE_CONTAMINATED)
            replay = stream(s, "simulation", 0)
            design.draw(replay)
            replay.normal(0, 0.7, n)
            day_mean = float(np.exp(replay.normal(0, 0.25, days)).mean())
            present = patrol_present(frame)
            base = "baseline_count_violence" if design.kind == "parallel" else None
            # the report's CACE fixed effects (estimation/standard_set.py)
            fe = ((("block", "day") if frame["block"].nunique() > 1 else ("day",))
                  if design.kind == "parallel" else ("hotspot", "day"))
            for col in outcomes:
                est = cace_ratio(frame, col, fe=fe)
                ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                        statistic=RI_STATISTIC, null_rate_ratio=irr, dose=present,
                                        rng=stream(s, "randomisation_inference", col))
                r = res[col]
                lin = cace(frame, col, endogenous="delivered", fe=fe)
                lin_truth = (irr - 1) * 0.3 * math.exp(0.7 ** 2 / 2) * day_mean * mean_weight[col]
                if arm == "effect":
                    r["lin_err"].append(lin.estimate - lin_truth)
                    r["lin_cover"].append(lin.conf_low <= lin_truth <= lin.conf_high)
                else:
                    r["lin_reject"].append(lin.p_value < 0.05)
                if arm == "effect":
                    lo = est.conf_low if est.conf_low is not None else -math.inf
                    hi = est.conf_high if est.conf_high is not None else math.inf
                    r["est"].append(est.estimate)
                    r["ar_cover"].append(lo <= truth <= hi)
                    r["ri_cover"].append(ri.p_value > 0.05)
                    r["weak"].append(bool(est.first_stage is not None and est.first_stage.weak))
                else:
                    r["ar_reject"].append(est.p_value < 0.05)
                    r["ri_reject"].append(ri.p_value <= 0.05)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "cace_irr": CACE_IRR, "delivered": CACE_DELIVERED, "contaminated": CACE_CONTAMINATED,
           "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col, r in res.items():
        est = np.array(r["est"], dtype=float)
        finite = est[np.isfinite(est)]
        row = {"bias": float(finite.mean() - truth) if finite.size else None,
               "bias_se": float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else None,
               "no_estimate": int((~np.isfinite(est)).sum()), "weak_first_stage": float(np.mean(r["weak"]))}
        err = np.array(r["lin_err"], dtype=float)
        row["linear_bias"] = float(err.mean())
        row["linear_bias_se"] = float(err.std(ddof=1) / math.sqrt(err.size)) if err.size > 1 else None
        for key in ("ar_cover", "ri_cover", "ar_reject", "ri_reject", "lin_cover", "lin_reject"):
            m, se = _rate(np.array(r[key]))
            row[key], row[key + "_se"] = m, se
        out["outcomes"][col] = row
    return out


def _features(T: np.ndarray) -> dict[str, np.ndarray]:
    """Per allocation (independent across allocations): features of hotspot 0 and of day 0-1."""
    h0 = T[:, :, 0]
    n_days = T.shape[1]
    first = np.where(h0.any(axis=1), h0.argmax(axis=1), n_days)
    longest = np.empty(len(T), dtype=int)
    for r, a in enumerate(h0):
        edges = np.concatenate([[-1], np.flatnonzero(a), [n_days]])
        longest[r] = int((np.diff(edges) - 1).max())
    return {"treated days of hotspot 1": h0.sum(axis=1), "first treated day of hotspot 1": first,
            "longest control run of hotspot 1": longest,
            "hotspots treated on days 1 and 2": (T[:, 0] & T[:, 1]).sum(axis=1)}


def allocation_check(name: str, n_alloc: int, *, seed: int = 12, days: int = 28) -> dict:
    """Do the simulated "observed" allocations and the RI redraws follow one distribution?

    Observed: one ``design.draw(rng)`` per trial from the trial's panel stream, as
    ``make_panel`` draws it in the grid. Redraws: ``design.draw(rng, size=250)`` batches
    from one stream, as randomisation inference draws them. Compared by a chi-square test
    of homogeneity on features that are independent across allocations (hotspot 1's
    treated days, first treated day and longest control run; the overlap of days 1 and 2).
    """
    from scipy import stats

    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    single = np.stack([design.draw(stream(seed * 10**6 + 500_000 + i, "simulation", 0))
                       for i in range(n_alloc)])
    rng = stream(seed, "allocation check", name)
    batched = np.concatenate([design.draw(rng, size=250) for _ in range(-(-n_alloc // 250))])[:n_alloc]
    out: dict = {"cell": name, "days": days, "allocations": n_alloc}
    fa, fb = _features(single), _features(batched)
    for label in fa:
        a, b = fa[label], fb[label]
        values = np.union1d(a, b)
        table = np.stack([[np.sum(a == v) for v in values], [np.sum(b == v) for v in values]])
        table = table[:, table.sum(axis=0) >= 10]  # drop very rare values (expected counts < 5)
        if table.shape[1] < 2:
            out[label] = {"constant": True, "mean_observed": float(a.mean()), "mean_redraws": float(b.mean())}
            continue
        chi = stats.chi2_contingency(table)
        out[label] = {"chi2": float(chi.statistic), "df": int(chi.dof), "p": float(chi.pvalue),
                      "mean_observed": float(a.mean()), "mean_redraws": float(b.mean())}
    return out


def bias_study(name: str, days_list: list[int], trials: int, *, seed: int = 12) -> list[dict]:
    """PPML (CR2 fit) bias of the log rate ratio against trial length, effect trials only."""
    from guardian_rct.design.diagnosis import diagnose_design

    n, _, keys, blocks = CELLS[name]
    rows = []
    for days in days_list:
        design = grid_design(n, days, keys, blocks)
        ddiag = diagnose_design(design)
        t0 = time.perf_counter()
        est = {"count_violence": [], "harm_violence": []}
        treated_days = []
        for i in range(trials):
            tr = grid_trial(design, ddiag, seed * 10**6 + i, GRID_IRR, ri_draws=0, wild_draws=0)
            for col in est:
                est[col].append(tr[col]["CR2"][0])
        probs = design.probabilities()
        treated_days = probs.sum(axis=0)
        for col, e in est.items():
            e = np.array(e)
            rows.append({"cell": name, "days": days, "outcome": col, "trials": trials,
                         "min_expected_treated_days": float(treated_days.min()),
                         "bias": float(e.mean() - math.log(GRID_IRR)),
                         "bias_se": float(e.std(ddof=1) / math.sqrt(trials)),
                         "seconds": round(time.perf_counter() - t0, 1)})
        print(f"bias {name} {days} d: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


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
    ap.add_argument("--ri-statistics", nargs="*", default=["score", "studentised"],
                    help="with --ri-coverage: the statistics to compare")
    ap.add_argument("--first-trial", type=int, default=0, help="index of the first trial (--grid, --ri-study, --ri-coverage)")
    ap.add_argument("--ri-statistic", choices=["studentised", "score"], default="studentised",
                    help="randomisation statistic (grid and --ri-study; default the package's)")
    ap.add_argument("--outcomes", nargs="*", default=["count_violence", "harm_violence"],
                    help="with --ri-study: outcome columns")
    args = ap.parse_args(argv)
    global RI_STATISTIC
    RI_STATISTIC = args.ri_statistic
    if args.ri_study or args.bias_study or args.ri_coverage or args.cace_study:
        days = args.grid_days or 28
        res: dict = {"ri_null": [], "allocation": [], "bias": [], "ri_coverage": [], "cace": []}
        for name in args.cells or list(CELLS):
            if args.cace_study:
                res["cace"].append(cace_study(name, args.trials, args.draws, seed=args.seed, days=days,
                                              first=args.first_trial, outcomes=tuple(args.outcomes)))
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
