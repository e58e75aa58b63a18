"""Synthetic panels in the contract schema (docs/contracts.md, "Panel") for report tests.

Built here, not from panel.py, so that the report can be tested on its own branch.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from guardian_rct.estimation.results import Estimate

OUTCOMES = ("all_crime", "violence")
RINGS = ("0-100", "100-200")


def synthetic_panel(*, n_hotspots: int = 6, n_days: int = 28, treated_per_day: int = 3,
                    seed: int = 7, effect: float = 0.7, start: dt.date = dt.date(2023, 3, 20),
                    compliance: bool = True, zero_outcome: str | None = None,
                    parallel: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A (panel frame, rings frame) pair with known structure.

    Crossover by default (``treated_per_day`` of ``n_hotspots`` each day); ``parallel``
    treats the first half of hotspots every day.
    """
    rng = np.random.default_rng(seed)
    ids = [f"H{i + 1:02d}" for i in range(n_hotspots)]
    days = [start + dt.timedelta(days=d) for d in range(n_days)]
    rows = []
    base_rate = {h: 0.5 + 0.2 * j for j, h in enumerate(ids)}
    for d_i, day in enumerate(days):
        if parallel:
            treated = set(ids[: n_hotspots // 2])
        else:
            treated = set(rng.choice(ids, size=treated_per_day, replace=False))
        for h in ids:
            t = int(h in treated)
            rows.append({"hotspot_id": h, "block": "A" if int(h[1:]) % 2 else "B",
                         "date": pd.Timestamp(day), "day_index": d_i, "dow": day.weekday(),
                         "arm": "treatment" if t else "control", "treated": t,
                         "p_treated": treated_per_day / n_hotspots if not parallel else 0.5,
                         "window_start": pd.Timestamp(f"{day} 15:00", tz="UTC") if t else pd.NaT})
    frame = pd.DataFrame(rows)
    for k, o in enumerate(OUTCOMES):
        lam = frame["hotspot_id"].map(base_rate).to_numpy() * (1.0 if k == 0 else 0.4)
        lam = lam * np.where(frame["treated"] == 1, effect, 1.0)
        counts = rng.poisson(lam)
        if o == zero_outcome:
            counts = np.zeros_like(counts)
        frame[f"count_{o}"] = counts.astype(int)
        frame[f"harm_{o}"] = counts * 30.0
        frame[f"baseline_count_{o}"] = frame["hotspot_id"].map(base_rate).to_numpy() * 365 * (1 if k == 0 else 0.4)
        frame[f"baseline_harm_{o}"] = frame[f"baseline_count_{o}"] * 30.0
    if compliance:
        frame["delivered"] = np.where(frame["treated"] == 1, rng.random(len(frame)) < 0.8, 0).astype(int)
        frame["dosage_minutes"] = frame["delivered"] * 15.0
        frame["contaminated"] = np.where(frame["treated"] == 0, rng.random(len(frame)) < 0.1, 0).astype(int)
    frame = frame.sort_values(["date", "hotspot_id"]).reset_index(drop=True)
    ring_rows = []
    for ring in RINGS:
        part = frame[["hotspot_id", "date", "treated"]].copy()
        part["ring"] = ring
        for o in OUTCOMES:
            part[f"count_{o}"] = rng.poisson(0.3, len(part)) if o != zero_outcome else 0
            part[f"harm_{o}"] = part[f"count_{o}"] * 20.0
            part[f"baseline_count_{o}"] = 100.0 if o != zero_outcome else 0.0
        ring_rows.append(part.drop(columns=["treated"]))
    rings = pd.concat(ring_rows, ignore_index=True)
    return frame, rings


def synthetic_estimates(zero_outcome: str | None = None) -> list[Estimate]:
    """Estimate records like estimate.itt_estimates would return (values hand-picked)."""
    out = []
    for k, o in enumerate(OUTCOMES):
        if o == zero_outcome:
            nan = float("nan")
            out.append(Estimate(o, "ITT", "poisson_fe", nan, nan, nan, nan, nan, None, None, 168, 6))
            continue
        est, se = -0.30 + 0.1 * k, 0.12 + 0.03 * k
        out.append(Estimate(o, "ITT", "poisson_fe", est, se, est - 1.96 * se, est + 1.96 * se,
                            0.0124 + 0.1 * k, 0.0150 + 0.1 * k, float(np.exp(est)), 168, 6))
        out.append(Estimate(o, "ITT", "negbin_fe", est * 0.9, se * 1.1, est * 0.9 - 1.96 * se * 1.1,
                            est * 0.9 + 1.96 * se * 1.1, 0.03 + 0.1 * k, None, float(np.exp(est * 0.9)),
                            168, 6))
        out.append(Estimate(o, "CACE (patrol delivered)", "iv_2sls_fe", est / 0.8 * 0.5, se / 0.8 * 0.5,
                            (est - 1.96 * se) / 0.8 * 0.5, (est + 1.96 * se) / 0.8 * 0.5, 0.02 + 0.1 * k, None,
                            None, 168, 6, term="delivered",
                            details="2SLS, instrument: assignment; first stage 0.8 (F = 45.25); CR1"))
        out.append(Estimate(o, "carry-over: patrol assigned yesterday", "poisson_fe_carryover", 0.05, 0.1,
                            0.05 - 0.2, 0.05 + 0.2, 0.6, None, float(np.exp(0.05)), 162, 6, term="treated_lag1"))
        out.append(Estimate(o, "days since last assigned patrol: 2 vs 1", "poisson_fe_days_since", -0.1, 0.15,
                            -0.4, 0.2, 0.5, None, float(np.exp(-0.1)), 162, 6, term="since_2"))
    return out
