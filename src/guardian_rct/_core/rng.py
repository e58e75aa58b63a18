"""The only place a numpy random Generator is made from the trial seed.

Every random draw in a trial comes from a *named stream*: a
:class:`numpy.random.SeedSequence` built from the recorded trial seed and a spawn key
``(purpose, *keys)``, so that, for example, regenerating the allocation of day 17 never
disturbs day 16, and the patrol-time draw never disturbs the arm draw (DESIGN.md rule 2;
O'Neill 2015, "PCG", and numpy's SeedSequence documentation on independent streams).

There is no global state here: no ``np.random.seed``, no default seeds.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

__all__ = ["purpose_key", "seed_sequence", "stream", "day_key"]

_EPOCH = dt.date(1970, 1, 1)


def purpose_key(purpose: str) -> int:
    """Map a stream's purpose name to a stable 32-bit integer.

    SHA-256 rather than ``hash()``: Python's string hash is salted per process and would
    make streams irreproducible.
    """
    if not purpose or not isinstance(purpose, str):
        raise ValueError("a random stream needs a non-empty purpose name, e.g. 'allocation'")
    return int.from_bytes(hashlib.sha256(purpose.encode("utf-8")).digest()[:4], "big")


def day_key(day: dt.date) -> int:
    """The spawn-key integer of a calendar day (days since 1970-01-01)."""
    return (day - _EPOCH).days


def _key_int(key: int | dt.date | str) -> int:
    if isinstance(key, dt.datetime):
        raise TypeError("stream keys take dates, not datetimes")
    if isinstance(key, dt.date):
        return day_key(key)
    if isinstance(key, str):
        return purpose_key(key)
    if isinstance(key, (int, np.integer)) and key >= 0:
        return int(key)
    raise TypeError(f"stream keys must be non-negative ints, dates or strings, not {key!r}")


def seed_sequence(seed: int, purpose: str, *keys: int | dt.date | str) -> np.random.SeedSequence:
    """The SeedSequence of the named stream ``(purpose, *keys)`` under ``seed``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"the trial seed must be a non-negative integer, not {seed!r}")
    spawn_key = (purpose_key(purpose), *(_key_int(k) for k in keys))
    return np.random.SeedSequence(int(seed), spawn_key=spawn_key)


def stream(seed: int, purpose: str, *keys: int | dt.date | str) -> np.random.Generator:
    """A fresh Generator for the named stream.

    Parameters
    ----------
    seed
        The recorded trial seed (``[trial] seed``).
    purpose
        What the stream is for, e.g. ``"allocation"``, ``"patrol_times"``,
        ``"randomisation_inference"``.
    *keys
        Further keys, typically the experimental day: ``stream(seed, "allocation", day)``.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator; the same arguments give the same stream on the same
        installation. Published schedules are stored, not recomputed, because numpy does
        not promise identical streams across versions.
    """
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, purpose, *keys)))
