"""visit_order (compiled counting sort) against numpy.lexsort((t, hotspot, track)), the
order visits were grouped in before: the same positions, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from guardian_rct.compliance.visit_order import visit_order, visit_runs


def _lexsort(track, hotspot, t):
    return np.lexsort((t, hotspot, track))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_order_as_lexsort_with_ties_and_times_out_of_order(seed):
    rng = np.random.default_rng(seed)
    n = 20_000
    track = rng.integers(0, 40, n).astype(np.int32)
    hotspot = rng.integers(0, 9, n).astype(np.int16)
    t = np.sort(rng.integers(0, 10**12, n))
    t[rng.integers(0, n, 500)] = rng.integers(0, 10**12, 500)  # some groups out of time order
    t[: n // 10] = t[0]  # many equal instants: their input order must be kept
    np.testing.assert_array_equal(visit_order(track, hotspot, t), _lexsort(track, hotspot, t))


def test_small_and_edge_inputs():
    for track, hotspot, t in [([], [], []), ([3], [0], [5]), ([1, 1, 1], [2, 2, 2], [9, 9, 9]),
                              ([0, 0], [0, 0], [2, 1]), ([2, 0, 1], [0, 5, 0], [1, 1, 1])]:
        track, hotspot = np.array(track, dtype=np.int64), np.array(hotspot, dtype=np.int64)
        t = np.array(t, dtype=np.int64)
        np.testing.assert_array_equal(visit_order(track, hotspot, t), _lexsort(track, hotspot, t))


def test_codes_lexsort_handles_itself():
    """Negative codes, and codes so large that a count table would dwarf the pings."""
    rng = np.random.default_rng(5)
    t = rng.integers(0, 100, 300)
    for track in (rng.integers(-5, 5, 300), rng.integers(0, 2**40, 300)):
        hotspot = rng.integers(0, 3, 300)
        np.testing.assert_array_equal(visit_order(track, hotspot, t), _lexsort(track, hotspot, t))


def _numpy_runs(order, track, hotspot, t, max_gap_ns, min_visit_ns):
    """The visits as visit_kernel found them with numpy before visit_runs (gathers,
    differences, masks)."""
    tr, ho, tt = track[order], hotspot[order], t[order]
    brk = np.r_[True, (tr[1:] != tr[:-1]) | (ho[1:] != ho[:-1]) | (np.diff(tt) > max_gap_ns)]
    first = np.flatnonzero(brk)
    last = np.r_[first[1:], len(tt)] - 1
    keep = (tt[last] - tt[first]) >= min_visit_ns
    return first[keep], last[keep]


@pytest.mark.parametrize("n", [1, 2, 7, 5_000])
@pytest.mark.parametrize("gap,least", [(0, 0), (60, 0), (60, 120), (10**9, 300)])
def test_visit_runs_match_the_numpy_cut(n, gap, least):
    rng = np.random.default_rng(n + gap + least)
    track = rng.integers(0, 4, n).astype(np.int32)
    hotspot = rng.integers(0, 3, n).astype(np.int16)
    t = np.cumsum(rng.choice([0, 1, 30, 61, 500], n)).astype(np.int64)  # equal instants, gaps either side of 60
    order = visit_order(track, hotspot, t)
    got = visit_runs(order, track, hotspot, t, max_gap_ns=gap, min_visit_ns=least)
    want = _numpy_runs(order, track, hotspot, t, gap, least)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    if n == 5_000 and least == 0:
        assert len(got[0]) > 100
