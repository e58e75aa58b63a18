"""Logging and progress bars: stdlib :mod:`logging` for messages, ``tqdm`` for long steps.

The library never configures logging itself: every module logs to a child of the
``guardian_rct`` logger, which carries a :class:`logging.NullHandler` (the convention of
the Python logging HOWTO, "Configuring logging for a library"), so an application that
imports guardian_rct sees nothing unless it asks. The command line calls
:func:`configure` once per run: warnings and errors to stderr by default, ``-v`` adds
info, ``-vv`` debug, ``-q`` only errors, and ``--log-file`` appends everything at debug
level with timestamps to a file (for cron jobs).

Progress bars (:func:`progress`) are drawn on stderr with ``tqdm`` and only when stderr
is a terminal and not quietened, so a cron job's log or a test's captured output never
fills with carriage returns.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

__all__ = ["ROOT", "get_logger", "configure", "reset", "progress", "progress_enabled", "set_progress"]

ROOT = "guardian_rct"
logging.getLogger(ROOT).addHandler(logging.NullHandler())

T = TypeVar("T")

# None: decide by whether stderr is a terminal; True/False: forced (the CLI's -q sets False).
_PROGRESS: bool | None = None
_CLI_HANDLERS: list[logging.Handler] = []


def get_logger(name: str) -> logging.Logger:
    """The logger for a module (``get_logger(__name__)``); always under ``guardian_rct``."""
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")


class _CurrentStderr(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is *now* (not at set-up),
    so a handler left from an earlier run never writes to a closed or replaced stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def reset() -> None:
    """Remove the handlers :func:`configure` added (the library is silent again)."""
    root = logging.getLogger(ROOT)
    for handler in _CLI_HANDLERS:
        root.removeHandler(handler)
        handler.close()
    _CLI_HANDLERS.clear()
    root.setLevel(logging.NOTSET)
    set_progress(None)


def configure(verbosity: int = 0, *, quiet: bool = False, log_file: Path | None = None) -> None:
    """Set up logging for one command-line run (replacing what an earlier run set up).

    Parameters
    ----------
    verbosity
        0: warnings and errors; 1 (``-v``): also info; 2 or more (``-vv``): also debug.
    quiet
        Only errors on stderr, and no progress bars.
    log_file
        Also append every message (debug and up) with a timestamp to this file.
    """
    reset()
    root = logging.getLogger(ROOT)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    console = _CurrentStderr()
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    _CLI_HANDLERS.append(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.DEBUG)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _CLI_HANDLERS.append(to_file)
    for handler in _CLI_HANDLERS:
        root.addHandler(handler)
    root.setLevel(min(h.level for h in _CLI_HANDLERS))
    set_progress(False if quiet else None)


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on or off (``None``: on only when stderr is a terminal)."""
    global _PROGRESS
    _PROGRESS = enabled


def progress_enabled() -> bool:
    """Whether :func:`progress` draws a bar now."""
    if _PROGRESS is not None:
        return _PROGRESS
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "",
             unit: str = "it") -> Iterator[T]:
    """``iterable`` wrapped in a ``tqdm`` bar on stderr when :func:`progress_enabled`.

    The bar is left on screen when done (one line per step); without a terminal the
    iterable is returned unchanged, so nothing is printed and nothing is slowed.
    """
    if not progress_enabled():
        yield from iterable
        return
    from tqdm import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=True,
                    dynamic_ncols=True)
