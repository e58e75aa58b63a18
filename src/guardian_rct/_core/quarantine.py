"""Rows that cannot be used: kept with a reason, counted, written out, never dropped silently.

Every reader (pings, crimes, street crimes) returns the rows it used and a
:class:`Quarantine` of the rest, so that ``read = used + quarantined`` always holds and the
counts by reason can be reported (DESIGN.md rule 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from guardian_rct._core.formula_safe import formula_safe_frame
from guardian_rct._core.safe_write import write_text

__all__ = ["Quarantine", "quarantine_rows", "concat_quarantines"]


@dataclass(frozen=True)
class Quarantine:
    """Unusable input rows.

    Attributes
    ----------
    frame
        The original columns (as text) plus ``source`` (file), ``source_row`` (1-based
        data row, header excluded) and ``reason`` (a short, fixed phrase such as
        ``"missing coordinates"``), in file order.
    """

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def counts(self) -> dict[str, int]:
        """Number of quarantined rows per reason, largest first."""
        if self.frame.empty:
            return {}
        return {str(k): int(v) for k, v in self.frame["reason"].value_counts().items()}

    def write_csv(self, path: str | Path, *, inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the quarantined rows (with their reasons) as CSV, atomically.

        Refuses a ``path`` that is one of ``inputs`` (the files these rows came from) or a
        protected trial file; cells a spreadsheet would run as formulas are escaped
        (:mod:`guardian_rct._core.formula_safe`).
        """
        sources = [s for s in self.frame.get("source", pd.Series(dtype=str)).dropna().unique() if s]
        text = formula_safe_frame(self.frame).to_csv(index=False)
        return write_text(path, text, inputs=[*inputs, *sources], what="quarantine file")


def quarantine_rows(rows: pd.DataFrame, reason: pd.Series | str, *, source: str | Path | None,
                    source_row: pd.Series) -> Quarantine:
    """Build a Quarantine from the unusable ``rows`` and their reasons."""
    frame = rows.astype("string").copy()
    frame.insert(0, "reason", reason if isinstance(reason, str) else reason.astype("string").to_numpy())
    frame.insert(0, "source_row", source_row.to_numpy())
    frame.insert(0, "source", str(source) if source is not None else "")
    return Quarantine(frame.reset_index(drop=True))


def concat_quarantines(parts: list[Quarantine]) -> Quarantine:
    """Join quarantines from several chunks or files, keeping their order."""
    frames = [q.frame for q in parts if len(q.frame)]
    if not frames:
        return Quarantine(pd.DataFrame(columns=["source", "source_row", "reason"]))
    return Quarantine(pd.concat(frames, ignore_index=True))
