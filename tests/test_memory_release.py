"""Freed heap memory goes back to the operating system (_core.memory.release_free_memory)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from guardian_rct._core.memory import _malloc_trim, release_free_memory


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux") or _malloc_trim() is None,
                    reason="needs glibc's malloc_trim and /proc")
def test_a_fragmented_heap_is_given_back():
    # The pattern of the duplicate-key runs: a large array freed (glibc then raises its mmap
    # threshold), then many arrays of a few MiB from the heap, every other one freed.
    big = np.ones(16 * 2**20 // 8)
    del big
    arrays = [np.ones(3 * 2**20 // 8) for _ in range(120)]
    keep = arrays[1::2]
    del arrays
    before = _rss_mib()
    assert release_free_memory()
    after = _rss_mib()
    assert before - after > 60, (before, after)  # about 180 MiB of holes were resident
    assert all(a[0] == 1 for a in keep)
