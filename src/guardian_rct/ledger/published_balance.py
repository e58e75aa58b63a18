"""Balance of the published allocation so far.

For the published period: each hotspot's share of treated days against the design's
probability, and the treated share by day of week and by block. A crossover design
treats every hotspot with the same probability within its block, so shares far from it
(more than about ``2 sqrt(p (1 - p) / days)``) deserve a look at the ledger; the check is
descriptive, not a test.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guardian_rct._core.days import experimental_day
from guardian_rct._core.errors import StoreError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.factory import design_from_config
from guardian_rct.ledger.publish import published
from guardian_rct.ledger.store import load_trial_hotspots

__all__ = ["BalanceResult", "balance_summary"]


@dataclass(frozen=True)
class BalanceResult:
    """Treated shares over the published days.

    Attributes
    ----------
    by_hotspot
        ``hotspot_id, block, days, treated_days, share, expected_share, z`` (``z`` is the
        share's distance from the expected share in binomial standard errors).
    by_dow
        ``dow`` (0 = Monday), ``weekday``, ``days``, ``hotspot_days``, ``treated``, ``share``.
    by_block
        ``block, hotspots, hotspot_days, treated, share, expected_share``.
    """

    first_day: dt.date
    last_day: dt.date
    n_days: int
    by_hotspot: pd.DataFrame
    by_dow: pd.DataFrame
    by_block: pd.DataFrame

    def to_dict(self) -> dict:
        """JSON-ready result."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                    for row in frame.to_dict(orient="records")]

        return {"first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "days": self.n_days, "by_hotspot": records(self.by_hotspot),
                "by_dow": records(self.by_dow), "by_block": records(self.by_block)}

    def summary(self) -> str:
        """A readable report."""
        h = self.by_hotspot
        far = h[h["z"].abs() > 2]
        lines = [f"Balance of the published allocation, {self.first_day} to {self.last_day} "
                 f"({self.n_days} days)",
                 f"Share of treated days per hotspot: min {h['share'].min():.3f}, "
                 f"median {h['share'].median():.3f}, max {h['share'].max():.3f}; "
                 f"{len(far)} of {len(h)} more than 2 SE from the design's probability",
                 "", "By block:", self.by_block.to_string(index=False, float_format="%.3f"),
                 "", "By day of week:", self.by_dow.to_string(index=False, float_format="%.3f"),
                 "", "By hotspot:", h.to_string(index=False, float_format="%.3f")]
        return "\n".join(lines)


def balance_summary(config: TrialConfig, *, first: dt.date | None = None,
                    last: dt.date | None = None, now: dt.datetime | None = None) -> BalanceResult:
    """Balance of the published allocation up to today's experimental day (see the module
    docstring); days published ahead are left out, so the balance reveals nothing of them."""
    hotspots = load_trial_hotspots(config)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    today = experimental_day(moment, config.trial.tz, config.trial.day_start_time)
    last = today if last is None else min(last, today)
    records = published(config, first=first, last=last, hotspots=hotspots)
    if not records:
        raise StoreError("no published schedules yet", where=config.trial.store,
                         fix="publish days with 'guardian-rct schedule' first")
    ids = [str(h) for h in hotspots.ids]
    matrix = np.array([[h in r.content["treated"] for h in ids] for r in records], dtype=bool)
    days = [r.day for r in records]
    design = design_from_config(config, hotspots)
    index = [(d - config.trial.start_date).days for d in days]
    expected = design.probabilities()[index]
    blocks = np.asarray(hotspots.blocks, dtype=object)
    n = len(days)
    share = matrix.mean(axis=0)
    p = expected.mean(axis=0)
    se = np.sqrt(p * (1 - p) / n)
    by_hotspot = pd.DataFrame({
        "hotspot_id": ids, "block": blocks, "days": n, "treated_days": matrix.sum(axis=0),
        "share": share, "expected_share": p,
        "z": np.divide(share - p, se, out=np.zeros_like(share), where=se > 0),
    })
    dows = np.array([d.weekday() for d in days])
    rows = []
    for dow in range(7):
        sel = dows == dow
        if sel.any():
            rows.append({"dow": dow, "weekday": calendar.day_name[dow], "days": int(sel.sum()),
                         "hotspot_days": int(sel.sum()) * len(ids),
                         "treated": int(matrix[sel].sum()), "share": float(matrix[sel].mean())})
    by_dow = pd.DataFrame(rows)
    rows = []
    for block in sorted(set(blocks)):
        cols = blocks == block
        rows.append({"block": block, "hotspots": int(cols.sum()), "hotspot_days": int(cols.sum()) * n,
                     "treated": int(matrix[:, cols].sum()), "share": float(matrix[:, cols].mean()),
                     "expected_share": float(expected[:, cols].mean())})
    by_block = pd.DataFrame(rows)
    return BalanceResult(days[0], days[-1], n, by_hotspot, by_dow, by_block)
