"""QGIS layer styles (QML) for the report GeoPackages, so that QGIS opens every layer styled.

QGIS keeps a layer's style in a ``.qml`` document (the ``<qgis>`` root with a
``<renderer-v2>`` element; QGIS 3 "QML" format, ``qgis.dtd``). A GeoPackage can carry
its layers' styles in a ``layer_styles`` table (:mod:`guardian_rct.reports.geopackage`);
QGIS applies the row marked ``useAsDefault`` when the layer is added. The styles here
are deliberately plain: the same red/amber/green as the HTML report for compliance,
grey outlines for hotspots and rings, and hotspot ids as labels.

Colours are given as ``"r,g,b,a"`` text, the QGIS property format; symbols use both the
QGIS >= 3.26 ``<Option type="Map">`` form and the older ``<prop k= v=>`` form so that
LTR releases from 3.16 on read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import quoteattr

__all__ = ["fill_symbol", "single_symbol_qml", "categorized_qml", "graduated_qml", "hex_to_rgba", "rag_categories"]

_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def hex_to_rgba(colour: str, alpha: int = 255) -> str:
    """``"#1a9850"`` → ``"26,152,80,255"`` (the QGIS colour property format)."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    r, g, b = (int(text[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{alpha}"


def _symbol(kind: str, layer_class: str, name: str, props: dict[str, str]) -> str:
    """One QGIS symbol of one symbol layer, its properties written both ways QGIS reads
    (``Option`` map for 3.x, ``prop`` for older readers)."""
    options = "".join(f'<Option name={quoteattr(k)} type="QString" value={quoteattr(v)}/>'
                      for k, v in props.items())
    old = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return (f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="{layer_class}" enabled="1" locked="0" pass="0">'
            f'<Option type="Map">{options}</Option>{old}</layer></symbol>')


def fill_symbol(name: str, *, fill: str, outline: str = "35,35,35,255", outline_width: float = 0.3,
                style: str = "solid", outline_style: str = "solid") -> str:
    """One QGIS ``SimpleFill`` polygon symbol (colours as ``"r,g,b,a"``)."""
    return _symbol("fill", "SimpleFill", name, {
        "color": fill, "outline_color": outline, "outline_width": f"{outline_width:g}",
        "outline_width_unit": "MM", "style": style, "outline_style": outline_style,
        "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM"})


def marker_symbol(name: str, *, fill: str, outline: str = "35,35,35,255", size_mm: float = 2.0,
                  outline_width: float = 0.2) -> str:
    """One QGIS ``SimpleMarker`` point symbol, a circle (colours as ``"r,g,b,a"``)."""
    return _symbol("marker", "SimpleMarker", name, {
        "name": "circle", "color": fill, "outline_color": outline, "outline_width": f"{outline_width:g}",
        "outline_width_unit": "MM", "outline_style": "solid", "size": f"{size_mm:g}", "size_unit": "MM",
        "offset": "0,0", "offset_unit": "MM", "angle": "0"})


def _labeling(field: str | None) -> str:
    if not field:
        return ""
    return ('<labeling type="simple"><settings calloutType="simple">'
            f'<text-style fieldName={quoteattr(field)} isExpression="0" fontSize="8" fontSizeUnit="Point" '
            'textColor="0,0,0,255" textOpacity="1">'
            '<text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" bufferColor="255,255,255,255"/>'
            '</text-style><placement placement="1" priority="5"/>'
            '<rendering obstacle="1" scaleVisibility="0" drawLabels="1"/></settings></labeling>')


def _document(renderer: str, label_field: str | None) -> str:
    return (_HEADER + '<qgis version="3.28.0" styleCategories="Symbology|Labeling">'
            + renderer + _labeling(label_field) + "</qgis>\n")


def single_symbol_qml(symbol: str, *, label_field: str | None = None) -> str:
    """A QML document drawing every feature with ``symbol`` (from :func:`fill_symbol` or
    :func:`marker_symbol`)."""
    renderer = (f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                f"<symbols>{symbol}</symbols></renderer-v2>")
    return _document(renderer, label_field)


def categorized_qml(field: str, categories: Sequence[tuple[str, str, str]], *,
                    label_field: str | None = None) -> str:
    """A QML document colouring polygons by the text value of ``field``.

    Parameters
    ----------
    categories
        ``(value, legend label, fill colour "r,g,b,a")`` for each category, in legend order.
    """
    cats = "".join(f'<category value={quoteattr(v)} symbol="{i}" label={quoteattr(label)} render="true"/>'
                   for i, (v, label, _) in enumerate(categories))
    symbols = "".join(fill_symbol(str(i), fill=fill) for i, (_, _, fill) in enumerate(categories))
    renderer = (f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" '
                f'enableorderby="0" forceraster="0"><categories>{cats}</categories>'
                f"<symbols>{symbols}</symbols></renderer-v2>")
    return _document(renderer, label_field)


def graduated_qml(field: str, ranges: Sequence[tuple[float, float, str, str]], *,
                  label_field: str | None = None) -> str:
    """A QML document colouring polygons by numeric ``field`` in class ranges.

    Parameters
    ----------
    ranges
        ``(lower, upper, legend label, fill colour "r,g,b,a")`` for each class.
    """
    items = "".join(f'<range lower="{lo:g}" upper="{hi:g}" symbol="{i}" label={quoteattr(label)} render="true"/>'
                    for i, (lo, hi, label, _) in enumerate(ranges))
    symbols = "".join(fill_symbol(str(i), fill=fill) for i, (_, _, _, fill) in enumerate(ranges))
    renderer = (f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} graduatedMethod="GraduatedColor" '
                f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{items}</ranges>'
                f"<symbols>{symbols}</symbols></renderer-v2>")
    return _document(renderer, label_field)


def rag_categories(colours: Mapping[str, str], labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(value, label, rgba)`` for each red/amber/green/none value, in the report's colours."""
    return [(key, labels.get(key, key), hex_to_rgba(colour, 200)) for key, colour in colours.items()]
