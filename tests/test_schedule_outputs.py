"""Officer tasking outputs, the schedule/ledger CLI verbs, balance and the cron script."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.days import experimental_day
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.daily import run_daily
from guardian_rct.ledger.publish import publish_range, published
from guardian_rct.ledger.published_balance import balance_summary
from guardian_rct.ledger.store import init_trial, load_trial_hotspots
from guardian_rct.reports.tasking import tasking_frame

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)
START = dt.date(2023, 3, 20)


def _trial(tmp_path, **kwargs):
    cfg = load_config(write_trial(tmp_path, **kwargs))
    init_trial(cfg)
    return cfg


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _xlsx_text(path):
    book = openpyxl.load_workbook(path)
    return " ".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row)


def test_outputs_list_only_treated_hotspots(tmp_path):
    cfg = _trial(tmp_path, design="treated_per_day = 3\nvisits_per_day = 2\nvisit_spacing_minutes = 120")
    run = run_daily(cfg, START, days=2, out_dir=tmp_path / "out", now=NOW)
    assert run.days == (START, START + dt.timedelta(days=1)) and run.new_days == run.days
    for out, record in zip(run.outputs, published(cfg), strict=True):
        treated, control = set(record.treated), set(record.control)
        assert len(treated) == 3 and len(control) == 3
        csv = pd.read_csv(out.csv)
        assert set(csv["hotspot_id"]) == treated and len(csv) == 6
        assert set(csv["visit"]) == {1, 2}
        geo = gpd.read_file(out.geojson)
        assert set(geo["hotspot_id"]) == treated and geo.crs.to_epsg() == 4326
        html = out.html.read_text()
        # the PNGs' base64 text holds any three letters by chance ("H06"); what they draw
        # is only the treated hotspots (maps are given nothing else)
        html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,", html)
        xlsx = _xlsx_text(out.xlsx)
        for text in (out.csv.read_text(), out.geojson.read_text(), html, xlsx):
            for h in treated:
                assert h in text
            for h in control:
                assert h not in text, f"control hotspot {h} leaked into an officer output"
        assert "data:image/png;base64," in html and "http" not in html.split("<footer>")[0]
        assert "seed" not in html.lower()
        assert str(cfg.trial.seed) not in html + xlsx + out.csv.read_text()


def test_local_times_in_outputs_after_the_clock_change(tmp_path):
    cfg = _trial(tmp_path)
    records = publish_range(cfg, START, START + dt.timedelta(days=7), now=NOW)
    hotspots = load_trial_hotspots(cfg)
    before = tasking_frame(records[0], hotspots, cfg.trial.timezone)  # 20 March, GMT
    after = tasking_frame(records[7], hotspots, cfg.trial.timezone)  # 27 March, BST
    assert before["window_start"].str.endswith("+00:00").all()
    assert after["window_start"].str.endswith("+01:00").all()
    for frame in (before, after):
        assert (frame["start_local"] >= "15:00").all() and (frame["end_local"] <= "23:00").all()
        assert frame["window_start"].str[11:16].tolist() == frame["start_local"].tolist()


def test_rerun_rewrites_identical_files(tmp_path):
    cfg = _trial(tmp_path)
    first = run_daily(cfg, START, out_dir=tmp_path / "a", now=NOW)
    again = run_daily(load_config(cfg.source), START, out_dir=tmp_path / "b",
                      now=NOW + dt.timedelta(hours=3))
    assert again.new_days == () and again.head_hash == first.head_hash
    for suffix in ("csv", "xlsx", "geojson", "html"):
        a = (tmp_path / "a" / f"tasking_2023-03-20.{suffix}").read_bytes()
        b = (tmp_path / "b" / f"tasking_2023-03-20.{suffix}").read_bytes()
        assert a == b, suffix
    assert len(pd.read_excel(first.outputs[0].xlsx)) == 3


def test_cli_schedule_balance_and_ledger(tmp_path, capsys):
    path = write_trial(tmp_path)
    assert main(["init", "--config", str(path)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["schedule", "--config", str(path), "--date", "2023-03-20", "--days", "3",
                 "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["newly_published"] == ["2023-03-20", "2023-03-21", "2023-03-22"]
    assert len(list(out.glob("tasking_*"))) == 12
    assert main(["schedule", "--config", str(path), "--date", "2023-03-21", "--out", str(out)]) == 0
    assert "2023-03-21 (already published)" in capsys.readouterr().out
    assert main(["schedule", "--config", str(path), "--balance", "--json"]) == 0
    balance = json.loads(capsys.readouterr().out)
    assert balance["days"] == 3 and len(balance["by_hotspot"]) == 6
    assert main(["ledger", "verify", "--config", str(path)]) == 0
    assert "ledger OK: 3 records" in capsys.readouterr().out
    csv = tmp_path / "alloc.csv"
    assert main(["ledger", "export", "--config", str(path), "--evaluator", "Dr E", "--out", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 18
    capsys.readouterr()
    # usage errors: exit 2, nothing written
    assert main(["schedule", "--config", str(path), "--date", "2023-03-23"]) == 2
    assert main(["schedule", "--config", str(path), "--date", "2024-01-01", "--out", str(out)]) == 2
    assert main(["schedule", "--config", str(path), "--date", "2023-02-30", "--out", str(out)]) == 2
    assert main(["ledger", "export", "--config", str(path), "--out", str(csv)]) == 2
    assert "outside the trial" in capsys.readouterr().err
    assert len(list(out.glob("tasking_*"))) == 12


def test_cli_refuses_beyond_horizon_and_missing_store(tmp_path, capsys):
    future = dt.date.today() + dt.timedelta(days=30)
    path = write_trial(tmp_path, trial="")
    text = path.read_text().replace("start_date = 2023-03-20", f"start_date = {dt.date.today()}")
    path.write_text(text.replace("end_date = 2023-04-10", f"end_date = {future}"))
    out = tmp_path / "out"
    assert main(["schedule", "--config", str(path), "--date", str(dt.date.today()), "--out", str(out)]) == 1
    assert "trial store not found" in capsys.readouterr().err
    assert not (tmp_path / "trial.db").exists()
    assert main(["init", "--config", str(path)]) == 0
    late = dt.date.today() + dt.timedelta(days=20)
    assert main(["schedule", "--config", str(path), "--date", str(late), "--out", str(out)]) == 2
    assert "beyond the publishing horizon" in capsys.readouterr().err
    assert not out.exists()


def test_balance_matches_the_published_allocation(tmp_path):
    cfg = _trial(tmp_path)
    publish_range(cfg, START, cfg.trial.end_date, now=NOW, simulated=True)
    result = balance_summary(cfg)
    assert result.n_days == cfg.trial.n_days == 22
    blocks = result.by_block.set_index("block")
    # 3 treated a day split 2 (block A) + 1 (block B): exact shares
    assert blocks.loc["A", "share"] == pytest.approx(2 / 3) and blocks.loc["B", "share"] == pytest.approx(1 / 3)
    assert np.allclose(result.by_block["share"], result.by_block["expected_share"])
    assert (result.by_dow["share"] == 0.5).all() and result.by_dow["days"].sum() == 22
    assert result.by_hotspot["treated_days"].sum() == 3 * 22
    assert "By day of week" in result.summary()


def test_daily_cron_script_is_idempotent_and_logs(tmp_path):
    path = write_trial(tmp_path)
    trial = load_config(path).trial
    # The script's today: the experimental day now (from the day's start time, in the
    # trial's zone), not the calendar date, which differs between midnight and that start.
    today = experimental_day(dt.datetime.now(dt.UTC), trial.tz, trial.day_start_time)
    text = path.read_text().replace("start_date = 2023-03-20", f"start_date = {today - dt.timedelta(days=2)}")
    path.write_text(text.replace("end_date = 2023-04-10", f"end_date = {today + dt.timedelta(days=20)}"))
    init_trial(load_config(path))
    log = tmp_path / "daily.log"
    cmd = [sys.executable, str(ROOT / "scripts" / "daily_schedule.py"), "--config", str(path),
           "--out", str(tmp_path / "out"), "--days", "2", "--log", str(log)]
    first = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    csv = sorted((tmp_path / "out").glob("*.csv"))
    assert [p.name for p in csv] == [f"tasking_{today}.csv", f"tasking_{today + dt.timedelta(days=1)}.csv"]
    content = csv[0].read_bytes()
    second = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert csv[0].read_bytes() == content
    lines = log.read_text().splitlines()
    assert sum(f"{today} published" in line for line in lines) == 1
    assert sum(f"{today} already published, unchanged" in line for line in lines) == 1
    heads = [line.split("ledger head ")[1] for line in lines if "ledger head" in line]
    assert len(heads) == 2 and heads[0] == heads[1]
    assert len(published(load_config(path))) == 4  # the two days before today were filled in


def test_tasking_map_draws_a_boundary_when_named(tmp_path):
    import shapely

    gpd.GeoDataFrame({"name": ["Birmingham"]}, geometry=[shapely.box(405000, 285000, 409000, 289000)],
                     crs="EPSG:27700").to_file(tmp_path / "district.geojson", driver="GeoJSON")
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace('block_column = "block"',
                                             'block_column = "block"\nboundary = "district.geojson"'))
    cfg = load_config(path)
    init_trial(cfg)
    (tmp_path / "plain").mkdir()
    plain = _trial(tmp_path / "plain")
    with_boundary = run_daily(cfg, START, out_dir=tmp_path / "a", now=NOW).outputs[0].html.read_text()
    without = run_daily(plain, START, out_dir=tmp_path / "b", now=NOW).outputs[0].html.read_text()
    assert with_boundary.count("data:image/png;base64,") == 2  # overview map and street insets
    image = with_boundary.split("base64,")[1].split('"')[0]
    assert image != without.split("base64,")[1].split('"')[0]
