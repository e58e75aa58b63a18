"""The milestone evaluation report as data: every number the HTML shows, with a schema version.

:func:`build_milestone_report` takes results that are already computed — effect
:class:`~guardian_rct.estimation.results.Estimate` records, randomisation-inference results,
displacement analyses, the balance table and the CONSORT flow — and the panel, and
assembles a :class:`MilestoneReport`: a structured abstract (research question, data,
methods, findings, conclusions, as the *Cambridge Journal of Evidence-Based Policing*
asks), outcome totals by arm, the estimates with Holm-adjusted p-values (shown in three
tables: effects of assignment, effects of patrols delivered, carry-over beside the main
estimate; :mod:`guardian_rct.reports.milestone_tables`), the descriptive dose–response
table, the O'Brien–Fleming boundary of the current look, displacement, balance, flow, a
weekly time series by arm and two figures. :meth:`MilestoneReport.to_dict` is the JSON;
:func:`write_milestone_report` renders ``milestone.html`` from the same object (templates
only format numbers; DESIGN.md rule 7).

Nothing here shows ``NaN``: an outcome without events is reported as
"no events: not estimable", any other non-finite estimate as "not estimable".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from guardian_rct._core.provenance import Provenance
from guardian_rct._core.wording import crime_count
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.crimes.panel import Panel
from guardian_rct.design.diagnosis import DesignDiagnosis
from guardian_rct.estimation.baseline_balance import BalanceTable
from guardian_rct.estimation.diagnosis import InferenceDiagnosis
from guardian_rct.estimation.displacement import DisplacementAnalysis
from guardian_rct.estimation.flow import TrialFlow
from guardian_rct.estimation.multiplicity import (
    event_information_fractions,
    expected_remaining_events,
    information_fractions,
    obf_boundaries,
)
from guardian_rct.estimation.randomisation import RITestResult
from guardian_rct.estimation.results import Estimate
from guardian_rct.reports.banner import simulated_notice
from guardian_rct.reports.deviations import PlanContext, audit_against_plan, unaudited
from guardian_rct.reports.milestone_diagnosis import diagnosis_section, lead_sentence
from guardian_rct.reports.milestone_reviewer import (
    absolute_effects_section,
    absolute_sentence,
    cace_assumptions_section,
    harm_coverage_section,
)
from guardian_rct.reports.milestone_tables import (
    NO_EVENTS,
    NOT_ESTIMABLE,
    dose_response_tables,
    estimate_rows,
    estimate_section,
    holm_family,
    outcome_totals,
    ri_record,
    section_index,
    timeseries,
)

__all__ = ["SCHEMA_VERSION", "MilestoneReport", "build_milestone_report", "write_milestone_report",
           "NO_EVENTS", "NOT_ESTIMABLE"]

SCHEMA_VERSION = "1.7"  # 1.1: estimate sections, first stage, dose_response; 1.2: first_stage_se/_n, nb_theta
# 1.3: analysis_plan + deviations (the registered plan and the departures from it)
# 1.4: provenance seed_fingerprint replaces seed
# 1.5: estimates carry se_type/df/wild_p_value; harm randomisation inference; diagnosis block
# 1.6: harm_coverage, cace_assumptions, WDD se_type/df, WDQ interval, crimes_/harm_prevented,
#      sequential.information_scale, multiplicity.family_definition
# 1.7: estimates carry ri_conf_low/ri_conf_high (rate ratio) and inference (se type, df, clusters in
#      words); the rate-ratio CACE for harm and its randomisation interval; sequential.primary_p_source
#      and p_value_basis (the monitoring decision uses the p-value the report leads with)


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
    estimate_sections: dict[str, Any]
    dose_response: tuple[dict[str, Any], ...]
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
    analysis_plan: Mapping[str, Any] = field(default_factory=dict)
    deviations: tuple[dict[str, Any], ...] = ()
    diagnosis: dict[str, Any] = field(default_factory=dict)
    harm_coverage: dict[str, Any] = field(default_factory=dict)
    cace_assumptions: dict[str, Any] = field(default_factory=dict)
    absolute_effects: dict[str, Any] = field(default_factory=dict)
    simulated: dict[str, Any] | None = None  # the SIMULATED DATA banner (reports.banner)

    def to_dict(self, *, include_figures: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data (no NaN; dates as ISO strings)."""
        out = {
            "schema_version": self.schema_version,
            "trial": dict(self.trial),
            "abstract": dict(self.abstract),
            "outcome_totals": [dict(r) for r in self.outcome_totals],
            "estimates": [dict(r) for r in self.estimates],
            "estimate_sections": dict(self.estimate_sections),
            "dose_response": [dict(r) for r in self.dose_response],
            "multiplicity": dict(self.multiplicity),
            "sequential": dict(self.sequential),
            "randomisation_inference": [dict(r) for r in self.randomisation_inference],
            "displacement": [dict(r) for r in self.displacement],
            "balance": dict(self.balance),
            "flow": dict(self.flow),
            "timeseries": [dict(r) for r in self.timeseries],
            "notes": list(self.notes),
            "provenance": dict(self.provenance),
            "analysis_plan": dict(self.analysis_plan),
            "deviations": [dict(d) for d in self.deviations],
            "diagnosis": dict(self.diagnosis),
            "harm_coverage": dict(self.harm_coverage),
            "cace_assumptions": dict(self.cace_assumptions),
            "absolute_effects": dict(self.absolute_effects),
            "crimes_prevented": self.absolute_effects.get("crimes_prevented"),
            "harm_prevented": self.absolute_effects.get("harm_prevented"),
            "simulated": None if self.simulated is None else dict(self.simulated),
        }
        if include_figures:
            out["figures"] = dict(self.figures)
        return out


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

def _frame_of(panel: Panel | pd.DataFrame) -> pd.DataFrame:
    frame = panel.frame if isinstance(panel, Panel) else panel
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("panel must be a Panel or its frame (a pandas DataFrame)")
    return frame


def _information(config: TrialConfig, frame: pd.DataFrame | None, outcome: str,
                 looks: list[dt.date]) -> tuple[list[float], str]:
    """Information fractions of the looks and how they were measured (issue 12, item 9)."""
    start, end = config.trial.start_date, config.trial.end_date
    calendar = information_fractions(start, end, looks)
    col, base = f"count_{outcome}", f"baseline_count_{outcome}"
    if config.evaluation.information == "calendar":
        return calendar, "calendar: share of the trial's days elapsed"
    if frame is None or col not in frame.columns or base not in frame.columns:
        return calendar, "calendar (the panel has no baseline counts for the expected-events scale)"
    baseline = float(frame.groupby("hotspot_id")[base].first().sum())
    days = config.evaluation.baseline_days
    if not (baseline > 0 and days > 0):
        return calendar, "calendar (no baseline events to plan the expected-events scale)"
    dates = pd.to_datetime(frame["date"]).dt.date
    observed = [float(frame.loc[dates <= d, col].sum()) for d in looks]
    remaining = [expected_remaining_events(baseline, days, (end - d).days) for d in looks]
    fractions = event_information_fractions(observed, remaining)
    return fractions, (f"expected events: {crime_count(observed[-1], outcome)} observed, "
                       f"{remaining[-1]:,.0f} more expected at the baseline rate")


def _monitoring_p(primary: dict[str, Any], wald_trusted: bool | None) -> tuple[float | None, str, str]:
    """The p-value the O'Brien–Fleming decision uses: the one the report leads with (issue 12).

    When the diagnosis distrusts the model-based (Wald) test the report leads with
    randomisation inference, and so does the monitoring decision; otherwise (trusted, or no
    diagnosis made) the model-based p-value leads. Returns (p, source, sentence for the report).
    """
    ri, model = primary["ri_p_value"], primary["p_value"]
    if wald_trusted is False and ri is not None:
        return ri, "randomisation", ("The diagnosis does not trust the model-based test, so the monitoring "
                                     "decision uses the randomisation p-value, as the findings do.")
    if wald_trusted is False:
        return model, "model", ("The diagnosis does not trust the model-based test, but randomisation inference "
                                "was not run: the monitoring decision rests on the model-based p-value and "
                                "should be treated with caution.")
    why = "The diagnosis found no reason to distrust" if wald_trusted else "No diagnosis was made of"
    text = f"{why} the model-based test, so the monitoring decision uses the model-based p-value"
    if ri is not None:
        text += f" (randomisation p = {_fmt_p(ri)}, shown for comparison)"
    return model, "model", text + "."


def _sequential(config: TrialConfig, look: dt.date, primary: dict[str, Any] | None,
                alpha: float, frame: pd.DataFrame | None = None, outcome: str = "",
                wald_trusted: bool | None = None) -> dict[str, Any]:
    start = config.trial.start_date
    looks = sorted({d for d in config.evaluation.milestones if start <= d < look} | {look})
    fractions, scale = _information(config, frame, outcome, looks)
    bounds = obf_boundaries(fractions, alpha, sides=2)
    current = bounds.to_dict()["looks"][-1]
    out = {**bounds.to_dict(), "look_dates": [d.isoformat() for d in looks], "current_look": current,
           "information_scale": scale,
           "primary_outcome": primary["outcome"] if primary else None, "primary_z": None,
           "primary_p": None, "primary_p_source": None, "p_value_basis": None, "crossed": None}
    if primary and primary["status"] == "ok" and primary["z_value"] is not None:
        p, source, basis = _monitoring_p(primary, wald_trusted)
        out["primary_z"] = primary["z_value"]
        out["primary_p"] = p
        out["primary_p_source"] = source
        out["p_value_basis"] = basis
        out["crossed"] = bool(p is not None and p <= current["nominal_p"])
        verdict = "crosses" if out["crossed"] else "does not cross"
        if current["z_boundary"] is None:
            out["decision"] = ("This look is so early that the spending function spends no alpha: "
                               "no effect can be declared.")
        else:
            label = "randomisation p-value" if source == "randomisation" else "model-based p-value"
            out["decision"] = (f"The primary outcome's {label} ({_fmt_p(p)}) {verdict} the nominal "
                               f"threshold of this look ({_fmt_p(current['nominal_p'])}, |z| ≥ "
                               f"{current['z_boundary']:.3f}). {basis}")
    else:
        out["decision"] = "The primary outcome is not estimable at this look; no test is made."
    return out


def _fmt_p(p: float) -> str:
    """p-values: three decimals, or two significant digits below 0.001."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _ci(low: float, high: float, level: int, digits: int = 2) -> str:
    return f"{level}% CI {low:.{digits}f} to {high:.{digits}f}"


def _ratio_phrase(row: dict[str, Any], level: int) -> str:
    """"13.9% lower (rate ratio 0.86, 95% CI 0.76 to 0.98" — left open for p-values."""
    pct = row["pct_change"]
    size = f"{abs(pct):.1f}% {'lower' if pct < 0 else 'higher'}" if round(abs(pct), 1) else "no different"
    return (f"{size} (rate ratio {row['irr']:.2f}, "
            f"{_ci(row['irr_conf_low'], row['irr_conf_high'], level)}")


def _find(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items()) and r["status"] == "ok"), None)


def _data_text(config: TrialConfig, trial: dict[str, Any], flow: TrialFlow, totals: list[dict[str, Any]]) -> str:
    outcome = trial["primary_outcome"]
    by_arm = {r["arm"]: r["events"] for r in totals if r["outcome"] == outcome}
    text = (f"{trial['n_hotspots']} hotspots observed over {trial['n_days']} experimental days "
            f"({trial['first_day']} to {trial['last_day']}): {flow.assigned:,} hotspot-days, "
            f"{flow.treatment:,} assigned to patrol and {flow.control:,} to no patrol. "
            f"{crime_count(sum(by_arm.values()), outcome)} recorded in the hotspots "
            f"({by_arm.get('treatment', 0):,.0f} on patrol days, {by_arm.get('control', 0):,.0f} on "
            f"no-patrol days).")
    known = flow.treatment - flow.delivery_unknown
    if known == 0:
        return text + " Whether patrols arrived was not recorded."
    hours = config.compliance.arrival_within_hours
    text += (f" An officer arrived within {hours:g} hours of the scheduled time on {flow.delivered:,} of "
             f"{known:,} patrol-assigned hotspot-days with a record ({flow.delivery_rate:.1%} compliance)")
    if flow.control - flow.contamination_unknown:
        text += (f"; a patrol was present on {flow.contaminated:,} no-patrol hotspot-days "
                 f"({flow.contamination_rate:.1%})")
    return text + "."


def _methods_text(trial: dict[str, Any], rows: Sequence[dict[str, Any]], sequential: dict[str, Any],
                  ri_draws: int | None, holm: dict[str, Any]) -> str:
    design = ("each hotspot was randomly assigned to patrol or no patrol every experimental day "
              "(repeat crossover), so each hotspot is its own control"
              if trial["design"] == "crossover" else "hotspots were randomly assigned to patrol or "
              "control for the whole trial (parallel design)")
    models = {r["model"] for r in rows if r["section"] == "itt"}
    primary = ("Poisson regression with hotspot and day fixed effects" if "poisson_fe" in models else
               "Poisson regression with block and day effects and the baseline count"
               if "poisson_parallel" in models else ", ".join(sorted(models)) or "no model")
    checks = [t for m, t in (("negbin_fe", "negative binomial"), ("diff_in_means", "difference in means"))
              if m in models]
    cr2 = any(r.get("se_type") == "CR2" for r in rows if r["section"] == "itt")
    se = ("Bell–McCaffrey (CR2) standard errors clustered by hotspot, t with Satterthwaite degrees of freedom"
          if cr2 else "standard errors clustered by hotspot")
    text = (f"Randomised controlled trial: {design}. The effect of assignment (intention to treat) was "
            f"estimated by {primary} ({se})")
    if checks:
        text += f", with {' and '.join(checks)} models as sensitivity checks"
    text += (f"; randomisation-inference p-values come from {ri_draws:,} re-draws of the trial's own design"
             if ri_draws else "; model-based p-values only (randomisation inference not run)")
    text += "."
    if any(r["section"] == "cace" for r in rows):
        text += (" The effect of patrols actually delivered (complier average causal effect) was estimated "
                 "by two-stage least squares with random assignment as the instrument")
        text += (", and as a rate ratio by multiplicative instrumental variables (Mullahy 1997) with an "
                 "Anderson–Rubin interval and a randomisation interval that re-draws the design under a "
                 "multiplicative effect of patrol presence (Imbens & Rosenbaum 2005)."
                 if any(r["model"] == "iv_poisson_gmm_fe" for r in rows) else ".")
    if any(r["section"] == "carryover" for r in rows):
        text += (" Carry-over (residual deterrence) was estimated from yesterday's assignment and the days "
                 "since the last assigned patrol.")
    look = sequential["current_look"]
    text += (f" Holm adjustment across the {holm['family_size']} primary tests (declared outcomes × count and harm); O'Brien–Fleming alpha "
             f"spending (Lan–DeMets), look {len(sequential['looks'])} at information fraction "
             f"{look['information_fraction']:.2f} ({sequential['information_scale']}); displacement into the buffer rings by the Weighted "
             f"Displacement Quotient (WDQ) and Difference (WDD).")
    return text


def _findings_text(trial: dict[str, Any], rows: Sequence[dict[str, Any]], primary: dict[str, Any],
                   displacement: Sequence[DisplacementAnalysis], totals: list[dict[str, Any]],
                   ri: dict[str, Any] | None, level: int, harm_coverage: dict[str, Any] | None = None) -> str:
    outcome = trial["primary_outcome"]
    name = outcome.replace("_", " ")
    if primary["irr"] is not None and primary["irr_conf_low"] is not None:
        text = (f"{name[:1].upper() + name[1:]} was {_ratio_phrase(primary, level)}) on hotspot-days "
                f"assigned to patrol than on hotspot-days without")
    else:
        text = (f"The difference in {name} per hotspot-day, patrol minus no patrol, was "
                f"{primary['estimate']:.3f} ({_ci(primary['conf_low'], primary['conf_high'], level, 3)})")
    ri_p = primary["ri_p_value"]
    if ri_p is not None:
        ri_p_text = f"randomisation p = {_fmt_p(ri_p)}"
        if ri and ri.get("draws"):
            ri_p_text += f" from {ri['draws']:,} re-draws"
        if ri and ri.get("conf_low") is not None and ri.get("conf_high") is not None:
            ri_p_text += f", randomisation {_ci(ri['conf_low'], ri['conf_high'], level)}"
    p_parts = [f"model p = {_fmt_p(primary['p_value'])}" if primary["p_value"] is not None else None,
               ri_p_text if ri_p is not None else None,
               f"Holm-adjusted p = {_fmt_p(primary['holm_p_value'])}" if primary["holm_p_value"] is not None
               else None]
    text += f" ({'; '.join(p for p in p_parts if p)})."
    harm = _find(rows, outcome=f"{outcome}_harm", model=primary["model"], section="itt")
    if harm_coverage and not harm_coverage.get("estimated", True):
        text += " Crime harm is not reported as estimated: " + harm_coverage["statement"]
    elif harm is not None and harm["irr"] is not None and harm["irr_conf_low"] is not None:
        text += (f" Crime harm (CCHI) on patrol days was {_ratio_phrase(harm, level)}; "
                 f"p = {_fmt_p(harm['p_value'])}).")
    cace = _find(rows, outcome=outcome, section="cace", term="delivered")
    if cace is not None:
        control = next((r["count_per_day"] for r in totals if r["outcome"] == outcome and r["arm"] == "control"),
                       None)
        text += (f" The effect of a delivered patrol (CACE) was {cace['estimate']:+.3f} crimes per hotspot-day "
                 f"({_ci(cace['conf_low'], cace['conf_high'], level, 3)}")
        if cace["first_stage_f"] is not None:
            text += f"; first-stage F = {cace['first_stage_f']:,.0f}"
        text += ")"
        text += f", against {control:.3f} per no-patrol hotspot-day." if control is not None else "."
        text += _cace_ratio_sentence(_find(rows, outcome=outcome, model="iv_poisson_gmm_fe"), level)
    elif not any(r["section"] == "cace" for r in rows):
        text += " Patrol delivery was not recorded, so the effect of patrols delivered was not estimated."
    lag = _find(rows, outcome=outcome, section="carryover", term="treated_lag1")
    if lag is not None and lag["irr"] is not None:
        text += (f" A patrol assigned the day before changed the rate by a ratio of {lag['irr']:.2f} "
                 f"({_ci(lag['irr_conf_low'], lag['irr_conf_high'], level)}; p = {_fmt_p(lag['p_value'])}).")
    wdq = _primary_wdq(displacement, outcome)
    if wdq:
        text += f" {wdq}"
    return text


def _limits(low: float | None, high: float | None) -> str:
    return f"{'open' if low is None else f'{low:.2f}'} to {'open' if high is None else f'{high:.2f}'}"


def _cace_ratio_sentence(row: dict[str, Any] | None, level: int) -> str:
    """The rate-ratio CACE with its Anderson–Rubin and randomisation intervals, or ""."""
    if row is None or row["irr"] is None:
        return ""
    text = (f" As a rate ratio comparable with the one above, a patrol present on the day multiplied the rate "
            f"by {row['irr']:.2f} among hotspot-days whose patrol depended on assignment (Anderson–Rubin "
            f"{level}% CI {_limits(row['irr_conf_low'], row['irr_conf_high'])}")
    if row["ri_p_value"] is not None and (row["ri_conf_low"] is not None or row["ri_conf_high"] is not None):
        text += (f"; randomisation {level}% CI {_limits(row['ri_conf_low'], row['ri_conf_high'])}, "
                 f"randomisation p = {_fmt_p(row['ri_p_value'])}")
    return text + ")."


def _conclusion_text(trial: dict[str, Any], primary: dict[str, Any], sequential: dict[str, Any]) -> str:
    name = trial["primary_outcome"].replace("_", " ")
    look = sequential["current_look"]
    final = look["information_fraction"] >= 1.0 - 1e-9
    if look["z_boundary"] is None:
        return ("This look is so early that the pre-specified O'Brien–Fleming plan spends no alpha: no effect "
                "can be declared, and the trial should continue as planned.")
    if sequential["crossed"]:
        direction = "reduction" if primary["estimate"] < 0 else "increase"
        return (f"The {direction} in {name} on patrol days crosses the pre-specified O'Brien–Fleming "
                f"boundary at this look (which needs p ≤ {_fmt_p(look['nominal_p'])}): the evidence supports "
                f"{'an effect' if final else 'an effect, declared at an interim look'} of assigning patrols.")
    if final:
        return (f"At the final look the result does not cross the pre-specified boundary "
                f"(which needs p ≤ {_fmt_p(look['nominal_p'])}): the trial does not establish an effect of patrols on {name}.")
    favours = "favours patrols" if primary["estimate"] < 0 else "does not favour patrols"
    return (f"This is an interim look (information fraction {look['information_fraction']:.2f}). The estimate "
            f"{favours} but does not cross the pre-specified O'Brien–Fleming boundary for this look "
            f"(which needs p ≤ {_fmt_p(look['nominal_p'])}), so no effect can be declared yet: the trial should continue as "
            f"planned and the estimate should not be acted on.")


def _abstract(config: TrialConfig, trial: dict[str, Any], flow: TrialFlow, totals: list[dict[str, Any]],
              rows: list[dict[str, Any]], primary: dict[str, Any] | None, sequential: dict[str, Any],
              displacement: Sequence[DisplacementAnalysis], ri_draws: int | None, holm: dict[str, Any],
              alpha: float, ri_records: Sequence[dict[str, Any]] = (),
              harm_coverage: dict[str, Any] | None = None) -> dict[str, str]:
    """The five parts of the structured abstract, in plain words with the headline numbers."""
    outcome = trial["primary_outcome"]
    spec = next((o for o in config.outcomes if o.name == outcome), None)
    described = spec.description if spec and spec.description else outcome.replace("_", " ")
    level = round(100 * (1 - alpha))
    question = (f"In the {config.trial.name} trial, did assigning high-visibility patrols to crime hotspots "
                f"reduce {described}, measured as crime counts and by the Cambridge Crime Harm Index, "
                f"compared with no assigned patrol?")
    if primary is None:
        findings = f"No intention-to-treat estimate was supplied for {outcome.replace('_', ' ')}."
        conclusion = "No conclusion can be drawn about the primary outcome."
    elif primary["status"] != "ok":
        findings = f"{outcome.replace('_', ' ')}: {primary['status']}."
        conclusion = "No conclusion can be drawn about the primary outcome at this look."
    else:
        ri = next((r for r in ri_records if r["outcome"] == outcome), None)
        findings = _findings_text(trial, rows, primary, displacement, totals, ri, level, harm_coverage)
        conclusion = _conclusion_text(trial, primary, sequential)
    return {"research_question": question, "data": _data_text(config, trial, flow, totals),
            "methods": _methods_text(trial, rows, sequential, ri_draws, holm), "findings": findings,
            "conclusions": conclusion}


def _primary_wdq(displacement: Sequence[DisplacementAnalysis], outcome: str) -> str | None:
    """The all-rings WDQ (and WDD test) of the primary outcome, in a sentence."""
    for analysis in displacement:
        if analysis.outcome != outcome:
            continue
        rings = [e.ring for e in analysis.estimates if e.ring != "all rings"]
        for e in analysis.estimates:
            if e.ring != "all rings":
                continue
            where = f"In the buffer rings around the hotspots ({', '.join(rings)} m)" if rings else "Around the hotspots"
            if e.wdq.wdq is None:
                return f"Displacement: the WDQ could not be computed ({e.wdq.note or 'undefined'})."
            text = f"{where} the WDQ was {e.wdq.wdq:.2f}"
            if e.wdq.conf_low is not None and e.wdq.conf_high is not None:
                text += f" (cluster-bootstrap interval {e.wdq.conf_low:.2f} to {e.wdq.conf_high:.2f})"
            text += f", read as {e.wdq.interpretation}"
            if e.wdd.p_value is not None:
                text += (f" (WDD: net change of {e.wdd.wdd:+,.0f} crimes in hotspots and rings together, "
                         + (f"interval {e.wdd.conf_low:+,.0f} to {e.wdd.conf_high:+,.0f}, "
                            if e.wdd.conf_low is not None and e.wdd.conf_high is not None else "")
                         + f"{e.wdd.se_type}; p = {_fmt_p(e.wdd.p_value)})")
            return text + "."
    return None


# ---------------------------------------------------------------------------
# Build and write
# ---------------------------------------------------------------------------

def build_milestone_report(
    config: TrialConfig,
    panel: Panel | pd.DataFrame,
    estimates: Sequence[Estimate],
    ri_results: Mapping[str, RITestResult],
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
    plan_context: PlanContext | None = None,
    design_diagnosis: DesignDiagnosis | None = None,
    inference_diagnosis: Sequence[InferenceDiagnosis] = (),
    ri_refused: str | None = None,
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
        Outcome name → :class:`~guardian_rct.estimation.randomisation.RITestResult` of
        :func:`~guardian_rct.estimation.randomisation.randomisation_test`. Its p-value
        fills ``ri_p_value`` of the outcome's primary ITT estimate when that is empty; its
        test-inversion rate-ratio interval is the "randomisation CI" of the findings.
    displacement, balance, flow
        From :mod:`guardian_rct.estimation.displacement`, :mod:`guardian_rct.estimation.baseline_balance`,
        :mod:`guardian_rct.estimation.flow`.
    outcomes
        Declared outcomes (default ``config.evaluation.outcomes``).
    look_date
        Date of this look (default: last day in the panel).
    figures
        Draw the forest plot and time series (PNG data URIs).
    plan_context
        The registered plan's history and this run's harm index and hotspot file, for the
        "Registered plan and deviations" section (:mod:`guardian_rct.reports.deviations`).
    design_diagnosis, inference_diagnosis
        :func:`~guardian_rct.design.diagnosis.diagnose_design` and
        :func:`~guardian_rct.estimation.diagnosis.diagnose_inference` results (the
        ``diagnosis`` block); when the primary outcome's Wald test is not trusted the
        findings lead with the randomisation result.
    ri_refused
        Why randomisation inference was not run (e.g. an imported allocation without its
        design), shown in the diagnosis block.
    """
    frame = _frame_of(panel)
    outcomes = tuple(outcomes or config.evaluation.outcomes)
    alpha = config.evaluation.alpha
    first = pd.Timestamp(frame["date"].min()).date()
    last = pd.Timestamp(frame["date"].max()).date()
    look = look_date or last
    totals = outcome_totals(frame, outcomes)
    no_events = {o for o in outcomes if sum(r["events"] for r in totals if r["outcome"] == o) == 0}
    ri_keys = [k for o in outcomes for k in (o, f"{o}_harm")]  # counts and harm (issue 12)
    ri_records = [ri_record(o, ri_results[o]) for o in ri_keys if o in ri_results]
    ri_p = {r["outcome"]: r["p_value"] for r in ri_records}
    filled, seen = [], set()
    for e in estimates:
        if estimate_section(e) == "itt" and e.outcome not in seen:
            seen.add(e.outcome)
            if e.ri_p_value is None and ri_p.get(e.outcome) is not None:
                e = dataclasses.replace(e, ri_p_value=ri_p[e.outcome])
        filled.append(e)
    family, sources, holm = holm_family(filled, outcomes, no_events, alpha)
    rows = estimate_rows(filled, outcomes, no_events, family, sources)
    primary_name = config.evaluation.primary_outcome or outcomes[0]
    primary = next((r for r in rows if r["outcome"] == primary_name and r["in_holm_family"]), None)
    primary_diag = next((d for d in inference_diagnosis if d.outcome == f"count_{primary_name}"), None)
    sequential = _sequential(config, look, primary, alpha, frame, primary_name,
                             wald_trusted=None if primary_diag is None else primary_diag.wald_reliable)
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
    doses = dose_response_tables(frame, [o for o in outcomes if o not in no_events], alpha, all_notes)
    coverage = harm_coverage_section(config, panel)
    abstract = _abstract(config, trial, flow, totals, rows, primary, sequential, displacement,
                         ri_draws, holm, alpha, ri_records, coverage)
    absolute = absolute_effects_section(filled, frame, primary_name, bool(coverage.get("estimated", True)), 1 - alpha)
    if primary is not None and primary["status"] == "ok":
        abstract["findings"] += absolute_sentence(absolute)
    lead = lead_sentence(primary_diag, next((r for r in ri_records if r["outcome"] == primary_name), None),
                         round(100 * (1 - alpha)))
    if lead:
        abstract["findings"] = lead + " " + abstract["findings"]
    series = timeseries(frame, outcomes)
    figs: dict[str, str | None] = {"forest": None, "timeseries": None}
    if figures:
        from guardian_rct.reports.maps import png_data_uri
        from guardian_rct.reports.milestone_figures import forest_plot_png, timeseries_png

        forest = forest_plot_png([r for r in rows if r["section"] == "itt"], level=1 - alpha)
        ts = timeseries_png(series, outcomes)
        figs = {"forest": png_data_uri(forest) if forest else None,
                "timeseries": png_data_uri(ts) if ts else None}
    with_compliance = "delivered" in frame.columns and bool(frame["delivered"].notna().any())
    audit = (unaudited("no registered plan was given to the report") if plan_context is None else
             audit_against_plan(plan_context, rows, outcomes=outcomes, primary=primary_name, ri_draws=ri_draws,
                                alpha=alpha, look_date=look, no_events=no_events, with_compliance=with_compliance))
    return MilestoneReport(
        schema_version=SCHEMA_VERSION, trial=trial, abstract=abstract, outcome_totals=tuple(totals),
        estimates=tuple(rows), estimate_sections=section_index(rows, outcomes),
        dose_response=tuple(doses), multiplicity=holm, sequential=sequential,
        randomisation_inference=tuple(ri_records),
        displacement=tuple(d.to_dict() for d in displacement), balance=balance.to_dict(),
        flow=flow.to_dict(), timeseries=tuple(series), notes=tuple(all_notes),
        provenance=provenance.to_dict(), figures=figs,
        analysis_plan=audit.analysis_plan, deviations=audit.deviations,
        diagnosis=diagnosis_section(design_diagnosis, inference_diagnosis, ri_refused),
        harm_coverage=coverage, cace_assumptions=cace_assumptions_section(rows, primary_name),
        absolute_effects=absolute, simulated=simulated_notice(config.trial.simulated),
    )


def write_milestone_report(report: MilestoneReport, out_dir: str | Path, *,
                           inputs: Iterable[str | Path | None] = (),
                           leaflet: dict | None = None) -> dict[str, Path]:
    """Write ``milestone_report.html`` and ``milestone_report.json`` into ``out_dir``,
    atomically and never over one of ``inputs`` or a protected trial file.

    ``leaflet`` is an interactive map of the trial's hotspots
    (:func:`guardian_rct.reports.interactive_map.interactive_map`), shown when given.
    A simulated input among ``inputs`` (:mod:`guardian_rct.reports.banner`) puts the
    SIMULATED DATA banner on the report, as ``[trial] simulated`` does.
    """
    from guardian_rct.reports.render import write_html, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = list(inputs)
    declared = bool(report.simulated and report.simulated.get("declared"))
    report = dataclasses.replace(report, simulated=simulated_notice(declared, inputs) or report.simulated)
    data = report.to_dict()
    html = write_html(out / "milestone_report.html", "milestone.html", inputs=inputs, report=data,
                      figures=dict(report.figures), provenance=data["provenance"], leaflet=leaflet,
                      simulated=data["simulated"])
    js = write_json(out / "milestone_report.json", data, inputs=inputs)
    return {"html": html, "json": js}
