"""Placebo check on real West Midlands crime counts: is the false-positive rate 5%?

Real crimes, fake treatment. The 57 LSOAs with most "Violence and sexual offences" in
the West Midlands (data.police.uk, May 2023 to March 2026) stand in for the hotspots and
calendar months for the experimental days. Each month a crossover design (the package's
:class:`guardian_rct.design.crossover.CrossoverDesign`, complete random assignment of 28 of the 57
each month) "treats" half of them. Nothing was done to those LSOAs, so every rejection of
"no effect" at the 5% level is a false positive; over many placebo trials the rate
should be close to 5%.

Each placebo trial is evaluated with the evaluation's estimator,
:func:`guardian_rct.estimation.itt.poisson_fe` (LSOA and month fixed effects, CR1 standard
errors clustered by LSOA, t(G − 1) test), for violence and for all crime; a subset is
also tested with :func:`guardian_rct.estimation.randomisation.randomisation_test` (redrawing the same
design object). The rates are printed with their binomial standard errors
``sqrt(p(1 − p)/n)``.

Months with collection gaps in the source (2023-05 to 2023-08, 2024-09, 2025-03: partial
months) are excluded, leaving 29 full months.

Usage::

    PYTHONPATH=src python scripts/placebo_check.py --build-extract    # writes tests/data/...
    PYTHONPATH=src python scripts/placebo_check.py --trials 1000 --ri-trials 200 --ri-draws 999
    PYTHONPATH=src python scripts/placebo_check.py --data tests/data/wm_placebo_lsoa_months.csv

Data: data.police.uk street-level crimes aggregated per LSOA × crime type × month;
contains public sector information licensed under the Open Government Licence v3.0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from guardian_rct._core.rng import stream  # noqa: E402
from guardian_rct.design.crossover import CrossoverDesign  # noqa: E402
from guardian_rct.estimation import itt as estimate  # noqa: E402
from guardian_rct.estimation import randomisation as inference  # noqa: E402

# The shared public data sits beside the repository (../shared/data).
RAW = ROOT.parent / "shared" / "data" / "police_uk" / "wm_lsoa_month_counts_2023-05_2026-03.csv.gz"
EXTRACT = ROOT / "tests" / "data" / "wm_placebo_lsoa_months.csv"
VIOLENCE = "Violence and sexual offences"
PARTIAL_MONTHS = ("2023-05", "2023-06", "2023-07", "2023-08", "2024-09", "2025-03")
OUTCOMES = ("violence", "all_crime")
N_LSOAS, TREATED = 57, 28
SEED = 20260301
HEADER = ("# West Midlands Police: crimes per LSOA (2021 codes) and month, for the 57 LSOAs with most\n"
          "# 'Violence and sexual offences' over the full months 2023-09..2026-03. Source: data.police.uk\n"
          "# street-level crimes (aggregated per LSOA x crime type x month); contains public sector\n"
          "# information licensed under the Open Government Licence v3.0. partial_month = 1 marks the\n"
          "# months with collection gaps (" + ", ".join(PARTIAL_MONTHS) + "), excluded by the check.\n"
          "# Built by scripts/placebo_check.py --build-extract.\n")


def extract_table(raw: Path = RAW) -> pd.DataFrame:
    """The chosen LSOAs' monthly violence and all-crime counts (every month, gaps flagged)."""
    data = pd.read_csv(raw, dtype={"lsoa_code": str})
    data["month"] = data["year"].astype(int).astype(str) + "-" + data["month"].astype(int).map("{:02d}".format)
    full = data[~data["month"].isin(PARTIAL_MONTHS)]
    top = (full[full["category"] == VIOLENCE].groupby("lsoa_code")["crime_count"].sum()
           .sort_values(ascending=False, kind="stable").head(N_LSOAS).index)
    chosen = data[data["lsoa_code"].isin(top)]
    months = sorted(data["month"].unique())
    index = pd.MultiIndex.from_product([sorted(top), months], names=["lsoa_code", "month"])
    viol = chosen[chosen["category"] == VIOLENCE].groupby(["lsoa_code", "month"])["crime_count"].sum()
    allc = chosen.groupby(["lsoa_code", "month"])["crime_count"].sum()
    table = pd.DataFrame({"violence": viol.reindex(index, fill_value=0),
                          "all_crime": allc.reindex(index, fill_value=0)}).reset_index()
    table["partial_month"] = table["month"].isin(PARTIAL_MONTHS).astype(int)
    return table


def build_extract(raw: Path = RAW, out: Path = EXTRACT) -> pd.DataFrame:
    """Write :func:`extract_table` with its source and licence header."""
    table = extract_table(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        table.to_csv(handle, index=False)
    return table


def load_panel(path: Path) -> pd.DataFrame:
    """LSOA × full-month panel: ``hotspot_id, month, day_index, count_violence, count_all_crime``.

    Reads the extract, or the raw LSOA-month file (choosing the LSOAs as the extract does).
    """
    if path.name.endswith(".csv.gz") and "lsoa_month_counts" in path.name:
        table = extract_table(path)
    else:
        table = pd.read_csv(path, comment="#", dtype={"lsoa_code": str, "month": str})
    table = table[table["partial_month"] == 0]
    months = sorted(table["month"].unique())
    pos = {m: i for i, m in enumerate(months)}
    panel = pd.DataFrame({"hotspot_id": table["lsoa_code"].to_numpy(), "month": table["month"].to_numpy(),
                          "day_index": table["month"].map(pos).to_numpy(),
                          "count_violence": table["violence"].to_numpy(),
                          "count_all_crime": table["all_crime"].to_numpy()})
    return panel.sort_values(["day_index", "hotspot_id"]).reset_index(drop=True)


def placebo_design(panel: pd.DataFrame, treated: int = TREATED) -> CrossoverDesign:
    """Crossover design: each month, ``treated`` of the LSOAs by complete random assignment."""
    ids = tuple(sorted(panel["hotspot_id"].unique()))
    months = sorted(panel["month"].unique())
    days = tuple(dt.date(int(m[:4]), int(m[5:7]), 1) for m in months)  # one "day" per month
    return CrossoverDesign(hotspot_ids=ids, blocks=("all",) * len(ids), days=days,
                           treated_per_block=(("all", treated),))


def run_placebo(panel: pd.DataFrame, *, trials: int, ri_trials: int = 0, ri_draws: int = 999,
                seed: int = SEED, alpha: float = 0.05, progress=sys.stderr) -> dict:
    """False-positive rates of the Wald (poisson_fe) and randomisation tests over placebo trials."""
    design = placebo_design(panel)
    ids = np.asarray(design.hotspot_ids)
    n_hot = len(ids)
    col = pd.Index(ids).get_indexer(panel["hotspot_id"])
    flat = panel["day_index"].to_numpy() * n_hot + col
    rng = stream(seed, "placebo_allocation")
    ri_rng = stream(seed, "placebo_randomisation_inference")
    wald = {o: [] for o in OUTCOMES}
    ri = {o: [] for o in OUTCOMES}
    began = time.perf_counter()
    for t in range(trials):
        T = np.asarray(design.draw(rng)).ravel()[flat].astype(np.int64)
        frame = panel.assign(treated=T)
        for o in OUTCOMES:
            est = estimate.poisson_fe(frame, f"count_{o}", fe=("hotspot", "day"), alpha=alpha)
            wald[o].append(est.p_value)
            if t < ri_trials:
                res = inference.randomisation_test(frame, f"count_{o}", design, draws=ri_draws, rng=ri_rng,
                                                   conf_int=False, alpha=alpha)
                ri[o].append(res.p_value)
        if progress is not None and (t + 1) % max(1, trials // 10) == 0:
            print(f"  {t + 1}/{trials} placebo trials ({time.perf_counter() - began:.0f} s)", file=progress,
                  flush=True)

    def rate(pvals: list[float]) -> dict:
        n = len(pvals)
        if n == 0:
            return {"trials": 0, "rejections": 0, "rate": None, "std_error": None}
        k = int(np.sum(np.asarray(pvals) < alpha))
        p = k / n
        return {"trials": n, "rejections": k, "rate": p, "std_error": math.sqrt(p * (1 - p) / n)}

    return {"lsoas": n_hot, "months": len(design.days), "treated_per_month": TREATED, "alpha": alpha,
            "seed": seed, "seconds": round(time.perf_counter() - began, 1),
            "crimes": {o: int(panel[f"count_{o}"].sum()) for o in OUTCOMES},
            "wald": {o: rate(wald[o]) for o in OUTCOMES}, "randomisation": {o: rate(ri[o]) for o in OUTCOMES},
            "ri_draws": ri_draws, "estimator": "guardian_rct.estimation.itt.poisson_fe (LSOA + month FE, CR1 by LSOA)"}


def _print(result: dict) -> None:
    print(f"Placebo check: {result['lsoas']} LSOAs x {result['months']} full months, "
          f"{result['treated_per_month']} 'treated' per month at random (no true effect); "
          f"alpha = {result['alpha']}")
    for test in ("wald", "randomisation"):
        for o in OUTCOMES:
            r = result[test][o]
            if r["trials"]:
                print(f"  {test:>13} {o:>9}: false-positive rate {r['rate']:.4f} ± {r['std_error']:.4f} "
                      f"({r['rejections']}/{r['trials']} placebo trials)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-extract", action="store_true", help=f"write {EXTRACT.relative_to(ROOT)} and stop")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"LSOA-month file (default: {RAW} if present, else the shipped extract)")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--ri-trials", type=int, default=200)
    parser.add_argument("--ri-draws", type=int, default=999)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.build_extract:
        table = build_extract()
        print(f"wrote {EXTRACT} ({len(table)} rows, {table['lsoa_code'].nunique()} LSOAs)")
        return 0
    path = args.data or (RAW if RAW.exists() else EXTRACT)
    result = run_placebo(load_panel(path), trials=args.trials, ri_trials=args.ri_trials,
                         ri_draws=args.ri_draws, seed=args.seed)
    result["data"] = str(path)
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
