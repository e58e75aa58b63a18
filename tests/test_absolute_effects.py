"""Issue 12, item 8: crimes prevented, checked against a simulation with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct.estimation.absolute_effects import absolute_effect
from guardian_rct.estimation.itt import poisson_fe


def _panel(rng, H=30, T=60, irr=0.8):
    h = np.repeat(np.arange(H), T)
    t = np.tile(np.arange(T), H)
    z = (rng.random(H * T) < 0.5).astype(int)
    mu0 = np.exp(rng.normal(0, 0.6, H))[h] * 0.9
    y = rng.poisson(mu0 * irr ** z)
    frame = pd.DataFrame({"hotspot_id": h.astype(str), "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(t, "D"),
                          "day_index": t, "treated": z, "count_x": y})
    truth = float(np.sum(mu0[z == 1] * (1 - irr)))  # expected crimes prevented on the patrol days
    return frame, truth


def test_prevented_is_observed_times_inverse_ratio_minus_one():
    frame, _ = _panel(np.random.default_rng(1))
    est = poisson_fe(frame, "count_x")
    eff = absolute_effect(est, frame, "count_x")
    yt = frame.loc[frame["treated"] == 1, "count_x"].sum()
    assert eff.prevented == pytest.approx(yt * (1 / est.irr - 1))
    assert eff.conf_low < eff.prevented < eff.conf_high
    per, lo, hi = eff.per_1000_patrol_days
    assert per == pytest.approx(eff.prevented * 1000 / (frame["treated"] == 1).sum())


def test_simulation_known_truth_unbiased_and_covers():
    rng = np.random.default_rng(8)
    est, cover, truths = [], 0, []
    n = 150
    for _ in range(n):
        frame, truth = _panel(rng)
        eff = absolute_effect(poisson_fe(frame, "count_x"), frame, "count_x")
        est.append(eff.prevented)
        truths.append(truth)
        cover += eff.conf_low <= truth <= eff.conf_high
    bias = np.mean(np.array(est) - np.array(truths))
    assert abs(bias) < 0.1 * np.mean(truths)
    assert 0.90 <= cover / n <= 0.99  # nominal 95%, MC SE ~1.8 points
