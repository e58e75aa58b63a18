"""Small street-crime CSVs and boundaries for the hotspot tests, written into tmp_path."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

LEGACY_HEADER = "Month,Reported by,Falls within,Easting,Northing,Location,Crime type,Context"
CURRENT_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
                  "LSOA name,Crime type,Last outcome category,Context")

# A 10 km square in Birmingham (British National Grid).
BOX = (400_000.0, 280_000.0, 410_000.0, 290_000.0)


def write_boundary(path: Path, box: tuple[float, float, float, float] = BOX) -> Path:
    """A square force boundary: GeoPackage in EPSG:27700, or GeoJSON in WGS84 by suffix."""
    frame = gpd.GeoDataFrame({"name": ["Test force"]}, geometry=[shapely.box(*box)], crs="EPSG:27700")
    if path.suffix == ".geojson":
        frame.to_crs(4326).to_file(path, driver="GeoJSON")
    else:
        frame.to_file(path, driver="GPKG")
    return path


def legacy_rows(points: list[tuple[float, float, str, str]], month: str = "2011-02") -> list[str]:
    """2011-layout rows from (easting, northing, crime type, street)."""
    return [f"{month},Test Police,Test Police,{x},{y},On or near {street},{ctype},"
            for x, y, ctype, street in points]


def write_legacy(path: Path, points: list[tuple[float, float, str, str]], *, extra: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([LEGACY_HEADER, *legacy_rows(points), *extra]) + "\n", encoding="utf-8")
    return path


def write_current(path: Path, points: list[tuple[float, float, str, str]], *, month: str = "2024-01",
                  extra: list[str] = ()) -> Path:
    """Current-layout rows from BNG (x, y, type, street), converted to WGS84 with pyproj."""
    to_wgs = Transformer.from_crs(27700, 4326, always_xy=True)
    rows = []
    for k, (x, y, ctype, street) in enumerate(points):
        lon, lat = to_wgs.transform(x, y)
        rows.append(f"id{k},{month},Test Police,Test Police,{lon:.6f},{lat:.6f},On or near {street},"
                    f"E0100{k:04d},Somewhere 001A,{ctype},Under investigation,")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([CURRENT_HEADER, *rows, *extra]) + "\n", encoding="utf-8")
    return path


def clustered_points(clusters: list[tuple[float, float, int, str]], *, background: int = 0,
                     box: tuple[float, float, float, float] = BOX,
                     ctype: str = "Violent crime") -> list[tuple[float, float, str, str]]:
    """``count`` crimes within 20 m of each (x, y) cluster centre, plus scattered ones.

    Deterministic: positions come from a fixed grid pattern, not a random generator.
    """
    points = []
    for cx, cy, count, street in clusters:
        for k in range(count):
            angle = 2 * np.pi * k / max(count, 1)
            points.append((round(cx + 15 * np.cos(angle), 1), round(cy + 15 * np.sin(angle), 1),
                           ctype, street))
    xmin, ymin, xmax, ymax = box
    side = int(np.ceil(np.sqrt(background))) if background else 0
    for k in range(background):
        x = xmin + 500 + (xmax - xmin - 1000) * ((k % side) + 0.5) / side
        y = ymin + 500 + (ymax - ymin - 1000) * ((k // side) + 0.5) / side
        points.append((round(x, 1), round(y, 1), ctype, f"Quiet Road {k}"))
    return points
