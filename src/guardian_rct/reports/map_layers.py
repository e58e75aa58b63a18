"""The context layers of a trial's maps, read from the files its config names.

- outline: ``[hotspots] boundary`` whole (never clipped to the day's hotspots, which drew
  false straight edges); without one, the convex hull of *all* the trial's hotspots
  buffered by 500 m, labelled "envelope of the hotspots (no boundary configured)" so no
  reader takes it for the force area;
- districts: ``[maps] districts``, else ``districts.geojson`` beside the boundary file
  (as in the shipped ``geodata/``), with names from a ``name`` column;
- wards: ``[maps] wards``, else ``wards.geojson`` beside the boundary (the shipped
  geodata has Birmingham's 2016 wards), names from a ``name`` column; a ``source``
  column, when present, is printed under the map (the shipped file says its wards are
  the 2016 ones, replaced in 2018);
- basemap: ``[maps] basemap`` (any GeoPackage/Shapefile/GeoJSON GDAL reads), clipped
  to the outline's extent so a national roads file stays cheap to draw.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely import box

from guardian_rct._core.errors import DataError
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.reports.maps import MapContext

__all__ = ["map_context", "ENVELOPE_LABEL"]

ENVELOPE_LABEL = "envelope of the hotspots (no boundary configured)"
_DISTRICTS_SIBLING = "districts.geojson"
_WARDS_SIBLING = "wards.geojson"
_NAME_COLUMNS = ("name", "NAME", "LAD11NM", "LAD21NM", "WD16NM", "WD22NM")


def _read(path: Path, key: str, crs) -> gpd.GeoDataFrame:
    if not path.exists():
        raise DataError("map layer file not found", where=path, expected="a GeoPackage, Shapefile or GeoJSON",
                        found="no such file", fix=f"fix {key} in the config or remove it")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # GDAL's messages vary by driver; name the file and the key
        raise DataError(f"map layer cannot be read: {exc}", where=path,
                        fix=f"give {key} a GeoPackage, Shapefile or GeoJSON file") from None
    if frame.crs is None:
        raise DataError("map layer has no CRS", where=path, fix="save the layer with its CRS (e.g. EPSG:27700)")
    return frame.to_crs(crs)


def map_context(config: TrialConfig, hotspots: HotspotSet) -> MapContext:
    """The outline, districts and basemap for ``config``'s maps, in the hotspots' CRS."""
    crs = hotspots.frame.crs
    boundary = config.hotspots.boundary
    if boundary is not None:
        outline = _read(boundary, "[hotspots] boundary", crs)
        label = "force boundary"
    else:
        hull = hotspots.frame.geometry.union_all().convex_hull.buffer(500.0)
        outline = gpd.GeoDataFrame(geometry=[hull], crs=crs)
        label = ENVELOPE_LABEL
    districts, names, _ = _named_layer(config.maps.districts, boundary, _DISTRICTS_SIBLING, "[maps] districts",
                                       crs)
    wards, ward_names, notes = _named_layer(config.maps.wards, boundary, _WARDS_SIBLING, "[maps] wards", crs)
    basemap = None
    if config.maps.basemap is not None:
        minx, miny, maxx, maxy = outline.total_bounds
        basemap = _read(config.maps.basemap, "[maps] basemap", crs)
        basemap = basemap.clip(box(minx - 2000, miny - 2000, maxx + 2000, maxy + 2000))
    return MapContext(outline=outline, outline_label=label, districts=districts, district_names=names,
                      wards=wards, ward_names=ward_names, notes=notes, basemap=basemap)


def _named_layer(path: Path | None, boundary: Path | None, sibling: str, key: str,
                 crs) -> tuple[gpd.GeoDataFrame | None, tuple[str, ...], tuple[str, ...]]:
    """A layer of named areas: (frame, names, source notes), from ``path`` or the boundary's sibling."""
    if path is None and boundary is not None and (boundary.parent / sibling).exists():
        path = boundary.parent / sibling
    if path is None:
        return None, (), ()
    frame = _read(path, key, crs)
    column = next((c for c in _NAME_COLUMNS if c in frame.columns), None)
    names = tuple(str(v) for v in frame[column]) if column else ()
    notes = tuple(dict.fromkeys(str(v) for v in frame["source"].dropna())) if "source" in frame.columns else ()
    return frame, names, notes
