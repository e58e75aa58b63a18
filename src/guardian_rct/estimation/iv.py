"""Effect of patrols delivered: instrumental variables and dose–response.

Random assignment is an instrument for whether a patrol actually arrived (or for the
minutes of patrol presence): two-stage least squares with hotspot and day fixed effects
estimates the complier average causal effect, the effect of a delivered patrol among
hotspot-days whose patrol status followed the assignment (Angrist, Imbens & Rubin 1996;
Imbens & Rubin 2015, ch. 23–24). With two-sided non-compliance (patrols on control days)
the endogenous "patrol present" variable is ``delivered`` on treated days and
``contaminated`` on control days.

The fixed effects are handled as in :mod:`guardian_rct.estimation.fixed_effects`: the day factor is absorbed
by demeaning, the hotspot factor enters both stages as dummies, which gives exactly the
2SLS with explicit dummies (R ``estimatr::iv_robust(y ~ d + factors | z + factors,
se_type = "stata")``, against which it is tested). Standard errors are clustered by
hotspot, CR1 ``G/(G−1)·(N−1)/(N−K)`` with K counting every fixed-effect level
(Cameron & Miller 2015).

Dose–response (:func:`dose_response`) is descriptive only: dosage is not randomised
(Koper 1995 on patrol duration and residual deterrence; Sherman & Weisburd 1995).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from guardian_rct._core.errors import DataError, where
from guardian_rct._core.wording import count_of
from guardian_rct.estimation.fixed_effects import (
    _design,
    _kept_columns,
    cluster_vcov,
    single_threaded,
)
from guardian_rct.estimation.itt import SE_TYPE, Estimate, estimate_from_fit
from guardian_rct.estimation.panel_checks import model_frame, require_columns, resolve
from guardian_rct.estimation.results import WEAK_INSTRUMENT_F, FirstStage

__all__ = ["cace", "dose_response", "patrol_present", "DOSAGE_BANDS"]

#: Dosage bands in minutes: (lower, upper] except the first, which is exactly zero.
DOSAGE_BANDS: tuple[float, ...] = (0.0, 5.0, 15.0, 30.0, math.inf)


def patrol_present(frame: pd.DataFrame, *, treatment: str = "treated",
                   allow_unknown: bool = False) -> np.ndarray:
    """0/1 patrol presence on the experimental day whose crimes are counted.

    ``present_on_day`` when the panel has it (scored from pings: any presence inside the
    experimental day, either arm; docs/compliance_definitions.md), so that a late visit is
    never delivery of day d and contamination of day d+1 at once. Otherwise (a compliance
    CSV with the contract's columns only) ``delivered`` on treated days and
    ``contaminated`` on control days; ``contaminated`` is optional (0 when absent). With
    ``allow_unknown`` an empty flag (compliance unknown, e.g. a patrol still pending) is
    returned as NaN; otherwise it is an error like any value other than 0 or 1.
    """
    if "present_on_day" in frame.columns:
        v = pd.to_numeric(frame["present_on_day"], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isin(v, (0.0, 1.0)) & ~(allow_unknown & np.isnan(v)))
        if bad.size:
            i = int(bad[0])
            raise DataError("'present_on_day' is not 0 or 1", where=where("panel", i + 1, "present_on_day"),
                            expected="0 or 1", found=repr(frame["present_on_day"].iloc[i]),
                            fix="rebuild the panel with the compliance file")
        return v
    require_columns(frame, ["delivered"], purpose="the effect of delivered patrols")
    t = pd.to_numeric(frame[treatment], errors="coerce").to_numpy(dtype=float)
    out = []
    for col in ("delivered", "contaminated"):
        if col not in frame.columns:
            out.append(np.zeros(len(frame)))
            continue
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        relevant = (t == 1) if col == "delivered" else (t == 0)
        ok = np.isin(v, (0.0, 1.0)) | (allow_unknown & np.isnan(v))
        bad = np.flatnonzero(relevant & ~ok)
        if bad.size:
            i = int(bad[0])
            raise DataError(f"'{col}' is not 0 or 1", where=where("panel", i + 1, col),
                            expected="0, 1 or empty (unknown)" if allow_unknown else "0 or 1",
                            found=repr(frame[col].iloc[i]),
                            fix="correct the compliance file (date, hotspot_id, delivered, "
                            "dosage_minutes, contaminated; 0/1 flags, empty = unknown)")
        out.append(np.where(relevant, v, 0.0))
    return np.where(t == 1, out[0], out[1])


def _endogenous(frame: pd.DataFrame, endogenous: str, treatment: str) -> tuple[np.ndarray, str]:
    """The endogenous variable; NaN where compliance is unknown (empty in the file)."""
    if endogenous == "delivered":
        return patrol_present(frame, treatment=treatment, allow_unknown=True), "patrol delivered"
    require_columns(frame, [endogenous], purpose=f"the effect of {endogenous}")
    v = pd.to_numeric(frame[endogenous], errors="coerce").to_numpy(dtype=float)
    given = frame[endogenous].notna().to_numpy()
    bad = np.flatnonzero((given & ~np.isfinite(v)) | (v < 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"'{endogenous}' is not a number or is negative",
                        where=where("panel", i + 1, endogenous),
                        expected="minutes >= 0, or empty (unknown)", found=repr(frame[endogenous].iloc[i]),
                        fix="correct the compliance file (0 when no visit, empty when unknown)")
    return v, endogenous.replace("_", " ")


@single_threaded
def cace(panel_frame: pd.DataFrame, outcome_column: str, *,
         endogenous: Literal["delivered", "dosage_minutes"] | str = "delivered",
         treatment: str = "treated", fe: Sequence[str] = ("hotspot", "day"),
         weights: np.ndarray | str | None = None, cluster: str = "hotspot_id",
         alpha: float = 0.05) -> Estimate:
    """Complier average causal effect by 2SLS, assignment instrumenting patrol receipt.

    Parameters
    ----------
    panel_frame
        ``Panel.frame`` with compliance columns (``delivered``, ``dosage_minutes``,
        optionally ``contaminated``).
    outcome_column
        e.g. ``"count_violence"``.
    endogenous
        ``"delivered"`` (patrol present, 0/1: effect per delivered patrol, in outcome
        units per hotspot-day) or ``"dosage_minutes"`` (effect per minute of presence).

    Returns
    -------
    Estimate
        ``estimate`` is on the outcome's scale (crimes or harm per hotspot-day);
        ``irr`` is ``None``. ``first_stage`` holds the first-stage coefficient, its
        clustered standard error and cluster-robust F statistic (weak instruments below
        F = 10: Staiger & Stock 1997). Hotspot-days whose compliance is unknown (empty
        flag, e.g. a patrol still pending) are left out, and a note gives their number.
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    if not 0 < alpha < 1:
        raise DataError("alpha must lie between 0 and 1", found=str(alpha), where="alpha",
                        fix="use e.g. 0.05")
    d, label = _endogenous(panel_frame, endogenous, treatment)
    known = np.isfinite(d)
    n_unknown = int((~known).sum())
    if n_unknown == len(d):
        raise DataError("compliance is unknown on every hotspot-day", where=f"panel, column '{endogenous}'",
                        expected="0/1 delivery on some days", found=f"{n_unknown} unknown",
                        fix="give --compliance or --pings covering the evaluated days")
    if n_unknown:
        panel_frame, d = panel_frame.loc[known].reset_index(drop=True), d[known]
        if isinstance(weights, np.ndarray):
            weights = weights[known]
    mf = model_frame(panel_frame, outcome_column, treatment=treatment, fe=tuple(fe),
                     cluster=cluster, weights=weights, drop_zero_groups=False)
    n = mf.y.size
    w = np.ones(n) if mf.weights is None else mf.weights
    z = mf.treated
    absorber, D = _design(np.zeros((n, 0)), mf.fe)
    try:
        keep = _kept_columns(z[:, None], D, absorber, w)
    except np.linalg.LinAlgError:
        raise DataError("the assignment does not vary within the fixed effects",
                        where="panel", expected="variation within hotspots and days",
                        found="a constant column", fix="use a crossover panel") from None
    exog = absorber.demean(D[:, keep[1:] - 1], w)
    dt = absorber.demean(d, w)
    if not np.any(np.abs(dt) > 1e-12 * max(1.0, float(np.abs(d).max()))):
        raise DataError(f"{label} does not vary within the fixed effects (no compliers)",
                        where="panel", expected="patrols delivered on some days and not others",
                        found="a constant column", fix="check the compliance columns")
    Xt = np.column_stack([dt, exog])
    Zt = np.column_stack([absorber.demean(z, w), exog])
    yt = absorber.demean(mf.y, w)
    # first stage: d on z (and exogenous dummies)
    zw = Zt * w[:, None]
    pi = np.linalg.solve(zw.T @ Zt, zw.T @ Xt)
    Xhat = Zt @ pi
    xw = Xhat * w[:, None]
    beta = np.linalg.solve(xw.T @ Xt, xw.T @ yt)
    resid = yt - Xt @ beta
    n_params = Xt.shape[1] + absorber.n_levels
    vcov, G = cluster_vcov(Xhat, w * resid, w, mf.clusters, n_params)
    fs_resid = Xt[:, 0] - Zt @ pi[:, 0]
    fs_vcov, _ = cluster_vcov(Zt, w * fs_resid, w, mf.clusters, n_params)
    first = float(pi[0, 0])
    fs_se = math.sqrt(fs_vcov[0, 0]) if fs_vcov[0, 0] > 0 else 0.0
    f_stat = first**2 / fs_vcov[0, 0] if fs_vcov[0, 0] > 0 else float("inf")
    if not np.isfinite(first) or abs(first) < 1e-12:
        raise DataError("assignment does not change patrol receipt (no compliers)",
                        where=f"panel, column '{endogenous}'", expected="a first-stage effect",
                        found=f"first-stage coefficient {first:.3g}",
                        fix="check that the compliance file matches the allocation")
    first_stage = FirstStage(coefficient=first, std_error=fs_se, f_statistic=float(f_stat), n_obs=int(n))
    notes = mf.notes + ((f"weak instrument: first-stage F = {f_stat:.1f} < {WEAK_INSTRUMENT_F:g}",)
                        if first_stage.weak else ())
    if n_unknown:
        notes += (f"{count_of(n_unknown, 'hotspot-day')} with unknown compliance excluded from the CACE",)
    return estimate_from_fit(
        beta[0], math.sqrt(vcov[0, 0]), G - 1, alpha=alpha, log_scale=False,
        outcome=outcome_column, estimand=f"CACE ({label})", model="iv_2sls_fe", n_obs=int(n),
        n_clusters=G, term=endogenous,
        details=f"2SLS, instrument: assignment; fixed effects: {' + '.join(fe)}; {SE_TYPE}",
        notes=notes, first_stage=first_stage)


def dose_response(panel_frame: pd.DataFrame, outcome_column: str, *,
                  dosage: str = "dosage_minutes", bands: Sequence[float] = DOSAGE_BANDS,
                  alpha: float = 0.05) -> pd.DataFrame:
    """Outcome rate per hotspot-day by band of patrol dosage (descriptive).

    Returns one row per band: ``band``, ``hotspot_days``, ``events`` (sum of the
    outcome), ``rate`` (per hotspot-day), ``conf_low``/``conf_high`` (exact Poisson limits
    for counts, Garwood 1936; for harm they treat harm as a count and are indicative
    only) and ``rate_ratio`` against the zero-dosage band (``None`` if that band has no
    events). Dosage is not randomised, so
    the gradient mixes the effect of presence with where and when officers chose to stay
    (Koper 1995). Hotspot-days with unknown dosage (empty) are left out; their number is
    in ``attrs["unknown_hotspot_days"]``.
    """
    panel_frame, outcome_column = resolve(panel_frame, outcome_column)
    require_columns(panel_frame, [outcome_column, dosage], purpose="the dose-response table")
    unknown = panel_frame[dosage].isna().to_numpy()
    if unknown.any():  # compliance unknown on these hotspot-days: left out, and counted
        panel_frame = panel_frame.loc[~unknown].reset_index(drop=True)
    y = pd.to_numeric(panel_frame[outcome_column], errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(panel_frame[dosage], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(m) | (m < 0) | (y < 0))
    if bad.size:
        i = int(bad[0])
        col = dosage if not (np.isfinite(m[i]) and m[i] >= 0) else outcome_column
        raise DataError("value is missing or negative", where=where("panel", i + 1, col),
                        expected="a number >= 0", found=repr(panel_frame[col].iloc[i]),
                        fix="rebuild the panel")
    edges = list(bands)
    if edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise DataError("dosage bands must start at 0 and increase", where="bands",
                        found=str(edges), fix="use e.g. (0, 5, 15, 30, inf)")
    labels = ["0"] + [f"{a:g}-{b:g}" if np.isfinite(b) else f">{a:g}"
                      for a, b in zip(edges, edges[1:], strict=False)]
    idx = np.where(m <= 0, 0, np.searchsorted(edges, m, side="left"))
    rows = []
    for k, lab in enumerate(labels):
        sel = idx == k
        days, events = int(sel.sum()), float(y[sel].sum())
        lo = stats.chi2.ppf(alpha / 2, 2 * events) / 2 if events > 0 else 0.0
        hi = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
        rows.append({"band": lab, "min_minutes": 0.0 if k == 0 else edges[k - 1],
                     "max_minutes": 0.0 if k == 0 else edges[k], "hotspot_days": days,
                     "events": events, "rate": events / days if days else float("nan"),
                     "conf_low": lo / days if days else float("nan"),
                     "conf_high": hi / days if days else float("nan")})
    table = pd.DataFrame(rows)
    if table.loc[0, "hotspot_days"] == 0:
        raise DataError("no hotspot-day without patrol dosage", where=f"panel, column '{dosage}'",
                        expected="zero minutes on (most) control days", found="none",
                        fix="check the dosage column of the compliance file")
    table["rate_ratio"] = table["rate"] / table.loc[0, "rate"] if table.loc[0, "rate"] > 0 else None
    table = table[table["hotspot_days"] > 0].reset_index(drop=True)
    table.attrs["unknown_hotspot_days"] = int(unknown.sum())
    return table
