"""The end-to-end demo: a six-month synthetic trial on the shipped West Midlands hotspots.

``guardian-rct demo --out DIR`` shows every job of the package working together, on the
57 illustrative hotspots built from real West Midlands crimes (``geodata/``):

1. write a trial config and register the trial in its store (``init``);
2. publish six months of daily patrol schedules in the hash-chained ledger and write
   the first day's tasking sheet (the daily job);
3. simulate six months of crimes (with a year of pre-trial baseline) and officers'
   location pings, with a known patrol effect and about 75% compliance (``simulate``);
4. score the pings once and write a weekly compliance report for every week (the weekly
   job);
5. run the six-month milestone evaluation on the simulated crimes (the evaluation job);
6. verify the ledger and print where each report is and the headline numbers next to the
   simulated truth.

Everything is synthetic except the hotspot polygons; the demo says so in its output.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.errors import UsageError
from guardian_rct._core.safe_write import write_text
from guardian_rct.compliance.ping_assignment import PingScore, ping_options_for
from guardian_rct.compliance.presence import score_pings
from guardian_rct.config.trial_config import TrialConfig, load_config
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.rings import buffer_rings
from guardian_rct.jobs.milestone import EvaluationResult, evaluate
from guardian_rct.jobs.plan import register_trial
from guardian_rct.jobs.weekly import ReportPeriod, weekly_compliance_reports
from guardian_rct.ledger.publish import publish_range, published_allocation
from guardian_rct.ledger.store import load_trial_hotspots
from guardian_rct.ledger.verify import VerifyResult, verify
from guardian_rct.reports.tasking import write_daily_outputs
from guardian_rct.simulation.writers import simulate_crimes, simulate_pings, write_simulation

__all__ = ["DemoResult", "run_demo", "demo_config_text", "demo_periods"]

DEMO_START = dt.date(2023, 10, 2)  # a Monday; six months span both clock changes
DEMO_DAYS = 182


#: The file that marks a folder as the demo's own (``--overwrite`` deletes only such folders).
DEMO_MARKER = ".guardian-rct-demo"


def demo_config_text(*, seed: int, ri_draws: int, large_tables: str = "parquet") -> str:
    """The demo's ``trial.toml`` (a 12-month trial evaluated at its 6-month milestone);
    ``large_tables`` is its ``[outputs] large_tables`` (``parquet``, ``csv`` or ``both``)."""
    milestone = DEMO_START + dt.timedelta(days=DEMO_DAYS - 1)
    return textwrap.dedent(f"""\
        # guardian_rct demo: a synthetic trial on the shipped West Midlands hotspots.
        [trial]
        name = "Targeted Guardian Patrols (demo)"
        timezone = "Europe/London"
        day_starts = "06:00"
        start_date = {DEMO_START.isoformat()}
        end_date = {(DEMO_START + dt.timedelta(days=363)).isoformat()}
        seed = {seed}
        store = "trial.db"
        simulated = true                # a simulation: every report carries a SIMULATED DATA banner

        [hotspots]
        path = "hotspots.geojson"
        id_column = "hotspot_id"
        # No randomisation blocks: the shipped districts hold 1 to 35 hotspots, and a
        # one-hotspot block cannot be randomised within.
        boundary = "force_boundary.geojson"

        [design]
        kind = "crossover"
        treated_per_day = 28
        windows = ["15:00-23:00"]
        patrol_minutes = 15

        [outputs]
        large_tables = "{large_tables}"    # visits and quarantined pings: "parquet", "csv" or "both"

        [compliance]
        arrival_within_hours = 24
        gps_tolerance_m = 0
        max_ping_gap_minutes = 5
        min_visit_minutes = 0
        koper_minutes = 15
        target_rate = 0.75

        [evaluation]
        outcomes = ["all_crime", "violence", "serious_youth_violence"]
        primary_outcome = "serious_youth_violence"
        ri_draws = {ri_draws}
        milestones = [{milestone.isoformat()}, {(DEMO_START + dt.timedelta(days=363)).isoformat()}]
        baseline_days = 365
        """)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its reports, and the headline numbers beside the truth."""

    out_dir: Path
    files: dict[str, str]
    headline: dict[str, Any]
    seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"out_dir": str(self.out_dir), "files": self.files, "headline": self.headline,
                "seconds": round(self.seconds, 1), "steps": self.steps}


class _Progress:
    """Numbered progress lines on a stream (stderr by default), with elapsed time."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream, self.start, self.done = total, stream, time.perf_counter(), 0
        self.steps: list[dict[str, Any]] = []

    def step(self, text: str, work: Callable[[], Any]) -> Any:
        self.done += 1
        began = time.perf_counter()
        if self.stream is not None:
            print(f"[{self.done}/{self.total}] {text} ...", file=self.stream, flush=True)
        value = work()
        seconds = time.perf_counter() - began
        self.steps.append({"step": text, "seconds": round(seconds, 2)})
        if self.stream is not None:
            print(f"      done in {seconds:.1f} s", file=self.stream, flush=True)
        return value


def _copy_geodata(out_dir: Path) -> None:
    source = resources.files("guardian_rct") / "data" / "demo"
    for name in ("hotspots.geojson", "districts.geojson", "wards.geojson", "force_boundary.geojson"):
        with resources.as_file(source / name) as path:
            shutil.copyfile(path, out_dir / name)


def run_demo(out_dir: str | Path, *, seed: int = 20231002, ri_draws: int = 2000, effect: float = 0.8,
             compliance: float = 0.75, days: int = DEMO_DAYS, progress: TextIO | None = sys.stderr,
             overwrite: bool = False, large_tables: str = "parquet") -> DemoResult:
    """Run the whole demo into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    seed
        Trial seed (drives the schedules and the simulation).
    ri_draws
        Randomisation-inference redraws in the evaluation.
    effect
        True rate ratio of crime (volume and harm) on a hotspot-day whose patrol was
        delivered.
    compliance
        True share of scheduled patrols delivered within 24 hours.
    days
        Trial days to publish, simulate and evaluate (default six months).
    overwrite
        Replace an earlier demo in ``out_dir``; otherwise a non-empty folder is refused.
    large_tables
        ``[outputs] large_tables`` of the demo's trial: the weekly visits and quarantine
        tables as ``parquet`` (default), ``csv`` or ``both``.
    """

    if not 14 <= days <= 364:
        raise UsageError("the demo runs 14 to 364 days", found=str(days), where="days",
                         fix="choose a length within the demo trial's year")
    if large_tables not in ("parquet", "csv", "both"):
        raise UsageError("unknown format for the large tables", expected="parquet, csv or both",
                         found=repr(large_tables), where="--large-tables", fix="choose one of those")
    if not 0 <= seed < 2**63:
        raise UsageError("the seed is out of range", expected="an integer from 0 to 2^63 - 1",
                         found=str(seed), where="--seed", fix="use e.g. 20231002")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError("the output is not a folder", found="a file", where=out,
                         fix="give a folder name for the demo")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UsageError("the output folder is not empty", where=out,
                             fix="give a new folder, or pass --overwrite to replace an earlier demo")
        if not (out / DEMO_MARKER).is_file():
            raise UsageError("--overwrite removes only a folder made by 'guardian-rct demo'",
                             expected=f"a folder holding the demo's marker file {DEMO_MARKER}",
                             found="a non-empty folder without it", where=out,
                             fix="give a new or empty folder; this one was not made by the demo")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by 'guardian-rct demo'; 'demo --overwrite' may delete "
                                   "this folder\n", encoding="utf-8")
    began = time.perf_counter()
    bar = _Progress(7, progress)
    config = bar.step("writing the trial config and registering the trial",
                      lambda: _register(out, seed=seed, ri_draws=ri_draws, large_tables=large_tables))
    first, last = DEMO_START, DEMO_START + dt.timedelta(days=days - 1)
    allocation, hotspots, daily = bar.step(f"publishing {days} daily schedules ({first} to {last})",
                                           lambda: _publish(config, out, first, last))
    sim = bar.step("simulating crimes (with a year of baseline) and officers' location pings",
                   lambda: _simulate(config, hotspots, allocation, out, effect=effect, compliance=compliance))
    score = bar.step("reading and scoring the pings", lambda: _score(config, hotspots, sim["files"]["pings"]))
    weekly = bar.step("writing the weekly compliance reports",
                      lambda: _weekly(config, hotspots, allocation, score, out, first, last, sim["files"]["pings"]))
    evaluation = bar.step(f"running the milestone evaluation at day {days} ({ri_draws:,} randomisation draws)",
                          lambda: _evaluate(config, out, sim, weekly, last, ri_draws))
    verified = bar.step("verifying the ledger", lambda: _verify(config))
    headline = _headline(weekly, evaluation, sim, verified)
    files = {"config": str(config.source), "store": str(config.trial.store), "tasking_sheet": str(daily),
             "weekly_reports": str(out / "weekly"), "latest_weekly_report": weekly["latest_html"],
             "milestone_report": str(evaluation.paths["html"]), "milestone_json": str(evaluation.paths["json"]),
             "crimes": str(sim["files"]["crimes"]), "pings": str(sim["files"]["pings"]),
             "truth": str(sim["files"]["truth"])}
    result = DemoResult(out, files, headline, time.perf_counter() - began, bar.steps)
    write_text(out / "demo_summary.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n",
               what="demo summary")
    return result


def _register(out: Path, *, seed: int, ri_draws: int, large_tables: str) -> TrialConfig:

    _copy_geodata(out)
    path = out / "trial.toml"
    path.write_text(demo_config_text(seed=seed, ri_draws=ri_draws, large_tables=large_tables), encoding="utf-8")
    config = load_config(path)
    register_trial(config)  # seals the analysis plan (issue 15)
    return config


def _publish(config: TrialConfig, out: Path, first: dt.date,
             last: dt.date) -> tuple[Allocation, HotspotSet, Path]:

    hotspots = load_trial_hotspots(config)
    records = publish_range(config, first, last, hotspots=hotspots, simulated=True)
    outputs = write_daily_outputs(config, records[0], hotspots, out / "daily")
    return published_allocation(config, first=first, last=last, hotspots=hotspots), hotspots, outputs.html


def _simulate(config: TrialConfig, hotspots: HotspotSet, allocation: Allocation, out: Path, *,
              effect: float, compliance: float) -> dict[str, Any]:

    seed = config.trial.seed
    pings = simulate_pings(config, hotspots, allocation, compliance=compliance, seed=seed)
    rings = buffer_rings(hotspots, list(config.hotspots.buffer_rings_m))
    crimes = simulate_crimes(config, hotspots, allocation, effect_volume=effect, effect_harm=effect, rings=rings,
                             seed=seed, baseline_days=config.evaluation.baseline_days, delivered=pings.compliance)
    files = write_simulation(out / "simulated", crimes=crimes, pings=pings, tz=config.trial.timezone,
                             crs=str(hotspots.crs.to_string()))
    return {"files": files, "crimes_truth": crimes.truth, "pings_truth": pings.truth}


def _score(config: TrialConfig, hotspots: HotspotSet, pings_path: Path) -> PingScore:

    options = ping_options_for(hotspots, config.compliance)
    return score_pings(pings_path, hotspots, config.compliance, options=options)


def _weekly(config: TrialConfig, hotspots: HotspotSet, allocation: Allocation, score: PingScore,
            out: Path, first: dt.date, last: dt.date, pings_path: Path) -> dict[str, Any]:

    periods = demo_periods(first, last, out / "weekly")
    reports = weekly_compliance_reports(config, hotspots, allocation, score, periods=periods,
                                        source="simulated location pings", inputs={"pings": pings_path})
    hotspot_days = pd.concat([r.result.hotspot_days for r in reports], ignore_index=True)
    path = out / "weekly" / "compliance_hotspot_days.csv"
    write_csv(path, hotspot_days, what="compliance per hotspot-day CSV")
    return {"weeks": len(reports), "hotspot_days_csv": path, "latest_html": str(reports[-1].paths["html"]),
            "patrols": pd.concat([r.result.patrols for r in reports], ignore_index=True)}


def demo_periods(first: dt.date, last: dt.date, folder: Path) -> list[ReportPeriod]:
    """The ISO weeks (Monday to Sunday, clipped to ``first..last``) of the demo, one report each."""
    start = first - dt.timedelta(days=first.weekday())
    periods = []
    for i in range((last - start).days // 7 + 1):
        monday = start + dt.timedelta(days=7 * i)
        year, week, _ = monday.isocalendar()
        label = f"{year}-W{week:02d}"
        periods.append(ReportPeriod(max(monday, first), min(monday + dt.timedelta(days=6), last), label,
                                    folder / label))
    return periods


def _evaluate(config: TrialConfig, out: Path, sim: dict[str, Any], weekly: dict[str, Any], look: dt.date,
              ri_draws: int) -> EvaluationResult:

    return evaluate(config, crimes_path=sim["files"]["crimes"], compliance=weekly["hotspot_days_csv"],
                    out_dir=out / "milestone", ri_draws=ri_draws, look_date=look)


def _verify(config: TrialConfig) -> VerifyResult:

    return verify(config)


def _headline(weekly: dict[str, Any], evaluation: EvaluationResult, sim: dict[str, Any],
              verified: VerifyResult) -> dict[str, Any]:
    estimates = evaluation.report.to_dict()["estimates"]  # with randomisation p-values filled in
    truth = sim["crimes_truth"]
    return {
        "weekly_reports": weekly["weeks"],
        "compliance": _overall_compliance(weekly),
        "true_delivered_share": sim["pings_truth"].get("delivered_share"),
        "effects": [e for e in estimates if e["estimand"] == "ITT" and e["model"] == "poisson_fe"],
        "true_itt_rate_ratio_count": truth.get("itt_rate_ratio_count"),
        "true_itt_rate_ratio_harm": truth.get("itt_rate_ratio_harm"),
        "ledger_verified": bool(verified.ok),
    }


def _overall_compliance(weekly: dict[str, Any]) -> float | None:
    """Share of all scheduled patrols whose first arrival fell within the window."""
    patrols = weekly["patrols"]
    return None if len(patrols) == 0 else float(patrols["compliant"].astype(float).mean())
