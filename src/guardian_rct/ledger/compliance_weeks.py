"""Complete weeks of compliance kept in the trial store, for the weekly report's trend.

A week is stored once it is complete (all seven days, every deadline passed and covered
by the pings; see :func:`guardian_rct.compliance.weeks.week_totals`); re-running a week
replaces its row (``INSERT OR REPLACE``), so the trend always shows the latest scoring.
A partial week (``WeekTotals.partial``) is refused here, so a caller cannot store one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from guardian_rct.ledger.records import WeekTotals
from guardian_rct.ledger.schema import ensure_schema
from guardian_rct.ledger.store import connect

__all__ = ["store_weeks", "stored_weeks", "last_stored_week"]


def store_weeks(store: Path, weeks: Sequence[WeekTotals], *, now: dt.datetime | None = None) -> None:
    """Write (or replace) the given complete weeks in one transaction.

    Raises
    ------
    ValueError
        If a week is partial or has pending patrols (nothing is written).
    """
    bad = [w.week for w in weeks if w.partial or w.pending]
    if bad:
        raise ValueError(f"only complete weeks are stored; partial or pending: {', '.join(bad)}")
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


def last_stored_week(store: Path) -> tuple[WeekTotals, str] | None:
    """The latest stored complete week and when it was written (UTC ISO), or ``None``."""
    with connect(Path(store)) as conn:
        try:
            row = conn.execute("SELECT week, scheduled, compliant, control_days, contaminated, updated_at "
                               "FROM compliance_weeks ORDER BY week DESC LIMIT 1").fetchone()
        except Exception:  # a store made before the table existed has no weeks yet
            row = None
    if row is None:
        return None
    return WeekTotals(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])), str(row[5])
