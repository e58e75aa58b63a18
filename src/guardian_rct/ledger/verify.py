"""Verification of the trial ledger (part of the trial ledger).

:func:`verify` re-checks every published record in order: its number and day, its hash,
its link to the record before (the first links to the registered trial), the config and
hotspot-file hashes it was published under, that it lists every hotspot once, and that
the seed gives the same draw for that day given the records before it; then that the
ledger head points at the last record, and that the sealed analysis plan and its
amendments match their hashes (:func:`guardian_rct.ledger.plan_registry.check_plan`). Re-exported by :mod:`guardian_rct.ledger.publish`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import numpy as np

from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.daily_draw import arms_from_payload, draw_schedule_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.ledger.plan_registry import check_plan
from guardian_rct.ledger.records import genesis_hash, record_from_row, record_hash
from guardian_rct.ledger.schema import LEDGER_COLUMNS
from guardian_rct.ledger.store import connect, load_trial_hotspots, open_trial

__all__ = ["VerifyResult", "verify"]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ``ok`` is False when a record fails; ``bad_seq``/``bad_day`` name the first bad
    record and ``problem`` says what is wrong with it.
    """

    ok: bool
    records: int
    redrawn: int
    head_hash: str | None
    bad_seq: int | None = None
    bad_day: dt.date | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"ok": self.ok, "records": self.records, "redrawn": self.redrawn,
                "head_hash": self.head_hash, "bad_seq": self.bad_seq,
                "bad_day": self.bad_day.isoformat() if self.bad_day else None,
                "problem": self.problem, "notes": list(self.notes)}

    def summary(self) -> str:
        """One readable paragraph."""
        if self.ok:
            text = (f"ledger OK: {self.records} records, chain intact, {self.redrawn} draws "
                    f"re-derived from the seed; head {self.head_hash}")
        else:
            where = f" at record {self.bad_seq}" if self.bad_seq else ""
            where += f" (day {self.bad_day})" if self.bad_day else ""
            text = f"ledger FAILED{where}: {self.problem}"
        return "\n".join([text, *self.notes])


def verify(config: TrialConfig, *, expected_head: str | None = None,
           redraw: bool = True) -> VerifyResult:
    """Re-check the ledger: chain, head, hashes, days and draws.

    Parameters
    ----------
    expected_head
        A head hash noted earlier (e.g. from the daily log); the ledger must still
        contain it, which detects deletion of the latest records.
    redraw
        Re-derive every drawn record from the seed and the records before it.
        Draws made with another numpy version are not re-derived (a note says so).
    """
    hotspots = load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    with connect(config.trial.store) as conn:
        try:
            rows = conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
            head = conn.execute("SELECT seq, hash FROM ledger_head WHERE id = 1").fetchone()
            exports = conn.execute("SELECT evaluator, exported_at, head_hash FROM ledger_exports "
                                   "ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            rows, head, exports = [], None, []
        plan_problem = check_plan(conn)
    if plan_problem is not None:
        return VerifyResult(False, len(rows), 0, head[1] if head else None, None, None, plan_problem)
    records = []
    for row in rows:
        try:
            records.append(record_from_row(row))
        except (ValueError, TypeError):
            return VerifyResult(False, len(rows), 0, head[1] if head else None, row[0], None,
                                f"its day {row[1]!r} is not a date (the record was edited or "
                                "inserted)")
    ids = tuple(str(h) for h in hotspots.ids)
    design = design_from_config(config, hotspots) if redraw else None
    constrained = getattr(design, "constrained", False)
    prev = genesis_hash(reg)
    history: list[np.ndarray] = []
    redrawn, notes = 0, []
    skipped_versions = set()

    def fail(i: int, problem: str) -> VerifyResult:
        record = records[i] if i < len(records) else None
        return VerifyResult(False, len(records), redrawn, head[1] if head else None,
                            record.seq if record else i + 1, record.day if record else None, problem)

    for i, r in enumerate(records):
        if r.seq != i + 1:
            return fail(i, f"expected record number {i + 1}, found {r.seq} (a record was deleted "
                           "or inserted)")
        expected_day = config.trial.start_date + dt.timedelta(days=i)
        if r.day != expected_day:
            return fail(i, f"expected day {expected_day}, found {r.day}")
        if r.prev_hash != prev:
            return fail(i, "does not chain to the record before it (prev_hash differs; a record "
                           "was edited, deleted or inserted before it)")
        values = {c: getattr(r, c) for c in LEDGER_COLUMNS}
        if record_hash(values) != r.hash:
            return fail(i, "its contents do not match its hash (the record was edited)")
        if r.config_sha256 != reg.protected_sha256 or r.hotspots_sha256 != reg.hotspots_sha256:
            return fail(i, "it was published under another config or hotspot file")
        try:
            content = r.content
            arms = arms_from_payload(r.payload, ids)
        except (ValueError, KeyError, TypeError):
            return fail(i, "its schedule is not readable")
        listed = sorted([*content["treated"], *content["control"]])
        if listed != sorted(ids):
            return fail(i, "its schedule does not list every trial hotspot exactly once")
        if redraw and r.source == "drawn":
            if r.numpy_version != np.__version__:
                skipped_versions.add(r.numpy_version)
            else:
                hist = np.array(history, dtype=bool).reshape(i, len(ids)) if constrained else None
                if draw_schedule_payload(config, design, r.day, hist) != r.payload:
                    return fail(i, "its schedule differs from the draw the seed gives for that day")
                redrawn += 1
        history.append(arms)
        prev = r.hash
    if records:
        if head is None or head[0] != records[-1].seq or head[1] != records[-1].hash:
            return fail(len(records) - 1, "the ledger head does not point at the last record "
                        "(records after it were deleted, or the head was edited)")
    hashes = {r.hash for r in records}
    for evaluator, exported_at, exported_head in exports:
        if exported_head not in hashes:
            return VerifyResult(False, len(records), redrawn, head[1] if head else None,
                                None, None, f"the allocation exported to {evaluator} at "
                                f"{exported_at} covered head {exported_head[:16]}…, which is no "
                                "longer in the ledger (records were deleted or rewritten)")
    if expected_head is not None and expected_head not in hashes:
        return VerifyResult(False, len(records), redrawn, head[1] if head else None,
                            None, None, f"the noted head {expected_head[:16]}… is no longer in "
                            "the ledger (records were deleted or rewritten)")
    notes.append(f"analysis plan sealed at registration: SHA-256 {reg.plan_sha256}" if reg.plan_sha256 else
                 "no sealed analysis plan (the trial was registered before sealed plans)")
    if skipped_versions:
        notes.append("draws made with numpy " + ", ".join(sorted(skipped_versions)) +
                     f" were not re-derived (this is numpy {np.__version__}); the chain was checked")
    return VerifyResult(True, len(records), redrawn, head[1] if head else None, notes=tuple(notes))
