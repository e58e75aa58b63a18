"""Write the fixed simulated panels that the R reference values were computed on.

Run once (``python tests/reference/make_reference_panels.py``); the CSVs are committed
and the tests read them, so neither this script nor R is needed to run the tests.

The stored panels were made before the design module existed, with allocations drawn by a
partial sort of float32 uniforms. That draw is kept here (:func:`_legacy_allocation`) only
so that this script still rewrites the committed CSVs byte for byte (the R values in
``r_reference.csv`` belong to them); the designs' hotspots, blocks, days and assignment
probabilities are the package's own objects. The R comparison does not depend on how the
allocation was drawn: the panels are just data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from estimate_fixtures import crossover_design, make_panel, parallel_design  # noqa: E402

COLUMNS = ["hotspot_id", "block", "date", "day_index", "dow", "treated", "p_treated",
           "count_violence", "harm_violence", "baseline_count_violence", "delivered",
           "dosage_minutes", "contaminated"]


def _legacy_allocation(rng: np.random.Generator, n_days: int, groups: list[tuple[np.ndarray, int]],
                       *, parallel: bool = False) -> np.ndarray:
    """The allocation draw the stored panels were made with: ``k`` smallest float32 keys."""
    n = sum(cols.size for cols, _ in groups)
    if parallel:
        (cols, k), = groups
        u = rng.random((1, n))
        one = u <= np.partition(u, k - 1, axis=-1)[:, k - 1:k]
        return np.broadcast_to(one[:, None, :], (1, n_days, n))[0].copy()
    u = rng.random((1, n_days, n), dtype=np.float32)
    out = np.empty(u.shape, dtype=bool)
    for cols, k in groups:
        ub = u[..., cols]
        out[..., cols] = ub <= np.partition(ub, k - 1, axis=-1)[..., k - 1:k]
    return out[0]


def main() -> None:
    rng = np.random.default_rng(20240101)
    blocks = ["A"] * 10 + ["B"] * 10
    design = crossover_design(20, 60, treated_per_block={"A": 5, "B": 3}, blocks=blocks)
    groups = [(design.block_members("A"), 5), (design.block_members("B"), 3)]
    frame = make_panel(design, rng, irr=0.75, mean_rate=0.8, overdispersion=3.0,
                       delivered_rate=0.8, contamination_rate=0.1,
                       assignment=_legacy_allocation(rng, 60, groups))
    frame["harm_violence"] = frame["harm_violence"].round(6)
    frame["dosage_minutes"] = frame["dosage_minutes"].round(4)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    frame[COLUMNS].to_csv(HERE / "crossover_panel.csv", index=False)

    par = parallel_design(20, 60, n_treated=10)
    pframe = make_panel(par, rng, irr=0.75, mean_rate=0.8,
                        assignment=_legacy_allocation(rng, 60, [(np.arange(20), 10)], parallel=True))
    pframe["block"] = np.tile(blocks, 60)
    pframe["harm_violence"] = pframe["harm_violence"].round(6)
    pframe["dosage_minutes"] = pframe["dosage_minutes"].round(4)
    pframe["date"] = pframe["date"].dt.strftime("%Y-%m-%d")
    pframe[COLUMNS].to_csv(HERE / "parallel_panel.csv", index=False)


if __name__ == "__main__":
    main()
