"""The issue-12 simulation grid: real designs declared from config, every reported interval and test.

``CELLS`` are the designs (hotspots, days, ``[design]`` keys, blocks); :func:`run_grid` runs
effect and null trials of each and :func:`summarise_cell` gives bias, coverage and size of
the Wald (CR2, CR1), wild-bootstrap, randomisation and "led with" numbers. Driven by
``scripts/simulation_study.py --grid``; results in docs/estimators_validation.md.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from estimate_fixtures import make_panel  # noqa: E402
from guardian_rct._core.rng import stream  # noqa: E402
from guardian_rct.estimation.randomisation import randomisation_test  # noqa: E402

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
RI_P_VALUE = "equal-tailed"  # --ri-p-value: the package default; "symmetric" reproduces follow-ups 1-6


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
                                    null_rate_ratio=irr, baseline=base, statistic=RI_STATISTIC,
                                    p_value_rule=RI_P_VALUE)
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
                        "ri_statistic": RI_STATISTIC, "ri_p_value": RI_P_VALUE}, "cells": {}}
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


