"""From a ping file to visits: read in chunks, validate, assign to hotspots, group.

:func:`score_pings` is the one entry point; ``engine="local"`` streams the file(s) in
this process (memory: the in-hotspot pings, 22 bytes each, plus 8 bytes per used ping
for duplicate detection, plus one chunk), ``engine="dask"`` runs the same kernels over
the partitions of a Parquet dataset on a Dask cluster (:mod:`guardian_rct.compliance.dask_engine`).
Both give identical visits, counts and quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.quarantine import Quarantine, concat_quarantines
from guardian_rct.compliance.pings import PingOptions, area_around, iter_ping_chunks, ping_files
from guardian_rct.compliance.visits import Visits, visit_kernel, visits_from_arrays
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.point_index import HotspotIndex, LonLatGrid, assign_points, build_index

__all__ = ["PingScore", "score_pings", "ping_options_for", "assign_chunk", "Codes", "visits_from_compact",
           "track_labels"]

_NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True)
class PingScore:
    """Visits made from a ping file, and what happened to every row read.

    ``n_read = n_used + len(quarantine)``; ``n_in_hotspots`` counts used pings inside
    at least one (grown) hotspot.
    """

    visits: Visits
    quarantine: Quarantine
    n_read: int
    n_used: int
    n_in_hotspots: int
    sources: tuple[str, ...] = ()

    def counts(self) -> dict:
        """Row counts and quarantine reasons, JSON-ready."""
        return {"read": self.n_read, "used": self.n_used, "quarantined": len(self.quarantine),
                "in_hotspots": self.n_in_hotspots, "quarantine_reasons": self.quarantine.counts()}


class Codes:
    """Stable integer codes for strings met across chunks."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, values: np.ndarray) -> np.ndarray:
        codes, uniques = pd.factorize(values, sort=False)
        mapping = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques):
            code = self._index.get(value)
            if code is None:
                code = self._index[value] = len(self.values)
                self.values.append(value)
            mapping[i] = code
        return mapping[codes] if len(codes) else np.empty(0, dtype=np.int32)


_SEP = "\x1f"


def ping_options_for(hotspots: HotspotSet, rules: ComplianceSpec, *, timezone: str | None = None,
                     chunk_rows: int = 1_000_000) -> PingOptions:
    """Ping options for a trial: its CRS, accuracy threshold, plausible area, and the
    longitude/latitude cells near its (grown) hotspots, outside which pings are not
    projected (they cannot be in a hotspot)."""
    area = area_around(hotspots.frame.total_bounds)
    grown = hotspots.frame.geometry.buffer(rules.gps_tolerance_m + 50.0)
    lonlat = grown.to_crs("EPSG:4326").bounds.to_numpy()
    box = gpd.GeoSeries([shapely.box(*area)], crs=hotspots.crs).to_crs("EPSG:4326").total_bounds
    return PingOptions(crs=hotspots.crs.to_string(), timezone=timezone,
                       max_accuracy_m=rules.max_accuracy_m, area=area,
                       area_lonlat=tuple(float(v) for v in box), near=LonLatGrid.from_bounds(lonlat),
                       chunk_rows=chunk_rows)


def assign_chunk(index: HotspotIndex, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(row, hotspot) pairs of a validated chunk (rows without x/y are far from every
    hotspot and skipped)."""
    x = frame["x"].to_numpy()
    y = frame["y"].to_numpy()
    known = np.isfinite(x)
    if known.all():
        return assign_points(index, x, y)
    rows = np.flatnonzero(known)
    point, hotspot = assign_points(index, x[rows], y[rows])
    return rows[point], hotspot


def visits_from_compact(tracks: np.ndarray, teams: np.ndarray, hotspot: np.ndarray, t: np.ndarray,
                        team_code: np.ndarray, track_code: np.ndarray, hotspot_ids: np.ndarray,
                        rules: ComplianceSpec) -> Visits:
    """Run the visit kernel on compact in-hotspot pings and label the result.

    ``tracks`` holds ``device<US>officer`` strings by track code, ``teams`` team names by
    team code.
    """
    kernel = visit_kernel(track_code, hotspot, t,
                          max_gap_ns=int(round(rules.max_ping_gap_minutes * _NS_PER_MIN)),
                          min_visit_ns=int(round(rules.min_visit_minutes * _NS_PER_MIN)))
    split = [str(v).split(_SEP, 1) for v in tracks]
    devices = np.array([s[0] for s in split], dtype=object)
    officers = np.array([s[1] if len(s) > 1 else "" for s in split], dtype=object)
    return visits_from_arrays(kernel, devices=devices, officers=officers, teams=np.asarray(teams, dtype=object),
                              team_of_first=team_code[kernel["first"]], hotspot_ids=hotspot_ids)


def track_labels(frame: pd.DataFrame) -> np.ndarray:
    """``device<US>officer`` per row (the track identity)."""
    return frame["device_id"].astype(str) + _SEP + frame["officer_id"].astype(str)


def score_pings(path: str | Path, hotspots: HotspotSet, rules: ComplianceSpec, *,
                options: PingOptions | None = None, engine: Literal["local", "dask"] = "local",
                scheduler: str | None = None, n_workers: int = 2,
                processes: bool = True) -> PingScore:
    """Read, validate and assign every ping at ``path``; group them into visits.

    Parameters
    ----------
    path
        A CSV or Parquet file, or a folder of them (a partitioned Parquet dataset).
    hotspots
        The trial's hotspots (metric CRS).
    rules
        ``[compliance]``: ``gps_tolerance_m``, ``max_ping_gap_minutes``,
        ``min_visit_minutes``, ``max_accuracy_m``.
    engine
        ``"local"`` (this process, streaming) or ``"dask"`` (partitions on a Dask cluster:
        ``scheduler`` address, or a local cluster of ``n_workers``).
    """
    options = options or ping_options_for(hotspots, rules)
    if engine == "dask":
        from guardian_rct.compliance.dask_engine import score_pings_dask

        return score_pings_dask(path, hotspots, rules, options=options, scheduler=scheduler,
                                n_workers=n_workers, processes=processes)
    index = build_index(hotspots.frame.geometry.to_numpy(), tolerance_m=rules.gps_tolerance_m)
    tracks, teams = Codes(), Codes()
    parts: list[tuple[np.ndarray, ...]] = []
    quarantines: list[Quarantine] = []
    n_read = n_used = n_in = 0
    for chunk in iter_ping_chunks(path, options):
        frame = chunk.frame
        n_read += chunk.n_read
        n_used += len(frame)
        if len(chunk.quarantine):
            quarantines.append(chunk.quarantine)
        if frame.empty:
            continue
        row, hot = assign_chunk(index, frame)
        n_in += int(np.count_nonzero(np.diff(row, prepend=-1)))
        sub = frame.iloc[row]
        parts.append((tracks.encode(track_labels(sub)), teams.encode(sub["team"]),
                      hot.astype(np.int16), sub["time"].astype("int64").to_numpy()))
    if parts:
        track_code, team_code, hot, t = (np.concatenate(p) for p in zip(*parts, strict=True))
    else:
        track_code = team_code = np.empty(0, dtype=np.int32)
        t = np.empty(0, dtype=np.int64)
        hot = np.empty(0, dtype=np.int16)
    visits = visits_from_compact(np.array(tracks.values, dtype=object), np.array(teams.values, dtype=object),
                                 hot, t, team_code, track_code, hotspots.ids, rules)
    return PingScore(visits=visits, quarantine=concat_quarantines(quarantines), n_read=n_read,
                     n_used=n_used, n_in_hotspots=n_in,
                     sources=tuple(str(p) for p in ping_files(path)))
