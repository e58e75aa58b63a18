"""The trial ledger: published daily schedules, append-only and hash-chained.

Publishing a day draws its allocation and patrol windows once, from the day's own
streams ``("allocation", day)`` and ``("patrol_times", day)`` under the trial seed, and
appends the schedule to the ``ledger`` table of the trial store with a SHA-256 that
chains it to the record before (the first record chains to the registration: trial
name, seed, protected config and hotspot-file hashes). Asking again for a published day
returns the stored record byte for byte: a schedule is never redrawn (numpy does not
promise identical streams across versions; DESIGN.md rule 2).

Rules
-----
* **No gaps.** Records are in day order; publishing day D first publishes every
  unpublished trial day before it, so constrained designs can draw day D conditionally
  on all earlier days (see :mod:`guardian_rct.design.constraints`) and ``verify`` can
  re-derive them in order.
* **One writer at a time.** Publishing runs in one ``BEGIN IMMEDIATE`` transaction:
  two processes publishing the same day serialise and the second finds the first's
  record; a crash before ``COMMIT`` leaves nothing (SQLite's rollback journal/WAL).
* **Concealment.** A day may be published at most ``[schedule] horizon_days`` days after
  today's experimental day (default 7). Simulated trials (the demo) lift the horizon
  with ``simulated=True``, which is recorded in every record it writes. The full
  allocation, controls included, leaves the store only through
  :func:`export_allocation`, which records the evaluator's name.
* **Verification.** :func:`verify` re-checks the chain, the head, the config and hotspot
  hashes and re-draws every drawn record from the seed; the first bad record is named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from guardian_rct._core.days import date_range, experimental_day
from guardian_rct._core.errors import StoreError, UsageError
from guardian_rct._core.provenance import package_version
from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import (
    Allocation,
    allocation_from_frame,
)
from guardian_rct.design.crossover import Design, design_from_config
from guardian_rct.design.patrol_times import check_windows, draw_patrol_times
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.store import Registration, connect, load_trial_hotspots, open_trial

__all__ = [
    "PublishedSchedule",
    "VerifyResult",  # noqa: F822 - lazy re-export, see __getattr__
    "ExportResult",  # noqa: F822 - lazy re-export, see __getattr__
    "publish",
    "publish_range",
    "published",
    "published_allocation",
    "verify",  # noqa: F822 - lazy re-export, see __getattr__
    "export_allocation",  # noqa: F822 - lazy re-export, see __getattr__
    "import_allocation",  # noqa: F822 - lazy re-export, see __getattr__
    "draw_schedule_payload",
]

SIMULATED_NOTE = "simulated trial: publishing horizon not applied"
IMPORTED_NOTE = "imported allocation"

_SCHEMA = """
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
)
"""
_COLUMNS = ("seq", "day", "source", "payload", "config_sha256", "hotspots_sha256", "published_at",
            "note", "package_version", "numpy_version", "prev_hash", "hash")


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
        out = {c: getattr(self, c) for c in _COLUMNS}
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


def _record_from_row(row: tuple) -> PublishedSchedule:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["day"] = dt.date.fromisoformat(values["day"])
    return PublishedSchedule(**values)


def _canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(reg: Registration) -> str:
    """The hash the first record chains to: the registered trial's identity."""
    return _sha(_canonical({"genesis": "guardian_rct ledger", "trial": reg.name, "seed": reg.seed,
                            "protected_sha256": reg.protected_sha256,
                            "hotspots_sha256": reg.hotspots_sha256}))


def record_hash(values: dict) -> str:
    """SHA-256 of a record's fields (all but ``hash``) as canonical JSON."""
    fields = {c: values[c] for c in _COLUMNS if c != "hash"}
    fields["day"] = str(fields["day"])
    return _sha(_canonical(fields))


# ---------------------------------------------------------------------------
# Drawing a day
# ---------------------------------------------------------------------------

def allocation_stream(config: TrialConfig, design: Design, day: dt.date) -> np.random.Generator:
    """The stream a day's arms are drawn from (one fixed stream for parallel designs)."""
    if design.kind == "parallel":
        return stream(config.trial.seed, "allocation", "parallel")
    return stream(config.trial.seed, "allocation", day)


def draw_schedule_payload(config: TrialConfig, design: Design, day: dt.date,
                          history: np.ndarray | None) -> str:
    """Draw day ``day``'s schedule (arms and patrol windows) as canonical JSON.

    ``history`` holds the assignments of every earlier trial day (needed by constrained
    designs). Used by :func:`publish_range` and re-run by :func:`verify`.
    """
    rng = allocation_stream(config, design, day)
    if design.kind == "parallel":
        arms = design.draw_units(rng)
    else:
        arms = design.draw_day(rng, day, history)
    ids = np.asarray(design.hotspot_ids, dtype=object)
    treated_ids = ids[arms]
    times = draw_patrol_times(stream(config.trial.seed, "patrol_times", day), day,
                              len(treated_ids), config.design, config.trial.tz,
                              config.trial.day_start_time)
    minutes = np.timedelta64(config.design.patrol_minutes, "m")
    treated = {str(h): [[_iso(s), _iso(s + minutes)] for s in row]
               for h, row in zip(treated_ids, times, strict=True)}
    return _canonical({"day": day.isoformat(), "design": design.kind, "treated": treated,
                       "control": [str(h) for h in ids[~arms]]})


def _iso(value: np.datetime64) -> str:
    return str(value.astype("datetime64[s]")) + "Z"


def _arms(payload: str, ids: tuple[str, ...]) -> np.ndarray:
    treated = json.loads(payload)["treated"]
    return np.array([h in treated for h in ids], dtype=bool)


# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------

def _check_day(config: TrialConfig, day: dt.date, what: str = "date") -> None:
    trial = config.trial
    if not trial.start_date <= day <= trial.end_date:
        raise UsageError(f"{day} is outside the trial", expected=f"a {what} from "
                         f"{trial.start_date} to {trial.end_date}", found=str(day),
                         where="--date", fix="give a date inside [trial] start_date..end_date")


def _ensure_schema(conn: sqlite3.Connection) -> None:
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)


def _read_records(conn: sqlite3.Connection) -> list[PublishedSchedule]:
    try:
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    return [_record_from_row(r) for r in rows]


def _now_utc(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("'now' must be time-zone aware")
    return now.astimezone(dt.UTC)


def publish(config: TrialConfig, day: dt.date, *, hotspots: HotspotSet | None = None,
            now: dt.datetime | None = None, simulated: bool = False) -> PublishedSchedule:
    """Publish one day's schedule (or return it if already published).

    See :func:`publish_range`.
    """
    return publish_range(config, day, day, hotspots=hotspots, now=now, simulated=simulated)[0]


def publish_range(config: TrialConfig, first: dt.date, last: dt.date, *,
                  hotspots: HotspotSet | None = None, now: dt.datetime | None = None,
                  simulated: bool = False) -> tuple[PublishedSchedule, ...]:
    """Publish the schedules of days ``first..last`` and return them as stored.

    Days already published are returned unchanged; unpublished trial days before
    ``first`` are published too (the ledger has no gaps). Nothing is written when any
    check fails.

    Parameters
    ----------
    now
        The current time (UTC-aware); defaults to the clock. Sets "today" for the
        horizon and the records' ``published_at``.
    simulated
        Lift the publishing horizon, for simulated trials and demos only; every record
        written says so in its ``note``.

    Raises
    ------
    UsageError
        A day outside the trial, or beyond the publishing horizon.
    StoreError
        Missing store, a store of another trial, or a config whose calendar, design,
        seed or hotspot file differs from the registered trial's.
    """
    if last < first:
        raise UsageError("the last day is before the first", found=f"{first} to {last}",
                         where="--days", fix="give a positive number of days")
    _check_day(config, first)
    _check_day(config, last, "last date")
    stamp = _now_utc(now)
    if not simulated:
        today = experimental_day(stamp, config.trial.tz, config.trial.day_start_time)
        limit = today + dt.timedelta(days=config.schedule.horizon_days)
        if last > limit:
            raise UsageError(
                f"{last} is beyond the publishing horizon",
                expected=f"a day no later than {limit} (today {today} + horizon_days "
                         f"{config.schedule.horizon_days})",
                found=str(last), where="[schedule] horizon_days",
                fix="publish it nearer the day; the horizon keeps the allocation concealed")
    hotspots = hotspots or load_trial_hotspots(config)
    reg = open_trial(config, hotspots=hotspots)
    check_windows(config.design, config.trial.day_start_time)
    design = design_from_config(config, hotspots)
    published_at = stamp.isoformat(timespec="seconds")
    note = SIMULATED_NOTE if simulated else ""
    with connect(config.trial.store) as conn:
        _ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            records = _read_records(conn)
            if records and records[-1].day >= last:
                conn.execute("ROLLBACK")
            else:
                records = _append_drawn(conn, config, reg, design, records, last,
                                        published_at, note)
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    wanted = {d for d in date_range(first, last)}
    return tuple(r for r in records if r.day in wanted)


def _append_drawn(conn: sqlite3.Connection, config: TrialConfig, reg: Registration, design: Design,
                  records: list[PublishedSchedule], last: dt.date, published_at: str,
                  note: str) -> list[PublishedSchedule]:
    ids = design.hotspot_ids
    start = config.trial.start_date
    history = [_arms(r.payload, ids) for r in records]
    day = records[-1].day + dt.timedelta(days=1) if records else start
    constrained = getattr(design, "constrained", False)
    records = list(records)
    while day <= last:
        hist = np.array(history, dtype=bool).reshape(len(history), len(ids)) if constrained else None
        payload = draw_schedule_payload(config, design, day, hist)
        records.append(_insert(conn, reg, records, day, "drawn", payload, published_at, note))
        history.append(_arms(payload, ids))
        day += dt.timedelta(days=1)
    return records


def _insert(conn: sqlite3.Connection, reg: Registration, records: list[PublishedSchedule],
            day: dt.date, source: str, payload: str, published_at: str,
            note: str) -> PublishedSchedule:
    values = {
        "seq": len(records) + 1,
        "day": day.isoformat(),
        "source": source,
        "payload": payload,
        "config_sha256": reg.protected_sha256,
        "hotspots_sha256": reg.hotspots_sha256,
        "published_at": published_at,
        "note": note,
        "package_version": package_version(),
        "numpy_version": np.__version__,
        "prev_hash": records[-1].hash if records else genesis_hash(reg),
    }
    values["hash"] = record_hash(values)
    conn.execute(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                 tuple(values[c] for c in _COLUMNS))
    conn.execute("INSERT OR REPLACE INTO ledger_head (id, seq, hash) VALUES (1, ?, ?)",
                 (values["seq"], values["hash"]))
    return _record_from_row(tuple(values[c] for c in _COLUMNS))


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def published(config: TrialConfig, *, first: dt.date | None = None, last: dt.date | None = None,
              hotspots: HotspotSet | None = None) -> tuple[PublishedSchedule, ...]:
    """The published records of days ``first..last`` (all by default), as stored."""
    open_trial(config, hotspots=hotspots)
    with connect(config.trial.store) as conn:
        records = _read_records(conn)
    return tuple(r for r in records if (first is None or r.day >= first)
                 and (last is None or r.day <= last))


def published_allocation(config: TrialConfig, *, first: dt.date | None = None,
                         last: dt.date | None = None, hotspots: HotspotSet | None = None) -> Allocation:
    """The published schedules as an :class:`~guardian_rct.design.allocation.Allocation` (never redrawn).

    ``hotspots`` saves re-reading the hotspot file when the caller has it already.

    Raises
    ------
    StoreError
        Nothing published in the range (or the store checks of :func:`open_trial`).
    """
    hotspots = hotspots or load_trial_hotspots(config)
    records = published(config, first=first, last=last, hotspots=hotspots)
    if not records:
        raise StoreError("no published schedules in the range", where=config.trial.store,
                         found=f"{first or 'start'} to {last or 'end'}",
                         fix="publish days with 'guardian-rct schedule' first")
    rows = [row for r in records for row in r.allocation_rows()]
    frame = pd.DataFrame(rows, columns=["date", "hotspot_id", "arm", "window_start", "window_end"])
    for col in ("window_start", "window_end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["window_start"] = frame["window_start"].map(lambda t: "" if pd.isna(t) else t.isoformat())
    frame["window_end"] = frame["window_end"].map(lambda t: "" if pd.isna(t) else t.isoformat())
    return allocation_from_frame(frame, source=config.trial.store, hotspot_ids=hotspots.ids)


# Verification and exchange live in their own modules (which import this one); they are
# re-exported here lazily (PEP 562), so that importing either module first works too.
_REEXPORTS = {
    "ExportResult": "guardian_rct.ledger.exchange",
    "export_allocation": "guardian_rct.ledger.exchange",
    "import_allocation": "guardian_rct.ledger.exchange",
    "VerifyResult": "guardian_rct.ledger.verify",
    "verify": "guardian_rct.ledger.verify",
}


def __getattr__(name: str):
    module = _REEXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'guardian_rct.ledger.publish' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
