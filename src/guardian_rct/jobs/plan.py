"""The statistical analysis plan job: build, register (seal or amend), write, verify, audit.

* :func:`register_trial` is what ``guardian-rct init`` runs: it builds the plan from the
  config (:func:`guardian_rct.reports.plan.build_plan`), registers the trial with the
  plan's canonical JSON (sealed at creation; a numbered amendment when an analysis
  section changed, :mod:`guardian_rct.ledger.plan_registry`) and writes the plan's
  documents next to the store.
* :func:`write_plan` (``guardian-rct plan --out``) writes the plan in force from the store,
  or a draft when the trial is not registered with a sealed plan.
* :func:`verify_plan_file` (``guardian-rct plan --verify``) checks a copy against the store.
* :func:`evaluation_plan_context` gives the milestone evaluation what its
  "Registered plan and deviations" section compares against.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardian_rct._core.errors import StoreError
from guardian_rct.config.trial_config import TrialConfig, config_from_dict
from guardian_rct.design.factory import design_from_config
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.harm.index import load_harm_index
from guardian_rct.ledger.plan_history import read_plan_history
from guardian_rct.ledger.records import PlanHistory
from guardian_rct.ledger.store import InitResult, init_trial, load_trial_hotspots, registered_config
from guardian_rct.reports.deviations import PlanContext
from guardian_rct.reports.plan import AnalysisPlan, build_plan
from guardian_rct.reports.plan_documents import (
    CopyCheck,
    PlanVersion,
    check_copy,
    write_plan_documents,
)

__all__ = ["plan_for_config", "plan_versions", "register_trial", "RegisterResult", "write_plan",
           "PlanWriteResult", "verify_plan_file", "evaluation_plan_context", "default_plan_dir"]


def plan_for_config(config: TrialConfig, hotspots: HotspotSet | None = None) -> AnalysisPlan:
    """The plan built from ``config`` (its design and harm index declared as the trial does)."""
    hotspots = hotspots or load_trial_hotspots(config)
    design = design_from_config(config, hotspots)
    harm = load_harm_index(config.harm.index, base_dir=config.base_dir)
    return build_plan(config, hotspots, design, harm)


def default_plan_dir(config: TrialConfig) -> Path:
    """Where ``init`` writes the plan: ``analysis_plan/`` beside the trial store."""
    return config.trial.store.parent / "analysis_plan"


def plan_versions(history: PlanHistory) -> list[PlanVersion]:
    """Every version of the plan in the store: 0 as registered, then one per amendment."""
    amendments = [a.to_dict() for a in history.amendments]
    versions = [PlanVersion(history.plan.content, 0, "sealed", history.plan.sha256, history.plan.registered_at)]
    for i, a in enumerate(history.amendments, start=1):
        versions.append(PlanVersion(a.content, i, "sealed", history.plan.sha256, history.plan.registered_at,
                                    tuple(amendments[:i])))
    return versions


@dataclass(frozen=True)
class RegisterResult:
    """``init`` with its plan: the registration outcome and the plan documents written."""

    init: InitResult
    plan_sha256: str | None
    plan_paths: dict[str, Path]

    def to_dict(self) -> dict[str, Any]:
        return {**self.init.to_dict(), "plan_in_force_sha256": self.plan_sha256,
                "plan_files": {k: str(v) for k, v in self.plan_paths.items()}}


def register_trial(config: TrialConfig, *, now: dt.datetime | None = None,
                   plan_dir: str | Path | None = None) -> RegisterResult:
    """Register the trial with its analysis plan and write the plan documents.

    The plan documents are written to ``plan_dir`` (default :func:`default_plan_dir`);
    an existing store registered before sealed plans keeps working without one.
    """
    hotspots = load_trial_hotspots(config)
    plan = plan_for_config(config, hotspots)
    result = init_trial(config, hotspots=hotspots, now=now, plan_json=plan.canonical_json())
    written = write_plan(config, plan_dir or default_plan_dir(config), hotspots=hotspots)
    return RegisterResult(result, written.version.sha256 if written.version.status == "sealed" else None,
                          written.paths)


@dataclass(frozen=True)
class PlanWriteResult:
    """What :func:`write_plan` wrote and from what."""

    version: PlanVersion
    paths: dict[str, Path]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.version.status, "version": self.version.version, "sha256": self.version.sha256,
                "files": {k: str(v) for k, v in self.paths.items()}, "notes": list(self.notes)}


def _history_or_none(config: TrialConfig) -> tuple[PlanHistory | None, str]:
    if not config.trial.store.exists():
        return None, "the trial is not registered yet (run 'guardian-rct init')"
    try:
        history = read_plan_history(config)
    except StoreError as exc:
        return None, f"the trial store cannot be used for this config ({exc.problem})"
    if history is None:
        return None, "the trial was registered before sealed analysis plans (no plan in its store)"
    return history, ""


def write_plan(config: TrialConfig, out_dir: str | Path, *, hotspots: HotspotSet | None = None) -> PlanWriteResult:
    """Write the plan in force (from the store) or, unregistered, a draft built from the config."""
    history, why = _history_or_none(config)
    notes = []
    if history is None:
        plan = plan_for_config(config, hotspots)
        version = PlanVersion(plan.to_dict(), 0, "draft", note=f"Draft: {why}.")
        notes.append(f"draft plan: {why}")
    else:
        version = plan_versions(history)[-1]
        if plan_for_config(config, hotspots).canonical_json() != history.current_json:
            notes.append("the config differs from the plan in force: run 'guardian-rct init' to record the "
                         "change as a plan amendment")
    return PlanWriteResult(version, write_plan_documents(version, out_dir), tuple(notes))


def verify_plan_file(config: TrialConfig, path: str | Path) -> CopyCheck:
    """Check a copy of the plan (HTML, Markdown or JSON) against the trial store."""
    history, why = _history_or_none(config)
    if history is None:
        raise StoreError("there is no sealed plan to check the copy against", where=config.trial.store,
                         found=why, fix="register the trial with 'guardian-rct init' first")
    return check_copy(path, plan_versions(history))


def evaluation_plan_context(config: TrialConfig, hotspots: HotspotSet, harm: dict[str, Any]) -> PlanContext:
    """The plan history and this run's harm index, hotspot file and config plan, for the audit."""
    history, why = _history_or_none(config)
    if history is None:
        return PlanContext(None, harm, hotspots.sha256, None, why)
    registered = config_from_dict(registered_config(config), source=config.source)
    return PlanContext(history, harm, hotspots.sha256, plan_for_config(config, hotspots).to_dict(),
                       registered_config_plan=plan_for_config(registered, hotspots).to_dict())
