"""The daily schedule job: publish the next days in the ledger and write their tasking files.

What the cron script (``scripts/daily_schedule.py``) and ``guardian-rct schedule`` run.
Publishing draws a day once and stores it (:mod:`guardian_rct.ledger.publish`); the
officer-facing files are written from the stored record
(:mod:`guardian_rct.reports.tasking`), so re-running a day rewrites identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.publish import publish_range, published
from guardian_rct.ledger.records import PublishedSchedule
from guardian_rct.ledger.store import load_trial_hotspots
from guardian_rct.reports.tasking import DailyOutputs, write_daily_outputs

__all__ = ["DailyRun", "run_daily"]


@dataclass(frozen=True)
class DailyRun:
    """What :func:`run_daily` did: the days, which were newly published, the files."""

    days: tuple[dt.date, ...]
    new_days: tuple[dt.date, ...]
    outputs: tuple[DailyOutputs, ...]
    head_hash: str

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"days": [d.isoformat() for d in self.days],
                "newly_published": [d.isoformat() for d in self.new_days],
                "head_hash": self.head_hash, "outputs": [o.to_dict() for o in self.outputs]}

    def summary(self) -> str:
        """Readable lines, one per day."""
        lines = []
        for out in self.outputs:
            status = "published" if out.day in self.new_days else "already published"
            lines.append(f"{out.day} ({status}): {out.treated} hotspots to patrol; wrote "
                         f"{out.csv.with_suffix('').name}.{{csv,xlsx,geojson,html}} in {out.csv.parent}")
        lines.append(f"ledger head {self.head_hash}")
        return "\n".join(lines)


def run_daily(config: TrialConfig, first: dt.date, *, days: int = 1, out_dir: str | Path,
              now: dt.datetime | None = None) -> DailyRun:
    """Publish ``days`` days from ``first`` (or fetch them) and write their tasking outputs.

    Idempotent: a published day is returned as stored and its files are rewritten with
    the same content.
    """
    hotspots = load_trial_hotspots(config)
    last = first + dt.timedelta(days=max(days, 1) - 1)
    before = {r.day for r in _published_or_empty(config, hotspots)}
    records = publish_range(config, first, last, hotspots=hotspots, now=now)
    outputs = tuple(write_daily_outputs(config, r, hotspots, out_dir) for r in records)
    head = published(config, hotspots=hotspots)[-1].hash
    return DailyRun(tuple(r.day for r in records),
                    tuple(r.day for r in records if r.day not in before), outputs, head)


def _published_or_empty(config: TrialConfig, hotspots: HotspotSet) -> tuple[PublishedSchedule, ...]:
    if not config.trial.store.exists():
        return ()
    return published(config, hotspots=hotspots)
