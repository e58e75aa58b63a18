"""A real plan history for report tests: the plan of ``evaluation_fixtures.built_trial``
sealed, amended and looked at through the ledger's own functions (in-memory SQLite)."""

from __future__ import annotations

import dataclasses
import sqlite3

from guardian_rct.harm.index import default_harm_index
from guardian_rct.ledger.looks import insert_look, read_looks
from guardian_rct.ledger.plan_registry import (
    PlanHistory,
    read_plan_amendments,
    record_plan_amendment,
    seal_plan,
)
from guardian_rct.reports.deviations import PlanContext
from guardian_rct.reports.plan import build_plan


def plan_context_for(config, trial) -> PlanContext:
    """Sealed plan of ``trial`` (a BuiltTrial), one look, then an amendment of ri_draws."""
    harm = default_harm_index()
    plan = build_plan(config, trial.hotspots, trial.design, harm)
    amended_config = dataclasses.replace(config, evaluation=dataclasses.replace(config.evaluation, ri_draws=999))
    amended = build_plan(amended_config, trial.hotspots, trial.design, harm)
    conn = sqlite3.connect(":memory:")
    sealed = seal_plan(conn, plan.canonical_json(), "2023-03-01T09:00:00+00:00")
    insert_look(conn, kind="panel", at="2023-03-25T10:00:00+00:00", look_date=None, crimes_sha256="0" * 64,
                package_version="test")
    record_plan_amendment(conn, config_amendment_seq=1, old_config_json='{"evaluation": {"ri_draws": 500}}',
                          new_config_json='{"evaluation": {"ri_draws": 999}}', plan_json=amended.canonical_json(),
                          stamp="2023-03-26T10:00:00+00:00")
    history = PlanHistory(sealed, read_plan_amendments(conn), read_looks(conn))
    return PlanContext(history, harm.to_dict(), trial.hotspots.sha256, amended.to_dict())
