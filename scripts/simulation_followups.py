"""Follow-up studies of the simulation grid (docs/estimators_validation.md, follow-ups 1-6).

Randomisation inference alone under the null with many trials (:func:`ri_null_study`), the
two statistics' coverage on the same trials (:func:`ri_coverage_study`), the CACE as the
report gives it (:func:`cace_study`), observed allocations against redraws
(:func:`allocation_check`) and the PPML bias against trial length (:func:`bias_study`).
Driven by ``scripts/simulation_study.py``; trial ``i`` uses the grid's seeds.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import simulation_grid as grid  # noqa: E402
from estimate_fixtures import make_panel  # noqa: E402
from guardian_rct._core.rng import stream  # noqa: E402
from guardian_rct.estimation.randomisation import randomisation_test  # noqa: E402
from simulation_grid import CELLS, GRID_IRR, _rate, grid_design, grid_trial  # noqa: E402

# ---------------------------------------------------------------------------
# Cheap follow-up studies of the grid: RI size under the null with many trials, the
# observed-versus-redraw allocation check, and the PPML bias against trial length
# ---------------------------------------------------------------------------

def _exact_size(draws: int, rule: str) -> float:
    """Size at 5% of an exact test with ``draws`` redraws and no ties, under ``rule``.

    Symmetric: reject when ``(1 + #)/(1 + k) ≤ 0.05``; equal-tailed: when either one-sided
    ``(1 + #)/(1 + k) ≤ 0.025``, which the two tails add up.
    """
    if rule == "symmetric":
        return math.floor(0.05 * (draws + 1)) / (draws + 1)
    return 2 * math.floor(0.025 * (draws + 1)) / (draws + 1)


def ri_null_study(name: str, trials: int, draws: int, *, seed: int = 12, days: int = 28,
                  first: int = 0, outcomes: tuple[str, ...] = ("count_violence", "harm_violence")) -> dict:
    """Randomisation inference only, under the null, in grid cell ``name``.

    Trial ``i`` uses exactly the seeds of null trial ``i`` of :func:`run_grid` (same panel
    and redraw streams), so the first 400 trials reproduce the grid's RI p-values. Besides
    the rejection rate it tests that the rank of the observed statistic among the redraws
    is uniform on ``0..draws``, which an exact test implies (chi-square over 10 rank bins,
    expected counts proportional to their widths; the rank is the count of redraws at or
    below the observed statistic, from the one-sided ``p_less``).
    """
    from scipy import stats

    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    t0 = time.perf_counter()
    pvals: dict[str, list[float]] = {col: [] for col in outcomes}
    lower: dict[str, list[float]] = {col: [] for col in outcomes}
    for i in range(first, first + trials):
        s = seed * 10**6 + 500_000 + i
        frame = make_panel(design, stream(s, "simulation", 0), irr=1.0, mean_rate=0.3,
                           hotspot_sd=0.7, day_sd=0.25)
        base = "baseline_count_violence" if design.kind == "parallel" else None
        for col in pvals:
            ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                    statistic=grid.RI_STATISTIC, p_value_rule=grid.RI_P_VALUE,
                                    rng=stream(s, "randomisation_inference", col))
            pvals[col].append(ri.p_value)
            lower[col].append(ri.p_less)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "p_value_rule": grid.RI_P_VALUE, "exact_size": _exact_size(draws, grid.RI_P_VALUE),
           "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col, p in pvals.items():
        p = np.array(p)
        # redraws at or below the observed statistic: uniform on 0..draws under exactness
        exceed = np.rint(np.array(lower[col]) * (draws + 1) - 1).astype(int)
        bins = np.bincount(np.minimum(exceed * 10 // (draws + 1), 9), minlength=10)
        # exceed is uniform on 0..draws under exactness; a bin's expected share is its width
        width = np.bincount(np.minimum(np.arange(draws + 1) * 10 // (draws + 1), 9), minlength=10)
        size, size_se = _rate(p <= 0.05)
        first = p[:400]
        out["outcomes"][col] = {
            "size": size, "size_se": size_se, "z_vs_exact": (size - out["exact_size"]) / size_se,
            "size_first_400": float(np.mean(first <= 0.05)), "mean_p": float(p.mean()),
            "rank_bins": bins.tolist(), "rank_chi2_p": float(stats.chisquare(bins, width / width.sum() * bins.sum()).pvalue),
            "share_p_equal_1": float(np.mean(p >= 1.0))}
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
    low_side = {(col, st): [] for col in outcomes for st in statistics}  # misses with the interval below
    for i in range(first, first + trials):
        s = seed * 10**6 + i
        frame = make_panel(design, stream(s, "simulation", 0), irr=GRID_IRR, mean_rate=0.3,
                           hotspot_sd=0.7, day_sd=0.25)
        base = "baseline_count_violence" if design.kind == "parallel" else None
        for col in outcomes:
            for st in statistics:
                ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                        statistic=st, null_rate_ratio=GRID_IRR, p_value_rule=grid.RI_P_VALUE,
                                        rng=stream(s, "randomisation_inference", col))
                covered[(col, st)].append(ri.p_value > 0.05)
                low_side[(col, st)].append(ri.p_value <= 0.05 and ri.p_less < ri.p_greater)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "p_value_rule": grid.RI_P_VALUE, "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col in outcomes:
        out["outcomes"][col] = {}
        for st in statistics:
            cov, cov_se = _rate(np.array(covered[(col, st)]))
            misses = len(covered[(col, st)]) - int(np.sum(covered[(col, st)]))
            out["outcomes"][col][st] = {"coverage": cov, "coverage_se": cov_se,
                                        "misses_below": int(np.sum(low_side[(col, st)])),
                                        "misses_above": misses - int(np.sum(low_side[(col, st)]))}
    return out


CACE_IRR, CACE_DELIVERED, CACE_CONTAMINATED = 0.6, 0.75, 0.05


def cace_study(name: str, trials: int, draws: int, *, seed: int = 12, days: int = 28, first: int = 0,
               outcomes: tuple[str, ...] = ("count_violence", "harm_violence"), ri_only: bool = False,
               led: bool = False) -> dict:
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
    with ``E[exp(a)] = exp(0.7²/2)`` and ``mean_d exp(g_d)`` of the trial's day effects as
    ``make_panel`` records it (``frame.attrs["mean_day_factor"]``).

    ``ri_only``: the randomisation test alone (same trials and redraws), for a change of the
    randomisation p-value rule; the model-based fields are then ``None``.

    ``led``: also run the report's data diagnosis per trial and outcome (crossover designs;
    :func:`~guardian_rct.estimation.diagnosis.diagnose_inference`, as the evaluation does) and
    score the rate-ratio CACE interval the report leads with: Anderson-Rubin where the
    diagnosis trusts the Wald test, the randomisation interval where it does not.
    """
    from guardian_rct.design.diagnosis import diagnose_design
    from guardian_rct.estimation.diagnosis import diagnose_inference
    from guardian_rct.estimation.iv import cace, patrol_present
    from guardian_rct.estimation.iv_ratio import cace_ratio

    n, _, keys, blocks = CELLS[name]
    design = grid_design(n, days, keys, blocks)
    design_diag = diagnose_design(design) if led and design.kind == "crossover" else None
    t0 = time.perf_counter()
    truth = math.log(CACE_IRR)
    res = {col: {"est": [], "ar_cover": [], "ri_cover": [], "ri_miss_below": [], "ar_reject": [], "ri_reject": [],
                 "weak": [], "led_cover": [], "led_reject": [], "ar_leads": [],
                 "lin_err": [], "lin_cover": [], "lin_reject": []} for col in outcomes}
    mean_weight = {"count_violence": 1.0, "harm_violence": math.exp(1.0 + 1.5 ** 2 / 2)}
    for arm, irr in (("effect", CACE_IRR), ("null", 1.0)):
        for i in range(first, first + trials):
            s = seed * 10**6 + 700_000 + i + (0 if arm == "effect" else 100_000)
            frame = make_panel(design, stream(s, "simulation", 0), irr=irr, mean_rate=0.3, hotspot_sd=0.7,
                               day_sd=0.25, delivered_rate=CACE_DELIVERED, contamination_rate=CACE_CONTAMINATED)
            day_mean = frame.attrs["mean_day_factor"]
            present = patrol_present(frame)
            base = "baseline_count_violence" if design.kind == "parallel" else None
            # the report's CACE fixed effects (estimation/standard_set.py)
            fe = ((("block", "day") if frame["block"].nunique() > 1 else ("day",))
                  if design.kind == "parallel" else ("hotspot", "day"))
            for col in outcomes:
                ri = randomisation_test(frame, col, design, draws=draws, conf_int=False, baseline=base,
                                        statistic=grid.RI_STATISTIC, null_rate_ratio=irr, dose=present,
                                        p_value_rule=grid.RI_P_VALUE,
                                        rng=stream(s, "randomisation_inference", col))
                r = res[col]
                if arm == "effect":
                    r["ri_cover"].append(ri.p_value > 0.05)
                    r["ri_miss_below"].append(ri.p_value <= 0.05 and ri.p_less < ri.p_greater)
                else:
                    r["ri_reject"].append(ri.p_value <= 0.05)
                if ri_only:
                    continue
                est = cace_ratio(frame, col, fe=fe)
                lin = cace(frame, col, endogenous="delivered", fe=fe)
                lin_truth = (irr - 1) * 0.3 * math.exp(0.7 ** 2 / 2) * day_mean * mean_weight[col]
                trusted = (diagnose_inference(frame, col, design=design_diag).wald_reliable
                           if design_diag is not None else None)
                if arm == "effect":
                    r["lin_err"].append(lin.estimate - lin_truth)
                    r["lin_cover"].append(lin.conf_low <= lin_truth <= lin.conf_high)
                    lo = est.conf_low if est.conf_low is not None else -math.inf
                    hi = est.conf_high if est.conf_high is not None else math.inf
                    r["est"].append(est.estimate)
                    r["ar_cover"].append(lo <= truth <= hi)
                    r["weak"].append(bool(est.first_stage is not None and est.first_stage.weak))
                    if trusted is not None:
                        r["led_cover"].append(r["ar_cover"][-1] if trusted else r["ri_cover"][-1])
                else:
                    r["lin_reject"].append(lin.p_value < 0.05)
                    r["ar_reject"].append(est.p_value < 0.05)
                    if trusted is not None:
                        r["led_reject"].append(r["ar_reject"][-1] if trusted else r["ri_reject"][-1])
                if trusted is not None:
                    r["ar_leads"].append(trusted)
    out = {"cell": name, "days": days, "trials": trials, "first_trial": first, "draws": draws,
           "cace_irr": CACE_IRR, "delivered": CACE_DELIVERED, "contaminated": CACE_CONTAMINATED,
           "p_value_rule": grid.RI_P_VALUE, "ri_only": ri_only,
           "seconds": round(time.perf_counter() - t0, 1), "outcomes": {}}
    for col, r in res.items():
        row = {"ri_misses_below": int(np.sum(r["ri_miss_below"])),
               "ri_misses_above": int(len(r["ri_cover"]) - np.sum(r["ri_cover"]) - np.sum(r["ri_miss_below"]))}
        for key in ("ri_cover", "ri_reject") if ri_only else ("ar_cover", "ri_cover", "ar_reject", "ri_reject",
                                                              "lin_cover", "lin_reject"):
            m, se = _rate(np.array(r[key]))
            row[key], row[key + "_se"] = m, se
        if not ri_only:
            row.update(_model_rows(r, truth))
        if r["ar_leads"]:
            for key in ("led_cover", "led_reject"):
                m, se = _rate(np.array(r[key]))
                row[key], row[key + "_se"] = m, se
            row["share_ar_leads"] = float(np.mean(r["ar_leads"]))
        out["outcomes"][col] = row
    return out


def _model_rows(r: dict, truth: float) -> dict:
    """Bias of the GMM and 2SLS CACE, trials without an estimate, and the weak-first-stage share."""
    est = np.array(r["est"], dtype=float)
    finite = est[np.isfinite(est)]
    err = np.array(r["lin_err"], dtype=float)
    return {"bias": float(finite.mean() - truth) if finite.size else None,
            "bias_se": float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else None,
            "no_estimate": int((~np.isfinite(est)).sum()), "weak_first_stage": float(np.mean(r["weak"])),
            "linear_bias": float(err.mean()),
            "linear_bias_se": float(err.std(ddof=1) / math.sqrt(err.size)) if err.size > 1 else None}


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


