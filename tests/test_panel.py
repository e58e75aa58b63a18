"""The hotspot × experimental-day panel, checked by hand and against a brute-force loop."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import make_hotspots, write_trial
from guardian_rct._core.days import date_range, experimental_day
from guardian_rct._core.errors import DataError, DataQualityWarning
from guardian_rct.config.trial_config import load_config
from guardian_rct.crimes.outcomes import outcome_mask
from guardian_rct.crimes.panel import PANEL_KEYS, build_panel
from guardian_rct.crimes.records import crimes_from_frame
from guardian_rct.design.allocation import allocation_from_frame
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.harm.index import default_harm_index

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def trial(tmp_path):
    config = load_config(write_trial(tmp_path, extra="[evaluation]\nbaseline_days = 30\n"))
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    return config, hotspots


def make_allocation(hotspots, days, treated=("H01", "H03", "H05")):
    rows = []
    for d in days:
        for h in hotspots.ids:
            if h in treated:
                start = pd.Timestamp(dt.datetime.combine(d, dt.time(15)), tz=LONDON)
                rows.append({"date": d.isoformat(), "hotspot_id": h, "arm": "treatment",
                             "window_start": start.isoformat(),
                             "window_end": (start + pd.Timedelta(minutes=15)).isoformat()})
            else:
                rows.append({"date": d.isoformat(), "hotspot_id": h, "arm": "control",
                             "window_start": "", "window_end": ""})
    return allocation_from_frame(pd.DataFrame(rows))


def make_rings(hotspots, distances=(100.0, 200.0)):
    rows = []
    for hid, geom in zip(hotspots.ids, hotspots.frame.geometry, strict=True):
        inner = 0.0
        for outer in distances:
            ring = geom.buffer(outer).difference(geom.buffer(inner) if inner else geom)
            rows.append({"hotspot_id": hid, "ring": f"{inner:g}-{outer:g}", "inner_m": inner,
                         "outer_m": outer, "geometry": ring})
            inner = outer
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=hotspots.crs)


def crime(cid, when, x=406100, y=286100, code="008/06", **extra):
    return {"crime_id": cid, "offence_code": code, "occurred_at": when, "x": x, "y": y, **extra}


def cell(panel, day, hotspot, column):
    f = panel.frame
    row = f[(f["date"] == pd.Timestamp(day)) & (f["hotspot_id"] == hotspot)]
    assert len(row) == 1
    return row[column].iloc[0]


def test_day_starts_at_0600_local(trial):
    config, hotspots = trial
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 22))
    crimes = crimes_from_frame(pd.DataFrame([
        crime("a", "2023-03-21T05:59:00+00:00"),   # GMT: 05:59 local → day of 20 March
        crime("b", "2023-03-21T06:00:00+00:00"),   # 06:00 local → 21 March
    ]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes)
    assert cell(panel, "2023-03-20", "H01", "count_all_crime") == 1
    assert cell(panel, "2023-03-21", "H01", "count_all_crime") == 1
    assert panel.frame["count_all_crime"].sum() == 2


def test_clock_change_days_are_23_and_25_hours(trial):
    config, hotspots = trial
    spring = date_range(dt.date(2023, 3, 25), dt.date(2023, 3, 26))
    crimes = crimes_from_frame(pd.DataFrame([
        # 25 March runs 06:00 GMT (06:00Z) to 06:00 BST on the 26th (05:00Z): 23 hours
        crime("s1", "2023-03-26T04:59:00Z"), crime("s2", "2023-03-26T05:00:00Z"),
        crime("s3", "2023-03-25T05:59:00Z"),
    ]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, spring), crimes)
    assert cell(panel, "2023-03-25", "H01", "count_all_crime") == 1  # s1
    assert cell(panel, "2023-03-26", "H01", "count_all_crime") == 1  # s2; s3 is before the panel
    autumn = date_range(dt.date(2023, 10, 28), dt.date(2023, 10, 29))
    crimes = crimes_from_frame(pd.DataFrame([
        # 28 October runs 06:00 BST (05:00Z) to 06:00 GMT on the 29th (06:00Z): 25 hours
        crime("f1", "2023-10-28T05:00:00Z"), crime("f2", "2023-10-29T05:59:00Z"),
        crime("f3", "2023-10-29T06:00:00Z"), crime("f0", "2023-10-28T04:59:00Z"),
    ]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, autumn), crimes)
    assert cell(panel, "2023-10-28", "H01", "count_all_crime") == 2  # f1, f2 (25th hour)
    assert cell(panel, "2023-10-29", "H01", "count_all_crime") == 1  # f3


def test_boundary_point_is_inside_and_rings_are_exclusive(trial):
    config, hotspots = trial
    days = [dt.date(2023, 3, 21)]
    when = "2023-03-21T12:00:00Z"
    # H01 is the square 406000..406200 × 286000..286200; H02 starts at x = 406500.
    crimes = crimes_from_frame(pd.DataFrame([
        crime("edge", when, x=406200, y=286100),     # on H01's boundary → in H01, not in its ring
        crime("corner", when, x=406000, y=286000),   # on H01's corner → in H01
        crime("r1", when, x=406250, y=286100),       # 50 m out → H01 ring 0-100
        crime("r2", when, x=406350, y=286100),       # 150 m from H01 and from H02 → both rings 100-200
        crime("far", when, x=409000, y=289000),      # nowhere
    ]), now=NOW)
    rings = make_rings(hotspots)
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes, rings=rings)
    assert cell(panel, "2023-03-21", "H01", "count_all_crime") == 2
    r = panel.rings.set_index(["hotspot_id", "ring"])
    assert r.loc[("H01", "0-100"), "count_all_crime"] == 1
    assert r.loc[("H01", "100-200"), "count_all_crime"] == 1
    assert r.loc[("H02", "100-200"), "count_all_crime"] == 1
    assert r.loc[("H02", "0-100"), "count_all_crime"] == 0
    assert panel.rings["count_all_crime"].sum() == 3
    assert panel.counts["outside_hotspots_and_rings"] == 1
    assert list(panel.rings.columns[:len(PANEL_KEYS)]) == list(PANEL_KEYS)
    assert (panel.rings.groupby("hotspot_id")["ring"].apply(list) == [["0-100", "100-200"]] * 6).all()


def test_empty_hotspot_days_appear_with_zeros_and_schema_follows_the_contract(trial):
    config, hotspots = trial
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 23))
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-22T12:00:00Z")]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes)
    f = panel.frame
    assert len(f) == 4 * 6
    assert list(f.columns[:len(PANEL_KEYS)]) == list(PANEL_KEYS)
    for o in ("all_crime", "violence", "serious_youth_violence"):
        for prefix in ("count_", "harm_", "baseline_count_", "baseline_harm_"):
            assert f"{prefix}{o}" in f.columns
    assert f["count_all_crime"].dtype == np.int64 and f["harm_all_crime"].dtype == np.float64
    assert f.equals(f.sort_values(["date", "hotspot_id"]))
    assert f["date"].dtype == "datetime64[ns]" and (f["date"].dt.hour == 0).all()
    assert f["day_index"].tolist() == list(np.repeat(range(4), 6))
    assert f["dow"].iloc[0] == 0  # 20 March 2023 was a Monday
    assert (f["count_all_crime"] == 0).sum() == 23
    assert f.loc[f["arm"] == "treatment", "hotspot_id"].unique().tolist() == ["H01", "H03", "H05"]
    assert (f["treated"] == (f["arm"] == "treatment")).all()
    treated = f[f["treated"] == 1]
    assert (treated["window_start"] == pd.to_datetime(
        [f"{d:%Y-%m-%d}T15:00:00Z" for d in treated["date"]])).all()  # 15:00 GMT in March
    assert f.loc[f["treated"] == 0, "window_start"].isna().all()
    assert f["p_treated"].isna().all()
    assert f["block"].tolist()[:6] == ["A", "B", "A", "B", "A", "B"]


def test_outcomes_harm_and_unweighted_crimes(trial):
    config, hotspots = trial
    days = [dt.date(2023, 3, 21)]
    when = "2023-03-21T12:00:00Z"
    crimes = crimes_from_frame(pd.DataFrame([
        crime("murder", when, code="001/01", victim_age=30),
        crime("abh-young", when, code="008/06", victim_age=19),
        crime("abh-old", when, code="008/06", victim_age=40),
        crime("abh-unknown", when, code="008/06"),
        crime("knife", when, code="008/26", victim_age=16),      # possession: not violence
        crime("asb", when, code="Anti-social behaviour"),
        crime("burglary", when, code="Burglary"),
    ]), now=NOW)
    with pytest.warns(DataQualityWarning, match="no harm weight"):
        panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes)
    w = default_harm_index()
    assert cell(panel, days[0], "H01", "count_all_crime") == 7
    assert cell(panel, days[0], "H01", "count_violence") == 4
    assert cell(panel, days[0], "H01", "count_serious_youth_violence") == 1
    expected = (w.weight_of("001/01") + 3 * w.weight_of("008/06") + w.weight_of("008/26")
                + w.weigh(pd.Series([None], dtype="string"), pd.Series(["Burglary"])).iloc[0])
    assert cell(panel, days[0], "H01", "harm_all_crime") == pytest.approx(expected)
    assert cell(panel, days[0], "H01", "harm_serious_youth_violence") == 365
    assert panel.counts["unweighted"] == {"Anti-social behaviour": 1}
    assert panel.harm["version"] == w.version and panel.harm["sha256"] == w.sha256
    assert panel.provenance.inputs["harm_index"] == w.sha256


def test_baseline_totals_and_exclusions(trial):
    config, hotspots = trial  # trial starts 2023-03-20; baseline 30 days
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 21))
    crimes = crimes_from_frame(pd.DataFrame([
        crime("b1", "2023-03-20T05:00:00Z", x=406600),             # day of 19 March: baseline, H02
        crime("b2", "2023-02-18T12:00:00Z", x=406600),             # 30 days before: baseline
        crime("b3", "2023-02-17T12:00:00Z", x=406600),             # 31 days before: not
        crime("p", "2023-03-20T12:00:00Z", detection="proactive"),  # excluded
        crime("h", "2023-03-20T12:00:00Z", reported_at="2024-06-01T00:00:00Z"),  # historic
        crime("k", "2023-03-20T12:00:00Z", detection="reactive", reported_at="2023-03-21T00:00:00Z"),
    ]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes)
    f = panel.frame
    assert f.loc[f["hotspot_id"] == "H02", "baseline_count_all_crime"].tolist() == [2, 2]
    assert f.loc[f["hotspot_id"] == "H02", "baseline_harm_all_crime"].tolist() == [730, 730]
    assert f.loc[f["hotspot_id"] != "H02", "baseline_count_all_crime"].eq(0).all()
    assert cell(panel, "2023-03-20", "H01", "count_all_crime") == 1
    assert panel.counts["excluded"] == {"proactive detection": 1, "historic report": 1}
    kept = build_panel(config, hotspots, make_allocation(hotspots, days), crimes,
                       harm_index=default_harm_index(),
                       baseline_days=60)
    assert kept.frame.loc[kept.frame["hotspot_id"] == "H02", "baseline_count_all_crime"].iloc[0] == 3


def test_probabilities_compliance_and_export(trial, tmp_path):
    config, hotspots = trial
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 21))
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-20T12:00:00Z")]), now=NOW)
    p = np.full((2, 6), 0.5)
    comp = pd.DataFrame({"date": ["2023-03-20"], "hotspot_id": ["H01"], "delivered": [1],
                         "dosage_minutes": [22.5], "contaminated": [0]})
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes, probabilities=p,
                        compliance=comp, rings=make_rings(hotspots))
    f = panel.frame
    assert (f["p_treated"] == 0.5).all()
    assert cell(panel, "2023-03-20", "H01", "dosage_minutes") == 22.5
    assert f["delivered"].isna().sum() == 11
    paths = panel.write(tmp_path / "out")
    back = pd.read_parquet(paths["panel_parquet"])
    pd.testing.assert_frame_equal(back, f)
    csv = pd.read_csv(paths["panel_csv"])
    assert csv["date"].iloc[0] == "2023-03-20" and len(csv) == 12
    assert len(pd.read_parquet(paths["rings_parquet"])) == 24
    full = np.tile(np.linspace(0.1, 0.9, config.trial.n_days)[:, None], (1, 6))  # every trial day
    again = build_panel(config, hotspots, make_allocation(hotspots, days[1:]), crimes, probabilities=full)
    assert again.frame["p_treated"].iloc[0] == pytest.approx(full[1, 0])
    assert panel.counts["detection_unknown"] == 1
    with pytest.raises(DataError, match="wrong shape"):
        build_panel(config, hotspots, make_allocation(hotspots, days), crimes, probabilities=p[:1])


def test_incomplete_allocation_is_refused(trial):
    config, hotspots = trial
    alloc = make_allocation(hotspots, [dt.date(2023, 3, 20)])
    partial = allocation_from_frame(alloc.frame[alloc.frame["hotspot_id"] != "H04"].assign(
        date=lambda d: d["date"].astype(str)))
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-20T12:00:00Z")]), now=NOW)
    with pytest.raises(DataError, match="no arm for hotspot 'H04' on 2023-03-20"):
        build_panel(config, hotspots, partial, crimes)


def test_panel_matches_a_brute_force_loop(trial):
    """Random crimes: the vectorised panel equals a per-crime loop with scalar rules."""
    config, hotspots = trial
    rng = np.random.default_rng(7)
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 30))
    n = 600
    start = pd.Timestamp("2023-03-19T00:00Z").value
    stamps = pd.to_datetime(rng.integers(start // 10**9, start // 10**9 + 13 * 86_400, n), unit="s", utc=True)
    codes = rng.choice(["008/06", "008/01", "001/01", "049/01", "105/01", "034/01"], n)
    x = rng.choice([406000, 406100, 406200, 406350, 406500, 406600, 407000, 407150], n).astype(float)
    y = rng.choice([286000, 286100, 286200, 286300, 287100], n).astype(float)
    ages = rng.choice([15.0, 24.0, 25.0, 40.0, np.nan], n)
    frame = pd.DataFrame({"crime_id": [f"c{i}" for i in range(n)], "offence_code": codes,
                          "occurred_at": [s.isoformat() for s in stamps], "x": x, "y": y,
                          "victim_age": ages})
    crimes = crimes_from_frame(frame, now=NOW)
    index = default_harm_index()
    rings = make_rings(hotspots)
    alloc = make_allocation(hotspots, days[::2])  # non-contiguous days
    panel = build_panel(config, hotspots, alloc, crimes, harm_index=index, rings=rings)
    expected_count: dict[tuple, int] = {}
    expected_harm: dict[tuple, float] = {}
    expected_ring: dict[tuple, int] = {}
    spec = config.outcome("serious_youth_violence")
    syv = outcome_mask(crimes.frame, spec)
    own_rings = {h: [(g, geom) for g, geom in zip(part["ring"], part.geometry, strict=True)]
                 for h, part in rings.sort_values("inner_m").groupby("hotspot_id")}
    for i, row in crimes.frame.iterrows():
        day = experimental_day(row["occurred_at"].to_pydatetime(), LONDON, dt.time(6))
        if day not in days[::2]:
            continue
        point = shapely.Point(row["x"], row["y"])
        for hid, geom in zip(hotspots.ids, hotspots.frame.geometry, strict=True):
            if geom.covers(point):
                if syv[i]:
                    key = (day, hid)
                    expected_count[key] = expected_count.get(key, 0) + 1
                    expected_harm[key] = expected_harm.get(key, 0.0) + index.weight_of(row["offence_code"])
                continue
            for label, ring in own_rings[hid]:
                if ring.covers(point):
                    key = (day, hid, label)
                    expected_ring[key] = expected_ring.get(key, 0) + 1
                    break
    r = panel.rings
    got_ring = {(d.date(), h, g): c for d, h, g, c in zip(r["date"], r["hotspot_id"], r["ring"],
                                                          r["count_all_crime"], strict=True) if c}
    assert got_ring == expected_ring and sum(got_ring.values()) > 50
    f = panel.frame
    got = {(d.date(), h): c for d, h, c in zip(f["date"], f["hotspot_id"],
                                                f["count_serious_youth_violence"], strict=True) if c}
    assert got == expected_count and sum(got.values()) > 10
    got_h = {(d.date(), h): v for d, h, v in zip(f["date"], f["hotspot_id"],
                                                  f["harm_serious_youth_violence"], strict=True) if v}
    assert got_h == pytest.approx(expected_harm)


def test_no_usable_crimes_gives_an_all_zero_panel(trial):
    config, hotspots = trial
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-20T12:00:00Z", x="", y="")]), now=NOW)
    assert len(crimes) == 0
    panel = build_panel(config, hotspots, make_allocation(hotspots, [dt.date(2023, 3, 20)]), crimes,
                        rings=make_rings(hotspots))
    assert len(panel.frame) == 6 and panel.frame["count_all_crime"].eq(0).all()
    assert panel.rings["harm_violence"].eq(0).all()
    assert panel.counts["quarantined"] == 1 and panel.counts["in_hotspots_trial"] == 0


def test_a_crimes_file_from_another_period_is_refused_not_an_empty_panel(trial):
    """Last year's export given for this trial: every crime lies outside the panel's days
    and baseline, so the panel would show a trial without crime. It is refused instead."""
    config, hotspots = trial
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 22))
    old = crimes_from_frame(pd.DataFrame([crime("a", "2021-03-21T12:00:00+00:00"),
                                          crime("b", "2021-03-22T12:00:00+00:00")]), now=NOW)
    with pytest.raises(DataError, match="no crime in the file falls in the evaluated period") as err:
        build_panel(config, hotspots, make_allocation(hotspots, days), old)
    assert "2021-03-21" in str(err.value) and "another period" in str(err.value)
    # one crime in the baseline is enough: a quiet trial period is not refused
    mixed = crimes_from_frame(pd.DataFrame([crime("a", "2021-03-21T12:00:00+00:00"),
                                            crime("b", "2023-03-01T12:00:00+00:00")]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), mixed)
    assert panel.frame["count_all_crime"].sum() == 0
