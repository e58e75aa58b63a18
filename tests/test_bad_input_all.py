"""The three bad inputs of the milestone issue, for every public estimator.

A panel with no treated days, an outcome with no events, and a missing outcome column
must each raise a one-line DataError (never a traceback from numpy, never NaN).
"""

from __future__ import annotations

import numpy as np
import pytest

from estimate_fixtures import crossover_design, make_panel
from guardian_rct._core.errors import DataError
from guardian_rct.estimation.carryover import carryover
from guardian_rct.estimation.itt import (
    diff_in_means,
    itt_estimates,
    negbin_fe,
    poisson_fe,
    poisson_parallel,
)
from guardian_rct.estimation.iv import cace
from guardian_rct.estimation.randomisation import randomisation_test

DESIGN = crossover_design(10, 20, treated_per_block=5)
PANEL = make_panel(DESIGN, np.random.default_rng(0), mean_rate=0.8, delivered_rate=0.8)

CALLS = {
    "poisson_fe": lambda f, c: poisson_fe(f, c),
    "negbin_fe": lambda f, c: negbin_fe(f, c),
    "diff_in_means": lambda f, c: diff_in_means(f, c),
    "poisson_parallel": lambda f, c: poisson_parallel(f, c),
    "itt_estimates": lambda f, c: itt_estimates(f, c.removeprefix("count_")),
    "randomisation_test": lambda f, c: randomisation_test(f, c, DESIGN, draws=20,
                                                          rng=np.random.default_rng(1)),
    "cace_delivered": lambda f, c: cace(f, c),
    "cace_dosage": lambda f, c: cace(f, c, endogenous="dosage_minutes"),
    "carryover": lambda f, c: carryover(f, c),
}

BAD = {
    "no treated days": (PANEL.assign(treated=0), "count_violence", "no treated hotspot-days"),
    "no events": (PANEL.assign(count_violence=0), "count_violence", "has no events"),
    "missing column": (PANEL, "count_burglary", "'count_burglary' is not in the panel"),
}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_clear_data_error(call, bad):
    frame, column, message = BAD[bad]
    with pytest.raises(DataError) as info:
        CALLS[call](frame, column)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and "Fix:" in text and "nan" not in text.lower()
