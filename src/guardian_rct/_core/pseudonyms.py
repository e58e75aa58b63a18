"""Keyed pseudonyms for officer and device identifiers (pure functions; no store access).

Reports name officers only by ``HMAC-SHA256(key, officer_id)`` (RFC 2104), shortened to
16 hex digits and prefixed ``O-`` (devices: ``D-``, under a domain-separated message). The
key itself is kept in the trial store (:func:`guardian_rct.ledger.pseudonym.pseudonym_key`);
this module only applies it, so that reports can pseudonymise without touching the store.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

import numpy as np

__all__ = ["pseudonymise", "Pseudonymiser"]

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
        """Pseudonyms of ``values``, each distinct value hashed once (a table of a
        million rows with a few hundred officers costs a few hundred HMACs)."""
        import pandas as pd

        if not isinstance(values, (list, tuple, np.ndarray, pd.Series)):
            values = list(values)
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
        table = np.array([self(v) for v in uniques], dtype=object)
        return table[codes].tolist() if len(codes) else []
