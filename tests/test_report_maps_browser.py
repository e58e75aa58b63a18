"""Maps render in a real browser, and the tasking sheet prints on A4 as promised.

Headless Chromium (the ``chromium`` fixture) loads the pages from disk with the network
off: the interactive map must draw its polygons from the inlined Leaflet, images must
decode, and the printed tasking sheet for 30 hotspots must be two A4 pages (the sheet,
then the street-scale annex). Pages are counted from the PDF's ``/Type /Page`` objects.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import tempfile
from pathlib import Path

import geopandas as gpd
import pytest

from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.daily import run_daily
from guardian_rct.ledger.store import init_trial, load_trial_hotspots
from guardian_rct.reports.interactive_map import geojson_layer, interactive_map
from guardian_rct.reports.render import write_html

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
pytestmark = pytest.mark.browser

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run"]


def _run(chromium: str, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp()
    return subprocess.run([chromium, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180)


def _dom(chromium: str, page: Path) -> str:
    return _run(chromium, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()).stdout


def _pages(chromium: str, page: Path, tmp_path: Path) -> int:
    pdf = tmp_path / (page.stem + ".pdf")
    _run(chromium, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


def _clock_change_trial(tmp_path: Path, treated: int) -> Path:
    path = tmp_path / "trial.toml"
    path.write_text(f"""
[trial]
name = "Clock change test"
timezone = "Europe/London"
day_starts = "06:00"
start_date = 2023-10-28
end_date = 2023-11-10
seed = 11
store = "trial.db"

[hotspots]
path = "{(GEODATA / 'hotspots.geojson').as_posix()}"
boundary = "{(GEODATA / 'force_boundary.geojson').as_posix()}"

[design]
kind = "crossover"
treated_per_day = {treated}
windows = ["22:00-04:00"]
patrol_minutes = 15
""", encoding="utf-8")
    return path


def test_tasking_sheet_30_hotspots_prints_on_one_page_plus_annex(chromium, tmp_path):
    cfg = load_config(_clock_change_trial(tmp_path, 30))
    init_trial(cfg)
    run = run_daily(cfg, dt.date(2023, 10, 28), out_dir=tmp_path / "out",
                    now=dt.datetime(2023, 10, 27, 7, tzinfo=dt.UTC))
    html_path = run.outputs[0].html
    html = html_path.read_text(encoding="utf-8")
    assert "BST" in html and "GMT" in html  # the night the clocks go back
    assert html.count("data:image/png;base64,") == 2
    assert _pages(chromium, html_path, tmp_path) == 2
    # without the annex, the sheet itself is one page
    sheet_only = tmp_path / "sheet_only.html"
    sheet_only.write_text(re.sub(r'<section class="annex">.*?</section>', "", html, flags=re.S), encoding="utf-8")
    assert _pages(chromium, sheet_only, tmp_path) == 1
    dom = _dom(chromium, html_path)
    assert 'id="overview-map"' in dom and 'id="street-insets"' in dom


def test_interactive_map_draws_polygons_offline(chromium, tmp_path):
    cfg = load_config(_clock_change_trial(tmp_path, 5))
    init_trial(cfg)
    hotspots = load_trial_hotspots(cfg)
    frame = hotspots.frame[["hotspot_id", "name", "geometry"]].copy()
    frame["popup"] = frame["hotspot_id"]
    m = interactive_map([geojson_layer(frame, name="hotspots", properties=["hotspot_id"], popup_column="popup")],
                        element_id="test-map")
    page = tmp_path / "map.html"
    write_html(page, "_leaflet_page.html", leaflet=m)
    text = page.read_text(encoding="utf-8")
    assert "<link" not in text and "<script src" not in text  # Leaflet is inlined, nothing fetched
    dom = _dom(chromium, page)
    paths = re.findall(r'<path[^>]*class="leaflet-interactive"', dom)
    assert len(paths) == len(frame), f"expected {len(frame)} polygons, found {len(paths)}"
    assert "leaflet-control-scale" in dom


def test_geodata_boundary_is_whole_on_the_overview(tmp_path):
    """The outline is the whole force boundary, not a clip around the day's hotspots."""
    from guardian_rct.reports.map_layers import map_context

    cfg = load_config(_clock_change_trial(tmp_path, 3))
    init_trial(cfg)
    context = map_context(cfg, load_trial_hotspots(cfg))
    full = gpd.read_file(GEODATA / "force_boundary.geojson").to_crs(context.outline.crs)
    assert context.outline.area.sum() == pytest.approx(full.area.sum(), rel=1e-9)
    assert context.outline_label == "force boundary"
    assert len(context.district_names) == 7 and "Birmingham" in context.district_names


def test_no_boundary_gets_a_labelled_envelope(tmp_path):
    from guardian_rct.reports.map_layers import ENVELOPE_LABEL, map_context

    path = _clock_change_trial(tmp_path, 3)
    path.write_text(re.sub(r"boundary = .*\n", "", path.read_text()), encoding="utf-8")
    cfg = load_config(path)
    init_trial(cfg)
    hotspots = load_trial_hotspots(cfg)
    context = map_context(cfg, hotspots)
    assert context.outline_label == ENVELOPE_LABEL
    assert context.outline.geometry.iloc[0].contains(hotspots.frame.geometry.union_all())
    assert context.districts is None
