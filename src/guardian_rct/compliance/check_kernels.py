"""Compiled inner loops of the ping checks (:mod:`guardian_rct.compliance.ping_validation`).

Each replaces a chain of numpy passes over a chunk (a mask, a comparison, a masked
assignment each) by one pass, with the same result: ``tests/test_check_kernels.py``
checks each against the numpy expressions it replaced.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.compiled import kernel

__all__ = ["time_window", "compact_rows"]

_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64


@kernel
def time_window(values, rows, lo, hi, scale, nat_code, early_code, late_code, code, ns):  # noqa: ANN001, ANN201
    """Check parsed instants against the window [``lo``, ``hi``) and store them in ns.

    ``values`` are int64 instants in some unit (NaT is the smallest int64), ``rows`` the
    chunk row of each; ``lo``/``hi`` are in that unit and ``scale`` turns it into ns. A
    row whose ``code`` is still 0 gets ``nat_code`` when its instant is NaT (0: leave it),
    ``early_code`` before ``lo`` and ``late_code`` from ``hi`` on (out-of-window instants,
    e.g. year 9999, need not fit in ns: they are never scaled); an instant in the window
    is stored, scaled, in ``ns`` at its row whatever the row's code.
    """
    for j in range(values.shape[0]):
        v = values[j]
        i = rows[j]
        if v == _NAT:
            if code[i] == 0:
                code[i] = nat_code
        elif v < lo:
            if code[i] == 0:
                code[i] = early_code
        elif v >= hi:
            if code[i] == 0:
                code[i] = late_code
        else:
            ns[i] = v * scale


@kernel
def compact_rows(code, first_row, ns, a, b, accuracy, x, y, dev, off, team):  # noqa: ANN001, ANN201
    """The usable rows (``code == 0``) of a chunk, in order, in one pass: their file row
    numbers (``first_row`` + position), instants, coordinates as given (``a``, ``b``),
    accuracy, trial-CRS coordinates (``x``, ``y``) and identifier dictionary indices
    (``dev``, ``off``, ``team``: int32)."""
    n = code.shape[0]
    m = 0
    for i in range(n):
        if code[i] == 0:
            m += 1
    rows = np.empty(m, dtype=np.int64)
    ns_ok = np.empty(m, dtype=np.int64)
    a_ok = np.empty(m, dtype=np.float64)
    b_ok = np.empty(m, dtype=np.float64)
    acc_ok = np.empty(m, dtype=np.float64)
    x_ok = np.empty(m, dtype=np.float64)
    y_ok = np.empty(m, dtype=np.float64)
    dev_ok = np.empty(m, dtype=np.int32)
    off_ok = np.empty(m, dtype=np.int32)
    team_ok = np.empty(m, dtype=np.int32)
    k = 0
    for i in range(n):
        if code[i] == 0:
            rows[k] = first_row + i
            ns_ok[k] = ns[i]
            a_ok[k] = a[i]
            b_ok[k] = b[i]
            acc_ok[k] = accuracy[i]
            x_ok[k] = x[i]
            y_ok[k] = y[i]
            dev_ok[k] = dev[i]
            off_ok[k] = off[i]
            team_ok[k] = team[i]
            k += 1
    return rows, ns_ok, a_ok, b_ok, acc_ok, x_ok, y_ok, dev_ok, off_ok, team_ok
