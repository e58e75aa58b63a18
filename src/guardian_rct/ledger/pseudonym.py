"""The pseudonymisation key: drawn once, kept in the store (applied by :mod:`guardian_rct._core.pseudonyms`).

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
from pathlib import Path

from guardian_rct.ledger.schema import ensure_schema
from guardian_rct.ledger.store import connect

__all__ = ["pseudonym_key", "seed_key"]


def pseudonym_key(store: Path) -> bytes:
    """The trial's pseudonymisation key, created on first use (race-safe)."""
    with connect(Path(store)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            ensure_schema(conn)
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


def seed_key(store: Path) -> bytes | None:
    """Key of the trial's seed fingerprints (derived from the store's secret), or ``None``
    when there is no store to hold one. See :func:`guardian_rct._core.provenance.seed_fingerprint`."""
    store = Path(store)
    if not store.is_file() or store.stat().st_size == 0:
        return None
    return hmac.new(pseudonym_key(store), b"guardian_rct seed fingerprint key", hashlib.sha256).digest()
