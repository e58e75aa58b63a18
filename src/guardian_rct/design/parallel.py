"""Parallel designs: each hotspot is treatment or control for the whole trial.

Three assignment schemes, as in R's randomizr (Coppock 2023) and Gerber & Green (2012,
ch. 3-4):

``complete``
    Exactly ``m`` of the ``n`` hotspots are treated (``n_treated``; or
    ``prob_treated``: ``floor(n p)`` plus one more with probability ``n p - floor(n p)``;
    default half).
``block``
    Complete assignment inside each block (``n_treated`` split across blocks in
    proportion by largest remainders, or ``prob_treated`` within each block).
``matched_pair``
    Hotspots are sorted by a baseline covariate (e.g. prior violence; ties by id) and
    adjacent hotspots form pairs; one of each pair is treated, with probability 1/2
    (Imai, King & Nall 2009). With an odd number of hotspots, the one left over (the
    highest value) is treated with probability 1/2 on its own.

The assignment is drawn once, from the named stream ``("allocation", "parallel")``, and
is the same on every day; :meth:`ParallelDesign.probabilities` is ``(n_days, n)`` with
identical rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np

from guardian_rct._core.errors import ConfigError, DataError, where
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.protocol import complete_subsets, proportional_counts

__all__ = ["ParallelDesign", "parallel_design_from_config", "form_pairs"]


def form_pairs(ids: tuple[str, ...], values: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Pair hotspots with adjacent covariate values: tuples of column indices.

    Sorted by (value, id); consecutive hotspots form pairs; an odd one out forms a
    singleton group.
    """
    order = sorted(range(len(ids)), key=lambda i: (float(values[i]), ids[i]))
    return tuple(tuple(order[i:i + 2]) for i in range(0, len(order), 2))


@dataclass(frozen=True)
class ParallelDesign:
    """A parallel design (see the module docstring).

    ``groups`` are the randomisation groups (blocks, pairs, or one group of all) as
    column indices; ``group_counts`` how many of each are treated (fixed), or
    ``prob_treated`` with the floor/ceil rule.
    """

    hotspot_ids: tuple[str, ...]
    blocks: tuple[str, ...]
    days: tuple[dt.date, ...]
    assignment: Literal["complete", "block", "matched_pair"]
    groups: tuple[tuple[int, ...], ...]
    group_counts: tuple[int, ...] | None = None
    prob_treated: float | None = None
    kind: Literal["parallel"] = "parallel"

    def __post_init__(self) -> None:
        if (self.group_counts is None) == (self.prob_treated is None):
            raise ValueError("give exactly one of group_counts and prob_treated")
        cols = sorted(i for g in self.groups for i in g)
        if cols != list(range(len(self.hotspot_ids))):
            raise ValueError("groups must cover every hotspot exactly once")

    @property
    def pairs(self) -> tuple[tuple[int, ...], ...]:
        """The matched pairs (column indices); empty for other schemes."""
        return self.groups if self.assignment == "matched_pair" else ()

    def _group_p(self, g: int) -> float:
        if self.prob_treated is not None:
            return float(self.prob_treated)
        return self.group_counts[g] / len(self.groups[g])

    def probabilities(self) -> np.ndarray:
        """P(treated), identical on every day: ``m_g / n_g`` for the hotspot's group."""
        row = np.empty(len(self.hotspot_ids))
        for g, members in enumerate(self.groups):
            row[list(members)] = self._group_p(g)
        return np.tile(row, (len(self.days), 1))

    def draw_units(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        """Draw the fixed assignment per hotspot: bool ``(n,)`` or ``(size, n)``."""
        reps = 1 if size is None else int(size)
        out = np.empty((reps, len(self.hotspot_ids)), dtype=bool)
        for g, members in enumerate(self.groups):
            n_g = len(members)
            if self.group_counts is not None:
                k = np.full(reps, self.group_counts[g])
            else:
                exact = n_g * self.prob_treated
                low = int(np.floor(exact))
                k = low + (rng.random(reps) < exact - low).astype(np.int64)
            out[:, list(members)] = complete_subsets(rng, (reps,), n_g, k)
        return out[0] if size is None else out

    @property
    def constrained(self) -> bool:
        """A parallel assignment has no history: never constrained."""
        return False

    def day_stream_key(self, day: dt.date) -> tuple[str | dt.date, ...]:
        """One stream for the whole trial, ``("allocation", "parallel")``: every day
        re-draws the same fixed assignment."""
        return ("allocation", "parallel")

    def draw_day(self, rng: np.random.Generator, day: dt.date,
                 history: np.ndarray | None = None) -> np.ndarray:
        """The fixed assignment (the same on every day when drawn from the trial's stream)."""
        return self.draw_units(rng)

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        """Whole-trial allocations: ``(n_days, n)`` or ``(size, n_days, n)``, rows equal."""
        units = self.draw_units(rng, size=size)
        n_days = len(self.days)
        if size is None:
            return np.repeat(units[None, :], n_days, axis=0)
        return np.repeat(units[:, None, :], n_days, axis=1)


def _split(total: int, sizes: list[int]) -> list[int]:
    counts = proportional_counts(total, {f"{i:09d}": s for i, s in enumerate(sizes)})
    return [counts[f"{i:09d}"] for i in range(len(sizes))]


def _read_covariate(config: TrialConfig, ids: tuple[str, ...], column: str) -> np.ndarray:
    path = config.hotspots.path
    frame = gpd.read_file(path, ignore_geometry=True)
    if column not in frame.columns:
        raise DataError(f"no '{column}' column to pair hotspots on", where=where(path, None, column),
                        expected=f"a numeric column '{column}' (design.pair_covariate)",
                        found="columns " + ", ".join(map(str, frame.columns)),
                        fix="add the baseline covariate to the hotspot file or pass it in")
    values = dict(zip(frame[config.hotspots.id_column].astype(str).str.strip(), frame[column],
                      strict=True))
    return _covariate_array(values, ids, f"{path}, column '{column}'")


def _covariate_array(values: dict, ids: tuple[str, ...], source: str) -> np.ndarray:
    out = np.empty(len(ids))
    for i, h in enumerate(ids):
        if h not in values:
            raise DataError(f"no baseline value for hotspot '{h}'", where=source,
                            fix="give every hotspot a value of the pairing covariate")
        try:
            out[i] = float(values[h])
        except (TypeError, ValueError):
            raise DataError(f"baseline value of hotspot '{h}' is not a number", where=source,
                            found=repr(values[h]), fix="use numbers such as prior crime counts") from None
        if not np.isfinite(out[i]):
            raise DataError(f"baseline value of hotspot '{h}' is missing", where=source,
                            found=repr(values[h]), fix="fill in the value")
    return out


def parallel_design_from_config(config: TrialConfig, ids: tuple[str, ...], blocks: tuple[str, ...],
                                days: tuple[dt.date, ...], *,
                                covariate: dict[str, float] | None = None) -> ParallelDesign:
    """Declare a parallel design from ``[design]`` (see :func:`design.design_from_config`)."""
    spec = config.design
    n = len(ids)
    if spec.n_treated is not None and spec.prob_treated is not None:
        raise ConfigError("a parallel design takes n_treated or prob_treated, not both",
                          where="design", fix="keep one of them")
    if spec.n_treated is not None and spec.n_treated > n:
        raise ConfigError("more hotspots treated than there are hotspots", expected=f"at most {n}",
                          found=str(spec.n_treated), where="design.n_treated", fix="lower n_treated")
    prob = spec.prob_treated
    if spec.assignment == "matched_pair":
        values = (_covariate_array(covariate, ids, "covariate") if covariate is not None
                  else _read_covariate(config, ids, spec.pair_covariate))
        return ParallelDesign(ids, blocks, days, "matched_pair", form_pairs(ids, values),
                              prob_treated=0.5)
    if spec.assignment == "block":
        names = sorted(set(blocks))
        groups = tuple(tuple(i for i, b in enumerate(blocks) if b == name) for name in names)
    else:
        groups = (tuple(range(n)),)
    if spec.n_treated is not None:
        counts = tuple(_split(spec.n_treated, [len(g) for g in groups]))
        return ParallelDesign(ids, blocks, days, spec.assignment, groups, group_counts=counts)
    return ParallelDesign(ids, blocks, days, spec.assignment, groups,
                          prob_treated=prob if prob is not None else 0.5)
