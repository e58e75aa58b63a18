"""Map labels never overlap and every label stays tied to its hotspot.

The crowded case is the real one: all 57 shipped hotspots (dense in central Birmingham)
at the tasking sheet's map size, where labels drawn on their points overlap in dozens
of pairs. The drawn artists are measured after a real draw, so a placer whose computed
boxes disagreed with what matplotlib draws would fail here too.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.text import Annotation, Text  # noqa: E402

from guardian_rct.reports.map_labels import place_labels  # noqa: E402

GEODATA = Path(__file__).resolve().parents[1] / "geodata"


def _pairs(boxes) -> int:
    return sum(1 for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j]))


def _label(xs, ys, labels, *, size=(7.2, 5.6), dpi=120):
    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    ax.scatter(xs, ys, s=14)
    ax.set_aspect("equal")
    pad = 0.03 * max(np.ptp(xs), np.ptp(ys), 1.0)
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    fig.canvas.draw()
    placements = place_labels(ax, list(xs), list(ys), list(labels))
    fig.canvas.draw()
    return fig, ax, placements


def _check_no_overlap_and_tied(fig, ax, placements, xs, ys, labels):
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if isinstance(t, Annotation)]
    assert [t.get_text() for t in texts] == [str(x) for x in labels]  # every label drawn, once
    drawn = [Text.get_window_extent(t, renderer) for t in texts]  # the glyphs as drawn
    assert _pairs(drawn) == 0
    assert _pairs([p.box for p in placements]) == 0
    for box, placed in zip(drawn, placements, strict=True):  # what was drawn is inside its box
        assert placed.box.x0 - 1 <= box.x0 and box.x1 <= placed.box.x1 + 1
        assert placed.box.y0 - 1 <= box.y0 and box.y1 <= placed.box.y1 + 1
    for text, x, y in zip(texts, xs, ys, strict=True):  # each label points at its own hotspot
        assert text.xy == pytest.approx((x, y))
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    starts = {tuple(np.round(seg[0], 6)) for c in lines for seg in c.get_segments()}
    leadered = [(x, y) for p, x, y in zip(placements, xs, ys, strict=True) if p.kind != "beside"]
    assert all(tuple(np.round((x, y), 6)) in starts for x, y in leadered)


def test_all_57_shipped_hotspots_at_tasking_size_have_no_overlapping_labels():
    frame = gpd.read_file(GEODATA / "hotspots.geojson").to_crs("EPSG:27700")
    points = frame.geometry.representative_point()
    xs, ys, labels = list(points.x), list(points.y), list(frame["hotspot_id"])
    fig, ax, placements = _label(xs, ys, labels)
    try:
        renderer = fig.canvas.get_renderer()
        naive = [ax.text(x, y, h, fontsize=7, ha="center", va="bottom") for h, x, y in zip(labels, xs, ys,
                                                                                            strict=True)]
        naive_pairs = _pairs([t.get_window_extent(renderer) for t in naive])
        for t in naive:
            t.remove()
        assert naive_pairs >= 20  # the scene is genuinely crowded
        _check_no_overlap_and_tied(fig, ax, placements, xs, ys, labels)
        kinds = [p.kind for p in placements]
        assert kinds.count("beside") >= 30  # most labels still sit beside their points
        print(f"{naive_pairs} pairs overlap on their points; placed: "
              f"{ {k: kinds.count(k) for k in set(kinds)} }")
    finally:
        plt.close(fig)


@pytest.mark.parametrize("n, seed", [(1, 0), (40, 1), (200, 2)])
def test_random_clusters_never_overlap(n, seed):
    """A tight cluster (worse than any city centre) forces margin callouts, in several columns at n=200."""
    rng = np.random.default_rng(seed)
    xs = list(np.r_[rng.normal(0, 300, n), 20_000.0])  # a far point sets the extent
    ys = list(np.r_[rng.normal(0, 300, n), 15_000.0])
    labels = [f"H{i:03d}" for i in range(n + 1)]
    fig, ax, placements = _label(xs, ys, labels)
    try:
        _check_no_overlap_and_tied(fig, ax, placements, xs, ys, labels)
        if n >= 40:
            assert any(p.kind == "callout" for p in placements)
    finally:
        plt.close(fig)


def test_no_labels_is_fine():
    fig, ax = plt.subplots()
    try:
        assert place_labels(ax, [], [], []) == []
    finally:
        plt.close(fig)
