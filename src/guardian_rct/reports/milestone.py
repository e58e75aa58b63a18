"""The milestone evaluation report as data: every number the HTML shows, with a schema version.

:func:`build_milestone_report` takes results that are already computed — effect
:class:`~guardian_rct.estimate_types.Estimate` records, randomisation-inference results,
displacement analyses, the balance table and the CONSORT flow — and the panel, and
assembles a :class:`MilestoneReport`: a structured abstract (research question, data,
methods, findings, conclusions, as the *Cambridge Journal of Evidence-Based Policing*
asks), outcome totals by arm, the estimates with Holm-adjusted p-values, the
O'Brien–Fleming boundary of the current look, displacement, balance, flow, a weekly
time series by arm and two figures. :meth:`MilestoneReport.to_dict` is the JSON;
:func:`write_milestone_report` renders ``milestone.html`` from the same object (templates
only format numbers; DESIGN.md rule 7).

Nothing here shows ``NaN``: an outcome without events is reported as
"no events: not estimable", any other non-finite estimate as "not estimable".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct.baseline_balance import BalanceTable
from guardian_rct.config import TrialConfig
from guardian_rct.displacement import DisplacementAnalysis
from guardian_rct.estimate_types import Estimate
from guardian_rct.multiplicity import holm_adjust, information_fractions, obf_boundaries
from guardian_rct.provenance import Provenance
from guardian_rct.trial_flow import TrialFlow

__all__ = ["SCHEMA_VERSION", "MilestoneReport", "build_milestone_report", "write_milestone_report",
           "NO_EVENTS", "NOT_ESTIMABLE"]

SCHEMA_VERSION = "1.0"
NO_EVENTS = "no events: not estimable"
NOT_ESTIMABLE = "not estimable"


@dataclass(frozen=True)
class MilestoneReport:
    """Everything the milestone report shows (see module docstring).

    ``figures`` holds PNG data URIs (``forest``, ``timeseries``); they are left out of
    :meth:`to_dict` unless asked for, so that the JSON stays a table of numbers.
    """

    schema_version: str
    trial: dict[str, Any]
    abstract: dict[str, str]
    outcome_totals: tuple[dict[str, Any], ...]
    estimates: tuple[dict[str, Any], ...]
    multiplicity: dict[str, Any]
    sequential: dict[str, Any]
    randomisation_inference: tuple[dict[str, Any], ...]
    displacement: tuple[dict[str, Any], ...]
    balance: dict[str, Any]
    flow: dict[str, Any]
    timeseries: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    provenance: dict[str, Any]
    figures: Mapping[str, str | None] = field(default_factory=dict)

    def to_dict(self, *, include_figures: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data (no NaN; dates as ISO strings)."""
        out = {
            "schema_version": self.schema_version,
            "trial": dict(self.trial),
            "abstract": dict(self.abstract),
            "outcome_totals": [dict(r) for r in self.outcome_totals],
            "estimates": [dict(r) for r in self.estimates],
            "multiplicity": dict(self.multiplicity),
            "sequential": dict(self.sequential),
            "randomisation_inference": [dict(r) for r in self.randomisation_inference],
            "displacement": [dict(r) for r in self.displacement],
            "balance": dict(self.balance),
            "flow": dict(self.flow),
            "timeseries": [dict(r) for r in self.timeseries],
            "notes": list(self.notes),
            "provenance": dict(self.provenance),
        }
        if include_figures:
            out["figures"] = dict(self.figures)
        return out


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

def _frame_of(panel: Any) -> pd.DataFrame:
    frame = getattr(panel, "frame", panel)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("panel must be a Panel or its frame (a pandas DataFrame)")
    return frame


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _outcome_totals(frame: pd.DataFrame, outcomes: Sequence[str]) -> list[dict[str, Any]]:
    treated = frame["treated"].to_numpy() == 1
    rows = []
    for o in outcomes:
        count = frame[f"count_{o}"].to_numpy(dtype=float)
        harm_col = f"harm_{o}"
        harm = frame[harm_col].to_numpy(dtype=float) if harm_col in frame.columns else None
        for arm, mask in (("treatment", treated), ("control", ~treated)):
            n = int(mask.sum())
            events = float(count[mask].sum())
            harm_total = float(harm[mask].sum()) if harm is not None else None
            rows.append({
                "outcome": o, "arm": arm, "hotspot_days": n, "events": events,
                "count_per_day": events / n if n else None, "harm": harm_total,
                "harm_per_day": harm_total / n if (n and harm_total is not None) else None,
            })
    return rows


def _ri_record(outcome: str, result: Any) -> dict[str, Any]:
    """Read an RITestResult-like object (attribute names tolerated, see evaluation docs)."""
    if hasattr(result, "to_dict"):
        data = result.to_dict()
    elif dataclasses.is_dataclass(result):
        data = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    elif isinstance(result, Mapping):
        data = dict(result)
    else:
        data = dict(vars(result))

    def pick(*names: str) -> Any:
        for n in names:
            if n in data and data[n] is not None:
                return data[n]
        return None

    ci = pick("ci", "conf_int", "p_value_ci")
    low = pick("conf_low", "ci_low", "p_value_ci_low")
    high = pick("conf_high", "ci_high", "p_value_ci_high")
    if ci is not None and low is None and high is None:
        low, high = ci
    draws = pick("draws", "n_draws")
    return {"outcome": outcome, "statistic": pick("statistic_name", "statistic"),
            "observed": _finite(pick("observed", "observed_statistic")),
            "p_value": _finite(pick("p_value", "pvalue")),
            "mc_error": _finite(pick("mc_error", "mc_se", "monte_carlo_error", "mc_std_error")),
            "conf_low": _finite(low), "conf_high": _finite(high),
            "draws": int(draws) if draws is not None else None}


def _label(e: Estimate) -> str:
    return f"{e.outcome.replace('_', ' ')} · {e.estimand} · {e.model}"


def _estimate_rows(estimates: Sequence[Estimate], no_events: set[str],
                   family: dict[int, float | None], p_source: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for i, e in enumerate(estimates):
        row = e.to_dict()
        if e.outcome in no_events:
            status = NO_EVENTS
        elif not e.estimable:
            status = NOT_ESTIMABLE
        else:
            status = "ok"
        if status != "ok":
            for key in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "ri_p_value", "irr"):
                row[key] = None
        row.update({
            "label": _label(e), "status": status,
            "pct_change": e.pct_change if status == "ok" else None,
            "irr_conf_low": e.irr_conf_low if status == "ok" else None,
            "irr_conf_high": e.irr_conf_high if status == "ok" else None,
            "z_value": e.z_value if status == "ok" else None,
            "in_holm_family": i in family,
            "holm_p_value": family.get(i),
            "holm_p_source": p_source.get(i),
        })
        rows.append(row)
    return rows


def _holm_family(estimates: Sequence[Estimate], outcomes: Sequence[str], no_events: set[str],
                 alpha: float) -> tuple[dict[int, float | None], dict[int, str], dict[str, Any]]:
    """Primary ITT estimate of each declared outcome (first listed), Holm-adjusted.

    The design-based p-value is used where it exists, the model p-value otherwise. An
    outcome that could not be tested stays in the family with p = 1 (conservative: the
    family size is the number of declared outcomes, fixed in advance).
    """
    chosen: dict[str, int] = {}
    for i, e in enumerate(estimates):
        if e.estimand.upper().startswith("ITT") and e.outcome in outcomes and e.outcome not in chosen:
            chosen[e.outcome] = i
    members, p_raw, sources = [], [], {}
    for o in outcomes:
        if o not in chosen:
            continue
        i = chosen[o]
        e = estimates[i]
        ri, mp = _finite(e.ri_p_value), _finite(e.p_value)
        testable = e.outcome not in no_events and e.estimable
        p = (ri if ri is not None else mp) if testable else None
        sources[i] = ("ri_p_value" if ri is not None else "p_value") if p is not None else "not tested"
        members.append(i)
        p_raw.append(1.0 if p is None else min(max(p, 0.0), 1.0))
    adjusted = holm_adjust(p_raw) if members else np.array([])
    family = {i: (float(a) if sources[i] != "not tested" else None)
              for i, a in zip(members, adjusted, strict=True)}
    summary = {
        "method": "Holm (1979) step-down, family-wise error rate",
        "alpha": alpha,
        "family": [{"outcome": estimates[i].outcome, "model": estimates[i].model,
                    "p_source": sources[i], "p_raw": (None if sources[i] == "not tested" else p),
                    "p_holm": family[i],
                    "rejected": (family[i] is not None and family[i] <= alpha)}
                   for i, p in zip(members, p_raw, strict=True)],
        "family_size": len(members),
    }
    return family, sources, summary


def _sequential(config: TrialConfig, look: dt.date, primary: dict[str, Any] | None,
                alpha: float) -> dict[str, Any]:
    start, end = config.trial.start_date, config.trial.end_date
    looks = sorted({d for d in config.evaluation.milestones if start <= d < look} | {look})
    fractions = information_fractions(start, end, looks)
    bounds = obf_boundaries(fractions, alpha, sides=2)
    current = bounds.to_dict()["looks"][-1]
    out = {**bounds.to_dict(), "look_dates": [d.isoformat() for d in looks], "current_look": current,
           "primary_outcome": primary["outcome"] if primary else None, "primary_z": None,
           "primary_p": None, "crossed": None}
    if primary and primary["status"] == "ok" and primary["z_value"] is not None:
        p = primary["ri_p_value"] if primary["ri_p_value"] is not None else primary["p_value"]
        out["primary_z"] = primary["z_value"]
        out["primary_p"] = p
        out["crossed"] = bool(p is not None and p <= current["nominal_p"])
        verdict = "crosses" if out["crossed"] else "does not cross"
        if current["z_boundary"] is None:
            out["decision"] = ("This look is so early that the spending function spends no alpha: "
                               "no effect can be declared.")
        else:
            out["decision"] = (f"The primary outcome's p-value ({_fmt_p(p)}) {verdict} the nominal "
                               f"threshold of this look ({_fmt_p(current['nominal_p'])}, |z| ≥ "
                               f"{current['z_boundary']:.3f}).")
    else:
        out["decision"] = "The primary outcome is not estimable at this look; no test is made."
    return out


def _timeseries(frame: pd.DataFrame, outcomes: Sequence[str]) -> list[dict[str, Any]]:
    dates = pd.to_datetime(frame["date"])
    week = (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.date
    treated = frame["treated"].to_numpy() == 1
    rows = []
    for o in outcomes:
        data = pd.DataFrame({"week": week, "arm": np.where(treated, "treatment", "control"),
                             "count": frame[f"count_{o}"].to_numpy(dtype=float)})
        agg = data.groupby(["week", "arm"])["count"].agg(["sum", "size"])
        for wk in sorted(set(week)):
            for arm in ("treatment", "control"):
                if (wk, arm) in agg.index:
                    s, n = agg.loc[(wk, arm)]
                    rows.append({"outcome": o, "week_start": wk.isoformat(), "arm": arm,
                                 "hotspot_days": int(n), "events": float(s), "count_per_day": float(s) / n})
                else:
                    rows.append({"outcome": o, "week_start": wk.isoformat(), "arm": arm,
                                 "hotspot_days": 0, "events": 0.0, "count_per_day": None})
    return rows


def _fmt_p(p: float) -> str:
    """p-values: three decimals, or two significant digits below 0.001."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _fmt_pct_change(x: float) -> str:
    return f"{x:+.1f}%"


def _abstract(config: TrialConfig, trial: dict[str, Any], flow: TrialFlow, totals: list[dict[str, Any]],
              rows: list[dict[str, Any]], primary: dict[str, Any] | None, sequential: dict[str, Any],
              displacement: Sequence[DisplacementAnalysis], ri_draws: int | None, holm: dict[str, Any],
              alpha: float) -> dict[str, str]:
    outcome = trial["primary_outcome"]
    spec = next((o for o in config.outcomes if o.name == outcome), None)
    described = spec.description if spec and spec.description else outcome.replace("_", " ")
    level = round(100 * (1 - alpha))
    design = ("each hotspot was randomly assigned to patrol or no patrol every experimental day "
              "(repeat crossover), so each hotspot is its own control"
              if trial["design"] == "crossover" else "hotspots were randomly assigned to patrol or "
              "control for the whole trial (parallel design)")
    question = (f"Did assigning {config.trial.name} patrols to crime hotspots reduce {described} "
                f"(crime count and Cambridge Crime Harm Index) compared with no patrol?")
    events = sum(r["events"] for r in totals if r["outcome"] == outcome)
    delivery = (f"patrols were recorded as delivered on {flow.delivered:,} of {flow.treatment:,} "
                f"treatment hotspot-days" if flow.delivery_unknown < flow.treatment
                else "patrol delivery was not recorded")
    data = (f"{trial['n_hotspots']} hotspots observed over {trial['n_days']} experimental days "
            f"({trial['first_day']} to {trial['last_day']}): {flow.assigned:,} hotspot-days, "
            f"{flow.treatment:,} assigned to patrol and {flow.control:,} to no patrol; "
            f"{events:,.0f} crimes of the primary outcome ({outcome}) recorded in the hotspots; "
            f"{delivery}.")
    models = sorted({r["model"] for r in rows if r["estimand"].upper().startswith("ITT")})
    ri = (f"randomisation-inference p-values from {ri_draws:,} re-draws of the trial's own design"
          if ri_draws else "model-based p-values (randomisation inference not run)")
    methods = (f"Randomised controlled trial: {design}. Effects of assignment (intention to treat) "
               f"were estimated with {', '.join(models) or 'no model'}; {ri}; Holm adjustment across "
               f"the {holm['family_size']} declared outcomes; O'Brien–Fleming alpha spending "
               f"(Lan–DeMets) for look {len(sequential['looks'])} at information fraction "
               f"{sequential['current_look']['information_fraction']:.2f}; displacement into buffer "
               f"rings by the Weighted Displacement Quotient and Difference.")
    if primary is None:
        findings = f"No intention-to-treat estimate was supplied for {outcome}."
        conclusion = "No conclusion can be drawn about the primary outcome."
    elif primary["status"] != "ok":
        findings = f"{outcome.replace('_', ' ')}: {primary['status']}."
        conclusion = "No conclusion can be drawn about the primary outcome at this look."
    else:
        if primary["irr"] is not None and primary["irr_conf_low"] is not None:
            effect = (f"{_fmt_pct_change(primary['pct_change'])} change in {outcome.replace('_', ' ')} on "
                      f"patrol hotspot-days (rate ratio {primary['irr']:.2f}, {level}% CI "
                      f"{primary['irr_conf_low']:.2f} to {primary['irr_conf_high']:.2f}")
        else:
            effect = (f"difference of {primary['estimate']:.3f} in {outcome.replace('_', ' ')} "
                      f"({level}% CI {primary['conf_low']:.3f} to {primary['conf_high']:.3f}")
        p_parts = [f"p = {_fmt_p(primary['p_value'])}" if primary["p_value"] is not None else None,
                   f"randomisation p = {_fmt_p(primary['ri_p_value'])}" if primary["ri_p_value"] is not None else None,
                   f"Holm-adjusted p = {_fmt_p(primary['holm_p_value'])}" if primary["holm_p_value"] is not None else None]
        findings = f"A {effect}; {'; '.join(p for p in p_parts if p)})."
        wdq = _primary_wdq(displacement, outcome)
        if wdq:
            findings += f" Displacement: {wdq}."
        if sequential["crossed"]:
            direction = "a reduction" if primary["estimate"] < 0 else "an increase"
            conclusion = (f"The evidence at this look shows {direction} in {outcome.replace('_', ' ')} "
                          f"on patrol days that crosses the pre-specified O'Brien–Fleming boundary.")
        else:
            conclusion = (f"At this look the evidence does not establish an effect of patrols on "
                          f"{outcome.replace('_', ' ')}: the result does not cross the pre-specified "
                          f"O'Brien–Fleming boundary, so the trial should continue as planned and "
                          f"the estimate should not be acted on yet.")
    return {"research_question": question, "data": data, "methods": methods, "findings": findings,
            "conclusions": conclusion}


def _primary_wdq(displacement: Sequence[DisplacementAnalysis], outcome: str) -> str | None:
    for analysis in displacement:
        if analysis.outcome != outcome:
            continue
        for e in analysis.estimates:
            if e.ring == "all rings":
                if e.wdq.wdq is None:
                    return f"WDQ not estimable ({e.wdq.note})"
                return f"WDQ {e.wdq.wdq:.2f} for all rings ({e.wdq.interpretation})"
    return None


# ---------------------------------------------------------------------------
# Build and write
# ---------------------------------------------------------------------------

def build_milestone_report(
    config: TrialConfig,
    panel: Any,
    estimates: Sequence[Estimate],
    ri_results: Mapping[str, Any],
    displacement: Sequence[DisplacementAnalysis],
    balance: BalanceTable,
    flow: TrialFlow,
    provenance: Provenance,
    *,
    outcomes: Sequence[str] | None = None,
    look_date: dt.date | None = None,
    ri_draws: int | None = None,
    notes: Sequence[str] = (),
    figures: bool = True,
) -> MilestoneReport:
    """Assemble the milestone report from already-computed results.

    Parameters
    ----------
    config
        The trial config (name, dates, design, outcomes, ``evaluation`` settings).
    panel
        ``Panel`` or its ``frame`` (contract schema: ``treated``, ``date``, ``count_<o>``,
        ``harm_<o>`` …).
    estimates
        :class:`Estimate` records in display order; for each outcome the first ITT
        record is its primary estimate (used for Holm and the sequential boundary).
    ri_results
        Outcome name → randomisation-inference result (an object with ``p_value`` and
        optionally ``mc_error``, ``conf_low``/``conf_high`` or ``ci``, ``draws``). Its
        p-value fills ``ri_p_value`` of the outcome's primary ITT estimate when that is
        empty.
    displacement, balance, flow
        From :mod:`guardian_rct.displacement`, :mod:`guardian_rct.baseline_balance`,
        :mod:`guardian_rct.trial_flow`.
    outcomes
        Declared outcomes (default ``config.evaluation.outcomes``).
    look_date
        Date of this look (default: last day in the panel).
    figures
        Draw the forest plot and time series (PNG data URIs).
    """
    frame = _frame_of(panel)
    outcomes = tuple(outcomes or config.evaluation.outcomes)
    alpha = config.evaluation.alpha
    first = pd.Timestamp(frame["date"].min()).date()
    last = pd.Timestamp(frame["date"].max()).date()
    look = look_date or last
    totals = _outcome_totals(frame, outcomes)
    no_events = {o for o in outcomes if sum(r["events"] for r in totals if r["outcome"] == o) == 0}
    ri_records = [_ri_record(o, ri_results[o]) for o in outcomes if o in ri_results]
    ri_p = {r["outcome"]: r["p_value"] for r in ri_records}
    filled, seen = [], set()
    for e in estimates:
        if e.estimand.upper().startswith("ITT") and e.outcome not in seen:
            seen.add(e.outcome)
            if e.ri_p_value is None and ri_p.get(e.outcome) is not None:
                e = dataclasses.replace(e, ri_p_value=ri_p[e.outcome])
        filled.append(e)
    family, sources, holm = _holm_family(filled, outcomes, no_events, alpha)
    rows = _estimate_rows(filled, no_events, family, sources)
    primary_name = config.evaluation.primary_outcome or outcomes[0]
    primary = next((r for r in rows if r["outcome"] == primary_name and r["in_holm_family"]), None)
    sequential = _sequential(config, look, primary, alpha)
    trial = {
        "name": config.trial.name, "design": config.design.kind, "timezone": config.trial.timezone,
        "start_date": config.trial.start_date.isoformat(), "end_date": config.trial.end_date.isoformat(),
        "first_day": first.isoformat(), "last_day": last.isoformat(), "look_date": look.isoformat(),
        "n_hotspots": int(frame["hotspot_id"].nunique()), "n_days": int(frame["date"].nunique()),
        "outcomes": list(outcomes), "primary_outcome": primary_name, "alpha": alpha, "confidence_level": 1 - alpha,
    }
    all_notes = list(notes)
    for o in sorted(no_events):
        all_notes.append(f"Outcome '{o}' has no events in the evaluated period: its effects are "
                         f"not estimable and it enters the Holm family with p = 1.")
    abstract = _abstract(config, trial, flow, totals, rows, primary, sequential, displacement,
                         ri_draws, holm, alpha)
    series = _timeseries(frame, outcomes)
    figs: dict[str, str | None] = {"forest": None, "timeseries": None}
    if figures:
        from guardian_rct.reports.maps import png_data_uri
        from guardian_rct.reports.milestone_figures import forest_plot_png, timeseries_png

        forest = forest_plot_png(rows)
        ts = timeseries_png(series, outcomes)
        figs = {"forest": png_data_uri(forest) if forest else None,
                "timeseries": png_data_uri(ts) if ts else None}
    return MilestoneReport(
        schema_version=SCHEMA_VERSION, trial=trial, abstract=abstract, outcome_totals=tuple(totals),
        estimates=tuple(rows), multiplicity=holm, sequential=sequential,
        randomisation_inference=tuple(ri_records),
        displacement=tuple(d.to_dict() for d in displacement), balance=balance.to_dict(),
        flow=flow.to_dict(), timeseries=tuple(series), notes=tuple(all_notes),
        provenance=provenance.to_dict(), figures=figs,
    )


def write_milestone_report(report: MilestoneReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``milestone_report.html`` and ``milestone_report.json`` into ``out_dir``."""
    from guardian_rct.reports.render import write_html, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    html = write_html(out / "milestone_report.html", "milestone.html", report=data,
                      figures=dict(report.figures), provenance=data["provenance"])
    js = write_json(out / "milestone_report.json", data)
    return {"html": html, "json": js}
