"""One GeoPackage per report run, every spatial layer in it, styled for QGIS.

A force analyst opens ``weekly_compliance.gpkg`` or ``milestone_layers.gpkg`` in QGIS
(or ArcGIS Pro, or loads it into Power BI's map visuals through a converter) and gets
the report's spatial content, already styled:

* weekly: ``hotspots``, ``buffer_rings``, ``compliance_by_hotspot`` (hotspot polygons
  with the week's scheduled/compliant/pending/missed counts, rate and red/amber/green,
  coloured like the HTML report) and ``visits`` (one row per visit, **with the visited
  hotspot's polygon as its geometry**: a visit is a stay inside a hotspot, and the
  pings are not kept, so the polygon is the honest location; officer and device ids are
  the report's keyed pseudonyms);
* milestone: ``hotspots``, ``buffer_rings`` and ``outcomes_by_hotspot`` (per hotspot and
  outcome, crimes and harm on patrol and no-patrol days, per day, and their ratio).

Every layer is in the trial CRS (EPSG:27700 by default). Styles follow the QGIS
convention for GeoPackages: a ``layer_styles`` attribute table with the columns QGIS
itself creates (``f_table_catalog``, ``f_table_schema``, ``f_table_name``,
``f_geometry_column``, ``styleName``, ``styleQML``, ``styleSLD``, ``useAsDefault``,
``description``, ``owner``, ``ui``, ``update_time``); QGIS applies the ``useAsDefault``
row of a layer when it is added. The table is written through GDAL (pyogrio), as QGIS
does, so it is registered in ``gpkg_contents`` like any attribute table. ``styleSLD`` is
left empty (QGIS reads the QML).

The file is written atomically and never over an input (:mod:`guardian_rct._core.safe_write`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from guardian_rct._core.background import background_pool
from guardian_rct._core.safe_write import atomic_path
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.rings import buffer_rings
from guardian_rct.reports import qgis_styles as qs

__all__ = ["GpkgLayer", "write_geopackage", "weekly_layers", "milestone_layers", "hotspot_outcomes",
           "rings_for", "write_geoparquet", "GEOMETRY_COLUMN", "STYLE_COLUMNS"]

#: The geometry column name GDAL gives GeoPackage layers (``gpkg_geometry_columns``).
GEOMETRY_COLUMN = "geom"
#: Columns of the QGIS ``layer_styles`` table, in QGIS's order.
STYLE_COLUMNS = ("f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                 "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time")

_HOTSPOT_QML = qs.single_symbol_qml(qs.fill_symbol("0", fill="31,78,121,60", outline="31,78,121,255",
                                                   outline_width=0.5), label_field="hotspot_id")
_RING_QML = qs.single_symbol_qml(qs.fill_symbol("0", fill="0,0,0,0", outline="110,110,110,255",
                                                outline_width=0.3, style="no", outline_style="dash"))
_VISIT_QML = qs.single_symbol_qml(qs.marker_symbol("0", fill="117,107,177,90", outline="84,39,143,255",
                                                   size_mm=2.0))


@dataclass(frozen=True)
class GpkgLayer:
    """One layer of a report GeoPackage: its table, its default QGIS style and a description."""

    name: str
    frame: gpd.GeoDataFrame
    qml: str
    description: str


_RINGS: dict[tuple, Future] = {}


def _rings_key(hotspots: HotspotSet, distances_m: Sequence[float]) -> tuple:
    return (hotspots.sha256, tuple(hotspots.frame["hotspot_id"].astype(str)), hotspots.frame.crs.to_string(),
            tuple(float(d) for d in distances_m))


_RINGS_POOL: ThreadPoolExecutor | None = None


def _rings_future(hotspots: HotspotSet, distances_m: Sequence[float]) -> Future:
    """The (memoised) computation of the rings, in a background thread."""
    global _RINGS_POOL
    key = _rings_key(hotspots, distances_m)
    if key not in _RINGS:
        if len(_RINGS) >= 4:
            _RINGS.pop(next(iter(_RINGS)))
        if _RINGS_POOL is None:
            _RINGS_POOL = background_pool("buffer-rings")  # gives way to the command's own threads
        _RINGS[key] = _RINGS_POOL.submit(buffer_rings, hotspots, list(distances_m))
    return _RINGS[key]


def start_rings(hotspots: HotspotSet, distances_m: Sequence[float]) -> None:
    """Start computing the buffer rings of ``hotspots`` in a background thread, so that a
    report written later (:func:`rings_for`) finds them ready: the split of neighbouring
    rings takes about 0.5 CPU-s for 57 hotspots, most of it in GEOS, which releases the GIL.
    ``guardian-rct compliance`` starts it once the pings are scored: the report leaves a
    core free until its GeoPackage, while scoring keeps both busy (started before the
    pings, the same 50 M-ping week took about 0.3 s longer)."""
    if distances_m:
        _rings_future(hotspots, distances_m)


def rings_for(hotspots: HotspotSet, distances_m: Sequence[float]) -> gpd.GeoDataFrame | None:
    """The buffer rings of ``hotspots`` (:func:`guardian_rct.geo.rings.buffer_rings`), memoised.

    A demo or a backlog run writes dozens of weekly reports for the same hotspot file;
    rings are computed once per (hotspot file hash, ids, CRS, distances) in a process
    (started early by :func:`start_rings`, or here).
    """
    if not distances_m:
        return None
    return _rings_future(hotspots, distances_m).result()


def _style_rows(layers: Sequence[GpkgLayer], owner: str) -> pd.DataFrame:
    now = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("s")
    rows = [{"f_table_catalog": "", "f_table_schema": "", "f_table_name": layer.name,
             "f_geometry_column": GEOMETRY_COLUMN, "styleName": layer.name, "styleQML": layer.qml,
             "styleSLD": "", "useAsDefault": True, "description": layer.description, "owner": owner,
             "ui": "", "update_time": now} for layer in layers]
    return pd.DataFrame(rows, columns=list(STYLE_COLUMNS))


def write_geoparquet(path: str | Path, frame: gpd.GeoDataFrame, *,
                     inputs: Iterable[str | Path | None] = ()) -> Path:
    """Write ``frame`` as GeoParquet (geopandas ``to_parquet``: WKB geometry and the ``geo``
    metadata of the GeoParquet 1.0 specification), atomically and never over an input."""
    with atomic_path(path, inputs=inputs, what="GeoParquet") as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


#: GDAL's Arrow write path (GDAL >= 3.8, pyogrio >= 0.8): 126 000 visits in 0.41 s instead of
#: 1.60 s, the same GeoPackage read back (times, types, geometry).
_ARROW_WRITE = tuple(pyogrio.__gdal_version__) >= (3, 8, 0)


def write_geopackage(path: str | Path, layers: Sequence[GpkgLayer], *,
                     inputs: Iterable[str | Path | None] = (), owner: str = "guardian_rct") -> Path:
    """Write ``layers`` and their QGIS default styles into one GeoPackage at ``path``.

    Raises
    ------
    ValueError
        Two layers share a name, or a layer is not in a projected CRS (a programming error:
        report layers are built in the trial CRS).
    """
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names) or "layer_styles" in names:
        raise ValueError(f"GeoPackage layer names must be unique and not 'layer_styles': {names}")
    with atomic_path(path, inputs=inputs, what="GeoPackage") as tmp, _no_sqlite_sync():
        for i, layer in enumerate(layers):
            frame = layer.frame
            if frame.crs is None or not frame.crs.is_projected:
                raise ValueError(f"layer {layer.name!r} has no projected CRS ({frame.crs})")
            # GeoPackage 1.2: read without warnings by QGIS 3.22 LTR / ArcGIS Pro on older GDAL
            pyogrio.write_dataframe(_gpkg_ready(frame), tmp, layer=layer.name, driver="GPKG",
                                    geometry_type="MultiPolygon" if _polygonal(frame) else None,
                                    dataset_options={"VERSION": "1.2"} if i == 0 else None,
                                    use_arrow=_ARROW_WRITE)
        pyogrio.write_dataframe(_style_rows(layers, owner), tmp, layer="layer_styles", driver="GPKG",
                                use_arrow=_ARROW_WRITE)
    return Path(path)


@contextlib.contextmanager
def _no_sqlite_sync() -> Iterator[None]:
    """GDAL's SQLite writes without ``fsync`` per layer (``OGR_SQLITE_SYNCHRONOUS=OFF``).

    Safe here: the GeoPackage is a temporary file that :func:`atomic_path` fsyncs once
    before renaming it into place, so a crash leaves the old file or none. Five times
    faster (five layers: 0.9 s → 0.2 s), which matters for a backlog of weekly reports.
    The previous setting is restored.
    """
    key = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: before})


_POLYGON_TYPES = frozenset({int(shapely.GeometryType.POLYGON), int(shapely.GeometryType.MULTIPOLYGON)})


def _polygonal(frame: gpd.GeoDataFrame) -> bool:
    """Whether every geometry present is a (Multi)Polygon (missing ones aside; at least one).

    From shapely's type ids (-1 for a missing geometry), not ``geom_type``: that makes a
    string per row (126 000 visits: 15 ms, twice per layer).
    """
    kinds = set(np.unique(shapely.get_type_id(frame.geometry.to_numpy())).tolist()) - {-1}
    return bool(kinds) and kinds <= _POLYGON_TYPES


def _gpkg_ready(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons promoted to MultiPolygon (one geometry type per layer, as QGIS expects), and
    instants rounded to the millisecond (:func:`_whole_milliseconds`)."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name].dtype):  # with or without a zone
            out[name] = _whole_milliseconds(out[name])
    if _polygonal(out):
        geoms = np.array(out.geometry.to_numpy(), dtype=object)
        single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
        if single.any():  # vectorised MultiPolygon([g]) (126 000 visits: 1.0 s -> 0.2 s)
            geoms[single] = shapely.multipolygons(geoms[single][:, None])
        out["geometry"] = gpd.GeoSeries(geoms, index=out.index, crs=frame.crs)
        out = out.set_geometry("geometry", crs=frame.crs)
    return out


def _whole_milliseconds(values: pd.Series) -> pd.Series:
    """Instants rounded to the millisecond, the precision of a GeoPackage DATETIME.

    GDAL writes the seconds of an instant rounded to three decimals without carrying into
    the minute: a visit ending at 22:29:59.9996 was written as ``22:29:60.000Z``, which
    QGIS and pandas cannot read as a time. Rounded first, it is ``22:30:00.000Z``.
    """
    return values.dt.round("ms")


def _hotspot_layer(hotspots: HotspotSet) -> GpkgLayer:
    frame = hotspots.frame.copy()
    return GpkgLayer("hotspots", frame, _HOTSPOT_QML, "trial hotspots (registered polygons)")


def _ring_layer(rings: gpd.GeoDataFrame) -> GpkgLayer:
    return GpkgLayer("buffer_rings", rings.copy(), _RING_QML,
                     "displacement buffer rings around each hotspot (inner_m-outer_m metres)")


def weekly_layers(hotspots: HotspotSet, by_hotspot: Sequence[Mapping], visits: pd.DataFrame, *,
                  rings: gpd.GeoDataFrame | None, rag_colours: Mapping[str, str],
                  rag_labels: Mapping[str, str], rag_pale: Mapping[str, str] | None = None,
                  few_label: str = "fewer decided patrols than the caution threshold") -> list[GpkgLayer]:
    """The weekly report's layers: hotspots, rings, compliance by hotspot, visits.

    ``by_hotspot`` are the report's ``by_hotspot`` rows (one per hotspot with ``rag`` and,
    from the small-numbers caution, ``few``); ``visits`` is the pseudonymised visits table
    with a ``hotspot_id`` column. The compliance layer is styled on ``rag_style``: the
    ``rag`` value, or ``<rag>_few`` drawn in the pale ``rag_pale`` tint where the rate rests
    on too few patrols to be a verdict, as the report's own maps draw it.
    """
    geom = hotspots.frame[["hotspot_id", "geometry"]]
    table = pd.DataFrame(list(by_hotspot))
    if table.empty:
        table = pd.DataFrame({"hotspot_id": pd.Series(dtype=str), "rag": pd.Series(dtype=str)})
    comp = geom.merge(table.drop(columns=["geometry"], errors="ignore"), on="hotspot_id", how="left")
    comp["rag"] = comp["rag"].fillna("none")
    few = comp["few"].fillna(False).astype(bool) if "few" in comp.columns else pd.Series(False, index=comp.index)
    comp["rag_style"] = comp["rag"].where(~few, comp["rag"] + "_few")
    comp = gpd.GeoDataFrame(comp, geometry="geometry", crs=hotspots.frame.crs)
    categories = qs.rag_categories(rag_colours, rag_labels)
    if rag_pale:
        categories += qs.rag_categories({f"{k}_few": v for k, v in rag_pale.items()},
                                        {f"{k}_few": f"{rag_labels.get(k, k)} ({few_label})" for k in rag_pale})
    comp_qml = qs.categorized_qml("rag_style", categories, label_field="hotspot_id")
    # A point inside the hotspot per visit, not its polygon: 126 000 visits of a force-week
    # as polygons were a 205 MB layer of stacked copies (2.8 s to write); join on
    # hotspot_id to the hotspots layer for the outline.
    inside = geom.assign(geometry=shapely.point_on_surface(geom.geometry.to_numpy()))
    vis = gpd.GeoDataFrame(inside.merge(visits, on="hotspot_id", how="inner"), geometry="geometry",
                           crs=hotspots.frame.crs)
    layers = [_hotspot_layer(hotspots)]
    if rings is not None:
        layers.append(_ring_layer(rings))
    layers += [GpkgLayer("compliance_by_hotspot", comp, comp_qml,
                         "patrols scheduled, compliant, pending and missed per hotspot, rate and red/amber/green"),
               GpkgLayer("visits", vis, _VISIT_QML,
                         "one row per visit (a stay inside a hotspot); geometry is a point inside the visited "
                         "hotspot, not where the officer stood (join on hotspot_id to the hotspots "
                         "layer for its polygon)")]
    return layers


def hotspot_outcomes(frame: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Per hotspot and outcome: crimes and harm on patrol and no-patrol days, per day, ratio.

    ``rate_ratio`` is (crimes per patrol day) / (crimes per no-patrol day) of the hotspot:
    a description of the hotspot's own days, not an effect estimate (the report's ITT is
    the estimate). It is empty when either arm has no days or the no-patrol rate is 0.
    """
    treated = frame["treated"].astype(bool)
    rows = []
    for o in outcomes:
        grouped = frame.assign(_t=treated).groupby(["hotspot_id", "_t"])
        agg = grouped.agg(days=("date", "size"), crimes=(f"count_{o}", "sum"), harm=(f"harm_{o}", "sum"))
        agg = agg.unstack("_t", fill_value=0)
        out = pd.DataFrame({"hotspot_id": agg.index.astype(str), "outcome": o})
        for flag, arm in ((True, "patrol"), (False, "no_patrol")):
            for what in ("days", "crimes", "harm"):
                col = (what, flag)
                out[f"{arm}_{what}"] = agg[col].to_numpy() if col in agg.columns else 0
        with np.errstate(divide="ignore", invalid="ignore"):
            p = out["patrol_crimes"] / out["patrol_days"].where(out["patrol_days"] > 0)
            n = out["no_patrol_crimes"] / out["no_patrol_days"].where(out["no_patrol_days"] > 0)
        out["patrol_crimes_per_day"] = p
        out["no_patrol_crimes_per_day"] = n
        out["rate_ratio"] = (p / n.where(n > 0)).astype(float)
        rows.append(out)
    return pd.concat(rows, ignore_index=True)


def milestone_layers(hotspots: HotspotSet, panel_frame: pd.DataFrame, outcomes: Sequence[str], *,
                     rings: gpd.GeoDataFrame | None) -> list[GpkgLayer]:
    """The milestone report's layers: hotspots, rings, outcomes by hotspot (all outcomes)."""
    table = hotspot_outcomes(panel_frame, outcomes)
    geom = hotspots.frame[["hotspot_id", "name", "geometry"]]
    out = gpd.GeoDataFrame(geom.merge(table, on="hotspot_id", how="inner"), geometry="geometry",
                           crs=hotspots.frame.crs)
    ranges = [(0.0, 0.8, "fewer on patrol days (ratio < 0.8)", "26,152,80,200"),
              (0.8, 1.25, "about the same (0.8-1.25)", "255,255,191,200"),
              (1.25, 1e9, "more on patrol days (ratio > 1.25)", "215,48,39,200")]
    qml = qs.graduated_qml("rate_ratio", ranges, label_field="hotspot_id")
    layers = [_hotspot_layer(hotspots)]
    if rings is not None:
        layers.append(_ring_layer(rings))
    layers.append(GpkgLayer("outcomes_by_hotspot", out, qml,
                            "per hotspot and outcome: crimes and harm on patrol and no-patrol days "
                            "(descriptive; filter on 'outcome')"))
    return layers
