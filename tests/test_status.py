"""guardian-rct status: each alert fires on a constructed trial and stays quiet on a healthy
one; the seed never appears; --json round-trips; exit codes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.status import trial_status
from guardian_rct.ledger.compliance_weeks import store_weeks
from guardian_rct.ledger.publish import publish
from guardian_rct.ledger.records import WeekTotals
from guardian_rct.ledger.store import init_trial

SEED = "20230320"  # write_trial's seed
UTC = dt.UTC


def _at(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=UTC)


def _trial(tmp_path, *, last="2023-03-27"):
    """Trial 2023-03-20..04-10; days up to ``last`` each published at noon UTC the day before."""
    cfg = load_config(write_trial(tmp_path, extra="[evaluation]\nmilestones = [2023-04-03, 2023-04-10]\n"))
    init_trial(cfg)
    day = cfg.trial.start_date
    while day <= dt.date.fromisoformat(last):
        publish(cfg, day, now=dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tzinfo=UTC))
        day += dt.timedelta(days=1)
    return cfg


def _pings(tmp_path, days, name="pings.csv"):
    """One ping at 16:00 UTC on each day given (inside that experimental day)."""
    rows = [{"device_id": "D1", "timestamp": f"{d}T16:00:00Z", "x": 0, "y": 0} for d in days]
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _days(first, last):
    return [str(d.date()) for d in pd.date_range(first, last)]


def _codes(status):
    return [a.code for a in status.alerts]


@pytest.fixture
def healthy(tmp_path):
    cfg = _trial(tmp_path)
    store_weeks(cfg.trial.store, [WeekTotals("2023-W11", 10, 5, 5, 0), WeekTotals("2023-W12", 20, 16, 20, 1)])
    pings = _pings(tmp_path, _days("2023-03-20", "2023-03-25"))
    crimes = tmp_path / "crimes.csv"
    pd.DataFrame({"crime_id": ["C1", "C2"], "occurred_at": ["2023-03-24T21:00:00+00:00", "2023-03-25T09:30:00Z"],
                  "offence_code": ["008/01"] * 2, "x": [0, 0], "y": [0, 0]}).to_csv(crimes, index=False)
    return cfg, pings, crimes


def test_healthy_trial_has_no_alerts_and_every_section(healthy):
    cfg, pings, crimes = healthy
    status = trial_status(cfg, now=_at("2023-03-26", 12), pings=pings, crimes=crimes)
    assert status.alerts == ()
    d = status.to_dict()
    assert d["today"] == "2023-03-26" and d["calendar"]["phase"] == "running"
    assert d["publishing"]["days"] == 8 and d["publishing"]["last_day"] == "2023-03-27"
    assert d["publishing"]["publishable_until"] == "2023-04-02"
    assert d["ledger"]["ok"] and d["ledger"]["records"] == 8 and d["ledger"]["redrawn"] == 8
    assert d["compliance"]["week"] == "2023-W12" and d["compliance"]["rate"] == 0.8
    assert d["compliance"]["below_target"] is False
    assert d["freshness"]["pings"]["last"] == "2023-03-25T16:00:00+00:00"
    assert d["freshness"]["pings"]["age_hours"] == 20.0
    assert d["freshness"]["crimes"]["last"] == "2023-03-25T09:30:00+00:00"
    assert d["milestone"] == {"date": "2023-04-03", "days_to_go": 8, "text": d["milestone"]["text"]}
    text = status.summary()
    assert "alerts: none" in text and "ledger       OK: 8 records" in text and "2023-W12: 80.0%" in text
    # Never the seed: not on screen, in the JSON, or in the registration.
    assert SEED not in text and SEED not in json.dumps(d) and "seed" not in d["registration"]


def test_json_round_trips_and_cli_exit_code(healthy, capsys, tmp_path):
    cfg, pings, crimes = healthy
    status = trial_status(cfg, now=_at("2023-03-26", 12), pings=pings)
    assert json.loads(json.dumps(status.to_dict())) == status.to_dict()
    html = tmp_path / "status.html"
    code = main(["status", "--config", str(cfg.source), "--pings", str(pings), "--crimes", str(crimes),
                 "--html", str(html), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1 and data["registration"]["trial"] == "Test trial"
    assert data["ledger"]["ok"] is True and data["html"] == str(html)
    # Run today (after the trial), the pings stop on 03-25: the later scheduled days are flagged.
    assert "no_pings" in [a["code"] for a in data["alerts"]]
    page = html.read_text()
    assert 'data-code="no_pings"' in page and "Test trial" in page and SEED not in page


def test_compliance_below_target_two_weeks_running(tmp_path):
    cfg = _trial(tmp_path)
    store_weeks(cfg.trial.store, [WeekTotals("2023-W11", 10, 5, 5, 0), WeekTotals("2023-W13", 10, 6, 5, 0)])
    now = _at("2023-03-26", 12)
    assert "compliance_below_target" not in _codes(trial_status(cfg, now=now))  # W11, W13: not running
    store_weeks(cfg.trial.store, [WeekTotals("2023-W12", 10, 7, 5, 0)])
    status = trial_status(cfg, now=now)
    alert = next(a for a in status.alerts if a.code == "compliance_below_target")
    assert "2023-W12 70.0%" in alert.message and "2023-W13 60.0%" in alert.message
    store_weeks(cfg.trial.store, [WeekTotals("2023-W12", 10, 8, 5, 0)])  # re-run: W12 now at target
    assert "compliance_below_target" not in _codes(trial_status(cfg, now=now))


def test_no_pings_for_a_scheduled_day_and_after_the_last_ping(tmp_path):
    cfg = _trial(tmp_path)
    now = _at("2023-03-26", 12)  # last complete day 03-25
    gap = _pings(tmp_path, [d for d in _days("2023-03-20", "2023-03-25") if d != "2023-03-23"])
    alerts = [a for a in trial_status(cfg, now=now, pings=gap).alerts if a.code == "no_pings"]
    assert len(alerts) == 1 and "on 1 day with" in alerts[0].message and "2023-03-23" in alerts[0].message
    stale = _pings(tmp_path, _days("2023-03-20", "2023-03-22"), name="stale.csv")
    alerts = [a for a in trial_status(cfg, now=now, pings=stale).alerts if a.code == "no_pings"]
    assert len(alerts) == 1 and "since the last ping on 2023-03-22" in alerts[0].message
    assert "3 complete days with" in alerts[0].message and "2023-03-23 to 2023-03-25" in alerts[0].message
    # A ping at 05:30 local on 03-24 belongs to experimental day 03-23: no gap.
    early = _pings(tmp_path, [d for d in _days("2023-03-20", "2023-03-25") if d != "2023-03-23"], name="e.csv")
    frame = pd.read_csv(early)
    frame.loc[len(frame)] = ["D1", "2023-03-24T04:30:00Z", 0, 0]  # 05:30 BST
    frame.to_csv(early, index=False)
    assert "no_pings" not in _codes(trial_status(cfg, now=now, pings=early))


def test_day_published_after_its_first_window(tmp_path):
    cfg = _trial(tmp_path, last="2023-03-26")
    publish(cfg, dt.date(2023, 3, 27), now=_at("2023-03-27", 22, 30))  # 23:30 BST, after every window
    status = trial_status(cfg, now=_at("2023-03-27", 23))
    alert = next(a for a in status.alerts if a.code == "published_late")
    assert alert.message.startswith("1 day published") and "2023-03-27 published 2023-03-27 23:30" in alert.message


def test_next_day_due_and_late(tmp_path):
    cfg = _trial(tmp_path)  # published to 03-27; 03-28's window opens 15:00 BST = 14:00 UTC
    assert not {"next_day_due", "next_day_late"} & set(_codes(trial_status(cfg, now=_at("2023-03-27", 13))))
    due = trial_status(cfg, now=_at("2023-03-27", 20))
    assert "next_day_due" in _codes(due) and "2023-03-28 15:00 BST" in due.summary()
    late = trial_status(cfg, now=_at("2023-03-28", 14, 1))
    alert = next(a for a in late.alerts if a.code == "next_day_late")
    assert alert.level == "critical" and "--date 2023-03-28" in alert.message


def test_failed_verification_is_a_critical_alert_not_a_failure(tmp_path, capsys):
    cfg = _trial(tmp_path)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("UPDATE ledger SET payload = replace(payload, '\"H0', '\"h0') WHERE seq = 3")
    status = trial_status(cfg, now=_at("2023-03-26", 12))
    alert = next(a for a in status.alerts if a.code == "ledger_failed")
    assert alert.level == "critical" and "record 3 (day 2023-03-22)" in alert.message
    assert "ledger       FAILED" in status.summary() and not status.to_dict()["ledger"]["ok"]
    assert main(["status", "--config", str(cfg.source)]) == 0
    assert "FAILED" in capsys.readouterr().out


def test_unreadable_store_and_missing_files_exit_1(tmp_path, capsys):
    cfg = load_config(write_trial(tmp_path))  # never initialised
    assert main(["status", "--config", str(cfg.source)]) == 1
    assert "guardian-rct init" in capsys.readouterr().err
    init_trial(cfg)
    assert main(["status", "--config", str(cfg.source), "--pings", str(tmp_path / "nope.csv")]) == 1
    assert "pings file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("device_id,when\nD1,2023-03-21T10:00Z\n")
    assert main(["status", "--config", str(cfg.source), "--pings", str(bad)]) == 1
    assert "no time column" in capsys.readouterr().err
