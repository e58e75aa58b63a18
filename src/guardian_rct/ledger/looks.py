"""Looks at outcome data: every ``evaluate`` or ``panel`` run on the trial's crimes.

A statistical analysis plan is credible only if it was fixed before anyone saw outcome
data, so the store keeps a row for every run that read the trial's crimes: what kind of
run, when (UTC), the last experimental day it evaluated, and the SHA-256 of the crimes
file. :mod:`guardian_rct.ledger.plan_registry` reads the first look to label each plan
amendment "before first look" or "after first look".

The functions here work on an open connection inside the caller's transaction; the
store-level wrapper is :func:`guardian_rct.ledger.plan_history.note_look`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from guardian_rct.ledger.schema import ensure_schema

__all__ = ["Look", "LOOK_KINDS", "insert_look", "read_looks", "first_look_at"]

LOOK_KINDS = ("evaluate", "panel")


@dataclass(frozen=True)
class Look:
    """One look at outcome data, as stored in ``looks``."""

    id: int
    kind: Literal["evaluate", "panel"]
    at: str
    look_date: dt.date | None
    crimes_sha256: str
    package_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {"id": self.id, "kind": self.kind, "at": self.at,
                "look_date": self.look_date.isoformat() if self.look_date else None,
                "crimes_sha256": self.crimes_sha256, "package_version": self.package_version}


def insert_look(conn: sqlite3.Connection, *, kind: Literal["evaluate", "panel"], at: str,
                look_date: dt.date | None, crimes_sha256: str, package_version: str) -> Look:
    """Append a look (call inside a transaction); returns the stored record."""
    if kind not in LOOK_KINDS:
        raise ValueError(f"a look is one of {LOOK_KINDS}, not {kind!r}")
    ensure_schema(conn)
    cur = conn.execute(
        "INSERT INTO looks (kind, at, look_date, crimes_sha256, package_version) VALUES (?, ?, ?, ?, ?)",
        (kind, at, look_date.isoformat() if look_date else None, crimes_sha256, package_version))
    return Look(int(cur.lastrowid), kind, at, look_date, crimes_sha256, package_version)


def read_looks(conn: sqlite3.Connection) -> tuple[Look, ...]:
    """Every recorded look in the order they were made (none in a store that predates looks)."""
    try:
        rows = conn.execute("SELECT id, kind, at, look_date, crimes_sha256, package_version FROM looks "
                            "ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return ()
    return tuple(Look(r[0], r[1], r[2], dt.date.fromisoformat(r[3]) if r[3] else None, r[4], r[5])
                 for r in rows)


def first_look_at(conn: sqlite3.Connection) -> str | None:
    """UTC time of the first look at outcome data, or ``None`` when nobody has looked."""
    looks = read_looks(conn)
    return looks[0].at if looks else None
