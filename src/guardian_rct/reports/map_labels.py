"""Map labels that never overlap: beside the point, on a short leader, or in the margin.

Each label is tried, in turn, in eight positions around its point (Imhof's cartographic
position order; the greedy heuristic of Christensen, Marks and Shieber, 1995), then on a
short leader line at 12 angles and three radii. A position is taken only if its box lies
inside the map and overlaps no label already placed, no other hotspot's marker and no
obstacle (district names). A label with no free position becomes a *callout*: it goes in
a column in the left or right margin, outside the map frame, joined to its point by a
leader line. Callouts in a column are sorted by the height of their points and spread
apart in one dimension (so their leaders rarely cross), which makes "no two labels
overlap" true by construction, however crowded the map (e.g. central Birmingham with all
57 shipped hotspots at tasking-sheet size).

The search is arithmetic on boxes in display pixels: every label's size is measured once
(``renderer.get_text_width_height_descent``) and only the chosen position becomes a
matplotlib artist. (Creating and measuring a candidate artist per position, as the first
placer did, cost 2.6 s per weekly map.) ``adjustText`` moves labels iteratively and does
not guarantee zero overlaps; it is not used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.font_manager import FontProperties
from matplotlib.transforms import Bbox

__all__ = ["LabelPlacement", "place_labels", "names_where_free", "POSITIONS"]

# Offsets of the label's anchor from its point, in units of the font size, with the
# label's alignment: right, left, above, below, then the diagonals.
POSITIONS = ((0.6, 0.0, "left", "center"), (-0.6, 0.0, "right", "center"),
             (0.0, 0.8, "center", "bottom"), (0.0, -0.8, "center", "top"),
             (0.5, 0.6, "left", "bottom"), (-0.5, 0.6, "right", "bottom"),
             (0.5, -0.6, "left", "top"), (-0.5, -0.6, "right", "top"))
_LEADERS = tuple((r, a) for r in (2.2, 3.4, 4.8) for a in range(0, 360, 30))
_PAD_PT = 1.5  # white box around the text, points (matches the drawn bbox pad)
_MARKER_PT = 3.0  # half-size of a hotspot marker, points (the scatter uses s=14)
_MARGIN_GAP_PT = 6.0
_FIT_SHARE = 0.6  # a context name must have this share of its box inside its own area


@dataclass(frozen=True)
class LabelPlacement:
    """Where one label went: its box in display pixels and how it is drawn.

    ``kind`` is ``"beside"`` (next to its point), ``"leader"`` (a short leader line) or
    ``"callout"`` (in the margin, with a leader line to its point).
    """

    label: str
    box: Bbox
    kind: str


def _box(cx: float, cy: float, w: float, h: float, ha: str, va: str) -> tuple[float, float, float, float]:
    x0 = cx if ha == "left" else cx - w if ha == "right" else cx - w / 2
    y0 = cy if va == "bottom" else cy - h if va == "top" else cy - h / 2
    return (x0, y0, x0 + w, y0 + h)


def _hits(box: tuple[float, float, float, float], boxes: np.ndarray) -> bool:
    if not len(boxes):
        return False
    return bool(np.any((boxes[:, 0] < box[2]) & (box[0] < boxes[:, 2])
                       & (boxes[:, 1] < box[3]) & (box[1] < boxes[:, 3])))


def _spread(wanted: list[float], height: float, low: float, high: float) -> list[float]:
    """Centres near ``wanted`` (sorted descending), at least ``height`` apart, within
    ``[low, high]`` where room allows (a 1-D version of label spreading)."""
    ys = list(wanted)
    for i in range(len(ys)):  # top to bottom: keep below the previous one, under the top
        ys[i] = min(ys[i], high - height / 2 if i == 0 else ys[i - 1] - height)
    for i in range(len(ys) - 1, -1, -1):  # bottom to top: lift above the floor
        ys[i] = max(ys[i], low + height / 2 if i == len(ys) - 1 else ys[i + 1] + height)
    return ys


def place_labels(ax: Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *,
                 fontsize: float = 7, avoid: Sequence[Bbox] = ()) -> list[LabelPlacement]:
    """Draw ``labels`` at their data points ``(xs, ys)`` so that no two overlap.

    Returns one :class:`LabelPlacement` per label, in the order given. Set the axes'
    limits and aspect before calling: positions are computed in display pixels.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()
    px = fig.dpi / 72.0
    pad = _PAD_PT * px
    font = FontProperties(size=fontsize)
    sizes = {}
    for label in set(labels):
        w, h, _ = renderer.get_text_width_height_descent(str(label), font, ismath=False)
        sizes[label] = (w + 2 * pad, h + 2 * pad)
    points = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.zeros((0, 2))
    m = _MARKER_PT * px
    markers = np.column_stack([points[:, 0] - m, points[:, 1] - m, points[:, 0] + m, points[:, 1] + m])
    frame = ax.get_window_extent(renderer)
    placed = [tuple(b.extents) for b in avoid]
    chosen: list[tuple[str, tuple] | None] = []
    for i, label in enumerate(labels):
        w, h = sizes[label]
        others = np.delete(markers, i, axis=0)
        blocked = np.vstack([np.asarray(placed, dtype=float).reshape(-1, 4), others])
        found = None
        candidates = [("beside", _box(points[i, 0] + dx * fontsize * px, points[i, 1] + dy * fontsize * px,
                                      w, h, ha, va)) for dx, dy, ha, va in POSITIONS]
        candidates += [("leader", _box(points[i, 0] + r * fontsize * px * math.cos(math.radians(a)),
                                       points[i, 1] + r * fontsize * px * math.sin(math.radians(a)),
                                       w, h, "center", "center")) for r, a in _LEADERS]
        for kind, box in candidates:
            inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
            if inside and not _hits(box, blocked):
                found = (kind, box)
                break
        if found is not None:
            placed.append(found[1])
        chosen.append(found)
    _callouts(chosen, points, sizes, labels, frame, _MARGIN_GAP_PT * px)
    placements = [_draw(ax, label, points[i], kind, box, fontsize)
                  for i, (label, (kind, box)) in enumerate(zip(labels, chosen, strict=True))]
    _leaders(ax, points, placements)
    return placements


def _callouts(chosen: list, points: np.ndarray, sizes: dict, labels: Sequence[str], frame: Bbox,
              gap: float) -> None:
    """Fill the ``None`` entries of ``chosen`` with margin positions (in place)."""
    todo = [i for i, c in enumerate(chosen) if c is None]
    if not todo:
        return
    height = max(sizes[labels[i]][1] for i in todo) * 1.05
    width = max(sizes[labels[i]][0] for i in todo)
    per_column = max(1, int(frame.height // height))
    middle = (frame.x0 + frame.x1) / 2
    sides: dict[str, list[int]] = {"left": [], "right": []}
    for i in sorted(todo, key=lambda i: -points[i, 1]):
        side = "left" if points[i, 0] < middle else "right"
        sides[side].append(i)
    columns: list[tuple[str, int, list[int]]] = []  # side, column number out from the frame, members
    for side in ("left", "right"):
        members = sides[side]
        for k in range(math.ceil(len(members) / per_column)):
            columns.append((side, k, members[k::math.ceil(len(members) / per_column)]))
    for side, k, members in columns:
        offset = gap + k * (width + gap)
        ys = _spread([points[i, 1] for i in members], height, frame.y0, frame.y1)
        for i, y in zip(members, ys, strict=True):
            w, h = sizes[labels[i]]
            if side == "left":
                box = (frame.x0 - offset - w, y - h / 2, frame.x0 - offset, y + h / 2)
            else:
                box = (frame.x1 + offset, y - h / 2, frame.x1 + offset + w, y + h / 2)
            chosen[i] = ("callout", box)


def _draw(ax: Axes, label: str, point: np.ndarray, kind: str, box: tuple, fontsize: float) -> LabelPlacement:
    x0, y0, x1, y1 = box
    xy = ax.transData.inverted().transform(point)
    style = {"boxstyle": f"square,pad={_PAD_PT / fontsize:.3f}", "fc": "white", "ec": "none", "alpha": 0.85}
    if kind != "beside":
        style["ec"] = "#999999"
    px = ax.figure.dpi / 72.0  # offsets in points from the point survive savefig's tight bbox
    offset = (((x0 + x1) / 2 - point[0]) / px, ((y0 + y1) / 2 - point[1]) / px)
    ax.annotate(str(label), xy, xytext=offset, textcoords="offset points", ha="center", va="center",
                fontsize=fontsize, zorder=9, bbox=style, annotation_clip=False)
    return LabelPlacement(label=str(label), box=Bbox.from_extents(*box), kind=kind)


def _leaders(ax: Axes, points: np.ndarray, placements: Sequence[LabelPlacement]) -> None:
    """One line per leader/callout label, from its point to the nearest point of its box.

    Drawn as a single LineCollection (an ``arrowprops`` per annotation is clipped to its
    text box on every draw, which cost most of a weekly map's time).
    """
    segments = []
    for point, placed in zip(points, placements, strict=True):
        if placed.kind == "beside":
            continue
        b = placed.box
        end = (min(max(point[0], b.x0), b.x1), min(max(point[1], b.y0), b.y1))
        segments.append(ax.transData.inverted().transform(np.array([point, end])))
    if segments:
        ax.add_collection(LineCollection(segments, colors="#555555", linewidths=0.5, zorder=8, clip_on=False))


def names_where_free(ax: Axes, xs: Sequence[float], ys: Sequence[float], names: Sequence[str], *,
                     areas: Sequence | None = None, fontsize: float = 4.5, color: str = "#8a8a8a",
                     avoid: Sequence[Bbox] = ()) -> list[LabelPlacement]:
    """Context names (e.g. wards) centred on their points, drawn only where they clutter nothing.

    A name is drawn when its box is inside the map, overlaps no box in ``avoid`` (the
    hotspot labels and markers, district names) nor a name already drawn, and -- given
    ``areas`` (shapely polygons in data coordinates) -- has at least 60% of its box inside
    its own area, so a name does not sit where a reader could take it for a neighbour's. Others are
    left out: context, unlike a hotspot label, may be dropped. Call in priority order
    (e.g. largest area first). Returns the names drawn.
    """
    from shapely import box as shapely_box

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()
    font = FontProperties(size=fontsize, style="italic")
    frame = ax.get_window_extent(renderer)
    to_data = ax.transData.inverted()
    placed = [tuple(b.extents) for b in avoid]
    drawn: list[LabelPlacement] = []
    for i, (x, y, name) in enumerate(zip(xs, ys, names, strict=True)):
        w, h, _ = renderer.get_text_width_height_descent(str(name), font, ismath=False)
        cx, cy = ax.transData.transform((x, y))
        box = _box(cx, cy, w, h, "center", "center")
        inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
        if not inside or _hits(box, np.asarray(placed, dtype=float).reshape(-1, 4)):
            continue
        if areas is not None:
            (dx0, dy0), (dx1, dy1) = to_data.transform([(box[0], box[1]), (box[2], box[3])])
            label_box = shapely_box(dx0, dy0, dx1, dy1)
            if areas[i].intersection(label_box).area < _FIT_SHARE * label_box.area:
                continue
        ax.text(x, y, str(name), fontsize=fontsize, color=color, ha="center", va="center", zorder=3,
                fontstyle="italic")
        placed.append(box)
        drawn.append(LabelPlacement(label=str(name), box=Bbox.from_extents(*box), kind="beside"))
    return drawn
