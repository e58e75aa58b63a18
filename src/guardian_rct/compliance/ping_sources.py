"""Which files a ``--pings`` path names: the file itself, or a folder's ping files.

Kept apart from the readers (:mod:`~guardian_rct.compliance.pings`, which import pandas and
pyarrow) so that a command can name its ping files at its very start, before those
imports: ``compliance`` starts hashing them then, on the core the imports leave idle.
"""

from __future__ import annotations

from pathlib import Path

from guardian_rct._core.errors import DataError, where

__all__ = ["PING_SUFFIXES", "ping_files"]

#: File suffixes read as pings, and as which format.
PING_SUFFIXES = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def ping_files(path: str | Path) -> list[Path]:
    """The ping files at ``path``: the file itself, or a folder's CSV/Parquet files in
    sorted order (Parquet datasets written by Spark or Dask are folders)."""
    path = Path(path)
    if not path.exists():
        raise DataError("ping file not found", where=where(path), fix="check the path given to --pings")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PING_SUFFIXES)
        if not files:
            raise DataError("no ping files in the folder", where=where(path),
                            expected="*.csv or *.parquet files", found="none",
                            fix="point --pings at a CSV or Parquet file or a folder of them")
        return files
    if path.suffix.lower() not in PING_SUFFIXES:
        raise DataError("unsupported ping file type", where=where(path),
                        expected="a .csv or .parquet file", found=repr(path.suffix or "no suffix"),
                        fix="export the pings as CSV or Parquet")
    return [path]
