"""Milestone evaluation: read crimes, build the panel, estimate, and write the report.

:func:`evaluate` is the one public function behind ``guardian-rct evaluate``. It

1. loads the trial's hotspots and the allocation — the schedules published in the trial
   store, or an allocation CSV made by another tool (checked against the hotspots and the
   trial's dates, and for complete coverage of every hotspot-day);
2. reads compliance per hotspot-day from a CSV (``--compliance``) or scores it from
   location pings (``--pings``), or goes without it;
3. reads the crimes and builds the hotspot × day panel (with buffer rings);
4. checks the panel is usable (both arms present, outcome columns present);
5. runs the intention-to-treat estimators for every declared outcome (counts and harm),
   randomisation inference that re-draws the trial's own design (counts), the carry-over
   estimates (crossover designs) and, with compliance, the CACE of a delivered patrol and
   of a minute of patrol on counts and harm (the report adds the descriptive dose–response table);
6. computes displacement, baseline balance and the CONSORT flow, builds the
   :class:`~guardian_rct.reports.milestone.MilestoneReport` and writes HTML and JSON.

The heavy modules (panel, estimators, inference) are imported inside :func:`evaluate`
so that building a report from already-computed results stays light.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct.compliance.hotspot_day_csv import COMPLIANCE_COLUMNS, read_compliance_csv
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import Allocation, read_allocation_csv
from guardian_rct.estimation.balance import baseline_balance
from guardian_rct.estimation.displacement import (
    DisplacementAnalysis,
    before_after_displacement,
    crossover_displacement,
)
from guardian_rct.estimation.flow import trial_flow
from guardian_rct.estimation.results import Estimate
from guardian_rct.reports.milestone import (
    MilestoneReport,
    build_milestone_report,
    write_milestone_report,
)

__all__ = [
    "EvaluationResult",
    "evaluate",
    "report_from_panel",
    "check_allocation_matches",
    "check_panel_usable",
    "read_compliance_csv",
    "compliance_from_pings",
    "COMPLIANCE_COLUMNS",
]


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
                "schema_version": data["schema_version"], "abstract": data["abstract"],
                "estimates": data["estimates"], "sequential": data["sequential"]["decision"],
                "quarantined": dict(self.quarantined), "notes": data["notes"]}

    def summary(self) -> str:
        data = self.report.to_dict()
        lines = [f"milestone report written to {self.paths['html']} and {self.paths['json']}",
                 f"findings: {data['abstract']['findings']}",
                 f"interim look: {data['sequential']['decision']}"]
        lines += [f"note: {n}" for n in data["notes"]]
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------

def check_allocation_matches(allocation: Allocation, hotspot_ids: Sequence[str], first: dt.date,
                             last: dt.date) -> None:
    """An allocation must name exactly the trial's hotspots and cover every hotspot-day.

    Raises
    ------
    DataError
        Naming the first unknown hotspot, the first date outside ``first``–``last``, a
        trial hotspot the allocation never mentions, or the first missing hotspot-day.
    """
    src = allocation.source
    frame = allocation.frame
    known = set(map(str, hotspot_ids))
    unknown = sorted(set(frame["hotspot_id"]) - known)
    if unknown:
        raise DataError(f"the allocation names hotspot '{unknown[0]}', which is not in the trial's hotspot file",
                        where=where(src, None, "hotspot_id"), expected=f"one of the {len(known)} trial hotspots",
                        found=f"{len(unknown)} unknown id(s): {', '.join(unknown[:5])}",
                        fix="use the allocation made for these hotspots, or the matching hotspot file")
    days = sorted(set(frame["date"]))
    outside = [d for d in days if not first <= d <= last]
    if outside:
        raise DataError("the allocation has dates outside the evaluated period", where=where(src, None, "date"),
                        expected=f"{first} to {last}", found=f"{outside[0]} (and {len(outside) - 1} more)",
                        fix="check the trial's start_date/end_date or export the allocation for this trial")
    absent = sorted(known - set(frame["hotspot_id"]))
    if absent:
        raise DataError(f"trial hotspot '{absent[0]}' never appears in the allocation",
                        where=where(src, None, "hotspot_id"), found=f"{len(absent)} hotspot(s) missing",
                        fix="export an allocation row for every hotspot and day")
    wanted = pd.MultiIndex.from_product([pd.Index(pd.date_range(first, last).date, name="date"),
                                         pd.Index(sorted(known), name="hotspot_id")])
    have = pd.MultiIndex.from_frame(frame[["date", "hotspot_id"]].drop_duplicates())
    missing = wanted.difference(have)
    if len(missing):
        d, h = missing[0]
        raise DataError("the allocation does not cover every hotspot-day of the evaluated period",
                        where=where(src, None, "date"), expected=f"{len(wanted)} hotspot-days",
                        found=f"{len(missing)} missing, first {h} on {d}",
                        fix="export the allocation for every day from the trial start to the look date")


def check_panel_usable(frame: pd.DataFrame, outcomes: Sequence[str]) -> None:
    """The panel must have both arms and a count column for every outcome.

    Raises
    ------
    DataError
        With a message saying which arm is missing or which column.
    """
    for o in outcomes:
        if f"count_{o}" not in frame.columns:
            raise DataError(f"the panel has no counts for outcome '{o}'", where="panel",
                            expected=f"column count_{o}", fix=f"define [outcomes.{o}] before building the panel")
    if len(frame) == 0:
        raise DataError("the panel has no hotspot-days", where="panel",
                        fix="check the trial dates and the look date")
    treated = pd.to_numeric(frame["treated"], errors="coerce").to_numpy()
    if not np.any(treated == 1):
        raise DataError("the panel has no treated hotspot-days: no effect can be estimated", where="panel",
                        found=f"{len(frame)} hotspot-days, all control",
                        fix="check the allocation's 'arm' column (treatment/control) and the evaluated dates")
    if not np.any(treated == 0):
        raise DataError("the panel has no control hotspot-days: no effect can be estimated", where="panel",
                        found=f"{len(frame)} hotspot-days, all treated",
                        fix="check the allocation's 'arm' column (treatment/control) and the evaluated dates")


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
            out.append(crossover_displacement(frame, rings, o, alpha=alpha))
    return out


def report_from_panel(config: TrialConfig, panel: Any, estimates: Sequence[Estimate], ri_results: dict[str, Any],
                      *, out_dir: str | Path, provenance: Provenance, look_date: dt.date | None = None,
                      ri_draws: int | None = None, notes: Sequence[str] = (),
                      figures: bool = True) -> tuple[MilestoneReport, dict[str, Path]]:
    """Displacement, balance and flow from the panel; build and write the report.

    ``panel`` is a ``Panel`` (``.frame``, ``.rings``) or a ``(frame, rings)`` pair.
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
    report = build_milestone_report(config, frame, estimates, ri_results, displacement, balance, flow, provenance,
                                    outcomes=outcomes, look_date=look_date, ri_draws=ri_draws,
                                    notes=all_notes, figures=figures)
    return report, write_milestone_report(report, out_dir)


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------

def _load_allocation(config: TrialConfig, allocation: Allocation | str | Path | None, hotspots: Any,
                     look: dt.date) -> Allocation:
    hotspot_ids = [str(h) for h in hotspots.ids]
    if allocation is None:
        from guardian_rct.ledger.publish import published_allocation
        from guardian_rct.ledger.store import open_trial

        open_trial(config, hotspots=hotspots)  # hotspots already read: do not read the file again
        alloc = published_allocation(config, first=None, last=look, hotspots=hotspots)
    elif isinstance(allocation, Allocation):
        alloc = allocation
    else:
        alloc = read_allocation_csv(allocation)
    if not alloc.days:
        raise DataError("the allocation has no days", where=where(alloc.source), fix="publish or export schedules first")
    check_allocation_matches(alloc, hotspot_ids, config.trial.start_date, min(look, max(alloc.days)))
    if max(alloc.days) > look:  # an imported allocation may run past the look date
        frame = alloc.frame[alloc.frame["date"] <= look].reset_index(drop=True)
        alloc = Allocation(frame, source=alloc.source)
    return alloc


def compliance_from_pings(config: TrialConfig, hotspots: Any, allocation: Allocation,
                          pings_path: str | Path) -> pd.DataFrame:
    """Score location pings into compliance per hotspot-day (``COMPLIANCE_COLUMNS``)."""
    from guardian_rct.compliance.ping_assignment import ping_options_for
    from guardian_rct.compliance.presence import score_pings
    from guardian_rct.compliance.scoring import compliance_by_hotspot_day, score_compliance

    options = ping_options_for(hotspots, config.compliance)
    score = score_pings(pings_path, hotspots, config.compliance, options=options)
    result = score_compliance(allocation, score.visits, hotspots=hotspots, config=config)
    return compliance_by_hotspot_day(result)


def _label(estimates: Sequence[Estimate], outcome: str) -> list[Estimate]:
    """Name estimates by outcome: ``count_o`` → ``o``; ``harm_o`` → ``o_harm``."""
    out = []
    for e in estimates:
        name = outcome if e.outcome == f"count_{outcome}" else (
            f"{outcome}_harm" if e.outcome == f"harm_{outcome}" else e.outcome)
        out.append(dataclasses.replace(e, outcome=name))
    return out


def _estimates(panel: Any, outcomes: Sequence[str], alpha: float, with_compliance: bool,
               no_events: set[str], kind: str, notes: list[str]) -> list[Estimate]:
    """ITT, CACE (with compliance) and carry-over estimates of every outcome, labelled.

    A parallel design keeps each hotspot's assignment fixed, so its CACE uses block and day
    effects (hotspot effects would absorb the instrument) and it has no carry-over contrast.
    """
    from guardian_rct.estimation.carryover import carryover
    from guardian_rct.estimation.itt import itt_estimates
    from guardian_rct.estimation.iv import cace

    frame = panel.frame
    if kind == "parallel":
        blocks = frame["block"].nunique(dropna=True) if "block" in frame.columns else 0
        iv_fe: tuple[str, ...] = ("block", "day") if blocks > 1 else ("day",)
        notes.append("Parallel design: carry-over from one day to the next is not estimated, since a "
                     "hotspot's assignment does not change between days.")
    else:
        iv_fe = ("hotspot", "day")
    out: list[Estimate] = []
    for o in outcomes:
        if o in no_events:
            out.append(_not_estimable(o, frame))
            continue
        out.extend(_label(itt_estimates(panel, o, alpha=alpha, kind=kind), o))
        if with_compliance:  # volume and harm (DESIGN.md: CACE on crime volume and the CCHI)
            columns = [f"count_{o}"] + ([f"harm_{o}"] if f"harm_{o}" in frame.columns else [])
            for col in columns:
                for endogenous in ("delivered", "dosage_minutes"):
                    out.extend(_label([cace(frame, col, endogenous=endogenous, fe=iv_fe, alpha=alpha)], o))
        if kind != "parallel":
            out.extend(_label(carryover(frame, f"count_{o}", alpha=alpha), o))
    return out


def _not_estimable(outcome: str, frame: pd.DataFrame) -> Estimate:
    nan = float("nan")
    return Estimate(outcome, "ITT", "poisson_fe", nan, nan, nan, nan, nan, None, None, len(frame),
                    int(frame["hotspot_id"].nunique()), notes=("no events: not estimable",))


def evaluate(config: TrialConfig, *, crimes_path: str | Path, allocation: Allocation | str | Path | None = None,
             compliance: str | Path | pd.DataFrame | None = None, pings_path: str | Path | None = None,
             out_dir: str | Path, ri_draws: int | None = None, look_date: dt.date | None = None,
             figures: bool = True) -> EvaluationResult:
    """Run the milestone evaluation and write ``milestone_report.html``/``.json`` to ``out_dir``.

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
        Last experimental day evaluated (default: the trial's end date or today's
        experimental day, whichever is earlier).

    Raises
    ------
    GuardianError
        For every bad input (allocation that does not match the hotspots or dates, a
        panel without treated days, unreadable files), with a one-line message.
    """
    from guardian_rct._core.rng import stream
    from guardian_rct.crimes.panel import build_panel
    from guardian_rct.crimes.records import read_crimes
    from guardian_rct.design.factory import design_from_config
    from guardian_rct.estimation.randomisation import randomisation_test
    from guardian_rct.geo.hotspots import buffer_rings
    from guardian_rct.ledger.store import load_trial_hotspots

    if compliance is not None and pings_path is not None:
        raise UsageError("give compliance or pings, not both", where="--compliance/--pings",
                         fix="use --compliance for a scored CSV or --pings to score raw pings")
    crimes_path = Path(crimes_path)
    if not crimes_path.is_file():
        raise DataError("crimes file not found", where=where(crimes_path), fix="check the path given to --crimes")
    look = look_date or min(config.trial.end_date, dt.date.today())
    if look < config.trial.start_date:
        raise UsageError("the look date is before the trial starts", found=str(look), where="--look-date",
                         fix=f"use a date on or after {config.trial.start_date}")
    hotspots = load_trial_hotspots(config)
    ids = [str(h) for h in hotspots.ids]
    alloc = _load_allocation(config, allocation, hotspots, look)
    look = min(look, max(alloc.days))
    comp_frame = None
    if isinstance(compliance, pd.DataFrame):
        comp_frame = compliance
    elif compliance is not None:
        comp_frame = read_compliance_csv(compliance, ids)
    elif pings_path is not None:
        comp_frame = compliance_from_pings(config, hotspots, alloc, pings_path)
    crimes = read_crimes(crimes_path, crs=config.hotspots.crs)
    design = design_from_config(config, hotspots)
    rings = buffer_rings(hotspots, list(config.hotspots.buffer_rings_m)) if config.hotspots.buffer_rings_m else None
    panel = build_panel(config, hotspots, alloc, crimes, rings=rings, probabilities=design.probabilities(),
                        compliance=comp_frame, baseline_days=config.evaluation.baseline_days)
    outcomes = tuple(config.evaluation.outcomes)
    check_panel_usable(panel.frame, outcomes)
    alpha = config.evaluation.alpha
    no_events = {o for o in outcomes if float(panel.frame[f"count_{o}"].sum()) == 0}
    design_notes: list[str] = []
    estimates = _estimates(panel, outcomes, alpha, comp_frame is not None, no_events, config.design.kind,
                           design_notes)
    draws = config.evaluation.ri_draws if ri_draws is None else int(ri_draws)
    ri_results: dict[str, Any] = {}
    if draws > 0:
        for o in outcomes:
            if o in no_events:
                continue  # no events: not estimable, nothing to randomise
            ri_results[o] = randomisation_test(panel.frame, f"count_{o}", design, draws=draws,
                                               rng=stream(config.trial.seed, "randomisation_inference", o),
                                               alpha=alpha)
    inputs: dict[str, str | Path] = {"crimes": crimes_path}
    if config.source is not None:
        inputs["config"] = config.source
    if alloc.source is not None:
        inputs["allocation"] = alloc.source
    if isinstance(compliance, (str, Path)):
        inputs["compliance"] = compliance
    if pings_path is not None:
        inputs["pings"] = pings_path
    provenance = make_provenance(seed=config.trial.seed, inputs=inputs, hashes={"hotspots": hotspots.sha256})
    quarantined = crimes.quarantine.counts()
    notes = [f"{n:,} crime record(s) set aside: {reason}" for reason, n in quarantined.items()]
    notes += design_notes
    if allocation is not None:
        notes.append("The allocation was imported from a file, not read from the trial store.")
    report, paths = report_from_panel(config, panel, estimates, ri_results, out_dir=out_dir,
                                      provenance=provenance, look_date=look,
                                      ri_draws=draws if ri_results else None, notes=notes, figures=figures)
    return EvaluationResult(report, paths, tuple(estimates), quarantined)
