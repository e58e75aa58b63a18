"""Write the fixed simulated panels that the R reference values were computed on.

Run once (``python tests/reference/make_reference_panels.py``); the CSVs are committed
and the tests read them, so neither this script nor R is needed to run the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from estimate_fixtures import CrossoverDesign, ParallelDesign, make_panel  # noqa: E402

COLUMNS = ["hotspot_id", "block", "date", "day_index", "dow", "treated", "p_treated",
           "count_violence", "harm_violence", "baseline_count_violence", "delivered",
           "dosage_minutes", "contaminated"]


def main() -> None:
    rng = np.random.default_rng(20240101)
    blocks = ["A"] * 10 + ["B"] * 10
    design = CrossoverDesign(20, 60, treated_per_block={"A": 5, "B": 3}, blocks=blocks)
    frame = make_panel(design, rng, irr=0.75, mean_rate=0.8, overdispersion=3.0,
                       delivered_rate=0.8, contamination_rate=0.1)
    frame["harm_violence"] = frame["harm_violence"].round(6)
    frame["dosage_minutes"] = frame["dosage_minutes"].round(4)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    frame[COLUMNS].to_csv(HERE / "crossover_panel.csv", index=False)

    par = ParallelDesign(20, 60, n_treated=10)
    pframe = make_panel(par, rng, irr=0.75, mean_rate=0.8)
    pframe["block"] = np.tile(blocks, 60)
    pframe["harm_violence"] = pframe["harm_violence"].round(6)
    pframe["dosage_minutes"] = pframe["dosage_minutes"].round(4)
    pframe["date"] = pframe["date"].dt.strftime("%Y-%m-%d")
    pframe[COLUMNS].to_csv(HERE / "parallel_panel.csv", index=False)


if __name__ == "__main__":
    main()
