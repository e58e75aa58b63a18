"""Exchange of allocations with evaluators and other tools (part of the trial ledger).

:func:`export_allocation` writes the full published allocation, controls included, in the
allocation contract of DESIGN.md and records who received it (the only way the control
list leaves the store). The export is recorded *before* the file appears (no record, no
file), the file is written atomically (a temporary file renamed into place) and never
over the store, the config, the hotspot file or the witness.

:func:`import_allocation` appends an allocation made by another tool as ``imported``
ledger records, after checking every day against the registered design
(:mod:`guardian_rct.ledger.allocation_checks`) and the publishing horizon. The import is
recorded in ``ledger_imports`` (who, when, the file's path and SHA-256, the SHA-256 of
the payloads written) and each record's note names its import, so ``ledger verify`` can
match them. Both are re-exported by :mod:`guardian_rct.ledger.publish`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.canonical import canonical_json
from guardian_rct._core.days import experimental_day
from guardian_rct._core.errors import DataError, StoreError, UsageError
from guardian_rct._core.provenance import sha256_file
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import read_allocation_csv, write_allocation_csv
from guardian_rct.design.daily_draw import arms_from_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.ledger.allocation_checks import day_problem, history_problem
from guardian_rct.ledger.publish import insert_record, now_utc, published_allocation
from guardian_rct.ledger.records import (
    IMPORTED_NOTE,
    PublishedSchedule,
    payloads_digest,
    read_records,
)
from guardian_rct.ledger.schema import ensure_schema
from guardian_rct.ledger.store import connect, load_trial_hotspots, open_trial
from guardian_rct.ledger.witness import append_witness

__all__ = ["ExportResult", "export_allocation", "import_allocation", "protected_paths",
           "refuse_protected_output"]


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_allocation` wrote."""

    path: Path
    evaluator: str
    first_day: dt.date
    last_day: dt.date
    rows: int
    head_hash: str

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"path": str(self.path), "evaluator": self.evaluator,
                "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "rows": self.rows, "head_hash": self.head_hash}


def protected_paths(config: TrialConfig) -> dict[Path, str]:
    """Files no output may replace: the store (and its journal), config, hotspots, witness."""
    store = config.trial.store
    paths = {store: "the trial store", Path(f"{store}-wal"): "the trial store's journal",
             Path(f"{store}-shm"): "the trial store's journal",
             config.hotspots.path: "the registered hotspot file",
             config.witness_path: "the ledger's witness file"}
    if config.source is not None:
        paths[config.source] = "the trial config"
    if config.hotspots.boundary is not None:
        paths[config.hotspots.boundary] = "the force boundary file"
    return {Path(os.path.realpath(p)): what for p, what in paths.items()}


def refuse_protected_output(config: TrialConfig, path: Path, option: str) -> Path:
    """``path`` resolved, or a :class:`UsageError` if it names an input or a folder."""
    real = Path(os.path.realpath(path))
    what = protected_paths(config).get(real)
    if what:
        raise UsageError(f"refusing to write over {what}", found=str(path), where=option,
                         fix="give a new file name for the output")
    if real.is_dir():
        raise UsageError("the output is a folder", expected="a file name", found=str(path),
                         where=option, fix="give a file name inside the folder")
    return real


def export_allocation(config: TrialConfig, path: str | Path, *, evaluator: str,
                      now: dt.datetime | None = None) -> ExportResult:
    """Write the full published allocation (controls included) for an evaluator.

    The export, the evaluator's name and the ledger head it covers are recorded in the
    store's ``ledger_exports`` table (and the witness) first; only then is the file
    written, atomically. Windows are written with the trial's UTC offset.

    Raises
    ------
    UsageError
        No evaluator, or ``path`` is the store, config, hotspot file, witness or a folder.
    StoreError
        The export could not be recorded (e.g. the store is locked or read-only): no file
        is written.
    """
    if not evaluator or not evaluator.strip():
        raise UsageError("an export needs the evaluator's name", where="--evaluator",
                         fix="give --evaluator 'Name, organisation'")
    path = Path(path)
    real = refuse_protected_output(config, path, "--out")
    allocation = published_allocation(config, include_future=True)
    days = allocation.days
    moment = now_utc(now)
    stamp = moment.isoformat(timespec="seconds")
    with connect(config.trial.store) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            head_seq, head = conn.execute("SELECT seq, hash FROM ledger_head WHERE id = 1").fetchone()
            conn.execute("INSERT INTO ledger_exports (evaluator, exported_at, first_day, last_day, "
                         "head_hash, path) VALUES (?, ?, ?, ?, ?, ?)",
                         (evaluator.strip(), stamp, days[0].isoformat(), days[-1].isoformat(), head,
                          str(real)))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    append_witness(config.witness_path, "export", head_seq, head, moment)
    _write_atomic(allocation, real, config.trial.timezone)
    return ExportResult(path, evaluator.strip(), days[0], days[-1], len(allocation.frame), head)


def _write_atomic(allocation, path: Path, tz: str) -> None:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write_allocation_csv(allocation, tmp, tz=tz)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_allocation(config: TrialConfig, path: str | Path, *, now: dt.datetime | None = None,
                      imported_by: str | None = None) -> tuple[PublishedSchedule, ...]:
    """Append an allocation made by another tool to the ledger (source ``imported``).

    The file follows the allocation contract. Its days must continue the ledger without
    a gap, lie within the publishing horizon, and each be an allocation the registered
    design could have made (:func:`~guardian_rct.ledger.allocation_checks.day_problem`).
    Days already in the ledger must match it exactly and are skipped. The import is
    recorded (who, when, file SHA-256). Returns the records written.

    Raises
    ------
    DataError
        A day that breaks the design, a gap, a missing hotspot (nothing is written).
    UsageError
        A day beyond the publishing horizon.
    """
    path = Path(path)
    hotspots = load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    file_sha = sha256_file(path) if path.is_file() else ""
    allocation = read_allocation_csv(path, hotspot_ids=hotspots.ids,
                                     first_day=config.trial.start_date,
                                     last_day=config.trial.end_date)
    design = design_from_config(config, hotspots)
    ids = tuple(str(h) for h in design.hotspot_ids)
    payloads = _payloads(config, allocation, path, ids)
    moment = now_utc(now)
    _check_horizon(config, max(payloads), moment)
    stamp = moment.isoformat(timespec="seconds")
    who = (imported_by or _login()).strip() or "unknown"
    with connect(config.trial.store) as conn:
        ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            records = read_records(conn)
            stored = {r.day: r for r in records}
            new = {}
            for day, payload in payloads.items():
                if day in stored:
                    if stored[day].payload != payload:
                        raise StoreError(f"{day} is already published with a different schedule",
                                         where=path, fix="import only days not yet published")
                    continue
                new[day] = payload
            if not new:
                conn.execute("ROLLBACK")
                return ()
            history = [arms_from_payload(r.payload, ids) for r in records]
            expected = records[-1].day + dt.timedelta(days=1) if records else config.trial.start_date
            for day, payload in new.items():
                if day != expected:
                    raise DataError(f"the imported days leave a gap before {day}", where=path,
                                    expected=f"the next day to publish, {expected}", found=str(day),
                                    fix="import a contiguous run of days")
                problem = day_problem(config, design, day, json.loads(payload),
                                      history[-1] if history else None)
                if problem:
                    raise DataError(f"the allocation of {day} could not come from the registered "
                                    f"design: {problem}", where=path,
                                    fix="import only allocations made for this trial's design")
                history.append(arms_from_payload(payload, ids))
                expected = day + dt.timedelta(days=1)
            broken = history_problem(design, np.array(history, dtype=bool).reshape(len(history), len(ids)))
            if broken:
                raise DataError(f"the imported allocation breaks the design: {broken}", where=path,
                                fix="import only allocations made for this trial's design")
            days = sorted(new)
            cur = conn.execute(
                "INSERT INTO ledger_imports (imported_at, imported_by, path, file_sha256, first_day, "
                "last_day, payloads_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stamp, who, str(path.resolve()), file_sha, days[0].isoformat(), days[-1].isoformat(),
                 payloads_digest([new[d] for d in days])))
            note = f"{IMPORTED_NOTE}: import {cur.lastrowid}"
            written = []
            for day in days:
                record = insert_record(conn, reg, records, day, "imported", new[day], stamp, note)
                records.append(record)
                written.append(record)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    append_witness(config.witness_path, "import", written[-1].seq, written[-1].hash, moment)
    return tuple(written)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def _check_horizon(config: TrialConfig, last: dt.date, moment: dt.datetime) -> None:
    today = experimental_day(moment, config.trial.tz, config.trial.day_start_time)
    limit = today + dt.timedelta(days=config.schedule.horizon_days)
    if last > limit:
        raise UsageError(f"the allocation reaches {last}, beyond the publishing horizon",
                         expected=f"days no later than {limit} (today {today} + horizon_days "
                                  f"{config.schedule.horizon_days})", found=str(last),
                         where="[schedule] horizon_days",
                         fix="import days only as they come within the horizon")


def _payloads(config: TrialConfig, allocation, path: Path, ids: tuple[str, ...]) -> dict[dt.date, str]:
    kind = config.design.kind
    payloads = {}
    for day, group in allocation.frame.groupby("date", sort=True):
        missing = sorted(set(ids) - set(group["hotspot_id"]))
        if missing:
            raise DataError(f"the allocation of {day} does not list every hotspot", where=path,
                            expected="every trial hotspot", found=f"{missing[0]} "
                            f"and {len(missing) - 1} more missing" if len(missing) > 1 else
                            f"{missing[0]} missing", fix="give every hotspot a row on every day")
        treated = {}
        for h, rows in group[group["arm"] == "treatment"].groupby("hotspot_id", sort=True):
            treated[str(h)] = [[_ts_iso(s), _ts_iso(e)] for s, e in
                               zip(rows["window_start"], rows["window_end"], strict=True)]
        control = sorted(str(h) for h in group.loc[group["arm"] == "control", "hotspot_id"])
        payloads[day] = canonical_json({"day": day.isoformat(), "design": kind, "treated": treated,
                                        "control": control})
    if not payloads:
        raise DataError("the allocation has no rows", where=path, fix="give at least one day")
    return payloads


def _ts_iso(value: pd.Timestamp) -> str:
    return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
