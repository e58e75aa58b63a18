"""The vectorised ISO 8601 formatting of time-zone-aware CSV columns equals
``Timestamp.isoformat()`` value by value (what every CSV used to be written with):
clock changes, fractions of a second, odd offsets, NaT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.csv_output import _iso_aware, csv_text


def _reference(series: pd.Series) -> list:
    return [None if pd.isna(v) else v.isoformat() for v in series]


def _instants() -> pd.DatetimeIndex:
    rng = np.random.default_rng(3)
    around = [pd.Timestamp(t, tz="UTC") for t in (
        "2023-03-26T00:59:59.999999Z", "2023-03-26T01:00:00Z", "2023-10-29T00:30:00Z",
        "2023-10-29T01:00:00Z", "2023-10-29T01:59:59.5Z", "1969-12-31T23:59:59.000001Z",
        "1900-01-01T12:00:00Z", "2099-12-31T23:59:59.999999999Z", "2023-05-01T10:00:00.000000001Z")]
    minutes = pd.Timestamp("2023-10-28T22:00Z") + pd.to_timedelta(np.arange(0, 8 * 60, 7), unit="min")
    noisy = pd.Timestamp("2023-03-25T20:00Z") + pd.to_timedelta(rng.integers(0, 10 * 3600 * 10**9, 500), unit="ns")
    micro = pd.Timestamp("2023-03-26T00:00Z") + pd.to_timedelta(rng.integers(0, 7200 * 10**6, 500) * 1000, unit="ns")
    return pd.DatetimeIndex([*around, *minutes, *noisy, *micro])


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/St_Johns", "Asia/Kathmandu",
                                  "Europe/Amsterdam", "Etc/GMT+5"])
def test_vectorised_iso_equals_isoformat(zone):
    series = pd.Series(_instants().tz_convert(zone), name="t")
    series = pd.concat([series, pd.Series([pd.NaT], dtype=series.dtype, name="t")], ignore_index=True)
    got = _iso_aware(series)
    assert got is not None
    assert list(got) == _reference(series)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_unit_and_the_csv_bytes(unit):
    series = pd.Series(_instants().tz_convert("Europe/London"), name="t").dt.as_unit(unit)
    frame = pd.DataFrame({"t": series, "n": np.arange(len(series))})
    expected = frame.assign(t=pd.Series(_reference(series), dtype=object)).to_csv(index=False, lineterminator="\n")
    assert csv_text(frame) == expected


def test_all_missing_and_empty():
    empty = pd.Series(pd.DatetimeIndex([], tz="UTC"))
    assert list(_iso_aware(empty)) == []
    nat = pd.Series(pd.DatetimeIndex([pd.NaT, pd.NaT], tz="Europe/London"))
    assert list(_iso_aware(nat)) == [None, None]
