"""Could this day's allocation have come from the registered design? (imports and verify)

An allocation made by another tool cannot be re-derived from the seed, so ``ledger
import`` (and ``ledger verify``, again, for every imported record) checks what the
registered design fixes: every hotspot listed once; the number treated per block (or per
parallel group) on the day; a parallel design's arms unchanged from day to day; the
history constraints; and every scheduled visit inside the experimental day and inside
one of the configured ``[design] windows``, ``patrol_minutes`` long, ``visits_per_day``
of them, spaced at least ``visit_spacing_minutes``. The first violation is returned as
one readable sentence (``None`` when the day is consistent with the design).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.constraints import check_constraints
from guardian_rct.design.patrol_times import window_intervals
from guardian_rct.design.protocol import Design

__all__ = ["day_problem", "history_problem"]


def day_problem(config: TrialConfig, design: Design, day: dt.date, content: dict,
                previous: np.ndarray | None) -> str | None:
    """The first way ``content`` (a payload, parsed) breaks the design on ``day``, or None.

    ``previous`` is the arms of the day before (for parallel designs), or ``None``.
    """
    ids = tuple(design.hotspot_ids)
    treated, control = content.get("treated", {}), content.get("control", [])
    if sorted([*treated, *control]) != sorted(ids):
        return "it does not list every trial hotspot exactly once"
    arms = np.array([h in treated for h in ids], dtype=bool)
    problem = _count_problem(design, arms)
    if problem:
        return problem
    if design.kind == "parallel" and previous is not None and not np.array_equal(arms, previous):
        return "a parallel design keeps every hotspot's arm, but this day's arms differ from the day before"
    return _window_problem(config, day, treated)


def history_problem(design: Design, history: np.ndarray) -> str | None:
    """A broken history constraint over ``history`` (days, hotspots), or None."""
    if not design.constrained:
        return None
    problems = check_constraints(history, max_control=design.max_consecutive_control_days,
                                 min_gap=design.min_gap_days)
    return f"the history constraints are broken ({problems[0]})" if problems else None


def _count_problem(design: Design, arms: np.ndarray) -> str | None:
    if design.kind == "crossover":
        for block in design.block_names:
            low, high = design.count_range(block)
            k = int(arms[design.block_members(block)].sum())
            if not low <= k <= high:
                want = str(low) if low == high else f"{low} to {high}"
                return f"block '{block}' has {k} treated hotspots; the design treats {want}"
        return None
    for g, members in enumerate(design.groups):
        k = int(arms[list(members)].sum())
        if design.group_counts is not None:
            low = high = design.group_counts[g]
        else:
            exact = len(members) * design.prob_treated
            low = int(np.floor(exact))
            high = low + (1 if exact > low else 0)
        if not low <= k <= high:
            return f"assignment group {g + 1} has {k} treated hotspots; the design treats {low}" + (
                "" if low == high else f" to {high}")
    return None


def _window_problem(config: TrialConfig, day: dt.date, treated: dict) -> str | None:
    spec = config.design
    intervals = [(start, start + pd.Timedelta(minutes=count - 1))
                 for start, count in window_intervals(day, spec, config.trial.tz,
                                                      config.trial.day_start_time)]
    length = pd.Timedelta(minutes=spec.patrol_minutes)
    spacing = pd.Timedelta(minutes=spec.visit_spacing_minutes)
    for hotspot, visits in sorted(treated.items()):
        if len(visits) != spec.visits_per_day:
            return (f"hotspot {hotspot} has {len(visits)} scheduled visits; the design "
                    f"schedules {spec.visits_per_day}")
        starts = []
        for pair in visits:
            try:
                start, end = (pd.Timestamp(t) for t in pair)
            except (TypeError, ValueError):
                return f"hotspot {hotspot} has a visit that is not a pair of times"
            if start.tzinfo is None or end - start != length:
                return (f"hotspot {hotspot}'s visit {pair[0]} to {pair[1]} is not "
                        f"{spec.patrol_minutes} minutes long")
            if not any(lo <= start <= hi for lo, hi in intervals):
                windows = ", ".join(str(w) for w in spec.windows)
                return (f"hotspot {hotspot}'s visit at {pair[0]} is not inside the configured "
                        f"patrol windows ({windows}) of experimental day {day}")
            starts.append(start)
        starts.sort()
        if any(b - a < spacing for a, b in zip(starts, starts[1:], strict=False)):
            return (f"hotspot {hotspot}'s visits are closer than visit_spacing_minutes = "
                    f"{spec.visit_spacing_minutes}")
    return None
