"""Property tests of the simulator's building blocks (hypothesis)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from guardian_rct._core.errors import UsageError
from guardian_rct.simulation.common import iso_utc, iso_with_offset, random_points_in
from guardian_rct.simulation.crimes import _harm_multipliers


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), volume=st.floats(0.5, 1.2), gap=st.floats(-0.2, 0.2))
def test_harm_multipliers_hit_both_targets_exactly(seed, volume, gap):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.5, 1.0, size=(4, 12)) + 1e-3
    weights = np.r_[rng.uniform(1, 20, 8), rng.uniform(150, 5000, 4)]
    high = weights >= 100
    harm = volume + gap
    pi = rates[:, high].sum(1) / rates.sum(1)
    eta = (rates * weights)[:, high].sum(1) / (rates * weights).sum(1)
    diff = (harm - volume) / (eta - pi)
    if np.any(volume - pi * diff < 0) or np.any(volume + (1 - pi) * diff < 0):
        with pytest.raises(UsageError):  # infeasible targets are refused, not bent
            _harm_multipliers(rates, weights, high, volume, harm)
        return
    a, b = _harm_multipliers(rates, weights, high, volume, harm)
    mult = np.where(high[None, :], a[:, None], b[:, None])
    assert np.allclose((rates * mult).sum(1) / rates.sum(1), volume)
    assert np.allclose((rates * mult * weights).sum(1) / (rates * weights).sum(1), harm)
    assert (a >= 0).all() and (b >= 0).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1_600_000_000, 1_800_000_000), min_size=1, max_size=30),
       st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]))
def test_iso_strings_round_trip(seconds, zone):
    instants = pd.to_datetime(np.array(seconds, dtype="int64"), unit="s", utc=True)
    local = iso_with_offset(instants, ZoneInfo(zone))
    assert (pd.to_datetime(pd.Series(local), utc=True, format="ISO8601").to_numpy() == instants.to_numpy()).all()
    expected = [t.tz_convert(zone).isoformat() for t in instants]
    assert list(local) == expected
    assert (pd.to_datetime(pd.Series(iso_utc(instants)), utc=True).to_numpy() == instants.to_numpy()).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_random_points_fall_inside_even_thin_polygons(seed, n):
    rng = np.random.default_rng(seed)
    thin = shapely.Polygon([(0, 0), (500, 3), (500, 8), (0, 4)])
    pts = random_points_in(thin, n, rng)
    assert pts.shape == (n, 2)
    assert shapely.contains_xy(thin, pts[:, 0], pts[:, 1]).all()
    assert np.allclose(pts, np.round(pts, 1))
