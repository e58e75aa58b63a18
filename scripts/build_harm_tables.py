"""Build the shipped harm tables in ``src/guardian_rct/data/`` from public sources.

Writes

* ``ho_classifications.csv`` — Home Office offence classification (e.g. ``8N``) →
  offence group, PRC subgroup and data.police.uk category, from
  ``ho_offence_to_policeuk_category.csv`` (crime-sim-toolkit, MIT licence), with the
  subgroup name as used by the CCHI 2026 subgroup medians;
* ``cchi_subgroups.csv`` — CCHI 2026 median days per PRC subgroup with the 2024/25
  national count (from ``cchi2026_subgroup_medians.csv``);
* ``ho_codes.csv`` — Home Office offence code (``NNN/SS``) → classification. The pairs
  are Home Office Counting Rules facts (Crown copyright, OGL v3.0); they are read from
  the two code columns of the CCHI 2020 values table. No CCHI score, title or other
  column of that copyright table is copied.

Run: ``python scripts/build_harm_tables.py ../shared/data/harm``
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "guardian_rct" / "data"
MIT = ("crime-sim-toolkit (MIT licence), ho_offence_to_policeuk_category.csv; "
       "Home Office offence classification (OGL v3.0)")
CCHI26 = ("CCHI 2026 update, median days per PRC offence subgroup "
          "(Cambridge Centre for Evidence-Based Policing); national counts ONS PRC 2024/25")
HOCR = ("Home Office Counting Rules offence classification (Crown copyright, OGL v3.0); "
        "code pairs as listed in the CCHI 2020 values table (codes only)")

# PRC subgroup names in the MIT mapping → the names used by the CCHI 2026 medians.
BRIDGE = {
    "Domestic burglary": "Residential burglary",
    "Non-domestic burglary": "Non-residential burglary",
    "Theft from a vehicle": "Vehicle offences",
    "Theft of a motor vehicle": "Vehicle offences",
    "Vehicle interference": "Vehicle offences",
    "Miscellaneous crimes": "Miscellaneous crimes against society",
}
CATEGORY = {  # MIT capitalisation → data.police.uk's
    "Violence and Sexual Offences": "Violence and sexual offences",
    "Possession of Weapons": "Possession of weapons",
    "Public Order": "Public order",
    "Other Theft": "Other theft",
    "Vehicle Crime": "Vehicle crime",
    "Theft from the Person": "Theft from the person",
    "Bicycle Theft": "Bicycle theft",
    "Criminal Damage and Arson": "Criminal damage and arson",
}


def main(src: Path) -> None:
    mit = pd.read_csv(src / "ho_offence_to_policeuk_category.csv", dtype=str).drop(columns="Unnamed: 0")
    rows = []
    for _, r in mit.iterrows():
        for code in r["Offence_Code"].split("/"):
            code = code.strip().replace(".", "/")
            rows.append({
                "classification": code,
                "description": r["Offence_Description"],
                "offence_group": r["Offence_Group"],
                "subgroup": BRIDGE.get(r["Offence_Subgroup"], r["Offence_Subgroup"]),
                "policeuk_category": CATEGORY.get(r["Police.uk_Cat"], r["Police.uk_Cat"]),
                "source": MIT,
            })
    classes = pd.DataFrame(rows).drop_duplicates("classification")
    classes.to_csv(OUT / "ho_classifications.csv", index=False)

    med = pd.read_csv(src / "cchi2026_subgroup_medians.csv")
    med = med.rename(columns={"category": "policeuk_category", "prc_subgroup": "subgroup",
                              "national_count_2024_25": "national_count"})
    med["source"] = CCHI26
    med.to_csv(OUT / "cchi_subgroups.csv", index=False)
    missing = set(classes["subgroup"]) - set(med["subgroup"])
    print("subgroups without a CCHI 2026 median (no default weight):", sorted(missing))

    cchi = pd.read_csv(src / "cchi2020_values.csv", dtype=str, keep_default_na=False)
    codes = cchi[["HOME_OFFICE_CLASSIFICATION", "CLASSIFICATION_CODE"]].copy()
    codes.columns = ["offence_code", "classification"]
    five = codes["offence_code"].str.fullmatch(r"\d{5}")
    codes.loc[five, "offence_code"] = codes.loc[five, "offence_code"].str.slice(0, 3) + "/" + \
        codes.loc[five, "offence_code"].str.slice(3)
    codes = codes.drop_duplicates().sort_values(["offence_code", "classification"])
    codes["source"] = HOCR
    codes.to_csv(OUT / "ho_codes.csv", index=False)
    multi = codes.groupby("offence_code")["classification"].nunique()
    print("codes with several classifications:", multi[multi > 1].to_dict())
    print("classifications without a subgroup:",
          sorted(set(codes["classification"]) - set(classes["classification"])))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared" / "data" / "harm")))
