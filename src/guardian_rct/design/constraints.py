"""History constraints of the crossover design, and the conditional daily draw.

Two constraints are used in hotspot-day trials:

``max_consecutive_control_days = L``
    No hotspot has more than ``L`` control days in a row (counting from the first
    trial day), i.e. every hotspot is treated at least once in every ``L + 1`` days.
    The *deadline* of a hotspot is the last day by which it must next be treated:
    ``last_treated + L + 1`` (``L`` for a hotspot not yet treated).
``min_gap_days = g``
    At least ``g`` control days separate two treatment days of a hotspot (a washout):
    a hotspot treated on day ``t`` is not eligible again before day ``t + g + 1``.

How day ``D`` is drawn (conditionally on days ``0..D-1``)
--------------------------------------------------------
The state is, per hotspot, the day it was last treated; it is re-derived from the
published assignments of every earlier day, in order (so ``ledger verify`` re-derives
each day's draw from the days before it). Within each block, with ``k`` treated today
and ``k_min`` the smallest daily count:

1. Eligible hotspots are those outside their washout.
2. Deadline counting (earliest-deadline-first, Liu & Layland 1973): with ``c_t`` the
   number of hotspots whose deadline is within ``t`` days, the days after today offer
   only ``k_min t`` treatment slots, so today's treated set must contain at least
   ``r_t = c_t - k_min t`` of them. Taking the ``max_t r_t`` eligible hotspots with the
   earliest deadlines (ties broken at random) satisfies every ``r_t``; these are
   *forced*. With ``n_b <= k_min (L + 1)`` this keeps every later day feasible (the
   invariant ``c_t <= k_min (t + 1)`` is preserved).
3. The remaining ``k - forced`` are a simple random sample of the other eligible
   hotspots (complete random assignment).

Every step treats the hotspots of a block symmetrically, so the marginal probability of
treatment stays ``E[k] / n_b`` for every hotspot-day (exchangeability); consecutive days
of a hotspot are dependent, which randomisation inference captures by redrawing from the
same design. If a combination of constraints ever leaves a day infeasible, the draw
raises rather than break a constraint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from guardian_rct._core.errors import ConfigError

__all__ = ["NEVER", "ConstraintState", "initial_state", "draw_constrained_day",
           "check_constraints"]

NEVER = -(10**6)  # "last treated" of a hotspot never treated


@dataclass(frozen=True)
class ConstraintState:
    """Per replicate and hotspot, the day index on which it was last treated."""

    last: np.ndarray  # int64 (reps, n_hotspots)

    def advance(self, d: int, treated: np.ndarray) -> ConstraintState:
        """The state after day ``d`` with assignment ``treated`` (reps, n)."""
        return ConstraintState(np.where(treated, d, self.last))

    def replay(self, history: np.ndarray) -> ConstraintState:
        """The state after the days of ``history`` (bool (days, n), in order)."""
        if len(history) == 0:
            return self
        days = np.arange(len(history))[:, None]
        last = np.where(history, days, NEVER).max(axis=0)
        return ConstraintState(np.maximum(self.last, last[None, :]))


def initial_state(reps: int, n: int) -> ConstraintState:
    """State before the first trial day: no hotspot treated yet."""
    return ConstraintState(np.full((reps, n), NEVER, dtype=np.int64))


def _smallest(keys: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, True for the ``k`` smallest keys (``k`` may differ by row; keys distinct)."""
    ordered = np.sort(keys, axis=1)
    thr = np.take_along_axis(ordered, np.clip(k - 1, 0, keys.shape[1] - 1)[:, None], axis=1)
    return (keys <= thr) & (k > 0)[:, None]


def draw_constrained_day(rng: np.random.Generator, d: int, last: np.ndarray, counts: np.ndarray, *,
                         capacity: int, max_control: int | None, min_gap: int | None,
                         day: dt.date, block: str) -> np.ndarray:
    """Draw day ``d`` of one block under the constraints (see the module docstring).

    Parameters
    ----------
    last
        Day each hotspot of the block was last treated (reps, n_b); ``NEVER`` if not yet.
    counts
        Number to treat today in each replicate (reps,).
    capacity
        Smallest daily count of the block (slots assumed for later days).
    """
    reps, n_b = last.shape
    eligible = (d - last) > min_gap if min_gap is not None else np.ones((reps, n_b), dtype=bool)
    forced = np.zeros((reps, n_b), dtype=bool)
    if max_control is not None:
        deadline = np.maximum(last, -1) + (max_control + 1 - d)  # days left, 0 = today
        # max over t of c_t - capacity t, evaluated where c_t jumps: at the j-th smallest
        # deadline (0-based) c_t >= j + 1
        ordered = np.sort(deadline, axis=1)
        jumps = np.arange(1, n_b + 1)[None, :] - capacity * ordered
        jumps = np.where(ordered <= max_control, jumps, 0)
        n_forced = np.clip(jumps.max(axis=1), 0, None)
        key = np.where(eligible, deadline + rng.random((reps, n_b)), np.inf)
        forced = _smallest(key, n_forced)
        if (deadline < 0).any() or (forced & ~eligible).any() or (n_forced > counts).any():
            _infeasible(day, block)
    priority = np.where(forced, 0.0, np.where(eligible, 1.0, 2.0)) + rng.random((reps, n_b))
    treated = _smallest(priority, counts)
    if (treated & ~eligible).any():
        _infeasible(day, block)
    if max_control is not None and min_gap is not None:
        # with a washout some early-deadline hotspots may be ineligible today: check that
        # every later day stays feasible (without a washout this holds by construction)
        horizon = np.arange(max_control + 1)
        within = deadline[:, :, None] <= horizon
        need = within.sum(axis=1) - capacity * horizon
        if ((treated[:, :, None] & within).sum(axis=1) < need).any():
            _infeasible(day, block)
    return treated


def _infeasible(day: dt.date, block: str) -> None:
    raise ConfigError(
        f"the design's constraints cannot be met on {day} in block '{block}'",
        expected="max_consecutive_control_days and min_gap_days that leave room to choose",
        found="no assignment satisfies both", where="design",
        fix="allow longer control runs, shorten the washout or change treated per day")


def check_constraints(assignment: np.ndarray, *, max_control: int | None,
                      min_gap: int | None) -> list[str]:
    """Violations of the constraints in a (days, n) assignment, as readable strings.

    Used by tests and by ``ledger verify`` on imported allocations; an empty list means
    every constraint holds.
    """
    problems = []
    a = np.asarray(assignment, dtype=bool)
    n_days, n = a.shape
    for j in range(n):
        days = np.flatnonzero(a[:, j])
        if max_control is not None:
            edges = np.concatenate([[-1], days, [n_days]])
            runs = np.diff(edges) - 1
            if len(runs) and runs[:-1].max(initial=0) > max_control:
                problems.append(f"hotspot {j}: {runs[:-1].max()} control days in a row")
            if runs[-1] > max_control:
                problems.append(f"hotspot {j}: {runs[-1]} control days in a row at the end")
        if min_gap is not None and len(days) > 1:
            gaps = np.diff(days) - 1
            if gaps.min() < min_gap:
                problems.append(f"hotspot {j}: only {gaps.min()} control days between treatments")
    return problems
