"""The order in which in-hotspot pings are grouped into visits: by track, hotspot, time.

:func:`visit_order` is ``numpy.lexsort((t, hotspot, track))`` (stable: pings equal in all
three keep their input order) computed as a counting sort by (track, hotspot) followed by
a stable sort of each group by time, which is usually already in order because pings are
read in file order. A force-week's 7 million in-hotspot pings: about 0.05 s instead of
lexsort's 0.8 s. Where the group codes would need a count table much larger than the
input (or a code is negative), it is ``numpy.lexsort`` itself.

:func:`visit_runs` then cuts the ordered pings into visits in one pass (a new visit at a
new track or hotspot or after a gap over ``max_gap_ns``; kept when it lasts
``min_visit_ns``), reading the pings through the order instead of gathering every column
in that order first (the week's visits: 0.05 s instead of 0.2 s of gathers, differences
and masks).
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["visit_order", "visit_runs"]


@kernel
def _counting_order(track, hotspot, t, n_hot, n_groups):  # noqa: ANN001, ANN202 - numba arrays
    """Stable counting sort by ``track * n_hot + hotspot``, then each group stably by ``t``."""
    n = t.shape[0]
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(n):
        start[np.int64(track[i]) * n_hot + np.int64(hotspot[i]) + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        g = np.int64(track[i]) * n_hot + np.int64(hotspot[i])
        order[fill[g]] = i
        fill[g] += 1
    for g in range(n_groups):
        a, b = start[g], start[g + 1]
        ordered = True
        for j in range(a + 1, b):
            if t[order[j]] < t[order[j - 1]]:
                ordered = False
                break
        if not ordered:
            segment = order[a:b].copy()
            times = np.empty(b - a, dtype=t.dtype)
            for j in range(b - a):
                times[j] = t[segment[j]]
            by_time = np.argsort(times, kind="mergesort")  # stable: equal instants keep their order
            for j in range(b - a):
                order[a + j] = segment[by_time[j]]
    return order


def visit_order(track: np.ndarray, hotspot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Positions that sort the pings by track, then hotspot, then time (stably), exactly as
    ``numpy.lexsort((t, hotspot, track))``.

    Parameters
    ----------
    track, hotspot
        Non-negative integer codes per ping.
    t
        UTC nanoseconds per ping (``int64``).
    """
    track, hotspot, t = np.asarray(track), np.asarray(hotspot), np.asarray(t, dtype=np.int64)
    n = len(t)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if track.min() < 0 or hotspot.min() < 0:
        return np.lexsort((t, hotspot, track))
    n_hot = int(hotspot.max()) + 1
    n_groups = (int(track.max()) + 1) * n_hot
    if n_groups > 4 * n + 65_536:  # a count table far larger than the pings: lexsort is cheaper
        return np.lexsort((t, hotspot, track))
    # The codes as they come (int16/int32 in the scoring path): no int64 copies of them.
    return _counting_order(np.ascontiguousarray(track), np.ascontiguousarray(hotspot), np.ascontiguousarray(t),
                           n_hot, n_groups)


@kernel
def _runs(order, track, hotspot, t, max_gap_ns, min_visit_ns, first, last):  # noqa: ANN001, ANN202
    """Count the visits of the ordered pings; with ``first``/``last`` long enough, also
    store each visit's first and last position in the order."""
    n = order.shape[0]
    m = 0
    a = 0
    for j in range(1, n + 1):
        if j < n:
            p, q = order[j - 1], order[j]
            if track[q] == track[p] and hotspot[q] == hotspot[p] and t[q] - t[p] <= max_gap_ns:
                continue
        if t[order[j - 1]] - t[order[a]] >= min_visit_ns:
            if m < first.shape[0]:
                first[m] = a
                last[m] = j - 1
            m += 1
        a = j
    return m


def visit_runs(order: np.ndarray, track: np.ndarray, hotspot: np.ndarray, t: np.ndarray, *,
               max_gap_ns: int, min_visit_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The visits of pings sorted by ``order`` (:func:`visit_order`): the position in the
    order of each visit's first and last ping. A visit is a run of pings of one track in
    one hotspot with no gap over ``max_gap_ns``, kept when its last ping is at least
    ``min_visit_ns`` after its first. Two passes (count, then fill): no per-ping array."""
    args = (np.ascontiguousarray(order), np.ascontiguousarray(track), np.ascontiguousarray(hotspot),
            np.ascontiguousarray(t, dtype=np.int64), np.int64(max_gap_ns), np.int64(min_visit_ns))
    none = np.empty(0, dtype=np.int64)
    m = _runs(*args, none, none)
    first, last = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    _runs(*args, first, last)
    return first, last
