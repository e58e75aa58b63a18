"""A careless user: every failure is one line with exit 1 or 2, never an internal error,
and nothing in the trial folder is damaged."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from attack_fixtures import NOW, START, cli, trial, write_trial

from guardian_rct.ledger.publish import publish_range
from guardian_rct.ledger.verify import verify

ROOT = Path(__file__).resolve().parents[2]


def _one_line(code, text, expected_code, needle):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert code == expected_code, text
    assert "internal error" not in text and "Traceback" not in text
    assert len(lines) == 1 and needle in lines[0], text


def test_seed_of_2_to_the_63_is_a_config_error(tmp_path, capsys):
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace("seed = 20230320", f"seed = {2**63}"))
    _one_line(*cli(capsys, "init", "--config", path), 2, "trial.seed")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_nan_or_inf_in_compliance_is_a_config_error(tmp_path, capsys, value):
    path = write_trial(tmp_path, extra=f"\n[compliance]\narrival_within_hours = {value}\n")
    _one_line(*cli(capsys, "init", "--config", path), 2, "compliance.arrival_within_hours")


def test_store_path_that_is_a_folder(tmp_path, capsys):
    path = write_trial(tmp_path)
    (tmp_path / "trial.db").mkdir()
    _one_line(*cli(capsys, "init", "--config", path), 1, "is a folder")


def test_empty_store_file_is_not_told_to_run_init(tmp_path, capsys):
    cfg = trial(tmp_path)
    cfg.trial.store.write_bytes(b"")
    for args in (("ledger", "verify"), ("init",), ("schedule", "--date", "2023-03-20", "--out", tmp_path / "o")):
        code, text = cli(capsys, *args, "--config", cfg.source)
        _one_line(code, text, 1, "empty (0 bytes)")
        assert "run 'guardian-rct init" not in text
    assert cfg.trial.store.stat().st_size == 0  # init did not start a new history over it


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store(tmp_path, capsys):
    cfg = trial(tmp_path)
    cfg.trial.store.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        code, text = cli(capsys, "schedule", "--config", cfg.source, "--date", "2023-03-20",
                         "--out", tmp_path / "o")
    finally:
        tmp_path.chmod(0o755)
    assert code == 1 and "internal error" not in text


def test_workers_zero(tmp_path, capsys):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=6), now=NOW)
    pings = tmp_path / "p.csv"
    pings.write_text("device_id,timestamp,x,y\nd1,2023-03-20T10:00:00Z,406100,286100\n")
    code, text = cli(capsys, "compliance", "--config", cfg.source, "--pings", pings, "--engine", "dask",
                     "--workers", "0", "--from", "2023-03-20", "--to", "2023-03-20", "--out", tmp_path / "r")
    assert code == 2 and "internal error" not in text and "--workers" in text


def test_days_of_twenty_digits(tmp_path, capsys):
    cfg = trial(tmp_path)
    _one_line(*cli(capsys, "schedule", "--config", cfg.source, "--date", "2023-03-20",
                   "--days", "99999999999999999999", "--out", tmp_path / "o"), 2, "--days")


def test_schedule_out_existing_file_fails_before_publishing(tmp_path, capsys):
    cfg = trial(tmp_path)
    target = tmp_path / "tasking.csv"
    target.write_text("keep me")
    _one_line(*cli(capsys, "schedule", "--config", cfg.source, "--date", "2023-03-20", "--out", target),
              2, "is a file")
    assert target.read_text() == "keep me"
    assert not verify(cfg).ok and verify(cfg).records == 0  # nothing was published


def test_export_writes_atomically_and_records_first(tmp_path, capsys):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=1), now=NOW)
    code, text = cli(capsys, "ledger", "export", "--config", cfg.source, "--evaluator", "Dr E",
                     "--out", tmp_path / "alloc.csv")
    assert code == 0 and (tmp_path / "alloc.csv").exists()
    assert not list(tmp_path.glob(".alloc.csv.*"))  # no temporary file left behind
    result = verify(cfg)
    assert result.ok and result.exports == 1


def test_demo_overwrite_refuses_a_folder_without_its_marker(tmp_path, capsys):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.docx").write_text("years of work")
    _one_line(*cli(capsys, "demo", "--out", folder, "--overwrite", "--quiet"), 2, "marker")
    assert (folder / "thesis.docx").read_text() == "years of work"


def test_demo_seed_out_of_range(tmp_path, capsys):
    _one_line(*cli(capsys, "demo", "--out", tmp_path / "d", "--seed", str(2**63), "--quiet"), 2, "--seed")


def test_cron_script_logs_an_unexpected_error_and_the_head(tmp_path):
    today = dt.date.today()
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace("start_date = 2023-03-20", f"start_date = {today - dt.timedelta(days=3)}")
                    .replace("end_date = 2023-04-10", f"end_date = {today + dt.timedelta(days=30)}"))
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.ledger.store import init_trial
    cfg = load_config(path)
    init_trial(cfg)
    log = tmp_path / "daily.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def run(out):
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "daily_schedule.py"), "--config",
                               str(cfg.source), "--out", str(out), "--log", str(log)],
                              capture_output=True, text=True, env=env, timeout=120)
    out_file = tmp_path / "out.csv"
    out_file.write_text("not a folder")
    assert run(out_file).returncode == 2 and "nothing was published" in log.read_text()
    assert verify(cfg).records == 0
    # a failure *after* publishing: today's tasking CSV name is taken by a folder
    out = tmp_path / "tasking"
    from guardian_rct._core.days import experimental_day
    day = experimental_day(dt.datetime.now(dt.UTC), cfg.trial.tz, cfg.trial.day_start_time)
    (out / f"tasking_{day.isoformat()}.csv").mkdir(parents=True)
    proc = run(out)
    text = log.read_text()
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr + text
    assert f"finished with exit code {proc.returncode}" in text
    head = verify(cfg).head_hash
    assert head and f"ledger head {head} (after the failure)" in text  # published, and logged


def test_import_refusal_is_one_line_and_verify_prints_attention(tmp_path, capsys):
    import pandas as pd

    from guardian_rct.ledger.exchange import export_allocation

    source = trial(tmp_path)
    publish_range(source, START, START + dt.timedelta(days=2), now=NOW)
    export_allocation(source, tmp_path / "a.csv", evaluator="E", now=NOW)
    frame = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    other = tmp_path / "b"
    other.mkdir()
    cfg = trial(other)
    bad = frame.copy()
    bad.loc[bad["arm"] == "control", ["arm", "window_start", "window_end"]] = [
        "treatment", "2023-03-20T16:00:00+00:00", "2023-03-20T16:15:00+00:00"]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    _one_line(*cli(capsys, "ledger", "import", "--config", cfg.source, tmp_path / "bad.csv"), 1,
              "could not come from the registered design")
    # the store is untouched; a genuine import then verifies, with the import shown prominently
    code, text = cli(capsys, "ledger", "import", "--config", cfg.source, tmp_path / "a.csv", "--by", "Analyst")
    assert code == 0 and "imported 3 days" in text
    code, text = cli(capsys, "ledger", "verify", "--config", cfg.source)
    assert code == 0 and "3 imported" in text and "ATTENTION: 3 records were IMPORTED" in text


def test_milestone_cron_wrapper_logs_a_failure_in_one_line_with_the_head(tmp_path):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=2), now=NOW)
    log = tmp_path / "milestone.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "milestone_evaluation.py"), "--config",
                           str(cfg.source), "--crimes", str(tmp_path / "missing.csv"), "--out",
                           str(tmp_path / "report"), "--log", str(log)],
                          capture_output=True, text=True, env=env, timeout=300)
    text = log.read_text()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + text
    assert "finished with exit code 1" in text
    assert f"ledger head {verify(cfg).head_hash} (after the failure)" in text
