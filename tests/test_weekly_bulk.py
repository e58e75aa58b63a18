"""Weekly reports in bulk (issue 14 item 3): many periods from one scoring of the pings
write exactly what one run per period writes, including the trend read from the store and
patrols still pending at the end of the data; the shared parts refuse other inputs."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.days import iso_week
from guardian_rct._core.provenance import make_provenance
from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct.cli import main
from guardian_rct.compliance.ping_assignment import ping_options_for
from guardian_rct.compliance.presence import score_pings
from guardian_rct.compliance.scoring import score_compliance, scoring_context
from guardian_rct.compliance.weeks import week_totals
from guardian_rct.config.trial_config import load_config
from guardian_rct.design.allocation import read_allocation_csv
from guardian_rct.jobs.weekly import (
    ReportPeriod,
    WeeklyReport,
    observed_until,
    weekly_compliance_reports,
)
from guardian_rct.ledger.compliance_weeks import store_weeks, stored_weeks
from guardian_rct.ledger.pseudonym import pseudonym_key, seed_key
from guardian_rct.ledger.store import load_trial_hotspots, open_trial
from guardian_rct.reports.weekly import build_weekly_report, trend_rows, write_weekly_report
from guardian_rct.reports.weekly_shared import weekly_shared
from test_compliance_report import _make_trial
from test_pending import _cut

#: The report time: Saturday of 2023-W18, so that week's last patrols are pending.
NOW = dt.datetime(2023, 5, 6, 12, 0, tzinfo=dt.UTC)
PERIODS = [(dt.date(2023, 4, 24), dt.date(2023, 4, 30), "2023-W17"),
           (dt.date(2023, 4, 28), dt.date(2023, 5, 2), "2023-04-28 to 2023-05-02"),  # across two weeks
           (dt.date(2023, 5, 1), dt.date(2023, 5, 7), "2023-W18")]


def _trial(folder: Path) -> dict:
    config = load_config(folder / "trial.toml")
    hotspots = load_trial_hotspots(config)
    open_trial(config, hotspots=hotspots)
    allocation = read_allocation_csv(folder / "allocation.csv", hotspot_ids=hotspots.ids,
                                     first_day=config.trial.start_date, last_day=config.trial.end_date)
    pings = _cut({"pings": folder / "pings.csv"}, "2023-05-06T11:00:00Z", folder / "pings_cut.csv")
    score = score_pings(pings, hotspots, config.compliance, options=ping_options_for(hotspots, config.compliance))
    return {"config": config, "hotspots": hotspots, "allocation": allocation, "score": score, "pings": pings}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same trial twice: folder ``one`` reported period by period as before, ``bulk`` in one call."""
    root = tmp_path_factory.mktemp("weekly-bulk")
    (root / "one").mkdir()
    made = _make_trial(root / "one")
    pseudonym_key(load_config(made["config"]).trial.store)  # made on first use: make it before copying
    shutil.copytree(root / "one", root / "bulk")
    one, bulk = _trial(root / "one"), _trial(root / "bulk")
    singles = [_one_run(one, a, b, label, root / "one" / "out" / str(i)) for i, (a, b, label) in enumerate(PERIODS)]
    periods = [ReportPeriod(a, b, label, root / "bulk" / "out" / str(i)) for i, (a, b, label) in enumerate(PERIODS)]
    many = weekly_compliance_reports(bulk["config"], bulk["hotspots"], bulk["allocation"], bulk["score"],
                                     periods=periods, source="pings", inputs={"pings": bulk["pings"]}, now=NOW)
    return {"root": root, "one": one, "bulk": bulk, "singles": singles, "many": many}


def _one_run(trial: dict, first: dt.date, last: dt.date, label: str, out: Path) -> WeeklyReport:
    """One period as the weekly job wrote it before bulk runs existed (c3357b1), step by step
    from the public parts with nothing shared: the reference the bulk run must equal."""
    config, hotspots, allocation, score = trial["config"], trial["hotspots"], trial["allocation"], trial["score"]
    files = {"pings": trial["pings"], "allocation": allocation.source, "config": config.source}
    files = {k: v for k, v in files.items() if v is not None}
    provenance = make_provenance(seed=config.trial.seed, seed_key=seed_key(config.trial.store), inputs=files,
                                 hashes={"hotspots": hotspots.sha256})
    result = score_compliance(allocation, score.visits, hotspots=hotspots, config=config, first=first, last=last,
                              provenance=provenance, observed_until=observed_until(score, NOW))
    pseudonymiser = Pseudonymiser(pseudonym_key(config.trial.store))
    complete, partial = week_totals(result)
    store_weeks(config.trial.store, complete)
    trend = trend_rows(stored_weeks(config.trial.store), partial, iso_week(result.last_day))
    report = build_weekly_report(result, config=config, hotspots=hotspots, score=score, period_label=label,
                                 source="pings", pseudonymiser=pseudonymiser, trend=trend)
    paths = write_weekly_report(report, result, out, hotspots=hotspots, score=score, pseudonymiser=pseudonymiser,
                                config=config, inputs=[*files.values(), config.trial.store, config.hotspots.path])
    return WeeklyReport(report, paths, result)


def _normalised(path: Path, root: Path) -> str:
    """File text with the run's folder and the provenance's creation time made neutral;
    binary outputs (GeoPackage, GeoParquet) as the text of their tables."""
    if path.suffix in (".gpkg", ".parquet"):
        import geopandas as gpd
        import pyarrow.parquet as pq
        import pyogrio

        geo = path.suffix == ".parquet" and b"geo" in (pq.read_schema(path).metadata or {})
        tables = ([gpd.read_parquet(path) if geo else pd.read_parquet(path)] if path.suffix == ".parquet" else
                  [pyogrio.read_dataframe(path, layer=name) for name, _ in pyogrio.list_layers(path)])
        text = "\n".join(t.drop(columns=["update_time"], errors="ignore").to_csv() for t in tables)
        return text.replace(str(root / "one"), "ROOT").replace(str(root / "bulk"), "ROOT")
    text = path.read_text(encoding="utf-8").replace(str(root / "one"), "ROOT").replace(str(root / "bulk"), "ROOT")
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", "CREATED", text)


def test_the_periods_cover_what_the_equality_must_hold_for(runs):
    w17, _, w18 = runs["many"]
    assert w17.report["headline"]["compliant"] > 0 and w17.report["headline"]["missed"] > 0
    assert w17.report["headline"]["pending"] == 0
    assert w18.report["headline"]["pending"] > 0  # the data end on Saturday: the weekend is pending
    assert any(row["partial"] for row in w18.report["trend"]) and any(not r["partial"] for r in w18.report["trend"])
    assert w18.report["pings"]["quarantined"] > 0 and len(w18.report["officers"]) > 0


def test_bulk_reports_equal_one_run_per_period(runs):
    root = runs["root"]
    for single, bulk in zip(runs["singles"], runs["many"], strict=True):
        for col in ("patrols", "controls", "hotspot_days"):
            pd.testing.assert_frame_equal(getattr(single.result, col), getattr(bulk.result, col))
        a, b = dict(single.report), dict(bulk.report)
        a.pop("provenance"), b.pop("provenance")
        assert a == b
        assert sorted(single.paths) == sorted(bulk.paths)
        for key, path in single.paths.items():
            assert Path(path).name == Path(bulk.paths[key]).name
            assert _normalised(Path(path), root) == _normalised(Path(bulk.paths[key]), root), key
    assert stored_weeks(runs["one"]["config"].trial.store) == stored_weeks(runs["bulk"]["config"].trial.store)


def test_the_provenance_of_a_bulk_run_hashes_the_inputs_once_for_all_periods(runs):
    provenances = [r.report["provenance"] for r in runs["many"]]
    assert all(p == provenances[0] for p in provenances)
    single = runs["singles"][0].report["provenance"]
    assert provenances[0]["inputs"].keys() == single["inputs"].keys()
    assert [v for v in provenances[0]["inputs"].values()] == [v for v in single["inputs"].values()]


def test_shared_parts_built_from_other_visits_are_refused(runs):
    one, bulk = runs["one"], runs["bulk"]
    context = scoring_context(bulk["score"].visits, bulk["hotspots"])
    with pytest.raises(ValueError, match="other visits"):
        score_compliance(one["allocation"], one["score"].visits, hotspots=one["hotspots"], config=one["config"],
                         context=context)
    with pytest.raises(ValueError, match="teams"):
        score_compliance(bulk["allocation"], bulk["score"].visits, hotspots=bulk["hotspots"],
                         config=bulk["config"], context=context, teams={"H01": "Charlie"})
    single = runs["singles"][0]
    shared = weekly_shared(bulk["score"].visits, _pseudonymiser(bulk),
                           config=bulk["config"], hotspots=bulk["hotspots"])
    with pytest.raises(ValueError, match="other visits"):
        build_weekly_report(single.result, config=one["config"], hotspots=one["hotspots"], score=one["score"],
                            period_label="x", source="pings", pseudonymiser=shared.pseudonymiser, trend=[],
                            shared=shared)


def _pseudonymiser(trial: dict) -> Pseudonymiser:
    return Pseudonymiser(pseudonym_key(trial["config"].trial.store))


def test_rates_by_group_equal_a_count_over_the_rows(runs):
    """``ComplianceResult.rates`` (plain sums) against a count written out row by row."""
    result = runs["many"][1].result
    for by in ("hotspot_id", "team", "block", "dow", "week"):
        table = result.rates(by).set_index(by)
        keys = sorted(set(result.patrols[by]) | set(result.controls[by]))
        assert list(table.index) == keys
        for key in keys:
            p = result.patrols[result.patrols[by] == key]
            c = result.controls[result.controls[by] == key]
            row = table.loc[key]
            assert row["scheduled"] == len(p) and row["compliant"] == int(p["compliant"].sum())
            assert row["pending"] == int(p["pending"].sum()) and row["koper_met"] == int(p["koper_met"].sum())
            assert row["missed"] == len(p) - int(p["compliant"].sum()) - int(p["pending"].sum())
            assert row["patrol_minutes"] == pytest.approx(float(p["patrol_minutes"].sum()))
            assert row["officer_minutes"] == pytest.approx(float(p["officer_minutes"].sum()))
            assert row["control_days"] == len(c) and row["contaminated"] == int(c["contaminated"].sum())
            assert row["control_pending"] == int(c["pending"].sum())
            decided = len(p) - int(p["pending"].sum())
            if decided:
                assert row["rate"] == pytest.approx(int(p["compliant"].sum()) / decided)
            else:
                assert np.isnan(row["rate"])
        for col in ("scheduled", "compliant", "pending", "koper_met", "control_days", "contaminated"):
            assert table[col].dtype == np.int64, (by, col)


def test_the_demo_weeks_are_monday_to_sunday_clipped_to_the_trial(tmp_path):
    from guardian_rct.jobs.demo import demo_periods

    periods = demo_periods(dt.date(2023, 10, 4), dt.date(2023, 10, 17), tmp_path)
    assert [(p.first, p.last, p.label) for p in periods] == [
        (dt.date(2023, 10, 4), dt.date(2023, 10, 8), "2023-W40"),
        (dt.date(2023, 10, 9), dt.date(2023, 10, 15), "2023-W41"),
        (dt.date(2023, 10, 16), dt.date(2023, 10, 17), "2023-W42")]
    assert periods[1].out_dir == tmp_path / "2023-W41"


def test_compliance_over_several_weeks_equals_one_command_per_week(tmp_path, capsys):
    """``compliance --week A --week B`` reads the pings once and writes DIR/A and DIR/B as
    two ``compliance --week`` runs would (the second week's trend includes the first)."""
    (tmp_path / "one").mkdir()
    made = _make_trial(tmp_path / "one")
    pseudonym_key(load_config(made["config"]).trial.store)
    shutil.copytree(tmp_path / "one", tmp_path / "bulk")
    common = ["--pings", "pings.csv", "--allocation", "allocation.csv"]

    def run(folder: str, *args: str) -> int:
        root = tmp_path / folder
        return main(["compliance", "--config", str(root / "trial.toml"),
                     *[str(root / a) if a.endswith(".csv") else a for a in common], *args])

    for week in ("2023-W17", "2023-W18"):
        assert run("one", "--week", week, "--out", str(tmp_path / "one" / "out" / week)) == 0
    capsys.readouterr()
    assert run("bulk", "--week", "2023-W17", "--week", "2023-W18", "--out", str(tmp_path / "bulk" / "out"),
               "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["period"]["label"] for r in printed["reports"]] == ["2023-W17", "2023-W18"]
    for week in ("2023-W17", "2023-W18"):
        a = json.loads((tmp_path / "one" / "out" / week / "weekly_compliance.json").read_text())
        b = json.loads((tmp_path / "bulk" / "out" / week / "weekly_compliance.json").read_text())
        assert a.pop("provenance")["inputs"].keys() == b.pop("provenance")["inputs"].keys()
        assert a == b
    truth = {k: v for k, v in made["truth"].items() if k[0] <= "2023-04-30"}
    assert b["trend"][0] == {**b["trend"][0], "week": "2023-W17", "compliant": sum(truth.values()),
                             "scheduled": len(truth), "partial": False}
    assert run("bulk", "--week", "2023-W18", "--week", "2023-W18", "--out", str(tmp_path / "x")) == 2
    assert "named twice" in capsys.readouterr().err



def test_a_weeks_report_carries_only_the_visits_of_its_period(runs):
    """A pings file of several weeks: each period's visits table, officers and totals are the
    visits overlapping that period (first window start to last deadline), never other weeks'
    officer movements."""
    everything = runs["bulk"]["score"].visits.frame
    for made in runs["many"]:
        result = made.result
        lo = min(result.patrols["window_start"].min(), result.controls["day_start"].min())
        hi = max(result.patrols["deadline"].max(), result.controls["day_end"].max())
        table = pd.read_parquet(made.paths["visits_parquet"])  # the default format of the large tables
        start, end = pd.to_datetime(table["start"], utc=True), pd.to_datetime(table["end"], utc=True)
        assert len(table) > 0
        assert ((end >= lo) & (start <= hi)).all()
        expected = int(((everything["end"] >= lo) & (everything["start"] <= hi)).sum())
        assert len(table) == expected < len(everything)  # the file holds other weeks' visits too
        assert made.report["visits"]["visits"] == expected
        assert sum(r["visits"] for r in made.report["officers"]) == expected
