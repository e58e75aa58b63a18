"""Outcome rules, monthly street-crime description, and the ``panel`` command."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import make_hotspots, write_trial
from guardian_rct._core.days import date_range
from guardian_rct._core.errors import ConfigError
from guardian_rct.cli import main
from guardian_rct.config.trial_config import DEFAULT_OUTCOMES, OutcomeSpec
from guardian_rct.crimes.months import monthly_hotspot_crimes
from guardian_rct.crimes.outcomes import outcome_mask
from guardian_rct.crimes.records import crimes_from_frame
from guardian_rct.design.allocation import write_allocation_csv
from guardian_rct.geo.hotspots import hotspots_from_frame
from guardian_rct.harm.index import policeuk_category_weights
from guardian_rct.harm.tables import offence_table
from test_panel import make_allocation

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def frame_of(codes, ages=None):
    rows = [{"crime_id": f"c{i}", "offence_code": c, "occurred_at": "2023-05-01T12:00Z", "x": 1, "y": 1,
             "victim_age": "" if ages is None or ages[i] is None else ages[i]} for i, c in enumerate(codes)]
    return crimes_from_frame(pd.DataFrame(rows), now=NOW).frame


def test_default_syv_codes_are_the_wmp_offences():
    syv = {o.name: o for o in DEFAULT_OUTCOMES}["serious_youth_violence"]
    table = offence_table()
    classes = table[table["offence_code"].isin(syv.offence_codes)].groupby("offence_code")["classification"].agg(set)
    # s.18 (5D), s.20 & s.47 (8N), on a constable (8S), poison (5E/8N), racially aggravated (8P)
    assert classes["005/01"] == {"5D", "8S"} and classes["008/01"] == {"8N", "8S"}
    assert classes["008/06"] == {"8N", "8S"} and classes["005/10"] == {"5E"}
    assert classes["008/59"] == classes["008/60"] == {"8P"}
    subgroups = set(table.loc[table["offence_code"].isin(syv.offence_codes), "subgroup"])
    assert subgroups == {"Violence with injury"}
    violence = {o.name: o for o in DEFAULT_OUTCOMES}["violence"]
    f = frame_of(["008/26", "008/11", "037/02", "008/01", "105/01", "037/01"])
    assert outcome_mask(f, violence).tolist() == [False, False, False, True, True, True]


def test_code_type_and_age_rules():
    f = frame_of(["008/06", "008/06", "008/06", "Violence and sexual offences", "Robbery", "008/26"],
                 ages=[24, 25, None, 18, 18, 18])
    syv = OutcomeSpec("syv", offence_codes=("008/06",), victim_age_below=25)
    assert outcome_mask(f, syv).tolist() == [True, False, False, False, False, False]
    by_type = OutcomeSpec("v", crime_types=("violence and sexual offences",))
    assert outcome_mask(f, by_type).tolist() == [True, True, True, True, False, False]
    both = OutcomeSpec("v", offence_codes=("008/06",), crime_types=("Robbery",))
    assert outcome_mask(f, both).tolist() == [True, True, True, False, True, False]
    prefix = OutcomeSpec("c8", offence_codes=("8",))
    assert outcome_mask(f, prefix).tolist() == [True, True, True, False, False, True]
    assert outcome_mask(f, OutcomeSpec("all")).all()
    with pytest.raises(ConfigError, match=r"outcomes\.bad\.offence_codes\[0\]"):
        outcome_mask(f, OutcomeSpec("bad", offence_codes=("8N",)))


def test_monthly_description_of_street_crimes():
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    pts = [(406100, 286100), (406100, 286100), (406200, 286150), (406600, 286100), (409000, 289000),
           (406100, 286100)]
    street = gpd.GeoDataFrame({
        "crime_id": list("abcdef"), "month": ["2023-01", "2023-01", "2023-02", "2023-01", "2023-01", "2023-01"],
        "crime_type": ["Robbery", "Anti-social behaviour", "Robbery", "Burglary", "Robbery", "Robbery"],
        "location": "On or near X", "lsoa_code": "E01",
    }, geometry=[shapely.Point(p) for p in pts], crs="EPSG:27700")
    result = monthly_hotspot_crimes(street, hotspots)
    assert len(result.harm["sha256"]) == 64 and result.to_dict()["unweighted"] == 1
    out = result.frame.set_index(["hotspot_id", "month", "crime_type"])
    w = policeuk_category_weights().as_dict()
    assert out.loc[("H01", "2023-01", "Robbery"), "count"] == 2
    assert out.loc[("H01", "2023-01", "Robbery"), "harm"] == pytest.approx(2 * w["Robbery"])
    assert out.loc[("H01", "2023-02", "Robbery"), "count"] == 1  # on the boundary
    asb = out.loc[("H01", "2023-01", "Anti-social behaviour")]
    assert asb["count"] == 1 and asb["harm"] == 0 and asb["unweighted"] == 1
    assert out.loc[("H02", "2023-01", "Burglary"), "harm"] == pytest.approx(w["Burglary"])
    assert out["count"].sum() == 5
    # WGS84 input is reprojected (the boundary point is left out: reprojection moves it by nanometres)
    old = street.drop(index=2).assign(crime_type="Violent crime").to_crs("EPSG:4326")
    out11 = monthly_hotspot_crimes(old, hotspots, era="2011").frame
    assert out11["count"].sum() == 4
    assert out11["harm"].sum() == pytest.approx(4 * policeuk_category_weights("2011").as_dict()["Violent crime"])


def test_panel_command_writes_csv_parquet_quarantine_and_json(tmp_path, capsys):
    config = write_trial(tmp_path)
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 22))
    write_allocation_csv(make_allocation(hotspots, days), tmp_path / "alloc.csv", tz="Europe/London")
    pd.DataFrame([
        {"crime_id": "a", "offence_code": "008/06", "occurred_at": "2023-03-21T12:00:00Z", "x": 406100,
         "y": 286100, "victim_age": 19},
        {"crime_id": "b", "offence_code": "008/06", "occurred_at": "2023-03-21T12:00:00Z", "x": "",
         "y": "", "victim_age": 19},
    ]).to_csv(tmp_path / "crimes.csv", index=False)
    out = tmp_path / "out"
    code = main(["panel", "--config", str(config), "--crimes", str(tmp_path / "crimes.csv"),
                 "--allocation", str(tmp_path / "alloc.csv"), "--out", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data
    assert data["rows"] == 18 and data["crimes"]["read"] == 2 and data["crimes"]["used"] == 1
    assert data["crimes"]["quarantine_reasons"] == {"missing coordinates": 1}
    assert data["outcomes"]["serious_youth_violence"] == {"count": 1, "harm": 365.0}
    assert data["harm_index"]["version"].startswith("CCHI 2026") and len(data["harm_index"]["sha256"]) == 64
    assert pd.read_csv(out / "quarantine.csv")["reason"].tolist() == ["missing coordinates"]
    assert len(pd.read_parquet(out / "panel.parquet")) == len(pd.read_csv(out / "panel.csv")) == 18
    # p_treated is filled from the design, so the export feeds back into the estimators (issue 12)
    from guardian_rct.crimes.panel_io import read_panel

    exported = read_panel(out)
    assert exported["p_treated"].between(0, 1, inclusive="neither").all()
    assert exported["p_treated"].tolist() == read_panel(out / "panel.csv")["p_treated"].tolist()
    assert json.loads((out / "panel.json").read_text())["provenance"]["inputs"]
    # no allocation and no trial store yet: a clear error saying how to create it
    code = main(["panel", "--config", str(config), "--crimes", str(tmp_path / "crimes.csv"),
                 "--out", str(out)])
    assert code == 1 and "guardian-rct init" in capsys.readouterr().err
    # ... and with a store, the published schedules are the allocation
    assert main(["init", "--config", str(config)]) == 0
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.ledger.publish import publish_range

    publish_range(load_config(config), dt.date(2023, 3, 20), dt.date(2023, 3, 22), simulated=True)
    capsys.readouterr()
    code = main(["panel", "--config", str(config), "--crimes", str(tmp_path / "crimes.csv"),
                 "--out", str(out / "from_store"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["rows"] == 18
    # a wrong crime file: exit 1 with a one-line message
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    code = main(["panel", "--config", str(config), "--crimes", str(tmp_path / "bad.csv"),
                 "--allocation", str(tmp_path / "alloc.csv"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "not a crime-records file" in err and len(err.strip().splitlines()) == 1
    assert np.isfinite(data["outcomes"]["all_crime"]["harm"])


def test_config_names_the_official_spreadsheet(tmp_path):
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.crimes.panel import build_panel
    from test_harm_index import write_cchi_xlsx

    write_cchi_xlsx(tmp_path / "cchi.xlsx")
    config = load_config(write_trial(tmp_path, extra='[harm]\nindex = "cchi.xlsx"\n'))
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    crimes = crimes_from_frame(pd.DataFrame([
        {"crime_id": "m", "offence_code": "001/01", "occurred_at": "2023-03-21T12:00Z", "x": 406100, "y": 286100},
        {"crime_id": "w", "offence_code": "008/01", "occurred_at": "2023-03-21T12:00Z", "x": 406100, "y": 286100},
    ]), now=NOW)
    panel = build_panel(config, hotspots, make_allocation(hotspots, [dt.date(2023, 3, 21)]), crimes)
    assert panel.harm["version"] == "CCHI 2020" and panel.harm["ambiguous_codes"] == ["008/01"]
    assert panel.frame["harm_all_crime"].sum() == 5475 + 547.5


def test_panel_command_validates_the_compliance_file(tmp_path, capsys):
    config = write_trial(tmp_path)
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    days = date_range(dt.date(2023, 3, 20), dt.date(2023, 3, 21))
    write_allocation_csv(make_allocation(hotspots, days), tmp_path / "alloc.csv", tz="Europe/London")
    pd.DataFrame([{"crime_id": "a", "offence_code": "008/06", "occurred_at": "2023-03-20T12:00:00Z",
                   "x": 406100, "y": 286100}]).to_csv(tmp_path / "crimes.csv", index=False)
    rows = [{"date": d.isoformat(), "hotspot_id": h, "delivered": 1, "dosage_minutes": 20, "contaminated": 0}
            for d in days for h in hotspots.ids]
    pd.DataFrame(rows).to_csv(tmp_path / "comp.csv", index=False)
    args = ["panel", "--config", str(config), "--crimes", str(tmp_path / "crimes.csv"),
            "--allocation", str(tmp_path / "alloc.csv"), "--out", str(tmp_path / "out")]
    assert main([*args, "--compliance", str(tmp_path / "comp.csv")]) == 0
    panel = pd.read_csv(tmp_path / "out" / "panel.csv")
    assert panel["dosage_minutes"].eq(20).all()
    rows[3]["delivered"] = 2  # not a 0/1 flag
    pd.DataFrame(rows).to_csv(tmp_path / "comp.csv", index=False)
    capsys.readouterr()
    assert main([*args, "--compliance", str(tmp_path / "comp.csv")]) == 1
    err = capsys.readouterr().err
    assert "row 4, column 'delivered'" in err and len(err.strip().splitlines()) == 1


def test_monthly_hotspot_crimes_infers_or_requires_the_era():
    """2011 "Violent crime" never gets zero harm silently (issue 13, item 8)."""
    from guardian_rct._core.errors import DataError
    from guardian_rct.crimes.months import infer_era

    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    pt = [shapely.Point(406100, 286100)]
    old = gpd.GeoDataFrame({"month": ["2011-02"], "crime_type": ["Violent crime"]}, geometry=pt, crs="EPSG:27700")
    inferred = monthly_hotspot_crimes(old, hotspots)
    assert inferred.harm["era"] == "2011"
    assert inferred.frame["harm"].sum() == pytest.approx(policeuk_category_weights("2011").as_dict()["Violent crime"])
    with pytest.raises(DataError, match="no weight in the current era"):
        monthly_hotspot_crimes(old, hotspots, era="current")
    shared = old.assign(crime_type="Other crime")   # weighted differently in the two eras
    with pytest.raises(DataError, match="cannot tell the data.police.uk era"):
        monthly_hotspot_crimes(shared, hotspots)
    assert infer_era(pd.Series(["Violence and sexual offences", "Robbery"])) == "current"
    with pytest.raises(DataError, match="both data.police.uk eras are mixed"):
        infer_era(pd.Series(["Violence and sexual offences", "Violent crime"]))
