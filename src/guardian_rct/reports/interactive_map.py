"""An interactive map for HTML reports: Leaflet with its JavaScript and CSS inlined.

Leaflet 1.9.4 (BSD-2-Clause, ``reports/static/LEAFLET_LICENSE``; ``leaflet.js`` and
``leaflet.css`` from the npm package ``leaflet@1.9.4``, unchanged) is written into the
page itself, so the report opens offline from an email or a USB stick. Without a tile
layer (``[maps] tiles``) the map shows only the report's own layers on a plain
background and makes no network request; with one, the tiles are fetched from the URL
the force configured.

:func:`interactive_map` returns the data (GeoJSON in WGS84, styles, tiles); templates
pass it to the ``leaflet_map`` macro, which does no arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib.resources import files

import geopandas as gpd
from markupsafe import Markup

__all__ = ["interactive_map", "leaflet_assets", "geojson_layer"]


@cache
def leaflet_assets() -> dict[str, Markup]:
    """The vendored Leaflet JavaScript and CSS, ready to inline."""
    static = files("guardian_rct.reports").joinpath("static")
    js = static.joinpath("leaflet.js").read_text(encoding="utf-8")
    css = static.joinpath("leaflet.css").read_text(encoding="utf-8")
    return {"js": Markup(js.replace("</script", "<\\/script")), "css": Markup(css)}


def geojson_layer(frame: gpd.GeoDataFrame, *, name: str, properties: Sequence[str], colour_column: str | None = None,
                  colour: str = "#1f4e79", popup_column: str | None = None, line_only: bool = False) -> dict:
    """One layer: the frame's polygons in WGS84 with a few properties and a style."""
    cols = [c for c in properties if c in frame.columns]
    extra = [c for c in (colour_column, popup_column) if c and c not in cols]
    out = frame[[*cols, *extra, "geometry"]].to_crs("EPSG:4326")
    out["geometry"] = out.geometry.simplify(0.00002)
    return {"name": name, "geojson": json.loads(out.to_json(drop_id=True)), "colour_column": colour_column,
            "colour": colour, "popup_column": popup_column, "line_only": line_only}


def interactive_map(layers: Sequence[dict], *, element_id: str, tiles: str | None = None,
                    tiles_attribution: str = "") -> dict:
    """Data for one interactive map: its layers (from :func:`geojson_layer`) and tiles."""
    payload = {"layers": list(layers), "tiles": tiles, "attribution": tiles_attribution}
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return {"id": element_id, "data": Markup(text), "assets": leaflet_assets(), "has_tiles": tiles is not None}
