"""Declare the trial's design from its config: ``[design]`` and the hotspot set.

``kind = "crossover"`` gives a :class:`~guardian_rct.design.crossover.CrossoverDesign`
(treated per day split across blocks by :func:`~guardian_rct.design.protocol.proportional_counts`,
or a count per block, or a probability); ``kind = "parallel"`` a
:class:`~guardian_rct.design.parallel.ParallelDesign`. This is the one place that reads
the kind: everything downstream uses the :class:`~guardian_rct.design.protocol.Design`
protocol.
"""

from __future__ import annotations

import datetime as dt

from guardian_rct._core.days import date_range
from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.crossover import CrossoverDesign, check_block_counts
from guardian_rct.design.parallel import parallel_design_from_config
from guardian_rct.design.protocol import Design, block_index, proportional_counts
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["design_from_config"]


def _trial_days(config: TrialConfig) -> tuple[dt.date, ...]:
    return tuple(date_range(config.trial.start_date, config.trial.end_date))


def design_from_config(config: TrialConfig, hotspots: HotspotSet, *,
                       covariate: dict[str, float] | None = None) -> Design:
    """Declare the trial's design from ``[design]`` and the hotspot set.

    Parameters
    ----------
    config
        The trial config.
    hotspots
        The trial's hotspots (their order and blocks fix the columns of every array).
    covariate
        For matched-pair parallel designs: hotspot id → baseline value to pair on (e.g.
        prior violence). When omitted, the hotspot file's ``design.pair_covariate``
        column is read.
    """
    spec = config.design
    ids = tuple(str(h) for h in hotspots.ids)
    blocks = tuple(str(b) for b in hotspots.blocks)
    days = _trial_days(config)
    if spec.kind == "parallel":
        return parallel_design_from_config(config, ids, blocks, days, covariate=covariate)
    sizes = {b: len(m) for b, m in block_index(blocks).items()}
    if spec.treated_per_day is not None:
        if spec.treated_per_day > len(ids):
            raise ConfigError("more hotspots treated per day than there are hotspots",
                              expected=f"at most {len(ids)}", found=str(spec.treated_per_day),
                              where="design.treated_per_day", fix="lower treated_per_day")
        per_block = proportional_counts(spec.treated_per_day, sizes)
    elif spec.treated_per_block_per_day is not None:
        per_block = {b: spec.treated_per_block_per_day for b in sizes}
    else:
        per_block = None
    if per_block is not None:
        check_block_counts(per_block, sizes)
    return CrossoverDesign(
        hotspot_ids=ids,
        blocks=blocks,
        days=days,
        treated_per_block=tuple(sorted(per_block.items())) if per_block is not None else None,
        prob_treated=spec.prob_treated if per_block is None else None,
        max_consecutive_control_days=spec.max_consecutive_control_days,
        min_gap_days=spec.min_gap_days,
    )
