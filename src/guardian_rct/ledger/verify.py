"""Verification of the trial ledger (part of the trial ledger).

:func:`verify` re-checks every published record in order: its number and day, its hash,
its link to the record before (the first links to the registered trial), the config and
hotspot-file hashes it was published under, that it lists every hotspot once, and that
the seed gives the same draw for that day given the records before it; then that the
ledger head points at the last record, that every evaluator export is still covered, that
every head in the witness file (:mod:`guardian_rct.ledger.witness`) is still in the
ledger, and that the sealed analysis plan and its amendments match their hashes
(:func:`guardian_rct.ledger.plan_registry.check_plan`). Re-exported by
:mod:`guardian_rct.ledger.publish`.

What cannot be re-derived from the seed is re-derived from what the store recorded and
reported by count, never as a silent OK:

* an **imported** record must name a recorded import (``ledger_imports``: who, when, the
  file's SHA-256) covering its day, the import's payload digest must match its records,
  and the day must be an allocation the design could make (checked again);
* a **simulated** record (horizon lifted from Python) needs a recorded ``simulated``
  event; a drawn record without that mark must have been published within the horizon;
* a record drawn with **another numpy** is chain-checked only (numpy does not promise
  identical streams across versions).

A registered trial with no records fails (nothing published, or the ledger was wiped).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardian_rct._core.days import experimental_day
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.daily_draw import arms_from_payload, draw_schedule_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.protocol import Design
from guardian_rct.ledger.allocation_checks import day_problem, history_problem
from guardian_rct.ledger.plan_registry import check_plan
from guardian_rct.ledger.records import (
    IMPORTED_NOTE,
    SIMULATED_NOTE,
    PublishedSchedule,
    genesis_hash,
    payloads_digest,
    record_from_row,
    record_hash,
)
from guardian_rct.ledger.schema import LEDGER_COLUMNS
from guardian_rct.ledger.store import connect, load_trial_hotspots, open_trial
from guardian_rct.ledger.witness import read_witness

__all__ = ["VerifyResult", "verify"]


class _Failed(Exception):
    """A check failed: ``index`` is the record (or ``None``), ``problem`` what is wrong."""

    def __init__(self, index: int | None, problem: str) -> None:
        super().__init__(problem)
        self.index, self.problem = index, problem


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ``ok`` is False when a check fails; ``bad_seq``/``bad_day`` name the first bad
    record and ``problem`` says what is wrong with it. ``drawn``, ``imported``,
    ``simulated`` and ``foreign_numpy`` count the records of each kind; ``attention``
    lists what an evaluator must know even when ``ok`` (imports, lifted horizons,
    draws not re-derived, a missing witness).
    """

    ok: bool
    records: int
    redrawn: int
    head_hash: str | None
    bad_seq: int | None = None
    bad_day: dt.date | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()
    drawn: int = 0
    imported: int = 0
    simulated: int = 0
    foreign_numpy: int = 0
    imports: int = 0
    exports: int = 0
    witness: str = ""

    @property
    def attention(self) -> tuple[str, ...]:
        """Lines an evaluator must read: records not re-derived from the seed."""
        return tuple(n for n in self.notes if n.startswith("ATTENTION"))

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"ok": self.ok, "records": self.records, "redrawn": self.redrawn,
                "drawn": self.drawn, "imported": self.imported, "simulated": self.simulated,
                "foreign_numpy": self.foreign_numpy, "imports": self.imports,
                "exports": self.exports, "witness": self.witness,
                "head_hash": self.head_hash, "bad_seq": self.bad_seq,
                "bad_day": self.bad_day.isoformat() if self.bad_day else None,
                "problem": self.problem, "notes": list(self.notes)}

    def summary(self) -> str:
        """Readable lines: the verdict, the counts, then every ATTENTION line."""
        if self.ok:
            text = (f"ledger OK: {self.records} records ({self.drawn} drawn, {self.redrawn} "
                    f"re-derived from the seed; {self.imported} imported; {self.simulated} "
                    f"simulated), chain intact; {self.witness}; head {self.head_hash}")
        else:
            where = f" at record {self.bad_seq}" if self.bad_seq else ""
            where += f" (day {self.bad_day})" if self.bad_day else ""
            text = f"ledger FAILED{where}: {self.problem}"
        return "\n".join([text, *self.notes])


@dataclass
class _Tally:
    drawn: int = 0
    redrawn: int = 0
    imported: int = 0
    simulated: int = 0
    foreign: set | None = None
    foreign_count: int = 0


def _load(store: Path) -> dict:
    with connect(store) as conn:
        def rows(sql: str) -> list:
            try:
                return conn.execute(sql).fetchall()
            except sqlite3.OperationalError:
                return []
        head = rows("SELECT seq, hash FROM ledger_head WHERE id = 1")
        sequence = rows("SELECT seq FROM sqlite_sequence WHERE name = 'ledger_exports'")
        return {
            "rows": rows(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq"),
            "head": head[0] if head else None,
            "exports": rows("SELECT id, evaluator, exported_at, head_hash FROM ledger_exports ORDER BY id"),
            "export_seq": sequence[0][0] if sequence else 0,
            "imports": {r[0]: r for r in rows("SELECT id, imported_at, imported_by, file_sha256, "
                                              "first_day, last_day, payloads_sha256 FROM ledger_imports")},
            "simulated_events": len(rows("SELECT id FROM trial_events WHERE kind = 'simulated'")),
            "plan_problem": check_plan(conn),
        }


def verify(config: TrialConfig, *, expected_head: str | None = None, redraw: bool = True,
           witness: bool = True) -> VerifyResult:
    """Re-check the ledger: chain, head, hashes, days, draws, imports, exports, witness.

    Parameters
    ----------
    expected_head
        A head hash noted earlier (e.g. from the daily log); the ledger must still
        contain it, which detects deletion of the latest records.
    redraw
        Re-derive every drawn record from the seed and the records before it.
        Draws made with another numpy version are not re-derived (counted).
    witness
        Check the witness file (``[schedule] witness``); on by default. Turn it off only
        for a store made before witness files existed (the result says it was skipped).
    """
    hotspots = load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    data = _load(config.trial.store)
    head = data["head"]
    if data["plan_problem"] is not None:
        return VerifyResult(False, len(data["rows"]), 0, head[1] if head else None, None, None,
                            data["plan_problem"])
    records: list[PublishedSchedule] = []
    for row in data["rows"]:
        try:
            records.append(record_from_row(row))
        except (ValueError, TypeError):
            return VerifyResult(False, len(data["rows"]), 0, head[1] if head else None, row[0], None,
                                f"its day {row[1]!r} is not a date (the record was edited or inserted)")
    design = design_from_config(config, hotspots)
    tally = _Tally(foreign=set())
    notes: list[str] = []
    try:
        _walk(config, reg, design, records, data, tally, redraw)
        _check_after(config, records, data, expected_head)
        witness_text = _check_witness(config, records, data, notes) if witness else \
            "witness not checked (--no-witness)"
    except _Failed as failed:
        record = records[failed.index] if failed.index is not None and failed.index < len(records) else None
        return VerifyResult(False, len(records), tally.redrawn, head[1] if head else None,
                            record.seq if record else None, record.day if record else None,
                            failed.problem, drawn=tally.drawn, imported=tally.imported,
                            simulated=tally.simulated, foreign_numpy=tally.foreign_count)
    notes[:0] = _attention(tally, len(data["imports"]))
    notes.append(f"analysis plan sealed at registration: SHA-256 {reg.plan_sha256}" if reg.plan_sha256 else
                 "no sealed analysis plan (the trial was registered before sealed plans)")
    if not witness:
        notes.append("ATTENTION: the witness file was not checked: deletion of the latest records "
                     "is detected only against a head noted elsewhere (--head)")
    return VerifyResult(True, len(records), tally.redrawn, head[1] if head else None, notes=tuple(notes),
                        drawn=tally.drawn, imported=tally.imported, simulated=tally.simulated,
                        foreign_numpy=tally.foreign_count, imports=len(data["imports"]),
                        exports=len(data["exports"]), witness=witness_text)


def _attention(tally: _Tally, imports: int) -> list[str]:
    lines = []
    if tally.imported:
        lines.append(f"ATTENTION: {tally.imported} records were IMPORTED from another tool "
                     f"({imports} recorded imports): checked against the design and their import "
                     "records, but not drawn by this trial's seed")
    if tally.simulated:
        lines.append(f"ATTENTION: {tally.simulated} records were published SIMULATED (publishing "
                     "horizon lifted from Python): this is not a concealed real trial")
    if tally.foreign_count:
        lines.append(f"ATTENTION: {tally.foreign_count} records drawn with numpy "
                     + ", ".join(sorted(tally.foreign)) + f" were not re-derived (this is numpy "
                     f"{np.__version__}); only their chain was checked")
    return lines


def _walk(config: TrialConfig, reg, design: Design, records: list[PublishedSchedule], data: dict,
          tally: _Tally, redraw: bool) -> None:
    ids = tuple(str(h) for h in design.hotspot_ids)
    prev = genesis_hash(reg)
    history: list[np.ndarray] = []
    for i, r in enumerate(records):
        _check_chain(config, reg, r, i, prev, ids)
        arms = arms_from_payload(r.payload, ids)
        if r.source == "imported":
            _check_imported(config, design, r, i, data, history)
            tally.imported += 1
        else:
            _check_drawn_mark(config, r, i, data, tally)
            tally.drawn += 1
            if redraw and r.numpy_version != np.__version__:
                tally.foreign.add(r.numpy_version)
                tally.foreign_count += 1
            elif redraw:
                hist = np.array(history, dtype=bool).reshape(i, len(ids)) if design.constrained else None
                if draw_schedule_payload(config, design, r.day, hist) != r.payload:
                    raise _Failed(i, "its schedule differs from the draw the seed gives for that day")
                tally.redrawn += 1
        history.append(arms)
        prev = r.hash
    if any(r.source == "imported" for r in records):
        broken = history_problem(design, np.array(history, dtype=bool).reshape(len(history), len(ids)))
        if broken:
            raise _Failed(None, f"the imported records break the design: {broken}")
    _check_imports(records, data)


def _check_chain(config: TrialConfig, reg, r: PublishedSchedule, i: int, prev: str,
                 ids: tuple[str, ...]) -> None:
    if r.seq != i + 1:
        raise _Failed(i, f"expected record number {i + 1}, found {r.seq} (a record was deleted or inserted)")
    expected_day = config.trial.start_date + dt.timedelta(days=i)
    if r.day != expected_day:
        raise _Failed(i, f"expected day {expected_day}, found {r.day}")
    if r.prev_hash != prev:
        raise _Failed(i, "does not chain to the record before it (prev_hash differs; a record "
                         "was edited, deleted or inserted before it)")
    values = {c: getattr(r, c) for c in LEDGER_COLUMNS}
    if record_hash(values) != r.hash:
        raise _Failed(i, "its contents do not match its hash (the record was edited)")
    if r.config_sha256 != reg.protected_sha256 or r.hotspots_sha256 != reg.hotspots_sha256:
        raise _Failed(i, "it was published under another config or hotspot file")
    try:
        content = r.content
        listed = sorted([*content["treated"], *content["control"]])
    except (ValueError, KeyError, TypeError):
        raise _Failed(i, "its schedule is not readable") from None
    if listed != sorted(ids):
        raise _Failed(i, "its schedule does not list every trial hotspot exactly once")


def _within_horizon(config: TrialConfig, r: PublishedSchedule) -> bool:
    try:
        at = dt.datetime.fromisoformat(r.published_at)
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    today = experimental_day(at, config.trial.tz, config.trial.day_start_time)
    return r.day <= today + dt.timedelta(days=config.schedule.horizon_days)


def _check_drawn_mark(config: TrialConfig, r: PublishedSchedule, i: int, data: dict,
                      tally: _Tally) -> None:
    if r.note == SIMULATED_NOTE:
        if not data["simulated_events"]:
            raise _Failed(i, "it is marked simulated, but the store records no simulated publish "
                             "(the mark was added by an edit)")
        tally.simulated += 1
    elif r.note != "":
        raise _Failed(i, f"a drawn record with an unknown note {r.note[:60]!r} (the record was edited)")
    elif not _within_horizon(config, r):
        raise _Failed(i, f"it was published at {r.published_at}, beyond the publishing horizon, "
                         "with no simulated mark")


def _check_imported(config: TrialConfig, design: Design, r: PublishedSchedule, i: int, data: dict,
                    history: list[np.ndarray]) -> None:
    prefix = f"{IMPORTED_NOTE}: import "
    number = r.note[len(prefix):] if r.note.startswith(prefix) else ""
    entry = data["imports"].get(int(number)) if number.isdigit() else None
    if entry is None:
        raise _Failed(i, "it is marked imported, but names no recorded import (ledger_imports); "
                         "an edit made it look imported")
    if not entry[4] <= r.day.isoformat() <= entry[5]:
        raise _Failed(i, f"import {entry[0]} covered {entry[4]} to {entry[5]}, not this day")
    if not _within_horizon(config, r):
        raise _Failed(i, f"it was imported at {r.published_at}, beyond the publishing horizon")
    problem = day_problem(config, design, r.day, r.content, history[-1] if history else None)
    if problem:
        raise _Failed(i, f"the imported schedule could not come from the registered design: {problem}")


def _check_imports(records: list[PublishedSchedule], data: dict) -> None:
    for number, entry in sorted(data["imports"].items()):
        note = f"{IMPORTED_NOTE}: import {number}"
        payloads = [r.payload for r in records if r.source == "imported" and r.note == note]
        if payloads_digest(payloads) != entry[6]:
            raise _Failed(None, f"import {number} (file SHA-256 {entry[3][:12]}…, by {entry[2]} at "
                                f"{entry[1]}) does not match the records it wrote (they were edited "
                                "or deleted)")


def _check_after(config: TrialConfig, records: list[PublishedSchedule], data: dict,
                 expected_head: str | None) -> None:
    head = data["head"]
    hashes = {r.hash for r in records}
    exports = data["exports"]
    ids = [e[0] for e in exports]
    if ids != list(range(1, len(ids) + 1)) or data["export_seq"] != len(ids):
        raise _Failed(None, f"the export log has {len(ids)} entries but {data['export_seq']} exports "
                            "were recorded (an export record was deleted)")
    for _, evaluator, exported_at, exported_head in exports:
        if exported_head not in hashes:
            raise _Failed(None, f"the allocation exported to {evaluator} at {exported_at} covered head "
                                f"{exported_head[:16]}…, which is no longer in the ledger (records "
                                "were deleted or rewritten)")
    if expected_head is not None and expected_head not in hashes:
        raise _Failed(None, f"the noted head {expected_head[:16]}… is no longer in the ledger "
                            "(records were deleted or rewritten)")
    if not records:
        raise _Failed(None, "the ledger of this registered trial has no records (nothing was "
                            "published yet, or the ledger was wiped)")
    if head is None or head[0] != records[-1].seq or head[1] != records[-1].hash:
        raise _Failed(len(records) - 1, "the ledger head does not point at the last record "
                                        "(records after it were deleted, or the head was edited)")


def _check_witness(config: TrialConfig, records: list[PublishedSchedule], data: dict,
                   notes: list[str]) -> str:
    path = config.witness_path
    lines = read_witness(path)
    if lines is None:
        raise _Failed(None, f"the witness file {path} is missing (it was deleted or moved; restore "
                            "it, or for a store older than witness files verify with --no-witness)")
    for line in lines:
        if not 1 <= line.seq <= len(records) or records[line.seq - 1].hash != line.head:
            raise _Failed(None, f"the witness file says record {line.seq} had head {line.head[:16]}… "
                                f"after the {line.event} of {line.at}; the ledger no longer has it "
                                "(records were deleted or rewritten)")
    witnessed_exports = sum(1 for line in lines if line.event == "export")
    if witnessed_exports > len(data["exports"]):
        raise _Failed(None, f"the witness file names {witnessed_exports} exports but the export log "
                            f"has {len(data['exports'])} (an export record was deleted)")
    last = max((line.seq for line in lines), default=0)
    if last < len(records):
        notes.append(f"ATTENTION: the last {len(records) - last} records are not in the witness "
                     f"file {path} (its update failed, or they were added by an edit)")
    return f"witness {path.name} agrees ({len(lines)} heads)"
