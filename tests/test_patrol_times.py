"""Patrol windows: inside the hot hours in local time, spaced, uniform, and right on the
nights the clocks change (Europe/London: last Sunday of March and of October)."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import DesignSpec, parse_window
from guardian_rct.design.patrol_times import check_windows, draw_patrol_times, window_intervals

LONDON = ZoneInfo("Europe/London")
SIX = dt.time(6)
SPRING = dt.date(2023, 3, 25)  # experimental day Sat 25 Mar 06:00 -> Sun 26 Mar 06:00 (23 h)
AUTUMN = dt.date(2023, 10, 28)  # Sat 28 Oct 06:00 -> Sun 29 Oct 06:00 (25 h)


def _spec(*windows, patrol=15, visits=1, spacing=120):
    return DesignSpec(windows=tuple(parse_window(w) for w in windows), patrol_minutes=patrol,
                      visits_per_day=visits, visit_spacing_minutes=spacing)


def _local(starts):
    return pd.DatetimeIndex(starts.ravel()).tz_localize("UTC").tz_convert(LONDON)


def _clock_minutes(local, day_start=6 * 60):
    """Minutes after the experimental day's start, on the local clock face."""
    return ((local.hour * 60 + local.minute) - day_start) % (24 * 60)


@pytest.mark.parametrize("day", [dt.date(2023, 6, 1), SPRING, SPRING + dt.timedelta(days=1),
                                 AUTUMN, AUTUMN + dt.timedelta(days=1)])
def test_windows_fall_in_local_hot_hours_across_clock_changes(day):
    spec = _spec("15:00-23:00")
    starts = draw_patrol_times(np.random.default_rng(1), day, 500, spec, LONDON, SIX)
    local = _local(starts)
    assert (local.date == day).all()
    ends = local + pd.Timedelta(minutes=15)
    assert (local.hour >= 15).all() and (ends.hour * 60 + ends.minute <= 23 * 60).all()
    assert ((local.second == 0) & (local.microsecond == 0)).all()
    assert local.hour.min() == 15 and (ends.hour * 60 + ends.minute).max() >= 22 * 60 + 45


def test_window_over_the_spring_forward_gap_has_its_real_length():
    spec = _spec("00:00-04:00", patrol=15)
    (start, count), = window_intervals(SPRING, spec, LONDON, SIX)
    # 00:00 GMT = 00:00 UTC; 04:00 BST = 03:00 UTC: three real hours
    assert start == pd.Timestamp("2023-03-26T00:00Z") and count == 3 * 60 - 15 + 1
    starts = draw_patrol_times(np.random.default_rng(2), SPRING, 3000, spec, LONDON, SIX)
    local = _local(starts)
    assert (local.date == dt.date(2023, 3, 26)).all()
    assert not (local.hour == 1).any()  # 01:00-01:59 does not exist that night
    assert (local.hour < 4).all()
    # uniform in real time: about a third of the starts in each real hour
    utc = pd.DatetimeIndex(starts.ravel())
    shares = np.bincount(utc.hour, minlength=3)[:3] / utc.size
    assert np.abs(shares - np.array([60, 60, 46]) / 166).max() < 0.04


def test_window_over_the_autumn_repeat_has_its_real_length():
    spec = _spec("22:00-02:00", patrol=15)
    (start, count), = window_intervals(AUTUMN, spec, LONDON, SIX)
    # 22:00 BST on the 28th = 21:00 UTC; 02:00 GMT on the 29th = 02:00 UTC: five real hours
    assert start == pd.Timestamp("2023-10-28T21:00Z") and count == 5 * 60 - 15 + 1
    starts = draw_patrol_times(np.random.default_rng(3), AUTUMN, 3000, spec, LONDON, SIX)
    utc = pd.DatetimeIndex(starts.ravel()).tz_localize("UTC")
    assert utc.min() >= pd.Timestamp("2023-10-28T21:00Z")
    assert (utc + pd.Timedelta(minutes=15)).max() <= pd.Timestamp("2023-10-29T02:00Z")
    # the repeated hour 01:00-01:59 appears twice: once in BST, once in GMT
    local = utc.tz_convert(LONDON)
    offsets = {t.utcoffset() for t in local[local.hour == 1]}
    assert offsets == {dt.timedelta(hours=1), dt.timedelta(0)}


def test_window_before_day_start_belongs_to_the_same_experimental_day():
    spec = _spec("02:00-04:00", patrol=30)
    starts = draw_patrol_times(np.random.default_rng(4), dt.date(2023, 6, 1), 200, spec, LONDON, SIX)
    local = _local(starts)
    assert (local.date == dt.date(2023, 6, 2)).all() and (local.hour < 4).all()


def test_starts_are_uniform_over_the_window():
    spec = _spec("15:00-23:00", patrol=15)
    starts = draw_patrol_times(np.random.default_rng(5), dt.date(2023, 6, 1), 5000, spec, LONDON, SIX)
    minutes = _clock_minutes(_local(starts)) - 9 * 60  # minutes after 15:00
    assert minutes.min() >= 0 and minutes.max() <= 8 * 60 - 15
    # discrete uniform on the 466 start minutes 0..465 (expected ~10.7 per minute)
    counts = np.bincount(np.asarray(minutes), minlength=466)
    assert len(counts) == 466
    assert stats.chisquare(counts).pvalue > 0.001


def test_several_visits_are_spaced_and_in_order():
    spec = _spec("15:00-23:00", visits=3, spacing=120)
    starts = draw_patrol_times(np.random.default_rng(6), dt.date(2023, 6, 1), 2000, spec, LONDON, SIX)
    assert starts.shape == (2000, 3)
    gaps = np.diff(starts.astype("datetime64[m]").astype(np.int64), axis=1)
    assert (gaps >= 120).all()
    local = _local(starts)
    assert (local.hour >= 15).all() and ((local + pd.Timedelta(minutes=15)).hour * 60
                                         + (local + pd.Timedelta(minutes=15)).minute <= 23 * 60).all()


def test_visits_spread_over_two_windows():
    spec = _spec("10:00-11:00", "18:00-19:00", patrol=15, visits=2, spacing=60)
    starts = draw_patrol_times(np.random.default_rng(7), dt.date(2023, 6, 1), 2000, spec, LONDON, SIX)
    local = _local(starts).hour.to_numpy().reshape(2000, 2)
    assert set(np.unique(local)) <= {10, 18}
    gaps = np.diff(starts.astype("datetime64[m]").astype(np.int64), axis=1)
    assert (gaps >= 60).all()


def test_same_stream_same_times():
    spec = _spec("15:00-23:00")
    a = draw_patrol_times(np.random.default_rng(9), dt.date(2023, 6, 1), 10, spec, LONDON, SIX)
    b = draw_patrol_times(np.random.default_rng(9), dt.date(2023, 6, 1), 10, spec, LONDON, SIX)
    assert (a == b).all()


@pytest.mark.parametrize("spec, match", [
    (_spec("05:00-07:00"), "runs past the end of the experimental day"),
    (_spec("15:00-18:00", "17:00-19:00"), "overlap"),
    (_spec("15:00-17:00", visits=3, spacing=120), "cannot hold the visits"),
])
def test_bad_windows_refused(spec, match):
    with pytest.raises(ConfigError, match=match):
        check_windows(spec, SIX)
