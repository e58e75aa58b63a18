"""The trial store's SQLite schema: every table, in one place.

This module is the only owner of the schema (DESIGN.md §2): every other module of
:mod:`guardian_rct.ledger` calls :func:`ensure_schema` inside its own transaction before
it reads or writes, and nothing outside ``ledger/`` touches SQLite. Every statement is
``CREATE ... IF NOT EXISTS``, so :func:`ensure_schema` is also the migration of a store
made by an earlier version that lacked a table (the tables were added, never changed).

Tables
------
``meta``
    ``kind`` (``"guardian_rct trial store"``) and ``schema_version``.
``registration``, ``amendments``
    The registered trial (config, seed, fingerprints) and later non-design changes.
``ledger``, ``ledger_head``, ``ledger_exports``
    The hash-chained published schedules, the chain head, and evaluator exports.
``pseudonym_key``
    The HMAC key for officer and device pseudonyms.
``compliance_weeks``
    Complete ISO weeks of compliance, for the weekly report's trend.
``plan``, ``plan_amendments``, ``looks``
    The sealed statistical analysis plan (its canonical JSON and SHA-256, which the
    ledger's genesis hash includes), its numbered, hash-chained amendments, and every
    look at outcome data (each ``evaluate`` or ``panel`` run on the trial's crimes).
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "ensure_schema", "LEDGER_COLUMNS"]

SCHEMA_VERSION = 1

#: Columns of ``ledger`` in table order (the fields of a published record).
LEDGER_COLUMNS = ("seq", "day", "source", "payload", "config_sha256", "hotspots_sha256",
                  "published_at", "note", "package_version", "numpy_version", "prev_hash", "hash")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    protected_sha256 TEXT NOT NULL,
    hotspots_sha256 TEXT NOT NULL,
    hotspot_count INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    package_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS amendments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    config_json TEXT NOT NULL,
    changed TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    day TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('drawn', 'imported')),
    payload TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,
    hotspots_sha256 TEXT NOT NULL,
    published_at TEXT NOT NULL,
    note TEXT NOT NULL,
    package_version TEXT NOT NULL,
    numpy_version TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    evaluator TEXT NOT NULL,
    exported_at TEXT NOT NULL,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    head_hash TEXT NOT NULL,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pseudonym_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS compliance_weeks (
    week TEXT PRIMARY KEY,
    scheduled INTEGER NOT NULL,
    compliant INTEGER NOT NULL,
    control_days INTEGER NOT NULL,
    contaminated INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    plan_json TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    schema_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_amendments (
    number INTEGER PRIMARY KEY,
    config_amendment_seq INTEGER,
    created_at TEXT NOT NULL,
    changes_json TEXT NOT NULL,
    timing TEXT NOT NULL CHECK (timing IN ('before first look', 'after first look')),
    first_look_at TEXT,
    post_hoc INTEGER NOT NULL CHECK (post_hoc IN (0, 1)),
    post_hoc_reason TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS looks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('evaluate', 'panel')),
    at TEXT NOT NULL,
    look_date TEXT,
    crimes_sha256 TEXT NOT NULL,
    package_version TEXT NOT NULL
);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create every table that does not exist yet (idempotent; call inside a transaction)."""
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)
