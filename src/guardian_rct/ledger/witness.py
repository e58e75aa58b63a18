"""The ledger's witness file: every ledger head, appended outside the SQLite store.

A hash chain alone cannot show that its *latest* records were deleted: the shortened
chain is still a valid chain. Every publish, import and export therefore appends one
line, ``time<TAB>event<TAB>seq<TAB>head``, to a plain text file (``[schedule] witness``;
default ``<store>.witness`` beside the store), flushed and ``fsync``-ed after the store's
transaction commits. :func:`guardian_rct.ledger.verify.verify` checks by default that
every head the witness names is still record ``seq`` of the ledger, so deleting or
rewriting published records is caught without remembering a head hash. The witness
protects against someone who can rewrite the store but not the witness: keep it (or a
copy, e.g. the cron log) where the trial folder's users cannot write.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from guardian_rct._core.errors import StoreError

__all__ = ["WitnessLine", "append_witness", "read_witness"]

_EVENTS = ("publish", "import", "export", "replace")


@dataclass(frozen=True)
class WitnessLine:
    """One line of the witness: when, what, and the ledger head after it."""

    at: str
    event: str
    seq: int
    head: str


def append_witness(path: Path, event: str, seq: int, head: str,
                   now: dt.datetime | None = None) -> None:
    """Append one line and ``fsync`` it (the file is created on first use)."""
    if event not in _EVENTS:
        raise ValueError(f"unknown witness event {event!r}")
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{stamp}\t{event}\t{seq}\t{head}\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_witness(path: Path) -> tuple[WitnessLine, ...] | None:
    """The witness lines, or ``None`` when the file does not exist.

    Raises
    ------
    StoreError
        A line that is not ``time<TAB>event<TAB>seq<TAB>head`` (the file was edited).
    """
    path = Path(path)
    if not path.is_file():
        return None
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = text.split("\t")
        ok = len(parts) == 4 and parts[1] in _EVENTS and parts[2].isdigit() and len(parts[3]) == 64
        if not ok:
            raise StoreError("the witness file has a line that is not a witness line",
                             expected="time<TAB>event<TAB>seq<TAB>64-hex head",
                             found=repr(text[:80]), where=f"{path}, line {number}",
                             fix="restore the witness file from its copy (it is append-only)")
        lines.append(WitnessLine(parts[0], parts[1], int(parts[2]), parts[3]))
    return tuple(lines)
