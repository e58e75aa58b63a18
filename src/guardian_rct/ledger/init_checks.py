"""Prove that a design can run before ``guardian-rct init`` registers it.

A registered design cannot be changed (it fixes what is drawn), so a design that can
never publish must be refused *before* it is registered, with the reason. The checks:

1. the patrol windows fit the experimental day and can hold the visits
   (:func:`guardian_rct.design.patrol_times.check_windows`);
2. the design can be declared on these hotspots (no more treated than hotspots, no block
   treated on every day or on none: :func:`guardian_rct.design.factory.design_from_config`);
3. a dry run draws every day of the trial, schedules included, in memory (a constrained
   design that becomes infeasible on some day fails here, naming the day);
4. the hotspot geometry: no overlaps, no zero-area polygons, nothing outside the force
   boundary when one is configured, and coordinates that look metric (a file whose
   coordinates all fit in ±180/±90 declared as a projected CRS is in degrees).

Each failure raises :class:`~guardian_rct._core.errors.ConfigError` or
:class:`~guardian_rct._core.errors.DataError` naming the key or file and the fix.
"""

from __future__ import annotations

import numpy as np

from guardian_rct._core.days import date_range
from guardian_rct._core.errors import ConfigError, DataError, GuardianError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.daily_draw import arms_from_payload, draw_schedule_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.patrol_times import check_windows
from guardian_rct.geo.checks import check_hotspots, read_boundary
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["check_design_runs", "check_hotspot_geometry"]

_MIN_AREA_M2 = 1.0


def check_design_runs(config: TrialConfig, hotspots: HotspotSet) -> int:
    """Declare the design and draw every trial day in memory; return the days drawn.

    Raises
    ------
    ConfigError
        Windows that cannot hold the visits, more treated than hotspots, a block that
        would be treated always or never, or a day the design cannot draw.
    """
    check_windows(config.design, config.trial.day_start_time)
    design = design_from_config(config, hotspots)
    ids = tuple(str(h) for h in design.hotspot_ids)
    history: list[np.ndarray] = []
    day = config.trial.start_date
    try:
        for day in date_range(config.trial.start_date, config.trial.end_date):
            hist = (np.array(history, dtype=bool).reshape(len(history), len(ids))
                    if design.constrained else None)
            history.append(arms_from_payload(draw_schedule_payload(config, design, day, hist), ids))
    except GuardianError as exc:
        raise ConfigError(f"the design cannot draw experimental day {day}: {exc.problem}",
                          where="design", fix=exc.fix or "relax the constraints or treat more "
                          "hotspots a day") from None
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"the design cannot draw experimental day {day} ({exc})", where="design",
                          fix="relax the constraints or treat more hotspots a day") from None
    return len(history)


def check_hotspot_geometry(config: TrialConfig, hotspots: HotspotSet) -> None:
    """Refuse overlapping, zero-area, out-of-boundary or degree-valued hotspots.

    Raises
    ------
    DataError
        Naming the hotspot file, the first problem and the fix.
    """
    where = hotspots.source or config.hotspots.path
    check = check_hotspots(hotspots, read_boundary(config.hotspots.boundary, crs=config.hotspots.crs)
                           if config.hotspots.boundary else None)
    table = check.table
    x, y = table["centroid_x"].abs(), table["centroid_y"].abs()
    if len(table) and (x <= 180).all() and (y <= 90).all():
        raise DataError("the hotspot coordinates look like degrees, not metres",
                        expected=f"metric coordinates in {config.hotspots.crs}",
                        found=f"every centroid within ±180/±90 (e.g. {table.centroid_x.iloc[0]:.4f}, "
                              f"{table.centroid_y.iloc[0]:.4f})", where=where,
                        fix="declare the file's real CRS (e.g. EPSG:4326) in its metadata or "
                            "[hotspots] crs, or reproject it")
    tiny = table[table["area_m2"] < _MIN_AREA_M2]
    if len(tiny):
        first = tiny.iloc[0]
        raise DataError(f"hotspot {first.hotspot_id} has no area ({first.area_m2:.3g} m²)",
                        expected=f"polygons of at least {_MIN_AREA_M2:g} m²",
                        found=f"{len(tiny)} degenerate polygon(s)", where=where,
                        fix="fix or remove the degenerate polygons")
    problems = check.problems()
    if problems:
        raise DataError(f"the hotspots cannot be registered: {problems[0]}",
                        found=f"{len(problems)} problem(s)", where=where,
                        fix="run 'guardian-rct hotspots validate' and fix the polygons")
