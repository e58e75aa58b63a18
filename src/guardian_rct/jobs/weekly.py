"""The weekly compliance job: score one period's patrols and write its report.

:func:`weekly_compliance_report` does what ``guardian-rct compliance`` does after the
pings (or patrol logs) have been read into visits: score every scheduled patrol of the
period, record the week in the trial's trend table, pseudonymise officers with the
store's key, and write HTML, JSON and CSV. :func:`weekly_compliance_reports` does the
same for many periods from one read of the pings (the demo's 26 weeks): the hotspot
timelines, the provenance record (input hashes), the pseudonymised visits and the map
context are built once, and the periods are written in order, each storing its complete
weeks before the next reads the trend, so every report equals the one a run for that
period alone would write (apart from the provenance's creation time). The command line
and the end-to-end demo both call these, so a week scored in the demo is scored exactly
as in production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from guardian_rct._core.days import iso_week
from guardian_rct._core.log import progress
from guardian_rct._core.provenance import make_provenance
from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct.compliance.ping_assignment import PingScore
from guardian_rct.compliance.scoring import (
    ComplianceResult,
    score_compliance,
    scoring_context,
)
from guardian_rct.compliance.weeks import week_totals
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.compliance_weeks import store_weeks, stored_weeks
from guardian_rct.ledger.pseudonym import pseudonym_key, seed_key
from guardian_rct.reports.weekly import build_weekly_report, trend_rows, write_weekly_report
from guardian_rct.reports.weekly_shared import WeeklyShared, weekly_shared

__all__ = ["WeeklyReport", "ReportPeriod", "weekly_compliance_report", "weekly_compliance_reports",
           "observed_until"]

#: "Nothing observed": the data end used when no ping was usable, so every patrol is pending.
_NOTHING_OBSERVED = pd.Timestamp("1970-01-01", tz="UTC")


def observed_until(score: PingScore, now: dt.datetime | None = None) -> pd.Timestamp:
    """Where the presence data end: the earlier of the last usable ping and ``now``."""
    clock = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    clock = clock.tz_localize("UTC") if clock.tzinfo is None else clock.tz_convert("UTC")
    if score.last_ping is None:
        return _NOTHING_OBSERVED
    return min(pd.Timestamp(score.last_ping).tz_convert("UTC"), clock)


@dataclass(frozen=True)
class ReportPeriod:
    """One report of a bulk run: experimental days ``first..last``, its label and folder."""

    first: dt.date
    last: dt.date
    label: str
    out_dir: Path


@dataclass(frozen=True)
class WeeklyReport:
    """A written weekly report: its data, its files and the scored patrols."""

    report: dict[str, Any]
    paths: dict[str, Path]
    result: ComplianceResult


def weekly_compliance_report(
    config: TrialConfig,
    hotspots: HotspotSet,
    allocation: Allocation,
    score: PingScore,
    *,
    first: dt.date,
    last: dt.date,
    out_dir: str | Path,
    period_label: str,
    source: str,
    inputs: Mapping[str, str | Path] | None = None,
    teams: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> WeeklyReport:
    """Score the patrols scheduled ``first..last`` against ``score.visits`` and write the report.

    Parameters
    ----------
    score
        Visits from :func:`guardian_rct.compliance.presence.score_pings` or
        :func:`guardian_rct.compliance.patrol_logs.read_patrol_log` (with their row counts).
    source
        Plain words for the report on where presence came from.
    inputs
        Label → path of input files to hash into the provenance record.
    teams
        Optional hotspot → responsible team.
    now
        The report time (default: the clock). The data are taken to end at the earlier
        of it and the last usable ping; a patrol whose deadline is later is pending.
    """
    period = ReportPeriod(first, last, period_label, Path(out_dir))
    return weekly_compliance_reports(config, hotspots, allocation, score, periods=[period], source=source,
                                     inputs=inputs, teams=teams, now=now)[0]


def weekly_compliance_reports(
    config: TrialConfig,
    hotspots: HotspotSet,
    allocation: Allocation,
    score: PingScore,
    *,
    periods: Sequence[ReportPeriod],
    source: str,
    inputs: Mapping[str, str | Path] | None = None,
    teams: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> list[WeeklyReport]:
    """Write one report per period, in the order given, from one scoring of the pings.

    Same parameters as :func:`weekly_compliance_report`; ``periods`` replaces ``first``,
    ``last``, ``out_dir`` and ``period_label``. Each report equals the one
    :func:`weekly_compliance_report` writes for its period after the earlier periods'
    runs (the trend of a week reads the weeks stored before it).
    """
    files = dict(inputs or {})
    if allocation.source is not None:
        files["allocation"] = allocation.source
    if config.source is not None:
        files["config"] = config.source
    provenance = make_provenance(seed=config.trial.seed, seed_key=seed_key(config.trial.store), inputs=files,
                                 hashes={"hotspots": hotspots.sha256})
    context = scoring_context(score.visits, hotspots, teams)
    seen = observed_until(score, now)
    written = [*files.values(), config.trial.store, config.hotspots.path]
    shared: WeeklyShared | None = None
    reports = []
    steps = progress(periods, total=len(periods), desc="weekly reports", unit="week") if len(periods) > 1 else periods
    for period in steps:
        result = score_compliance(allocation, score.visits, hotspots=hotspots, config=config,
                                  first=period.first, last=period.last, teams=teams, provenance=provenance,
                                  observed_until=seen, context=context)
        if shared is None:  # after the first period is known to be valid, as a single run does
            pseudonymiser = Pseudonymiser(pseudonym_key(config.trial.store))
            shared = weekly_shared(score.visits, pseudonymiser, config=config, hotspots=hotspots)
        reports.append(_write_period(config, hotspots, score, period, result, source=source, shared=shared,
                                     written=written))
    return reports


def _write_period(config: TrialConfig, hotspots: HotspotSet, score: PingScore, period: ReportPeriod,
                  result: ComplianceResult, *, source: str, shared: WeeklyShared, written: list) -> WeeklyReport:
    """Store a scored period's complete weeks, then build and write its report."""
    pseudonymiser = shared.pseudonymiser
    complete, partial = week_totals(result)
    store_weeks(config.trial.store, complete)
    trend = trend_rows(stored_weeks(config.trial.store), partial, iso_week(result.last_day))
    report = build_weekly_report(result, config=config, hotspots=hotspots, score=score,
                                 period_label=period.label, source=source, pseudonymiser=pseudonymiser,
                                 trend=trend, shared=shared)
    paths = write_weekly_report(report, result, period.out_dir, hotspots=hotspots, score=score,
                                pseudonymiser=pseudonymiser, config=config, inputs=written, shared=shared)
    return WeeklyReport(report, paths, result)
