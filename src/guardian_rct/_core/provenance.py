"""Provenance records that results and outputs carry.

A provenance record says which version of guardian_rct (and of numpy, which makes the
random streams, and of the other libraries the numbers go through) produced a result,
from which input files (by SHA-256), and when. It travels with every report.

The trial seed is never written into a provenance record: whoever holds it can compute
every future day's allocation. The record carries a *seed fingerprint* instead,
``HMAC-SHA256(key, "guardian_rct trial seed" NUL seed)`` (RFC 2104) truncated to 16 hex
digits, keyed with the trial store's secret key, so two reports can be shown to come
from the same seed while the seed cannot be recovered by hashing candidate seeds (a
plain hash of a date-like seed such as 20221003 could be inverted by trying every
integer). Without a key (no trial store) the fingerprint is withheld (``None``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import importlib.metadata
import os
import platform
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from guardian_rct._core.version import __version__

__all__ = ["Provenance", "make_provenance", "sha256_file", "sha256_bytes", "package_version",
           "KEY_DEPENDENCIES", "dependency_versions", "seed_fingerprint"]

_CHUNK = 1 << 20

# The libraries whose releases can change guardian_rct's numbers (random streams, sorting,
# model fits, geometry, file reading); their installed versions go into every record.
KEY_DEPENDENCIES = ("numpy", "scipy", "pandas", "shapely", "geopandas", "pyproj", "statsmodels",
                    "pyarrow")


def package_version() -> str:
    """The installed guardian_rct version (or the source tree's, when not installed)."""
    return __version__


@functools.cache
def _resolved_versions() -> tuple[tuple[str, str | None], ...]:
    versions: list[tuple[str, str | None]] = [("python", platform.python_version())]
    for name in KEY_DEPENDENCIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


def dependency_versions() -> dict[str, str | None]:
    """Python's version and the installed versions of :data:`KEY_DEPENDENCIES`.

    Read from the installed distributions' metadata (``importlib.metadata``), so nothing
    is imported to read them; ``None`` for a package that is not installed. Read once per
    process.
    """
    return dict(_resolved_versions())


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


_EARLY: dict[tuple, Future] = {}
_EARLY_LOCK = threading.Lock()


def _identity(path: str | Path) -> tuple:
    """What makes a file the same file: its resolved path, size, change time and inode."""
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino


def hash_in_background(paths: Iterable[str | Path | None]) -> None:
    """Start hashing ``paths`` in a background thread, for :func:`sha256_file` to pick up.

    A long job (the weekly job reads a gigabyte of pings) hashes its inputs while it works
    rather than after (hashlib and file reads release the GIL). The result is used only
    if the file is still the same (path, size, modification time, inode); otherwise it is
    hashed again. Missing paths and folders are skipped. The thread's priority is lowered
    (:func:`~guardian_rct._core.background.lower_priority`: it gives way to the command's
    own threads), and it is a daemon: a command that ends early, on an error, does not
    wait for a hash it will not use.
    """
    jobs: list[tuple[Path, Future]] = []
    with _EARLY_LOCK:
        for path in paths:
            if path is None or not Path(path).is_file():
                continue
            ident = _identity(path)
            if ident not in _EARLY:
                _EARLY[ident] = future = Future()
                jobs.append((Path(path), future))
    if jobs:
        threading.Thread(target=_hash_jobs, args=(jobs,), name="input-hash", daemon=True).start()


def _hash_jobs(jobs: list[tuple[Path, Future]]) -> None:
    from guardian_rct._core.background import lower_priority

    lower_priority()
    for path, future in jobs:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(_sha256_read(path))
            except BaseException as exc:  # handed to sha256_file, which hashes again
                future.set_exception(exc)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (or as hashed early by
    :func:`hash_in_background`, if the file has not changed since)."""
    with _EARLY_LOCK:
        early = _EARLY.pop(_identity(path), None)
    if early is not None:
        try:
            return early.result()
        except OSError:
            pass  # hashed again below, so the error (if it lasts) is raised here
    return _sha256_read(Path(path))


def _sha256_read(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def seed_fingerprint(seed: int, key: bytes) -> str:
    """Keyed, truncated fingerprint of a seed (HMAC-SHA256, 16 hex digits); never the seed."""
    message = b"guardian_rct trial seed\x00" + str(int(seed)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Provenance:
    """Where a result came from.

    Attributes
    ----------
    package_version
        guardian_rct version.
    numpy_version, python_version
        Versions that affect random streams and numerics.
    seed_fingerprint
        :func:`seed_fingerprint` of the seed used, or ``None`` (no seed, or no key to
        fingerprint it with). The seed itself is never recorded.
    inputs
        Mapping of a label (usually the file name) to the SHA-256 of its bytes.
    created_at
        UTC time the record was made, ISO 8601.
    dependency_versions
        Python's version and the resolved versions of :data:`KEY_DEPENDENCIES` (numpy,
        scipy, pandas, shapely, geopandas, pyproj, statsmodels, pyarrow); ``None`` for one
        that is not installed.
    """

    package_version: str
    numpy_version: str
    python_version: str
    seed_fingerprint: str | None
    inputs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    created_at: str = ""
    dependency_versions: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (JSON-ready)."""
        return {
            "package_version": self.package_version,
            "numpy_version": self.numpy_version,
            "python_version": self.python_version,
            "seed_fingerprint": self.seed_fingerprint,
            "inputs": dict(self.inputs),
            "created_at": self.created_at,
            "dependency_versions": dict(self.dependency_versions),
        }


def make_provenance(
    *,
    seed: int | None = None,
    seed_key: bytes | None = None,
    inputs: dict[str, str | Path] | None = None,
    hashes: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Provenance:
    """Build a provenance record.

    Parameters
    ----------
    seed
        The seed used, if any: only its fingerprint is recorded, and only with ``seed_key``.
    seed_key
        The key of the fingerprint (the trial store's secret; see
        :func:`guardian_rct.ledger.pseudonym.seed_key`).
    inputs
        Label → path of input files; each is hashed with SHA-256.
    hashes
        Label → SHA-256 already known (e.g. of an in-memory table).
    now
        The time to record (UTC); defaults to the current time.
    """
    digests = {label: sha256_file(path) for label, path in (inputs or {}).items()}
    digests.update(hashes or {})
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    return Provenance(
        package_version=package_version(),
        numpy_version=np.__version__,
        python_version=platform.python_version(),
        seed_fingerprint=(seed_fingerprint(seed, seed_key) if seed is not None and seed_key
                          else None),
        inputs=MappingProxyType(dict(sorted(digests.items()))),
        created_at=stamp,
        dependency_versions=MappingProxyType(dependency_versions()),
    )
