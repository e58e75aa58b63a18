"""Buffer rings around hotspots, for spatial displacement and diffusion analysis.

Rings are the catchment areas of the weighted displacement quotient (Bowers & Johnson
2003) and difference (Wheeler & Ratcliffe 2018): bands ``0-d1``, ``d1-d2``, ... metres
outside each hotspot, never inside any hotspot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely

from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["buffer_rings"]


def buffer_rings(
    hotspots: HotspotSet,
    distances_m: Sequence[float] = (100, 200),
    *,
    neighbours: Literal["split", "overlap"] = "split",
    split_spacing_m: float = 5.0,
) -> gpd.GeoDataFrame:
    """Catchment rings around each hotspot, for spatial displacement analysis.

    Ring ``k`` of a hotspot holds the places whose distance to it lies in
    ``(distances_m[k-1], distances_m[k]]`` (the first ring starts at the hotspot's edge),
    with every hotspot removed from every ring, following the buffer-zone design of
    Weisburd et al. (2006), "Does crime just move around the corner?", *Criminology*
    44(3), and Bowers & Johnson (2003) for the weighted displacement quotient.

    Parameters
    ----------
    hotspots
        The validated hotspots (metric CRS).
    distances_m
        Increasing outer distances of the rings in metres, e.g. ``(100, 200)`` for the
        rings ``0-100`` and ``100-200``.
    neighbours
        Where rings of neighbouring hotspots overlap: ``"split"`` (default) gives each
        place to the *nearest* hotspot, so the rings of all hotspots are disjoint and a
        crime is counted in one ring at most; ``"overlap"`` keeps each ring whole, so a
        crime between two hotspots counts for both.
    split_spacing_m
        With ``"split"``, the nearest-hotspot division is the Voronoi diagram of points
        placed every ``split_spacing_m`` metres along the hotspot edges (dissolved per
        hotspot), which puts the dividing line within about that distance of the exact
        equidistance line.

    Returns
    -------
    geopandas.GeoDataFrame
        ``hotspot_id, ring, inner_m, outer_m, geometry``, one row per hotspot and ring,
        sorted by hotspot then ring; a ring wholly taken by other hotspots is empty.
    """
    dist = [float(d) for d in distances_m]
    if not dist or any(d <= 0 for d in dist) or any(b <= a for a, b in zip(dist, dist[1:], strict=False)):
        raise ValueError(f"distances_m must be positive and increasing, not {tuple(distances_m)}")
    if neighbours not in ("split", "overlap"):
        raise ValueError(f"neighbours must be 'split' or 'overlap', not {neighbours!r}")
    geoms = hotspots.frame.geometry.to_numpy()
    every = shapely.union_all(geoms)
    zones = (_nearest_zones(geoms, dist[-1], split_spacing_m) if neighbours == "split"
             else np.full(len(geoms), None, dtype=object))
    rows = []
    inner = [0.0, *dist[:-1]]
    outer_buffers = [shapely.buffer(geoms, d, quad_segs=16) for d in dist]
    for k, (lo, hi) in enumerate(zip(inner, dist, strict=True)):
        ring = outer_buffers[k] if k == 0 else shapely.difference(outer_buffers[k], outer_buffers[k - 1])
        ring = shapely.difference(ring, every)
        if neighbours == "split":
            ring = shapely.intersection(ring, zones)
        label = f"{lo:g}-{hi:g}"
        for hid, g in zip(hotspots.ids, ring, strict=True):
            rows.append((str(hid), label, lo, hi, g))
    out = gpd.GeoDataFrame(rows, columns=["hotspot_id", "ring", "inner_m", "outer_m", "geometry"],
                           geometry="geometry", crs=hotspots.crs)
    return out.sort_values(["hotspot_id", "inner_m"], kind="stable").reset_index(drop=True)


def _nearest_zones(geoms: np.ndarray, reach: float, spacing: float) -> np.ndarray:
    """For each polygon, the region nearer to it than to any other (within ``reach``).

    Hotspots with no other hotspot within ``2 * reach`` get their whole buffer; the rest
    get the dissolved Voronoi cells of points spaced ``spacing`` along their edges.
    """
    zones = shapely.buffer(geoms, reach * 1.01, quad_segs=16)
    tree = shapely.STRtree(zones)
    left, right = tree.query(zones, predicate="intersects")
    near = np.unique(left[left != right])
    if len(near) == 0:
        return zones
    edges = shapely.segmentize(shapely.boundary(geoms[near]), spacing)
    coords, owner = shapely.get_coordinates(edges, return_index=True)
    # Work near the origin (GEOS loses precision at BNG magnitudes) and break the exact
    # co-circularity of evenly spaced points on parallel edges, which makes Delaunay
    # degenerate and Voronoi cells invalid, with a deterministic sub-centimetre offset
    # (Weyl sequences; no random numbers).
    origin = coords.mean(axis=0)
    coords, first = np.unique(np.round(coords - origin, 3), axis=0, return_index=True)
    owner = near[owner[first]]
    k = np.arange(len(coords))
    coords = coords + 0.01 * np.column_stack([(k * 0.6180339887) % 1 - 0.5, (k * 0.7548776662) % 1 - 0.5])
    local = shapely.transform(zones[near], lambda xy: xy - origin)
    extent = shapely.box(*shapely.total_bounds(local)).buffer(reach)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=extent,
                                                       ordered=True))
    for j, i in enumerate(near):
        region = shapely.union_all(cells[owner == i])
        zones[i] = shapely.transform(shapely.intersection(local[j], region), lambda xy: xy + origin)
    return zones
