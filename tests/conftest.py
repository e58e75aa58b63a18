"""Shared fixtures: small hotspot files and trial configs written into tmp_path.

Tests never need ../shared: fixtures are built here from coordinates in the West
Midlands (British National Grid).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

# Six 200 m squares in central Birmingham, two blocks.
SQUARE_ORIGINS = [(406000, 286000), (406500, 286000), (407000, 286000),
                  (406000, 287000), (406500, 287000), (407000, 287000)]


def make_hotspots(n: int = 6, *, blocks: bool = True) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``n`` non-overlapping 200 m squares in EPSG:27700."""
    geoms, ids, names, block = [], [], [], []
    for i in range(n):
        x, y = 406000 + 500 * (i % 3) + 1500 * (i // 6), 286000 + 1000 * ((i // 3) % 2)
        geoms.append(shapely.box(x, y, x + 200, y + 200))
        ids.append(f"H{i + 1:02d}")
        names.append(f"Street {i + 1}")
        block.append("A" if i % 2 == 0 else "B")
    data = {"hotspot_id": ids, "name": names}
    if blocks:
        data["block"] = block
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:27700")


def write_trial(tmp_path: Path, *, hotspots: gpd.GeoDataFrame | None = None, extra: str = "",
                trial: str = "", design: str = 'treated_per_day = 3') -> Path:
    """Write hotspots.geojson and trial.toml into tmp_path; return the config path."""
    frame = make_hotspots() if hotspots is None else hotspots
    frame.to_crs("EPSG:4326").to_file(tmp_path / "hotspots.geojson", driver="GeoJSON")
    text = textwrap.dedent(f"""\
        [trial]
        name = "Test trial"
        timezone = "Europe/London"
        day_starts = "06:00"
        start_date = 2023-03-20
        end_date = 2023-04-10
        seed = 20230320
        store = "trial.db"
        {trial}

        [hotspots]
        path = "hotspots.geojson"
        id_column = "hotspot_id"
        block_column = "block"

        [design]
        kind = "crossover"
        {design}
        windows = ["15:00-23:00"]
        patrol_minutes = 15
        """) + textwrap.dedent(extra)
    path = tmp_path / "trial.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def hotspot_frame() -> gpd.GeoDataFrame:
    return make_hotspots()


@pytest.fixture
def trial_toml(tmp_path: Path) -> Path:
    return write_trial(tmp_path)


# The project's shared public data sits beside the repository (../shared/data) on
# developer machines and in CI; tests that read it skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def chromium() -> str:
    """Path of headless Chromium; skips without it, but fails in CI (CI=true), where
    .ci/run installs it, so a browser test can never pass CI by skipping."""
    import os
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        message = "headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " -- and CI must run the browser tests")
        pytest.skip(message)
    return browser


def star_polygon(rng: np.random.Generator, cx: float, cy: float, n: int, r0: float, r1: float) -> shapely.Polygon:
    """An irregular star-shaped polygon of ``n`` vertices at radii ``r0``-``r1`` (made valid)."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(r0, r1, n)
    return shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]).buffer(0)


def one_ulp_around(base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (n, 2) points ``base`` and each of them moved one ulp in x or in y, either way,
    as x and y arrays: points on, and within rounding of, edges and vertices."""
    out = [base]
    for axis in (0, 1):
        for direction in (-np.inf, np.inf):
            moved = base.copy()
            moved[:, axis] = np.nextafter(moved[:, axis], direction)
            out.append(moved)
    pts = np.concatenate(out)
    return pts[:, 0].copy(), pts[:, 1].copy()
