"""How much randomness a design has: the number of allocation sequences it admits.

Randomisation inference and every design-based argument need the design to admit many
allocations; history constraints can remove nearly all of them. The extreme case: a block
of ``n = k(L + 1)`` hotspots, ``k`` treated a day, ``max_consecutive_control_days = L``.
Every hotspot must then be treated exactly once in every ``L + 1`` days, so after the
first window the schedule repeats — a *fixed rotation* (with ``L + 1 = 7``: the same
weekday all trial), which no randomisation argument can rescue.

:func:`diagnose_design` counts, per block and day, the distinct treated sets the design
can draw given the days before (``c_d``), and reports ``log10`` of the number of
allocation sequences:

* unconstrained crossover: exact, ``Σ_b T · log10 C(n_b, k_b)`` (two admissible counts per
  block with a fractional ``prob_treated``: ``C(n, f) + C(n, f+1)``);
* fixed rotation (``n_b = k_b(L_b + 1)``, fixed ``k_b``): exact, ``log10(n!/(k!)^{L+1})``
  for the block, whatever the trial length;
* other constrained designs: ``Σ_d mean log10 c_d`` along draws from the design itself
  (:meth:`Design.draw`), ``c_d`` being the number of treated sets the earliest-deadline
  rule of :mod:`guardian_rct.design.constraints` can produce on day ``d`` (all hotspots
  with an earlier deadline, at least the forced number from the tied deadline group,
  the rest from the eligible ones). It is an estimate of the log-count (exact when every
  path branches alike), labelled as such; the share of deterministic days (``c_d = 1``)
  is measured on the same draws;
* parallel: exact, ``Σ_groups log10 C(n_g, k_g)`` (2 per matched pair).

Rosenbaum (2002, §2.3) on the size of the randomisation set; Bailey (2008, ch. 2) on
designs that admit too few plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardian_rct.design.constraints import NEVER
from guardian_rct.design.protocol import Design

__all__ = ["DesignDiagnosis", "BlockDiagnosis", "diagnose_design", "MIN_LOG10_SEQUENCES",
           "MAX_DETERMINISTIC_SHARE"]

#: Fewer than 10^3 sequences: a randomisation p-value cannot go below about 1/1000.
MIN_LOG10_SEQUENCES = 3.0
#: More than this share of block-days with one possible treated set: near-deterministic.
MAX_DETERMINISTIC_SHARE = 0.25


def _log10_comb(n: int, k: int) -> float:
    if k < 0 or k > n:
        return -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(10)


@dataclass(frozen=True)
class BlockDiagnosis:
    """One block: size, daily count(s), constraints and its share of the randomness."""

    block: str
    n_hotspots: int
    treated_per_day: tuple[int, int]
    log10_sequences: float
    deterministic_share: float
    fixed_rotation: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"block": self.block, "n_hotspots": self.n_hotspots,
                "treated_per_day": list(self.treated_per_day),
                "log10_sequences": self.log10_sequences,
                "deterministic_share": self.deterministic_share,
                "fixed_rotation": self.fixed_rotation}


@dataclass(frozen=True)
class DesignDiagnosis:
    """What :func:`diagnose_design` found.

    Attributes
    ----------
    log10_sequences
        ``log10`` of the number of distinct allocation sequences (exact or estimated, see
        ``method``).
    method
        ``"exact"`` or ``"estimated from draws"``.
    deterministic_share
        Share of block-days on which the design has only one possible treated set.
    blocks
        Per-block detail.
    warnings
        Sentences for people (empty when the design has ample randomness).
    refuse
        True when the design is a fixed rotation in some block (``init`` refuses it).
    """

    kind: str
    n_hotspots: int
    n_days: int
    log10_sequences: float
    method: str
    deterministic_share: float
    blocks: tuple[BlockDiagnosis, ...]
    warnings: tuple[str, ...] = field(default=())
    refuse: bool = False
    constrained: bool = False

    @property
    def unequal_blocks(self) -> bool:
        """True when block sizes differ by more than a factor of two."""
        sizes = [b.n_hotspots for b in self.blocks]
        return len(sizes) > 1 and max(sizes) > 2 * min(sizes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the milestone report's ``design_diagnosis``)."""
        return {"kind": self.kind, "n_hotspots": self.n_hotspots, "n_days": self.n_days,
                "log10_sequences": self.log10_sequences, "method": self.method,
                "deterministic_share": self.deterministic_share,
                "unequal_blocks": self.unequal_blocks,
                "blocks": [b.to_dict() for b in self.blocks],
                "warnings": list(self.warnings), "refuse": self.refuse, "constrained": self.constrained}

    def summary(self) -> str:
        """One line for people."""
        text = (f"The design admits about {_power_of_ten(self.log10_sequences)} allocation sequences "
                f"({self.method}); {100 * self.deterministic_share:.0f}% of block-days are "
                "deterministic")
        return text + "".join(f"\nWARNING: {w}" for w in self.warnings)


def _power_of_ten(log10: float) -> str:
    """``10^x`` for people: ``"3.2 × 10^5,888"``, ``"1,024"`` below a million, ``"1"``."""
    if not math.isfinite(log10):
        return "infinitely many" if log10 > 0 else "0"
    if log10 < 6:
        return f"{round(10 ** log10):,}"
    exponent = math.floor(log10)
    mantissa = 10 ** (log10 - exponent)
    if mantissa >= 9.95:
        mantissa, exponent = 1.0, exponent + 1
    return f"{mantissa:.1f} × 10^{exponent:,}"


def _day_choices(last: np.ndarray, d: int, k: np.ndarray, capacity: int, max_control: int | None,
                 min_gap: int | None) -> np.ndarray:
    """Number of treated sets the constrained daily draw can produce (reps,), in log10."""
    reps, n = last.shape
    eligible = (d - last) > min_gap if min_gap is not None else np.ones((reps, n), dtype=bool)
    out = np.empty(reps)
    for r in range(reps):
        el = eligible[r]
        kk = int(k[r])
        if max_control is None:
            out[r] = _log10_comb(int(el.sum()), kk)
            continue
        deadline = np.maximum(last[r], -1) + (max_control + 1 - d)
        ordered = np.sort(deadline)
        jumps = np.where(ordered <= max_control, np.arange(1, n + 1) - capacity * ordered, 0)
        f = int(max(jumps.max(), 0))
        if f == 0:
            out[r] = _log10_comb(int(el.sum()), kk)
            continue
        dl = deadline[el]
        delta = np.sort(dl)[f - 1]
        a = int(np.sum(dl < delta))
        m = int(np.sum(dl == delta))
        rest = int(np.sum(dl > delta))
        total = sum(math.comb(m, x) * math.comb(rest, kk - a - x)
                    for x in range(f - a, m + 1) if 0 <= kk - a - x <= rest)
        out[r] = math.log10(total) if total > 0 else -math.inf
    return out


def _constrained_block(design: Any, members: np.ndarray, draws: np.ndarray,
                       capacity: int) -> tuple[float, float]:
    """(mean Σ_d log10 c_d, share of days with c_d = 1) for one block over the draws."""
    sub = draws[:, :, members]  # (reps, days, n_b)
    reps, n_days, _ = sub.shape
    last = np.full((reps, members.size), NEVER, dtype=np.int64)
    total = np.zeros(reps)
    det = 0
    for d in range(n_days):
        k = sub[:, d].sum(axis=1)
        c = _day_choices(last, d, k, capacity, design.max_consecutive_control_days, design.min_gap_days)
        total += c
        det += int(np.sum(c < 1e-12))
        last = np.where(sub[:, d], d, last)
    return float(total.mean()), det / (reps * n_days)


def _crossover(design: Any, rng: np.random.Generator, reps: int) -> tuple[list[BlockDiagnosis], str]:
    n_days = len(design.days)
    out, method = [], "exact"
    draws = None
    L = design.max_consecutive_control_days
    for b in design.block_names:
        members = design.block_members(b)
        n = int(members.size)
        lo, hi = design.count_range(b)
        per_day = _log10_comb(n, lo) if lo == hi else math.log10(math.comb(n, lo) + math.comb(n, hi))
        rotation = L is not None and lo == hi and n == lo * (L + 1)
        if rotation:
            log10 = (math.lgamma(n + 1) - (L + 1) * math.lgamma(lo + 1)) / math.log(10)
            det = max(n_days - (L + 1), 0) / n_days
        elif not design.constrained:
            log10, det = n_days * per_day, (1.0 if per_day == 0 else 0.0)
        else:
            if draws is None:
                draws = np.asarray(design.draw(rng, size=reps))
            log10, det = _constrained_block(design, members, draws, lo)
            method = "estimated from draws"
        out.append(BlockDiagnosis(str(b), n, (lo, hi), float(log10), float(det), bool(rotation)))
    return out, method


def _parallel(design: Any) -> list[BlockDiagnosis]:
    out = []
    counts = design.group_counts
    for g, members in enumerate(design.groups):
        n = len(members)
        if counts is not None:
            k = int(counts[g])
            log10, ks = _log10_comb(n, k), (k, k)
        else:
            exact = n * (design._group_p(g) if hasattr(design, "_group_p") else 0.5)
            lo = int(math.floor(exact))
            hi = lo + (1 if exact > lo else 0)
            ways = math.comb(n, lo) + (math.comb(n, hi) if hi != lo else 0)
            log10, ks = math.log10(ways), (lo, hi)
        out.append(BlockDiagnosis(f"group {g + 1}", n, ks, float(log10), 0.0, False))
    return out


def diagnose_design(design: Design, *, rng: np.random.Generator | None = None,
                    reps: int = 40) -> DesignDiagnosis:
    """Count the allocation sequences ``design`` admits and warn when they are few.

    Parameters
    ----------
    design
        A declared design (:func:`guardian_rct.design.factory.design_from_config`).
    rng
        Generator for the draws of a constrained design (a fixed default otherwise: the
        diagnosis does not depend on the trial's seed).
    reps
        Draws used to estimate a constrained design's count.
    """
    rng = np.random.default_rng(20240101) if rng is None else rng
    matrix = getattr(design, "matrix", None)
    if matrix is not None:  # a supplied permutation matrix: count its distinct allocations
        flat = np.packbits(np.asarray(matrix, dtype=bool).reshape(matrix.shape[0], -1), axis=1)
        distinct = len({row.tobytes() for row in flat})
        n = len(design.hotspot_ids)
        blocks = [BlockDiagnosis("permutation matrix", n, (0, n), math.log10(distinct), 0.0, False)]
        method = "exact (distinct allocations in the matrix)"
    elif design.kind == "parallel":
        blocks, method = _parallel(design), "exact"
    else:
        blocks, method = _crossover(design, rng, reps)
    log10 = float(sum(b.log10_sequences for b in blocks))
    n_days = len(design.days)
    weights = np.array([b.n_hotspots for b in blocks], dtype=float)
    det = float(np.average([b.deterministic_share for b in blocks], weights=weights))
    warnings = []
    refuse = False
    for b in blocks:
        if b.fixed_rotation:
            refuse = True
            warnings.append(
                f"block '{b.block}' is a fixed rotation: {b.n_hotspots} hotspots, {b.treated_per_day[0]} "
                f"treated a day and at most {b.n_hotspots // b.treated_per_day[0] - 1} control days in a "
                f"row force every hotspot to be treated exactly once every "
                f"{b.n_hotspots // b.treated_per_day[0]} days, so after the first window the schedule "
                "repeats; allow longer control runs (max_consecutive_control_days) or treat fewer a day")
    if log10 < MIN_LOG10_SEQUENCES:
        warnings.append(f"the design admits only about {_power_of_ten(log10)} allocation sequences: randomisation "
                        "inference cannot give small p-values")
    if det > MAX_DETERMINISTIC_SHARE and not refuse:
        warnings.append(f"{100 * det:.0f}% of block-days have only one possible treated set: the constraints "
                        "make the design nearly deterministic; relax max_consecutive_control_days or min_gap_days")
    n = int(sum(b.n_hotspots for b in blocks))
    return DesignDiagnosis(design.kind, n, n_days, log10, method, det, tuple(blocks),
                           tuple(warnings), refuse, bool(getattr(design, "constrained", False)))
