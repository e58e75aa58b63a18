"""assign_points at its input boundary: NaN refused in one line, infinities far from everything."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from guardian_rct.geo.point_index import assign_points, build_index


@pytest.fixture(scope="module")
def index():
    squares = np.array([shapely.box(0, 0, 100, 100), shapely.box(200, 0, 300, 100)], dtype=object)
    return build_index(squares)


def test_nan_coordinate_is_refused_naming_count_and_first_position(index):
    x = np.array([50.0, np.nan, 250.0, np.nan])
    y = np.array([50.0, 50.0, 50.0, 1.0])
    with pytest.raises(ValueError, match=r"2 point\(s\) have a missing \(NaN\) coordinate \(first at position 1"):
        assign_points(index, x, y)
    with pytest.raises(ValueError, match="position 2"):
        assign_points(index, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, np.nan]))


def test_infinite_coordinates_are_outside_every_hotspot(index):
    x = np.array([50.0, np.inf, -np.inf, 250.0, 50.0])
    y = np.array([50.0, 50.0, 50.0, 50.0, np.inf])
    point, hotspot = assign_points(index, x, y)
    assert point.tolist() == [0, 3]
    assert hotspot.tolist() == [0, 1]


def test_lengths_must_match(index):
    with pytest.raises(ValueError, match="differ in length"):
        assign_points(index, np.zeros(3), np.zeros(2))
