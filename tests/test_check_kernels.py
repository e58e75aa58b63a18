"""The compiled passes of the ping checks against the numpy expressions they replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct.compliance.check_kernels import coordinate_codes, time_window, usable_columns
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
def test_usable_columns_match_boolean_selection(bad_share):
    rng = np.random.default_rng(3)
    n = 10_007
    code = np.where(rng.random(n) < bad_share, rng.integers(1, 17, n), 0).astype(np.int8)
    ns = rng.integers(0, 1 << 62, n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    a[::5] = np.nan
    key = rng.integers(0, 1 << 63, n).astype(np.uint64)
    got = usable_columns(code, ns, a, b, key)
    ok = code == 0
    expected = [np.flatnonzero(ok), ns[ok], a[ok], b[ok], key[ok]]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


def _flag(code: np.ndarray, mask: np.ndarray, reason: int) -> None:
    code[mask & (code == 0)] = reason


def _box_mask(x: np.ndarray, y: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _numpy_coordinate_codes(code, a, b, a_missing, a_bad, b_missing, b_bad, geographic, box,  # noqa: ANN001
                            acc, acc_bad, max_accuracy) -> None:
    """The numpy checks the kernel replaced (ping_validation's _check_coordinates, the
    flags of _project_lonlat and _flag_swapped_xy, and _accuracy), in their order."""
    _flag(code, a_missing | b_missing, 7)
    _flag(code, a_bad | b_bad, 8)
    with np.errstate(invalid="ignore"):
        _flag(code, ~(np.isfinite(a) & np.isfinite(b)) & ~(a_missing | b_missing | a_bad | b_bad), 9)
        _flag(code, (a == 0) & (b == 0), 10)
        if geographic:
            in_range = (np.abs(a) <= 90) & (np.abs(b) <= 180)
            if box is not None:
                outside = ~in_range | ~_box_mask(b, a, box)
                _flag(code, outside & (np.abs(b) <= 90) & _box_mask(a, b, box), 11)
            _flag(code, ~in_range, 9)
        elif box is not None:
            todo = np.flatnonzero(code == 0)
            out = todo[~_box_mask(a[todo], b[todo], box)]
            hit = np.zeros(len(code), dtype=bool)
            hit[out[_box_mask(b[out], a[out], box)]] = True
            _flag(code, hit, 11)
        _flag(code, acc_bad, 12)
        _flag(code, acc < 0, 13)
        _flag(code, acc > max_accuracy, 14)


@pytest.mark.parametrize("geographic", [True, False])
@pytest.mark.parametrize("box_kind", ["none", "real", "overlapping"])
def test_coordinate_codes_match_the_numpy_checks(geographic, box_kind):
    rng = np.random.default_rng(11)
    n = 20_000
    if box_kind == "overlapping":  # an area holding swapped points, on its edges, |lon| > 90 too
        box = (0.0, 0.0, 100.0, 100.0 if geographic else 200.0)
        pool_a = pool_b = np.array([0.0, 50.0, 95.0, 100.0, 150.0, -5.0, 181.0, np.nan])
    elif geographic:  # lat/lon around Birmingham, swapped, out of range, on the box's edges
        box = (-2.2, 52.3, -1.6, 52.7)
        pool_a = np.array([52.48, 52.3, 52.7, -1.9, -1.6, 91.0, -91.0, 90.0, 0.0, 45.0, np.inf, -np.inf, np.nan])
        pool_b = np.array([-1.9, -2.2, -1.6, 52.48, 52.3, 181.0, -180.0, 0.0, 0.0, 95.0, np.inf, np.nan, -0.0])
    else:  # x/y in metres, swapped, on the box's edges
        box = (380_000.0, 260_000.0, 440_000.0, 310_000.0)
        pool_a = np.array([400_000.0, 380_000.0, 440_000.0, 290_000.0, 260_000.0, 0.0, -0.0, 1e12, np.nan, np.inf])
        pool_b = np.array([290_000.0, 260_000.0, 310_000.0, 400_000.0, 440_000.0, 0.0, 0.0, -1e12, np.nan, -np.inf])
    noisy = box_kind != "overlapping"
    a = pool_a[rng.integers(0, len(pool_a), n)] + np.where(noisy & (rng.random(n) < 0.3), rng.normal(0, 0.1, n), 0.0)
    b = pool_b[rng.integers(0, len(pool_b), n)] + np.where(noisy & (rng.random(n) < 0.3), rng.normal(0, 0.1, n), 0.0)
    a_missing, b_missing = np.isnan(a) & (rng.random(n) < 0.7), np.isnan(b) & (rng.random(n) < 0.7)
    a_bad, b_bad = rng.random(n) < 0.01, rng.random(n) < 0.01
    acc = rng.choice(np.array([5.0, 100.0, 100.0001, -1.0, -0.0, np.nan, 250.0]), n)
    acc_bad = rng.random(n) < 0.01
    code = rng.choice(np.array([0] * 8 + [1, 2, 6], dtype=np.int8), n)
    expected = code.copy()
    used_box = None if box_kind == "none" else box
    _numpy_coordinate_codes(expected, a, b, a_missing, a_bad, b_missing, b_bad, geographic, used_box,
                            acc, acc_bad, 100.0)
    coordinate_codes(code, a, b, a_missing, a_bad, b_missing, b_bad, geographic,
                     np.empty(0) if used_box is None else np.asarray(box), acc, acc_bad, 100.0)
    np.testing.assert_array_equal(code, expected)
    seen = set(code.tolist())
    assert {0, 7, 8, 9, 12, 13, 14} <= seen
    assert (11 in seen) == (used_box is not None)

