"""Milestone evaluation: read crimes, build the panel, estimate, and write the report.

:func:`evaluate` is the one public function behind ``guardian-rct evaluate``. It

1. loads the trial's hotspots and the allocation — the schedules published in the trial
   store, or an allocation CSV made by another tool (checked against the hotspots and the
   trial's dates, and for complete coverage of every hotspot-day);
2. reads compliance per hotspot-day from a CSV (``--compliance``) or scores it from
   location pings (``--pings``), or goes without it;
3. reads the crimes and builds the hotspot × day panel (with buffer rings);
4. checks the panel is usable (both arms present, outcome columns present);
5. runs the intention-to-treat estimators for every declared outcome (counts and harm;
   Poisson FE with CR2 + Satterthwaite by default, ``[evaluation] se_type``),
   randomisation inference for counts and harm that re-draws the design that made the
   allocation (refused for an imported allocation without its design; see
   :mod:`guardian_rct.jobs.milestone_inference`), a wild cluster score bootstrap p-value,
   the design and data diagnosis, the carry-over
   estimates (crossover designs) and, with compliance, the CACE of a delivered patrol and
   of a minute of patrol on counts and harm (the report adds the descriptive dose–response table);
6. computes displacement, baseline balance and the CONSORT flow, builds the
   :class:`~guardian_rct.reports.milestone.MilestoneReport` and writes HTML and JSON.

The inputs and their checks are in :mod:`guardian_rct.jobs.milestone_inputs`, the set of
estimators in :mod:`guardian_rct.estimation.standard_set`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from guardian_rct._core.days import last_complete_day
from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.provenance import Provenance, make_provenance, sha256_file
from guardian_rct._core.rng import stream
from guardian_rct._core.wording import count_of
from guardian_rct.compliance.hotspot_day_csv import COMPLIANCE_COLUMNS, read_compliance_csv
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.crimes.panel import Panel, build_panel
from guardian_rct.crimes.records import read_crimes
from guardian_rct.design.allocation import Allocation
from guardian_rct.design.diagnosis import DesignDiagnosis, diagnose_design
from guardian_rct.design.factory import design_from_config
from guardian_rct.estimation.baseline_balance import baseline_balance
from guardian_rct.estimation.diagnosis import InferenceDiagnosis
from guardian_rct.estimation.displacement import (
    DisplacementAnalysis,
    before_after_displacement,
    crossover_displacement,
)
from guardian_rct.estimation.flow import trial_flow
from guardian_rct.estimation.randomisation import RITestResult
from guardian_rct.estimation.results import Estimate
from guardian_rct.estimation.standard_set import standard_estimates
from guardian_rct.geo.plausibility import trial_area_bounds
from guardian_rct.geo.rings import buffer_rings
from guardian_rct.jobs.milestone_inference import ri_design, run_inference
from guardian_rct.jobs.milestone_inputs import (
    check_panel_usable,
    compliance_from_pings,
    load_allocation,
)
from guardian_rct.jobs.plan import evaluation_plan_context
from guardian_rct.ledger.plan_history import note_look
from guardian_rct.ledger.pseudonym import seed_key
from guardian_rct.ledger.store import load_trial_hotspots
from guardian_rct.reports.deviations import PlanContext
from guardian_rct.reports.geopackage import milestone_layers, write_geopackage
from guardian_rct.reports.milestone import (
    MilestoneReport,
    build_milestone_report,
    write_milestone_report,
)

__all__ = ["EvaluationResult", "evaluate", "report_from_panel", "COMPLIANCE_COLUMNS"]


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` produced: the report, where it was written, and notes."""

    report: MilestoneReport
    paths: dict[str, Path]
    estimates: tuple[Estimate, ...]
    quarantined: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        return {"html": str(self.paths["html"]), "json": str(self.paths["json"]),
                "geopackage": str(self.paths["geopackage"]) if "geopackage" in self.paths else None,
                "schema_version": data["schema_version"], "abstract": data["abstract"],
                "estimates": data["estimates"], "sequential": data["sequential"]["decision"],
                "quarantined": dict(self.quarantined), "notes": data["notes"]}

    def summary(self) -> str:
        data = self.report.to_dict()
        lines = [f"milestone report written to {self.paths['html']} and {self.paths['json']}",
                 f"findings: {data['abstract']['findings']}",
                 f"interim look: {data['sequential']['decision']}"]
        if "geopackage" in self.paths:
            lines.append(f"map layers for QGIS: {self.paths['geopackage']}")
        lines += [f"note: {n}" for n in data["notes"]]
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Report from computed results (testable without crimes or estimators)
# ---------------------------------------------------------------------------

def _displacement(config: TrialConfig, frame: pd.DataFrame, rings: pd.DataFrame | None,
                  outcomes: Sequence[str], alpha: float, notes: list[str]) -> list[DisplacementAnalysis]:
    if rings is None or len(rings) == 0:
        notes.append("The panel has no buffer rings: displacement was not analysed.")
        return []
    out = []
    for o in outcomes:
        if config.design.kind == "parallel":
            out.append(before_after_displacement(frame, rings, o, baseline_days=config.evaluation.baseline_days,
                                                 alpha=alpha))
        else:
            out.append(crossover_displacement(frame, rings, o, alpha=alpha,  # issue 12b: WDQ bootstrap
                                              rng=stream(config.trial.seed, "displacement_bootstrap", o)))
    return out


def report_from_panel(config: TrialConfig, panel: Panel | tuple[pd.DataFrame, pd.DataFrame | None],
                      estimates: Sequence[Estimate], ri_results: dict[str, RITestResult],
                      *, out_dir: str | Path, provenance: Provenance, look_date: dt.date | None = None,
                      ri_draws: int | None = None, notes: Sequence[str] = (),
                      figures: bool = True, plan_context: PlanContext | None = None,
                      design_diagnosis: DesignDiagnosis | None = None,
                      inference_diagnosis: Sequence[InferenceDiagnosis] = (),
                      ri_refused: str | None = None,
                      input_files: Sequence[str | Path] = ()) -> tuple[MilestoneReport, dict[str, Path]]:
    """Displacement, balance and flow from the panel; build and write the report.

    ``panel`` is a ``Panel`` (``.frame``, ``.rings``) or a ``(frame, rings)`` pair.
    ``input_files`` (crimes, pings, compliance...) are never overwritten by the report, and
    a simulated one puts the SIMULATED DATA banner on it (:mod:`guardian_rct.reports.banner`).
    """
    if isinstance(panel, tuple):
        frame, rings = panel
    else:
        frame, rings = panel.frame, getattr(panel, "rings", None)
    outcomes = tuple(config.evaluation.outcomes)
    check_panel_usable(frame, outcomes)
    all_notes = list(notes)
    displacement = _displacement(config, frame, rings, outcomes, config.evaluation.alpha, all_notes)
    balance = baseline_balance(frame, outcomes, baseline_days=config.evaluation.baseline_days)
    flow = trial_flow(frame)
    # the Panel itself when given: its crime counts are what the harm-coverage statement reads
    report = build_milestone_report(config, frame if isinstance(panel, tuple) else panel, estimates, ri_results,
                                    displacement, balance, flow, provenance,
                                    outcomes=outcomes, look_date=look_date, ri_draws=ri_draws,
                                    notes=all_notes, figures=figures, plan_context=plan_context,
                                    design_diagnosis=design_diagnosis,
                                    inference_diagnosis=inference_diagnosis, ri_refused=ri_refused)
    return report, write_milestone_report(report, out_dir, inputs=[config.trial.store, config.hotspots.path,
                                                                   config.source, *input_files],
                                          leaflet=_hotspot_map(config) if figures else None)


def _hotspot_map(config: TrialConfig) -> dict | None:
    """An interactive map of the registered hotspots, or ``None`` when the store has none."""
    from guardian_rct._core.errors import GuardianError
    from guardian_rct.reports.interactive_map import geojson_layer, interactive_map

    try:
        hotspots = load_trial_hotspots(config)
    except GuardianError:
        return None
    frame = hotspots.frame[["hotspot_id", "name", "geometry"]].copy()
    frame["popup"] = "<b>" + frame["hotspot_id"].astype(str) + "</b> " + frame["name"].astype(str)
    layer = geojson_layer(frame, name="hotspots", properties=["hotspot_id", "name"], popup_column="popup")
    return interactive_map([layer], element_id="milestone-map", tiles=config.maps.tiles,
                           tiles_attribution=config.maps.tiles_attribution)


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------

def evaluate(config: TrialConfig, *, crimes_path: str | Path, allocation: Allocation | str | Path | None = None,
             compliance: str | Path | pd.DataFrame | None = None, pings_path: str | Path | None = None,
             out_dir: str | Path, ri_draws: int | None = None, look_date: dt.date | None = None,
             figures: bool = True, design_config: str | Path | None = None,
             permutations: str | Path | None = None) -> EvaluationResult:
    """Run the milestone evaluation; write ``milestone_report.html``/``.json`` and
    ``milestone_layers.gpkg`` (hotspots, rings, outcomes by hotspot, QGIS-styled) to ``out_dir``.

    Parameters
    ----------
    config
        The validated trial config.
    crimes_path
        Crime records (CSV/Parquet, DESIGN.md §3), covering the baseline period too.
    allocation
        An :class:`Allocation` or the path of an allocation CSV made by another tool;
        default: the schedules published in the trial store.
    compliance, pings_path
        Compliance per hotspot-day (CSV path or DataFrame), or location pings to score;
        at most one. Without either, delivery is "unknown" and no CACE is estimated.
    ri_draws
        Randomisation-inference re-draws (default ``[evaluation] ri_draws``; 0 skips it).
    look_date
        Last experimental day evaluated (default: the trial's end date or the last
        *complete* experimental day, whichever is earlier; today's unfinished day is
        never included).
    design_config, permutations
        For an imported ``allocation``: the design that made it (a TOML ``[design]``
        table) or its permutation matrix; without either, randomisation inference is
        refused with a note (:func:`guardian_rct.jobs.milestone_inference.ri_design`).

    Raises
    ------
    GuardianError
        For every bad input (allocation that does not match the hotspots or dates, a
        panel without treated days, unreadable files), with a one-line message.
    """
    if compliance is not None and pings_path is not None:
        raise UsageError("give compliance or pings, not both", where="--compliance/--pings",
                         fix="use --compliance for a scored CSV or --pings to score raw pings")
    crimes_path = Path(crimes_path)
    if not crimes_path.is_file():
        raise DataError("crimes file not found", where=where(crimes_path), fix="check the path given to --crimes")
    complete = last_complete_day(config.trial.tz, config.trial.day_start_time)
    look = look_date or min(config.trial.end_date, complete)
    if look < config.trial.start_date:
        if look_date is None:
            raise UsageError("no experimental day of the trial is complete yet", found=f"last complete day {look}",
                             where="--look-date", fix=f"wait until the day {config.trial.start_date} has ended, "
                             "or give --look-date for a simulated trial")
        raise UsageError("the look date is before the trial starts", found=str(look), where="--look-date",
                         fix=f"use a date on or after {config.trial.start_date}")
    hotspots = load_trial_hotspots(config)
    ids = [str(h) for h in hotspots.ids]
    alloc = load_allocation(config, allocation, hotspots, look)
    look = min(look, max(alloc.days))
    comp_frame = None
    if isinstance(compliance, pd.DataFrame):
        comp_frame = compliance
    elif compliance is not None:
        comp_frame = read_compliance_csv(compliance, ids)
    elif pings_path is not None:
        comp_frame = compliance_from_pings(config, hotspots, alloc, pings_path)
    crimes = read_crimes(crimes_path, crs=config.hotspots.crs,
                         area_bounds=trial_area_bounds(hotspots.frame.total_bounds))
    # a look at outcome data (issue 15): recorded in the store before any estimate is made
    note_look(config, kind="evaluate", crimes_sha256=sha256_file(crimes_path), look_date=look)
    design = design_from_config(config, hotspots)
    rings = buffer_rings(hotspots, list(config.hotspots.buffer_rings_m)) if config.hotspots.buffer_rings_m else None
    panel = build_panel(config, hotspots, alloc, crimes, rings=rings, probabilities=design.probabilities(),
                        compliance=comp_frame, baseline_days=config.evaluation.baseline_days)
    outcomes = tuple(config.evaluation.outcomes)
    check_panel_usable(panel.frame, outcomes)
    alpha = config.evaluation.alpha
    no_events = {o for o in outcomes if float(panel.frame[f"count_{o}"].sum()) == 0}
    design_notes: list[str] = []
    estimates = standard_estimates(panel, outcomes, alpha, comp_frame is not None, no_events, config.design.kind,
                                   design_notes, se_type=config.evaluation.se_type)  # type: ignore[arg-type]
    draws = config.evaluation.ri_draws if ri_draws is None else int(ri_draws)
    redraw, ri_note = ri_design(config, hotspots, alloc, imported=allocation is not None,
                                design_config=design_config, permutations=permutations)
    design_diag = diagnose_design(redraw) if redraw is not None else None  # the design that made it
    ri_results, estimates, inference_diag = run_inference(
        config, panel, redraw, design_diag, outcomes, no_events, estimates, draws=draws,
        wild_draws=config.evaluation.wild_bootstrap_draws)
    design_notes.append(ri_note)
    inputs: dict[str, str | Path] = {"crimes": crimes_path}
    if config.source is not None:
        inputs["config"] = config.source
    if alloc.source is not None:
        inputs["allocation"] = alloc.source
    if isinstance(compliance, (str, Path)):
        inputs["compliance"] = compliance
    if pings_path is not None:
        inputs["pings"] = pings_path
    provenance = make_provenance(seed=config.trial.seed, seed_key=seed_key(config.trial.store), inputs=inputs, hashes={"hotspots": hotspots.sha256})
    quarantined = crimes.quarantine.counts()
    notes = [f"{count_of(n, 'crime record')} set aside: {reason}" for reason, n in quarantined.items()]
    notes += design_notes
    if allocation is not None:
        notes.append("The allocation was imported from a file, not read from the trial store.")
    plan_context = evaluation_plan_context(config, hotspots, dict(panel.harm))
    report, paths = report_from_panel(config, panel, estimates, ri_results, out_dir=out_dir,
                                      provenance=provenance, look_date=look,
                                      ri_draws=draws if ri_results else None, notes=notes, figures=figures,
                                      plan_context=plan_context,
                                      design_diagnosis=design_diag, inference_diagnosis=inference_diag,
                                      ri_refused=ri_note if redraw is None else None,
                                      input_files=list(inputs.values()))
    paths = {**paths, "geopackage": write_geopackage(
        Path(out_dir) / "milestone_layers.gpkg", milestone_layers(hotspots, panel.frame, outcomes, rings=rings),
        inputs=[config.trial.store, config.hotspots.path, config.source, *inputs.values()])}
    return EvaluationResult(report, paths, tuple(estimates), quarantined)
