"""Randomised designs: declare, then draw (DESIGN.md rule 1).

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
    constrained day is drawn conditionally on the days before it.
``parallel`` (:class:`ParallelDesign`, in :mod:`guardian_rct.design.parallel`)
    Complete, block or matched-pair assignment, fixed for the whole trial.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from guardian_rct._core.days import date_range
from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.constraints import ConstraintState, draw_constrained_day, initial_state
from guardian_rct.geo.hotspots import HotspotSet

__all__ = [
    "Design",
    "CrossoverDesign",
    "design_from_config",
    "proportional_counts",
    "complete_subsets",
    "block_subsets",
    "simulated_probabilities",
]


@runtime_checkable
class Design(Protocol):
    """What every design offers (docs/contracts.md)."""

    kind: Literal["crossover", "parallel"]
    hotspot_ids: tuple[str, ...]
    blocks: tuple[str, ...]
    days: tuple[dt.date, ...]

    def probabilities(self) -> np.ndarray: ...

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray: ...


def _check_block_counts(per_block: dict[str, int], sizes: dict[str, int]) -> None:
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


def proportional_counts(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split ``total`` treated units across blocks in proportion to their sizes.

    Hamilton's largest-remainder method: each block gets ``floor(total * n_b / N)`` and
    the remaining units go to the blocks with the largest remainders (ties to the block
    that sorts first), so the counts add up to ``total`` exactly and never exceed a
    block's size. The split is fixed, not random, so every day has the same count per
    block.
    """
    n = sum(sizes.values())
    quotas = {b: total * s / n for b, s in sizes.items()}
    counts = {b: int(np.floor(q)) for b, q in quotas.items()}
    left = total - sum(counts.values())
    order = sorted(sizes, key=lambda b: (-(quotas[b] - counts[b]), b))
    for b in order[:left]:
        counts[b] += 1
    return counts


def complete_subsets(rng: np.random.Generator, shape: tuple[int, ...], n: int,
                     k: np.ndarray | int) -> np.ndarray:
    """Uniformly random k-of-n subsets, vectorised: bool array ``shape + (n,)``.

    ``k`` may vary by row (an array of ``shape``). A single-block case of
    :func:`block_subsets`.
    """
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), shape).reshape(-1, 1)
    return block_subsets(rng, shape, np.zeros(n, dtype=np.int64), k)


def block_subsets(rng: np.random.Generator, shape: tuple[int, ...], block_of: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
    """Complete random assignment within blocks for many rows at once.

    Parameters
    ----------
    shape
        Leading shape of the result (e.g. ``(size, n_days)``).
    block_of
        Block number (0..B-1) of each of the ``n`` columns.
    counts
        Number treated in each block: ``(B,)`` or one row per result row
        (``(prod(shape), B)``).

    Returns
    -------
    bool array ``shape + (n,)`` with exactly ``counts[b]`` True among block ``b``'s
    columns in every row.

    Notes
    -----
    Each column gets an i.i.d. uniform key shifted by its block number, so one sort of
    the row orders every block's keys contiguously; block ``b`` treats its ``k_b``
    smallest keys. The order statistics of i.i.d. keys make every k-subset equally
    likely (complete random assignment; Gerber & Green 2012, §2.7). Rows with a tie at a
    threshold (rare with float32 keys) are redrawn; the tie event does not depend on
    which hotspot holds which key, so conditioning on it keeps the subsets uniform.
    Rows are processed in chunks of about four million keys to bound memory.
    """
    block_of = np.asarray(block_of, dtype=np.int64)
    n = len(block_of)
    rows = int(np.prod(shape)) if shape else 1
    out = np.empty((rows, n), dtype=bool)
    if n == 0 or rows == 0:
        return out.reshape(*shape, n)
    n_blocks = int(block_of.max()) + 1
    counts = np.asarray(counts, dtype=np.int64)
    counts = np.broadcast_to(counts.reshape(-1, n_blocks), (rows, n_blocks))
    sizes = np.bincount(block_of, minlength=n_blocks)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    chunk = max(1, (1 << 22) // n)
    for lo in range(0, rows, chunk):
        out[lo:lo + chunk] = _block_chunk(rng, block_of, counts[lo:lo + chunk], start, sizes)
    return out.reshape(*shape, n)


def _block_chunk(rng: np.random.Generator, block_of: np.ndarray, counts: np.ndarray,
                 start: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    m = len(counts)
    keys = rng.random((m, len(block_of)), dtype=np.float32)
    keys *= np.float32(0.5)  # [0, 0.5) + block number: blocks never overlap after rounding
    keys += block_of.astype(np.float32)
    ordered = np.sort(keys, axis=-1)
    # position of block b's threshold in the sorted row: start_b + k_b - 1
    pos = start[None, :] + np.clip(counts, 1, None) - 1  # (m, B)
    thr = np.take_along_axis(ordered, pos, axis=1)  # (m, B)
    rows = keys <= thr[:, block_of]
    rows &= (counts > 0)[:, block_of]
    # a tie at a threshold would treat too many: redraw those rows
    inside = (counts > 0) & (counts < sizes[None, :])
    nxt = np.take_along_axis(ordered, np.minimum(pos + 1, len(block_of) - 1), axis=1)
    bad = (inside & (nxt == thr)).any(axis=1)
    if bad.any():
        rows[bad] = _block_chunk(rng, block_of, counts[bad], start, sizes)
    return rows


def _block_index(blocks: tuple[str, ...]) -> dict[str, np.ndarray]:
    names = sorted(set(blocks))
    arr = np.asarray(blocks, dtype=object)
    return {b: np.flatnonzero(arr == b) for b in names}


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
        self._index.update(_block_index(self.blocks))
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


def simulated_probabilities(design: Design, rng: np.random.Generator, *, draws: int = 2000,
                            batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo estimate of P(treated) for each (day, hotspot), with its standard error.

    Returns ``(p_hat, se)`` where ``se = sqrt(p_hat (1 - p_hat) / draws)`` (binomial).
    Use it to check :meth:`Design.probabilities` or to get probabilities of a design
    whose assignment probabilities have no closed form.
    """
    total = np.zeros((len(design.days), len(design.hotspot_ids)))
    done = 0
    while done < draws:
        size = min(batch, draws - done)
        total += design.draw(rng, size=size).sum(axis=0)
        done += size
    p_hat = total / draws
    return p_hat, np.sqrt(p_hat * (1 - p_hat) / draws)


def _trial_days(config: TrialConfig) -> tuple[dt.date, ...]:
    return tuple(date_range(config.trial.start_date, config.trial.end_date))


def design_from_config(config: TrialConfig, hotspots: HotspotSet, *,
                       covariate: dict[str, float] | None = None) -> Design:
    """Declare the trial's design from ``[design]`` and the hotspot set.

    Parameters
    ----------
    config
        The trial config.
    hotspots
        The trial's hotspots (their order and blocks fix the columns of every array).
    covariate
        For matched-pair parallel designs: hotspot id → baseline value to pair on (e.g.
        prior violence). When omitted, the hotspot file's ``design.pair_covariate``
        column is read.
    """
    spec = config.design
    ids = tuple(str(h) for h in hotspots.ids)
    blocks = tuple(str(b) for b in hotspots.blocks)
    days = _trial_days(config)
    if spec.kind == "parallel":
        from guardian_rct.design.parallel import parallel_design_from_config

        return parallel_design_from_config(config, ids, blocks, days, covariate=covariate)
    sizes = {b: len(m) for b, m in _block_index(blocks).items()}
    if spec.treated_per_day is not None:
        if spec.treated_per_day > len(ids):
            raise ConfigError("more hotspots treated per day than there are hotspots",
                              expected=f"at most {len(ids)}", found=str(spec.treated_per_day),
                              where="design.treated_per_day", fix="lower treated_per_day")
        per_block = proportional_counts(spec.treated_per_day, sizes)
    elif spec.treated_per_block_per_day is not None:
        per_block = {b: spec.treated_per_block_per_day for b in sizes}
    else:
        per_block = None
    if per_block is not None:
        _check_block_counts(per_block, sizes)
    return CrossoverDesign(
        hotspot_ids=ids,
        blocks=blocks,
        days=days,
        treated_per_block=tuple(sorted(per_block.items())) if per_block is not None else None,
        prob_treated=spec.prob_treated if per_block is None else None,
        max_consecutive_control_days=spec.max_consecutive_control_days,
        min_gap_days=spec.min_gap_days,
    )
