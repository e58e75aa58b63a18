"""A published day as stored in the ledger, and the hash chain over records.

Each record's ``hash`` is SHA-256 of its other fields as canonical JSON, and its
``prev_hash`` is the previous record's hash; the first record chains to the genesis hash
of the registration (trial name, seed, protected config and hotspot-file hashes, and the
sealed analysis plan's SHA-256 when the trial has one). This module holds the record types
and the hashing; it reads but never writes the store. The plan's record types
(:class:`SealedPlan`, :class:`PlanAmendment`, :class:`PlanHistory`, :class:`Look`) are
re-exported here for the reports, which may read only this module of the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from guardian_rct._core.canonical import canonical_json, sha256_text
from guardian_rct.ledger.looks import Look
from guardian_rct.ledger.plan_registry import ConfigChange, PlanAmendment, PlanHistory, SealedPlan
from guardian_rct.ledger.schema import LEDGER_COLUMNS
from guardian_rct.ledger.store import Registration

__all__ = ["PublishedSchedule", "WeekTotals", "record_from_row", "read_records", "genesis_hash", "record_hash",
           "SIMULATED_NOTE", "IMPORTED_NOTE", "payloads_digest", "Look", "ConfigChange", "PlanAmendment",
           "PlanHistory", "SealedPlan"]

SIMULATED_NOTE = "simulated trial: publishing horizon not applied"
IMPORTED_NOTE = "imported allocation"


@dataclass(frozen=True)
class PublishedSchedule:
    """One published day, exactly as stored.

    ``payload`` is canonical JSON: ``{"control": [ids], "day": "YYYY-MM-DD", "design":
    kind, "treated": {id: [[start, end], ...]}}`` with UTC ISO 8601 times.
    """

    seq: int
    day: dt.date
    source: Literal["drawn", "imported"]
    payload: str
    config_sha256: str
    hotspots_sha256: str
    published_at: str
    note: str
    package_version: str
    numpy_version: str
    prev_hash: str
    hash: str

    @property
    def content(self) -> dict:
        """The payload parsed."""
        return json.loads(self.payload)

    @property
    def simulated(self) -> bool:
        """Published by a simulated trial (``publish_range(..., simulated=True)``, the demo):
        the record's note, part of its hash, says so."""
        return self.note == SIMULATED_NOTE

    @property
    def treated(self) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
        """Treated hotspot → its scheduled visits (UTC start, end)."""
        return {h: [(pd.Timestamp(s), pd.Timestamp(e)) for s, e in visits]
                for h, visits in self.content["treated"].items()}

    @property
    def control(self) -> tuple[str, ...]:
        """Control hotspots (never shown to officers)."""
        return tuple(self.content["control"])

    def to_dict(self) -> dict:
        """The record as JSON-ready data (payload parsed)."""
        out = {c: getattr(self, c) for c in LEDGER_COLUMNS}
        out["day"] = self.day.isoformat()
        out["payload"] = self.content
        return out

    def allocation_rows(self) -> list[dict]:
        """Rows in the allocation contract (one per visit; one per control)."""
        rows = []
        for h, visits in sorted(self.treated.items()):
            for start, end in visits:
                rows.append({"date": self.day, "hotspot_id": h, "arm": "treatment",
                             "window_start": start, "window_end": end})
        for h in self.control:
            rows.append({"date": self.day, "hotspot_id": h, "arm": "control",
                         "window_start": pd.NaT, "window_end": pd.NaT})
        return rows


def record_from_row(row: tuple) -> PublishedSchedule:
    """A record from a ``ledger`` row (columns in :data:`LEDGER_COLUMNS` order)."""
    values = dict(zip(LEDGER_COLUMNS, row, strict=True))
    values["day"] = dt.date.fromisoformat(values["day"])
    return PublishedSchedule(**values)


def genesis_hash(reg: Registration) -> str:
    """The hash the first record chains to: the registered trial's identity.

    Includes the sealed analysis plan's SHA-256 when the trial has one (stores registered
    before sealed plans have none and keep their original genesis hash).
    """
    identity = {"genesis": "guardian_rct ledger", "trial": reg.name, "seed": reg.seed,
                "protected_sha256": reg.protected_sha256, "hotspots_sha256": reg.hotspots_sha256}
    if reg.plan_sha256 is not None:
        identity["plan_sha256"] = reg.plan_sha256
    return sha256_text(canonical_json(identity))


def record_hash(values: dict) -> str:
    """SHA-256 of a record's fields (all but ``hash``) as canonical JSON."""
    fields = {c: values[c] for c in LEDGER_COLUMNS if c != "hash"}
    fields["day"] = str(fields["day"])
    return sha256_text(canonical_json(fields))


def payloads_digest(payloads: list[str]) -> str:
    """SHA-256 over an import's payloads in day order (kept in ``ledger_imports``)."""
    return sha256_text("\n".join(payloads))


def read_records(conn: sqlite3.Connection) -> list[PublishedSchedule]:
    """Every published record in day order (none when the ledger table does not exist yet)."""
    try:
        rows = conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    return [record_from_row(r) for r in rows]


@dataclass(frozen=True)
class WeekTotals:
    """One ISO week's compliance counts, as kept in ``compliance_weeks`` for the trend.

    ``partial`` is true for a week the report covers only in part, or with patrols still
    ``pending`` (deadline after the data end); such weeks are never stored.
    """

    week: str
    scheduled: int
    compliant: int
    control_days: int
    contaminated: int
    partial: bool = False
    pending: int = 0

    @property
    def rate(self) -> float | None:
        """Share of decided (not pending) patrols that were compliant (``None`` when none)."""
        decided = self.scheduled - self.pending
        return round(self.compliant / decided, 4) if decided else None
