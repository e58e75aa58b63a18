"""Randomised designs: declare, then draw (DESIGN.md rule 1).

A design is an immutable object that knows the trial's hotspots, blocks and experimental
days and can say, before anything is drawn, how likely each hotspot-day is to be treated
(:meth:`Design.probabilities`) and then draw whole allocations from an explicit generator
(:meth:`Design.draw`). The daily ledger draws one day at a time with
:meth:`Design.draw_day` from the stream :meth:`Design.day_stream_key` names;
randomisation inference redraws whole trials from the *same* object with
``draw(rng, size=...)``. Nothing outside a design branches on which kind it is.

This module holds the protocol and the complete-assignment kernels every design uses
(randomizr's ``complete_ra``/``block_ra``; Gerber & Green 2012, §2.7). The designs are in
:mod:`guardian_rct.design.crossover` and :mod:`guardian_rct.design.parallel`, and
:func:`guardian_rct.design.factory.design_from_config` declares the trial's own.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["Design", "proportional_counts", "complete_subsets", "block_subsets", "block_index",
           "simulated_probabilities"]


@runtime_checkable
class Design(Protocol):
    """What every design offers (docs/contracts.md)."""

    kind: Literal["crossover", "parallel"]
    hotspot_ids: tuple[str, ...]
    blocks: tuple[str, ...]
    days: tuple[dt.date, ...]

    @property
    def constrained(self) -> bool:
        """Whether a day's draw depends on the days before it."""
        ...

    def probabilities(self) -> np.ndarray:
        """P(treated) of every (day, hotspot), ``(n_days, n_hotspots)``."""
        ...

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        """Whole-trial allocations, bool ``(n_days, n)`` or ``(size, n_days, n)``."""
        ...

    def day_stream_key(self, day: dt.date) -> tuple[str | dt.date, ...]:
        """Purpose and keys of the random stream day ``day``'s arms are drawn from."""
        ...

    def draw_day(self, rng: np.random.Generator, day: dt.date,
                 history: np.ndarray | None = None) -> np.ndarray:
        """Day ``day``'s arms (bool per hotspot), from that day's stream and history."""
        ...


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


def block_index(blocks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Block name -> column indices of its hotspots, blocks sorted by name."""
    names = sorted(set(blocks))
    arr = np.asarray(blocks, dtype=object)
    return {b: np.flatnonzero(arr == b) for b in names}




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
