"""Read data.police.uk street-level crime CSVs into points in the trial CRS.

data.police.uk publishes one CSV per force and month in two layouts:

* **current** (since 2011-12): ``Crime ID, Month, Reported by, Falls within, Longitude,
  Latitude, Location, LSOA code, LSOA name, Crime type, Last outcome category, Context``,
  with WGS84 coordinates;
* **2011** (the first releases, 2010-12 to 2011-11): ``Month, Reported by, Falls within,
  Easting, Northing, Location, Crime type, Context``, with British National Grid metres.

The layout is detected from the header. Locations are data.police.uk's anonymised
"on or near" map points and months only (https://data.police.uk/about/#anonymisation),
so these data suit hotspot *building* and monthly description, not hotspot-day outcomes.
Rows that cannot be placed on the map are kept in a :class:`~guardian_rct._core.quarantine.Quarantine`
with a reason, never dropped (DESIGN.md rule 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from guardian_rct._core.errors import DataError
from guardian_rct._core.provenance import sha256_file
from guardian_rct._core.quarantine import Quarantine, concat_quarantines, quarantine_rows
from guardian_rct.geo.harm_points import HarmPoints
from guardian_rct.harm.index import policeuk_category_weights

__all__ = ["StreetCrimes", "read_street_crimes", "find_street_files", "VIOLENT_TYPES"]

Era = Literal["current", "2011"]

_CURRENT = ("Month", "Longitude", "Latitude", "Location", "Crime type")
_LEGACY = ("Month", "Easting", "Northing", "Location", "Crime type")

#: data.police.uk crime types counted as violence when building hotspots, per era.
VIOLENT_TYPES: dict[str, tuple[str, ...]] = {
    "current": ("Violence and sexual offences", "Robbery", "Possession of weapons"),
    "2011": ("Violent crime", "Robbery"),
}

# Plausible coordinate ranges for England, Wales and Northern Ireland (the forces
# data.police.uk covers): longitude/latitude in degrees, easting/northing in metres.
_LON, _LAT = (-8.7, 2.0), (49.8, 60.9)
_EAST, _NORTH = (0.0, 700_000.0), (0.0, 1_300_000.0)


@dataclass(frozen=True)
class StreetCrimes:
    """data.police.uk street crimes as points.

    Attributes
    ----------
    frame
        GeoDataFrame with ``crime_id`` (empty string in the 2011 layout), ``month``
        (``YYYY-MM``), ``crime_type``, ``location`` (e.g. ``"On or near Alfred Road"``),
        ``lsoa_code`` (empty in the 2011 layout), ``source`` (file name) and point
        ``geometry`` in ``crs``.
    quarantine
        Rows that could not be used, with reasons such as ``"missing coordinates"``.
    era
        ``"current"`` or ``"2011"``: the layout (and so the crime-type vocabulary).
    sources
        File name → SHA-256 of each file read.
    """

    frame: gpd.GeoDataFrame
    quarantine: Quarantine
    era: Era
    sources: dict[str, str]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def months(self) -> tuple[str, ...]:
        """The distinct months covered, sorted."""
        return tuple(sorted(self.frame["month"].unique()))

    def of_types(self, crime_types: Iterable[str]) -> gpd.GeoDataFrame:
        """The rows whose ``crime_type`` is one of ``crime_types``."""
        return self.frame[self.frame["crime_type"].isin(list(crime_types))]

    @property
    def crs(self) -> CRS:
        """The CRS of the crime points."""
        return self.frame.crs

    def harm_points(self, crime_types: Sequence[str] | None = None) -> HarmPoints:
        """The crimes of the chosen types with their category-level CCHI weight.

        ``crime_types`` defaults to the era's :data:`VIOLENT_TYPES`. The weights are the
        shipped data.police.uk category weights
        (:func:`guardian_rct.harm.index.policeuk_category_weights`).

        Raises
        ------
        DataError
            A chosen type without a harm weight (e.g. anti-social behaviour), or no crime
            of the chosen types in the data.
        """
        types = tuple(crime_types) if crime_types else VIOLENT_TYPES[self.era]
        weights = policeuk_category_weights(self.era).as_dict()
        unweighted = [t for t in types if t not in weights]
        if unweighted:
            raise DataError(f"crime type '{unweighted[0]}' has no harm weight in the {self.era} layout",
                            expected="one of " + ", ".join(weights), found=repr(unweighted[0]),
                            where="crime types", fix="choose crime types that carry a CCHI weight")
        chosen = self.of_types(types)
        if chosen.empty:
            present = ", ".join(sorted(self.frame["crime_type"].unique())) or "none"
            raise DataError("no crimes of the chosen types", where=", ".join(self.sources),
                            expected=", ".join(types), found=f"types {present}",
                            fix="choose crime types present in the data")
        harm = chosen["crime_type"].map(weights).to_numpy(dtype=float)
        return HarmPoints(frame=chosen, harm=harm, crime_types=types, era=self.era,
                          sources=dict(self.sources))

    def summary(self) -> str:
        """One line: rows used, quarantined, months, era."""
        months = self.months
        span = f"{months[0]} to {months[-1]}" if months else "no months"
        return (f"{len(self.frame)} crimes ({self.era} layout, {span}) from "
                f"{len(self.sources)} file(s); {len(self.quarantine)} quarantined")


def find_street_files(path: str | Path) -> list[Path]:
    """The street-crime CSVs a path names.

    A file is returned as it is. In a folder (searched recursively, as data.police.uk's
    downloads unpack into one folder per month) the files ending ``-street.csv`` are
    taken when there are any, so that the ``-outcomes.csv`` and ``-stop-and-search.csv``
    files of the same download are skipped; otherwise every ``.csv``/``.csv.gz``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("crime file not found", where=str(path),
                        fix="check the path to the data.police.uk CSV or folder")
    if path.is_file():
        return [path]
    street = sorted(path.rglob("*-street.csv"))
    files = street or sorted([*path.rglob("*.csv"), *path.rglob("*.csv.gz")])
    if not files:
        raise DataError("no CSV files in the folder", where=str(path),
                        expected="data.police.uk street CSVs such as 2024-01-...-street.csv",
                        found="none", fix="point at the folder holding the monthly CSVs")
    return files


def read_street_crimes(paths: str | Path | Iterable[str | Path], *,
                       crs: str = "EPSG:27700") -> StreetCrimes:
    """Read one or more data.police.uk street-crime CSVs.

    Parameters
    ----------
    paths
        A file, a folder of monthly files (see :func:`find_street_files`), or a list of
        either. All files must share one layout.
    crs
        Projected CRS of the returned points.

    Returns
    -------
    StreetCrimes
        Points in ``crs`` and the quarantined rows. Reasons: ``"missing coordinates"``,
        ``"coordinates not numeric"``, ``"coordinates outside plausible range"``,
        ``"missing crime type"``, ``"month not YYYY-MM"``.

    Raises
    ------
    DataError
        A missing path, a file that is not a data.police.uk street CSV (naming the file
        and the expected columns), or files of both layouts mixed.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [f for p in paths for f in find_street_files(p)]
    if not files:
        raise DataError("no crime files given", where="crimes", fix="name at least one CSV")
    target = CRS.from_user_input(crs)
    frames, quarantines, sources = [], [], {}
    era: Era | None = None
    for file in files:
        part, quarantine, file_era = _read_one(file, target)
        if era is not None and file_era != era:
            raise DataError("crime files of both data.police.uk layouts mixed", where=str(file),
                            expected=f"the {era} layout like the files before it",
                            found=f"the {file_era} layout",
                            fix="read the 2011 files and the current files separately")
        era = file_era
        frames.append(part)
        quarantines.append(quarantine)
        sources[file.name] = sha256_file(file)
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=target)
    return StreetCrimes(frame=frame, quarantine=concat_quarantines(quarantines), era=era,
                        sources=sources)


def _read_one(path: Path, target: CRS) -> tuple[gpd.GeoDataFrame, Quarantine, Era]:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read the file as CSV ({type(exc).__name__})", where=str(path),
                        expected="a data.police.uk street-crime CSV",
                        fix="download the street CSV from data.police.uk") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if all(c in raw.columns for c in _CURRENT):
        era: Era = "current"
        xcol, ycol, src_crs = "Longitude", "Latitude", CRS.from_epsg(4326)
        xr, yr = _LON, _LAT
    elif all(c in raw.columns for c in _LEGACY):
        era, xcol, ycol, src_crs = "2011", "Easting", "Northing", CRS.from_epsg(27700)
        xr, yr = _EAST, _NORTH
    else:
        have = ", ".join(raw.columns[:8]) or "no columns"
        raise DataError("not a data.police.uk street-crime CSV", where=str(path),
                        expected=f"columns {', '.join(_CURRENT)} (current layout) or "
                        f"{', '.join(_LEGACY)} (2011 layout)", found=f"columns {have}",
                        fix="give the '-street.csv' file from a data.police.uk download")
    x = pd.to_numeric(raw[xcol].str.strip(), errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(raw[ycol].str.strip(), errors="coerce").to_numpy(dtype=float)
    blank = (raw[xcol].str.strip() == "") | (raw[ycol].str.strip() == "")
    month = raw["Month"].str.strip()
    ctype = raw["Crime type"].str.strip()
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    reason[~month.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])")] = "month not YYYY-MM"
    reason[ctype == ""] = "missing crime type"
    outside = ~((x >= xr[0]) & (x <= xr[1]) & (y >= yr[0]) & (y <= yr[1]))
    reason[outside] = "coordinates outside plausible range"
    reason[np.isnan(x) | np.isnan(y)] = "coordinates not numeric"
    reason[blank.to_numpy()] = "missing coordinates"
    bad = reason.notna().to_numpy()
    quarantine = quarantine_rows(raw[bad], reason[bad], source=path.name,
                                 source_row=pd.Series(np.flatnonzero(bad) + 1))
    ok = ~bad
    points = gpd.points_from_xy(x[ok], y[ok], crs=src_crs)

    def get(col: str) -> np.ndarray:
        if col not in raw.columns:
            return np.full(int(ok.sum()), "", dtype=object)
        return raw.loc[ok, col].str.strip().to_numpy()

    frame = gpd.GeoDataFrame({
        "crime_id": get("Crime ID"),
        "month": month[ok].to_numpy(),
        "crime_type": ctype[ok].to_numpy(),
        "location": get("Location"),
        "lsoa_code": get("LSOA code"),
        "source": path.name,
    }, geometry=points, crs=src_crs)
    if not frame.crs.equals(target):
        frame = frame.to_crs(target)
    return frame, quarantine, era

