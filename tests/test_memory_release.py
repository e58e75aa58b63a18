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


_FAULTS = """
import resource, sys
import numpy as np
from guardian_rct._core.memory import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
faults = []
for _ in range(20):  # a chunk's arrays: a few of 2 MB allocated, filled, and freed together
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.arange(250_000) for _ in range(6)]
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del arrays
print(sum(faults[5:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or _malloc_trim() is None,
                    reason="needs glibc's mallopt and /proc")
def test_freed_chunks_are_reused_without_page_faults():
    import subprocess  # each setting in a fresh process: mallopt lasts for the process

    def faults(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
        return int(run.stdout)

    fresh, reused = faults("default"), faults("reuse")
    assert fresh > 15 * 1000, (fresh, reused)  # 12 MB given back and faulted in again each time
    assert reused < 15 * 100, (fresh, reused)
