"""Read and validate hotspot polygons into a :class:`HotspotSet`.

Hotspots come as GeoJSON, GeoPackage or Shapefile with a unique string ``hotspot_id``
and optional ``name`` and ``block`` columns, in any CRS; they are reprojected once, on
load, to the trial's projected CRS (British National Grid, EPSG:27700, by default) so
that every area, distance and buffer is in metres (DESIGN.md §3 and rule 4).
"""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from guardian_rct._core.errors import DataError, DataQualityWarning, where
from guardian_rct._core.provenance import sha256_file

__all__ = ["HotspotSet", "read_hotspots", "hotspots_from_frame", "DEFAULT_CRS"]

DEFAULT_CRS = "EPSG:27700"
_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip"}


@dataclass(frozen=True)
class HotspotSet:
    """Validated hotspots in a metric CRS.

    Attributes
    ----------
    frame
        GeoDataFrame indexed 0..n-1 with columns ``hotspot_id`` (str), ``name`` (str),
        ``block`` (str) and ``geometry`` (Polygon or MultiPolygon) in ``crs``; sorted by
        ``hotspot_id`` so that every array over hotspots has one fixed order.
    source
        The file read, if any.
    sha256
        SHA-256 of the source file's bytes (of the frame's WKB when built in memory).
    repaired
        Ids of hotspots whose invalid geometry was repaired with ``shapely.make_valid``.
    """

    frame: gpd.GeoDataFrame
    source: Path | None
    sha256: str
    repaired: tuple[str, ...] = ()

    @property
    def ids(self) -> np.ndarray:
        """Hotspot ids in the set's fixed order."""
        return self.frame["hotspot_id"].to_numpy(dtype=object)

    @property
    def blocks(self) -> np.ndarray:
        """Block label of each hotspot (``"all"`` when no block column was named)."""
        return self.frame["block"].to_numpy(dtype=object)

    @property
    def crs(self) -> CRS:
        """The metric CRS of the geometry."""
        return self.frame.crs

    def __len__(self) -> int:
        return len(self.frame)


def _fail(path: Path | None, problem: str, fix: str, *, row: int | None = None,
          column: str | None = None, expected: str | None = None, found: str | None = None) -> DataError:
    return DataError(problem, expected=expected, found=found, where=where(path, row, column), fix=fix)


def read_hotspots(
    path: str | Path,
    *,
    id_column: str = "hotspot_id",
    block_column: str | None = None,
    name_column: str = "name",
    crs: str = DEFAULT_CRS,
    repair: bool = True,
) -> HotspotSet:
    """Read a hotspot file and validate it.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or Shapefile.
    id_column
        Column holding the unique hotspot id (read as a string).
    block_column
        Optional column holding the randomisation block.
    name_column
        Optional column with a readable name (falls back to the id).
    crs
        Projected CRS to work in (metres).
    repair
        Repair invalid polygons with ``shapely.make_valid`` (with a warning naming
        them) rather than refuse them.

    Raises
    ------
    DataError
        Missing or unreadable file, no CRS, missing or duplicate ids, empty or
        non-polygon geometry, coordinates that look like swapped latitude/longitude.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "hotspot file not found", "check the path (relative paths in "
                    "trial.toml resolve against the config file's folder)")
    if path.is_dir() or path.suffix.lower() not in _SUFFIXES:
        raise _fail(path, "not a hotspot file", "give a GeoJSON, GeoPackage or Shapefile",
                    expected="a .geojson, .gpkg or .shp file", found=path.suffix or "a folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise _fail(path, f"cannot read the file as vector data ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
                    "check that it is a valid GeoJSON, GeoPackage or Shapefile") from None
    return hotspots_from_frame(frame, source=path, sha256=sha256_file(path), id_column=id_column,
                               block_column=block_column, name_column=name_column, crs=crs,
                               repair=repair)


def hotspots_from_frame(
    frame: gpd.GeoDataFrame,
    *,
    source: Path | None = None,
    sha256: str | None = None,
    id_column: str = "hotspot_id",
    block_column: str | None = None,
    name_column: str = "name",
    crs: str = DEFAULT_CRS,
    repair: bool = True,
) -> HotspotSet:
    """Validate an in-memory GeoDataFrame as hotspots (see :func:`read_hotspots`)."""
    path = source
    if len(frame) == 0:
        raise _fail(path, "the file holds no hotspots", "export the hotspot layer with its polygons",
                    expected="at least one polygon", found="0 features")
    if id_column not in frame.columns:
        cols = ", ".join(c for c in frame.columns if c != "geometry") or "none"
        raise _fail(path, f"no '{id_column}' column", f"add a unique '{id_column}' to every "
                    "hotspot, or name the id column with [hotspots] id_column",
                    column=id_column, expected=f"a column '{id_column}'", found=f"columns {cols}")
    if block_column and block_column not in frame.columns:
        raise _fail(path, f"no '{block_column}' column for blocks", "add the column or remove "
                    "[hotspots] block_column", column=block_column)
    ids = frame[id_column]
    for i, value in enumerate(ids):
        if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
            raise _fail(path, "hotspot has no id", f"fill in '{id_column}'", row=i + 1,
                        column=id_column, found="an empty value")
    ids = ids.astype(str).str.strip()
    _check_labels(frame, ids, id_column, name_column, block_column, path)
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [str(i + 1) for i in np.flatnonzero(ids.to_numpy() == first)]
        raise _fail(path, f"duplicate hotspot id '{first}'", "give every hotspot its own id",
                    row=int(rows[1]), column=id_column, expected="unique ids",
                    found=f"'{first}' on rows {', '.join(rows)}")
    if frame.crs is None:
        raise _fail(path, "the file has no coordinate reference system",
                    "save it with a CRS (GeoJSON is WGS84 by definition; set it with "
                    "GeoDataFrame.set_crs or in QGIS)", expected="a CRS", found="none")
    geom = frame.geometry
    for i, g in enumerate(geom):
        if g is None or g.is_empty:
            raise _fail(path, f"hotspot '{ids.iloc[i]}' has no geometry", "draw its polygon",
                        row=i + 1, column="geometry", found="empty geometry")
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise _fail(path, f"hotspot '{ids.iloc[i]}' is a {g.geom_type}, not a polygon",
                        "hotspots must be areas: buffer points or lines into polygons first",
                        row=i + 1, column="geometry", expected="Polygon or MultiPolygon",
                        found=g.geom_type)
    _check_axis_order(frame, ids, path)
    _check_metric_not_degrees(frame, path)
    target = CRS.from_user_input(crs)
    if not target.is_projected:
        raise DataError("the working CRS is not projected", expected="a metric CRS such as EPSG:27700",
                        found=target.name, where="hotspots.crs", fix="name a projected CRS")
    metric = frame.to_crs(target)
    geometry = metric.geometry.to_numpy()
    invalid = ~shapely.is_valid(geometry)
    repaired: list[str] = []
    if invalid.any():
        bad = np.flatnonzero(invalid)
        if not repair:
            i = int(bad[0])
            raise _fail(path, f"hotspot '{ids.iloc[i]}' has an invalid polygon "
                        f"({shapely.is_valid_reason(geometry[i])})",
                        "fix the polygon in a GIS, or allow repair", row=i + 1, column="geometry")
        fixed = shapely.make_valid(geometry[bad])
        fixed = shapely.get_parts(fixed, return_index=True)
        for j, i in enumerate(bad):
            parts = [p for p, k in zip(*fixed, strict=True) if k == j and p.geom_type == "Polygon"]
            if not parts or shapely.area(shapely.union_all(parts)) == 0:
                raise _fail(path, f"hotspot '{ids.iloc[i]}' has an invalid polygon that cannot "
                            "be repaired into an area", "redraw it", row=int(i) + 1, column="geometry")
            geometry[i] = shapely.union_all(parts)
            repaired.append(str(ids.iloc[i]))
        warnings.warn(f"{path}: repaired invalid polygons of hotspots {', '.join(repaired)} "
                      "with shapely.make_valid; check their shapes", DataQualityWarning, stacklevel=2)
    _check_areas(geometry, ids, path)
    names = frame[name_column].astype(str) if name_column in frame.columns else ids
    blocks = frame[block_column].astype(str) if block_column else pd.Series("all", index=frame.index)
    out = gpd.GeoDataFrame(
        {"hotspot_id": ids.to_numpy(), "name": names.to_numpy(), "block": blocks.to_numpy()},
        geometry=geometry,
        crs=target,
    ).sort_values("hotspot_id", kind="stable").reset_index(drop=True)
    digest = sha256 or _frame_digest(out)
    return HotspotSet(frame=out, source=path, sha256=digest, repaired=tuple(repaired))


def _check_axis_order(frame: gpd.GeoDataFrame, ids: pd.Series, path: Path | None) -> None:
    """Refuse geographic coordinates whose latitude and longitude look swapped.

    In Great Britain latitude is 49–61° and longitude −9–2°; a file whose "longitudes"
    are all 49–61 was written (lat, lon).
    """
    if not frame.crs.is_geographic:
        return
    xmin, ymin, xmax, ymax = frame.total_bounds
    if (abs(xmin) > 180 or abs(xmax) > 180 or abs(ymin) > 90 or abs(ymax) > 90):
        raise _fail(path, "coordinates out of range for a geographic CRS",
                    "set the right CRS: projected coordinates (metres) labelled as WGS84?",
                    expected="longitude −180..180, latitude −90..90",
                    found=f"bounds {xmin:.1f}, {ymin:.1f}, {xmax:.1f}, {ymax:.1f}")
    if 49 <= xmin and xmax <= 61 and -9 <= ymin and ymax <= 2.5:
        raise _fail(path, "latitude and longitude look swapped",
                    "write coordinates as (longitude, latitude), as GeoJSON requires",
                    expected="x = longitude (−9..2 in Great Britain), y = latitude (49..61)",
                    found=f"x from {xmin:.2f} to {xmax:.2f}, y from {ymin:.2f} to {ymax:.2f}")


#: Smallest hotspot area (m²): anything smaller is a degenerate polygon (a line, a point,
#: or degrees read as metres), not a patrol area.
MIN_AREA_M2 = 1.0
_FORMULA_START = ("=", "+", "-", "@")


def _bad_character(text: str) -> str | None:
    """A description of the first character that breaks a map, sheet or report, if any.

    Control and Unicode format characters (category Cc/Cf: tabs, newlines, the bidi
    override U+202E that reverses what a reader sees, zero-width spaces) are refused
    everywhere.
    """
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return f"the invisible control character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"
    return None


def _check_labels(frame: gpd.GeoDataFrame, ids: pd.Series, id_column: str, name_column: str,
                  block_column: str | None, path: Path | None) -> None:
    """Refuse ids, names and blocks that would be mis-rendered or run as formulas.

    Ids are drawn as map labels (matplotlib reads ``$…$`` as mathtext) and sorted, typed
    and pasted by officers, so they may not contain ``$`` or start with a spreadsheet
    formula character (``= + - @``; OWASP CSV injection). Names and blocks may hold any
    printable text (they are escaped on output) but no control or format characters.
    """
    columns = [(id_column, ids)]
    columns += [(c, frame[c].astype(str)) for c in (name_column, block_column) if c and c in frame.columns]
    for column, values in columns:
        for i, text in enumerate(values):
            bad = _bad_character(text)
            if bad is None and column == id_column:
                if "$" in text:
                    bad = "'$' (maps would draw the text between two '$' as a formula)"
                elif text.startswith(_FORMULA_START):
                    bad = f"a leading '{text[0]}' (spreadsheets would run it as a formula)"
            if bad is not None:
                raise _fail(path, f"hotspot {column} {text!r} contains {bad}",
                            "use letters, digits, spaces and ordinary punctuation",
                            row=i + 1, column=column, expected="printable text",
                            found=repr(text))


def _check_metric_not_degrees(frame: gpd.GeoDataFrame, path: Path | None) -> None:
    """Refuse a file that declares a metric CRS but holds numbers that fit degrees.

    Such a file (longitude/latitude labelled EPSG:27700) would otherwise give hotspots of
    a few square millimetres in the sea off Cornwall, "inside" no boundary and with no crime.
    """
    if frame.crs.is_geographic:
        return
    xmin, ymin, xmax, ymax = frame.total_bounds
    if max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90:
        raise _fail(path, f"coordinates look like degrees but the file declares {frame.crs.to_string()} "
                    "(metres)", "set the file's CRS to EPSG:4326 (WGS84) if these are longitude/latitude",
                    expected=f"metres in {frame.crs.name}",
                    found=f"bounds {xmin:.4f}, {ymin:.4f}, {xmax:.4f}, {ymax:.4f}")


def _check_areas(geometry: np.ndarray, ids: pd.Series, path: Path | None) -> None:
    """Refuse zero-area (degenerate) polygons: a unit must be an area officers can patrol."""
    areas = shapely.area(geometry)
    small = np.flatnonzero(~(areas >= MIN_AREA_M2))
    if len(small):
        i = int(small[0])
        raise _fail(path, f"hotspot '{ids.iloc[i]}' has a degenerate polygon ({areas[i]:.3g} m²)",
                    "redraw it as an area (a polygon with at least three distinct corners)",
                    row=i + 1, column="geometry", expected=f"an area of at least {MIN_AREA_M2:g} m²",
                    found=f"{areas[i]:.3g} m²")


def _frame_digest(frame: gpd.GeoDataFrame) -> str:
    import hashlib

    digest = hashlib.sha256()
    for hid, geom in zip(frame["hotspot_id"], frame.geometry, strict=True):
        digest.update(str(hid).encode())
        digest.update(shapely.to_wkb(geom))
    return digest.hexdigest()
