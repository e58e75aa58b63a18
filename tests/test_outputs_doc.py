"""docs/outputs.md documents every file and column the demo and the panel write (no drift).

The demo is run (two weeks; the README demo runs 26) and every table it writes --
CSV, CSV.gz, Parquet, XLSX, GeoJSON, each GeoPackage layer -- is opened; each of its
columns must be in the table of that file's section of docs/outputs.md. Every other
file the demo writes (HTML, JSON, the store...) must at least be named there.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from conftest import make_hotspots, write_trial
from guardian_rct.config.trial_config import DEFAULT_OUTCOMES
from guardian_rct.jobs.demo import run_demo

DOC = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
#: Copies of the shipped geodata, documented in geodata/README.md (the doc says so).
GEODATA_COPIES = {"hotspots.geojson", "force_boundary.geojson", "districts.geojson", "wards.geojson"}
#: The outcomes of the demo's and the test panel's trials (the default outcomes).
OUTCOMES = tuple(o.name for o in DEFAULT_OUTCOMES)
_FILE = re.compile(r"`([^`\s]+\.(?:csv|csv\.gz|parquet|xlsx|geojson|gpkg|html|json|md|toml|db|witness))`")


def _normalise(name: str) -> str:
    name = re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", name)
    return re.sub(r"\d{4}-W\d{2}", "<week>", name)


def parse_doc(text: str) -> dict[str, set[str]]:
    """``{"file" or "file:layer": documented column names}``, with the doc's references
    ("the columns of `X`", "As in `X`", "Also `Y`" before the table) resolved."""
    sections: dict[str, dict] = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        names = re.findall(r"`([^`]+)`", heading)
        key = names[0] + (f":{names[1]}" if "layer" in heading and len(names) > 1 else "")
        head, _, _ = body.partition("\n|")
        columns = set()
        for line in body.splitlines():
            if line.startswith("| `"):
                columns |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
        refs = re.findall(r"(?:columns of|As in) `([^`]+)`", body)
        aliases = [a for a in _FILE.findall(head) if a not in refs]
        sections[key] = {"columns": columns, "refs": refs, "aliases": aliases}
    resolved: dict[str, set[str]] = {}

    def columns_of(key: str, depth: int = 0) -> set[str]:
        assert depth < 5, f"circular references in docs/outputs.md at {key}"
        section = sections[key]
        out = set(section["columns"])
        for ref in section["refs"]:
            target = f"{ref}:{key.split(':', 1)[1]}" if ":" in key and ref.endswith(".gpkg") else ref
            out |= columns_of(target, depth + 1)
        return out

    for key in sections:
        resolved[key] = columns_of(key)
    for key, section in sections.items():
        for alias in section["aliases"]:
            resolved.setdefault(alias, resolved[key])
    return resolved


def _documented(column: str, documented: set[str], outcomes: tuple[str, ...] = OUTCOMES) -> bool:
    """``column`` is in ``documented``, or matches a ``..._<outcome>`` entry for a trial outcome."""
    if column in documented:
        return True
    names = "|".join(re.escape(o) for o in outcomes)
    patterns = [re.escape(d).replace(re.escape("<outcome>"), f"(?:{names})") for d in documented if "<outcome>" in d]
    return any(re.fullmatch(p, column) for p in patterns)


def _tables(path: Path) -> dict[str, list[str]]:
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        return {name: list(pd.read_csv(path, nrows=5, encoding="utf-8-sig").columns)}
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return {name: list(pq.read_schema(path).names)}
    if name.endswith(".xlsx"):
        return {name: list(pd.read_excel(path, nrows=5).columns)}
    if name.endswith(".geojson"):
        return {name: list(gpd.read_file(path).columns)}
    if name.endswith(".gpkg"):
        return {f"{name}:{layer}": list(pyogrio.read_dataframe(path, layer=layer, max_features=1).columns)
                for layer, _ in pyogrio.list_layers(path)}
    return {}


def _undocumented(tables: dict[str, list[str]], doc: dict[str, set[str]],
                  outcomes: tuple[str, ...] = OUTCOMES) -> list[str]:
    missing = []
    for key, columns in tables.items():
        norm = _normalise(key)
        if norm not in doc:
            missing.append(f"{norm}: no section in docs/outputs.md")
            continue
        missing += [f"{norm}: column {c!r}" for c in columns if not _documented(c, doc[norm], outcomes)]
    return missing


@pytest.fixture(scope="module")
def demo_dir():
    tmp = Path(tempfile.mkdtemp(prefix="grct-outdoc-"))
    run_demo(tmp / "demo", days=14, ri_draws=20, progress=None)
    yield tmp / "demo"
    shutil.rmtree(tmp, ignore_errors=True)


def test_the_parser_sees_the_doc_structure():
    doc = parse_doc(DOC.read_text())
    assert "count_<outcome>" in doc["panel.csv"] and "geometry" in doc["panel_geo.parquet"]
    assert doc["panel_geo.parquet"] >= doc["panel.csv"]  # "the columns of `panel.csv`"
    assert doc["tasking_<date>.xlsx"] == doc["tasking_<date>.csv"]  # "Also written as"
    assert "rate_ratio" in doc["milestone_layers.gpkg:outcomes_by_hotspot"]
    assert doc["milestone_layers.gpkg:hotspots"] == doc["weekly_compliance.gpkg:hotspots"]
    assert _documented("harm_serious_youth_violence", doc["panel.csv"])
    assert not _documented("harm_index_version", doc["panel.csv"])
    # a column the code might add one day is caught
    assert _undocumented({"compliance_patrols.csv": ["date", "radio_channel"]}, doc) == [
        "compliance_patrols.csv: column 'radio_channel'"]


def test_every_column_the_demo_writes_is_documented(demo_dir):
    doc = parse_doc(DOC.read_text())
    text = DOC.read_text()
    tables, unnamed = {}, []
    for path in sorted(p for p in demo_dir.rglob("*") if p.is_file()):
        if path.name in GEODATA_COPIES or path.name.startswith("."):
            continue
        found = _tables(path)
        tables.update(found)
        if not found and f"`{_normalise(path.name)}`" not in text:
            unnamed.append(str(path.relative_to(demo_dir)))
    assert {"weekly_compliance.gpkg:visits", "milestone_layers.gpkg:outcomes_by_hotspot",
            "compliance_visits.parquet", "tasking_2023-10-02.csv"} <= set(tables)
    assert _undocumented(tables, doc) == []
    assert unnamed == [], f"files the demo writes that docs/outputs.md does not name: {unnamed}"


def test_every_column_the_panel_writes_is_documented(tmp_path):
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.crimes.panel import build_panel
    from guardian_rct.crimes.records import crimes_from_frame
    from guardian_rct.geo.hotspots import hotspots_from_frame
    from test_panel import crime, make_allocation, make_rings

    config = load_config(write_trial(tmp_path))
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    days = [dt.date(2023, 3, 20), dt.date(2023, 3, 21)]
    crimes = crimes_from_frame(pd.DataFrame([crime("a", "2023-03-20T12:00:00Z")]),
                               now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    compliance = pd.DataFrame({"date": ["2023-03-20"], "hotspot_id": ["H01"], "delivered": [1],
                               "dosage_minutes": [22.5], "contaminated": [0], "delivered_on_day": [1],
                               "present_on_day": [1]})
    panel = build_panel(config, hotspots, make_allocation(hotspots, days), crimes, rings=make_rings(hotspots),
                        compliance=compliance)
    paths = panel.write(tmp_path / "out", hotspots=hotspots)
    tables = {}
    for path in paths.values():
        tables.update(_tables(Path(path)))
    assert {"panel.csv", "rings.csv", "panel_geo.parquet", "panel.parquet", "rings.parquet"} <= set(tables)
    assert _undocumented(tables, parse_doc(DOC.read_text()), panel.outcomes) == []
