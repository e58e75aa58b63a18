"""Chunks checked in threads come back in reading order, errors where they happened.

The ping reader checks chunks ``WORKERS`` at a time (:func:`checked_in_parallel`); the
duplicate rule ("the first copy in file order is kept") and the row numbers depend on
the order being kept, so later chunks that finish first must wait.
"""

from __future__ import annotations

import threading
import time

import pytest

from guardian_rct.compliance.pings import checked_in_parallel


def _slow_first(i: int) -> tuple[int, str]:
    time.sleep(0.02 if i % 3 == 0 else 0.0)  # early items finish last
    return i, threading.current_thread().name


def test_results_keep_the_input_order_and_use_worker_threads():
    out = list(checked_in_parallel(iter(range(40)), _slow_first, workers=3))
    assert [i for i, _ in out] == list(range(40))
    assert {name for _, name in out} != {threading.current_thread().name}


def test_an_error_is_raised_at_its_item_after_the_earlier_results():
    def check(i: int) -> int:
        if i == 5:
            raise ValueError("bad chunk 5")
        return i

    got = []
    with pytest.raises(ValueError, match="bad chunk 5"):
        for value in checked_in_parallel(iter(range(20)), check, workers=2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_leaves_at_most_the_in_flight_items_checked():
    started = []

    def check(i: int) -> int:
        started.append(i)
        return i

    gen = checked_in_parallel(iter(range(1000)), check, workers=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    time.sleep(0.05)
    assert len(started) <= 5  # 3 consumed + at most `workers` in flight


def test_one_worker_runs_in_the_calling_thread():
    assert [n for _, n in checked_in_parallel(iter(range(3)), _slow_first, workers=1)] == \
        [threading.current_thread().name] * 3
