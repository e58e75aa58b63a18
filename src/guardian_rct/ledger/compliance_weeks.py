"""Complete weeks of compliance kept in the trial store, for the weekly report's trend.

A week is stored once the report covers all seven of its days; re-running a week
replaces its row (``INSERT OR REPLACE``), so the trend always shows the latest scoring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from guardian_rct.ledger.records import WeekTotals
from guardian_rct.ledger.schema import ensure_schema
from guardian_rct.ledger.store import connect

__all__ = ["store_weeks", "stored_weeks"]


def store_weeks(store: Path, weeks: Sequence[WeekTotals], *, now: dt.datetime | None = None) -> None:
    """Write (or replace) the given complete weeks in one transaction."""
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    with connect(Path(store)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            ensure_schema(conn)
            for w in weeks:
                conn.execute("INSERT OR REPLACE INTO compliance_weeks VALUES (?, ?, ?, ?, ?, ?)",
                             (w.week, w.scheduled, w.compliant, w.control_days, w.contaminated, stamp))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def stored_weeks(store: Path) -> list[WeekTotals]:
    """Every stored week, in week order."""
    with connect(Path(store)) as conn:
        try:
            rows = conn.execute("SELECT week, scheduled, compliant, control_days, contaminated "
                                "FROM compliance_weeks ORDER BY week").fetchall()
        except Exception:  # a store made before the table existed has no weeks yet
            rows = []
    return [WeekTotals(w, int(s), int(c), int(cd), int(ct)) for w, s, c, cd, ct in rows]
