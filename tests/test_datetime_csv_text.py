"""Datetime columns formatted in Arrow give exactly the CSV text pandas writes.

Random instants (whole seconds, milli-, micro- and nanosecond fractions, NaT) in UTC,
Europe/London across both clock changes, a zone with a half-hour negative offset and
naive; each column written by ``to_csv`` as datetimes and as the text of
:func:`datetime_csv_text` must give the same bytes. Columns it does not format exactly
(dates only, far years) must be declined, not approximated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.arrow_csv import datetime_csv_text
from guardian_rct._core.formula_safe import formula_safe_frame

ZONES = ["UTC", "Europe/London", "America/St_Johns", None]


def _instants(rng: np.random.Generator, n: int, step_ns: int) -> pd.Series:
    start = pd.Timestamp("2023-03-20", tz="UTC").value
    ns = start + rng.integers(0, 230 * 86_400, n) * 10**9 + rng.integers(0, 10**9 // step_ns, n) * step_ns
    t = pd.Series(pd.to_datetime(ns, utc=True))
    t[rng.random(n) < 0.05] = pd.NaT
    return t


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("step_ns", [10**9, 10**6, 10**3, 1, 10**8])
@pytest.mark.parametrize("unit", ["ns", "us"])
def test_datetime_text_matches_pandas(zone, step_ns, unit):
    rng = np.random.default_rng(step_ns % 97 + len(zone or ""))
    t = _instants(rng, 2000, step_ns).dt.as_unit(unit) if unit == "us" and step_ns >= 1000 else _instants(
        rng, 2000, step_ns)
    t = t.dt.tz_convert(zone) if zone else t.dt.tz_localize(None)
    text = datetime_csv_text(t)
    assert text is not None
    frame = pd.DataFrame({"t": t, "n": np.arange(len(t))})
    assert pd.DataFrame({"t": text, "n": frame["n"]}).to_csv(index=False) == frame.to_csv(index=False)


def test_a_column_of_one_missing_value_and_single_column_frames():
    t = pd.Series(pd.to_datetime(["2023-05-01 05:00:01", None]).tz_localize("UTC"))
    assert pd.DataFrame({"t": datetime_csv_text(t)}).to_csv(index=False) == pd.DataFrame({"t": t}).to_csv(
        index=False)


@pytest.mark.parametrize("values", [["2023-05-01", "2023-05-02"], ["0999-01-01 10:00", "2023-05-02 10:00"]])
def test_columns_pandas_formats_otherwise_are_declined(values):
    t = pd.Series(np.array(values, dtype="datetime64[s]"))
    assert datetime_csv_text(t) is None
    assert datetime_csv_text(pd.Series(["2023-05-01"])) is None


def test_formula_safe_frame_can_format_datetimes_and_keeps_the_bytes():
    rng = np.random.default_rng(5)
    t = _instants(rng, 500, 10**3).dt.tz_convert("Europe/London")
    frame = pd.DataFrame({"id": ["=x", "H1"] * 250, "start": t, "day": pd.Series(
        np.array(["2023-05-01"] * 500, dtype="datetime64[s]")), "v": rng.normal(size=500)})
    plain = formula_safe_frame(frame)
    fast = formula_safe_frame(frame, datetimes_as_text=True)
    assert fast.to_csv(index=False) == plain.to_csv(index=False)
    assert plain["start"].dtype == frame["start"].dtype and fast["start"].dtype != frame["start"].dtype
