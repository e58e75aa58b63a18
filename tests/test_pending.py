"""Pending is not missed (issue 13, item 3): a patrol whose 24-hour deadline is after the
end of the location data is "pending" in the scoring, every table and the trend, and a week
is stored in the trial store only once every deadline in it has passed and pings cover it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.compliance_weeks import store_weeks, stored_weeks
from guardian_rct.ledger.records import WeekTotals
from test_compliance_report import _make_trial


def _run(made: dict, pings: Path, out: Path, week: str = "2023-W18") -> dict:
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(pings),
                 "--allocation", str(made["allocation"]), "--week", week, "--out", str(out)])
    assert code == 0
    return json.loads((out / "weekly_compliance.json").read_text())


@pytest.fixture()
def made(tmp_path):
    return _make_trial(tmp_path)


def _cut(made: dict, until: str, path: Path) -> Path:
    """The ping file as a cron job on Monday morning would see it: nothing after ``until``."""
    frame = pd.read_csv(made["pings"])
    t = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    frame[t.isna() | (t <= pd.Timestamp(until))].to_csv(path, index=False)
    return path


def test_sundays_patrols_are_pending_when_the_pings_end_before_their_deadline(made, tmp_path):
    until = "2023-05-08T06:00:00Z"          # Monday morning: Sunday's 16:00 patrols are due Monday 16:00
    report = _run(made, _cut(made, until, tmp_path / "cut.csv"), tmp_path / "monday")
    sunday = {k: v for k, v in made["truth"].items() if k[0] == "2023-05-07"}
    week = {k: v for k, v in made["truth"].items() if "2023-05-01" <= k[0] <= "2023-05-07"}
    pending = {(r["date"], r["hotspot_id"]) for r in report["pending"]}
    missed = {(r["date"], r["hotspot_id"]) for r in report["missed"]}
    # every Sunday patrol not yet arrived by Monday 06:00 is pending, none of them "missed"
    assert pending and all(d == "2023-05-07" for d, _ in pending)
    assert not missed & set(sunday)
    h = report["headline"]
    assert h["pending"] == len(pending) and h["scheduled"] == len(week)
    assert h["missed"] + h["compliant"] + h["pending"] == h["scheduled"]
    assert h["rate"] == pytest.approx(h["compliant"] / (h["scheduled"] - h["pending"]), abs=1e-4)
    sun_row = next(r for r in report["by_dow"] if r["dow"] == "Sun")
    assert sun_row["pending"] == len(pending)
    # the week is not stored as complete, and is marked not complete in the trend
    store = load_config(made["config"]).trial.store
    assert "2023-W18" not in {w.week for w in stored_weeks(store)}
    row = next(r for r in report["trend"] if r["week"] == "2023-W18")
    assert row["partial"] and row["pending"] == len(pending)
    html = (tmp_path / "monday" / "weekly_compliance.html").read_text()
    assert "Pending patrols" in html and 'id="headline-pending"' in html
    days = pd.read_csv(tmp_path / "monday" / "compliance_hotspot_days.csv", dtype=str, keep_default_na=False)
    unknown = days[days["delivered"] == ""]
    assert set(zip(unknown["date"], unknown["hotspot_id"], strict=True)) == pending


def test_week_is_stored_once_covered_and_a_rerun_replaces_its_row(made, tmp_path):
    store = load_config(made["config"]).trial.store
    _run(made, _cut(made, "2023-05-08T06:00:00Z", tmp_path / "cut.csv"), tmp_path / "a")
    assert "2023-W18" not in {w.week for w in stored_weeks(store)}
    full = _run(made, made["pings"], tmp_path / "b")
    assert full["headline"]["pending"] == 0
    stored = {w.week: w for w in stored_weeks(store)}
    assert stored["2023-W18"].compliant == full["headline"]["compliant"]
    # a re-run with fewer pings for the week replaces the stored row
    frame = pd.read_csv(made["pings"])
    t = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    keep = t.isna() | (t < pd.Timestamp("2023-05-03T00:00:00Z")) | (t > pd.Timestamp("2023-05-04T00:00:00Z"))
    frame[keep].to_csv(tmp_path / "fewer.csv", index=False)
    again = _run(made, tmp_path / "fewer.csv", tmp_path / "c")
    assert again["headline"]["compliant"] < full["headline"]["compliant"]
    assert {w.week: w for w in stored_weeks(store)}["2023-W18"].compliant == again["headline"]["compliant"]


def test_a_week_of_unusable_pings_is_not_stored_as_zero(made, tmp_path):
    (tmp_path / "bad.csv").write_text("device_id,timestamp,x,y\nR1,2023-05-01T10:00:00,406100,286100\n")
    report = _run(made, tmp_path / "bad.csv", tmp_path / "o")
    h = report["headline"]
    assert h["pending"] == h["scheduled"] > 0 and h["missed"] == 0 and h["rate"] is None
    assert "2023-W18" not in {w.week for w in stored_weeks(load_config(made["config"]).trial.store)}


def test_the_store_refuses_a_partial_week(made):
    store = load_config(made["config"]).trial.store
    with pytest.raises(ValueError, match="only complete weeks"):
        store_weeks(store, [WeekTotals("2023-W18", 10, 5, 10, 0, partial=True)])
    with pytest.raises(ValueError, match="only complete weeks"):
        store_weeks(store, [WeekTotals("2023-W18", 10, 5, 10, 0, pending=2)])
    assert stored_weeks(store) == []
