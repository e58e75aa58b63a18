"""Panels for the report and evaluation tests.

:func:`built_trial` is a small trial made with the package's own parts end to end: a
:class:`~guardian_rct.config.trial_config.TrialConfig`, six hotspot squares
(:class:`~guardian_rct.geo.hotspots.HotspotSet`), the design of
:func:`~guardian_rct.design.factory.design_from_config`, an allocation drawn from it,
simulated crime records and compliance, and the panel of
:func:`~guardian_rct.crimes.panel.build_panel` with its buffer rings, so that
randomisation inference can re-draw the very design the panel came from.

:func:`synthetic_panel` is a hand-made frame in the panel schema (docs/contracts.md,
"Panel"), still used by the balance, flow and displacement tests.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from conftest import make_hotspots
from guardian_rct.config.trial_config import TrialConfig, config_from_dict
from guardian_rct.crimes.panel import Panel, build_panel
from guardian_rct.crimes.records import crimes_from_frame
from guardian_rct.design.allocation import allocation_from_frame
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.protocol import Design
from guardian_rct.estimation.results import Estimate, FirstStage
from guardian_rct.geo.hotspots import HotspotSet, hotspots_from_frame
from guardian_rct.geo.rings import buffer_rings

OUTCOMES = ("all_crime", "violence")
RINGS = ("0-100", "100-200")


def synthetic_panel(*, n_hotspots: int = 6, n_days: int = 28, treated_per_day: int = 3,
                    seed: int = 7, effect: float = 0.7, start: dt.date = dt.date(2023, 3, 20),
                    compliance: bool = True, zero_outcome: str | None = None,
                    parallel: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A (panel frame, rings frame) pair with known structure.

    Crossover by default (``treated_per_day`` of ``n_hotspots`` each day); ``parallel``
    treats the first half of hotspots every day.
    """
    rng = np.random.default_rng(seed)
    ids = [f"H{i + 1:02d}" for i in range(n_hotspots)]
    days = [start + dt.timedelta(days=d) for d in range(n_days)]
    rows = []
    base_rate = {h: 0.5 + 0.2 * j for j, h in enumerate(ids)}
    for d_i, day in enumerate(days):
        if parallel:
            treated = set(ids[: n_hotspots // 2])
        else:
            treated = set(rng.choice(ids, size=treated_per_day, replace=False))
        for h in ids:
            t = int(h in treated)
            rows.append({"hotspot_id": h, "block": "A" if int(h[1:]) % 2 else "B",
                         "date": pd.Timestamp(day), "day_index": d_i, "dow": day.weekday(),
                         "arm": "treatment" if t else "control", "treated": t,
                         "p_treated": treated_per_day / n_hotspots if not parallel else 0.5,
                         "window_start": pd.Timestamp(f"{day} 15:00", tz="UTC") if t else pd.NaT})
    frame = pd.DataFrame(rows)
    for k, o in enumerate(OUTCOMES):
        lam = frame["hotspot_id"].map(base_rate).to_numpy() * (1.0 if k == 0 else 0.4)
        lam = lam * np.where(frame["treated"] == 1, effect, 1.0)
        counts = rng.poisson(lam)
        if o == zero_outcome:
            counts = np.zeros_like(counts)
        frame[f"count_{o}"] = counts.astype(int)
        frame[f"harm_{o}"] = counts * 30.0
        frame[f"baseline_count_{o}"] = frame["hotspot_id"].map(base_rate).to_numpy() * 365 * (1 if k == 0 else 0.4)
        frame[f"baseline_harm_{o}"] = frame[f"baseline_count_{o}"] * 30.0
    if compliance:
        frame["delivered"] = np.where(frame["treated"] == 1, rng.random(len(frame)) < 0.8, 0).astype(int)
        frame["dosage_minutes"] = frame["delivered"] * 15.0
        frame["contaminated"] = np.where(frame["treated"] == 0, rng.random(len(frame)) < 0.1, 0).astype(int)
    frame = frame.sort_values(["date", "hotspot_id"]).reset_index(drop=True)
    ring_rows = []
    for ring in RINGS:
        part = frame[["hotspot_id", "date", "treated"]].copy()
        part["ring"] = ring
        for o in OUTCOMES:
            part[f"count_{o}"] = rng.poisson(0.3, len(part)) if o != zero_outcome else 0
            part[f"harm_{o}"] = part[f"count_{o}"] * 20.0
            part[f"baseline_count_{o}"] = 100.0 if o != zero_outcome else 0.0
        ring_rows.append(part.drop(columns=["treated"]))
    rings = pd.concat(ring_rows, ignore_index=True)
    return frame, rings


def synthetic_estimates(zero_outcome: str | None = None) -> list[Estimate]:
    """Estimate records like estimate.itt_estimates would return (values hand-picked)."""
    out = []
    for k, o in enumerate(OUTCOMES):
        if o == zero_outcome:
            nan = float("nan")
            out.append(Estimate(o, "ITT", "poisson_fe", nan, nan, nan, nan, nan, None, None, 168, 6))
            continue
        est, se = -0.30 + 0.1 * k, 0.12 + 0.03 * k
        out.append(Estimate(o, "ITT", "poisson_fe", est, se, est - 1.96 * se, est + 1.96 * se,
                            0.0124 + 0.1 * k, 0.0150 + 0.1 * k, float(np.exp(est)), 168, 6,
                            se_type="CR2", df=4.3 + k, ri_conf_low=float(np.exp(est - 2.2 * se)),
                            ri_conf_high=float(np.exp(est + 2.2 * se))))
        out.append(Estimate(o, "ITT", "negbin_fe", est * 0.9, se * 1.1, est * 0.9 - 1.96 * se * 1.1,
                            est * 0.9 + 1.96 * se * 1.1, 0.03 + 0.1 * k, None, float(np.exp(est * 0.9)),
                            168, 6, nb_theta=4.2 + k))
        out.append(Estimate(o, "CACE (patrol delivered)", "iv_2sls_fe", est / 0.8 * 0.5, se / 0.8 * 0.5,
                            (est - 1.96 * se) / 0.8 * 0.5, (est + 1.96 * se) / 0.8 * 0.5, 0.02 + 0.1 * k, None,
                            None, 168, 6, term="delivered", details="2SLS, instrument: assignment; CR1",
                            first_stage=FirstStage(coefficient=0.8, std_error=0.8 / 45.25 ** 0.5,
                                                   f_statistic=45.25, n_obs=168)))
        out.append(Estimate(o, "CACE rate ratio (patrol present on the day)", "iv_poisson_gmm_fe", est / 0.8,
                            se / 0.8, (est - 2.57 * se) / 0.8, (est + 2.57 * se) / 0.8, 0.0124 + 0.1 * k,
                            0.02 + 0.1 * k, float(np.exp(est / 0.8)), 168, 6, term="present_on_day",
                            first_stage=FirstStage(coefficient=0.8, std_error=0.8 / 45.25 ** 0.5,
                                                   f_statistic=45.25, n_obs=168),
                            se_type="CR1", df=5.0, ri_conf_low=float(np.exp((est - 2.8 * se) / 0.8)),
                            ri_conf_high=None))
        out.append(Estimate(o, "carry-over: patrol assigned yesterday", "poisson_fe_carryover", 0.05, 0.1,
                            0.05 - 0.2, 0.05 + 0.2, 0.6, None, float(np.exp(0.05)), 162, 6, term="treated_lag1"))
        out.append(Estimate(o, "days since last assigned patrol: 2 vs 1", "poisson_fe_days_since", -0.1, 0.15,
                            -0.4, 0.2, 0.5, None, float(np.exp(-0.1)), 162, 6, term="since_2",
                            notes=("12 hotspot-days in fixed-effect groups with no events left out",)))
    return out


BUILT_START = dt.date(2023, 3, 20)
LONDON = ZoneInfo("Europe/London")


def trial_config(*, end: dt.date = dt.date(2023, 4, 16), milestones: tuple[dt.date, ...] = (),
                 ri_draws: int = 500, baseline_days: int = 28) -> TrialConfig:
    """The config of :func:`built_trial`: 6 hotspots in blocks A/B, 3 patrolled a day."""
    return config_from_dict({
        "trial": {"name": "Test trial", "start_date": BUILT_START, "end_date": end, "seed": 5},
        "hotspots": {"path": "hotspots.geojson", "block_column": "block"},
        "design": {"kind": "crossover", "treated_per_day": 3},
        "evaluation": {"outcomes": list(OUTCOMES), "milestones": list(milestones), "ri_draws": ri_draws,
                       "baseline_days": baseline_days},
    })


@dataclass(frozen=True)
class BuiltTrial:
    """A small trial made with the package's parts (see the module docstring)."""

    config: TrialConfig
    hotspots: HotspotSet
    design: Design
    assignment: np.ndarray  # bool (n_days, n_hotspots): the allocation drawn from ``design``
    panel: Panel


@functools.lru_cache(maxsize=8)
def built_trial(*, n_days: int = 28, end: dt.date = dt.date(2023, 4, 16), seed: int = 7,
                effect: float = 0.7, compliance: bool = True,
                zero_outcome: str | None = None) -> BuiltTrial:
    """Build a trial through the package: config → design → allocation → crimes → panel.

    Crimes: Poisson counts per hotspot-day (rate 0.5 + 0.2·j for hotspot j, times
    ``effect`` on patrol days), 40% violence (``008/06``), the rest shoplifting, at local
    noon inside the hotspot; Poisson(0.3) crimes a day in each of the 0-100 m and
    100-200 m rings; the same rates over the baseline days before the trial. With
    ``compliance``, a patrol arrives on 80% of patrol-assigned hotspot-days (15 minutes)
    and is present on 10% of control days. ``zero_outcome="violence"`` records no violence.
    Cached: callers must not modify the panel frames.
    """
    config = trial_config(end=end)
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    design = design_from_config(config, hotspots)
    rng = np.random.default_rng(seed)
    assignment = np.asarray(design.draw(rng))[:n_days]
    ids = list(hotspots.ids)
    days = [BUILT_START + dt.timedelta(days=d) for d in range(n_days)]
    alloc_rows = []
    for d, day in enumerate(days):
        for j, h in enumerate(ids):
            if assignment[d, j]:
                start = pd.Timestamp(dt.datetime.combine(day, dt.time(15)), tz=LONDON)
                alloc_rows.append({"date": day.isoformat(), "hotspot_id": h, "arm": "treatment",
                                   "window_start": start.isoformat(),
                                   "window_end": (start + pd.Timedelta(hours=8)).isoformat()})
            else:
                alloc_rows.append({"date": day.isoformat(), "hotspot_id": h, "arm": "control",
                                   "window_start": "", "window_end": ""})
    allocation = allocation_from_frame(pd.DataFrame(alloc_rows))
    origins = [(geom.bounds[0], geom.bounds[1]) for geom in hotspots.frame.geometry]
    base = np.array([0.5 + 0.2 * j for j in range(len(ids))])
    crimes, n = [], 0
    baseline = config.evaluation.baseline_days
    for d in range(-baseline, n_days):
        day = BUILT_START + dt.timedelta(days=d)
        noon = pd.Timestamp(dt.datetime.combine(day, dt.time(12)), tz=LONDON).isoformat()
        treated = assignment[d] if d >= 0 else np.zeros(len(ids), dtype=bool)
        counts = rng.poisson(base * np.where(treated, effect, 1.0))
        for j, (x0, y0) in enumerate(origins):
            places = [(x0 + rng.uniform(10, 190), y0 + rng.uniform(10, 190)) for _ in range(counts[j])]
            places += [(x0 + rng.uniform(20, 180), y0 - 50) for _ in range(rng.poisson(0.3))]
            places += [(x0 + rng.uniform(20, 180), y0 - 150) for _ in range(rng.poisson(0.3))]
            for x, y in places:
                violent = zero_outcome != "violence" and rng.random() < 0.4
                n += 1
                crimes.append({"crime_id": f"C{n}", "offence_code": "008/06" if violent else "Shoplifting",
                               "occurred_at": noon, "x": round(x, 1), "y": round(y, 1), "victim_age": 20})
    crime_set = crimes_from_frame(pd.DataFrame(crimes), now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    comp = None
    if compliance:
        t = assignment.ravel()
        delivered = np.where(t, rng.random(t.size) < 0.8, False)
        comp = pd.DataFrame({"date": np.repeat(days, len(ids)), "hotspot_id": np.tile(ids, n_days),
                             "delivered": delivered.astype(int), "dosage_minutes": 15.0 * delivered,
                             "contaminated": np.where(~t, rng.random(t.size) < 0.1, False).astype(int)})
    panel = build_panel(config, hotspots, allocation, crime_set, rings=buffer_rings(hotspots, (100, 200)),
                        probabilities=design.probabilities(), compliance=comp)
    return BuiltTrial(config=config, hotspots=hotspots, design=design, assignment=assignment, panel=panel)
