"""Exchange of allocations with evaluators and other tools (part of the trial ledger).

:func:`export_allocation` writes the full published allocation, controls included, in the
allocation contract of DESIGN.md and records who received it (the only way the control
list leaves the store). :func:`import_allocation` appends an allocation made by another
tool as ``imported`` ledger records. Both are re-exported by :mod:`guardian_rct.ledger.publish`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from guardian_rct._core.canonical import canonical_json
from guardian_rct._core.errors import DataError, StoreError, UsageError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import read_allocation_csv, write_allocation_csv
from guardian_rct.ledger.publish import insert_record, now_utc, published_allocation
from guardian_rct.ledger.records import IMPORTED_NOTE, PublishedSchedule, read_records
from guardian_rct.ledger.schema import ensure_schema
from guardian_rct.ledger.store import connect, load_trial_hotspots, open_trial

__all__ = ["ExportResult", "export_allocation", "import_allocation"]


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


def export_allocation(config: TrialConfig, path: str | Path, *, evaluator: str,
                      now: dt.datetime | None = None) -> ExportResult:
    """Write the full published allocation (controls included) for an evaluator.

    The export, the evaluator's name and the ledger head it covers are recorded in the
    store's ``ledger_exports`` table. Windows are written with the trial's UTC offset.
    """
    if not evaluator or not evaluator.strip():
        raise UsageError("an export needs the evaluator's name", where="--evaluator",
                         fix="give --evaluator 'Name, organisation'")
    allocation = published_allocation(config)
    path = Path(path)
    write_allocation_csv(allocation, path, tz=config.trial.timezone)
    days = allocation.days
    stamp = now_utc(now).isoformat(timespec="seconds")
    with connect(config.trial.store) as conn:
        conn.execute("BEGIN IMMEDIATE")
        head = conn.execute("SELECT hash FROM ledger_head WHERE id = 1").fetchone()[0]
        conn.execute("INSERT INTO ledger_exports (evaluator, exported_at, first_day, last_day, "
                     "head_hash, path) VALUES (?, ?, ?, ?, ?, ?)",
                     (evaluator.strip(), stamp, days[0].isoformat(), days[-1].isoformat(), head,
                      str(path.resolve())))
        conn.execute("COMMIT")
    return ExportResult(path, evaluator.strip(), days[0], days[-1], len(allocation.frame), head)


def import_allocation(config: TrialConfig, path: str | Path, *,
                      now: dt.datetime | None = None) -> tuple[PublishedSchedule, ...]:
    """Append an allocation made by another tool to the ledger (source ``imported``).

    The file follows the allocation contract. Its days must continue the ledger without
    a gap, each listing every trial hotspot once (treated hotspots with their windows).
    Days already in the ledger must match it exactly and are skipped. Returns the
    records written.
    """
    hotspots = load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    allocation = read_allocation_csv(path, hotspot_ids=hotspots.ids,
                                     first_day=config.trial.start_date,
                                     last_day=config.trial.end_date)
    ids = tuple(str(h) for h in hotspots.ids)
    kind = config.design.kind
    payloads = {}
    for day, group in allocation.frame.groupby("date", sort=True):
        missing = sorted(set(ids) - set(group["hotspot_id"]))
        if missing:
            raise DataError(f"the allocation of {day} does not list every hotspot", where=path,
                            expected=f"all {len(ids)} trial hotspots", found=f"{missing[0]} "
                            f"and {len(missing) - 1} more missing" if len(missing) > 1 else
                            f"{missing[0]} missing", fix="give every hotspot a row on every day")
        treated = {}
        for h, rows in group[group["arm"] == "treatment"].groupby("hotspot_id", sort=True):
            treated[str(h)] = [[_ts_iso(s), _ts_iso(e)] for s, e in
                               zip(rows["window_start"], rows["window_end"], strict=True)]
        control = sorted(str(h) for h in group.loc[group["arm"] == "control", "hotspot_id"])
        payloads[day] = canonical_json({"day": day.isoformat(), "design": kind, "treated": treated,
                                    "control": control})
    stamp = now_utc(now).isoformat(timespec="seconds")
    written = []
    with connect(config.trial.store) as conn:
        ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            records = read_records(conn)
            stored = {r.day: r for r in records}
            for day, payload in payloads.items():
                if day in stored:
                    if stored[day].payload != payload:
                        raise StoreError(f"{day} is already published with a different schedule",
                                         where=path, fix="import only days not yet published")
                    continue
                expected = records[-1].day + dt.timedelta(days=1) if records else config.trial.start_date
                if day != expected:
                    raise DataError(f"the imported days leave a gap before {day}", where=path,
                                    expected=f"the next day to publish, {expected}", found=str(day),
                                    fix="import a contiguous run of days")
                record = insert_record(conn, reg, records, day, "imported", payload, stamp, IMPORTED_NOTE)
                records.append(record)
                written.append(record)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return tuple(written)


def _ts_iso(value: pd.Timestamp) -> str:
    return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
