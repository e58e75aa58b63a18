"""Geometry checks and statistics of a hotspot set: boundary, overlaps, area, centroids.

All measures are planar, in the hotspot set's metric CRS (British National Grid by
default), so areas are in square metres and distances in metres (DESIGN.md rule 4).
A hotspot set is *clean* for a trial when no two hotspots overlap (a crime in the
overlap would belong to two units, breaking the one-unit-per-crime accounting of the
evaluation) and every hotspot lies inside the force boundary.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS

from guardian_rct._core.errors import DataError
from guardian_rct._core.provenance import Provenance, make_provenance, sha256_file
from guardian_rct.geo.hotspots import DEFAULT_CRS, HotspotSet

__all__ = ["Boundary", "read_boundary", "HotspotCheck", "check_hotspots", "hotspot_table",
           "overlaps", "outside_boundary", "TOLERANCE_M2"]

#: Overlaps and parts outside the boundary smaller than this (m²) are rounding, not errors.
TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class Boundary:
    """A force (or study-area) boundary as one polygonal geometry in a metric CRS."""

    geometry: shapely.Geometry
    crs: CRS
    source: Path | None = None
    sha256: str = ""

    @property
    def area_km2(self) -> float:
        """Area in km²."""
        return float(self.geometry.area) / 1e6


def read_boundary(path: str | Path, *, crs: str = DEFAULT_CRS) -> Boundary:
    """Read a boundary file (any vector format geopandas reads) and dissolve it.

    Raises
    ------
    DataError
        Missing or unreadable file, no CRS, no polygon features.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("boundary file not found", where=str(path),
                        fix="check the path to the force boundary (GeoJSON, GeoPackage or Shapefile)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise DataError(f"cannot read the boundary as vector data ({type(exc).__name__})",
                        where=str(path), fix="give a GeoJSON, GeoPackage or Shapefile") from None
    if frame.crs is None:
        raise DataError("the boundary file has no coordinate reference system", where=str(path),
                        expected="a CRS", found="none", fix="save it with a CRS")
    geoms = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    polys = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) == 0:
        found = ", ".join(sorted(set(geoms.geom_type))) or "no geometries"
        raise DataError("the boundary file holds no polygons", where=str(path),
                        expected="Polygon or MultiPolygon features", found=found,
                        fix="give the force area polygon")
    metric = polys.to_crs(CRS.from_user_input(crs))
    geometry = shapely.union_all(shapely.make_valid(metric.to_numpy()))
    return Boundary(geometry=geometry, crs=metric.crs, source=path, sha256=sha256_file(path))


def hotspot_table(hotspots: HotspotSet) -> pd.DataFrame:
    """Area (m²), perimeter (m) and centroid (x, y in the metric CRS) of each hotspot."""
    frame = hotspots.frame
    centroid = frame.geometry.centroid
    return pd.DataFrame({
        "hotspot_id": frame["hotspot_id"].to_numpy(),
        "name": frame["name"].to_numpy(),
        "block": frame["block"].to_numpy(),
        "area_m2": frame.geometry.area.to_numpy(),
        "perimeter_m": frame.geometry.length.to_numpy(),
        "centroid_x": centroid.x.to_numpy(),
        "centroid_y": centroid.y.to_numpy(),
    })


def overlaps(hotspots: HotspotSet, *, tolerance_m2: float = TOLERANCE_M2) -> pd.DataFrame:
    """Pairs of hotspots whose interiors share more than ``tolerance_m2``.

    Returns a DataFrame ``hotspot_a, hotspot_b, overlap_m2`` (``a < b``), largest first.
    """
    geoms = hotspots.frame.geometry.to_numpy()
    ids = hotspots.ids
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    big = area > tolerance_m2
    out = pd.DataFrame({"hotspot_a": ids[left[big]].astype(str), "hotspot_b": ids[right[big]].astype(str),
                        "overlap_m2": area[big]})
    return out.sort_values(["overlap_m2", "hotspot_a"], ascending=[False, True]).reset_index(drop=True)


def outside_boundary(hotspots: HotspotSet, boundary: Boundary, *,
                     tolerance_m2: float = TOLERANCE_M2) -> pd.DataFrame:
    """Hotspots with more than ``tolerance_m2`` outside the boundary.

    Returns a DataFrame ``hotspot_id, outside_m2, outside_share`` (share of the
    hotspot's area), largest share first.
    """
    _same_crs(hotspots, boundary)
    geoms = hotspots.frame.geometry.to_numpy()
    outside = shapely.area(shapely.difference(geoms, boundary.geometry))
    share = outside / shapely.area(geoms)
    bad = outside > tolerance_m2
    out = pd.DataFrame({"hotspot_id": hotspots.ids[bad].astype(str), "outside_m2": outside[bad],
                        "outside_share": share[bad]})
    return out.sort_values(["outside_share", "hotspot_id"], ascending=[False, True]).reset_index(drop=True)


def _same_crs(hotspots: HotspotSet, boundary: Boundary) -> None:
    if not CRS.from_user_input(hotspots.crs).equals(boundary.crs):
        raise DataError("hotspots and boundary are in different CRSs", where=str(boundary.source),
                        expected=str(hotspots.crs), found=str(boundary.crs),
                        fix="read both with the same crs")


@dataclass(frozen=True)
class HotspotCheck:
    """The result of :func:`check_hotspots`.

    Attributes
    ----------
    hotspots
        The checked set.
    boundary
        The boundary checked against, if any.
    table
        Per hotspot: ``hotspot_id, name, block, area_m2, perimeter_m, centroid_x, centroid_y``.
    overlaps
        Overlapping pairs (see :func:`overlaps`).
    outside
        Hotspots (partly) outside the boundary (see :func:`outside_boundary`); empty
        without a boundary.
    provenance
        Input hashes.
    """

    hotspots: HotspotSet
    boundary: Boundary | None
    table: pd.DataFrame
    overlaps: pd.DataFrame
    outside: pd.DataFrame
    provenance: Provenance = field(repr=False)

    @property
    def total_area_km2(self) -> float:
        """Area of all hotspots together (overlaps counted once), km²."""
        return float(shapely.union_all(self.hotspots.frame.geometry.to_numpy()).area) / 1e6

    @property
    def area_share(self) -> float | None:
        """Share of the boundary's area the hotspots cover (``None`` without a boundary)."""
        if self.boundary is None:
            return None
        inside = shapely.intersection(shapely.union_all(self.hotspots.frame.geometry.to_numpy()),
                                      self.boundary.geometry)
        return float(inside.area) / float(self.boundary.geometry.area)

    def problems(self) -> list[str]:
        """One line per overlap and per hotspot outside the boundary."""
        lines = [f"hotspots {r.hotspot_a} and {r.hotspot_b} overlap by {r.overlap_m2:,.0f} m²"
                 for r in self.overlaps.itertuples()]
        lines += [f"hotspot {r.hotspot_id} lies {r.outside_share:.0%} ({r.outside_m2:,.0f} m²) "
                  "outside the boundary" for r in self.outside.itertuples()]
        return lines

    def summary(self) -> str:
        """A short human-readable report."""
        n = len(self.hotspots)
        t = self.table
        text = [f"{self.hotspots.source or '<memory>'}: {n} hotspots, {self.total_area_km2:.3f} km² in total"
                f" (each {t.area_m2.min() / 1e6:.3f}–{t.area_m2.max() / 1e6:.3f} km², median "
                f"{t.area_m2.median() / 1e6:.3f} km²)"]
        if self.boundary is not None:
            text.append(f"boundary {self.boundary.source}: {self.boundary.area_km2:.1f} km²; "
                        f"hotspots cover {self.area_share:.2%} of it")
        blocks = self.hotspots.frame["block"].value_counts().sort_index()
        if len(blocks) > 1:
            text.append("blocks: " + ", ".join(f"{b} {c}" for b, c in blocks.items()))
        if self.hotspots.repaired:
            text.append("repaired polygons: " + ", ".join(self.hotspots.repaired))
        text.append(f"overlaps: {len(self.overlaps) or 'none'}")
        if self.boundary is not None:
            text.append(f"outside the boundary: {len(self.outside) or 'none'}")
        text += [f"  - {p}" for p in self.problems()]
        return "\n".join(text)

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        table = self.table.round({"area_m2": 1, "perimeter_m": 1, "centroid_x": 1, "centroid_y": 1})
        return {
            "file": str(self.hotspots.source) if self.hotspots.source else None,
            "sha256": self.hotspots.sha256,
            "crs": self.hotspots.crs.to_string(),
            "hotspots": len(self.hotspots),
            "total_area_km2": round(self.total_area_km2, 6),
            "boundary": str(self.boundary.source) if self.boundary else None,
            "boundary_area_km2": round(self.boundary.area_km2, 6) if self.boundary else None,
            "area_share": round(self.area_share, 6) if self.boundary else None,
            "repaired": list(self.hotspots.repaired),
            "overlaps": self.overlaps.round({"overlap_m2": 1}).to_dict(orient="records"),
            "outside_boundary": self.outside.round({"outside_m2": 1, "outside_share": 4}).to_dict(orient="records"),
            "table": table.to_dict(orient="records"),
            "provenance": self.provenance.to_dict(),
        }


def check_hotspots(hotspots: HotspotSet, boundary: Boundary | None = None, *,
                   tolerance_m2: float = TOLERANCE_M2) -> HotspotCheck:
    """Measure a hotspot set and find overlaps and parts outside the boundary.

    Reports, never raises, for overlaps and outside parts: the caller (or the command
    line's ``--allow-overlaps``/``--allow-outside``) decides whether they are errors.
    """
    inputs = {"hotspots": hotspots.sha256}
    if boundary is not None:
        inputs["boundary"] = boundary.sha256
    return HotspotCheck(
        hotspots=hotspots,
        boundary=boundary,
        table=hotspot_table(hotspots),
        overlaps=overlaps(hotspots, tolerance_m2=tolerance_m2),
        outside=(outside_boundary(hotspots, boundary, tolerance_m2=tolerance_m2) if boundary is not None
                 else pd.DataFrame(columns=["hotspot_id", "outside_m2", "outside_share"])),
        provenance=make_provenance(hashes=inputs),
    )
