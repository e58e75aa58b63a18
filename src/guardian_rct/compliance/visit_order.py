"""The order in which in-hotspot pings are grouped into visits: by track, hotspot, time.

:func:`visit_order` is ``numpy.lexsort((t, hotspot, track))`` (stable: pings equal in all
three keep their input order) computed as a counting sort by (track, hotspot) followed by
a stable sort of each group by time, which is usually already in order because pings are
read in file order. A force-week's 7 million in-hotspot pings: about 0.05 s instead of
lexsort's 0.8 s. Where the group codes would need a count table much larger than the
input (or a code is negative), it is ``numpy.lexsort`` itself.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["visit_order"]


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
    return _counting_order(np.ascontiguousarray(track, dtype=np.int64), np.ascontiguousarray(hotspot, dtype=np.int64),
                           np.ascontiguousarray(t), n_hot, n_groups)
