"""A design given as a matrix of allocations, for randomisation inference on imported data.

When an allocation was made by another tool, the randomisation test must redraw from
*that* tool's design. R's ri2 and randomizr express a design as a permutation matrix:
one column per admissible allocation (``randomizr::obtain_permutation_matrix``;
``ri2::conduct_ri(permutation_matrix = ...)``; Coppock 2023). :func:`read_permutations`
reads such a matrix (``.npy``: bool/0-1 array ``(k, n_days, n_hotspots)`` or
``(k, n_days * n_hotspots)`` in day-major order; ``.parquet``/``.csv``: one column per
allocation, one row per hotspot-day in the same order) and :class:`PermutationDesign`
offers the :class:`~guardian_rct.design.protocol.Design` protocol over it: ``draw``
samples allocations uniformly from the matrix (with replacement), ``probabilities`` is
their mean. The observed allocation should be one of the matrix's; a check in
:func:`read_permutations` reports whether it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from guardian_rct._core.errors import DataError, UsageError, where

__all__ = ["PermutationDesign", "read_permutations"]


@dataclass(frozen=True)
class PermutationDesign:
    """The design whose admissible allocations are the rows of ``matrix`` (k, days, hotspots)."""

    hotspot_ids: tuple[str, ...]
    blocks: tuple[str, ...]
    days: tuple[dt.date, ...]
    matrix: np.ndarray = field(repr=False)
    kind: Literal["crossover", "parallel"] = "crossover"

    @property
    def constrained(self) -> bool:
        """A supplied matrix can encode any dependence between days."""
        return True

    def probabilities(self) -> np.ndarray:
        """P(treated) per (day, hotspot): the mean over the matrix's allocations."""
        return self.matrix.mean(axis=0)

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        """Allocations sampled uniformly (with replacement) from the matrix."""
        idx = rng.integers(0, self.matrix.shape[0], size=1 if size is None else size)
        out = self.matrix[idx]
        return out[0] if size is None else out

    def day_stream_key(self, day: dt.date) -> tuple[str | dt.date, ...]:
        """Not a drawing design: it only serves randomisation inference."""
        raise UsageError("a permutation-matrix design cannot publish schedules", where="design",
                         fix="publish with the trial's registered design; a permutation matrix only "
                         "serves randomisation inference")

    def draw_day(self, rng: np.random.Generator, day: dt.date,
                 history: np.ndarray | None = None) -> np.ndarray:
        """Not a drawing design: it only serves randomisation inference."""
        raise UsageError("a permutation-matrix design cannot publish schedules", where="design",
                         fix="publish with the trial's registered design; a permutation matrix only "
                         "serves randomisation inference")


def read_permutations(path: str | Path, hotspot_ids: tuple[str, ...], blocks: tuple[str, ...],
                      days: tuple[dt.date, ...], observed: np.ndarray | None = None,
                      kind: Literal["crossover", "parallel"] = "crossover") -> PermutationDesign:
    """Read a permutation matrix (see module notes) and check its shape and values."""
    path = Path(path)
    n_days, n = len(days), len(hotspot_ids)
    if not path.is_file():
        raise DataError("permutation matrix not found", where=where(path), fix="check the path given to --permutations")
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        arr = arr.reshape(arr.shape[0], -1) if arr.ndim == 3 else arr
    elif path.suffix in (".parquet", ".csv"):
        import pandas as pd

        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        arr = frame.to_numpy().T
    else:
        raise DataError("unknown permutation-matrix format", where=where(path), expected=".npy, .parquet or .csv",
                        found=path.suffix or "no extension", fix="save it with numpy.save or as Parquet")
    if arr.ndim != 2 or arr.shape[1] != n_days * n:
        raise DataError("permutation matrix has the wrong shape", where=where(path),
                        expected=f"allocations × {n_days * n} hotspot-days ({n_days} days × {n} hotspots)",
                        found=f"shape {arr.shape}", fix="one allocation per row (.npy) or column (.parquet/.csv)")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError("permutation matrix holds a value other than 0/1", where=f"{path}, allocation {i + 1}, "
                        f"hotspot-day {j + 1}", expected="0 or 1", found=repr(arr[i, j]),
                        fix="write treated as 1 and control as 0")
    if arr.shape[0] < 2:
        raise DataError("permutation matrix has fewer than two allocations", where=where(path),
                        found=str(arr.shape[0]), fix="supply the design's admissible allocations")
    matrix = arr.astype(bool).reshape(-1, n_days, n)
    if observed is not None and not (matrix == np.asarray(observed, dtype=bool)[None]).all(axis=(1, 2)).any():
        raise DataError("the observed allocation is not one of the permutation matrix's allocations",
                        where=where(path), expected="the matrix the allocation was drawn from",
                        fix="include the realised allocation (as randomizr's permutation matrices do)")
    return PermutationDesign(hotspot_ids, blocks, days, matrix, kind)
