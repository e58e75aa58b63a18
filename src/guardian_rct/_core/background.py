"""Work started early for later, in threads that give way to the work that cannot wait.

A long command starts some work before it is needed so that it is ready when it is
(``compliance`` hashes a gigabyte of pings for the provenance record and splits the
report's buffer rings while it reads the pings). That work releases the GIL, so it runs
on a core of its own; but on a two-core machine the command's own critical path (the
main thread at the start, the ping-checking workers after) needs those cores too, and
the operating system shares them out equally: three busy threads on two cores slowed the
start of a 50 M-ping week by 0.15-0.2 s (1.19 s against 1.0 s with neither running).

:func:`background_pool` gives such work a thread whose scheduling priority is lowered
(:func:`lower_priority`, which a thread of one's own can call too, as the input hashing's
daemon thread does; ``nice`` +5: Linux weight 335 against 1024, so about a quarter of a
contended core): it still takes any idle core at full speed, and only yields when the
command's own threads or other programs want the core. Not further than +5: on a machine
busy with other programs the work must still finish by the time it is needed.

Linux only (there ``setpriority`` applies to one thread, named by its native id);
elsewhere the threads run at normal priority, as before.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["background_pool", "lower_priority", "BACKGROUND_NICE"]

#: How much less favoured background threads are (added to the thread's nice value).
BACKGROUND_NICE = 5


def lower_priority() -> None:
    """Lower the calling thread's scheduling priority by :data:`BACKGROUND_NICE` (Linux).

    A thread whose priority cannot be changed (a sandbox forbidding it) keeps running at
    its priority: this is a matter of speed, never of results.
    """
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE)
    except OSError:
        pass


def background_pool(name: str) -> ThreadPoolExecutor:
    """A one-thread pool for work started early, its thread at lowered priority."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=lower_priority)
