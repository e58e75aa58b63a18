"""What the ping reader promises: its options, its quarantine reasons and its results.

These types are shared by :mod:`~guardian_rct.compliance.pings` (reading),
:mod:`~guardian_rct.compliance.ping_validation` (checking one chunk) and
:mod:`~guardian_rct.compliance.ping_dedupe` (exact duplicates), so they live apart from
all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from guardian_rct._core.quarantine import Quarantine, RowsAsRead
from guardian_rct.geo.lonlat_index import LonLatIndex
from guardian_rct.geo.point_index import LonLatGrid

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["REASONS", "DUPLICATE", "QUARANTINE_COLUMNS", "PingOptions", "PingExtent", "CheckedRows", "PingChunk", "PingSet"]

#: The columns of a quarantined ping (besides ``source``, ``source_row``, ``reason``): the
#: contract columns only, as read (text). Other columns of the file are never read.
QUARANTINE_COLUMNS = ("device_id", "officer_id", "team", "timestamp", "lat", "lon", "x", "y", "accuracy_m")

#: Quarantine reasons, in the order they are checked (the first that applies is given).
REASONS: dict[int, str] = {
    1: "missing device id",
    2: "missing timestamp",
    3: "timestamp without offset",
    4: "timestamp does not parse",
    5: "nonexistent or ambiguous local time",
    6: "implausible timestamp (before 2000)",
    16: "implausible timestamp (2100 or later)",
    7: "missing coordinates",
    8: "coordinates not numeric",
    9: "impossible coordinates",
    10: "zero coordinates (0, 0)",
    11: "latitude and longitude swapped",
    12: "accuracy not numeric",
    13: "negative accuracy",
    14: "accuracy worse than max_accuracy_m",
    15: "exact duplicate",
}

#: The reason of an exact duplicate (found after the row checks, in reading order).
DUPLICATE = REASONS[15]


@dataclass(frozen=True)
class PingOptions:
    """How pings are read and checked.

    Attributes
    ----------
    crs
        The trial's metric CRS; ``lat``/``lon`` are projected into it.
    timezone
        IANA zone for timestamps written without an offset; ``None`` quarantines them.
    max_accuracy_m
        Fixes with a reported accuracy worse (larger) than this are quarantined.
    area
        ``(xmin, ymin, xmax, ymax)`` in the trial CRS where pings are plausible (the
        hotspots' extent grown by 50 km); used to recognise swapped ``x``/``y``.
    area_lonlat
        The same area as ``(lon_min, lat_min, lon_max, lat_max)``; used to recognise
        swapped latitude and longitude.
    near
        Where hotspots are, in longitude/latitude (:class:`LonLatGrid`). ``lat``/``lon``
        pings elsewhere cannot be in any hotspot and are not projected: their ``x``/``y``
        stay NaN. ``None`` projects every ping.
    locate
        The hotspots in degrees (:class:`~guardian_rct.geo.lonlat_index.LonLatIndex`).
        Given, ``lat``/``lon`` pings are not projected at all (``x``/``y`` NaN): the chunk
        keeps their degrees (:attr:`PingChunk.lonlat`) and they are assigned to hotspots
        in degrees, only those within a millimetre of an edge being projected
        (:func:`~guardian_rct.geo.lonlat_index.assign_lonlat`). The weekly job sets it;
        ``None`` (reading pings for their coordinates) projects.
    chunk_rows
        Rows per chunk, at most (Parquet: row groups split evenly, short batches of the
        reader joined, see :func:`~guardian_rct.compliance.pings.even_batch_rows`; CSV
        approximately, by bytes). On the 50-million-ping week (row groups of a million
        rows) 400 000, i.e. chunks of 333 334, and 500 000 measured 1-2 s faster than
        250 000 (each chunk costs some fixed work under the GIL) and than 750 000 or
        1 000 000 (cache); the working set, about 30 MB per 100 000 rows with the chunks in
        flight, bounds peak memory however many rows are bad: 500 000 took the week to
        1.48-1.49 million kB at peak, 333 334 to 1.40 (the target is 1.5 GB).
    """

    crs: str = "EPSG:27700"
    timezone: str | None = None
    max_accuracy_m: float = 100.0
    area: tuple[float, float, float, float] | None = None
    area_lonlat: tuple[float, float, float, float] | None = None
    near: LonLatGrid | None = None
    locate: LonLatIndex | None = None
    chunk_rows: int = 400_000


@dataclass(frozen=True)
class PingExtent:
    """Where and when the usable pings of a file lie, for file-level plausibility checks
    (:mod:`~guardian_rct.compliance.ping_plausibility`). Counted before duplicates are
    removed.

    Attributes
    ----------
    n_ok
        Rows that passed the row checks.
    n_outside_area
        Of those, rows outside the plausible area (``PingOptions.area`` or
        ``area_lonlat``; 0 when no area is given).
    n_degree_like
        Of those, ``x``/``y`` rows whose values would be valid longitude/latitude
        (``|x| <= 180``, ``|y| <= 90``): degrees given as metres.
    n_swapped
        Rows quarantined as "latitude and longitude swapped".
    t_min, t_max
        Earliest and latest instant (UTC ns) of those rows; ``None`` without rows.
    """

    n_ok: int = 0
    n_outside_area: int = 0
    n_degree_like: int = 0
    n_swapped: int = 0
    t_min: int | None = None
    t_max: int | None = None

    def merge(self, other: PingExtent) -> PingExtent:
        """The extent of both sets of rows."""
        mins = [t for t in (self.t_min, other.t_min) if t is not None]
        maxs = [t for t in (self.t_max, other.t_max) if t is not None]
        return PingExtent(self.n_ok + other.n_ok, self.n_outside_area + other.n_outside_area,
                          self.n_degree_like + other.n_degree_like, self.n_swapped + other.n_swapped,
                          min(mins) if mins else None, max(maxs) if maxs else None)


@dataclass(frozen=True, eq=False)
class CheckedRows:
    """One raw chunk after the row checks, before any row is copied: every array has a
    value per row read (flagged rows hold placeholders), so the usable rows can be taken
    in one pass by what needs them (:func:`~guardian_rct.compliance.ping_validation.validate_chunk`
    for a frame, :func:`~guardian_rct.compliance.chunk_scoring.score_rows` for scoring).

    Attributes
    ----------
    code
        ``int8`` reason per row (:data:`REASONS`; 0: usable).
    first_row
        File row (1-based data row) of the chunk's first row.
    ns
        UTC instants in nanoseconds (0 where flagged).
    a, b
        Coordinates as given: latitude/longitude when ``geographic``, else x/y.
    accuracy
        Reported accuracy in metres (NaN when not given).
    x, y
        Trial-CRS coordinates of projected longitude/latitude pings (NaN where not
        projected), ``a``/``b`` for x/y pings, or empty arrays when the pings are located
        in degrees (:attr:`PingOptions.locate`).
    device, officer, team
        Trimmed identifiers as Arrow dictionary arrays (``""`` when missing; ``officer``
        and ``team`` ``None`` when the file has no such column).
    geographic
        Whether the file gives ``lat``/``lon``.
    quarantine
        The flagged rows, as read (typed, not yet text), with their reasons.
    """

    code: np.ndarray
    first_row: int
    ns: np.ndarray
    a: np.ndarray
    b: np.ndarray
    accuracy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    device: pa.DictionaryArray
    officer: pa.DictionaryArray | None
    team: pa.DictionaryArray | None
    geographic: bool
    quarantine: RowsAsRead

    @property
    def n_read(self) -> int:
        """Rows read."""
        return len(self.code)


@dataclass(frozen=True)
class PingChunk:
    """Validated pings of one chunk.

    ``frame`` columns: ``device_id``, ``officer_id``, ``team`` (str; ``""`` when not
    given; categories while scoring, see :attr:`PingOptions.locate`), ``time``
    (``datetime64[ns, UTC]``), ``x``, ``y`` (float, trial CRS; NaN where not projected),
    ``accuracy_m`` (float, NaN when not given), ``source_row`` (1-based data row) and
    ``key`` (uint64 duplicate key). ``lonlat`` holds the rows' WGS84 longitude and
    latitude when they were not projected (:attr:`PingOptions.locate`), else ``None``.
    """

    frame: pd.DataFrame
    quarantine: Quarantine
    n_read: int
    extent: PingExtent = field(default_factory=PingExtent)
    lonlat: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class PingSet:
    """All validated pings of a file (for data that fits in memory)."""

    frame: pd.DataFrame
    quarantine: Quarantine
    n_read: int
    sources: tuple[str, ...] = field(default=())

    @property
    def n_used(self) -> int:
        """Rows used (not quarantined)."""
        return len(self.frame)

    def to_dict(self) -> dict:
        """Counts of rows read, used and quarantined (by reason)."""
        return {"read": self.n_read, "used": self.n_used, "quarantined": len(self.quarantine),
                "quarantine_reasons": self.quarantine.counts()}
