"""The embedded SQLite trial store: registration of a trial and access to it.

``guardian-rct init`` registers a trial: it creates the store and records the config,
the seed and the SHA-256 of the hotspot file. Running it again on an unchanged trial is
a no-op; a changed seed, hotspot file, calendar or design is refused, because a
registered trial must not silently change. Changes to the other sections (compliance
thresholds, evaluation options) are recorded as amendments with their time.

Other modules (the ledger of published schedules, the pseudonymisation key) add their
own tables to the same file through :func:`connect`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from guardian_rct._core.errors import StoreError
from guardian_rct._core.provenance import package_version
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet, read_hotspots
from guardian_rct.ledger.plan_registry import (
    ANALYSIS_SECTIONS,
    PlanAmendment,
    read_plan,
    record_plan_amendment,
    seal_plan,
)
from guardian_rct.ledger.schema import SCHEMA_VERSION, ensure_schema

__all__ = [
    "SCHEMA_VERSION",
    "Registration",
    "InitResult",
    "init_trial",
    "open_trial",
    "connect",
    "protected_fingerprint",
    "load_trial_hotspots",
]

_PROTECTED_SECTIONS = ("trial", "design")
_UNPROTECTED_TRIAL_KEYS = ("store",)  # moving the store file is not a change of trial


@dataclass(frozen=True)
class Registration:
    """What the store recorded when the trial was registered."""

    name: str
    seed: int
    config_json: str
    protected_sha256: str
    hotspots_sha256: str
    hotspot_count: int
    created_at: str
    package_version: str
    plan_sha256: str | None = None  # the sealed analysis plan (None: registered before sealed plans)


@dataclass(frozen=True)
class InitResult:
    """Outcome of :func:`init_trial`."""

    status: Literal["created", "unchanged", "amended"]
    store: Path
    registration: Registration
    amendments: tuple[str, ...] = ()
    plan_amendment: PlanAmendment | None = None

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        reg = self.registration
        return {
            "status": self.status,
            "store": str(self.store),
            "trial": reg.name,
            "seed": reg.seed,
            "hotspots_sha256": reg.hotspots_sha256,
            "hotspot_count": reg.hotspot_count,
            "registered_at": reg.created_at,
            "amendments": list(self.amendments),
            "plan_sha256": reg.plan_sha256,
            "plan_amendment": self.plan_amendment.to_dict() if self.plan_amendment else None,
        }


def protected_fingerprint(config: TrialConfig) -> tuple[str, dict]:
    """SHA-256 and content of the parts of the config a registered trial may not change."""
    raw = json.loads(config.canonical_json())
    protected = {name: raw.get(name, {}) for name in _PROTECTED_SECTIONS}
    for key in _UNPROTECTED_TRIAL_KEYS:
        protected["trial"].pop(key, None)
    text = json.dumps(protected, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), protected


@contextmanager
def connect(path: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """Open the SQLite store in autocommit mode with a generous busy timeout.

    Callers open transactions explicitly (``BEGIN IMMEDIATE``) so that concurrent
    writers serialise instead of failing, and a crash rolls back cleanly.
    """
    if not create and not path.exists():
        raise StoreError("trial store not found", expected="a store created by "
                         "'guardian-rct init'", found="no such file", where=path,
                         fix="run 'guardian-rct init --config trial.toml' first")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        yield conn
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the trial store cannot be used ({exc})", where=path,
                         fix="check that the file is a guardian_rct trial store and not damaged") from None
    finally:
        conn.close()




def _read_registration(conn: sqlite3.Connection) -> Registration | None:
    try:
        row = conn.execute(
            "SELECT name, seed, config_json, protected_sha256, hotspots_sha256, hotspot_count, "
            "created_at, package_version FROM registration WHERE id = 1"
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    if not row:
        return None
    sealed = read_plan(conn)
    return Registration(*row, plan_sha256=sealed.sha256 if sealed else None)


def _latest_config(conn: sqlite3.Connection, reg: Registration) -> str:
    row = conn.execute("SELECT config_json FROM amendments ORDER BY seq DESC LIMIT 1").fetchone()
    return row[0] if row else reg.config_json


def _diff_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys.extend(_diff_keys(a, b, name + "."))
        elif a != b:
            keys.append(name)
    return keys


def _refusal(config: TrialConfig, reg: Registration, hotspots: HotspotSet) -> StoreError | None:
    digest, protected = protected_fingerprint(config)
    store = config.trial.store
    if reg.seed != config.trial.seed:
        return StoreError(
            "the seed differs from the registered trial's",
            expected=f"seed = {reg.seed}", found=f"seed = {config.trial.seed}", where=store,
            fix="restore the registered seed; a new seed is a new trial and needs a new store",
        )
    if reg.hotspots_sha256 != hotspots.sha256:
        return StoreError(
            "the hotspot file differs from the registered trial's",
            expected=f"SHA-256 {reg.hotspots_sha256[:12]}… ({reg.hotspot_count} hotspots)",
            found=f"SHA-256 {hotspots.sha256[:12]}… ({len(hotspots)} hotspots) in {hotspots.source}",
            where=store,
            fix="restore the registered hotspot file; changed hotspots are a new trial and need a new store",
        )
    if reg.protected_sha256 != digest:
        registered = json.loads(reg.config_json)
        old = {name: registered.get(name, {}) for name in _PROTECTED_SECTIONS}
        for key in _UNPROTECTED_TRIAL_KEYS:
            old["trial"].pop(key, None)
        changed = _diff_keys(old, protected)
        return StoreError(
            "the trial's calendar or design differs from the registered trial's",
            expected="the registered [trial] and [design] settings",
            found="changes to " + ", ".join(changed),
            where=store,
            fix="restore those keys; a registered trial must not silently change",
        )
    return None


def load_trial_hotspots(config: TrialConfig) -> HotspotSet:
    """Read the hotspot file named by the config with the config's columns and CRS."""
    spec = config.hotspots
    return read_hotspots(spec.path, id_column=spec.id_column, block_column=spec.block_column,
                         name_column=spec.name_column, crs=spec.crs)


def init_trial(config: TrialConfig, *, hotspots: HotspotSet | None = None,
               now: dt.datetime | None = None, plan_json: str | None = None) -> InitResult:
    """Create the trial store and register the trial, or check it is unchanged.

    Parameters
    ----------
    config
        The validated trial configuration.
    hotspots
        The hotspot set (read from ``config.hotspots.path`` when omitted).
    now
        Registration time (UTC); defaults to now.
    plan_json
        The statistical analysis plan as canonical JSON
        (:func:`guardian_rct.jobs.plan.register_trial` builds it). Sealed at registration;
        on a later change it becomes a numbered plan amendment when it differs
        (:mod:`guardian_rct.ledger.plan_registry`).

    Raises
    ------
    StoreError
        The store holds a different trial (seed, hotspot file, calendar or design differ).
    """
    hotspots = hotspots or load_trial_hotspots(config)
    store = config.trial.store
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    digest, _ = protected_fingerprint(config)
    with connect(store, create=True) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            ensure_schema(conn)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("kind", "guardian_rct trial store") != "guardian_rct trial store":
                raise StoreError("this SQLite file is not a guardian_rct trial store", where=store,
                                 fix="point [trial] store at a new file name")
            reg = _read_registration(conn)
            if reg is None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('kind', 'guardian_rct trial store')")
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
                reg = Registration(config.trial.name, config.trial.seed, config.canonical_json(),
                                   digest, hotspots.sha256, len(hotspots), stamp, package_version())
                conn.execute("INSERT INTO registration VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (reg.name, reg.seed, reg.config_json, reg.protected_sha256,
                              reg.hotspots_sha256, reg.hotspot_count, reg.created_at,
                              reg.package_version))
                if plan_json is not None:
                    reg = dataclasses.replace(reg, plan_sha256=seal_plan(conn, plan_json, stamp).sha256)
                conn.execute("COMMIT")
                return InitResult("created", store, reg)
            refusal = _refusal(config, reg, hotspots)
            if refusal:
                raise refusal
            latest = json.loads(_latest_config(conn, reg))
            current = json.loads(config.canonical_json())
            changed = [k for k in _diff_keys(latest, current) if k != "trial.store"]
            if not changed:
                conn.execute("ROLLBACK")
                return InitResult("unchanged", store, reg)
            cur = conn.execute("INSERT INTO amendments (config_json, changed, created_at) VALUES (?, ?, ?)",
                                (config.canonical_json(), json.dumps(changed), stamp))
            plan_amendment = _amend_plan(conn, reg, changed, cur.lastrowid, latest, config, plan_json, stamp)
            conn.execute("COMMIT")
            return InitResult("amended", store, reg, tuple(changed), plan_amendment)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _amend_plan(conn: sqlite3.Connection, reg: Registration, changed: list[str], seq: int | None,
                latest: dict, config: TrialConfig, plan_json: str | None, stamp: str) -> PlanAmendment | None:
    """The plan side of an amendment (:mod:`guardian_rct.ledger.plan_registry`)."""
    if reg.plan_sha256 is None:
        return None  # registered before sealed plans: config amendments only
    if plan_json is None:
        if any(k.split(".")[0] in ANALYSIS_SECTIONS for k in changed):
            raise StoreError("this trial has a sealed analysis plan, so a change to an analysis section "
                             "must be registered with its amended plan", where=config.trial.store,
                             found="changes to " + ", ".join(changed),
                             fix="run 'guardian-rct init --config trial.toml' (it rebuilds the plan)")
        return None
    return record_plan_amendment(conn, config_amendment_seq=seq, old_config_json=json.dumps(latest),
                                 new_config_json=config.canonical_json(), plan_json=plan_json, stamp=stamp)


def open_trial(config: TrialConfig, *, hotspots: HotspotSet | None = None) -> Registration:
    """Check that the store exists and holds this trial; return its registration.

    Every job that reads or writes the store calls this first, so that a store from
    another trial, a missing store or an edited config is a clear error before anything
    is written.
    """
    hotspots = hotspots or load_trial_hotspots(config)
    with connect(config.trial.store) as conn:
        reg = _read_registration(conn)
    if reg is None:
        raise StoreError("the trial store has no registered trial", where=config.trial.store,
                         fix="run 'guardian-rct init --config trial.toml'")
    if reg.name != config.trial.name:
        raise StoreError("the trial store belongs to another trial",
                         expected=f"trial '{config.trial.name}'", found=f"trial '{reg.name}'",
                         where=config.trial.store, fix="point [trial] store at this trial's store")
    refusal = _refusal(config, reg, hotspots)
    if refusal:
        raise refusal
    return reg


def registered_config(config: TrialConfig) -> dict:
    """The config in force for the registered trial (the registration's, or the latest
    amendment's), parsed from the store; for comparing a run's config with what was
    registered."""
    reg = open_trial(config)
    with connect(config.trial.store) as conn:
        return json.loads(_latest_config(conn, reg))
