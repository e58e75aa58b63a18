"""Provenance records that results and outputs carry.

A provenance record says which version of guardian_rct (and of numpy, which makes the
random streams) produced a result, from which seed, from which input files (by SHA-256),
and when. It travels with every report and with every record in the trial store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from guardian_rct._core.version import __version__

__all__ = ["Provenance", "make_provenance", "sha256_file", "sha256_bytes", "package_version"]

_CHUNK = 1 << 20


def package_version() -> str:
    """The installed guardian_rct version (or the source tree's, when not installed)."""
    return __version__


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Where a result came from.

    Attributes
    ----------
    package_version
        guardian_rct version.
    numpy_version, python_version
        Versions that affect random streams and numerics.
    seed
        The trial seed, or ``None`` when no randomness was involved.
    inputs
        Mapping of a label (usually the file name) to the SHA-256 of its bytes.
    created_at
        UTC time the record was made, ISO 8601.
    """

    package_version: str
    numpy_version: str
    python_version: str
    seed: int | None
    inputs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (JSON-ready)."""
        return {
            "package_version": self.package_version,
            "numpy_version": self.numpy_version,
            "python_version": self.python_version,
            "seed": self.seed,
            "inputs": dict(self.inputs),
            "created_at": self.created_at,
        }


def make_provenance(
    *,
    seed: int | None = None,
    inputs: dict[str, str | Path] | None = None,
    hashes: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> Provenance:
    """Build a provenance record.

    Parameters
    ----------
    seed
        The trial seed used, if any.
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
        seed=seed,
        inputs=MappingProxyType(dict(sorted(digests.items()))),
        created_at=stamp,
    )
