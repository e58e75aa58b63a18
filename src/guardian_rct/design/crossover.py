"""The hotspot-day ("repeat crossover") design: complete assignment within blocks, every day.

A design is an immutable object that knows the trial's hotspots, blocks and experimental
days and can say, before anything is drawn, how likely each hotspot-day is to be treated
(:meth:`probabilities`) and then draw whole allocations from an explicit generator
(:meth:`draw`). The daily ledger draws one day at a time with :meth:`CrossoverDesign.draw_day`
from that day's own stream; randomisation inference redraws whole trials from the *same*
object with ``draw(rng, size=...)``.

Designs
-------
``crossover`` (:class:`CrossoverDesign`, the reference "repeat crossover" design)
    Every experimental day, within each block, a fixed number of hotspots is treated by
    complete random assignment (randomizr's ``block_ra``; Gerber & Green 2012, §2.7).
    Optional constraints: at most ``max_consecutive_control_days`` control days in a row
    per hotspot, and at least ``min_gap_days`` control days between two treatment days of
    a hotspot (a washout). See :mod:`guardian_rct.design.constraints` for how a
    constrained day is drawn conditionally on the days before it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from guardian_rct._core.errors import ConfigError
from guardian_rct.design.constraints import ConstraintState, draw_constrained_day, initial_state
from guardian_rct.design.protocol import block_index, block_subsets

__all__ = ["CrossoverDesign", "check_block_counts"]


def check_block_counts(per_block: dict[str, int], sizes: dict[str, int]) -> None:
    """Refuse a split that treats a block on every day or on none: it would not be random.

    A hotspot with assignment probability 0 or 1 has no counterfactual, so no design-based
    estimate can use it (and inverse-probability weights are undefined).
    """
    for block, k in sorted(per_block.items()):
        n = sizes[block]
        if not 0 < k < n:
            what = "be treated every day" if k >= n else "never be treated"
            raise ConfigError(
                f"block '{block}' ({n} hotspot{'s' if n != 1 else ''}) would {what}",
                expected="between 1 and n-1 treated hotspots per block and day",
                found=f"{k} of {n}",
                where="design",
                fix="merge small blocks (e.g. neighbouring districts), drop [hotspots] block_column, "
                "or use treated_per_block_per_day / prob_treated",
            )


@dataclass(frozen=True)
class CrossoverDesign:
    """Hotspot-day ("repeat crossover") design with complete assignment within blocks.

    Attributes
    ----------
    hotspot_ids, blocks
        Hotspots in the trial's fixed order and the block of each (aligned).
    days
        The trial's experimental days.
    treated_per_block
        Treated hotspots per day in each block (fixed counts); ``None`` with
        ``prob_treated``.
    prob_treated
        With this set, block ``b`` treats ``floor(n_b p)`` hotspots a day plus one more
        with probability ``n_b p - floor(n_b p)``, so every hotspot-day has probability
        exactly ``p`` (randomizr's ``complete_ra`` with ``prob``).
    max_consecutive_control_days, min_gap_days
        Optional constraints (see :mod:`guardian_rct.design.constraints`).
    """

    hotspot_ids: tuple[str, ...]
    blocks: tuple[str, ...]
    days: tuple[dt.date, ...]
    treated_per_block: tuple[tuple[str, int], ...] | None = None
    prob_treated: float | None = None
    max_consecutive_control_days: int | None = None
    min_gap_days: int | None = None
    kind: Literal["crossover"] = "crossover"
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.hotspot_ids) != len(self.blocks):
            raise ValueError("hotspot_ids and blocks must be aligned")
        if (self.treated_per_block is None) == (self.prob_treated is None):
            raise ValueError("give exactly one of treated_per_block and prob_treated")
        self._index.update(block_index(self.blocks))
        self._check()

    # -- declared quantities -------------------------------------------------------------

    @property
    def block_names(self) -> tuple[str, ...]:
        """The distinct blocks, sorted."""
        return tuple(self._index)

    @property
    def constrained(self) -> bool:
        """Whether a day's draw depends on earlier days."""
        return self.max_consecutive_control_days is not None or self.min_gap_days is not None

    def block_members(self, block: str) -> np.ndarray:
        """Column indices of the hotspots in ``block``."""
        return self._index[block]

    def count_range(self, block: str) -> tuple[int, int]:
        """Smallest and largest number treated per day in ``block``."""
        n_b = len(self._index[block])
        if self.treated_per_block is not None:
            k = dict(self.treated_per_block)[block]
            return k, k
        exact = n_b * self.prob_treated
        low = int(np.floor(exact))
        return low, low + (1 if exact > low else 0)

    def block_probability(self, block: str) -> float:
        """P(treated) of a hotspot-day in ``block``."""
        if self.prob_treated is not None:
            return float(self.prob_treated)
        return dict(self.treated_per_block)[block] / len(self._index[block])

    def probabilities(self) -> np.ndarray:
        """P(treated) for every (day, hotspot): ``k_b / n_b`` in block ``b`` (or ``p``).

        Exact also under the history constraints: the constrained draw treats the
        hotspots of a block symmetrically (every hotspot starts in the same state and
        ties are broken at random), so the hotspots of a block are exchangeable and each
        has marginal probability ``E[k_b] / n_b`` on every day, although the days of one
        hotspot are no longer independent. :func:`simulated_probabilities` checks this by
        simulation (the tests compare the two within binomial error).
        """
        row = np.empty(len(self.hotspot_ids))
        for b, members in self._index.items():
            row[members] = self.block_probability(b)
        return np.tile(row, (len(self.days), 1))

    # -- drawing ------------------------------------------------------------------------

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        """Draw whole-trial allocations: bool ``(n_days, n_hotspots)`` or ``(size, ...)``.

        Unconstrained designs draw every day of every replicate at once (about 2-3 s
        and 208 MB for ``size=10_000`` with 57 hotspots x 365 days; callers that need
        less memory draw in batches). Constrained designs walk the days in order,
        vectorised over replicates.
        """
        reps = 1 if size is None else int(size)
        n_days, n = len(self.days), len(self.hotspot_ids)
        if self.constrained:
            out = np.empty((reps, n_days, n), dtype=bool)
            state = initial_state(reps, n)
            for d in range(n_days):
                out[:, d] = self._draw_constrained(rng, d, state)
                state = state.advance(d, out[:, d])
        else:
            counts = self._all_counts(rng, reps * n_days)
            out = block_subsets(rng, (reps, n_days), self._block_numbers(), counts)
        return out[0] if size is None else out

    def day_stream_key(self, day: dt.date) -> tuple[str | dt.date, ...]:
        """Each day has its own allocation stream, ``("allocation", day)``."""
        return ("allocation", day)

    def draw_day(self, rng: np.random.Generator, day: dt.date,
                 history: np.ndarray | None = None) -> np.ndarray:
        """Draw one day's assignment (bool per hotspot) from that day's stream.

        Parameters
        ----------
        rng
            The day's own generator, ``rng.stream(seed, "allocation", day)``.
        day
            The experimental day.
        history
            Bool ``(d, n_hotspots)``: the published assignments of every earlier trial
            day in order (required by constrained designs, ignored otherwise).
        """
        d = self.day_index(day)
        n = len(self.hotspot_ids)
        if not self.constrained:
            counts = self._all_counts(rng, 1)
            return block_subsets(rng, (1,), self._block_numbers(), counts)[0]
        hist = np.zeros((0, n), dtype=bool) if history is None else np.asarray(history, dtype=bool)
        if hist.shape != (d, n):
            raise ValueError(f"constrained draw of day {day} needs the {d} earlier days' "
                             f"assignments, got an array of shape {hist.shape}")
        state = initial_state(1, n).replay(hist)
        return self._draw_constrained(rng, d, state)[0]

    def day_index(self, day: dt.date) -> int:
        """Position of ``day`` in the trial (0 for the first day)."""
        d = (day - self.days[0]).days
        if not 0 <= d < len(self.days):
            raise ValueError(f"{day} is not an experimental day of this trial")
        return d

    def _block_numbers(self) -> np.ndarray:
        out = np.empty(len(self.hotspot_ids), dtype=np.int64)
        for i, members in enumerate(self._index.values()):
            out[members] = i
        return out

    def _all_counts(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """Treated per block for ``rows`` block-days: (rows, n_blocks)."""
        return np.stack([self._counts(rng, b, (rows,)) for b in self._index], axis=1)

    def _counts(self, rng: np.random.Generator, block: str, shape: tuple[int, ...]) -> np.ndarray:
        low, high = self.count_range(block)
        if low == high:
            return np.full(shape, low, dtype=np.int64)
        frac = len(self._index[block]) * self.prob_treated - low
        return low + (rng.random(shape) < frac).astype(np.int64)

    def _draw_constrained(self, rng: np.random.Generator, d: int,
                          state: ConstraintState) -> np.ndarray:
        reps = state.last.shape[0]
        out = np.zeros((reps, len(self.hotspot_ids)), dtype=bool)
        for b, members in self._index.items():
            low, _ = self.count_range(b)
            counts = self._counts(rng, b, (reps,))
            out[:, members] = draw_constrained_day(
                rng, d, state.last[:, members], counts, capacity=low,
                max_control=self.max_consecutive_control_days, min_gap=self.min_gap_days,
                day=self.days[d], block=b)
        return out

    # -- checks -------------------------------------------------------------------------

    def _check(self) -> None:
        L, g = self.max_consecutive_control_days, self.min_gap_days
        for b, members in self._index.items():
            n_b = len(members)
            low, high = self.count_range(b)
            if high > n_b:
                raise ConfigError(
                    f"block '{b}' has {n_b} hotspots but {high} are to be treated each day",
                    expected=f"at most {n_b}", found=str(high), where="design",
                    fix="treat fewer hotspots per day or merge blocks")
            if L is not None and n_b > low * (L + 1):
                raise ConfigError(
                    f"block '{b}': {n_b} hotspots cannot each be treated at least once in "
                    f"every {L + 1} days with {low} treated a day",
                    expected=f"n_b <= treated_per_day_b x (max_consecutive_control_days + 1) "
                             f"= {low * (L + 1)}",
                    found=f"{n_b} hotspots", where="design.max_consecutive_control_days",
                    fix="allow a longer run of control days or treat more per day")
            if g is not None and n_b < high * (g + 1):
                raise ConfigError(
                    f"block '{b}': {high} hotspots a day with a washout of {g} days needs "
                    f"at least {high * (g + 1)} hotspots",
                    expected=f"n_b >= treated_per_day_b x (min_gap_days + 1) = {high * (g + 1)}",
                    found=f"{n_b} hotspots", where="design.min_gap_days",
                    fix="shorten the washout or treat fewer per day")
        # together the two conditions imply min_gap_days <= max_consecutive_control_days
