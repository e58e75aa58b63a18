"""The end-to-end demo, shortened to three weeks so that the suite stays fast.

The full six-month demo is the README's main command; this test runs the same code path
(every job, real files, real store) on fewer days and checks that its parts agree.
"""

import io
import json

import pytest

from guardian_rct._core.errors import UsageError
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.demo import run_demo
from guardian_rct.ledger.verify import verify


def test_short_demo_runs_every_job(tmp_path):
    progress = io.StringIO()
    result = run_demo(tmp_path / "demo", days=21, ri_draws=100, progress=progress)
    lines = progress.getvalue().splitlines()
    assert lines[0].startswith("[1/7]") and any(line.startswith("[7/7]") for line in lines)
    files = result.files
    for key in ("tasking_sheet", "latest_weekly_report", "milestone_report", "milestone_json", "crimes", "pings"):
        assert (tmp_path / "demo" / files[key].split("/demo/", 1)[1]).exists(), key
    h = result.headline
    assert h["weekly_reports"] == 3 and h["ledger_verified"]
    weeks = sorted(p for p in (tmp_path / "demo" / "weekly").iterdir() if p.is_dir())
    assert len(weeks) == 3
    for week in weeks:  # the large tables as Parquet by default ([outputs] large_tables)
        assert (week / "quarantine.parquet").exists() and (week / "compliance_visits.parquet").exists()
        assert not (week / "quarantine.csv").exists() and not (week / "compliance_visits.csv").exists()
    assert load_config(tmp_path / "demo" / "trial.toml").outputs.large_tables == "parquet"
    # compliance scored from the pings is close to the simulated truth (binomial error on ~600 patrols)
    assert abs(h["compliance"] - h["true_delivered_share"]) < 0.06
    effects = {e["outcome"]: e for e in h["effects"]}
    assert {"all_crime", "violence", "serious_youth_violence"} <= set(effects)
    assert all(0 < e["ri_p_value"] <= 1 for e in h["effects"] if e["estimand"] == "ITT" and "harm" not in e["outcome"])
    report = json.loads((tmp_path / "demo" / "milestone" / "milestone_report.json").read_text())
    assert report["flow"]["assigned"] == 57 * 21
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["headline"]["weekly_reports"] == 3
    assert verify(load_config(tmp_path / "demo" / "trial.toml")).ok
    # Everything the demo makes is simulated: every tasking sheet, weekly and milestone report
    # says so at the top (the analysis plan is the registered, hashed plan and is left as is),
    # and so does the status page.
    pages = [p for p in (tmp_path / "demo").rglob("*.html") if p.parent.name != "analysis_plan"]
    assert {p.parent.parent.name for p in pages if p.parent.parent.name == "weekly"} and \
        {"daily", "milestone"} <= {p.parent.name for p in pages}
    for page in pages:
        assert 'id="simulated-banner"' in page.read_text(encoding="utf-8"), page
    assert report["simulated"]["declared"] is True
    status_page = tmp_path / "status.html"
    assert main(["status", "--config", str(tmp_path / "demo" / "trial.toml"), "--html", str(status_page)]) == 0
    assert 'id="simulated-banner"' in status_page.read_text(encoding="utf-8")


def test_demo_refuses_a_non_empty_folder_and_bad_options(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        run_demo(tmp_path / "x", days=14, progress=None)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    assert main(["demo", "--out", str(tmp_path / "y"), "--compliance", "1.5"]) == 2
    assert "--compliance" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "y"), "--large-tables", "xlsx"]) == 2
    assert "--large-tables" in capsys.readouterr().err
    with pytest.raises(UsageError, match="large tables"):
        run_demo(tmp_path / "z", days=14, progress=None, large_tables="xlsx")
    assert not (tmp_path / "z").exists()
