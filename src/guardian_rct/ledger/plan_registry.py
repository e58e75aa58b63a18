"""The sealed statistical analysis plan in the trial store, and its numbered amendments.

At registration (``guardian-rct init``) the plan built from the registered config
(:func:`guardian_rct.reports.plan.build_plan`) is stored as canonical JSON with its
SHA-256 (:func:`seal_plan`); the ledger's genesis hash includes that SHA-256
(:func:`guardian_rct.ledger.records.genesis_hash`), so the chain of published schedules
starts from the plan and no record can be re-attached to another plan.

A later change to an analysis section of the config (``[compliance]``, ``[outcomes]``,
``[harm]``, ``[evaluation]``) that changes the plan is a numbered **plan amendment**
(:func:`record_plan_amendment`): the keys changed with their old and new values, the time,
whether it came before or after the first look at outcome data
(:mod:`guardian_rct.ledger.looks`), and the new plan's JSON and SHA-256. A change to the
primary outcome or the primary model after the first look is allowed but always labelled
*post hoc*. Amendments are hash-chained: the first links to the sealed plan's SHA-256, each
later one to the amendment before it; :func:`check_plan` re-checks plan and chain.

Everything here works on an open connection inside the caller's transaction (the store
calls it from :func:`guardian_rct.ledger.store.init_trial`); nothing opens the store.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from guardian_rct._core.canonical import canonical_json, sha256_text
from guardian_rct.ledger.looks import Look, first_look_at
from guardian_rct.ledger.schema import ensure_schema

__all__ = ["ANALYSIS_SECTIONS", "ConfigChange", "SealedPlan", "PlanAmendment", "PlanHistory",
           "config_changes", "post_hoc_reason", "seal_plan", "read_plan", "read_plan_amendments",
           "record_plan_amendment", "check_plan", "amendment_hash"]

#: Config sections whose changes after registration are plan amendments (the others are
#: refused: ``[trial]``, ``[design]``; or do not touch the analysis).
ANALYSIS_SECTIONS = ("compliance", "outcomes", "harm", "evaluation")

_AMENDMENT_COLUMNS = ("number", "config_amendment_seq", "created_at", "changes_json", "timing",
                      "first_look_at", "post_hoc", "post_hoc_reason", "plan_json", "plan_sha256",
                      "prev_hash", "hash")


@dataclass(frozen=True)
class ConfigChange:
    """One changed config key: dotted name, registered value, new value (JSON values)."""

    key: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class SealedPlan:
    """The plan as sealed at registration: canonical JSON, its SHA-256 and the time."""

    plan_json: str
    sha256: str
    schema_version: str
    registered_at: str

    @property
    def content(self) -> dict[str, Any]:
        """The plan parsed."""
        return json.loads(self.plan_json)


@dataclass(frozen=True)
class PlanAmendment:
    """A numbered amendment of the plan (see the module docstring)."""

    number: int
    config_amendment_seq: int | None
    created_at: str
    changes: tuple[ConfigChange, ...]
    timing: str
    first_look_at: str | None
    post_hoc: bool
    post_hoc_reason: str
    plan_json: str
    plan_sha256: str
    prev_hash: str
    hash: str

    @property
    def content(self) -> dict[str, Any]:
        """The amended plan parsed."""
        return json.loads(self.plan_json)

    def label(self) -> str:
        """``"before first look"``, ``"after first look"`` or ``"after first look, post hoc"``."""
        return f"{self.timing}, post hoc" if self.post_hoc else self.timing

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the amended plan itself left out; its SHA-256 kept)."""
        return {"number": self.number, "created_at": self.created_at, "timing": self.timing,
                "first_look_at": self.first_look_at, "post_hoc": self.post_hoc,
                "post_hoc_reason": self.post_hoc_reason or None, "label": self.label(),
                "changes": [c.to_dict() for c in self.changes], "plan_sha256": self.plan_sha256}


@dataclass(frozen=True)
class PlanHistory:
    """What the store holds about the plan: the sealed plan, its amendments and the looks."""

    plan: SealedPlan
    amendments: tuple[PlanAmendment, ...] = ()
    looks: tuple[Look, ...] = ()

    @property
    def current_json(self) -> str:
        """Canonical JSON of the plan in force (after the last amendment)."""
        return self.amendments[-1].plan_json if self.amendments else self.plan.plan_json

    @property
    def current_sha256(self) -> str:
        """SHA-256 of the plan in force."""
        return self.amendments[-1].plan_sha256 if self.amendments else self.plan.sha256

    @property
    def current(self) -> dict[str, Any]:
        """The plan in force, parsed."""
        return json.loads(self.current_json)


def config_changes(old: dict[str, Any], new: dict[str, Any],
                   sections: tuple[str, ...] = ANALYSIS_SECTIONS) -> tuple[ConfigChange, ...]:
    """Changed keys of ``sections`` between two parsed configs, with both values."""
    out: list[ConfigChange] = []

    def walk(a: Any, b: Any, name: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{name}.{key}")
        elif a != b:
            out.append(ConfigChange(name, a, b))

    for section in sections:
        walk(old.get(section), new.get(section), section)
    return tuple(out)


def post_hoc_reason(old_plan: dict[str, Any], new_plan: dict[str, Any]) -> str:
    """Why a change is post hoc when made after the first look ("" when it is not).

    The plan's ``primary`` block names the primary outcome, its definition and the
    primary model; a change in any of them after the first look is post hoc.
    """
    a, b = old_plan.get("primary", {}), new_plan.get("primary", {})
    reasons = []
    if a.get("outcome") != b.get("outcome"):
        reasons.append(f"the primary outcome changed from '{a.get('outcome')}' to '{b.get('outcome')}'")
    elif a.get("definition") != b.get("definition"):
        reasons.append(f"the definition of the primary outcome '{b.get('outcome')}' changed")
    if a.get("model") != b.get("model"):
        reasons.append("the primary model changed")
    return "; ".join(reasons)


def seal_plan(conn: sqlite3.Connection, plan_json: str, stamp: str) -> SealedPlan:
    """Store the registered plan (call inside the registration's transaction)."""
    ensure_schema(conn)
    content = json.loads(plan_json)
    if canonical_json(content) != plan_json:
        raise ValueError("the plan must be given as canonical JSON (_core.canonical.canonical_json)")
    sealed = SealedPlan(plan_json, sha256_text(plan_json), str(content.get("schema_version")), stamp)
    conn.execute("INSERT INTO plan VALUES (1, ?, ?, ?, ?)",
                 (sealed.plan_json, sealed.sha256, sealed.schema_version, sealed.registered_at))
    return sealed


def read_plan(conn: sqlite3.Connection) -> SealedPlan | None:
    """The sealed plan, or ``None`` (a store registered before sealed plans, or none yet)."""
    try:
        row = conn.execute("SELECT plan_json, plan_sha256, schema_version, created_at FROM plan "
                           "WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return SealedPlan(*row) if row else None


def _amendment(row: tuple) -> PlanAmendment:
    v = dict(zip(_AMENDMENT_COLUMNS, row, strict=True))
    changes = tuple(ConfigChange(**c) for c in json.loads(v.pop("changes_json")))
    return PlanAmendment(changes=changes, **{**v, "post_hoc": bool(v["post_hoc"])})


def read_plan_amendments(conn: sqlite3.Connection) -> tuple[PlanAmendment, ...]:
    """Every plan amendment in number order."""
    try:
        rows = conn.execute(f"SELECT {', '.join(_AMENDMENT_COLUMNS)} FROM plan_amendments "
                            "ORDER BY number").fetchall()
    except sqlite3.OperationalError:
        return ()
    return tuple(_amendment(r) for r in rows)


def amendment_hash(values: dict[str, Any]) -> str:
    """SHA-256 of an amendment's stored fields (all but ``hash``) as canonical JSON."""
    return sha256_text(canonical_json({c: values[c] for c in _AMENDMENT_COLUMNS if c != "hash"}))


def record_plan_amendment(conn: sqlite3.Connection, *, config_amendment_seq: int | None,
                          old_config_json: str, new_config_json: str, plan_json: str,
                          stamp: str) -> PlanAmendment | None:
    """Record the new plan as the next amendment if it differs from the plan in force.

    Returns ``None`` when the store has no sealed plan (registered before sealed plans) or
    the plan did not change (e.g. only ``[hotspots] buffer_rings_m`` changed).
    """
    sealed = read_plan(conn)
    if sealed is None:
        return None
    previous = read_plan_amendments(conn)
    current_json = previous[-1].plan_json if previous else sealed.plan_json
    if plan_json == current_json:
        return None
    looked = first_look_at(conn)
    timing = "after first look" if looked is not None and looked <= stamp else "before first look"
    reason = post_hoc_reason(json.loads(current_json), json.loads(plan_json)) if looked else ""
    changes = config_changes(json.loads(old_config_json), json.loads(new_config_json))
    values: dict[str, Any] = {
        "number": len(previous) + 1, "config_amendment_seq": config_amendment_seq, "created_at": stamp,
        "changes_json": canonical_json([c.to_dict() for c in changes]), "timing": timing,
        "first_look_at": looked if timing == "after first look" else None, "post_hoc": int(bool(reason)),
        "post_hoc_reason": reason, "plan_json": plan_json, "plan_sha256": sha256_text(plan_json),
        "prev_hash": previous[-1].hash if previous else sealed.sha256,
    }
    values["hash"] = amendment_hash(values)
    conn.execute(f"INSERT INTO plan_amendments ({', '.join(_AMENDMENT_COLUMNS)}) VALUES "
                 f"({', '.join('?' * len(_AMENDMENT_COLUMNS))})", [values[c] for c in _AMENDMENT_COLUMNS])
    return _amendment(tuple(values[c] for c in _AMENDMENT_COLUMNS))


def check_plan(conn: sqlite3.Connection) -> str | None:
    """Re-check the sealed plan and the amendment chain; the first problem, or ``None``."""
    sealed = read_plan(conn)
    amendments = read_plan_amendments(conn)
    if sealed is None:
        return "plan amendments are stored but the sealed plan is missing" if amendments else None
    if sha256_text(sealed.plan_json) != sealed.sha256:
        return "the sealed analysis plan does not match its SHA-256 (the plan was edited)"
    prev = sealed.sha256
    for i, a in enumerate(amendments, start=1):
        stored = {c: getattr(a, c) for c in _AMENDMENT_COLUMNS if c not in ("changes_json",)}
        stored["changes_json"] = canonical_json([c.to_dict() for c in a.changes])
        stored["post_hoc"] = int(a.post_hoc)
        if a.number != i:
            return f"plan amendment {i} is missing (found number {a.number}; one was deleted or inserted)"
        if a.prev_hash != prev:
            return f"plan amendment {i} does not chain to the one before it (an amendment was edited or deleted)"
        if amendment_hash(stored) != a.hash:
            return f"plan amendment {i} does not match its hash (it was edited)"
        if sha256_text(a.plan_json) != a.plan_sha256:
            return f"the plan of amendment {i} does not match its SHA-256 (it was edited)"
        prev = a.hash
    return None
