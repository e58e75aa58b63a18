"""Harm indexes: the CCHI spreadsheet loader, the shipped default, user tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import SHARED_DATA
from guardian_rct._core.errors import DataError
from guardian_rct.harm.index import default_harm_index, load_harm_index, policeuk_category_weights
from guardian_rct.harm.tables import normalise_offence_codes, offence_table

REAL = SHARED_DATA / "harm" / "cchi2020.xlsx"
REAL_CSV = SHARED_DATA / "harm" / "cchi2020_values.csv"
HEADER = ["ATHENA URN", "FULL_OFFENCE_TITLE", "SHORT_TITLE", "CCHI Score",
          "Sentencing data from actual offence available: ", "Starting Point", "GROUP", "SUB_GROUP",
          "CLASSIFICATION_CODE", "HOME_OFFICE_CLASSIFICATION", "HO_CODE", "HO_SUB_CODE",
          "NOTIFIABLE", "CJS Codes", "CJS Codes", "CJS Codes"]
# Invented offences in the 2020 layout (scores are made up; codes are real HO codes).
ROWS = [
    ("1.1", "Murder", "Murder", 5475, "Yes", "15 years", "VAP", "HOMICIDE", "1", "001/01", "1", "1", "N", "A", None, None),
    ("8.1", "Minor wound", "Minor wound (s20)", 19, "Yes", "x", "VAP", "VWI", "8N", "008/01", "8", "1", "N", "B", "C", None),
    ("8.2", "Serious wound", "GBH (s20)", 547.5, "Yes", "x", "VAP", "VWI", "8N", "008/01", "8", "1", "N", None, None, None),
    ("8.3", "Police", "Assault police (s20)", 912.5, "Yes", "x", "VAP", "VWI", "8S", "008/01", "8", "1", "N", None, None, None),
    ("2.0", "Attempted murder", "Attempted murder", 3285, "Yes", "x", "VAP", "VWI", "2", "00200", "2", "0", "N", None, None, None),
    ("x", "Broken", "Broken row", "n/a", "", "", "", "", "", "008/06", "", "", "", None, None, None),
]


def write_cchi_xlsx(path: Path, rows=ROWS, *, cover: str = "The Cambridge Crime Harm Index 2020 Update: test") -> Path:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Cover page"
    first["B3"] = cover
    sheet = book.create_sheet("CCHI 2020 values sheet")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def test_spreadsheet_loader_reads_codes_scores_version_and_checksum(tmp_path):
    path = write_cchi_xlsx(tmp_path / "cchi.xlsx")
    index = load_harm_index(path)
    assert index.version == "CCHI 2020"
    assert index.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert index.weight_of("001/01") == 5475
    assert index.weight_of("2/0") == 3285  # "00200" in the sheet normalised to 002/00
    assert index.weight_of("008/01") == 547.5  # median of 19, 547.5, 912.5
    assert index.to_dict()["ambiguous_codes"] == ["008/01"]
    assert index.skipped_rows == 1  # the broken row with a score "n/a"
    assert np.isnan(index.weight_of("008/06"))
    lowest = load_harm_index(path, how="min")
    assert lowest.weight_of("008/01") == 19


def test_spreadsheet_header_need_not_be_on_row_one_and_version_can_be_given(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "values"
    sheet.append(["Cambridge Crime Harm Index values"])
    sheet.append([])
    sheet.append(HEADER)
    sheet.append(list(ROWS[0]))
    book.save(tmp_path / "harm.xlsx")
    index = load_harm_index(tmp_path / "harm.xlsx", version="CCHI custom")
    assert index.version == "CCHI custom"
    assert index.weight_of("001/01") == 5475


def test_csv_with_the_same_columns_gives_the_same_weights(tmp_path):
    xlsx = write_cchi_xlsx(tmp_path / "cchi2020.xlsx")
    frame = pd.DataFrame([r[:13] for r in ROWS], columns=[h.strip().rstrip(":") for h in HEADER[:13]])
    frame = frame.rename(columns={"CCHI Score": "CCHI_Score"})
    frame.to_csv(tmp_path / "cchi2020_values.csv", index=False)
    a = load_harm_index(xlsx)
    b = load_harm_index(tmp_path / "cchi2020_values.csv")
    assert b.version == "CCHI 2020"  # from the file name
    pd.testing.assert_frame_equal(a.code_weights, b.code_weights)


def test_wrong_files_raise_clear_errors(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["a", "b"])
    book.save(tmp_path / "other.xlsx")
    with pytest.raises(DataError, match="no CCHI values sheet"):
        load_harm_index(tmp_path / "other.xlsx")
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(DataError, match="cannot open the spreadsheet"):
        load_harm_index(tmp_path / "fake.xlsx")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not the CCHI values table"):
        load_harm_index(tmp_path / "x.csv")
    with pytest.raises(DataError, match="not found"):
        load_harm_index(tmp_path / "missing.xlsx")
    (tmp_path / "x.ods").write_text("")
    with pytest.raises(DataError, match="not a harm index file"):
        load_harm_index(tmp_path / "x.ods")


@pytest.mark.skipif(not REAL.exists(), reason="shared CCHI 2020 spreadsheet not present")
def test_real_cchi2020_spreadsheet():
    index = load_harm_index(REAL)
    assert index.version == "CCHI 2020"
    assert index.weight_of("001/01") == 5475
    assert index.skipped_rows == 0
    values = pd.read_csv(REAL_CSV, dtype=str, keep_default_na=False)
    codes = normalise_offence_codes(values["HOME_OFFICE_CLASSIFICATION"])
    assert set(index.code_weights["offence_code"]) == set(codes.dropna())
    # every code whose listed offences share one score gets exactly that score
    scores = values.assign(code=codes, s=values["CCHI_Score"].astype(float)).groupby("code")["s"]
    single = scores.nunique() == 1
    got = index.code_weights.set_index("offence_code")["weight"]
    assert (got[single[single].index] == scores.first()[single]).all()
    assert load_harm_index(REAL_CSV).code_weights["weight"].tolist() == index.code_weights["weight"].tolist()


def test_normalise_offence_codes():
    got = normalise_offence_codes(pd.Series(["8/1", "008/01", "00801", " 105.1 ", "8N", "", "1234/5", None]))
    assert got.tolist()[:4] == ["008/01", "008/01", "008/01", "105/01"]
    assert got.iloc[4:].isna().all()


def test_default_index_gives_each_code_its_subgroup_median():
    index = default_harm_index()
    medians = pd.read_csv(Path(__file__).parents[1] / "src/guardian_rct/data/cchi_subgroups.csv")
    median = dict(zip(medians["subgroup"], medians["cchi_days"], strict=True))
    table = offence_table()
    for code in ("001/01", "008/06", "005/01", "034/01", "092/70", "028/03"):
        sub = set(table.loc[table["offence_code"] == code, "subgroup"])
        assert index.weight_of(code) == np.median([median[s] for s in sub])
    assert index.weight_of("001/01") == 5475  # homicide
    assert index.weight_of("008/06") == 365  # s.47 ABH: violence with injury
    assert index.weight_of("105/01") == 10  # common assault: violence without injury
    assert index.code_weights["basis"].str.startswith("CCHI 2026 median of subgroup").all()
    assert len(index.sha256) == 64 and index.version.startswith("CCHI 2026")


def test_shipped_tables_cite_sources_and_hold_no_cchi_scores():
    data = Path(__file__).parents[1] / "src/guardian_rct/data"
    for name in ("ho_codes.csv", "ho_classifications.csv", "cchi_subgroups.csv"):
        table = pd.read_csv(data / name)
        assert table["source"].notna().all() and (table["source"].str.len() > 20).all()
    codes = pd.read_csv(data / "ho_codes.csv")
    assert list(codes.columns) == ["offence_code", "classification", "source"]


def test_anti_social_behaviour_never_gets_a_weight():
    index = default_harm_index()
    harm = index.weigh(pd.Series([None, None, "008/01"], dtype="string"),
                       pd.Series(["Anti-social behaviour", "Burglary", None]))
    assert np.isnan(harm.iloc[0])
    assert harm.iloc[1] == policeuk_category_weights().as_dict()["Burglary"]
    assert harm.iloc[2] == 365


def test_user_table_for_another_index(tmp_path):
    path = tmp_path / "ons_css.csv"
    path.write_text("offence_code,crime_type,weight\n008/01,,1234.5\n5/1,,2000\n,Burglary,450\n")
    index = load_harm_index("ons_css.csv", base_dir=tmp_path)
    assert index.name == "table" and index.version == "ons_css"
    assert index.weight_of("008/01") == 1234.5 and index.weight_of("005/01") == 2000
    harm = index.weigh(pd.Series([None, "008/06"], dtype="string"), pd.Series(["Burglary", None]))
    assert harm.iloc[0] == 450 and np.isnan(harm.iloc[1])
    path.write_text("offence_code,weight\n008/01,abc\n")
    with pytest.raises(DataError, match="row 1, column 'weight'"):
        load_harm_index(path)
    path.write_text("offence_code,weight\n008/01,1\n8/1,2\n")
    with pytest.raises(DataError, match="listed twice"):
        load_harm_index(path)
