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

import numpy as np
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
from guardian_rct.reports.milestone_abstract import format_p, structured_abstract
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

SCHEMA_VERSION = "1.9"  # 1.1: estimate sections, first stage, dose_response; 1.2: first_stage_se/_n, nb_theta
# 1.3: analysis_plan + deviations (the registered plan and the departures from it)
# 1.4: provenance seed_fingerprint replaces seed
# 1.5: estimates carry se_type/df/wild_p_value; harm randomisation inference; diagnosis block
# 1.6: harm_coverage, cace_assumptions, WDD se_type/df, WDQ interval, crimes_/harm_prevented,
#      sequential.information_scale, multiplicity.family_definition
# 1.7: estimates carry ri_conf_low/ri_conf_high (rate ratio) and inference (se type, df, clusters in
#      words); the rate-ratio CACE for harm and its randomisation interval; sequential.primary_p_source
#      and p_value_basis (the monitoring decision uses the p-value the report leads with)
# 1.8: multiplicity.p_definition (each Holm member enters with the p-value the report leads with)
# 1.9: randomisation_inference records carry p_value_rule (equal-tailed by default) and the one-sided
#      p_less / p_greater


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


def _holm_name(column: str) -> str:
    """The Holm family's name of a panel column: ``count_x`` → ``x``, ``harm_x`` → ``x_harm``."""
    if column.startswith("harm_"):
        return column[len("harm_"):] + "_harm"
    return column.removeprefix("count_")


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
        text += f" (randomisation p = {format_p(ri)}, shown for comparison)"
    return model, "model", text + "."


def _single_weight_notes(frame: pd.DataFrame, outcomes: Sequence[str]) -> list[str]:
    """A note for each outcome whose harm is one weight times its count on every hotspot-day.

    Then the harm rate ratio, its interval and p-value are the count's, which a reader
    would otherwise take for a copying error (the demo's serious youth violence: every
    crime of it falls in CCHI classes with the same subgroup weight).
    """
    out = []
    for o in outcomes:
        count, harm = frame.get(f"count_{o}"), frame.get(f"harm_{o}")
        if count is None or harm is None:
            continue
        c, h = count.to_numpy(dtype=float), harm.to_numpy(dtype=float)
        some = c > 0
        if not some.any() or not np.isfinite(h[some]).all() or (h[~some] != 0).any():
            continue
        per_crime = h[some] / c[some]
        if np.ptp(per_crime) <= 1e-9 * max(abs(per_crime[0]), 1.0):
            out.append(f"Every crime of {o.replace('_', ' ')} carries the same harm weight ({per_crime[0]:g} CCHI days), so its "
                       f"harm is its count times {per_crime[0]:g}: the Poisson harm rate ratio, interval and "
                       f"p-value equal the count's.")
    return out


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
            out["decision"] = (f"The primary outcome's {label} ({format_p(p)}) {verdict} the nominal "
                               f"threshold of this look ({format_p(current['nominal_p'])}, |z| ≥ "
                               f"{current['z_boundary']:.3f}). {basis}")
    else:
        out["decision"] = "The primary outcome is not estimable at this look; no test is made."
    return out


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
    trusted = {_holm_name(d.outcome): d.wald_reliable for d in inference_diagnosis}
    family, sources, holm = holm_family(filled, outcomes, no_events, alpha, wald_trusted=trusted)
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
    all_notes.extend(_single_weight_notes(frame, [o for o in outcomes if o not in no_events]))
    doses = dose_response_tables(frame, [o for o in outcomes if o not in no_events], alpha, all_notes)
    coverage = harm_coverage_section(config, panel)
    distrusted = frozenset(name for name, ok in trusted.items() if not ok)
    abstract = structured_abstract(config, trial, flow, totals, rows, primary, sequential, displacement,
                                   ri_draws, holm, alpha, ri_records, coverage, distrusted)
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
