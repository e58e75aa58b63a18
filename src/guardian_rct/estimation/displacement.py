"""Spatial displacement and diffusion of benefits around patrolled hotspots.

Two measures are computed for every buffer ring (``Panel.rings``, e.g. ``"0-100"`` and
``"100-200"`` metres) and for all rings together:

* the **Weighted Displacement Quotient** (Bowers & Johnson 2003, "Measuring the
  geographical displacement and diffusion of benefit effects of crime prevention
  activity", *J. Quantitative Criminology* 19(3):275–301)::

      success measure  SM  = A_after / C_after - A_before / C_before
      buffer measure   BDM = B_after / C_after - B_before / C_before
      WDQ = BDM / SM          (only read when SM < 0, i.e. the target area improved)
      total net effect TNE = [A_before * C_after / C_before - A_after]
                           + [B_before * C_after / C_before - B_after]

  with ``A`` the target area, ``B`` its buffer and ``C`` the control area;
* the **Weighted Displacement Difference** (Wheeler & Ratcliffe 2018, "A simple weighted
  displacement difference test to evaluate place based crime interventions", *Crime
  Science* 7:11)::

      WDD = dT - dCT + dD - dCD,   Var(WDD) = sum of every count (Poisson)

  with ``T`` the treated area, ``CT`` the control area, ``D`` the treated area's buffer
  and ``CD`` the control area's buffer; ``d`` is after minus before. Negative values are
  crimes prevented.

**How the A/B/C/D quantities are mapped.**

*Crossover designs* (every hotspot is treated on some days and is its own control) have
no before/after and no separate control area. "Before" becomes the *control days* and
"after" the *treatment days* of the same hotspots: ``A_before``/``A_after`` are crimes in
the hotspots on control/treatment hotspot-days, ``B_before``/``B_after`` the crimes in
their ring on the same hotspot-days. Daily randomisation makes the two sets of days
exchangeable, so the only difference expected without an effect is the number of
hotspot-days in each arm: the control area ``C`` is replaced by that *exposure*
(``C_before`` = control hotspot-days, ``C_after`` = treatment hotspot-days). The WDQ's
``SM`` and ``BDM`` are then differences in crimes per hotspot-day. For the WDD the
control terms become the expected after-count ``k * before`` with ``k = C_after / C_before``:
``WDD = (A_after - k A_before) + (B_after - k B_before)``, ``Var = A_after + B_after +
k^2 (A_before + B_before)``; with equal exposures this is Wheeler & Ratcliffe's statistic
without the control-area terms, which randomisation makes unnecessary.

*Before/after with a baseline period* (parallel designs): ``A`` = treatment hotspots,
``B`` = their rings, ``C`` = control hotspots, ``D`` = the control hotspots' rings;
"before" is the baseline period (the panel's ``baseline_count_*`` columns) and "after"
the trial period. When the periods differ in length, before-counts are scaled by
``k = trial days / baseline days`` in the WDD (and their variance by ``k^2``); the WDQ is
a ratio of ratios and needs no scaling.

**Zero counts** are handled explicitly: a quotient whose denominator is zero is not
computed and the result says why (``note``), instead of carrying ``inf`` or ``NaN``.
Ring areas that overlap a neighbouring hotspot's ring are counted once per hotspot, as
the panel provides them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from guardian_rct._core.errors import DataError

__all__ = [
    "WDQResult",
    "WDDResult",
    "DisplacementEstimate",
    "DisplacementAnalysis",
    "weighted_displacement_quotient",
    "weighted_displacement_difference",
    "ring_outcomes_by_arm",
    "crossover_displacement",
    "before_after_displacement",
]

ALL_RINGS = "all rings"


@dataclass(frozen=True)
class WDQResult:
    """Weighted Displacement Quotient (Bowers & Johnson 2003) and its parts.

    ``wdq`` is ``None`` when it cannot be read, and ``note`` says why.
    """

    success_measure: float | None
    buffer_measure: float | None
    wdq: float | None
    total_net_effect: float | None
    interpretation: str
    note: str = ""
    conf_low: float | None = None
    conf_high: float | None = None
    interval: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"success_measure": self.success_measure, "buffer_measure": self.buffer_measure,
                "wdq": self.wdq, "total_net_effect": self.total_net_effect,
                "interpretation": self.interpretation, "note": self.note,
                "conf_low": self.conf_low, "conf_high": self.conf_high, "interval": self.interval}


@dataclass(frozen=True)
class WDDResult:
    """Weighted Displacement Difference (Wheeler & Ratcliffe 2018) with its Poisson test."""

    wdd: float
    std_error: float
    z: float | None
    p_value: float | None
    conf_low: float | None
    conf_high: float | None
    note: str = ""
    se_type: str = "Poisson (sum of counts)"
    poisson_std_error: float | None = None
    df: int | None = None

    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes zero (only then may a change be named)."""
        return (self.conf_low is not None and self.conf_high is not None
                and (self.conf_low > 0 or self.conf_high < 0))

    def to_dict(self) -> dict[str, Any]:
        return {"wdd": self.wdd, "std_error": self.std_error, "z": self.z, "p_value": self.p_value,
                "conf_low": self.conf_low, "conf_high": self.conf_high, "note": self.note,
                "se_type": self.se_type, "poisson_std_error": self.poisson_std_error, "df": self.df,
                "distinguishable_from_zero": self.distinguishable}


def _check_counts(**counts: float | None) -> None:
    for name, value in counts.items():
        if value is None:
            continue
        if not math.isfinite(float(value)) or float(value) < 0:
            raise DataError(f"displacement count {name} must be a non-negative number",
                            found=repr(value), where=name, fix="pass crime counts (0 or more)")


def _interpret_interval(lo: float, hi: float) -> str:
    """Words the WDQ's interval supports: a change is named only when the interval excludes
    0, and "greater/smaller than the direct effect" only when it also lies wholly beyond or
    within -1 or 1 (Bowers & Johnson 2003 read the WDQ against 0 and ±1)."""
    if lo > 1:
        return "diffusion of benefits greater than the direct effect"
    if lo > 0:
        return "diffusion of benefits"
    if hi < -1:
        return "displacement greater than the direct effect (net harm)"
    if hi < 0:
        return "displacement" + (" smaller than the direct effect (net benefit)" if lo >= -1 else "")
    return "not distinguishable from no displacement or diffusion"


def _interpret(wdq: float) -> str:
    if wdq > 1:
        return "diffusion of benefits greater than the direct effect"
    if wdq > 0:
        return "diffusion of benefits"
    if wdq == 0:
        return "no displacement or diffusion"
    if wdq >= -1:
        return "displacement smaller than the direct effect (net benefit)"
    return "displacement greater than the direct effect (net harm)"


def weighted_displacement_quotient(a_before: float, a_after: float, b_before: float, b_after: float,
                                   c_before: float, c_after: float) -> WDQResult:
    """Weighted Displacement Quotient (Bowers & Johnson 2003).

    Parameters
    ----------
    a_before, a_after
        Crimes in the target area before and after (or on control and treatment days).
    b_before, b_after
        Crimes in the buffer area in the same periods.
    c_before, c_after
        Crimes in the control area (or, in a crossover, hotspot-days of exposure).

    Returns
    -------
    WDQResult
        ``wdq`` is ``None`` (with a ``note``) when a control quantity is zero, when the
        success measure is zero, or when it is positive (the target area did not improve,
        so there is no effect whose displacement could be weighed).
    """
    _check_counts(a_before=a_before, a_after=a_after, b_before=b_before, b_after=b_after,
                  c_before=c_before, c_after=c_after)
    if c_before == 0 or c_after == 0:
        which = "before" if c_before == 0 else "after"
        return WDQResult(None, None, None, None, "not estimable",
                         f"the control quantity C is zero in the {which} period, so the ratios "
                         "A/C and B/C are undefined")
    sm = a_after / c_after - a_before / c_before
    bdm = b_after / c_after - b_before / c_before
    ratio = c_after / c_before
    tne = (a_before * ratio - a_after) + (b_before * ratio - b_after)
    if sm == 0:
        return WDQResult(sm, bdm, None, tne, "not estimable",
                         "the success measure is zero (no change in the target area relative to "
                         "control), so the quotient is undefined")
    if sm > 0:
        return WDQResult(sm, bdm, None, tne, "not interpretable",
                         "the target area did worse than expected (success measure > 0); the WDQ "
                         "is only read when the intervention succeeded (Bowers & Johnson 2003)")
    wdq = bdm / sm
    return WDQResult(sm, bdm, wdq, tne, _interpret(wdq))


def _wdd_from_terms(terms: list[tuple[float, float]], alpha: float) -> WDDResult:
    """WDD = sum(coef * count); Var = sum(coef^2 * count) under independent Poisson counts."""
    wdd = float(sum(coef * count for count, coef in terms))
    var = float(sum(coef * coef * count for count, coef in terms))
    se = math.sqrt(var)
    if se == 0:
        return WDDResult(wdd, 0.0, None, None, None, None,
                         "no crimes in any area: the test is not estimable")
    z = wdd / se
    p = float(2 * stats.norm.sf(abs(z)))
    half = float(stats.norm.isf(alpha / 2)) * se
    return WDDResult(wdd, se, z, p, wdd - half, wdd + half)


def weighted_displacement_difference(t_before: float, t_after: float, ct_before: float, ct_after: float,
                                     d_before: float | None = None, d_after: float | None = None,
                                     cd_before: float | None = None, cd_after: float | None = None, *,
                                     before_scale: float = 1.0, alpha: float = 0.05) -> WDDResult:
    """Weighted Displacement Difference test (Wheeler & Ratcliffe 2018).

    ``WDD = dT - dCT + dD - dCD`` with ``d = after - before_scale * before``; its variance
    under independent Poisson counts is ``sum(after) + before_scale^2 * sum(before)``
    (with ``before_scale = 1`` the sum of all counts, as in the paper). The buffer terms
    are optional (leave ``d_*``/``cd_*`` as ``None`` for the target-only test). The
    confidence interval is the Wald interval ``WDD ± z_{alpha/2} SE``.
    """
    _check_counts(t_before=t_before, t_after=t_after, ct_before=ct_before, ct_after=ct_after,
                  d_before=d_before, d_after=d_after, cd_before=cd_before, cd_after=cd_after)
    buffers = (d_before, d_after, cd_before, cd_after)
    if any(v is None for v in buffers) and not all(v is None for v in buffers):
        raise DataError("the WDD buffer terms must be given together",
                        expected="all of d_before, d_after, cd_before, cd_after, or none",
                        found=", ".join(n for n, v in zip(("d_before", "d_after", "cd_before", "cd_after"),
                                                           buffers, strict=True) if v is not None),
                        where="weighted_displacement_difference",
                        fix="give both buffers in both periods, or leave them all out")
    k = float(before_scale)
    terms = [(t_after, 1.0), (t_before, -k), (ct_after, -1.0), (ct_before, k)]
    if d_before is not None:
        terms += [(d_after, 1.0), (d_before, -k), (cd_after, -1.0), (cd_before, k)]
    return _wdd_from_terms(terms, alpha)


@dataclass(frozen=True)
class DisplacementEstimate:
    """WDQ and WDD for one outcome and one ring (or all rings together)."""

    outcome: str
    ring: str
    form: Literal["crossover", "before_after"]
    quantities: dict[str, float | None]
    wdq: WDQResult
    wdd: WDDResult

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "ring": self.ring, "form": self.form,
                "quantities": dict(self.quantities), "wdq": self.wdq.to_dict(),
                "wdd": self.wdd.to_dict()}


@dataclass(frozen=True)
class DisplacementAnalysis:
    """Displacement and diffusion for one outcome: ring outcomes by arm, WDQ and WDD."""

    outcome: str
    form: Literal["crossover", "before_after"]
    mapping: str
    by_arm: tuple[dict[str, Any], ...]
    estimates: tuple[DisplacementEstimate, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "form": self.form, "mapping": self.mapping,
                "by_arm": [dict(r) for r in self.by_arm],
                "estimates": [e.to_dict() for e in self.estimates], "notes": list(self.notes)}

    def to_frame(self) -> pd.DataFrame:
        """One row per ring: quantities, WDQ and WDD."""
        rows = []
        for e in self.estimates:
            rows.append({"outcome": e.outcome, "ring": e.ring, **e.quantities,
                         **{f"wdq_{k}": v for k, v in e.wdq.to_dict().items()},
                         **{f"wdd_{k}": v for k, v in e.wdd.to_dict().items()}})
        return pd.DataFrame(rows)


CROSSOVER_MAPPING = (
    "Crossover: 'before' = control hotspot-days, 'after' = treatment hotspot-days of the same "
    "hotspots. A = crimes in the hotspots, B = crimes in their ring; the control area C is "
    "replaced by the exposure (number of control and treatment hotspot-days), which daily "
    "randomisation makes the only expected difference. WDD = (A_after - k A_before) + "
    "(B_after - k B_before) with k = treatment / control hotspot-days."
)
BEFORE_AFTER_MAPPING = (
    "Before/after: A = treatment hotspots, B = their rings, C = control hotspots, D = the "
    "control hotspots' rings; 'before' = the baseline period, 'after' = the trial period. "
    "WDD before-counts are scaled by k = trial days / baseline days."
)


def _require(frame: pd.DataFrame, columns: list[str], label: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{label} lacks column(s) {', '.join(missing)}",
                        expected=", ".join(columns), found=", ".join(map(str, frame.columns)),
                        where=label, fix="build the panel with buffer rings for this outcome")


def _rings_with_arm(panel_frame: pd.DataFrame, rings_frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    count = f"count_{outcome}"
    _require(panel_frame, ["hotspot_id", "date", "treated", count], "panel")
    _require(rings_frame, ["hotspot_id", "date", "ring", count], "panel rings")
    rings = rings_frame.drop(columns=[c for c in ("treated", "arm") if c in rings_frame.columns])
    merged = rings.merge(panel_frame[["hotspot_id", "date", "treated"]], on=["hotspot_id", "date"],
                         how="left", validate="many_to_one")
    if merged["treated"].isna().any():
        row = merged[merged["treated"].isna()].iloc[0]
        raise DataError("a ring row has no matching hotspot-day in the panel",
                        found=f"hotspot {row['hotspot_id']} on {row['date']}", where="panel rings",
                        fix="build rings and panel from the same allocation")
    return merged


def ring_outcomes_by_arm(panel_frame: pd.DataFrame, rings_frame: pd.DataFrame,
                         outcome: str) -> list[dict[str, Any]]:
    """Crimes and harm in the hotspots and in each buffer ring, by arm.

    Returns one record per area (``"hotspot"``, each ring, ``"all rings"``) and arm with
    ``hotspot_days``, ``count``, ``harm`` and the means per hotspot-day (``None`` when an
    arm has no hotspot-days).
    """
    count, harm = f"count_{outcome}", f"harm_{outcome}"
    rings = _rings_with_arm(panel_frame, rings_frame, outcome)
    records: list[dict[str, Any]] = []

    def add(area: str, frame: pd.DataFrame, days_by_arm: dict[int, int]) -> None:
        for treated, arm in ((1, "treatment"), (0, "control")):
            part = frame[frame["treated"] == treated]
            n = days_by_arm.get(treated, 0)
            total = float(part[count].sum())
            harm_total = float(part[harm].sum()) if harm in part.columns else None
            records.append({
                "area": area, "arm": arm, "hotspot_days": int(n), "count": total,
                "harm": harm_total,
                "count_per_day": total / n if n else None,
                "harm_per_day": (harm_total / n) if (n and harm_total is not None) else None,
            })

    days = panel_frame.groupby("treated").size().to_dict()
    days = {int(k): int(v) for k, v in days.items()}
    add("hotspot", panel_frame, days)
    for ring in sorted(rings["ring"].unique(), key=_ring_order):
        add(f"ring {ring} m", rings[rings["ring"] == ring], days)
    add(ALL_RINGS, rings, days)
    return records


def _ring_order(label: str) -> tuple[float, str]:
    try:
        return float(str(label).split("-")[0]), str(label)
    except ValueError:
        return math.inf, str(label)


def crossover_displacement(panel_frame: pd.DataFrame, rings_frame: pd.DataFrame, outcome: str, *,
                           alpha: float = 0.05, rng: np.random.Generator | None = None,
                           bootstrap: int = 999) -> DisplacementAnalysis:
    """WDQ and WDD for a crossover trial (control days vs treatment days; see module notes).

    Uncertainty respects the clustering of hotspot-days in hotspots: the WDD is
    ``n_treatment`` times the difference in mean (hotspot + ring) crimes per hotspot-day
    between arms, so its standard error is ``n_treatment`` times the CR1 cluster-robust
    standard error of that difference (Liang & Zeger 1986; t with G−1 df), not the Poisson
    sum of counts (kept as ``poisson_std_error``). The WDQ gets a percentile interval from a
    cluster bootstrap over hotspots (Cameron, Gelbach & Miller 2008; Field & Welsh 2007)
    with ``bootstrap`` re-samples drawn from ``rng`` (no interval without an ``rng``).
    Interpretation never names displacement or diffusion when the interval covers zero.

    Raises
    ------
    DataError
        If the panel has no treatment or no control hotspot-days (nothing to compare).
    """
    rings = _rings_with_arm(panel_frame, rings_frame, outcome)
    count = f"count_{outcome}"
    n_after = int((panel_frame["treated"] == 1).sum())
    n_before = int((panel_frame["treated"] == 0).sum())
    if n_after == 0 or n_before == 0:
        which = "treatment" if n_after == 0 else "control"
        raise DataError(f"the panel has no {which} hotspot-days, so displacement cannot be measured",
                        where="panel", fix="evaluate a period that includes both arms")
    a_after = float(panel_frame.loc[panel_frame["treated"] == 1, count].sum())
    a_before = float(panel_frame.loc[panel_frame["treated"] == 0, count].sum())
    k = n_after / n_before
    estimates = []
    labels = sorted(rings["ring"].unique(), key=_ring_order)
    for ring in [*labels, ALL_RINGS]:
        part = rings if ring == ALL_RINGS else rings[rings["ring"] == ring]
        b_after = float(part.loc[part["treated"] == 1, count].sum())
        b_before = float(part.loc[part["treated"] == 0, count].sum())
        wdq = weighted_displacement_quotient(a_before, a_after, b_before, b_after, n_before, n_after)
        terms = [(a_after, 1.0), (a_before, -k), (b_after, 1.0), (b_before, -k)]
        wdd = _wdd_from_terms(terms, alpha)
        per = _per_hotspot(panel_frame, part, count)
        wdd = _cluster_wdd(wdd, per, n_after, n_before, alpha)
        wdq = _bootstrap_wdq(wdq, per, alpha, rng, bootstrap)
        quantities = {"A_before": a_before, "A_after": a_after, "B_before": b_before, "B_after": b_after,
                      "C_before": float(n_before), "C_after": float(n_after), "D_before": None,
                      "D_after": None, "k": k}
        estimates.append(DisplacementEstimate(outcome, str(ring), "crossover", quantities, wdq, wdd))
    notes = []
    if a_before + a_after == 0:
        notes.append("no events in the hotspots: the WDQ is not estimable")
    return DisplacementAnalysis(outcome, "crossover", CROSSOVER_MAPPING,
                                tuple(ring_outcomes_by_arm(panel_frame, rings_frame, outcome)),
                                tuple(estimates), tuple(notes))


def _per_hotspot(panel_frame: pd.DataFrame, ring_part: pd.DataFrame, count: str) -> pd.DataFrame:
    """Per hotspot: A1, A0 (hotspot crimes on treatment/control days), B1, B0 (ring), n1, n0."""
    hot = panel_frame.groupby(["hotspot_id", "treated"])[count].agg(["sum", "size"]).unstack(fill_value=0)
    ring = ring_part.groupby(["hotspot_id", "treated"])[count].sum().unstack(fill_value=0)
    out = pd.DataFrame(index=hot.index)
    for t in (0, 1):
        out[f"A{t}"] = hot[("sum", t)] if ("sum", t) in hot.columns else 0.0
        out[f"n{t}"] = hot[("size", t)] if ("size", t) in hot.columns else 0
        out[f"B{t}"] = ring[t].reindex(out.index).fillna(0.0) if t in ring.columns else 0.0
    return out.astype(float)


def _cluster_wdd(wdd: WDDResult, per: pd.DataFrame, n1: int, n0: int, alpha: float) -> WDDResult:
    """CR1 standard error of WDD = n1 * (mean s | treated - mean s | control), s = A + B."""
    G = len(per)
    if G < 2:
        return wdd
    s1, s0 = (per["A1"] + per["B1"]).to_numpy(), (per["A0"] + per["B0"]).to_numpy()
    m1, m0 = s1.sum() / n1, s0.sum() / n0
    # score of the difference in means per cluster: sum over its days of (s - mean of its arm) / n_arm
    u = (s1 - per["n1"].to_numpy() * m1) / n1 - (s0 - per["n0"].to_numpy() * m0) / n0
    se = n1 * math.sqrt(G / (G - 1) * float(np.sum(u * u)))
    if se == 0:
        return dataclasses.replace(wdd, poisson_std_error=wdd.std_error)
    q = float(stats.t.ppf(1 - alpha / 2, G - 1))
    p = float(2 * stats.t.sf(abs(wdd.wdd / se), G - 1))
    return WDDResult(wdd.wdd, se, wdd.wdd / se, p, wdd.wdd - q * se, wdd.wdd + q * se, wdd.note,
                     se_type="CR1 clustered by hotspot, t(G-1)", poisson_std_error=wdd.std_error, df=G - 1)


def _bootstrap_wdq(wdq: WDQResult, per: pd.DataFrame, alpha: float, rng: np.random.Generator | None,
                   draws: int) -> WDQResult:
    """Percentile interval of the WDQ by re-sampling hotspots with replacement."""
    if wdq.wdq is None or rng is None or draws < 1 or len(per) < 2:
        return wdq
    G = len(per)
    counts = rng.multinomial(G, np.full(G, 1.0 / G), size=draws).astype(float)  # (draws, G)
    tot = counts @ per[["A1", "A0", "B1", "B0", "n1", "n0"]].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        sm = tot[:, 0] / tot[:, 4] - tot[:, 1] / tot[:, 5]
        bdm = tot[:, 2] / tot[:, 4] - tot[:, 3] / tot[:, 5]
        q = bdm / sm
    ok = np.isfinite(q) & (sm < 0)
    undefined = 1.0 - ok.mean()
    if undefined > alpha / 2:
        return dataclasses.replace(
            wdq, interpretation="not distinguishable from no change",
            interval=f"cluster bootstrap over hotspots ({draws} re-samples)",
            note=(wdq.note + " " if wdq.note else "") + f"in {undefined:.0%} of hotspot re-samples the hotspots "
            "did not improve, so the WDQ has no interval and no displacement or diffusion is claimed")
    lo, hi = (float(v) for v in np.quantile(q[ok], [alpha / 2, 1 - alpha / 2]))
    interpretation = _interpret_interval(lo, hi)
    return dataclasses.replace(wdq, conf_low=lo, conf_high=hi, interpretation=interpretation,
                               interval=f"cluster bootstrap over hotspots, percentile ({draws} re-samples)")


def before_after_displacement(panel_frame: pd.DataFrame, rings_frame: pd.DataFrame, outcome: str, *,
                              baseline_days: int, alpha: float = 0.05) -> DisplacementAnalysis:
    """Classic before/after WDQ and WDD with a baseline period (parallel designs).

    Before-counts come from the per-hotspot ``baseline_count_<outcome>`` columns of the
    panel and of its rings (constant over days); after-counts are the trial-period sums.

    Raises
    ------
    DataError
        If a column is missing, a hotspot changes arm during the trial (use the crossover
        form), or one arm is empty.
    """
    count, base = f"count_{outcome}", f"baseline_count_{outcome}"
    _require(panel_frame, ["hotspot_id", "date", "treated", count, base], "panel")
    _require(rings_frame, ["hotspot_id", "date", "ring", count, base], "panel rings")
    if baseline_days <= 0:
        raise DataError("the baseline period must be at least one day", found=str(baseline_days),
                        where="evaluation.baseline_days", fix="set baseline_days to e.g. 365")
    arms = panel_frame.groupby("hotspot_id")["treated"].nunique()
    if (arms > 1).any():
        raise DataError("a hotspot changes arm during the trial, so the before/after form does not apply",
                        found=f"hotspot {arms[arms > 1].index[0]}", where="panel",
                        fix="use the crossover form for hotspot-day designs")
    rings = _rings_with_arm(panel_frame, rings_frame, outcome)
    trial_days = int(panel_frame["date"].nunique())
    k = trial_days / baseline_days
    hot = panel_frame.groupby("hotspot_id").agg(treated=("treated", "first"), after=(count, "sum"),
                                                 before=(base, "first"))
    if hot["treated"].nunique() < 2:
        raise DataError("the panel has hotspots in only one arm", where="panel",
                        fix="a before/after comparison needs treatment and control hotspots")
    t_, c_ = hot[hot["treated"] == 1], hot[hot["treated"] == 0]
    a_before, a_after = float(t_["before"].sum()), float(t_["after"].sum())
    c_before, c_after = float(c_["before"].sum()), float(c_["after"].sum())
    estimates = []
    labels = sorted(rings["ring"].unique(), key=_ring_order)
    for ring in [*labels, ALL_RINGS]:
        part = rings if ring == ALL_RINGS else rings[rings["ring"] == ring]
        per = part.groupby(["hotspot_id", "ring"]).agg(treated=("treated", "first"), after=(count, "sum"),
                                                       before=(base, "first"))
        b = per[per["treated"] == 1]
        d = per[per["treated"] == 0]
        b_before, b_after = float(b["before"].sum()), float(b["after"].sum())
        d_before, d_after = float(d["before"].sum()), float(d["after"].sum())
        wdq = weighted_displacement_quotient(a_before, a_after, b_before, b_after, c_before, c_after)
        wdd = weighted_displacement_difference(a_before, a_after, c_before, c_after, b_before, b_after,
                                               d_before, d_after, before_scale=k, alpha=alpha)
        quantities = {"A_before": a_before, "A_after": a_after, "B_before": b_before, "B_after": b_after,
                      "C_before": c_before, "C_after": c_after, "D_before": d_before, "D_after": d_after,
                      "k": k}
        estimates.append(DisplacementEstimate(outcome, str(ring), "before_after", quantities, wdq, wdd))
    return DisplacementAnalysis(outcome, "before_after", BEFORE_AFTER_MAPPING,
                                tuple(ring_outcomes_by_arm(panel_frame, rings_frame, outcome)),
                                tuple(estimates))
