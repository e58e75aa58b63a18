"""One exception base for guardian_rct, and the warnings it emits.

Every error says what was expected, what was found, where (file, row, column or
config key) and how to fix it, so that a tasking inspector or analyst can act on the
message without reading a traceback (DESIGN.md, house style rule 3).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "GuardianError",
    "ConfigError",
    "DataError",
    "StoreError",
    "UsageError",
    "GuardianWarning",
    "DataQualityWarning",
]


class GuardianError(ValueError):
    """Base class of every error guardian_rct raises on purpose (a ``ValueError``, so callers
    that catch bad values generically catch these too).

    Parameters
    ----------
    problem
        One sentence naming what is wrong.
    expected, found
        What the input should have held and what it held instead.
    where
        The place: a file path, optionally with row and column, or a config key.
    fix
        How the user can put it right.

    Notes
    -----
    ``str(error)`` is a single line, suitable for the command line, e.g.
    ``hotspots.geojson, row 3, column 'hotspot_id': duplicate hotspot id 'H07'
    (expected unique ids; found 2 rows with 'H07'). Fix: give every hotspot its own id.``
    """

    exit_code: int = 1

    def __init__(
        self,
        problem: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        where: str | Path | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.expected = expected
        self.found = found
        self.where = str(where) if where is not None else None
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.where}: {self.problem}" if self.where else self.problem
        detail = []
        if self.expected is not None:
            detail.append(f"expected {self.expected}")
        if self.found is not None:
            detail.append(f"found {self.found}")
        if detail:
            text += f" ({'; '.join(detail)})"
        if self.fix:
            text += f". Fix: {self.fix}"
        return " ".join(text.split())

    def to_dict(self) -> dict[str, str | None]:
        """The error as data, for ``--json`` output."""
        return {
            "error": type(self).__name__,
            "problem": self.problem,
            "expected": self.expected,
            "found": self.found,
            "where": self.where,
            "fix": self.fix,
            "message": str(self),
        }


class ConfigError(GuardianError):
    """The trial configuration is wrong (exit code 2: bad usage or config)."""

    exit_code = 2


class UsageError(GuardianError):
    """The command was called wrongly (exit code 2)."""

    exit_code = 2


class DataError(GuardianError):
    """An input data file cannot be used as given (exit code 1)."""

    exit_code = 1


class StoreError(GuardianError):
    """The trial store is missing, belongs to another trial, or refuses a change (exit 1)."""

    exit_code = 1


class GuardianWarning(UserWarning):
    """Base class of warnings guardian_rct emits."""


class DataQualityWarning(GuardianWarning):
    """Input was usable but something about it deserves a look (e.g. repaired polygons)."""


def where(path: str | Path | None, row: int | None = None, column: str | None = None) -> str:
    """Format a location as ``file, row N, column 'c'`` for error messages.

    ``row`` is the 1-based data row number as a user would count it in a spreadsheet
    (header excluded).
    """
    parts = [str(path) if path is not None else "<input>"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
