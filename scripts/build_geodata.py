"""Copy the context layers guardian_rct ships into ``geodata/`` from ../shared/data.

Run from the repository root::

    python scripts/build_geodata.py /path/to/shared/data

It writes ``geodata/force_boundary.geojson`` (the West Midlands Police force area from
data.police.uk, simplified to 10 m in British National Grid so that the file stays small)
and ``geodata/districts.geojson`` (the seven local authority districts, ONS, with columns
``code`` and ``name``). The hotspots are then built with ``guardian-rct hotspots build``
(the exact command is in ``geodata/README.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import shapely

TOLERANCE_M = 10.0


def main(shared: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    force = gpd.read_file(shared / "boundaries" / "wmp_force_area.gpkg").to_crs("EPSG:27700")
    geom = shapely.force_2d(shapely.union_all(force.geometry.to_numpy()))
    geom = geom.simplify(TOLERANCE_M, preserve_topology=True)
    boundary = gpd.GeoDataFrame({"name": ["West Midlands Police"]}, geometry=[geom], crs="EPSG:27700")
    _write(boundary, out / "force_boundary.geojson")
    lad = gpd.read_file(shared / "boundaries" / "wm_local_authorities.geojson")
    districts = gpd.GeoDataFrame({"code": lad["LAD11CD"], "name": lad["LAD11NM"]},
                                 geometry=lad.geometry, crs=lad.crs)
    _write(districts, out / "districts.geojson")


def _write(frame: gpd.GeoDataFrame, path: Path) -> None:
    if path.exists():
        path.unlink()
    frame.to_crs("EPSG:4326").to_file(path, driver="GeoJSON", WRITE_NAME="NO")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"), Path("geodata"))
