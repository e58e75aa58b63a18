"""Compiled kernels: :func:`numba.njit` with the settings every kernel of guardian_rct uses.

A few inner loops (the duplicate-ping set, the point-in-hotspot pass, the visit order) run once per ping,
tens of millions of times a week; as chains of numpy passes they are memory-bound and
single-threaded in places, so they are compiled with numba (Lam, Pitrou & Seibert 2015,
"Numba: a LLVM-based Python JIT compiler"). Settings, and why:

- ``cache=True``: the machine code is kept beside the module (or in the user's cache
  folder, or ``NUMBA_CACHE_DIR``) and loaded by later runs (the first kernel of a process
  in about 0.25 s, numba's start; each further one in milliseconds); only the first run
  on a machine compiles (about 9 s for all of them: a 5 M-ping week took 12.8 s with an
  empty cache, 4.2 s with it filled).
- ``nogil=True``: kernels run in the ping-checking worker threads at the same time.
- ``fastmath`` off: the geometry must keep IEEE semantics (exact orientation filters).
- ``error_model="numpy"``: no Python exception checks in arithmetic (none can occur).

Importing this module imports numba (about 0.15 s), so only modules that run kernels do.

Numba's start (measured with numba 0.68.1, scipy as pinned): the first kernel call fills
numba's target registries (about 0.27 s). Of that, about 0.18 s is ``scipy.linalg``:
``numba.np.arraymath`` checks for BLAS at import by importing
``scipy.linalg.cython_blas``, whatever the kernels use, and scipy's vendored
``array_api_compat`` then touches every lazily imported numpy submodule (``numpy.f2py``
alone about 0.1 s, ``numpy.testing`` brings ``unittest``). It cannot be skipped without
patching numba (or making the BLAS check fail, which would break ``np.dot`` in any
kernel); it runs once per process, in whichever thread calls the first kernel. Numba's
search for extension entry points costs a few milliseconds (``importlib.metadata`` is
loaded already).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from numba import njit

__all__ = ["kernel"]

F = TypeVar("F", bound=Callable)


def kernel(function: F) -> F:
    """Compile ``function`` with numba in nopython mode (cached, GIL released, IEEE math).

    Where no cache folder is writable (read-only install and home, no
    ``NUMBA_CACHE_DIR``), numba refuses ``cache=True``; the kernel is then compiled
    afresh in each process (a few seconds) rather than failing the import.
    """
    options = {"nogil": True, "fastmath": False, "error_model": "numpy"}
    try:
        return njit(cache=True, **options)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(cache=False, **options)(function)
