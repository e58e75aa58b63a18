"""Reports in the reader's words (issue 13 item 5): plural-safe counts, plain labels in the
forest plot with the numbers beside each bar, readable headers, the SIMULATED DATA banner
(present on simulated data, absent on a real trial), the small-number caution on
red/amber/green cells, and the weekly trend with every week and axis titles.

Reports are made with the package's own parts (the ``compliance`` verb on a small trial,
the milestone report of ``test_milestone_report``, the real tasking-sheet writer).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.errors import ConfigError
from guardian_rct._core.wording import (
    column_label,
    count_of,
    crime_count,
    estimate_label,
    model_label,
    outcome_label,
)
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.daily import run_daily
from guardian_rct.ledger.publish import publish_range
from guardian_rct.ledger.records import WeekTotals
from guardian_rct.ledger.store import init_trial, load_trial_hotspots
from guardian_rct.reports.banner import simulated_notice, simulated_sources
from guardian_rct.reports.milestone import write_milestone_report
from guardian_rct.reports.milestone_figures import forest_figure, forest_label, forest_numbers
from guardian_rct.reports.tasking import write_daily_outputs
from guardian_rct.reports.weekly import _rate_rows, trend_figure, trend_rows
from guardian_rct.simulation.writers import write_simulation
from test_compliance_report import _make_trial
from test_milestone_report import make_report

NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)
START = dt.date(2023, 3, 20)
PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _text(html: str) -> str:
    """The page without its embedded images (whose base64 holds any letters by chance)."""
    return PNG.sub("data:image/png;base64,", html)


# --------------------------------------------------------------------------- wording

@pytest.mark.parametrize(("n", "noun", "expected"), [
    (0, "patrol", "0 patrols"), (1, "patrol", "1 patrol"), (2, "patrol", "2 patrols"),
    (1.0, "crime", "1 crime"), (765, "crime", "765 crimes"), (1234, "crime", "1,234 crimes"),
    (3, "hotspot-day", "3 hotspot-days"), (2, "analysis", "2 analyses"), (2, "city", "2 cities"),
    (2, "day", "2 days"), (2, "box", "2 boxes"), (None, "patrol", "– patrols"),
    (float("nan"), "crime", "– crimes"),
])
def test_count_of_takes_the_singular_only_for_exactly_one(n, noun, expected):
    assert count_of(n, noun) == expected


def test_count_of_decimals_and_an_explicit_plural():
    assert count_of(1.5, "hour", digits=1) == "1.5 hours"
    assert count_of(1, "person") == "1 person" and count_of(4, "person") == "4 people"
    assert count_of(2, "mouse", "mice") == "2 mice"


def test_crime_counts_never_repeat_crime():
    assert crime_count(765, "all_crime") == "765 crimes"
    assert crime_count(1, "all_crime") == "1 crime"
    assert crime_count(852, "serious_youth_violence") == "852 crimes of serious youth violence"
    assert crime_count(1, "violence") == "1 crime of violence"
    for n in (1, 2, 765):
        assert "crime crime" not in crime_count(n, "all_crime")


def test_outcome_model_and_estimate_labels_are_words():
    assert outcome_label("serious_youth_violence") == "Serious youth violence"
    assert outcome_label("violence_harm") == "Violence (harm)"
    assert outcome_label("x", "every recorded crime") == "Every recorded crime"
    assert column_label("count_all_crime") == "All crime (crimes)"
    assert column_label("harm_violence") == "Violence (harm)"
    assert model_label("negbin_fe") == "negative binomial fixed effects"
    assert model_label("some_new_model") == "some new model"
    assert (estimate_label("serious_youth_violence", "count", "poisson_fe", primary=True)
            == "Serious youth violence — crimes — Poisson fixed effects (primary)")


# --------------------------------------------------------------------------- milestone

@pytest.fixture(scope="module")
def milestone():
    report, _ = make_report(figures=True)
    return report


def test_forest_plot_labels_in_words_with_the_numbers_beside_each_bar(milestone):
    rows = [r for r in milestone.to_dict()["estimates"] if r["section"] == "itt"]
    drawn = [r for r in rows if r["irr"] is not None and r["irr_conf_low"] is not None]
    assert drawn, "the test report has rate ratios to draw"
    fig = forest_figure(rows, level=0.95)
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        texts = [t.get_text() for t in ax.texts]
    finally:
        plt.close(fig)
    assert len(labels) == len(drawn)
    for label in labels:
        assert "_" not in label and "·" not in label and "ITT" not in label, label
        assert label.count(" — ") == 2
    # bottom-to-top order is the reverse of the table's
    assert labels == [forest_label(r) for r in reversed(drawn)]
    assert {forest_numbers(r) for r in drawn} <= set(texts)
    for r in drawn:
        number = forest_numbers(r)
        assert number.startswith(f"{r['irr']:.2f} (95% CI {r['irr_conf_low']:.2f} to ")
    primary = [r for r in drawn if r["in_holm_family"]]
    assert primary and all(forest_label(r).endswith("(primary)") for r in primary)


def test_milestone_page_has_readable_headers_and_no_doubled_crime(milestone, tmp_path):
    paths = write_milestone_report(milestone, tmp_path / "m")
    html = _text(paths["html"].read_text(encoding="utf-8"))
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    for cryptic in ("count P", "count N", "harm P", "harm N", "all crime crimes", "violence crimes"):
        assert cryptic not in html, cryptic
    assert "Crimes, patrol</th>" in html and "Harm, no patrol</th>" in html
    assert "crimes of " in data["abstract"]["data"] or data["trial"]["primary_outcome"] == "all_crime"
    # a real trial's report: no banner
    assert data["simulated"] is None and 'id="simulated-banner"' not in html


def test_milestone_from_simulated_crimes_carries_the_banner(milestone, tmp_path):
    folder = tmp_path / "sim"
    write_simulation(folder)  # the simulator's own truth.json, as `simulate` writes it
    crimes = folder / "crimes.csv"
    crimes.write_text("crime_id\n", encoding="utf-8")
    paths = write_milestone_report(milestone, tmp_path / "m", inputs=[crimes])
    html = paths["html"].read_text(encoding="utf-8")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["simulated"]["sources"] == [str(crimes)] and not data["simulated"]["declared"]
    assert 'id="simulated-banner"' in html and "SIMULATED DATA" in html and "crimes.csv" in html


# --------------------------------------------------------------------------- banner rules

def test_only_the_simulators_truth_file_marks_a_folder_simulated(tmp_path):
    sim, real, other, unmarked = (tmp_path / n for n in ("sim", "real", "other", "unmarked"))
    write_simulation(sim)
    for folder in (real, other, unmarked):
        folder.mkdir()
    (other / "truth.json").write_text(json.dumps({"answer": 42}))            # another program's
    (unmarked / "truth.json").write_text(json.dumps({"schema": 1, "simulated": False}))
    files = [d / "pings.csv" for d in (sim, real, other, unmarked)]
    for f in files:
        f.write_text("device_id\n")
    (real / "broken.json").write_text("{")
    assert simulated_sources([*files, None, ""]) == [str(files[0])]
    assert simulated_notice(False, files[1:]) is None
    assert simulated_notice(True)["declared"] is True
    assert json.loads((sim / "truth.json").read_text())["simulated"] is True


# --------------------------------------------------------------------------- weekly report

@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    """The compliance verb on a small real trial (blocks A/B), then on the same pings as if
    they came from the simulator (a truth.json beside them)."""
    tmp = tmp_path_factory.mktemp("words-weekly")
    made = _make_trial(tmp)
    args = ["compliance", "--config", str(made["config"]), "--allocation", str(made["allocation"]),
            "--week", "2023-W18"]
    assert main([*args, "--pings", str(made["pings"]), "--out", str(tmp / "real")]) == 0
    sim = tmp / "simulated"
    write_simulation(sim)
    shutil.copy(made["pings"], sim / "pings.csv")
    assert main([*args, "--pings", str(sim / "pings.csv"), "--out", str(tmp / "sim")]) == 0
    return tmp


def _weekly(folder: Path) -> tuple[dict, str]:
    return (json.loads((folder / "weekly_compliance.json").read_text(encoding="utf-8")),
            _text((folder / "weekly_compliance.html").read_text(encoding="utf-8")))


def test_weekly_report_of_a_real_trial_has_no_banner(weekly):
    data, html = _weekly(weekly / "real")
    assert data["simulated"] is None
    assert 'id="simulated-banner"' not in html and "SIMULATED DATA" not in html


def test_weekly_report_from_simulated_pings_has_the_banner(weekly):
    data, html = _weekly(weekly / "sim")
    assert data["simulated"]["sources"] == [str(weekly / "simulated" / "pings.csv")]
    assert html.count('id="simulated-banner"') == 1 and "pings.csv" in html
    # the banner comes before the report's first heading
    assert html.index("simulated-banner") < html.index("<h1>")


def test_small_rag_cells_are_greyed_with_a_caution_mark(weekly):
    data, html = _weekly(weekly / "real")
    n = data["rag_min_patrols"]
    assert n == 10
    rows = data["by_hotspot"] + data["by_team"] + data["by_dow"]
    assert any(r["few"] for r in rows), "a week of a 6-hotspot trial has hotspots with few patrols"
    for r in rows:
        assert r["few"] == (r["rag"] != "none" and r["decided"] < n)
        assert r["rag_shown"] == ("few" if r["few"] else r["rag"])
        assert r["decided"] == r["scheduled"] - r["pending"]
    cells = re.findall(r'<td class="num rag-(\w+)"[^>]*data-rag="(\w+)"[^>]*>([^<]*)(<span class="caution-mark">)?',
                       html)
    assert cells
    for shown, colour, _, mark in cells:
        assert (shown == "few") == bool(mark)
        assert shown in ("few", colour)
    assert "few-note" in html and f"fewer than {n} decided patrols" in html


def test_rag_caution_threshold_is_a_config_key(tmp_path):
    frame = pd.DataFrame({"team": ["A", "B"], "scheduled": [12, 9], "compliant": [12, 9], "pending": [2, 0],
                          "missed": [0, 0], "rate": [1.0, 1.0], "koper_met": [0, 0], "patrol_minutes": [0.0, 0.0],
                          "officer_minutes": [0.0, 0.0], "control_days": [0, 0], "contaminated": [0, 0]})
    ten = _rate_rows(frame, "team", 0.75, min_patrols=10)
    assert [r["few"] for r in ten] == [False, True]  # 10 decided is enough; 9 is not
    assert [r["rag_shown"] for r in ten] == ["green", "few"] and [r["rag"] for r in ten] == ["green", "green"]
    assert not any(r["few"] for r in _rate_rows(frame, "team", 0.75, min_patrols=0))
    path = write_trial(tmp_path, extra="[compliance]\nrag_min_patrols = 4\n")
    assert load_config(path).compliance.rag_min_patrols == 4
    path.write_text(path.read_text().replace("rag_min_patrols = 4", "rag_min_patrols = -1"))
    with pytest.raises(ConfigError, match="rag_min_patrols"):
        load_config(path)


def test_no_block_table_without_blocks_and_one_with_them(weekly, tmp_path):
    data, html = _weekly(weekly / "real")
    assert data["has_blocks"] and len(data["by_block"]) == 2 and 'id="by-block"' in html
    made = _make_trial(tmp_path)
    text = made["config"].read_text().replace('block_column = "block"\n', "")
    made["config"].write_text(text)
    for store in tmp_path.glob("trial.db*"):  # register the trial again, now without blocks
        store.unlink()
    init_trial(load_config(made["config"]))
    assert main(["compliance", "--config", str(made["config"]), "--allocation", str(made["allocation"]),
                 "--week", "2023-W18", "--pings", str(made["pings"]), "--out", str(tmp_path / "o")]) == 0
    data, html = _weekly(tmp_path / "o")
    assert [r["block"] for r in data["by_block"]] == ["all"] and not data["has_blocks"]
    assert 'id="by-block"' not in html and "Block" not in re.sub(r"<style.*?</style>", "", html, flags=re.S)


def test_headline_counts_are_plural_safe(weekly):
    data, html = _weekly(weekly / "real")
    head = data["headline"]
    assert re.search(rf'id="headline-scheduled" data-value="{head["scheduled"]}">{count_of(head["scheduled"], "patrol")}<',
                     html)
    assert re.search(rf'id="headline-missed" data-value="{head["missed"]}">{count_of(head["missed"], "patrol")}<', html)
    assert not re.search(r"\b1 patrols\b|\b1 crimes\b|\b1 hotspots\b", html)


def _week(i: int, partial: bool = False) -> WeekTotals:
    year, week = (2023, 40 + i) if i < 13 else (2024, i - 12)
    return WeekTotals(week=f"{year}-W{week:02d}", scheduled=100, compliant=70 + i % 7, pending=5 if partial else 0,
                      control_days=100, contaminated=3, partial=partial)


def test_trend_keeps_every_week_of_the_trial_and_titles_its_axes():
    stored = [_week(i) for i in range(25)]
    rows = trend_rows(stored, [_week(25, partial=True)], stored[-1].week)
    assert [r["week"] for r in rows] == [w.week for w in stored] + [_week(25).week]  # 26 of 26
    assert len(trend_rows(stored, [], stored[-1].week, weeks=4)) == 4
    fig = trend_figure({"trend": rows, "target_rate": 0.75})
    try:
        ax = fig.axes[0]
        assert ax.get_ylabel() == "% of decided patrols compliant"
        assert ax.get_xlabel() == "ISO week of the trial (26 weeks so far)"
        shown = [t.get_text() for t in ax.get_xticklabels()]
        assert shown[0] == rows[0]["week"] and shown[-1] == rows[-1]["week"] and len(shown) == 26
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- tasking sheet

def test_tasking_sheet_banner_only_on_a_simulated_trial(tmp_path):
    pages = {}
    for kind, trial in (("real", ""), ("simulated", "simulated = true")):
        folder = tmp_path / kind
        folder.mkdir()
        cfg = load_config(write_trial(folder, trial=trial))
        init_trial(cfg)
        run = run_daily(cfg, START, days=1, out_dir=folder / "out", now=NOW)
        pages[kind] = _text(run.outputs[0].html.read_text(encoding="utf-8"))
    assert 'id="simulated-banner"' not in pages["real"] and "SIMULATED" not in pages["real"]
    assert 'id="simulated-banner"' in pages["simulated"] and "this trial is a simulation" in pages["simulated"]
    assert re.search(r'id="n-treated" data-value="3">3 hotspots to patrol<', pages["real"])


def test_schedules_published_as_simulated_put_the_banner_on_the_sheet(tmp_path):
    """A trial whose config forgot ``simulated = true`` but whose days were published with
    the horizon lifted (only a simulated trial may do that; the demo does) still gets it."""
    cfg = load_config(write_trial(tmp_path))
    init_trial(cfg)
    records = publish_range(cfg, START, START + dt.timedelta(days=1), simulated=True, now=NOW)
    assert all(r.simulated for r in records)
    hotspots = load_trial_hotspots(cfg)
    out = write_daily_outputs(cfg, records[1], hotspots, tmp_path / "out")
    assert 'id="simulated-banner"' in out.html.read_text(encoding="utf-8")
    real = tmp_path / "real"
    real.mkdir()
    cfg_real = load_config(write_trial(real))
    init_trial(cfg_real)
    (record,) = publish_range(cfg_real, START, START, now=NOW)
    assert not record.simulated
    page = write_daily_outputs(cfg_real, record, load_trial_hotspots(cfg_real), real / "out").html
    assert 'id="simulated-banner"' not in page.read_text(encoding="utf-8")
