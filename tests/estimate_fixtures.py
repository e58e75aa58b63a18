"""Test helpers: the package's own designs, and synthetic panels with a known effect.

The designs are the real ones (:class:`guardian_rct.design.crossover.CrossoverDesign`,
:class:`guardian_rct.design.parallel.ParallelDesign`), so estimators and randomisation
inference are tested on the objects a trial uses. :func:`configured_design` goes the
whole way a trial does, ``[design]`` of a :class:`~guardian_rct.config.trial_config.TrialConfig`
plus a :class:`~guardian_rct.geo.hotspots.HotspotSet` through
:func:`~guardian_rct.design.factory.design_from_config`. :func:`make_panel` draws the
allocation from the design and simulates outcomes with a known multiplicative effect in
the panel schema of ``docs/contracts.md``. The scripts ``simulation_study.py`` and
``bench_ri.py`` import these helpers too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct.config.trial_config import config_from_dict
from guardian_rct.design.crossover import CrossoverDesign
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.parallel import ParallelDesign
from guardian_rct.design.protocol import Design
from guardian_rct.geo.hotspots import hotspots_from_frame

__all__ = ["START", "hotspot_ids", "crossover_design", "parallel_design", "configured_design",
           "make_panel"]

START = dt.date(2023, 1, 2)


def hotspot_ids(n: int) -> tuple[str, ...]:
    """``H001``, ``H002``, …"""
    return tuple(f"H{i + 1:03d}" for i in range(n))


def _days(n_days: int, start: dt.date) -> tuple[dt.date, ...]:
    return tuple(start + dt.timedelta(days=i) for i in range(n_days))


def crossover_design(n_hotspots: int, n_days: int, *, treated_per_block: Mapping[str, int] | int,
                     blocks: Sequence[str] | None = None, start: dt.date = START) -> CrossoverDesign:
    """The package's crossover design: ``k_b`` of block ``b``'s hotspots treated every day."""
    blocks = tuple(blocks) if blocks is not None else ("A",) * n_hotspots
    if isinstance(treated_per_block, int):
        treated_per_block = {b: treated_per_block for b in set(blocks)}
    return CrossoverDesign(hotspot_ids=hotspot_ids(n_hotspots), blocks=blocks,
                           days=_days(n_days, start),
                           treated_per_block=tuple(sorted(treated_per_block.items())))


def parallel_design(n_hotspots: int, n_days: int, *, n_treated: int,
                    start: dt.date = START) -> ParallelDesign:
    """The package's parallel design, complete assignment of ``n_treated`` hotspots."""
    return ParallelDesign(hotspot_ids(n_hotspots), ("A",) * n_hotspots, _days(n_days, start),
                          "complete", (tuple(range(n_hotspots)),), group_counts=(n_treated,))


def configured_design(n_hotspots: int, n_days: int, *, treated_per_day: int,
                      start: dt.date = START) -> Design:
    """A crossover design declared as a trial declares it: TOML-shaped config + hotspot set.

    The hotspots are 100 m squares on a grid in British National Grid (no blocks);
    ``[design] kind = "crossover", treated_per_day = ...`` goes through
    :func:`~guardian_rct.design.factory.design_from_config`.
    """
    squares = [shapely.box(400_000 + 300 * (i % 10), 280_000 + 300 * (i // 10),
                           400_100 + 300 * (i % 10), 280_100 + 300 * (i // 10))
               for i in range(n_hotspots)]
    frame = gpd.GeoDataFrame({"hotspot_id": list(hotspot_ids(n_hotspots))}, geometry=squares,
                             crs="EPSG:27700")
    hotspots = hotspots_from_frame(frame)
    config = config_from_dict({
        "trial": {"name": "simulated trial", "start_date": start,
                  "end_date": start + dt.timedelta(days=n_days - 1), "seed": 1},
        "hotspots": {"path": "hotspots.geojson"},
        "design": {"kind": "crossover", "treated_per_day": treated_per_day},
    })
    return design_from_config(config, hotspots)


def make_panel(design: Design, rng: np.random.Generator, *, irr: float = 0.8,
               mean_rate: float = 0.3, hotspot_sd: float = 0.6, day_sd: float = 0.2,
               overdispersion: float | None = None, outcome: str = "violence",
               delivered_rate: float = 1.0, contamination_rate: float = 0.0,
               assignment: np.ndarray | None = None) -> pd.DataFrame:
    """A panel frame of the contract schema with a known multiplicative effect.

    The allocation is ``design.draw(rng)`` (or ``assignment``). The rate is
    ``mean_rate · exp(hotspot + day effects) · irr^(patrol present)``; a patrol is present
    on treated days with probability ``delivered_rate`` and on control days with
    ``contamination_rate`` (so the ITT rate ratio is diluted when compliance is partial).
    Counts are Poisson (or NB2 with shape ``overdispersion``); harm is the sum over events
    of heavy-tailed (lognormal) CCHI days, so its rate ratio is ``irr`` too.
    """
    T = design.draw(rng) if assignment is None else assignment
    n_days, n_hot = T.shape
    a = rng.normal(0, hotspot_sd, n_hot)
    g = rng.normal(0, day_sd, n_days)
    base_rate = mean_rate * np.exp(a[None, :] + g[:, None])
    delivered = np.where(T, rng.random(T.shape) < delivered_rate, False)
    contaminated = np.where(~T, rng.random(T.shape) < contamination_rate, False)
    present = delivered | contaminated
    rate = base_rate * np.where(present, irr, 1.0)
    if overdispersion is not None:
        rate = rate * rng.gamma(overdispersion, 1 / overdispersion, rate.shape)
    counts = rng.poisson(rate)
    total = int(counts.sum())
    weights = rng.lognormal(1.0, 1.5, total)
    owner = np.repeat(np.arange(counts.size), counts.ravel())
    harm = np.bincount(owner, weights=weights, minlength=counts.size).reshape(counts.shape)
    dosage = np.where(present, rng.gamma(2.0, 8.0, T.shape), 0.0)
    baseline = rng.poisson(365 * mean_rate * np.exp(a))
    days = pd.to_datetime(pd.Series(design.days).repeat(n_hot).to_numpy())
    probs = design.probabilities()
    frame = pd.DataFrame({
        "hotspot_id": np.tile(design.hotspot_ids, n_days),
        "block": np.tile(design.blocks, n_days),
        "date": days,
        "day_index": np.repeat(np.arange(n_days), n_hot),
        "dow": days.day_of_week,
        "arm": np.where(T.ravel(), "treatment", "control"),
        "treated": T.ravel().astype(int),
        "p_treated": probs.ravel(),
        f"count_{outcome}": counts.ravel(),
        f"harm_{outcome}": harm.ravel(),
        f"baseline_count_{outcome}": np.tile(baseline, n_days),
        f"baseline_harm_{outcome}": np.tile(baseline * 8.0, n_days).astype(float),
        "delivered": delivered.ravel().astype(int),
        "dosage_minutes": dosage.ravel(),
        "contaminated": contaminated.ravel().astype(int),
    })
    # the mean of exp(day effect) over the panel's days: what a complier effect in levels
    # averages over (scripts/simulation_followups.py::cace_study)
    frame.attrs["mean_day_factor"] = float(np.exp(g).mean())
    return frame


def all_crossover_allocations(n_hotspots: int, n_days: int, per_day: int) -> np.ndarray:
    """Every allocation of an unblocked crossover design (``per_day`` of ``n_hotspots``
    patrolled each day), bool ``(C(n, k)**days, days, hotspots)`` in a fixed order, from
    :mod:`itertools` rather than from the design: the reference for exact randomisation
    distributions (Fisher 1935; Imbens & Rubin 2015, §5.3)."""
    import itertools

    out = []
    for subsets in itertools.product(itertools.combinations(range(n_hotspots), per_day), repeat=n_days):
        t = np.zeros((n_days, n_hotspots), dtype=bool)
        for d, subset in enumerate(subsets):
            t[d, list(subset)] = True
        out.append(t)
    return np.array(out)


def day_grid_panel(design, counts: np.ndarray, treated: np.ndarray, *, column: str = "count_x",
                   with_probabilities: bool = False) -> pd.DataFrame:
    """A panel frame from ``(days, hotspots)`` arrays of counts and assignment, rows day by
    day in the design's hotspot order (the layout the exact-RI tests enumerate)."""
    n_days, n_hot = counts.shape
    frame = {"hotspot_id": np.tile(design.hotspot_ids, n_days),
             "day_index": np.repeat(np.arange(n_days), n_hot),
             "treated": treated.ravel().astype(int)}
    if with_probabilities:
        frame["p_treated"] = design.probabilities().ravel()
    frame[column] = counts.ravel()
    return pd.DataFrame(frame)
