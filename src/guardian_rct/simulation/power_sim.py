"""Power and minimum detectable effect by simulating trials through the real estimators.

For each simulated trial:

1. an allocation is drawn from the trial's own design object (``design.draw``; the design
   of the longest trial length, whose first ``n`` days are a draw of the ``n``-day trial
   because days are drawn in order);
2. each hotspot-day's control count is gamma-Poisson (negative binomial):
   ``y0 ~ Poisson(λ_i · g)``, ``g ~ Gamma(1/α, α)`` with mean 1, so ``Var = μ + α μ²``
   (Cameron & Trivedi 2013, §3.3), with ``λ_i`` the hotspot's baseline rate;
3. each treated hotspot-day gets its patrol with probability ``c`` (compliance); a
   delivered patrol multiplies the rate by the effect ``RR``, simulated by binomial
   thinning ``y = Binomial(y0, RR)`` (exactly Poisson(λ g RR)); the same ``y0`` serve
   every effect (common random numbers, so the power curve is smooth in the effect).
   The intention-to-treat rate ratio is then ``1 − c(1 − RR)`` in expectation;
4. the ITT log rate ratio is estimated with :func:`guardian_rct.estimation.itt.poisson_fe`
   (hotspot + day fixed effects, CR1 standard errors clustered by hotspot, t(G − 1)
   test; inverse-probability weights if the design's probabilities differ), exactly as
   the milestone evaluation does, and the two-sided test at ``alpha`` is recorded.

Power is the share of simulated trials that reject (a trial whose model cannot be fitted,
e.g. no crime on treated days, counts as not rejecting and is reported). Its Monte Carlo
standard error is ``sqrt(p(1 − p)/sims)`` (binomial).

The minimum detectable effect at 80% power solves ``|log RR_ITT| = (t_{1−α/2, G−1} +
z_{0.8}) · SE(RR_ITT)`` with ``SE`` the mean simulated clustered standard error,
interpolated in ``log RR`` across the grid (the normal approximation of the Wald test at
the simulated standard error; Bloom 1995, "Minimum detectable effects", *Evaluation
Review* 19(5)); the effect of a delivered patrol is ``1 − (1 − RR_ITT)/c``. Where two grid
effects bracket 80% power, the MDE read off the simulated power curve (probit-linear in
``log RR``) is given too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
from scipy import stats

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.errors import DataError, UsageError
from guardian_rct._core.log import progress as progress_bar
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct._core.rng import stream
from guardian_rct._core.safe_write import atomic_path, write_text
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.crossover import CrossoverDesign
from guardian_rct.design.factory import design_from_config
from guardian_rct.estimation.itt import ipw_weights, poisson_fe
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.simulation.common import load_calibration
from guardian_rct.simulation.power_analytic import poisson_power
from guardian_rct.simulation.power_inputs import BaselineRates

__all__ = ["PowerResult", "simulate_power", "power_analysis", "plot_power", "check_grid"]

TARGET_POWER = 0.8


@dataclass(frozen=True)
class PowerResult:
    """Simulated power over a grid of effects and trial lengths.

    Attributes
    ----------
    grid
        One row per (``days``, ``effect``): ``itt_rate_ratio``, ``power``, ``mc_se``,
        ``rejections``, ``sims``, ``failed`` (fits that could not be made),
        ``mean_estimate``, ``mean_se``, ``sd_estimate`` (log scale), ``closed_form_power``
        (:func:`guardian_rct.simulation.power_analytic.poisson_power` at the mean rate, for comparison) and
        ``label`` (``"no reduction"`` for an effect of 1).
    mde
        One row per trial length: ``mde_itt`` and ``mde_patrol`` (rate ratios at 80%
        power from the simulated standard errors), ``mde_patrol_curve`` (read off the
        simulated power curve where the grid brackets 80%, else NaN).
    settings
        Design, compliance, over-dispersion, alpha, sims, seed, rates.
    """

    grid: pd.DataFrame
    mde: pd.DataFrame
    settings: dict[str, Any]
    provenance: Provenance | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The grid."""
        return self.grid

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN → null)."""
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in r.items()} for r in frame.to_dict(orient="records")]
        return {"grid": rows(self.grid), "mde": rows(self.mde), "settings": self.settings,
                "provenance": self.provenance.to_dict() if self.provenance else None}

    def summary(self) -> str:
        """The MDE per trial length and the power table, for people."""
        s = self.settings
        lines = [f"Simulated power: {s['hotspots']} hotspots, {s['treated_per_day']:g} treated per day, "
                 f"{s['sims']} simulated trials per grid point, compliance {s['compliance']:.2f}, "
                 f"over-dispersion {s['overdispersion']:g}, two-sided alpha {s['alpha']:g}; "
                 f"rate {s['mean_rate']:.4g} crimes per hotspot-day ({s['rate_source']}).",
                 "Minimum detectable effect at 80% power (rate ratio of a delivered patrol; ITT in brackets):"]
        for r in self.mde.itertuples():
            if not math.isfinite(r.mde_itt):
                text = "not computed (the grid has no effect below 1)"
            elif not math.isfinite(r.mde_patrol):
                text = (f"not detectable at this compliance (ITT {r.mde_itt:.3f} would need more than "
                        "a 100% reduction on delivered patrol days)")
            else:
                text = f"{r.mde_patrol:.3f} ({100 * (1 - r.mde_patrol):.1f}% reduction; ITT {r.mde_itt:.3f})"
            if math.isfinite(r.mde_patrol_curve):
                text += f"; from the power curve {r.mde_patrol_curve:.3f}"
            lines.append(f"  {r.days:>4} days: {text}")
        lines.append("Power (± Monte Carlo standard error):")
        for r in self.grid.itertuples():
            label = " (no reduction: this is the false-positive rate)" if r.label == "no reduction" else ""
            failed = f", {r.failed} fits failed" if r.failed else ""
            lines.append(f"  {r.days:>4} days, patrol effect {r.effect:.2f} (ITT {r.itt_rate_ratio:.3f}): "
                         f"power {r.power:.3f} ± {r.mc_se:.3f}{failed}{label}; closed form {r.closed_form_power:.3f}")
        return "\n".join(lines)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``power_grid.csv``, ``power_mde.csv``, ``power.json`` and ``power.png``."""
        import json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"grid_csv": out / "power_grid.csv", "mde_csv": out / "power_mde.csv",
                 "json": out / "power.json", "png": out / "power.png"}
        inputs: list[Path] = []  # the trial's own files are protected by the command's scope
        write_csv(paths["grid_csv"], self.grid, inputs=inputs,
                   what="power grid CSV")
        write_csv(paths["mde_csv"], self.mde, inputs=inputs,
                   what="power MDE CSV")
        write_text(paths["json"], json.dumps(self.to_dict(), indent=2, default=str) + "\n", inputs=inputs,
                   what="power JSON")
        with atomic_path(paths["png"], inputs=inputs, what="power figure") as tmp:
            plot_power(self, tmp)
        return paths


def check_grid(effects: Sequence[float], days: Sequence[int], *, compliance: float, sims: int,
               alpha: float, overdispersion: float) -> tuple[list[float], list[int]]:
    """Validate the grid and options; one-line :class:`UsageError` otherwise."""
    effects = [float(e) for e in effects]
    days = [int(d) for d in days]
    if not effects:
        raise UsageError("no effects to simulate", where="--effects", fix="give e.g. --effects 0.7,0.8,0.9")
    if not days:
        raise UsageError("no trial lengths to simulate", where="--days", fix="give e.g. --days 90,182,365")
    for e in effects:
        if not (math.isfinite(e) and 0 < e <= 1):
            raise UsageError("an effect is the rate ratio of crime on a patrolled hotspot-day",
                             where="--effects", expected="0 < effect <= 1 (0.8 = a 20% reduction; "
                             "1 = no reduction, which gives the false-positive rate)", found=repr(e),
                             fix="write a 20% reduction as 0.8")
    for d in days:
        if d < 7:
            raise UsageError("a trial length is too short", where="--days", expected="at least 7 days",
                             found=str(d), fix="give lengths in days, e.g. 90,182,365")
    if len(set(effects)) != len(effects) or len(set(days)) != len(days):
        raise UsageError("the grid repeats a value", where="--effects/--days",
                         fix="list each effect and length once")
    if not 0 < compliance <= 1:
        raise UsageError("compliance is the share of scheduled patrols delivered", where="--compliance",
                         expected="0 < compliance <= 1", found=str(compliance), fix="give e.g. 0.75")
    if sims < 20:
        raise UsageError("too few simulations for a power estimate", where="--sims",
                         expected="at least 20 (200 gives a Monte Carlo error of at most 0.035)",
                         found=str(sims), fix="use e.g. --sims 200")
    if not 0 < alpha < 1:
        raise UsageError("alpha must lie between 0 and 1", where="--alpha", found=str(alpha), fix="use 0.05")
    if not (math.isfinite(overdispersion) and overdispersion >= 0):
        raise UsageError("over-dispersion must be 0 (Poisson) or positive", where="--overdispersion",
                         found=str(overdispersion), fix="give e.g. 0.5, or 0 for Poisson counts")
    return sorted(effects), sorted(days)


def _frames(design: CrossoverDesign, days: list[int]) -> dict[int, pd.DataFrame]:
    """Fixed panel columns (hotspot, day, p_treated) for the first ``n`` days.

    Hotspots are coded 0..H−1: the estimator needs only distinct labels, and integer
    labels make each fit about a quarter faster than strings (factor encoding).
    """
    n_hot = len(design.hotspot_ids)
    probs = np.asarray(design.probabilities(), dtype=float)
    out = {}
    for n in days:
        out[n] = pd.DataFrame({"hotspot_id": np.tile(np.arange(n_hot), n), "day_index": np.repeat(np.arange(n), n_hot),
                               "p_treated": probs[:n].ravel()})
    return out


def _mde(grid: pd.DataFrame, compliance: float, alpha: float, n_clusters: int) -> pd.DataFrame:
    q = stats.t.ppf(1 - alpha / 2, max(n_clusters - 1, 1)) + stats.norm.ppf(TARGET_POWER)
    rows = []
    for n, g in grid.groupby("days", sort=True):
        g = g[np.isfinite(g["mean_se"]) & (g["itt_rate_ratio"] < 1)].sort_values("itt_rate_ratio")
        mde_itt = mde_curve = math.nan
        if len(g):
            x, lse = np.log(g["itt_rate_ratio"].to_numpy()), np.log(g["mean_se"].to_numpy())
            rr = 1.0
            for _ in range(200):
                new = math.exp(-q * math.exp(np.interp(math.log(rr), x, lse)))
                if abs(new - rr) < 1e-10:
                    break
                rr = new
            mde_itt = rr
            # a power of 0 or 1 has no probit: use half a trial from the edge (continuity)
            sims = float(g["sims"].iloc[0])
            p = np.clip(g["power"].to_numpy(), 0.5 / sims, 1 - 0.5 / sims)
            for i in range(len(g) - 1):  # x increasing: power decreasing towards RR = 1
                if p[i] >= TARGET_POWER > p[i + 1]:
                    a, b = stats.norm.ppf(p[i]), stats.norm.ppf(p[i + 1])
                    z = stats.norm.ppf(TARGET_POWER)
                    itt = math.exp(x[i] + (z - a) / (b - a) * (x[i + 1] - x[i]))
                    mde_curve = 1 - (1 - itt) / compliance
                    break
        patrol = 1 - (1 - mde_itt) / compliance if math.isfinite(mde_itt) else math.nan
        rows.append({"days": int(n), "mde_itt": mde_itt, "mde_patrol": patrol if patrol > 0 else math.nan,
                     "mde_patrol_curve": mde_curve if mde_curve > 0 else math.nan})
    return pd.DataFrame(rows)


def simulate_power(design: CrossoverDesign, rates: BaselineRates, *, effects: Sequence[float] = (0.7, 0.8, 0.9),
                   days: Sequence[int] = (90, 182, 365), compliance: float = 0.75, sims: int = 200,
                   alpha: float = 0.05, overdispersion: float = 0.0, rng: np.random.Generator,
                   progress: TextIO | None = None, seed: int | None = None) -> PowerResult:
    """Power of the trial's ITT Poisson fixed-effects test, by simulation (module notes).

    Parameters
    ----------
    design
        A crossover design (``design_from_config``) covering at least ``max(days)`` days.
    rates
        Baseline crimes per hotspot-day, aligned with ``design.hotspot_ids``.
    effects
        Rate ratios of a delivered patrol, each in (0, 1]; 1 gives the test's size.
    days
        Trial lengths (first ``n`` experimental days).
    compliance
        Probability that a scheduled patrol is delivered.
    sims
        Simulated trials per grid point (all effects of one trial share its allocation
        and control counts).
    overdispersion
        Negative-binomial α of a hotspot-day's count (0 = Poisson).
    rng
        Generator for everything random.
    """
    effects, days = check_grid(effects, days, compliance=compliance, sims=sims, alpha=alpha,
                               overdispersion=overdispersion)
    if not isinstance(design, CrossoverDesign):
        raise UsageError("power by simulation supports crossover designs only", where="[design] kind",
                         found=type(design).__name__,
                         fix="use the closed form (guardian_rct.simulation.power_analytic) for a parallel design")
    if tuple(rates.hotspot_ids) != tuple(design.hotspot_ids):
        raise DataError("baseline rates are not aligned with the design's hotspots", where="rates",
                        fix="compute the rates from the same hotspot file")
    lam = np.asarray(rates.rates, dtype=float)
    if not np.any(lam > 0):
        raise DataError("every hotspot has a baseline rate of 0", where=rates.source,
                        fix="give a crimes file with crimes in the hotspots, or --rate")
    n_max, n_hot = max(days), len(design.hotspot_ids)
    if len(design.days) < n_max:
        raise UsageError("the design has fewer days than the longest trial length", where="--days",
                         found=f"{len(design.days)} < {n_max}", fix="build the design for the longest length")
    frames = _frames(design, days)
    varying = float(np.ptp(np.asarray(design.probabilities(), dtype=float))) > 1e-12
    records = {(n, e): [] for n in days for e in effects}
    failed = dict.fromkeys(records, 0)
    clusters = []
    began = time.perf_counter()
    for s in progress_bar(range(sims), total=sims, desc="power simulations", unit="trial"):
        T = np.asarray(design.draw(rng))[:n_max]
        mean = np.broadcast_to(lam, (n_max, n_hot))
        if overdispersion > 0:
            mean = mean * rng.gamma(1 / overdispersion, overdispersion, (n_max, n_hot))
        y0 = rng.poisson(mean)
        delivered = T & (rng.random((n_max, n_hot)) < compliance)
        for e in effects:
            y = np.where(delivered, rng.binomial(y0, e), y0) if e < 1 else y0
            for n in days:
                frame = frames[n].assign(treated=T[:n].ravel().astype(np.int64), count=y[:n].ravel())
                try:
                    w = ipw_weights(frame) if varying else None  # as the evaluation weighs
                    est = poisson_fe(frame, "count", weights=w, alpha=alpha)
                except DataError:
                    failed[(n, e)] += 1
                    continue
                records[(n, e)].append((est.estimate, est.std_error, est.p_value))
                clusters.append(est.n_clusters)
        if progress is not None and (s + 1) % max(1, sims // 10) == 0:
            elapsed = time.perf_counter() - began
            print(f"  simulated {s + 1}/{sims} trials ({elapsed:.0f} s, about "
                  f"{elapsed / (s + 1) * (sims - s - 1):.0f} s to go)", file=progress, flush=True)
    n_t = {n: float(np.asarray(design.probabilities())[:n].sum()) for n in days}
    rows = []
    for (n, e), rec in sorted(records.items()):
        arr = np.asarray(rec, dtype=float).reshape(-1, 3)
        rej = int(np.sum(arr[:, 2] < alpha))
        p = rej / sims
        itt = 1 - compliance * (1 - e)
        closed = poisson_power(float(lam.mean()), n_t[n], n * n_hot - n_t[n], itt, alpha=alpha,
                               overdispersion=overdispersion)
        rows.append({"days": n, "effect": e, "itt_rate_ratio": itt, "power": p,
                     "mc_se": math.sqrt(p * (1 - p) / sims), "rejections": rej, "sims": sims,
                     "failed": failed[(n, e)],
                     "mean_estimate": float(arr[:, 0].mean()) if len(arr) else math.nan,
                     "mean_se": float(arr[:, 1].mean()) if len(arr) else math.nan,
                     "sd_estimate": float(arr[:, 0].std(ddof=1)) if len(arr) > 1 else math.nan,
                     "closed_form_power": closed, "label": "no reduction" if e == 1 else ""})
    grid = pd.DataFrame(rows)
    mde = _mde(grid, compliance, alpha, int(np.median(clusters)) if clusters else n_hot)
    settings = {"hotspots": n_hot, "treated_per_day": round(float(np.asarray(design.probabilities())[0].sum()), 6),
                "design": getattr(design, "kind", "crossover"), "effects": effects, "days": days,
                "compliance": compliance, "overdispersion": overdispersion, "alpha": alpha, "sims": sims,
                "seed": seed, "mean_rate": float(lam.mean()), "rate_source": rates.source,
                "rates": rates.to_dict(), "estimator": "estimate.poisson_fe (hotspot + day FE, CR1 by hotspot, t(G-1))",
                "seconds": round(time.perf_counter() - began, 1),
                "effect_model": "delivered patrols simulated (probability = compliance); ITT rate ratio = 1 - c(1 - RR)"}
    prov = make_provenance(seed=seed, inputs={"crimes": rates.source} if Path(rates.source).is_file() else {})
    return PowerResult(grid=grid, mde=mde, settings=settings, provenance=prov)


def power_analysis(config: TrialConfig, hotspots: HotspotSet, rates: BaselineRates, *, effects: Sequence[float] = (0.7, 0.8, 0.9),
                   days: Sequence[int] | None = None, compliance: float = 0.75, sims: int = 200,
                   alpha: float | None = None, overdispersion: float | None = None, seed: int | None = None,
                   progress: TextIO | None = sys.stderr) -> PowerResult:
    """Simulated power for the trial in ``config`` (its design, extended to the longest length).

    ``days`` defaults to the days to each ``[evaluation] milestones`` and the full trial;
    ``overdispersion`` to the crime simulator's calibrated day-level value (1 / gamma
    shape, from West Midlands data.police.uk counts); ``seed`` to the trial seed.
    """
    start = config.trial.start_date
    if days is None:
        days = sorted({(m - start).days + 1 for m in config.evaluation.milestones if m >= start}
                      | {config.trial.n_days})
    alpha = config.evaluation.alpha if alpha is None else alpha
    if overdispersion is None:
        overdispersion = 1.0 / load_calibration().gamma_shape
    check_grid(effects, days, compliance=compliance, sims=sims, alpha=alpha, overdispersion=overdispersion)
    longest = dataclasses.replace(config, trial=dataclasses.replace(
        config.trial, end_date=start + dt.timedelta(days=max(days) - 1)))
    design = design_from_config(longest, hotspots)
    seed = config.trial.seed if seed is None else seed
    if progress is not None:
        print(f"simulating {sims} trials x {len(effects)} effects x {len(days)} lengths "
              f"({sims * len(effects) * len(days)} model fits)", file=progress, flush=True)
    return simulate_power(design, rates, effects=effects, days=days, compliance=compliance, sims=sims,
                          alpha=alpha, overdispersion=overdispersion, rng=stream(seed, "power_simulation"),
                          progress=progress, seed=seed)


def plot_power(result: PowerResult, path: str | Path) -> Path:
    """Power against the patrol effect, one line per trial length, with ±2 MC SE bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for n, g in result.grid.groupby("days", sort=True):
        ax.errorbar(g["effect"], g["power"], yerr=2 * g["mc_se"], marker="o", capsize=3, label=f"{n} days")
    ax.axhline(TARGET_POWER, color="grey", ls="--", lw=1)
    ax.axhline(result.settings["alpha"], color="grey", ls=":", lw=1)
    ax.set_xlabel("rate ratio of crime on a delivered patrol day (1 = no effect)")
    ax.set_ylabel("power (share of simulated trials with p < alpha)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Simulated power, compliance {result.settings['compliance']:.2f}, "
                 f"{result.settings['sims']} trials per point", fontsize=10)
    ax.legend(title="trial length")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
