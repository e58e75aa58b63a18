"""Pseudonymous officer identifiers for reports: a keyed hash whose key stays in the store.

Reports name officers only by ``HMAC-SHA256(key, officer_id)`` (RFC 2104), shortened to
16 hex digits and prefixed ``O-``. The 256-bit key is drawn once from the operating
system's CSPRNG (``secrets``) and kept in the trial store's ``pseudonym_key`` table, so
the same officer has the same pseudonym in every weekly report of the trial (trends are
comparable), while someone holding only the reports cannot recover identities by hashing
candidate collar numbers (which a plain, unkeyed hash would allow). Whoever holds the
store can re-identify, as the force must be able to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from guardian_rct.ledger.store import connect

__all__ = ["pseudonym_key", "pseudonymise", "Pseudonymiser"]

_TABLE = """CREATE TABLE IF NOT EXISTS pseudonym_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL,
    created_at TEXT NOT NULL
)"""


def pseudonym_key(store: Path) -> bytes:
    """The trial's pseudonymisation key, created on first use (race-safe)."""
    with connect(Path(store)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_TABLE)
            row = conn.execute("SELECT key FROM pseudonym_key WHERE id = 1").fetchone()
            if row is None:
                key = secrets.token_bytes(32)
                conn.execute("INSERT INTO pseudonym_key VALUES (1, ?, ?)",
                             (key, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
            else:
                key = bytes(row[0])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return key


_KINDS = {"officer": ("O-", ""), "device": ("D-", "device:")}


def pseudonymise(value: str, key: bytes, *, kind: Literal["officer", "device"] = "officer") -> str:
    """A keyed pseudonym: ``O-`` (officers) or ``D-`` (devices) and the first 16 hex digits
    of HMAC-SHA256(key, value); ``""`` stays ``""``.

    Device ids are hashed with a ``device:`` domain prefix, so an officer id and a device
    id that happen to be equal get unrelated pseudonyms.
    """
    if value == "" or value is None:
        return ""
    prefix, domain = _KINDS[kind]
    return prefix + hmac.new(key, (domain + str(value)).encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class Pseudonymiser:
    """Caches pseudonyms of the officers (prefix ``O-``) or devices (``D-``) in a report."""

    def __init__(self, key: bytes, *, kind: Literal["officer", "device"] = "officer") -> None:
        self._key = key
        self._kind = kind
        self._cache: dict[str, str] = {}

    def for_devices(self) -> Pseudonymiser:
        """A pseudonymiser for device (radio, vehicle, phone) ids under the same key."""
        return Pseudonymiser(self._key, kind="device")

    def __call__(self, value: str) -> str:
        out = self._cache.get(value)
        if out is None:
            out = self._cache[value] = pseudonymise(value, self._key, kind=self._kind)
        return out

    def many(self, values: Iterable[str]) -> list[str]:
        return [self(v) for v in values]
