"""Static map images for reports and tasking sheets.

Maps are drawn with matplotlib (Agg backend, no network, no tiles) and embedded in HTML
as base64 PNG data URIs, so a printed tasking sheet or an emailed report shows the map
offline. Every map is drawn in the hotspots' metric CRS (British National Grid for the
shipped data, whose grid north is within a degree of true north across the West
Midlands) and carries a scale bar and a north arrow.

Layers, bottom to top: an optional basemap (``[maps] basemap``, e.g. OS Open Roads), the
force outline -- the whole ``[hotspots] boundary``, never clipped, or, without one, the
convex hull of the trial's hotspots labelled as such --, district outlines with their
names, all hotspots in grey, then the highlighted hotspots with labels. Labels never overlap
(:func:`guardian_rct.reports.map_labels.place_labels`: beside the point where there is
room, else in the margin on a leader line).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from guardian_rct.reports.map_labels import names_where_free, place_labels  # noqa: E402

__all__ = ["hotspot_map_png", "png_data_uri", "MapContext", "place_labels", "add_scale_bar",
           "add_north_arrow", "street_insets_png", "nice_length"]


@dataclass(frozen=True)
class MapContext:
    """Context layers in the hotspots' CRS (each may be ``None``).

    ``outline_label`` says what the outline is (e.g. "force boundary" or "envelope of
    the hotspots (no boundary configured)"), and is shown in the legend. ``wards`` are
    drawn as faint outlines, and their names only where they collide with nothing else
    (:func:`guardian_rct.reports.map_labels.names_where_free`); ``notes`` (e.g. the
    wards' vintage and licence) are printed under the map.
    """

    outline: gpd.GeoDataFrame | None = None
    outline_label: str = "force boundary"
    districts: gpd.GeoDataFrame | None = None
    district_names: tuple[str, ...] = ()
    wards: gpd.GeoDataFrame | None = None
    ward_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    basemap: gpd.GeoDataFrame | None = None


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def nice_length(span: float) -> float:
    """A round length (1, 2 or 5 × 10ⁿ) near a fifth of ``span`` for a scale bar."""
    target = max(span / 5.0, 1e-9)
    power = 10 ** math.floor(math.log10(target))
    return max(m * power for m in (1, 2, 5) if m * power <= target)


def add_scale_bar(ax: Axes, *, fontsize: float = 7) -> float:
    """Draw a scale bar in the lower right of a metric map; returns its length in metres."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length(x1 - x0)
    right, bottom = x1 - 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([right - length, right], [bottom, bottom], color="black", linewidth=3, solid_capstyle="butt",
            zorder=10)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(right - length / 2, bottom + 0.015 * (y1 - y0), text, ha="center", va="bottom",
            fontsize=fontsize, zorder=10)
    return length


def add_north_arrow(ax: Axes, *, fontsize: float = 9) -> None:
    """A north arrow in the upper right (grid north of the map's CRS)."""
    ax.annotate("N", xy=(0.95, 0.97), xytext=(0.95, 0.86), xycoords="axes fraction",
                ha="center", va="center", fontsize=fontsize, fontweight="bold", zorder=10,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})


def draw_polygons(ax: Axes, geometries, *, facecolor="none", edgecolor="black", linewidth: float = 0.5,
                  zorder: float = 2, alpha: float | None = None, linestyle: str = "-") -> None:
    """Draw (multi)polygons as one PathCollection (holes kept; lines are drawn as lines).

    Used instead of ``GeoSeries.plot``, which redraws the whole figure after each call
    (``plt.draw()``): with 30 street panels in one figure that cost a minute.
    """
    paths, lines = [], []
    for geom in geometries:
        if geom is None or geom.is_empty:
            continue
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            if part.geom_type == "Polygon":
                rings = [part.exterior, *part.interiors]
                verts = np.concatenate([np.asarray(r.coords)[:, :2] for r in rings])
                codes = np.concatenate([[MplPath.MOVETO] + [MplPath.LINETO] * (len(r.coords) - 2)
                                        + [MplPath.CLOSEPOLY] for r in rings])
                paths.append(MplPath(verts, codes))
            elif part.geom_type in ("LineString", "LinearRing"):
                lines.append(np.asarray(part.coords)[:, :2])
    if paths:
        ax.add_collection(PathCollection(paths, facecolors=facecolor, edgecolors=edgecolor,
                                         linewidths=linewidth, zorder=zorder, alpha=alpha,
                                         linestyles=linestyle))
    if lines:
        ax.add_collection(LineCollection(lines, colors=edgecolor if edgecolor != "none" else facecolor,
                                         linewidths=linewidth, zorder=zorder))


def _draw_context(ax: Axes, context: MapContext | None, crs, *, district_names: bool = True) -> list[Patch]:
    handles: list[Patch] = []
    if context is None:
        return handles
    if context.basemap is not None and len(context.basemap):
        draw_polygons(ax, context.basemap.to_crs(crs).geometry, edgecolor="#c8c8c8", linewidth=0.4, zorder=1)
    if context.outline is not None and len(context.outline):
        draw_polygons(ax, context.outline.to_crs(crs).geometry, edgecolor="#333333", linewidth=1.0,
                      linestyle="-" if context.outline_label == "force boundary" else "--", zorder=2)
        handles.append(Patch(facecolor="none", edgecolor="#333333", label=context.outline_label))
    if context.districts is not None and len(context.districts):
        districts = context.districts.to_crs(crs)
        draw_polygons(ax, districts.geometry, edgecolor="#9a9a9a", linewidth=0.6, zorder=2)
        if district_names and context.district_names:
            for point, name in zip(districts.geometry.representative_point(), context.district_names,
                                   strict=True):
                ax.text(point.x, point.y, name.upper(), fontsize=6.5, color="#7a7a7a", ha="center",
                        va="center", zorder=3, fontstyle="italic")
    if context.wards is not None and len(context.wards):
        draw_polygons(ax, context.wards.to_crs(crs).geometry, edgecolor="#c4c4c4", linewidth=0.3, zorder=2,
                      linestyle=":")
    return handles


def _ward_names(ax: Axes, context: MapContext | None, crs, taken: list[Bbox]) -> None:
    """Ward names, largest ward first, where each fits inside its ward and clutters nothing."""
    if context is None or context.wards is None or not context.ward_names:
        return
    wards = context.wards.to_crs(crs)
    order = np.argsort(-wards.geometry.area.to_numpy(), kind="stable")
    geoms = list(wards.geometry.iloc[order])
    points = [g.representative_point() for g in geoms]
    names_where_free(ax, [p.x for p in points], [p.y for p in points],
                     [context.ward_names[i] for i in order], areas=geoms, avoid=taken)


def hotspot_map_png(
    hotspots: gpd.GeoDataFrame,
    *,
    colours: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    context: MapContext | None = None,
    background: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    legend: dict[str, str] | None = None,
    size_inches: tuple[float, float] = (8.0, 6.0),
    dpi: int = 110,
) -> bytes:
    """Draw hotspots (optionally coloured and labelled) over context; return PNG bytes.

    Parameters
    ----------
    hotspots
        The highlighted polygons, in a metric CRS.
    colours
        One matplotlib colour per hotspot (default: a single dark blue).
    labels
        One short label per hotspot, placed without overlap (:func:`place_labels`).
    context
        Basemap, outline and districts (:class:`MapContext`); the map's extent is the
        outline's when there is one, so the whole force is shown.
    background
        Other hotspots, drawn in light grey for context (e.g. today's control hotspots
        are *not* passed here on officer-facing sheets: they would reveal the control list).
    legend
        Colour → text entries for a legend.
    """
    fig, ax = plt.subplots(figsize=size_inches, dpi=dpi)
    try:
        fig.canvas.draw()  # a renderer for measuring labels
        handles = _draw_context(ax, context, hotspots.crs)
        if background is not None and len(background):
            draw_polygons(ax, background.to_crs(hotspots.crs).geometry, facecolor="#d9d9d9",
                          edgecolor="#9a9a9a", linewidth=0.3, zorder=4)
        facecolor = list(colours) if colours is not None else "#1f4e79"
        draw_polygons(ax, hotspots.geometry, facecolor=facecolor, edgecolor="black", linewidth=0.5, zorder=5)
        # hotspots are small at force scale: a marker keeps each visible
        points = hotspots.geometry.representative_point()
        ax.scatter(points.x, points.y, s=14, c=facecolor, edgecolors="black", linewidths=0.5, zorder=6)
        ax.set_aspect("equal")
        _set_extent(ax, hotspots, context)
        ax.set_axis_off()
        ax.apply_aspect()
        handles += [Patch(color=c, label=t) for c, t in (legend or {}).items()]
        furniture = [ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)] if handles else []
        if title:
            ax.set_title(title, fontsize=11)
        add_scale_bar(ax)
        add_north_arrow(ax)
        renderer = fig.canvas.get_renderer()
        # labels avoid the district names, scale bar, north arrow, legend and hotspot markers
        taken = [t.get_window_extent(renderer) for t in [*ax.texts, *furniture]]
        pixels = ax.transData.transform(np.column_stack([points.x, points.y]))
        m = 3.0 * fig.dpi / 72.0  # half a marker (s=14 is about 3.7 points across), in pixels
        taken += [Bbox.from_extents(x - m, y - m, x + m, y + m) for x, y in pixels]
        if labels is not None:
            placed = place_labels(ax, list(points.x), list(points.y), [str(x) for x in labels], avoid=taken)
            taken += [p.box for p in placed]
        _ward_names(ax, context, hotspots.crs, taken)
        if context is not None and context.notes:
            ax.text(0.0, -0.01, "\n".join(context.notes), transform=ax.transAxes, fontsize=5.5, color="#555555",
                    ha="left", va="top")
        buffer = io.BytesIO()
        # the tight box computed once here: savefig's "tight" would lay the figure out twice
        tight = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
        fig.savefig(buffer, format="png", bbox_inches=tight)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _set_extent(ax: Axes, hotspots: gpd.GeoDataFrame, context: MapContext | None) -> None:
    frames = [hotspots]
    if context is not None and context.outline is not None and len(context.outline):
        frames.append(context.outline.to_crs(hotspots.crs))
    bounds = [f.total_bounds for f in frames]
    minx, miny = min(b[0] for b in bounds), min(b[1] for b in bounds)
    maxx, maxy = max(b[2] for b in bounds), max(b[3] for b in bounds)
    pad = 0.03 * max(maxx - minx, maxy - miny, 500.0)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)


def street_insets_png(hotspots: gpd.GeoDataFrame, titles: Sequence[str], *,
                      basemap: gpd.GeoDataFrame | None = None, columns: int = 6,
                      half_width_m: float = 350.0, cell_inches: float = 1.2, dpi: int = 150) -> bytes:
    """One street-scale panel per hotspot (polygon, title with its window, 100 m scale bar).

    Each panel is a square ``2 × half_width_m`` wide around the hotspot (wider if the
    hotspot is), drawn in one figure so a day's panels cost one image.
    """
    n = len(hotspots)
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * cell_inches, rows * (cell_inches + 0.3)),
                             dpi=dpi, squeeze=False)
    try:
        base = basemap.to_crs(hotspots.crs) if basemap is not None and len(basemap) else None
        for ax in axes.ravel()[n:]:
            ax.set_axis_off()
        for ax, (_, row), title in zip(axes.ravel(), hotspots.iterrows(), titles, strict=False):
            minx, miny, maxx, maxy = row.geometry.bounds
            cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
            half = max(half_width_m, 0.6 * max(maxx - minx, maxy - miny))
            if base is not None:
                draw_polygons(ax, base.cx[cx - half:cx + half, cy - half:cy + half].geometry,
                              edgecolor="#b0b0b0", linewidth=0.5, zorder=1)
            draw_polygons(ax, [row.geometry], facecolor="#1f4e7959", edgecolor="#1f4e79", linewidth=1.2, zorder=3)
            ax.set_xlim(cx - half, cx + half)
            ax.set_ylim(cy - half, cy + half)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.set_title(str(title), fontsize=5.5, loc="left")
            add_scale_bar(ax, fontsize=5.5)
            add_north_arrow(ax, fontsize=6)
        fig.tight_layout(pad=0.4)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
