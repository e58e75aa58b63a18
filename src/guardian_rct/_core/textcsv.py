"""Read a small CSV that users write by hand (allocations, logs, tables) as text.

Every column is read as a string with empty cells kept as ``""`` (no silent NaN), so
validators see exactly what the user wrote and can name the row and column of a bad
value. A missing or unreadable file is a :class:`~guardian_rct._core.errors.DataError` that
says what the file should be.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from guardian_rct._core.errors import DataError, where

__all__ = ["read_text_csv"]


def read_text_csv(path: str | Path, *, what: str, option: str | None = None,
                  expected: str | None = None) -> pd.DataFrame:
    """Read ``path`` as a CSV of strings.

    Parameters
    ----------
    what
        What the file is, for messages (``"allocation"``, ``"patrol log"``).
    option
        The command-line option or config key that named the file, for the fix.
    expected
        What the file should hold, for the message when it cannot be parsed.

    Raises
    ------
    DataError
        The file does not exist, is a folder, is empty, or is not parseable UTF-8 CSV.
    """
    path = Path(path)
    if not path.is_file():
        fix = f"check the path given to {option}" if option else "check the path"
        raise DataError(f"{what} file not found", where=where(path), fix=fix)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read the {what} as CSV ({detail})", where=where(path), expected=expected,
                        fix="save it as UTF-8 comma-separated text with a header row") from None
