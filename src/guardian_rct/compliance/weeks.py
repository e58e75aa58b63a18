"""ISO weeks of a compliance result: which are complete, and their totals."""

from __future__ import annotations

import pandas as pd

from guardian_rct._core.days import iso_week
from guardian_rct.compliance.scoring import ComplianceResult
from guardian_rct.ledger.records import WeekTotals

__all__ = ["week_totals"]


def week_totals(result: ComplianceResult) -> tuple[list[WeekTotals], list[WeekTotals]]:
    """``(complete, partial)`` weeks of ``result``: a week is complete when the result
    covers all seven of its days."""
    days = pd.Series(sorted(set(result.patrols["date"]) | set(result.controls["date"])))
    covered: dict[str, set] = {}
    for d in days:
        covered.setdefault(iso_week(d), set()).add(d)
    complete, partial = [], []
    for rec in result.rates("week").to_dict("records"):
        is_complete = len(covered.get(rec["week"], ())) == 7
        totals = WeekTotals(rec["week"], int(rec["scheduled"]), int(rec["compliant"]),
                            int(rec["control_days"]), int(rec["contaminated"]), partial=not is_complete)
        (complete if is_complete else partial).append(totals)
    return complete, partial
