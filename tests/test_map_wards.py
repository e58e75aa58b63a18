"""Ward names give the overview maps context without clutter, and say how old they are.

The shipped wards are Birmingham's 40 wards of 2016 (replaced by 69 in May 2018): the
file carries that in a ``source`` column, which every map showing them prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from shapely import box as shapely_box  # noqa: E402

from guardian_rct._core.errors import DataError  # noqa: E402
from guardian_rct.config.trial_config import load_config  # noqa: E402
from guardian_rct.ledger.store import init_trial, load_trial_hotspots  # noqa: E402
from guardian_rct.reports.map_labels import names_where_free  # noqa: E402
from guardian_rct.reports.map_layers import map_context  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
SHARED = Path("/work/shared/data/boundaries/birmingham_wards_2016.geojson")


def _trial(tmp_path: Path, maps: str = "") -> Path:
    path = tmp_path / "trial.toml"
    path.write_text(f"""
[trial]
name = "Wards test"
timezone = "Europe/London"
start_date = 2023-10-02
end_date = 2023-10-15
seed = 5
store = "trial.db"

[hotspots]
path = "{(GEODATA / 'hotspots.geojson').as_posix()}"
boundary = "{(GEODATA / 'force_boundary.geojson').as_posix()}"

[design]
kind = "crossover"
treated_per_day = 10
{maps}
""", encoding="utf-8")
    return path


def test_shipped_wards_are_found_beside_the_boundary_with_their_vintage(tmp_path):
    cfg = load_config(_trial(tmp_path))
    init_trial(cfg)
    context = map_context(cfg, load_trial_hotspots(cfg))
    assert len(context.ward_names) == 40 and "Ladywood" in context.ward_names
    assert len(context.notes) == 1
    note = context.notes[0]
    assert "2016" in note and "69" in note and "2018" in note and "OGL v3.0" in note
    assert context.wards.crs == load_trial_hotspots(cfg).frame.crs


def test_a_missing_wards_file_names_the_key(tmp_path):
    cfg = load_config(_trial(tmp_path, '[maps]\nwards = "no_such_wards.geojson"'))
    init_trial(cfg)
    with pytest.raises(DataError, match=r"\[maps\] wards") as err:
        map_context(cfg, load_trial_hotspots(cfg))
    assert "no_such_wards.geojson" in str(err.value)


def test_demo_copy_is_the_geodata_copy():
    demo = ROOT / "src" / "guardian_rct" / "data" / "demo"
    assert (demo / "wards.geojson").read_bytes() == (GEODATA / "wards.geojson").read_bytes()


@pytest.mark.skipif(not SHARED.exists(), reason="needs the project's shared data (ONS wards file)")
def test_shipped_wards_are_the_ons_wards_simplified():
    source = gpd.read_file(SHARED).to_crs("EPSG:27700").set_index("wd16cd")
    shipped = gpd.read_file(GEODATA / "wards.geojson").to_crs("EPSG:27700").set_index("code")
    assert sorted(shipped.index) == sorted(source.index)
    assert (shipped["name"] == source.loc[shipped.index, "wd16nm"]).all()
    # simplified to 10 m: each ward keeps its area within 1% and its shape within 10 m
    ratio = shipped.area / source.loc[shipped.index].area
    assert np.allclose(ratio, 1.0, atol=0.01)
    assert shipped.geometry.hausdorff_distance(source.loc[shipped.index].geometry).max() <= 10.5


def test_geodata_readme_gives_the_wards_licence_and_vintage():
    text = (GEODATA / "README.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `wards.geojson`"))
    assert "2016" in row and "2018" in row
    assert re.search(r"wards\.geojson.*Office for National Statistics.*Open Government Licence", text, re.S)
    assert json.loads((GEODATA / "wards.geojson").read_text())["features"][0]["properties"]["code"].startswith("E05")


def _ward_scene(avoid_all: bool = False):
    wards = gpd.read_file(GEODATA / "wards.geojson").to_crs("EPSG:27700")
    outline = gpd.read_file(GEODATA / "force_boundary.geojson").to_crs("EPSG:27700")
    fig, ax = plt.subplots(figsize=(7.2, 5.6), dpi=120)
    minx, miny, maxx, maxy = outline.total_bounds
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    fig.canvas.draw()
    points = wards.geometry.representative_point()
    # an obstacle over central Birmingham, or over the whole map
    centre = ax.transData.transform((406_900, 286_900))
    avoid = [ax.get_window_extent() if avoid_all else Bbox.from_extents(*(centre - 40), *(centre + 40))]
    drawn = names_where_free(ax, list(points.x), list(points.y), list(wards["name"]), areas=list(wards.geometry),
                             avoid=avoid)
    return fig, ax, wards, drawn, avoid


def test_ward_names_fit_their_ward_and_clutter_nothing():
    fig, ax, wards, drawn, avoid = _ward_scene()
    try:
        assert 3 <= len(drawn) < len(wards)  # some names, not all: the rest would clutter
        to_data = ax.transData.inverted()
        by_name = dict(zip(wards["name"], wards.geometry, strict=True))
        for i, placed in enumerate(drawn):
            assert not placed.box.overlaps(avoid[0])
            assert not any(placed.box.overlaps(other.box) for other in drawn[:i])
            (x0, y0), (x1, y1) = to_data.transform([(placed.box.x0, placed.box.y0), (placed.box.x1, placed.box.y1)])
            label = shapely_box(x0, y0, x1, y1)
            assert by_name[placed.label].intersection(label).area >= 0.6 * label.area
        assert [t.get_text() for t in ax.texts] == [p.label for p in drawn]
    finally:
        plt.close(fig)


def test_no_ward_name_where_everything_is_taken():
    fig, ax, _, drawn, _ = _ward_scene(avoid_all=True)
    try:
        assert drawn == [] and len(ax.texts) == 0
    finally:
        plt.close(fig)


def test_new_trial_with_the_shipped_hotspots_gets_districts_and_wards(tmp_path, capsys):
    from guardian_rct.cli import main

    folder = tmp_path / "t"
    assert main(["new", str(folder), "--seed", "3", "--start", "2023-10-02", "--days", "14"]) == 0
    cfg = load_config(folder / "trial.toml")
    init_trial(cfg)
    context = map_context(cfg, load_trial_hotspots(cfg))
    assert len(context.district_names) == 7 and len(context.ward_names) == 40
