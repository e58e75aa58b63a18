"""Build illustrative hotspots from data.police.uk street crimes and a force boundary.

Method
------
The College of Policing's hot-spots guidance and the harm-spot literature rank small,
*equal-sized* units by the harm recorded in them and patrol the top of the ranking
(College of Policing, "Hot spots policing", Crime Reduction Toolkit and Authorised
Professional Practice; Sherman, Neyroud & Neyroud 2016 for the Cambridge Crime Harm
Index; Weinborn et al. 2017, "Hotspots vs. harmspots", *J. Exp. Criminol.* 13(2)).
Grid cells, rather than street segments, are used because data.police.uk points are
anonymised "on or near" map points (https://data.police.uk/about/#anonymisation) and
carry no segment key. The steps, all deterministic (no random numbers):

1. **Grid.** Square cells of ``cell_size_m`` (default 150 m) aligned to whole multiples
   of the cell size in the metric CRS, clipped to the force boundary.
2. **Harm per cell.** Each violent crime (by default the era's
   :data:`~guardian_rct.crimes.policeuk.VIOLENT_TYPES`) inside the boundary adds its
   category-level CCHI weight (:func:`guardian_rct.harm.index.policeuk_category_weights`) to
   its cell.
3. **Seeds.** Cells are ranked by the harm of their 3×3 neighbourhood (then their own
   harm, then position); the ``n`` seeds are taken down that ranking, skipping any cell
   closer than ``min_separation_cells`` (Chebyshev distance) to a seed already taken, so
   that the seeds are ``n`` distinct local peaks.
4. **Growth.** All hotspots grow together, one cell at a time: the next cell is the one,
   among the cells edge-adjacent to some hotspot, with the most harm (ties: more edges
   shared with the hotspot, i.e. more compact; then the smaller hotspot; then position).
   A cell may join a hotspot only if it lies within ``max_radius_cells`` (Chebyshev) of
   the hotspot's seed, so every hotspot fits in a square of ``2r + 1`` cells (750 m with
   the defaults, a few minutes' walk across: patrollable), and only if none of its eight
   neighbours belongs to another hotspot, so hotspots never overlap or touch and each
   keeps its own displacement rings. Growth stops when the total area is as close as
   one cell allows to ``area_share`` of the force area.
5. **Polygons.** Each hotspot's cells are dissolved into one polygon, holes are filled,
   and the result is clipped to the boundary.
6. **Labels.** ``hotspot_id`` is ``H01``, ``H02``, … in descending order of harm;
   ``name`` is the most frequent data.police.uk street ("On or near X") of the violent
   crimes inside (generic places such as "Supermarket" only when there is no street);
   a name several hotspots share gets each one's second street ("High Street & Union
   Street"), then a number if still shared; ``block`` is the district holding most of its area.

Hotspots built this way from data.police.uk are *illustrative*: made from public,
anonymised, month-level data, they are not any force's operational hotspots.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from guardian_rct._core.errors import DataError, UsageError
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct._core.safe_write import atomic_path
from guardian_rct.geo.checks import Boundary
from guardian_rct.geo.coverage import Coverage, coverage, points_in
from guardian_rct.geo.harm_points import HarmWeightedCrimes
from guardian_rct.geo.hotspots import HotspotSet, hotspots_from_frame

__all__ = ["BuildResult", "build_hotspots", "read_districts"]

# data.police.uk map points that name a kind of place rather than a street.
_GENERIC = re.compile(
    r"(?:/|^(?:no location|shopping area|supermarket|parking area|petrol station|nightclub|hospital|"
    r"police station|sports/recreation area|park/open space|bus/coach station|hotel/motel|"
    r"theatre/concert hall|conference/exhibition centre|further/higher educational building|"
    r"pedestrian subway|prison|airport/airfield|place of worship|courts|theme/adventure park|"
    r".* vicinity)$)", re.IGNORECASE)


@dataclass(frozen=True)
class BuildResult:
    """Hotspots built by :func:`build_hotspots` and how well they concentrate harm.

    Attributes
    ----------
    frame
        GeoDataFrame (metric CRS) with ``hotspot_id, name, block, rank, cells,
        violent_crimes, harm_cchi_days, area_m2, geometry``.
    hotspots
        The same polygons validated as a :class:`~guardian_rct.geo.hotspots.HotspotSet`.
    coverage
        Share of the force area, violence and harm the hotspots hold (in the build data).
    parameters
        The build parameters, for the record.
    """

    frame: gpd.GeoDataFrame
    hotspots: HotspotSet
    coverage: Coverage
    parameters: dict[str, Any]
    provenance: Provenance = field(repr=False)

    def write(self, path: str | Path, *, inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the hotspots as GeoJSON (WGS84, as RFC 7946 requires) or GeoPackage.

        Atomic, and never over one of ``inputs`` (the crimes, the boundary) or a protected
        trial file such as the registered hotspot file (:mod:`guardian_rct._core.safe_write`).
        """
        path = Path(path)
        if path.suffix.lower() not in (".geojson", ".json", ".gpkg"):
            raise UsageError("unsupported output format", where=str(path),
                             expected=".geojson or .gpkg", found=path.suffix or "no suffix",
                             fix="name the output file hotspots.geojson or hotspots.gpkg")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.frame.copy()
        frame["area_m2"] = frame["area_m2"].round(1)
        frame["harm_cchi_days"] = frame["harm_cchi_days"].round(2)
        with atomic_path(path, inputs=inputs, what="hotspot file") as tmp:
            if path.suffix.lower() == ".gpkg":
                frame.to_file(tmp, driver="GPKG", layer="hotspots")
            else:
                frame.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON", WRITE_NAME="NO")
        return path

    def summary(self) -> str:
        """Parameters, the coverage sentence and the hotspots by block."""
        p = self.parameters
        blocks = self.frame["block"].value_counts().sort_index()
        return "\n".join([
            f"built {len(self.frame)} hotspots from {p['cells_with_harm']} grid cells with violent "
            f"harm ({p['cell_size_m']:g} m cells, at most {2 * p['max_radius_cells'] + 1}×"
            f"{2 * p['max_radius_cells'] + 1} cells each, target {p['area_share']:.2%} of the force area)",
            self.coverage.summary(),
            "blocks: " + ", ".join(f"{b} {c}" for b, c in blocks.items()),
        ])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the polygons themselves are in the written file)."""
        table = self.frame.drop(columns="geometry").round({"area_m2": 1, "harm_cchi_days": 2})
        return {"parameters": self.parameters, "coverage": self.coverage.to_dict(),
                "hotspots": table.to_dict(orient="records"), "provenance": self.provenance.to_dict()}


def read_districts(path: str | Path, *, name_column: str | None = None,
                   crs: str = "EPSG:27700") -> gpd.GeoDataFrame:
    """Read district polygons (the blocks) with a ``name`` column, in ``crs``.

    ``name_column`` defaults to ``name``, else the first column whose name ends in
    ``NM`` (ONS style, e.g. ``LAD11NM``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("districts file not found", where=str(path), fix="check the path")
    frame = gpd.read_file(path)
    if frame.crs is None:
        raise DataError("the districts file has no CRS", where=str(path), fix="save it with a CRS")
    if name_column is None:
        candidates = [c for c in frame.columns if c == "name"] + [c for c in frame.columns
                                                                  if str(c).upper().endswith("NM")]
        if not candidates:
            raise DataError("cannot tell which column names the districts", where=str(path),
                            expected="a column 'name' (or ONS-style '...NM')",
                            found="columns " + ", ".join(c for c in frame.columns if c != "geometry"),
                            fix="name the column with --district-column")
        name_column = candidates[0]
    if name_column not in frame.columns:
        raise DataError(f"no '{name_column}' column", where=str(path),
                        found="columns " + ", ".join(c for c in frame.columns if c != "geometry"),
                        fix="name an existing column with --district-column")
    out = gpd.GeoDataFrame({"name": frame[name_column].astype(str).to_numpy()},
                           geometry=frame.geometry.to_numpy(), crs=frame.crs)
    return out.to_crs(crs)


def build_hotspots(
    crimes: HarmWeightedCrimes,
    boundary: Boundary,
    *,
    districts: gpd.GeoDataFrame | None = None,
    n: int = 57,
    area_share: float = 0.014,
    cell_size_m: float = 150.0,
    max_radius_cells: int = 2,
    min_separation_cells: int = 4,
    crime_types: Sequence[str] | None = None,
) -> BuildResult:
    """Find ``n`` compact, non-overlapping areas of highest violent harm.

    See the module docstring for the method and its sources.

    Parameters
    ----------
    crimes
        Located crimes in the boundary's CRS that give harm-weighted points (e.g.
        data.police.uk street crimes, :func:`guardian_rct.crimes.policeuk.read_street_crimes`).
    boundary
        The force boundary; the area target is a share of its area.
    districts
        Polygons with a ``name`` column (:func:`read_districts`) used as blocks;
        without them every block is ``"all"``.
    n
        Number of hotspots.
    area_share
        Target share of the force area covered by all hotspots together (0.014 = 1.4%).
    cell_size_m
        Side of the square grid cells, metres.
    max_radius_cells
        A hotspot's cells lie within this Chebyshev distance of its seed cell.
    min_separation_cells
        Minimum Chebyshev distance between two seeds.
    crime_types
        Crime types counted as violence (default: the era's ``VIOLENT_TYPES``).

    Raises
    ------
    UsageError
        Impossible parameters (e.g. a share outside (0, 1)).
    DataError
        Too few cells with violent harm for ``n`` hotspots, or a target area the
        hotspots cannot reach within their size limit.
    """
    _check_parameters(n, area_share, cell_size_m, max_radius_cells, min_separation_cells)
    selected = crimes.harm_points(crime_types)
    violent, harm, types = selected.frame, selected.harm, selected.crime_types
    inside = points_in(violent.geometry.to_numpy(), np.array([boundary.geometry]))
    violent, harm = violent[inside], harm[inside]
    grid = _Grid(boundary, cell_size_m)
    cell_of = grid.cell_index(shapely.get_coordinates(violent.geometry.to_numpy()))
    harm_grid = np.zeros(grid.shape)
    np.add.at(harm_grid, cell_of, harm)
    if int((harm_grid > 0).sum()) < n:
        raise DataError(f"only {int((harm_grid > 0).sum())} grid cells hold violent crime, too few "
                        f"for {n} hotspots", where=", ".join(selected.sources),
                        fix="ask for fewer hotspots, use smaller cells or more months of data")
    seeds = _seeds(harm_grid, n, min_separation_cells)
    grid.clip_areas(seeds, max_radius_cells)
    target = area_share * float(boundary.geometry.area)
    members = _grow(harm_grid, grid.area, seeds, target, max_radius_cells)
    frame = _polygons(members, grid, boundary, harm_grid)
    frame = _label(frame, violent, harm, districts)
    hotspots = hotspots_from_frame(frame, block_column="block", crs=boundary.crs.to_string())
    cov = coverage(hotspots, boundary, crimes, crime_types=types)
    parameters = {"n": n, "area_share": area_share, "cell_size_m": cell_size_m,
                  "max_radius_cells": max_radius_cells, "min_separation_cells": min_separation_cells,
                  "crime_types": list(types), "era": selected.era,
                  "cells_with_harm": int((harm_grid > 0).sum()), "crs": boundary.crs.to_string()}
    prov = make_provenance(hashes={"boundary": boundary.sha256, **selected.sources})
    return BuildResult(frame=frame, hotspots=hotspots, coverage=cov, parameters=parameters,
                       provenance=prov)


def _check_parameters(n: int, share: float, cell: float, radius: int, separation: int) -> None:
    checks = [
        (n >= 1, "n", "at least 1", n),
        (0 < share < 1, "area share", "between 0 and 1 (0.014 = 1.4%)", share),
        (cell > 0, "cell size", "a positive number of metres", cell),
        (radius >= 0, "max radius", "0 or more cells", radius),
        (separation >= 1, "seed separation", "1 or more cells", separation),
    ]
    for ok, name, expected, found in checks:
        if not ok:
            raise UsageError(f"impossible {name}", expected=expected, found=str(found),
                             where="hotspots build", fix=f"give a {name} {expected}")


class _Grid:
    """Square cells aligned to multiples of ``size``, covering the boundary.

    ``area`` holds each cell's area inside the boundary: ``size²`` for cells wholly
    inside, 0 outside, and NaN for cells cut by the boundary until :meth:`clip_areas`
    measures them (clipping every edge cell against a detailed boundary is the slow part,
    so only the cells a hotspot can reach are measured).
    """

    def __init__(self, boundary: Boundary, size: float) -> None:
        minx, miny, maxx, maxy = boundary.geometry.bounds
        self.size = size
        self.shape_geom = boundary.geometry
        self.x0 = np.floor(minx / size) * size
        self.y0 = np.floor(miny / size) * size
        nx = int(np.ceil((maxx - self.x0) / size))
        ny = int(np.ceil((maxy - self.y0) / size))
        self.shape = (nx, ny)
        ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        x, y = self.x0 + ix.ravel() * size, self.y0 + iy.ravel() * size
        boxes = shapely.box(x, y, x + size, y + size)
        shapely.prepare(self.shape_geom)
        whole = shapely.contains_properly(self.shape_geom, boxes)
        part = shapely.intersects(self.shape_geom, boxes) & ~whole
        area = np.where(whole, size * size, 0.0)
        area[part] = np.nan
        self.area = area.reshape(self.shape)
        self.boxes = boxes.reshape(self.shape)

    def clip_areas(self, cells: list[tuple[int, int]], radius: int) -> None:
        """Measure the cut cells within ``radius`` (Chebyshev) of ``cells``."""
        near = np.zeros(self.shape, dtype=bool)
        for i, j in cells:
            near[max(i - radius, 0):i + radius + 1, max(j - radius, 0):j + radius + 1] = True
        todo = near & np.isnan(self.area)
        if todo.any():
            self.area[todo] = shapely.area(shapely.intersection(self.boxes[todo], self.shape_geom))

    def cell_index(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ix = np.clip(((xy[:, 0] - self.x0) // self.size).astype(int), 0, self.shape[0] - 1)
        iy = np.clip(((xy[:, 1] - self.y0) // self.size).astype(int), 0, self.shape[1] - 1)
        return ix, iy


def _seeds(harm: np.ndarray, n: int, separation: int) -> list[tuple[int, int]]:
    """Greedy, separated local peaks of neighbourhood harm (module docstring, step 3)."""
    local = ndimage.uniform_filter(harm, size=3, mode="constant") * 9.0
    ix, iy = np.nonzero(harm > 0)
    order = np.lexsort((iy, ix, -harm[ix, iy], -np.round(local[ix, iy], 9)))
    taken = np.zeros(harm.shape, dtype=bool)
    seeds: list[tuple[int, int]] = []
    for k in order:
        i, j = int(ix[k]), int(iy[k])
        if taken[i, j]:
            continue
        seeds.append((i, j))
        if len(seeds) == n:
            return seeds
        taken[max(i - separation + 1, 0):i + separation, max(j - separation + 1, 0):j + separation] = True
    raise DataError(f"only {len(seeds)} separated peaks of violent harm, too few for {n} hotspots",
                    where="hotspots build", fix="ask for fewer hotspots or a smaller seed separation")


_STEPS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _grow(harm: np.ndarray, area: np.ndarray, seeds: list[tuple[int, int]], target: float,
          radius: int) -> list[list[tuple[int, int]]]:
    """Grow all hotspots together, best cell first (module docstring, step 4)."""
    nx, ny = harm.shape
    owner = np.full(harm.shape, -1, dtype=int)
    members: list[list[tuple[int, int]]] = [[s] for s in seeds]
    for h, (i, j) in enumerate(seeds):
        owner[i, j] = h
    total = float(sum(area[s] for s in seeds))
    cell = float(np.nanmax(area))
    if total - target > cell / 2:
        raise UsageError(f"{len(seeds)} hotspots of one cell each already cover {total / 1e6:.3f} km², "
                         f"more than the target {target / 1e6:.3f} km²", where="hotspots build",
                         fix="use smaller cells, fewer hotspots or a larger area share")
    heap: list[tuple] = []

    def allowed(h: int, i: int, j: int) -> bool:
        si, sj = seeds[h]
        if not (0 <= i < nx and 0 <= j < ny) or owner[i, j] != -1 or not area[i, j] > 0:
            return False
        if max(abs(i - si), abs(j - sj)) > radius:
            return False
        block = owner[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
        return bool(np.all((block == -1) | (block == h)))

    def push(h: int, i: int, j: int) -> None:
        if allowed(h, i, j):
            shared = sum(1 for di, dj in _STEPS if 0 <= i + di < nx and 0 <= j + dj < ny
                         and owner[i + di, j + dj] == h)
            heapq.heappush(heap, (-harm[i, j], -shared, len(members[h]), i, j, h))

    for h, (i, j) in enumerate(seeds):
        for di, dj in _STEPS:
            push(h, i + di, j + dj)
    while heap and total < target:
        neg_harm, neg_shared, size, i, j, h = heapq.heappop(heap)
        if not allowed(h, i, j):
            continue
        shared = sum(1 for di, dj in _STEPS if 0 <= i + di < nx and 0 <= j + dj < ny
                     and owner[i + di, j + dj] == h)
        if (-neg_shared, size) != (shared, len(members[h])):  # stale priority: re-queue
            push(h, i, j)
            continue
        if abs(total + area[i, j] - target) >= abs(total - target):
            break
        owner[i, j] = h
        members[h].append((i, j))
        total += float(area[i, j])
        for di, dj in _STEPS:
            push(h, i + di, j + dj)
        for di, dj in _STEPS:  # neighbours' shared-edge counts changed
            ni, nj = i + di, j + dj
            if 0 <= ni < nx and 0 <= nj < ny and owner[ni, nj] == -1:
                for di2, dj2 in _STEPS:
                    push(h, ni + di2, nj + dj2)
    if total < 0.99 * target and not heap:
        raise DataError("the hotspots cannot reach the target area within their size limit",
                        expected=f"{target / 1e6:.2f} km²", found=f"{total / 1e6:.2f} km²",
                        where="hotspots build",
                        fix="allow larger hotspots (max radius or cell size) or more hotspots")
    return members


def _polygons(members: list[list[tuple[int, int]]], grid: _Grid, boundary: Boundary,
              harm: np.ndarray) -> gpd.GeoDataFrame:
    geoms, cells, harms = [], [], []
    for cells_h in members:
        ii = np.array([c[0] for c in cells_h])
        jj = np.array([c[1] for c in cells_h])
        merged = shapely.union_all(grid.boxes[ii, jj])
        filled = shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(merged)])
        geoms.append(shapely.intersection(filled, boundary.geometry))
        cells.append(len(cells_h))
        harms.append(float(harm[ii, jj].sum()))
    frame = gpd.GeoDataFrame({"cells": cells, "seed_harm": harms}, geometry=geoms, crs=boundary.crs)
    return frame


def _label(frame: gpd.GeoDataFrame, violent: gpd.GeoDataFrame, harm: np.ndarray,
           districts: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    geoms = frame.geometry.to_numpy()
    tree = shapely.STRtree(violent.geometry.to_numpy())
    poly_idx, point_idx = tree.query(geoms, predicate="intersects")
    n = len(frame)
    counts = np.bincount(poly_idx, minlength=n)
    harm_in = np.bincount(poly_idx, weights=harm[point_idx], minlength=n)
    locations = violent["location"].to_numpy()
    ranked = [_street_names(locations[point_idx[poly_idx == h]]) for h in range(n)]
    out = gpd.GeoDataFrame({"violent_crimes": counts, "harm_cchi_days": harm_in, "_ranked": ranked,
                            "cells": frame["cells"].to_numpy()}, geometry=geoms, crs=frame.crs)
    out["area_m2"] = out.geometry.area
    out["block"] = _blocks(geoms, districts, frame.crs)
    centroid = out.geometry.centroid
    out["_x"], out["_y"] = centroid.x.round(3), centroid.y.round(3)
    out = out.sort_values(["harm_cchi_days", "violent_crimes", "_x", "_y"],
                          ascending=[False, False, True, True], kind="stable").reset_index(drop=True)
    width = max(2, len(str(len(out))))
    out["rank"] = np.arange(1, len(out) + 1)
    out["hotspot_id"] = [f"H{r:0{width}d}" for r in out["rank"]]
    out["name"] = _unique(out["_ranked"].tolist())
    cols = ["hotspot_id", "name", "block", "rank", "cells", "violent_crimes", "harm_cchi_days",
            "area_m2", "geometry"]
    return out[cols]


def _street_names(locations: np.ndarray) -> list[str]:
    """Streets of the crimes, most frequent first (ties alphabetical); generic places last."""
    names = pd.Series(locations, dtype=object).str.replace(r"^On or near\s+", "", regex=True).str.strip()
    names = names[names != ""]
    if names.empty:
        return ["Unnamed"]
    counts = names.value_counts()
    table = pd.DataFrame({"name": counts.index.astype(str), "n": counts.to_numpy()})
    table["generic"] = table["name"].str.contains(_GENERIC)
    table = table.sort_values(["generic", "n", "name"], ascending=[True, False, True])
    return table["name"].tolist()


def _unique(ranked: list[list[str]]) -> list[str]:
    """First street of each hotspot; a name shared by several gets its second street
    ("High Street & Union Street"), and any name still shared a number."""
    names = [r[0] for r in ranked]
    shared = pd.Series(names).duplicated(keep=False).to_numpy()
    names = [f"{r[0]} & {r[1]}" if dup and len(r) > 1 else r[0]
             for r, dup in zip(ranked, shared, strict=True)]
    total = pd.Series(names).value_counts().to_dict()
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(f"{name} ({seen[name]})" if total[name] > 1 else name)
    return out


def _blocks(geoms: np.ndarray, districts: gpd.GeoDataFrame | None, crs: Any) -> list[str]:
    if districts is None:
        return ["all"] * len(geoms)
    if districts.crs is not None and not districts.crs.equals(crs):
        districts = districts.to_crs(crs)
    dgeoms = districts.geometry.to_numpy()
    labels = districts["name"].to_numpy()
    blocks = []
    for g in geoms:
        shares = shapely.area(shapely.intersection(g, dgeoms))
        blocks.append(str(labels[int(np.argmax(shares))]) if shares.max() > 0 else "outside districts")
    return blocks
