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
  with ``simulated=True``, which is recorded in every record it writes and as a
  ``simulated`` event of the store; ``verify`` reports such records by count.
* **Witness.** After each publish that adds records, the new head is appended to the
  witness file (:mod:`guardian_rct.ledger.witness`), which ``verify`` checks. The full
  allocation, controls included, leaves the store only through
  :func:`guardian_rct.ledger.exchange.export_allocation`, which records the evaluator's name.
* **Verification.** :func:`guardian_rct.ledger.verify.verify` re-checks the chain, the head, the config and hotspot
  hashes and re-draws every drawn record from the seed; the first bad record is named.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import numpy as np
import pandas as pd

from guardian_rct._core.canonical import canonical_json
from guardian_rct._core.days import date_range, experimental_day
from guardian_rct._core.errors import StoreError, UsageError
from guardian_rct._core.provenance import package_version
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import Allocation, allocation_from_frame
from guardian_rct.design.daily_draw import arms_from_payload, draw_schedule_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.patrol_times import check_windows
from guardian_rct.design.protocol import Design
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.records import (
    SIMULATED_NOTE,
    PublishedSchedule,
    genesis_hash,
    read_records,
    record_from_row,
    record_hash,
)
from guardian_rct.ledger.schema import LEDGER_COLUMNS, ensure_schema
from guardian_rct.ledger.store import Registration, connect, load_trial_hotspots, open_trial
from guardian_rct.ledger.witness import append_witness

__all__ = ["publish", "publish_range", "published", "published_allocation"]


def _check_day(config: TrialConfig, day: dt.date, what: str = "date") -> None:
    trial = config.trial
    if not trial.start_date <= day <= trial.end_date:
        raise UsageError(f"{day} is outside the trial", expected=f"a {what} from "
                         f"{trial.start_date} to {trial.end_date}", found=str(day),
                         where="--date", fix="give a date inside [trial] start_date..end_date")


def now_utc(now: dt.datetime | None) -> dt.datetime:
    """``now`` (time-zone aware) or the clock, in UTC."""
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
    stamp = now_utc(now)
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
        ensure_schema(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            records = read_records(conn)
            grew = not (records and records[-1].day >= last)
            if not grew:
                conn.execute("ROLLBACK")
            else:
                if simulated:
                    _mark_simulated(conn, published_at, records, last)
                records = _append_drawn(conn, config, reg, design, records, last,
                                        published_at, note)
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    if grew:
        append_witness(config.witness_path, "publish", records[-1].seq, records[-1].hash, stamp)
    wanted = {d for d in date_range(first, last)}
    return tuple(r for r in records if r.day in wanted)


def _mark_simulated(conn: sqlite3.Connection, at: str, records: list[PublishedSchedule],
                    last: dt.date) -> None:
    """Record that the horizon was lifted (``simulated=True``): verify reports it."""
    first = records[-1].day + dt.timedelta(days=1) if records else None
    detail = canonical_json({"first_day": str(first) if first else "trial start",
                             "last_day": last.isoformat(), "package_version": package_version()})
    conn.execute("INSERT INTO trial_events (at, kind, detail) VALUES (?, 'simulated', ?)", (at, detail))


def _append_drawn(conn: sqlite3.Connection, config: TrialConfig, reg: Registration, design: Design,
                  records: list[PublishedSchedule], last: dt.date, published_at: str,
                  note: str) -> list[PublishedSchedule]:
    ids = design.hotspot_ids
    start = config.trial.start_date
    history = [arms_from_payload(r.payload, ids) for r in records]
    day = records[-1].day + dt.timedelta(days=1) if records else start
    constrained = design.constrained
    records = list(records)
    while day <= last:
        hist = np.array(history, dtype=bool).reshape(len(history), len(ids)) if constrained else None
        payload = draw_schedule_payload(config, design, day, hist)
        records.append(insert_record(conn, reg, records, day, "drawn", payload, published_at, note))
        history.append(arms_from_payload(payload, ids))
        day += dt.timedelta(days=1)
    return records


def insert_record(conn: sqlite3.Connection, reg: Registration, records: list[PublishedSchedule],
                  day: dt.date, source: str, payload: str, published_at: str,
                  note: str) -> PublishedSchedule:
    """Append one record after ``records`` and move the head (inside the caller's transaction)."""
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
    conn.execute(f"INSERT INTO ledger ({', '.join(LEDGER_COLUMNS)}) VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})",
                 tuple(values[c] for c in LEDGER_COLUMNS))
    conn.execute("INSERT OR REPLACE INTO ledger_head (id, seq, hash) VALUES (1, ?, ?)",
                 (values["seq"], values["hash"]))
    return record_from_row(tuple(values[c] for c in LEDGER_COLUMNS))


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def published(config: TrialConfig, *, first: dt.date | None = None, last: dt.date | None = None,
              hotspots: HotspotSet | None = None) -> tuple[PublishedSchedule, ...]:
    """The published records of days ``first..last`` (all by default), as stored."""
    open_trial(config, hotspots=hotspots)
    with connect(config.trial.store) as conn:
        records = read_records(conn)
    return tuple(r for r in records if (first is None or r.day >= first)
                 and (last is None or r.day <= last))


def published_allocation(config: TrialConfig, *, first: dt.date | None = None,
                         last: dt.date | None = None, hotspots: HotspotSet | None = None,
                         now: dt.datetime | None = None,
                         include_future: bool = False) -> Allocation:
    """The published schedules as an :class:`~guardian_rct.design.allocation.Allocation` (never redrawn).

    ``hotspots`` saves re-reading the hotspot file when the caller has it already. Days
    after today's experimental day (at ``now``, default the clock) are left out: arms of
    published future days leave the store only through the recorded evaluator export
    (:func:`guardian_rct.ledger.exchange.export_allocation`, ``include_future=True``).

    Raises
    ------
    StoreError
        Nothing published in the range (or the store checks of :func:`open_trial`).
    """
    hotspots = hotspots or load_trial_hotspots(config)
    if not include_future:
        today = experimental_day(now_utc(now), config.trial.tz, config.trial.day_start_time)
        last = today if last is None else min(last, today)
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
