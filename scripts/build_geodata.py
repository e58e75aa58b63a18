"""Copy the context layers guardian_rct ships into ``geodata/`` from ../shared/data.

Run from the repository root::

    python scripts/build_geodata.py /path/to/shared/data

It writes ``geodata/force_boundary.geojson`` (the West Midlands Police force area from
data.police.uk, simplified to 10 m in British National Grid so that the file stays small)
and ``geodata/districts.geojson`` (the seven local authority districts, ONS, with columns
``code`` and ``name``) and ``geodata/wards.geojson`` (Birmingham's 40 wards, 2016
boundaries, ONS, simplified to 10 m, columns ``code``, ``name`` and ``source``: context names on the
overview maps; Birmingham has had 69 different wards since May 2018). The hotspots are then built with ``guardian-rct hotspots build``
(the exact command is in ``geodata/README.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import shapely

TOLERANCE_M = 10.0
# Printed under every map that shows the wards (map_layers reads the ``source`` column).
WARDS_SOURCE = ("Birmingham wards: 2016 boundaries (40 wards), replaced by 69 new wards in May 2018. "
                "Source: Office for National Statistics, OGL v3.0")


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
    wards = gpd.read_file(shared / "boundaries" / "birmingham_wards_2016.geojson").to_crs("EPSG:27700")
    shapes = shapely.force_2d(wards.geometry.to_numpy())
    wards = gpd.GeoDataFrame({"code": wards["wd16cd"], "name": wards["wd16nm"], "source": WARDS_SOURCE},
                             geometry=shapely.simplify(shapes, TOLERANCE_M, preserve_topology=True),
                             crs="EPSG:27700")
    _write(wards, out / "wards.geojson")


def _write(frame: gpd.GeoDataFrame, path: Path) -> None:
    if path.exists():
        path.unlink()
    frame.to_crs("EPSG:4326").to_file(path, driver="GeoJSON", WRITE_NAME="NO")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"), Path("geodata"))
