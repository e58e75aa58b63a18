"""Visits and compliance against ground truth built by hand.

Hotspot H01 is the square x 406000–406200, y 286000–286200 (British National Grid);
H02 is 500 m east of it (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_trial
from guardian_rct._core.errors import DataError
from guardian_rct.compliance.presence import score_pings
from guardian_rct.compliance.scoring import compliance_by_hotspot_day, score_compliance
from guardian_rct.compliance.visits import union_blocks
from guardian_rct.config.trial_config import load_config
from guardian_rct.design.allocation import allocation_from_frame
from guardian_rct.ledger.store import load_trial_hotspots

INSIDE = (406100.0, 286100.0)
OUTSIDE = (406300.0, 286100.0)


def _setup(tmp_path: Path, compliance: str = ""):
    config = load_config(write_trial(tmp_path, extra=f"[compliance]\n{compliance}\n"))
    return config, load_trial_hotspots(config)


def _pings(tmp_path: Path, rows: list[tuple], name: str = "pings.csv") -> Path:
    frame = pd.DataFrame(rows, columns=["device_id", "officer_id", "timestamp", "x", "y"])
    frame["team"] = "Alpha"
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _track(device: str, officer: str, start: str, minutes: int, where=INSIDE, step_s: int = 60) -> list[tuple]:
    t0 = pd.Timestamp(start)
    return [(device, officer, (t0 + pd.Timedelta(seconds=s)).isoformat(), *where)
            for s in range(0, minutes * 60 + 1, step_s)]


def _alloc(rows: list[tuple]):
    frame = pd.DataFrame(rows, columns=["date", "hotspot_id", "arm", "window_start", "window_end"])
    return allocation_from_frame(frame)


def _visits(tmp_path, rows, compliance=""):
    config, hotspots = _setup(tmp_path, compliance)
    return score_pings(_pings(tmp_path, rows), hotspots, config.compliance).visits, config, hotspots


# --- visits ---------------------------------------------------------------------------

def test_two_officers_at_once_do_not_double_patrol_minutes(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T10:00:00Z", 20) + _track("R2", "PC2", "2023-05-01T10:10:00Z", 20)
    visits, _, _ = _visits(tmp_path, rows)
    assert len(visits) == 2
    summary = visits.summary()
    assert summary["patrol_minutes"] == pytest.approx(30.0)   # 10:00-10:30
    assert summary["officer_minutes"] == pytest.approx(40.0)  # 20 + 20


def test_one_officer_with_two_devices_is_counted_once(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T10:00:00Z", 20) + _track("P1", "PC1", "2023-05-01T10:00:00Z", 20)
    visits, _, _ = _visits(tmp_path, rows)
    assert len(visits) == 2
    assert visits.summary()["officer_minutes"] == pytest.approx(20.0)


def test_leaving_and_returning_within_the_gap_is_one_visit(tmp_path):
    rows = (_track("R1", "PC1", "2023-05-01T10:00:00Z", 10)
            + _track("R1", "PC1", "2023-05-01T10:11:00Z", 2, where=OUTSIDE)
            + _track("R1", "PC1", "2023-05-01T10:14:00Z", 10))   # 4 min since last inside ping
    visits, _, _ = _visits(tmp_path, rows, "max_ping_gap_minutes = 5")
    assert len(visits) == 1
    v = visits.frame.iloc[0]
    assert v["start"] == pd.Timestamp("2023-05-01T10:00:00Z")
    assert v["end"] == pd.Timestamp("2023-05-01T10:24:00Z")
    assert v["minutes"] == pytest.approx(24.0)


def test_a_gap_longer_than_the_tolerance_ends_the_visit(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T10:00:00Z", 10) + _track("R1", "PC1", "2023-05-01T10:16:00Z", 10)
    visits, _, _ = _visits(tmp_path, rows, "max_ping_gap_minutes = 5")
    assert visits.frame["minutes"].tolist() == [10.0, 10.0]


def test_short_stays_are_not_visits(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T10:00:00Z", 1) + _track("R2", "PC2", "2023-05-01T11:00:00Z", 3)
    visits, _, _ = _visits(tmp_path, rows, "min_visit_minutes = 2")
    assert visits.frame["device_id"].tolist() == ["R2"]


def test_gps_jitter_across_the_edge_with_and_without_tolerance(tmp_path):
    # A device standing on the east edge (x = 406200) reports ±8 m of jitter every 30 s.
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2023-05-01T10:00:00Z")
    rows = [("R1", "PC1", (t0 + pd.Timedelta(seconds=30 * i)).isoformat(), 406200 + rng.uniform(-8, 8), 286100.0)
            for i in range(41)]
    rows[0] = (*rows[0][:3], 406195.0, 286100.0)   # first and last fixes inside
    rows[-1] = (*rows[-1][:3], 406195.0, 286100.0)
    strict, _, _ = _visits(tmp_path, rows, "max_ping_gap_minutes = 5")
    assert strict.frame["n_pings"].sum() < 41          # some fixes fell outside …
    assert strict.frame["minutes"].tolist() == [20.0]   # … but the stay is not fragmented
    tolerant, _, _ = _visits(tmp_path, rows, "max_ping_gap_minutes = 5\ngps_tolerance_m = 10")
    assert tolerant.frame["n_pings"].tolist() == [41]
    fragile, _, _ = _visits(tmp_path, rows, "max_ping_gap_minutes = 0.4")
    assert len(fragile) > 1


def test_ping_on_the_polygon_edge_is_a_visit(tmp_path):
    rows = [("R1", "PC1", "2023-05-01T10:00:00Z", 406200.0, 286100.0),
            ("R2", "PC2", "2023-05-01T10:00:00Z", 406200.001, 286100.0)]
    visits, _, _ = _visits(tmp_path, rows)
    assert visits.frame["device_id"].tolist() == ["R1"]


def test_union_blocks_merges_overlaps_and_touches_per_group():
    g = np.array([0, 0, 0, 1, 1, 0])
    s = np.array([0, 5, 20, 0, 100, 10])
    e = np.array([10, 8, 30, 50, 120, 12])
    bg, bs, be = union_blocks(g, s, e)
    assert list(zip(bg.tolist(), bs.tolist(), be.tolist(), strict=True)) == [
        (0, 0, 12), (0, 20, 30), (1, 0, 50), (1, 100, 120)]


# --- compliance -----------------------------------------------------------------------

WS = "2023-05-01T15:00:00+01:00"


@pytest.mark.parametrize("offset, compliant", [("23:59:59", True), ("24:00:00", True), ("24:00:01", False)])
def test_arrival_at_the_24_hour_boundary(tmp_path, offset, compliant):
    h, m, s = map(int, offset.split(":"))
    arrival = pd.Timestamp(WS) + pd.Timedelta(hours=h, minutes=m, seconds=s)
    rows = [("R1", "PC1", arrival.isoformat(), *INSIDE)]
    visits, config, hotspots = _visits(tmp_path, rows)
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00")])
    result = score_compliance(alloc, visits, hotspots=hotspots, config=config)
    p = result.patrols.iloc[0]
    assert bool(p["compliant"]) is compliant
    assert p["first_arrival"] == arrival
    assert p["lag_minutes"] == pytest.approx(h * 60 + m + s / 60)
    assert result.rate == (1.0 if compliant else 0.0)


def test_arrival_before_the_window_does_not_count_but_presence_across_it_does(tmp_path):
    early = _track("R1", "PC1", "2023-05-01T13:00:00+01:00", 10)            # over before the window
    across = _track("R2", "PC2", "2023-05-01T14:50:00+01:00", 30, where=(406150.0, 286150.0))
    visits, config, hotspots = _visits(tmp_path, early)
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00")])
    assert not score_compliance(alloc, visits, hotspots=hotspots, config=config).patrols["compliant"].iloc[0]
    visits, config, hotspots = _visits(tmp_path, early + across)
    p = score_compliance(alloc, visits, hotspots=hotspots, config=config).patrols.iloc[0]
    assert p["compliant"] and p["lag_minutes"] == 0.0
    assert p["patrol_minutes"] == pytest.approx(20.0)   # 15:00-15:20 of 14:50-15:20
    assert p["koper_met"]
    assert p["first_officer"] == "PC2"


def test_window_spanning_the_clock_change(tmp_path):
    # Saturday 25 March 2023, 15:00 GMT; clocks go forward at 01:00 GMT on Sunday.
    ws = "2023-03-25T15:00:00+00:00"
    alloc = _alloc([("2023-03-25", "H01", "treatment", ws, "2023-03-25T15:15:00+00:00"),
                    ("2023-03-25", "H02", "control", "", ""),
                    ("2023-03-26", "H02", "control", "", "")])
    # 15:59:59 BST on Sunday is 23 h 59 min 59 s of elapsed time after the start: compliant.
    on_time = [("R1", "PC1", "2023-03-26T15:59:59+01:00", *INSIDE)]
    # 16:00:01 BST is 24 h 0 min 1 s later: not compliant, although the wall clock says 25 h.
    late = [("R1", "PC1", "2023-03-26T16:00:01+01:00", *INSIDE)]
    # 05:30 BST on Sunday still belongs to Saturday's experimental day (06:00-05:59 local,
    # a 23-hour day): contamination of Saturday's control day for H02, not Sunday's.
    control = [("R9", "PC9", "2023-03-26T05:30:00+01:00", 406600.0, 286100.0)]
    for rows, expected in ((on_time, True), (late, False)):
        visits, config, hotspots = _visits(tmp_path, rows + control)
        result = score_compliance(alloc, visits, hotspots=hotspots, config=config)
        assert bool(result.patrols["compliant"].iloc[0]) is expected
        assert result.patrols["deadline"].iloc[0] == pd.Timestamp("2023-03-26T15:00:00Z")
        c = result.controls.set_index("date")
        assert c.loc[dt.date(2023, 3, 25), "contaminated"]
        assert not c.loc[dt.date(2023, 3, 26), "contaminated"]
        assert c.loc[dt.date(2023, 3, 25), "day_end"] - c.loc[dt.date(2023, 3, 25), "day_start"] == pd.Timedelta(hours=23)


def test_koper_dose_needs_continuous_presence(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T16:00:00+01:00", 14) + _track("R2", "PC2", "2023-05-01T18:00:00+01:00", 14)
    visits, config, hotspots = _visits(tmp_path, rows, "koper_minutes = 15")
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00")])
    p = score_compliance(alloc, visits, hotspots=hotspots, config=config).patrols.iloc[0]
    assert p["compliant"] and not p["koper_met"]
    assert p["patrol_minutes"] == pytest.approx(28.0)


def test_late_visit_is_compliant_but_not_delivery_on_the_day_and_never_counts_twice(tmp_path):
    """Issue 12, item 5: a visit at 07:00 on day d+1 meets the 24 h compliance rule for day d's
    15:15 patrol, and also falls on day d+1 (a control day). The trial's rule counts it as
    delivered for d and contaminated for d+1; the evaluation's on-day presence counts it once,
    on d+1 only."""
    rows = _track("R1", "PC1", "2023-05-02T07:00:00+01:00", 20)
    visits, config, hotspots = _visits(tmp_path, rows)
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00"),
                    ("2023-05-02", "H01", "control", "", "")])
    table = compliance_by_hotspot_day(score_compliance(alloc, visits, hotspots=hotspots, config=config))
    day = {str(r.date): r for r in table.itertuples(index=False)}
    d, d1 = day["2023-05-01"], day["2023-05-02"]
    assert d.delivered == 1 and d1.contaminated == 1  # the weekly report's rule: counted twice
    assert (d.delivered_on_day, d.present_on_day, d.dosage_minutes) == (0, 0, 0.0)
    assert (d1.present_on_day, d1.dosage_minutes) == (1, 20.0)
    assert d.present_on_day + d1.present_on_day == 1  # the evaluation's variable: once


def test_hotspot_day_table_and_rates(tmp_path):
    rows = (_track("R1", "PC1", "2023-05-01T16:00:00+01:00", 20)               # H01 treated, delivered
            + _track("R2", "PC2", "2023-05-01T19:00:00+01:00", 5, where=(406600.0, 286100.0)))  # H02 control
    visits, config, hotspots = _visits(tmp_path, rows)
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00"),
                    ("2023-05-01", "H02", "control", "", ""),
                    ("2023-05-01", "H03", "treatment", WS, "2023-05-01T15:15:00+01:00"),
                    ("2023-05-02", "H01", "control", "", "")])
    result = score_compliance(alloc, visits, hotspots=hotspots, config=config)
    table = compliance_by_hotspot_day(result)
    assert list(table.columns) == ["date", "hotspot_id", "delivered", "dosage_minutes", "contaminated",
                                   "delivered_on_day", "present_on_day"]
    got = {(str(r.date), r.hotspot_id): (r.delivered, r.dosage_minutes, r.contaminated)
           for r in table.itertuples(index=False)}
    assert got == {("2023-05-01", "H01"): (1, 20.0, 0), ("2023-05-01", "H02"): (0, 5.0, 1),
                   ("2023-05-01", "H03"): (0, 0.0, 0), ("2023-05-02", "H01"): (0, 0.0, 0)}
    by_hotspot = result.rates("hotspot_id").set_index("hotspot_id")
    assert by_hotspot.loc["H01", "rate"] == 1.0 and by_hotspot.loc["H03", "rate"] == 0.0
    assert np.isnan(by_hotspot.loc["H02", "rate"]) and by_hotspot.loc["H02", "contaminated"] == 1
    assert result.rate == 0.5
    by_dow = result.rates("dow").set_index("dow")
    assert by_dow.loc["Mon", "scheduled"] == 2
    assert result.rates("week")["week"].tolist() == ["2023-W18"]
    with pytest.raises(DataError, match="no hotspot-days in the period"):
        score_compliance(alloc, visits, hotspots=hotspots, config=config, first=dt.date(2024, 1, 1),
                         last=dt.date(2024, 1, 7))


def test_lat_lon_pings_score_like_grid_pings(tmp_path):
    """WGS84 input goes through the projection filter (only pings near hotspots are
    projected); it must find the same in-hotspot pings and visits as BNG input."""
    from pyproj import Transformer

    config, hotspots = _setup(tmp_path, "gps_tolerance_m = 20")
    rng = np.random.default_rng(9)
    n = 3000
    t = pd.Timestamp("2023-05-01T10:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 20_000, n)), unit="s")
    x = 406000 + rng.uniform(-400, 1600, n)   # around and between H01-H03, and beyond
    y = 286000 + rng.uniform(-400, 1400, n)
    frame = pd.DataFrame({"device_id": rng.choice(["R1", "R2"], n), "officer_id": "PC",
                          "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "x": x, "y": y, "team": "A"})
    frame.to_csv(tmp_path / "bng.csv", index=False)
    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(x, y)
    frame.drop(columns=["x", "y"]).assign(lat=lat, lon=lon).to_csv(tmp_path / "wgs.csv", index=False)
    bng = score_pings(tmp_path / "bng.csv", hotspots, config.compliance)
    wgs = score_pings(tmp_path / "wgs.csv", hotspots, config.compliance)
    assert bng.n_in_hotspots == wgs.n_in_hotspots > 100
    cols = ["device_id", "hotspot_id", "start", "end", "n_pings"]
    pd.testing.assert_frame_equal(bng.visits.frame[cols], wgs.visits.frame[cols])


def test_two_scheduled_patrols_in_a_day_both_needed_for_delivered(tmp_path):
    rows = _track("R1", "PC1", "2023-05-01T16:00:00+01:00", 5)      # after the first start only
    visits, config, hotspots = _visits(tmp_path, rows, "arrival_within_hours = 1")
    alloc = _alloc([("2023-05-01", "H01", "treatment", WS, "2023-05-01T15:15:00+01:00"),
                    ("2023-05-01", "H01", "treatment", "2023-05-01T18:00:00+01:00", "2023-05-01T18:15:00+01:00")])
    result = score_compliance(alloc, visits, hotspots=hotspots, config=config)
    assert result.patrols["compliant"].tolist() == [True, False]
    table = compliance_by_hotspot_day(result)
    assert table["delivered"].tolist() == [0]
    assert table["dosage_minutes"].tolist() == [5.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500), st.integers(0, 60)), min_size=1, max_size=25))
def test_presence_minutes_match_a_minute_by_minute_count(intervals):
    """Union of visits against brute force on a one-minute lattice (integer endpoints)."""
    from guardian_rct.compliance.visits import Visits, sort_visits

    t0 = pd.Timestamp("2023-05-01T00:00:00Z")
    frame = pd.DataFrame({
        "device_id": [f"R{o}" for o, _, _ in intervals], "officer_id": [f"PC{o}" for o, _, _ in intervals],
        "officer": [f"PC{o}" for o, _, _ in intervals], "team": "A", "hotspot_id": "H01",
        "start": [t0 + pd.Timedelta(minutes=s) for _, s, _ in intervals],
        "end": [t0 + pd.Timedelta(minutes=s + d) for _, s, d in intervals],
        "minutes": [float(d) for _, _, d in intervals], "n_pings": 2})
    frame["start"] = frame["start"].dt.as_unit("ns")
    frame["end"] = frame["end"].dt.as_unit("ns")
    visits: Visits = sort_visits(frame)
    summary = visits.summary()
    covered = np.zeros(600, dtype=bool)
    per_officer = {}
    for o, s, d in intervals:
        covered[s:s + d] = True
        per_officer.setdefault(o, np.zeros(600, dtype=bool))[s:s + d] = True
    assert summary["patrol_minutes"] == covered.sum()
    assert summary["officer_minutes"] == sum(v.sum() for v in per_officer.values())
    assert summary["patrol_minutes"] <= summary["officer_minutes"] <= frame["minutes"].sum()
