"""Compiled inner loop of the identifier codes (:class:`~guardian_rct.compliance.ping_assignment.Codes`).

A chunk's identifiers arrive as dictionary indices (:mod:`~guardian_rct.compliance.chunk_scoring`):
the distinct ones, in order of first appearance, decide which new codes are given. A
hash factorisation of every ping's index (``pandas.factorize``) found them before, about
1 ms a chunk holding the GIL in the thread that keeps the books; one pass over a table
of the dictionary's size finds them without it. ``tests/test_ping_codes.py`` checks the
codes against those of the text.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["first_seen"]


@kernel
def first_seen(indices, n_entries):  # noqa: ANN001, ANN201
    """The distinct values of ``indices`` in order of first appearance.

    ``indices`` index a dictionary of ``n_entries`` entries; one out of ``[0,
    n_entries)`` raises ``IndexError`` (nothing is written out of bounds).
    """
    seen = np.zeros(n_entries, dtype=np.bool_)
    out = np.empty(min(n_entries, indices.shape[0]), dtype=np.int64)
    k = 0
    for i in range(indices.shape[0]):
        v = indices[i]
        if v < 0 or v >= n_entries:
            raise IndexError("dictionary index out of range")
        if not seen[v]:
            seen[v] = True
            out[k] = v
            k += 1
    return out[:k]
