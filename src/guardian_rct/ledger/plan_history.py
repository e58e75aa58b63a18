"""Read a trial's plan history from its store, and record looks at outcome data.

:func:`read_plan_history` opens the trial store and returns the sealed plan, its
amendments and the recorded looks (:class:`~guardian_rct.ledger.plan_registry.PlanHistory`),
or ``None`` for a trial registered before sealed plans. :func:`note_look` appends a look
(each ``evaluate`` or ``panel`` run on the trial's crimes) in its own transaction; a run
without a trial store (e.g. an imported allocation) records nothing and says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from guardian_rct._core.provenance import package_version
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.ledger.looks import Look, insert_look, read_looks
from guardian_rct.ledger.plan_registry import PlanHistory, read_plan, read_plan_amendments
from guardian_rct.ledger.store import connect, open_trial

__all__ = ["read_plan_history", "note_look"]


def read_plan_history(config: TrialConfig) -> PlanHistory | None:
    """The plan history of the registered trial (``None``: no sealed plan in the store).

    Raises
    ------
    StoreError
        No store, or it holds another trial (as :func:`~guardian_rct.ledger.store.open_trial`).
    """
    open_trial(config)
    with connect(config.trial.store) as conn:
        sealed = read_plan(conn)
        if sealed is None:
            return None
        return PlanHistory(sealed, read_plan_amendments(conn), read_looks(conn))


def note_look(config: TrialConfig, *, kind: Literal["evaluate", "panel"], crimes_sha256: str,
              look_date: dt.date | None = None, now: dt.datetime | None = None) -> Look | None:
    """Record a look at outcome data; ``None`` (nothing written) when the trial has no store."""
    if not config.trial.store.exists():
        return None
    open_trial(config)
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    with connect(config.trial.store) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            look = insert_look(conn, kind=kind, at=stamp, look_date=look_date, crimes_sha256=crimes_sha256,
                               package_version=package_version())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return look
