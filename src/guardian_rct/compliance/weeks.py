"""ISO weeks of a compliance result: which are complete, and their totals.

A week is **complete** (and so may be stored in the trend) only when the result covers
all seven of its days, every patrol deadline and every control day in it ended before
the presence data end (``ComplianceResult.observed_until``), so nothing in it is
pending, and the data reach into it at all. A week of unusable pings is therefore never
stored as 0%: its patrols are pending, not missed.
"""

from __future__ import annotations

import pandas as pd

from guardian_rct._core.days import iso_week
from guardian_rct.compliance.scoring import ComplianceResult
from guardian_rct.ledger.records import WeekTotals

__all__ = ["week_totals", "week_is_observed"]


def week_is_observed(result: ComplianceResult, week: str) -> bool:
    """Every deadline and control day of ``week`` ended by ``result.observed_until``
    (always true when the result has no ``observed_until``: history scored afterwards)."""
    seen = result.observed_until
    if seen is None:
        return True
    patrols = result.patrols[result.patrols["week"] == week]
    controls = result.controls[result.controls["week"] == week]
    ends = [*patrols["deadline"], *controls["day_end"]]
    return bool(ends) and max(pd.Timestamp(e) for e in ends) <= seen


def week_totals(result: ComplianceResult) -> tuple[list[WeekTotals], list[WeekTotals]]:
    """``(complete, partial)`` weeks of ``result`` (see the module docstring)."""
    days = pd.Series(sorted(set(result.patrols["date"]) | set(result.controls["date"])))
    covered: dict[str, set] = {}
    for d in days:
        covered.setdefault(iso_week(d), set()).add(d)
    complete, partial = [], []
    for rec in result.rates("week").to_dict("records"):
        is_complete = (len(covered.get(rec["week"], ())) == 7 and int(rec["pending"]) == 0
                       and int(rec["control_pending"]) == 0 and week_is_observed(result, rec["week"]))
        totals = WeekTotals(rec["week"], int(rec["scheduled"]), int(rec["compliant"]),
                            int(rec["control_days"]), int(rec["contaminated"]), partial=not is_complete,
                            pending=int(rec["pending"]))
        (complete if is_complete else partial).append(totals)
    return complete, partial
