"""Pings to hotspots to visits: the pieces the local and the Dask engines share.

A validated chunk of pings is assigned to hotspots with the point-in-hotspot index
(:mod:`guardian_rct.geo.point_index`); the in-hotspot pings are kept compactly (track,
team and hotspot codes and a time, 22 bytes each) and grouped into visits by the visit
kernel (:mod:`guardian_rct.compliance.visits`: a gap over ``max_ping_gap_minutes`` ends
a visit, a stay under ``min_visit_minutes`` is not one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.quarantine import Quarantine
from guardian_rct.compliance.code_kernels import first_seen
from guardian_rct.compliance.ping_types import PingChunk, PingExtent, PingOptions
from guardian_rct.compliance.pings import area_around
from guardian_rct.compliance.visits import Visits, visit_kernel, visits_from_arrays
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.lonlat_index import LonLatIndex, assign_lonlat, build_lonlat_index
from guardian_rct.geo.point_index import HotspotIndex, LonLatGrid, assign_points, build_index

__all__ = ["PingScore", "ping_options_for", "hotspot_index", "assign_chunk", "assign_known", "Codes", "TrackCodes", "visits_from_compact",
           "track_labels"]

_NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True)
class PingScore:
    """Visits made from a ping file, and what happened to every row read.

    ``n_read = n_used + len(quarantine)``; ``n_in_hotspots`` counts used pings inside
    at least one (grown) hotspot. ``last_ping`` is the latest usable fix (UTC; ``None``
    when no row was usable): the data end there, so a later deadline is pending.
    """

    visits: Visits
    quarantine: Quarantine
    n_read: int
    n_used: int
    n_in_hotspots: int
    sources: tuple[str, ...] = ()
    last_ping: pd.Timestamp | None = None
    extent: PingExtent = field(default_factory=PingExtent)

    def counts(self) -> dict:
        """Row counts and quarantine reasons, JSON-ready."""
        return {"read": self.n_read, "used": self.n_used, "quarantined": len(self.quarantine),
                "in_hotspots": self.n_in_hotspots, "quarantine_reasons": self.quarantine.counts(),
                "last_ping": self.last_ping.isoformat() if self.last_ping is not None else None}


class Codes:
    """Stable integer codes for strings met across chunks."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """The code of each value (new values get the next codes, in order of appearance)."""
        codes, uniques = pd.factorize(values, sort=False)
        return self._codes_of(uniques)[codes] if len(codes) else np.empty(0, dtype=np.int32)

    def encode_indices(self, words: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """``encode(words[indices])`` without taking a string per row: the distinct indices
        are coded, in order of first appearance (entries equal as text share a code), and
        each ping's code looked up by its index (:func:`~guardian_rct.compliance.code_kernels.first_seen`)."""
        first = first_seen(indices, len(words))
        table = np.zeros(len(words), dtype=np.int32)  # entries no ping uses are never looked up
        table[first] = self._codes_of(words[first])
        return table[indices]

    def _codes_of(self, uniques: pd.Index | np.ndarray) -> np.ndarray:
        """The code of each of ``uniques`` (distinct values, or equal ones sharing a code)."""
        mapping = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques):
            code = self._index.get(value)
            if code is None:
                code = self._index[value] = len(self.values)
                self.values.append(value)
            mapping[i] = code
        return mapping


_SEP = "\x1f"


class TrackCodes:
    """Stable integer codes for tracks (device, officer) met across chunks, without
    building a ``device<US>officer`` string per ping: devices and officers are coded
    separately and only each distinct pair is labelled (:meth:`labels`)."""

    _SHIFT = 31

    def __init__(self) -> None:
        self.devices, self.officers, self._pairs = Codes(), Codes(), Codes()

    def encode_indices(self, device: tuple[np.ndarray, np.ndarray], officer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The track code of each ping given its device and officer as (dictionary entries,
        indices) (:meth:`Codes.encode_indices`): pairs are coded in order of first appearance,
        as the ``device<US>officer`` labels would be by :meth:`Codes.encode`."""
        pair = ((self.devices.encode_indices(*device).astype(np.int64) << self._SHIFT)
                | self.officers.encode_indices(*officer))
        return self._pairs.encode(pair)

    def labels(self) -> np.ndarray:
        """``device<US>officer`` by track code (what :func:`visits_from_compact` takes)."""
        mask = (1 << self._SHIFT) - 1
        return np.array([self.devices.values[p >> self._SHIFT] + _SEP + self.officers.values[p & mask]
                         for p in self._pairs.values], dtype=object)


def ping_options_for(hotspots: HotspotSet, rules: ComplianceSpec, *, timezone: str | None = None,
                     chunk_rows: int = 400_000, index: HotspotIndex | None = None) -> PingOptions:
    """Ping options for a trial: its CRS, accuracy threshold, plausible area, and its
    (grown) hotspots in degrees, so that longitude/latitude pings are assigned without
    being projected (:mod:`~guardian_rct.geo.lonlat_index`; when the degree polygons
    cannot be made exact enough, the longitude/latitude cells near the hotspots, outside
    which pings are not projected). ``index`` is the trial's exact index, if built."""
    area = area_around(hotspots.frame.total_bounds)
    box = gpd.GeoSeries([shapely.box(*area)], crs=hotspots.crs).to_crs("EPSG:4326").total_bounds
    metric = index if index is not None else hotspot_index(hotspots, rules)
    locate = build_lonlat_index(metric, hotspots.crs)
    near = None
    if locate is None:
        grown = hotspots.frame.geometry.buffer(rules.gps_tolerance_m + 50.0)
        near = LonLatGrid.from_bounds(grown.to_crs("EPSG:4326").bounds.to_numpy())
    return PingOptions(crs=hotspots.crs.to_string(), timezone=timezone,
                       max_accuracy_m=rules.max_accuracy_m, area=area,
                       area_lonlat=tuple(float(v) for v in box), near=near, locate=locate,
                       chunk_rows=chunk_rows)


def hotspot_index(hotspots: HotspotSet, rules: ComplianceSpec) -> HotspotIndex:
    """The exact point-in-hotspot index of the trial's hotspots grown by ``gps_tolerance_m``."""
    return build_index(hotspots.frame.geometry.to_numpy(), tolerance_m=rules.gps_tolerance_m)


def assign_chunk(index: HotspotIndex, chunk: PingChunk,
                 locate: LonLatIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(row, hotspot) pairs of a validated chunk: in degrees with ``locate`` when the
    chunk kept its pings' degrees (:attr:`PingChunk.lonlat`), else from x/y (rows without
    x/y are far from every hotspot and skipped)."""
    if chunk.lonlat is not None:
        if locate is None:
            raise ValueError("assign_chunk: the chunk kept degrees (PingOptions.locate); pass that index")
        return assign_lonlat(locate, *chunk.lonlat)
    frame = chunk.frame
    return assign_known(index, frame["x"].to_numpy(), frame["y"].to_numpy())


def assign_known(index: HotspotIndex, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, hotspot) pairs of trial-CRS points, skipping rows without x/y (NaN: pings not
    projected, being far from every hotspot)."""
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
