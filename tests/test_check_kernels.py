"""The compiled passes of the ping checks against the numpy expressions they replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct.compliance.check_kernels import compact_rows, time_window
from guardian_rct.compliance.ping_validation import parse_times

_LO = pd.Timestamp("2000-01-01")
_HI = pd.Timestamp("2100-01-01")


def _numpy_window(values: np.ndarray, rows: np.ndarray, code: np.ndarray, ns: np.ndarray, missing: int) -> None:
    """The numpy form the kernel replaced (ping_validation._window before it)."""
    unit = np.datetime_data(values.dtype)[0]
    v = values.view(np.int64)
    known = ~np.isnat(values)
    lo = np.datetime64(_LO, unit).astype(np.int64)
    hi = np.datetime64(_HI, unit).astype(np.int64)
    early, late = known & (v < lo), known & (v >= hi)
    for mask, reason in ((~known, missing), (early, 6), (late, 16)):
        if reason:
            hit = np.zeros(len(code), dtype=bool)
            hit[rows[mask]] = True
            code[hit & (code == 0)] = reason
    ok = known & ~early & ~late
    ns[rows[ok]] = values[ok].astype("datetime64[ns]").view(np.int64)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("missing", [0, 2])
def test_time_window_matches_the_numpy_checks(unit, missing):
    rng = np.random.default_rng(7)
    n = 5000
    stamps = np.array(["1999-12-31T23:59:59", "2000-01-01T00:00:00", "2099-12-31T23:59:59",
                       "2100-01-01T00:00:00", "2023-05-01T09:00:00", "NaT"], dtype=f"datetime64[{unit}]")
    values = stamps[rng.integers(0, len(stamps), n)]
    if unit != "ns":  # far instants that do not fit in nanoseconds: flagged, never scaled
        values[::97] = np.datetime64("9999-12-31T00:00:00", unit)
        values[::89] = np.datetime64("0001-01-01T00:00:00", unit)
    rows = np.sort(rng.choice(2 * n, n, replace=False)).astype(np.int64)
    code = rng.choice(np.array([0, 0, 0, 1, 4], dtype=np.int8), 2 * n)
    expected_code, expected_ns = code.copy(), np.zeros(2 * n, dtype=np.int64)
    _numpy_window(values, rows, expected_code, expected_ns, missing)
    got_ns = np.zeros(2 * n, dtype=np.int64)
    scale = int(np.timedelta64(1, unit) // np.timedelta64(1, "ns"))
    lo = np.datetime64(_LO, unit).astype(np.int64)
    hi = np.datetime64(_HI, unit).astype(np.int64)
    time_window(values.view(np.int64), rows, lo, hi, scale, missing, 6, 16, code, got_ns)
    np.testing.assert_array_equal(code, expected_code)
    np.testing.assert_array_equal(got_ns, expected_ns)
    assert {6, 16} <= set(code.tolist())


def test_parse_times_of_a_timestamp_column_flags_missing_early_and_late():
    values = pd.Series(pd.to_datetime(["2023-05-01T10:00:00.5Z", None, "1970-01-01T00:00:00Z",
                                       "2100-01-01T00:00:00Z", "2023-05-01T12:00:00+01:00"], utc=True, format="ISO8601"))
    code = np.array([0, 0, 0, 0, 1], dtype=np.int8)
    ns = parse_times(values, None, code)
    assert code.tolist() == [0, 2, 6, 16, 1]
    assert ns[0] == pd.Timestamp("2023-05-01T10:00:00.5Z").value
    assert ns[4] == pd.Timestamp("2023-05-01T11:00:00Z").value  # stored whatever the row's code


@pytest.mark.parametrize("bad_share", [0.0, 0.001, 0.5, 1.0])
def test_compact_rows_matches_boolean_selection(bad_share):
    rng = np.random.default_rng(3)
    n = 10_007
    code = np.where(rng.random(n) < bad_share, rng.integers(1, 17, n), 0).astype(np.int8)
    ns = rng.integers(0, 1 << 62, n)
    floats = [rng.normal(size=n) for _ in range(5)]
    floats[2][::5] = np.nan
    ids = [rng.integers(0, 30, n).astype(np.int32) for _ in range(3)]
    got = compact_rows(code, 41, ns, *floats, *ids)
    ok = code == 0
    expected = [np.arange(41, 41 + n)[ok], ns[ok], *(f[ok] for f in floats), *(i[ok] for i in ids)]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)
