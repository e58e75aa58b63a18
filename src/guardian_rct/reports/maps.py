"""Static map images for reports and tasking sheets.

Maps are drawn with matplotlib (Agg backend, no network, no tiles) and embedded in HTML
as base64 PNG data URIs, so a printed tasking sheet or an emailed report shows the map
offline. Context layers (district boundaries) are drawn when given.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["hotspot_map_png", "png_data_uri"]


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def hotspot_map_png(
    hotspots: gpd.GeoDataFrame,
    *,
    colours: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    context: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    legend: dict[str, str] | None = None,
    size_inches: tuple[float, float] = (8.0, 6.0),
    dpi: int = 110,
) -> bytes:
    """Draw hotspots (optionally coloured and labelled) and return PNG bytes.

    Parameters
    ----------
    hotspots
        Polygons in a metric CRS.
    colours
        One matplotlib colour per hotspot (default: a single dark blue).
    labels
        One short label per hotspot, drawn at its representative point.
    context
        Background polygons (e.g. districts), drawn as grey outlines, in the same CRS.
    legend
        Colour → text entries for a legend.
    """
    fig, ax = plt.subplots(figsize=size_inches, dpi=dpi)
    try:
        if context is not None and len(context):
            context.to_crs(hotspots.crs).boundary.plot(ax=ax, color="#999999", linewidth=0.6)
        facecolor = list(colours) if colours is not None else "#1f4e79"
        hotspots.plot(ax=ax, color=facecolor, edgecolor="black", linewidth=0.5)
        if labels is not None:
            points = hotspots.geometry.representative_point()
            for point, label in zip(points, labels, strict=True):
                ax.annotate(str(label), (point.x, point.y), fontsize=7, ha="center", va="bottom",
                            xytext=(0, 4), textcoords="offset points")
        if legend:
            from matplotlib.patches import Patch

            ax.legend(handles=[Patch(color=c, label=t) for c, t in legend.items()], loc="lower left",
                      fontsize=8, frameon=True)
        if title:
            ax.set_title(title, fontsize=11)
        ax.set_aspect("equal")
        ax.set_axis_off()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(fig)
