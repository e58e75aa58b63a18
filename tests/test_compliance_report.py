"""The ``compliance`` verb end to end: outputs, pseudonyms, usage errors, patrol logs,
and the HTML page in a real (headless) browser."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import init_trial

ORIGINS = {"H01": (406000, 286000), "H02": (406500, 286000), "H03": (407000, 286000),
           "H04": (406000, 287000), "H05": (406500, 287000), "H06": (407000, 287000)}
OFFICERS = ["PC-1001", "PC-1002", "PC-1003", "PC-1004"]


def _make_trial(tmp_path: Path) -> dict:
    """A two-week trial with known compliance: returns paths and the truth."""
    config_path = write_trial(tmp_path)
    text = config_path.read_text().replace("start_date = 2023-03-20", "start_date = 2023-04-03")
    config_path.write_text(text.replace("end_date = 2023-04-10", "end_date = 2023-06-30"))
    init_trial(load_config(config_path))
    rng = np.random.default_rng(5)
    alloc, pings, truth = [], [], {}
    for day in pd.date_range("2023-04-24", "2023-05-07").date:
        treated = set(rng.choice(sorted(ORIGINS), 3, replace=False))
        for h, (x0, y0) in ORIGINS.items():
            if h not in treated:
                alloc.append((day.isoformat(), h, "control", "", ""))
                continue
            ws = pd.Timestamp(f"{day} 16:00", tz="Europe/London")
            alloc.append((day.isoformat(), h, "treatment", ws.isoformat(),
                          (ws + pd.Timedelta(minutes=15)).isoformat()))
            lag_h = float(rng.choice([1.0, 5.0, 30.0, np.nan], p=[0.5, 0.2, 0.15, 0.15]))
            truth[(day.isoformat(), h)] = lag_h <= 24
            if np.isnan(lag_h):
                continue
            officer = OFFICERS[int(rng.integers(0, 4))]
            start = ws + pd.Timedelta(hours=lag_h)
            for k in range(0, 18):
                pings.append((f"R-{officer}", (start + pd.Timedelta(minutes=k)).isoformat(),
                              x0 + 100 + rng.uniform(-50, 50), y0 + 100 + rng.uniform(-50, 50),
                              officer, "Alpha" if h in ("H01", "H02", "H03") else "Bravo", 8.0))
    frame = pd.DataFrame(pings, columns=["device_id", "timestamp", "x", "y", "officer_id", "team", "accuracy_m"])
    bad = pd.DataFrame([("R-X", "2023-05-01T10:00:00", 406100, 286100, "PC-1001", "Alpha", 5.0),
                        ("R-X", "2023-05-01T10:00:00Z", 0, 0, "PC-1001", "Alpha", 5.0)], columns=frame.columns)
    frame = pd.concat([frame, bad, frame.iloc[:2]], ignore_index=True)
    frame.to_csv(tmp_path / "pings.csv", index=False)
    pd.DataFrame(alloc, columns=["date", "hotspot_id", "arm", "window_start", "window_end"]).to_csv(
        tmp_path / "allocation.csv", index=False)
    return {"config": config_path, "pings": tmp_path / "pings.csv", "allocation": tmp_path / "allocation.csv",
            "truth": truth, "n_pings": len(frame)}


@pytest.fixture(scope="module")
def trial():
    tmp = Path(tempfile.mkdtemp(prefix="grct-compliance-"))
    made = _make_trial(tmp)
    out = tmp / "report"
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out)])
    made["out"] = out
    made["code"] = code
    yield made
    shutil.rmtree(tmp, ignore_errors=True)


def test_report_numbers_match_the_truth(trial):
    assert trial["code"] == 0
    report = json.loads((trial["out"] / "weekly_compliance.json").read_text())
    week = {k: v for k, v in trial["truth"].items() if "2023-05-01" <= k[0] <= "2023-05-07"}
    assert report["headline"]["scheduled"] == len(week)
    assert report["headline"]["compliant"] == sum(week.values())
    assert report["headline"]["rate"] == pytest.approx(sum(week.values()) / len(week), abs=1e-4)
    assert report["target_rate"] == 0.75
    assert len(report["missed"]) == len(week) - sum(week.values())
    p = report["pings"]
    assert p["read"] == trial["n_pings"] == p["used"] + p["quarantined"]
    assert p["quarantine_reasons"] == {"exact duplicate": 2, "timestamp without offset": 1,
                                       "zero coordinates (0, 0)": 1}
    for row in report["by_hotspot"]:
        expected = [v for (d, h), v in week.items() if h == row["hotspot_id"]]
        assert row["scheduled"] == len(expected) and row["compliant"] == sum(expected)
    assert {r["team"] for r in report["by_team"]} <= {"Alpha", "Bravo", "unassigned"}


def test_csv_outputs_agree_with_the_json(trial):
    out = trial["out"]
    report = json.loads((out / "weekly_compliance.json").read_text())
    patrols = pd.read_csv(out / "compliance_patrols.csv")
    assert len(patrols) == report["headline"]["scheduled"]
    assert int(patrols["compliant"].sum()) == report["headline"]["compliant"]
    by_hotspot = pd.read_csv(out / "compliance_by_hotspot.csv")
    assert by_hotspot["compliant"].tolist() == [r["compliant"] for r in report["by_hotspot"]]
    for key in ("by_team", "by_block", "by_dow", "by_week"):
        table = pd.read_csv(out / f"compliance_{key}.csv")
        assert table["scheduled"].tolist() == [r["scheduled"] for r in report[key]]
        assert int(table["compliant"].sum()) == report["headline"]["compliant"]
    days = pd.read_csv(out / "compliance_hotspot_days.csv")
    assert list(days.columns) == ["date", "hotspot_id", "delivered", "dosage_minutes", "contaminated",
                                  "delivered_on_day", "present_on_day"]  # on-day presence: issue 12
    assert len(days) == 7 * 6
    control = days["contaminated"].notna() & (days["delivered"] == 0)
    assert (days.loc[control & (days["contaminated"] == 1), "present_on_day"] == 1).all()
    assert int(days["delivered"].sum()) == report["headline"]["compliant"]
    assert int(days["contaminated"].sum()) == report["headline"]["contaminated"]
    assert set(days["delivered"]) <= {0, 1} and set(days["contaminated"]) <= {0, 1}


def test_officer_identifiers_are_pseudonymised_everywhere(trial):
    out = trial["out"]
    texts = {p.name: p.read_bytes() for p in out.iterdir()}
    for name, text in texts.items():
        for officer in OFFICERS:
            # neither the officer id nor the radio's device id (R-<officer>) appears
            assert officer.encode() not in text, (name, officer)
    # the binary outputs (GeoPackage layers, GeoParquet; possibly compressed) cell by cell
    import geopandas as gpd
    import pyogrio

    tables = [gpd.read_parquet(p) if p.name == "compliance_visits.parquet" else pd.read_parquet(p)
              for p in out.glob("*.parquet")]
    assert {"compliance_visits.parquet", "quarantine.parquet"} <= {p.name for p in out.glob("*.parquet")}
    tables += [pyogrio.read_dataframe(p, layer=layer) for p in out.glob("*.gpkg")
               for layer, _ in pyogrio.list_layers(p)]
    assert len(tables) >= 5
    for table in tables:
        cells = set(table.select_dtypes(exclude=["geometry", "number", "datetime", "bool"]).astype(str).stack())
        assert not any(officer in cell for cell in cells for officer in OFFICERS)
    report = json.loads(texts["weekly_compliance.json"])
    assert report["officers"] and all(r["officer"].startswith("O-") for r in report["officers"])
    with sqlite3.connect(load_config(trial["config"]).trial.store) as conn:
        (key,) = conn.execute("SELECT key FROM pseudonym_key").fetchone()
    assert len(key) == 32
    import hashlib
    import hmac

    visits = pd.read_parquet(out / "compliance_visits.parquet")  # the default format of the large tables
    expected = {"O-" + hmac.new(key, o.encode(), hashlib.sha256).hexdigest()[:16] for o in OFFICERS}
    assert set(visits["officer_id"]) <= expected
    devices = {"D-" + hmac.new(key, f"device:R-{o}".encode(), hashlib.sha256).hexdigest()[:16] for o in OFFICERS}
    assert set(visits["device_id"]) <= devices and len(set(visits["device_id"])) > 1


def test_second_run_keeps_pseudonyms_and_records_the_trend(trial, tmp_path):
    out2 = tmp_path / "again"
    code = main(["compliance", "--config", str(trial["config"]), "--pings", str(trial["pings"]),
                 "--allocation", str(trial["allocation"]), "--from", "2023-04-24", "--to", "2023-05-07",
                 "--out", str(out2), "--json"])
    assert code == 0
    first = json.loads((trial["out"] / "weekly_compliance.json").read_text())
    second = json.loads((out2 / "weekly_compliance.json").read_text())
    assert {r["officer"] for r in first["officers"]} <= {r["officer"] for r in second["officers"]}
    assert [r["week"] for r in second["trend"]] == ["2023-W17", "2023-W18"]
    assert second["trend"][1]["compliant"] == first["headline"]["compliant"]
    assert second["headline"]["scheduled"] == len(trial["truth"])


@pytest.mark.parametrize("args, message", [
    ([], "no reporting period"),
    (["--week", "2023-18"], "--week does not parse"),
    (["--week", "2023-W60"], "no such ISO week"),
    (["--week", "2023-W18", "--from", "2023-05-01", "--to", "2023-05-02"], "either --week or --from/--to"),
    (["--from", "2023-05-07", "--to", "2023-05-01"], "--to is before --from"),
])
def test_usage_errors_exit_2(trial, tmp_path, capsys, args, message):
    code = main(["compliance", "--config", str(trial["config"]), "--pings", str(trial["pings"]),
                 "--allocation", str(trial["allocation"]), "--out", str(tmp_path), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_without_allocation_reads_the_published_schedules(trial, tmp_path, capsys):
    # nothing published for that week yet: the ledger says so, exit 1
    code = main(["compliance", "--config", str(trial["config"]), "--pings", str(trial["pings"]),
                 "--week", "2023-W18", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_missing_store_and_bad_ping_file_exit_1(tmp_path, capsys):
    config = write_trial(tmp_path)
    (tmp_path / "a.csv").write_text("date,hotspot_id,arm,window_start,window_end\n2023-03-27,H01,control,,\n")
    code = main(["compliance", "--config", str(config), "--pings", str(tmp_path / "none.csv"),
                 "--allocation", str(tmp_path / "a.csv"), "--week", "2023-W13", "--out", str(tmp_path / "o")])
    assert code == 1
    assert "trial store not found" in capsys.readouterr().err
    init_trial(load_config(config))
    code = main(["compliance", "--config", str(config), "--pings", str(tmp_path / "none.csv"),
                 "--allocation", str(tmp_path / "a.csv"), "--week", "2023-W13", "--out", str(tmp_path / "o")])
    assert code == 1
    assert "ping file not found" in capsys.readouterr().err


def test_patrol_log_scores_without_gps(trial, tmp_path):
    log = pd.DataFrame([
        ("PC-1001", "H01", "2023-05-01T17:00:00+01:00", "2023-05-01T17:20:00+01:00", "Alpha"),
        ("PC-1002", "H99", "2023-05-01T17:00:00+01:00", "2023-05-01T17:20:00+01:00", "Alpha"),
        ("PC-1002", "H02", "2023-05-01T17:30:00+01:00", "2023-05-01T17:20:00+01:00", "Alpha"),
        ("", "H02", "2023-05-01T17:00:00+01:00", "2023-05-01T17:20:00+01:00", "Alpha"),
        ("PC-1003", "H03", "2023-05-01T17:00:00", "2023-05-01T17:20:00", "Bravo"),
    ], columns=["officer_id", "hotspot_id", "arrived_at", "departed_at", "team"])
    log.to_csv(tmp_path / "log.csv", index=False)
    alloc = pd.DataFrame([("2023-05-01", "H01", "treatment", "2023-05-01T16:00:00+01:00", "2023-05-01T16:15:00+01:00"),
                          ("2023-05-01", "H02", "treatment", "2023-05-01T16:00:00+01:00", "2023-05-01T16:15:00+01:00")],
                         columns=["date", "hotspot_id", "arm", "window_start", "window_end"])
    alloc.to_csv(tmp_path / "alloc.csv", index=False)
    code = main(["compliance", "--config", str(trial["config"]), "--patrol-log", str(tmp_path / "log.csv"),
                 "--allocation", str(tmp_path / "alloc.csv"), "--from", "2023-05-01", "--to", "2023-05-01",
                 "--out", str(tmp_path / "o")])
    assert code == 0
    report = json.loads((tmp_path / "o" / "weekly_compliance.json").read_text())
    assert "patrol logs" in report["source"]
    assert report["headline"]["compliant"] == 1 and report["headline"]["scheduled"] == 2
    assert report["headline"]["patrol_minutes"] == 20.0 and report["headline"]["koper_met"] == 1
    assert report["pings"]["quarantine_reasons"] == {"unknown hotspot": 1, "departed before arrived": 1,
                                                     "missing officer id": 1, "timestamp without offset": 1}
    assert report["pings"]["read"] == 5 == report["pings"]["used"] + report["pings"]["quarantined"]


class _Page(HTMLParser):
    """Collects elements with an id and table rows with data attributes."""

    def __init__(self):
        super().__init__()
        self.ids: dict[str, dict] = {}
        self.rows: list[dict] = []
        self.imgs: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = {**attrs, "text": ""}
            self._open = attrs["id"]
        if tag == "tr" and "data-scheduled" in attrs:
            self.rows.append(attrs)
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))

    def handle_data(self, data):
        if self._open and self._open.startswith(("headline-", "pings-", "contaminated", "control-days")):
            self.ids[self._open]["text"] += data

    def handle_endtag(self, tag):
        if tag == "span":
            self._open = None


@pytest.mark.browser
def test_html_report_renders_in_headless_chromium(trial, tmp_path, chromium):
    browser = chromium
    html = trial["out"] / "weekly_compliance.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    run = subprocess.run([browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", html.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True)
    dom = run.stdout
    # Page errors (script errors, console errors) appear as CONSOLE lines in the log.
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []
    shot = tmp_path / "page.png"
    subprocess.run([browser, *flags, "--window-size=1200,3000", f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
    page = _Page()
    page.feed(dom)
    report = json.loads((trial["out"] / "weekly_compliance.json").read_text())
    head = report["headline"]
    assert float(page.ids["headline-rate"]["data-value"]) == head["rate"]
    assert page.ids["headline-rate"]["text"].strip() == f"{100 * head['rate']:.1f}%"
    assert int(page.ids["headline-compliant"]["text"]) == head["compliant"]
    assert int(page.ids["headline-scheduled"]["data-value"]) == head["scheduled"]
    assert page.ids["headline-scheduled"]["text"] == f"{head['scheduled']:,} patrol{'' if head['scheduled'] == 1 else 's'}"
    assert int(page.ids["headline-missed"]["data-value"]) == head["missed"]
    assert page.ids["headline-missed"]["text"] == f"{head['missed']:,} patrol{'' if head['missed'] == 1 else 's'}"
    assert int(page.ids["pings-read"]["data-value"]) == report["pings"]["read"]
    assert page.ids["pings-read"]["text"] == f"{report['pings']['read']:,}"
    assert int(page.ids["pings-quarantined"]["data-value"]) == report["pings"]["quarantined"]
    assert float(page.ids["target-rate"]["data-value"]) == report["target_rate"]
    hotspot_rows = {r["data-key"]: r for r in page.rows if r["data-key"].startswith("H")}
    for row in report["by_hotspot"]:
        got = hotspot_rows[row["hotspot_id"]]
        assert (int(got["data-scheduled"]), int(got["data-compliant"])) == (row["scheduled"], row["compliant"])
    assert "map" in page.ids and "missed" in page.ids and "trend" in page.ids
    assert all(src.startswith("data:image/png;base64,") for src in page.imgs) and len(page.imgs) == 2


def _weekly_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "weekly_compliance.py"
    spec = importlib.util.spec_from_file_location("weekly_compliance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cron_wrapper_finds_the_week_and_passes_exit_codes(trial, tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    script = _weekly_script()
    london = ZoneInfo("Europe/London")
    monday_7am = dt.datetime(2023, 5, 8, 7, 0, tzinfo=london)
    assert script.last_complete_week(monday_7am, london, dt.time(6)) == "2023-W18"
    # Before 06:00 on Monday, Sunday's experimental day is still running.
    assert script.last_complete_week(monday_7am.replace(hour=5), london, dt.time(6)) == "2023-W17"
    folder = tmp_path / "pings"
    folder.mkdir()
    shutil.copy(trial["pings"], folder / "2023-W18.csv")
    args = ["--config", str(trial["config"]), "--pings-dir", str(folder), "--out-root", str(tmp_path / "reports"),
            "--allocation", str(trial["allocation"])]
    assert script.main([*args, "--week", "2023-W18"]) == 0
    assert (tmp_path / "reports" / "2023-W18" / "weekly_compliance.html").is_file()
    assert script.main([*args, "--week", "2023-W17"]) == 1  # no pings for that week


def test_teams_file_names_the_answerable_team(trial, tmp_path, capsys):
    (tmp_path / "teams.csv").write_text("hotspot_id,team\nH01,Zulu\nH02,Zulu\n")
    args = ["compliance", "--config", str(trial["config"]), "--pings", str(trial["pings"]),
            "--allocation", str(trial["allocation"]), "--week", "2023-W18"]
    assert main([*args, "--teams", str(tmp_path / "teams.csv"), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "weekly_compliance.json").read_text())
    teams = {r["hotspot_id"]: r["team"] for r in report["by_hotspot"]}
    assert teams["H01"] == teams["H02"] == "Zulu" != teams["H03"]
    zulu = next(r for r in report["by_team"] if r["team"] == "Zulu")
    assert zulu["scheduled"] == sum(r["scheduled"] for r in report["by_hotspot"] if r["team"] == "Zulu")
    (tmp_path / "bad.csv").write_text("hotspot,squad\nH01,Zulu\n")
    assert main([*args, "--teams", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o2")]) == 1
    assert "teams file needs columns hotspot_id and team" in capsys.readouterr().err


def test_unusable_pings_give_a_warning_in_the_report(trial, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("device_id,timestamp,x,y\nR1,2023-05-01T10:00:00,406100,286100\n")
    code = main(["compliance", "--config", str(trial["config"]), "--pings", str(tmp_path / "bad.csv"),
                 "--allocation", str(trial["allocation"]), "--week", "2023-W18", "--out", str(tmp_path / "o")])
    assert code == 0
    assert "no usable location rows" in capsys.readouterr().err
    report = json.loads((tmp_path / "o" / "weekly_compliance.json").read_text())
    assert report["headline"]["compliant"] == 0
    assert report["notes"] and "no usable location rows" in report["notes"][0]
    assert "Data warning" in (tmp_path / "o" / "weekly_compliance.html").read_text()


@pytest.mark.parametrize("minutes, words", [(0.0, "every stay counts as a visit, a single ping too"),
                                            (5.0, "stays under 5 minutes are not visits")])
def test_rules_line_reads_the_minimum_visit_in_words(trial, minutes, words):
    """With min_visit_minutes = 0 the rules once said "stays under 0 minutes are not visits".
    The report's own "Rules used" line of the template, rendered with its data."""
    import json as _json

    from guardian_rct.reports.render import environment

    report = _json.loads((trial["out"] / "weekly_compliance.json").read_text())
    report["rules"]["min_visit_minutes"] = minutes
    source = environment().loader.get_source(environment(), "weekly_compliance.html")[0]
    line = next(x for x in source.splitlines() if "Compliant: first arrival" in x)
    html = environment().from_string(line).render(report=report)
    assert words in html and "stays under 0 minutes" not in html
    # and the report written by the run states its own rule the same way
    real = (trial["out"] / "weekly_compliance.html").read_text()
    assert environment().from_string(line).render(report=_json.loads(
        (trial["out"] / "weekly_compliance.json").read_text())) in real


@pytest.mark.parametrize("minutes, words", [(0.0, "every stay counts as a visit"),
                                            (5.0, "stays under 5 minutes are not visits")])
def test_plan_delivery_definition_reads_the_minimum_visit_in_words(minutes, words):
    import dataclasses

    from guardian_rct.config.trial_config import load_config
    from guardian_rct.reports.plan import _compliance

    config = load_config(_make_trial(Path(tempfile.mkdtemp(prefix="grct-rules-")))["config"])
    config = dataclasses.replace(config, compliance=dataclasses.replace(config.compliance, min_visit_minutes=minutes))
    assert words in _compliance(config)["delivery_definition"]
