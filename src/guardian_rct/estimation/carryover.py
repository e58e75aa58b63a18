"""Carry-over: does yesterday's patrol still deter today (residual deterrence)?

In a daily crossover each hotspot's assignment yesterday is as random as today's, so the
effect of *yesterday's assignment* is identified the same way as the main ITT
(a Poisson model with hotspot and day fixed effects and both indicators; Santos Silva &
Tenreyro 2006). Days since the last assigned patrol are a function of the random
allocation too; bands of it (2, 3, 4 or more days, or none yet) are compared with "patrolled
yesterday" (Koper 1995 and Sherman 1990 on residual deterrence decaying over time).
Both models use the hotspot-days whose previous day is in the panel, with the same CR1
clustered standard errors as :func:`guardian_rct.estimation.itt.poisson_fe`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError
from guardian_rct.estimation.fixed_effects import cluster_vcov, fit_glm_fe
from guardian_rct.estimation.itt import SE_TYPE, Estimate, estimate_from_fit
from guardian_rct.estimation.panel_checks import model_frame, require_columns, resolve

__all__ = ["carryover", "history_columns", "SINCE_BANDS"]

#: Bands of days since the last assigned patrol; "1" (yesterday) is the reference.
SINCE_BANDS = ("2", "3", "4+")


def history_columns(frame: pd.DataFrame, *, treatment: str = "treated") -> pd.DataFrame:
    """Per row: ``lag1`` (assigned yesterday, NaN when yesterday is not in the panel) and
    ``days_since`` (days since the last assigned patrol before today, NaN if none)."""
    require_columns(frame, ["hotspot_id", "day_index", treatment], purpose="carry-over")
    day = frame["day_index"].to_numpy()
    t = pd.to_numeric(frame[treatment], errors="coerce").to_numpy(dtype=float)
    order = np.lexsort((day, frame["hotspot_id"].to_numpy()))
    hot = frame["hotspot_id"].to_numpy()[order]
    d, tt = day[order], t[order]
    same = np.r_[False, hot[1:] == hot[:-1]]
    prev_consecutive = same & (np.r_[-10, d[:-1]] == d - 1)
    lag = np.where(prev_consecutive, np.r_[np.nan, tt[:-1]], np.nan)
    # last treated day strictly before this row, within hotspot
    last_t = pd.Series(np.where(tt == 1, d, np.nan)).groupby(hot).shift(1)
    last_t = last_t.groupby(hot).ffill().to_numpy()
    since = d - last_t
    out = pd.DataFrame(index=frame.index)
    out["lag1"] = np.empty(len(frame))
    out["days_since"] = np.empty(len(frame))
    out.iloc[order, 0] = lag
    out.iloc[order, 1] = since
    return out


def _fit(mf, X, names, outcome, alpha, estimands, model, details):
    try:
        fit = fit_glm_fe(mf.y, X, mf.fe, weights=mf.weights)
    except np.linalg.LinAlgError:
        raise DataError("a carry-over term does not vary within hotspots and days", where="panel",
                        expected="a daily crossover with varied histories",
                        found="a constant term", fix="use a longer evaluation period") from None
    if not fit.converged:
        raise DataError("the carry-over model did not converge", where=f"panel ({outcome})",
                        fix="use a longer evaluation period")
    vcov, G = cluster_vcov(fit.xt, fit.score_w, fit.work_w, mf.clusters, fit.n_params)
    out = []
    for j, (name, estimand) in enumerate(zip(names, estimands, strict=True)):
        out.append(estimate_from_fit(
            fit.coef[j], math.sqrt(vcov[j, j]), G - 1, alpha=alpha, log_scale=True, outcome=outcome,
            estimand=estimand, model=model, n_obs=int(mf.y.size), n_clusters=G, term=name,
            details=details + "; " + SE_TYPE, notes=mf.notes))
    return out


def carryover(panel_frame: pd.DataFrame, outcome_column: str, *, treatment: str = "treated",
              fe: Sequence[str] = ("hotspot", "day"), weights: np.ndarray | str | None = None,
              cluster: str = "hotspot_id", alpha: float = 0.05) -> list[Estimate]:
    """Carry-over estimates (log rate ratios), to report beside the main ITT.

    Returns
    -------
    list of Estimate
        ``treated_lag1``: patrol assigned yesterday (controlling for today's assignment);
        ``since_2``, ``since_3``, ``since_4+``: last assigned patrol 2, 3, or 4+ days ago
        (or none yet) versus yesterday, controlling for today's assignment. A rate ratio
        above 1 for longer gaps indicates residual deterrence that decays.
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    require_columns(panel_frame, [outcome_column], purpose=f"carry-over for '{outcome_column}'")
    hist = history_columns(panel_frame, treatment=treatment)
    usable = hist["lag1"].notna().to_numpy()
    if usable.sum() == 0:
        raise DataError("no hotspot-day has its previous day in the panel", where="panel",
                        expected="consecutive experimental days", found="none",
                        fix="evaluate a period of at least two days")
    sub = panel_frame.loc[usable]
    h = hist.loc[usable]
    w = None if weights is None else np.asarray(
        panel_frame[weights] if isinstance(weights, str) else weights, dtype=float)[usable]
    mf = model_frame(sub, outcome_column, treatment=treatment, fe=tuple(fe), cluster=cluster,
                     weights=w)
    lag = h["lag1"].to_numpy()[mf.rows]
    since = h["days_since"].to_numpy()[mf.rows]
    spec = "Poisson PML, fixed effects: " + " + ".join(fe)
    out = _fit(mf, np.column_stack([mf.treated, lag]), ["treated", "treated_lag1"], outcome_column,
               alpha, ["ITT today (lag model)", "carry-over: patrol assigned yesterday"],
               "poisson_fe_carryover", spec + "; terms: treated today + treated yesterday")[1:]
    whole = np.nan_to_num(since, nan=0.0).astype(np.int64).astype(str)
    band = np.where(np.isnan(since) | (since >= 4), "4+", whole)
    dummies = [(band == b).astype(float) for b in SINCE_BANDS]
    present = [i for i, col in enumerate(dummies) if col.any()]
    if present:
        X = np.column_stack([mf.treated] + [dummies[i] for i in present])
        names = ["treated"] + [f"since_{SINCE_BANDS[i]}" for i in present]
        estimands = ["ITT today (days-since model)"] + [
            f"days since last assigned patrol: {SINCE_BANDS[i]} vs 1" for i in present]
        out += _fit(mf, X, names, outcome_column, alpha, estimands, "poisson_fe_days_since",
                    spec + "; terms: treated today + bands of days since the last assigned "
                    "patrol (reference: yesterday)")[1:]
    return out
