"""Build the simulation's calibration tables in ``src/guardian_rct/data/`` from real data.

Reads ``../shared/data`` (or the folder given with ``--shared``) and writes three small
derived tables that :mod:`guardian_rct.simulation.crimes` ships with, so that tests and
users never need the raw data:

``sim_hotspot_profiles.csv``
    The 57 West Midlands LSOAs with the most violence and sexual offences over the full
    months May 2023 – March 2026 (excluding the partial months data.police.uk left), with
    each one's mean daily count per data.police.uk crime type, most violence first
    (equal counts in LSOA-code order, so the table does not depend on library versions).
    These 57 areas hold 15% of the force's violence, close to the reference trial's 57
    hotspots (19% of serious youth violence), so they stand in for "hotspot-sized"
    places. Anti-social behaviour is left out (it is not a crime and has no harm weight).
``sim_calibration.json``
    Month-of-year factors (force-wide crimes per day in each calendar month, relative to
    the mean), the day-level gamma shape implied by the month-to-month over-dispersion of
    those 57 areas, and the documented *assumptions* the monthly data cannot give:
    day-of-week factors, the hour-of-day profile, victim ages.
``sim_offences.csv``
    Representative Home Office offence codes per data.police.uk crime type, their
    subgroup's share of the category (2024/25 national recorded-crime counts) and
    CCHI-like harm weights: the CCHI 2026 *subgroup medians* (the same figures the shipped
    category weights are built from; the Cambridge offence table itself is not copied).

Attribution: Contains public sector information licensed under the Open Government
Licence v3.0 (data.police.uk street-level crime data, West Midlands Police; ONS
recorded-crime counts). CCHI subgroup medians: Cambridge Centre for Evidence-Based
Policing, CCHI 2026 update, as summarised medians.

Usage::

    python scripts/build_calibration.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "guardian_rct" / "data"
PARTIAL_MONTHS = {202305, 202306, 202307, 202308, 202409, 202503}
N_PROFILES = 57

# Representative Home Office codes: (code, description, crime type, PRC subgroup,
# share within subgroup, person victim?, victim age min, max, share detected proactively).
# Shares within a subgroup are illustrative; subgroup shares come from national counts.
OFFENCES = [
    ("001/01", "Murder", "Violence and sexual offences", "Homicide", 0.8, True, 0, 90, 0.0),
    ("004/01", "Manslaughter", "Violence and sexual offences", "Homicide", 0.2, True, 0, 90, 0.0),
    ("008/06", "Assault occasioning actual bodily harm (s.47)", "Violence and sexual offences", "Violence with injury", 0.72, True, 0, 90, 0.01),
    ("008/01", "Wounding or inflicting grievous bodily harm without intent (s.20)", "Violence and sexual offences", "Violence with injury", 0.12, True, 0, 90, 0.01),
    ("005/01", "Wounding with intent to do grievous bodily harm (s.18)", "Violence and sexual offences", "Violence with injury", 0.08, True, 0, 90, 0.01),
    ("008/60", "Racially or religiously aggravated assault with injury", "Violence and sexual offences", "Violence with injury", 0.05, True, 0, 90, 0.01),
    ("002/00", "Attempted murder", "Violence and sexual offences", "Violence with injury", 0.02, True, 0, 90, 0.0),
    ("008/02", "Administering poison with intent to injure", "Violence and sexual offences", "Violence with injury", 0.01, True, 0, 90, 0.0),
    ("105/01", "Common assault and battery", "Violence and sexual offences", "Violence without injury", 0.85, True, 0, 90, 0.02),
    ("003/01", "Threats to kill", "Violence and sexual offences", "Violence without injury", 0.06, True, 0, 90, 0.0),
    ("104/30", "Assault without injury on a constable", "Violence and sexual offences", "Violence without injury", 0.06, True, 18, 65, 0.5),
    ("008/57", "Racially or religiously aggravated common assault", "Violence and sexual offences", "Violence without injury", 0.03, True, 0, 90, 0.02),
    ("008/30", "Harassment - putting people in fear of violence", "Violence and sexual offences", "Stalking and harassment", 0.6, True, 10, 90, 0.0),
    ("125/68", "Harassment of a person in his home", "Violence and sexual offences", "Stalking and harassment", 0.3, True, 10, 90, 0.0),
    ("008/56", "Racially or religiously aggravated harassment", "Violence and sexual offences", "Stalking and harassment", 0.1, True, 10, 90, 0.0),
    ("004/04", "Causing death by dangerous driving", "Violence and sexual offences", "Death or serious injury - unlawful driving", 1.0, True, 0, 90, 0.0),
    ("019/07", "Rape of a female aged under 16", "Violence and sexual offences", "Rape offences", 0.3, True, 13, 15, 0.0),
    ("019/12", "Attempted rape of a female aged 16 or over", "Violence and sexual offences", "Rape offences", 0.6, True, 16, 90, 0.0),
    ("019/10", "Rape of a male aged 16 or over", "Violence and sexual offences", "Rape offences", 0.1, True, 16, 90, 0.0),
    ("020/05", "Sexual assault on a female", "Violence and sexual offences", "Other sexual offences", 0.7, True, 13, 90, 0.0),
    ("017/15", "Sexual assault on a male", "Violence and sexual offences", "Other sexual offences", 0.15, True, 13, 90, 0.0),
    ("020/06", "Sexual assault of a female child under 13", "Violence and sexual offences", "Other sexual offences", 0.15, True, 0, 12, 0.0),
    ("125/09", "Causing intentional harassment, alarm or distress", "Public order", "Public order offences", 0.45, False, 0, 0, 0.2),
    ("125/11", "Fear or provocation of violence", "Public order", "Public order offences", 0.35, False, 0, 0, 0.2),
    ("066/01", "Affray", "Public order", "Public order offences", 0.1, False, 0, 0, 0.2),
    ("125/82", "Racially or religiously aggravated harassment, alarm or distress", "Public order", "Public order offences", 0.1, False, 0, 0, 0.1),
    ("058/00", "Criminal damage", "Criminal damage and arson", "Criminal damage", 0.9, False, 0, 0, 0.0),
    ("058/04", "Racially or religiously aggravated criminal damage", "Criminal damage and arson", "Criminal damage", 0.1, False, 0, 0, 0.0),
    ("056/02", "Arson not endangering life", "Criminal damage and arson", "Arson", 0.85, False, 0, 0, 0.0),
    ("056/01", "Arson endangering life", "Criminal damage and arson", "Arson", 0.15, False, 0, 0, 0.0),
    ("046/00", "Theft from shops and stalls", "Shoplifting", "Shoplifting", 1.0, False, 0, 0, 0.05),
    ("049/10", "Other theft", "Other theft", "Other theft offences", 0.85, False, 0, 0, 0.0),
    ("047/00", "Theft from automatic machine or meter", "Other theft", "Other theft offences", 0.05, False, 0, 0, 0.0),
    ("035/00", "Blackmail", "Other theft", "Other theft offences", 0.05, True, 10, 90, 0.0),
    ("049/11", "Removal of articles from places open to the public", "Other theft", "Other theft offences", 0.05, False, 0, 0, 0.0),
    ("045/10", "Theft from a motor vehicle", "Vehicle crime", "Vehicle offences", 0.55, False, 0, 0, 0.0),
    ("048/01", "Theft of a motor vehicle", "Vehicle crime", "Vehicle offences", 0.3, False, 0, 0, 0.0),
    ("126/00", "Interfering with a motor vehicle", "Vehicle crime", "Vehicle offences", 0.12, False, 0, 0, 0.1),
    ("037/02", "Aggravated vehicle taking", "Vehicle crime", "Vehicle offences", 0.03, False, 0, 0, 0.3),
    ("028/03", "Burglary - residential", "Burglary", "Residential burglary", 0.95, False, 0, 0, 0.0),
    ("029/00", "Aggravated burglary - residential", "Burglary", "Residential burglary", 0.05, True, 0, 90, 0.0),
    ("030/02", "Burglary - business and community", "Burglary", "Non-residential burglary", 0.95, False, 0, 0, 0.0),
    ("031/00", "Aggravated burglary - business and community", "Burglary", "Non-residential burglary", 0.05, False, 0, 0, 0.0),
    ("092/61", "Possession of a controlled drug - Class B - Cannabis", "Drugs", "Possession of drugs", 0.6, False, 0, 0, 0.9),
    ("092/50", "Possession of a controlled drug - Class A - Cocaine", "Drugs", "Possession of drugs", 0.25, False, 0, 0, 0.9),
    ("092/54", "Possession of a controlled drug - Class A - Crack", "Drugs", "Possession of drugs", 0.15, False, 0, 0, 0.9),
    ("092/70", "Possession with intent to supply - Class A - Cocaine", "Drugs", "Trafficking of drugs", 0.4, False, 0, 0, 0.85),
    ("092/74", "Possession with intent to supply - Class A - Crack", "Drugs", "Trafficking of drugs", 0.3, False, 0, 0, 0.85),
    ("092/81", "Possession with intent to supply - Class B - Cannabis", "Drugs", "Trafficking of drugs", 0.3, False, 0, 0, 0.85),
    ("039/00", "Theft from the person of another", "Theft from the person", "Theft from the person", 1.0, True, 10, 90, 0.0),
    ("034/01", "Robbery", "Robbery", "Robbery of personal property", 1.0, True, 10, 90, 0.0),
    ("008/26", "Having an article with a blade or point in a public place", "Possession of weapons", "Possession of weapons offences", 0.55, False, 0, 0, 0.6),
    ("008/11", "Possession of an offensive weapon", "Possession of weapons", "Possession of weapons offences", 0.3, False, 0, 0, 0.6),
    ("008/61", "Threaten with an offensive weapon in a public place", "Possession of weapons", "Possession of weapons offences", 0.1, True, 10, 90, 0.1),
    ("081/03", "Possessing a firearm without a certificate", "Possession of weapons", "Possession of weapons offences", 0.05, False, 0, 0, 0.6),
    ("044/00", "Theft or unauthorised taking of a pedal cycle", "Bicycle theft", "Bicycle theft", 1.0, False, 0, 0, 0.0),
    ("054/01", "Handling stolen goods", "Other crime", "Miscellaneous crimes against society", 0.5, False, 0, 0, 0.7),
    ("033/00", "Going equipped for stealing", "Other crime", "Miscellaneous crimes against society", 0.5, False, 0, 0, 0.7),
]

# Assumptions (not identifiable from monthly counts): documented, not calibrated.
DOW_FACTOR = [0.88, 0.86, 0.89, 0.93, 1.08, 1.22, 1.14]  # Mon..Sun
HOUR_PROFILE = [5.5, 5.0, 4.5, 3.5, 2.5, 1.8, 1.6, 2.0, 2.8, 3.2, 3.5, 3.8,
                4.2, 4.3, 4.5, 5.0, 5.3, 5.4, 5.3, 5.3, 5.4, 5.6, 5.8, 5.9]  # local clock 00..23
VICTIM_AGE_BANDS = [[0, 9, 0.03], [10, 15, 0.08], [16, 17, 0.06], [18, 24, 0.23], [25, 34, 0.24],
                    [35, 44, 0.17], [45, 54, 0.11], [55, 64, 0.05], [65, 90, 0.03]]


def _month_days(ym: int) -> int:
    return pd.Period(f"{ym // 100}-{ym % 100:02d}").days_in_month


def most_violent(violence: pd.Series, n: int) -> pd.Index:
    """The ``n`` areas (index: LSOA code) with the most violence, most first.

    Areas with equal counts (the data has ties, e.g. 568 = 568, and one at the 57th
    place) are ordered by LSOA code, so the choice and the order do not depend on the
    input's row order, on the sort algorithm or on the pandas/numpy version (numpy's
    default quicksort is not stable and its SIMD dispatch differs by CPU and release).
    """
    ranked = (violence.rename("violence").rename_axis("lsoa_code").reset_index()
              .sort_values(["violence", "lsoa_code"], ascending=[False, True], kind="stable"))
    return pd.Index(ranked["lsoa_code"].iloc[:n], name="lsoa_code")


def build(shared: Path, out: Path = OUT) -> None:
    counts = pd.read_csv(shared / "police_uk" / "wm_lsoa_month_counts_2023-05_2026-03.csv.gz")
    counts = counts[counts["category"] != "Anti-social behaviour"].copy()
    counts["ym"] = counts["year"] * 100 + counts["month"]
    counts = counts[~counts["ym"].isin(PARTIAL_MONTHS)]
    months = sorted(counts["ym"].unique())
    n_days = sum(_month_days(m) for m in months)

    # Hotspot profiles: the N_PROFILES LSOAs with the most violence.
    violence = counts[counts["category"] == "Violence and sexual offences"].groupby("lsoa_code")["crime_count"].sum()
    top = most_violent(violence, N_PROFILES)
    share_top = float(violence.loc[top].sum() / violence.sum())
    rates = (counts[counts["lsoa_code"].isin(top)]
             .pivot_table(index="lsoa_code", columns="category", values="crime_count", aggfunc="sum", fill_value=0)
             / n_days)
    rates = rates.loc[top].reset_index()
    rates.insert(0, "rank", np.arange(1, len(rates) + 1))
    rates.round(5).to_csv(out / "sim_hotspot_profiles.csv", index=False)

    # Month-of-year factors from force-wide crimes per day.
    per_month = counts.groupby("ym")["crime_count"].sum()
    per_day = pd.Series({m: per_month[m] / _month_days(m) for m in months})
    by_calendar = per_day.groupby([m % 100 for m in per_day.index]).mean()
    month_factor = (by_calendar / by_calendar.mean()).reindex(range(1, 13))

    # Over-dispersion: monthly NB alpha (Var = mu + alpha mu^2) of the top areas, after
    # removing each area's mean rate and the days in the month; if it came from
    # independent daily gamma shocks, alpha_month = 1 / (days * k_day).
    monthly = (counts[counts["lsoa_code"].isin(top)]
               .groupby(["lsoa_code", "ym"])["crime_count"].sum().unstack(fill_value=0))
    days = np.array([_month_days(m) for m in monthly.columns])
    seasonal = month_factor.to_numpy()[[m % 100 - 1 for m in monthly.columns]]
    base = (monthly.to_numpy() / (days * seasonal)).mean(axis=1)
    expected = np.outer(base, days * seasonal)
    alpha = ((monthly.to_numpy() - expected) ** 2 - expected).sum(axis=1) / (expected ** 2).sum(axis=1)
    alpha_median = float(np.median(alpha))
    gamma_shape_day = 1.0 / (30.4 * alpha_median)

    calibration = {
        "schema": 1,
        "source": "data.police.uk street-level crimes, West Midlands Police, aggregated per LSOA x crime type x month",
        "licence": "Contains public sector information licensed under the Open Government Licence v3.0",
        "months_used": [int(m) for m in months],
        "days_used": int(n_days),
        "profiles": {"n": int(len(rates)), "selection": "LSOAs with the most violence and sexual offences",
                     "share_of_force_violence": round(share_top, 4)},
        "month_factor": [round(float(v), 4) for v in month_factor],
        "overdispersion": {"alpha_month_median": round(alpha_median, 5),
                           "alpha_month_quartiles": [round(float(q), 5) for q in np.quantile(alpha, [0.25, 0.75])],
                           "gamma_shape_day": round(gamma_shape_day, 3),
                           "method": "method-of-moments NB alpha of monthly counts; k_day = 1/(30.4 alpha)"},
        "assumptions": {
            "dow_factor": DOW_FACTOR,
            "hour_profile": HOUR_PROFILE,
            "victim_age_bands": VICTIM_AGE_BANDS,
            "note": ("data.police.uk gives months only, so day-of-week, hour-of-day and victim age are "
                     "illustrative shapes (violence peaks at weekends and in the evening and night; "
                     "about 40% of victims of violence are under 25), not calibrated values"),
        },
    }
    (out / "sim_calibration.json").write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")

    # Offence table with subgroup shares and CCHI-like weights.
    medians = pd.read_csv(shared / "harm" / "cchi2026_subgroup_medians.csv")
    medians["subgroup_share"] = medians["national_count_2024_25"] / medians.groupby("category")["national_count_2024_25"].transform("sum")
    table = pd.DataFrame(OFFENCES, columns=["offence_code", "description", "crime_type", "subgroup",
                                            "share_in_subgroup", "person_victim", "victim_age_min",
                                            "victim_age_max", "proactive_share"])
    # Robbery: the two robbery subgroups share one median (365 days); pool them.
    med = medians.set_index("prc_subgroup")
    robbery = medians[medians["category"] == "Robbery"]
    med.loc["Robbery of personal property", "subgroup_share"] = 1.0
    med.loc["Robbery of personal property", "cchi_days"] = float(
        (robbery["cchi_days"] * robbery["national_count_2024_25"]).sum() / robbery["national_count_2024_25"].sum())
    table["share_in_category"] = table["share_in_subgroup"] * table["subgroup"].map(med["subgroup_share"])
    table["cchi_days"] = table["subgroup"].map(med["cchi_days"])
    if table[["share_in_category", "cchi_days"]].isna().any().any():
        raise SystemExit("an offence's subgroup is missing from the CCHI subgroup medians")
    sums = table.groupby("crime_type")["share_in_category"].sum()
    if not np.allclose(sums, 1.0):
        raise SystemExit(f"shares within a category do not sum to 1: {sums.to_dict()}")
    table["share_in_category"] = table["share_in_category"].round(6)
    table.drop(columns="share_in_subgroup").to_csv(out / "sim_offences.csv", index=False)
    print(f"wrote {len(rates)} profiles ({share_top:.1%} of force violence), {len(table)} offences; "
          f"gamma shape per day {gamma_shape_day:.2f}; month factors {month_factor.round(2).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    build(parser.parse_args().shared)


if __name__ == "__main__":
    main()
