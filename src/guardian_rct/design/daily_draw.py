"""Drawing one experimental day: its arms and patrol windows, as the canonical payload.

A day's allocation comes from the design's own stream for that day
(``SeedSequence(seed, spawn_key=(purpose, day))``, :mod:`guardian_rct._core.rng`) and its
patrol start times from the ``("patrol_times", day)`` stream, so drawing day 17 never
disturbs day 16 (DESIGN.md rule 2). The ledger stores the payload this module makes and
re-runs it to verify; it never redraws a published day.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from guardian_rct._core.canonical import canonical_json
from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.patrol_times import draw_patrol_times
from guardian_rct.design.protocol import Design

__all__ = ["allocation_stream", "draw_schedule_payload", "arms_from_payload"]


def allocation_stream(config: TrialConfig, design: Design, day: dt.date) -> np.random.Generator:
    """The stream a day's arms are drawn from: the trial seed and the design's key for the
    day (:meth:`Design.day_stream_key`; one fixed stream for parallel designs)."""
    return stream(config.trial.seed, *design.day_stream_key(day))


def draw_schedule_payload(config: TrialConfig, design: Design, day: dt.date,
                          history: np.ndarray | None) -> str:
    """Draw day ``day``'s schedule (arms and patrol windows) as canonical JSON.

    ``history`` holds the assignments of every earlier trial day (needed by constrained
    designs). Used by :func:`guardian_rct.ledger.publish.publish_range` and re-run by
    :func:`guardian_rct.ledger.verify.verify`.
    """
    rng = allocation_stream(config, design, day)
    arms = design.draw_day(rng, day, history)
    ids = np.asarray(design.hotspot_ids, dtype=object)
    treated_ids = ids[arms]
    times = draw_patrol_times(stream(config.trial.seed, "patrol_times", day), day,
                              len(treated_ids), config.design, config.trial.tz,
                              config.trial.day_start_time)
    minutes = np.timedelta64(config.design.patrol_minutes, "m")
    treated = {str(h): [[_iso(s), _iso(s + minutes)] for s in row]
               for h, row in zip(treated_ids, times, strict=True)}
    return canonical_json({"day": day.isoformat(), "design": design.kind, "treated": treated,
                       "control": [str(h) for h in ids[~arms]]})


def _iso(value: np.datetime64) -> str:
    return str(value.astype("datetime64[s]")) + "Z"


def arms_from_payload(payload: str, ids: tuple[str, ...]) -> np.ndarray:
    """Boolean arms (treated = True) of ``ids`` in a drawn day's payload."""
    treated = json.loads(payload)["treated"]
    return np.array([h in treated for h in ids], dtype=bool)
