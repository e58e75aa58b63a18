"""Every output file is written here: never over an input or the trial store, always atomically.

Two promises (threat model, "outputs never destroy inputs"):

1. **An output never replaces a file the trial depends on.** Before anything is written,
   the output path is compared with the trial store, the registered hotspot file, the
   config (the *protected* files, registered once per command by the CLI with
   :func:`protect`) and with every input of the same call (``inputs=``). Paths are
   compared after resolving symlinks and ``..``, and by device/inode when both exist (a
   hard link is the same file under another name). A clash is a
   :class:`~guardian_rct._core.errors.UsageError` naming both files and how to fix it.
2. **A file is either complete or absent.** Content goes to a temporary file in the
   same folder (same file system, so the rename is atomic), is flushed and ``fsync``-ed,
   then renamed over the target with :func:`os.replace`; the folder is ``fsync``-ed
   so the rename survives a crash. A full disk, an exception half-way or ``kill -9``
   leaves the previous file (or none), never a truncated GeoJSON/CSV/XLSX that looks
   real. (POSIX ``rename(2)`` atomicity; the same pattern as ``atomicwrites`` and
   SQLite's journal-less writers.)

Use :func:`atomic_path` for libraries that want a path (``to_file``, ``to_parquet``,
openpyxl), and :func:`write_text` / :func:`write_bytes` for content in memory.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from guardian_rct._core.errors import UsageError

__all__ = ["protect", "protected_scope", "protected_files", "check_output_path", "atomic_path",
           "write_text", "write_bytes"]

PathLike = str | os.PathLike[str]

_PROTECTED: contextvars.ContextVar[dict[str, Path] | None] = contextvars.ContextVar(
    "guardian_rct_protected_files", default=None)


def protect(files: Mapping[str, PathLike | None]) -> None:
    """Register files that no output of this command may replace (label → path).

    Called by the CLI once the config is loaded (``{"trial store": ..., "registered hotspot
    file": ..., "trial config": ...}``); ``None`` paths are skipped. Lasts until the
    enclosing :func:`protected_scope` ends (the CLI opens one per command).
    """
    current = dict(_PROTECTED.get() or {})
    for label, path in files.items():
        if path is not None:
            current[label] = Path(path)
    _PROTECTED.set(current)


@contextlib.contextmanager
def protected_scope() -> Iterator[None]:
    """A scope (one CLI command) whose :func:`protect` registrations end with it."""
    token = _PROTECTED.set(dict(_PROTECTED.get() or {}))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def protected_files() -> dict[str, Path]:
    """The files registered with :func:`protect` in the current scope."""
    return dict(_PROTECTED.get() or {})


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output_path(path: PathLike, *, inputs: Iterable[PathLike | None] = (),
                      what: str = "output") -> Path:
    """Refuse ``path`` if it is a folder, a protected file or one of ``inputs``.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    UsageError
        Exit 2; names the output, the file it would replace, and the fix.
    """
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"the {what} path is a folder", where=str(out), expected="a file name",
                         found="an existing folder", fix="give a file name inside it")
    clashes = [(label, p) for label, p in protected_files().items()]
    clashes += [("an input of this command", Path(p)) for p in inputs if p is not None]
    for label, other in clashes:
        if _same_file(out, other):
            raise UsageError(
                f"refusing to write the {what} over {label} ({other})", where=str(out),
                expected="an output path different from every input, the trial store, the "
                         "registered hotspot file and the config",
                found=f"{out} is the same file as {other}",
                fix="choose another output file name")
    return out


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, *, inputs: Iterable[PathLike | None] = (),
                what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps ``path``'s suffix (``.geojson``, ``.xlsx``) so that libraries
    that choose a format from the name still do. If the body raises, the temporary file
    is removed and ``path`` is untouched.

    Examples
    --------
    >>> with atomic_path(out, inputs=[hotspot_file]) as tmp:   # doctest: +SKIP
    ...     frame.to_file(tmp, driver="GeoJSON")
    """
    out = check_output_path(path, inputs=inputs, what=what)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"the folder for the {what} does not exist", where=str(out),
                         fix=f"create {folder} first, or choose another path")
    tmp = folder / f".{out.name}.{secrets.token_hex(6)}.tmp{out.suffix}"
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"the writer produced no file at {tmp}")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
        _fsync_dir(folder)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def write_bytes(path: PathLike, data: bytes, *, inputs: Iterable[PathLike | None] = (),
                what: str = "output") -> Path:
    """Write ``data`` to ``path`` atomically after :func:`check_output_path`."""
    with atomic_path(path, inputs=inputs, what=what) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
    return Path(path)


def write_text(path: PathLike, text: str, *, inputs: Iterable[PathLike | None] = (),
               what: str = "output", encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically after :func:`check_output_path`."""
    return write_bytes(path, text.encode(encoding), inputs=inputs, what=what)
