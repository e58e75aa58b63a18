"""Tables of the milestone report, as data: totals, effects by section, Holm family,
randomisation inference, dose–response and the weekly series.

Every estimate goes into the report's ``estimates`` list (the JSON contract) with a
``section``:

``itt``
    Effects of assignment (intention to treat): the primary Poisson model, the negative
    binomial and difference-in-means sensitivity checks, for counts and harm.
``cace``
    Effects of patrols delivered (complier average causal effect by 2SLS, assignment as
    the instrument; Angrist, Imbens & Rubin 1996), with the first stage and its F
    statistic (weak instruments below 10: Staiger & Stock 1997).
``carryover``
    Residual deterrence: the effect of a patrol assigned yesterday and of the days since
    the last assigned patrol (Koper 1995; Sherman 1990), shown beside the main estimate.

The randomisation-inference record of an outcome (:func:`ri_record`) is read from
:class:`~guardian_rct.estimation.randomisation.RITestResult`: the p-value of the sharp
null of no effect, its Monte Carlo error and the test-inversion confidence interval *for
the rate ratio* (Rosenbaum 2002, §4).

Only the primary ITT estimate of each declared outcome (its first ``ITT`` record, the
Poisson model) enters the Holm family; CACE, carry-over and sensitivity estimates never do.
:func:`dose_response_tables` gives crime rates by band of patrol minutes on patrol-assigned
hotspot-days: descriptive, since dosage is not randomised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from guardian_rct._core.errors import GuardianError
from guardian_rct.estimation.multiplicity import holm_adjust
from guardian_rct.estimation.randomisation import RITestResult
from guardian_rct.estimation.results import Estimate

__all__ = ["NO_EVENTS", "NOT_ESTIMABLE", "SECTIONS", "estimate_section", "outcome_totals", "ri_record",
           "estimate_rows", "holm_family", "section_index", "dose_response_tables", "timeseries",
           "finite", "inference_words"]

NO_EVENTS = "no events: not estimable"
NOT_ESTIMABLE = "not estimable"
SECTIONS = ("itt", "cace", "carryover", "other")

#: Short model names for the tables (each table's note says what "FE" holds).
MODEL_LABELS = {
    "poisson_fe": "Poisson FE",
    "poisson_fe_week": "Poisson FE (week + weekday)",
    "negbin_fe": "negative binomial FE",
    "diff_in_means": "difference in means",
    "poisson_parallel": "Poisson, blocks + baseline",
    "iv_2sls_fe": "2SLS FE",
    "iv_poisson_gmm_fe": "multiplicative IV FE (log rate ratio, Anderson-Rubin CI)",
    "poisson_fe_carryover": "Poisson FE, today + yesterday",
    "poisson_fe_days_since": "Poisson FE, today + days since",
}


def finite(value: object) -> float | None:
    """A finite float, or ``None``."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def estimate_section(e: Estimate) -> str:
    """``itt``, ``cace``, ``carryover`` or ``other`` (see the module docstring)."""
    estimand = e.estimand.strip()
    if estimand == "ITT":
        return "itt"
    if estimand.upper().startswith("CACE"):
        return "cace"
    if e.model in ("poisson_fe_carryover", "poisson_fe_days_since") or estimand.startswith(
            ("carry-over", "days since")):
        return "carryover"
    return "other"


def _comparison(e: Estimate) -> str:
    """The CACE or carry-over contrast in words."""
    if e.term == "delivered":
        return "a delivered patrol (vs none)"
    if e.term == "dosage_minutes":
        return "one more minute of patrol presence"
    if e.term == "treated_lag1":
        return "patrol assigned yesterday vs not (today's assignment held fixed)"
    if e.term.startswith("since_"):
        band = e.term.split("_", 1)[1]
        days = "4 or more days ago, or never" if band == "4+" else f"{band} days ago"
        return f"last assigned patrol {days} vs yesterday"
    return e.estimand


def inference_words(e: Estimate) -> str:
    """How an estimate's standard error, interval and p-value were computed, for the table.

    ``"CR2 (Bell–McCaffrey), Satterthwaite df 13.2"`` or ``"CR1, t with 19 df (clusters − 1)"``;
    the rate-ratio CACE adds that its interval is Anderson–Rubin. The number of clusters is
    the table's "Hotspots (clusters)" column (``n_clusters``).
    """
    se_type = str(e.se_type or "").split(" ", 1)[0].upper()
    df = finite(e.df)
    if se_type == "CR2":
        text = "CR2 (Bell–McCaffrey), Satterthwaite df " + (f"{df:.1f}" if df is not None else "unknown")
    elif se_type == "CR1":
        text = "CR1, t with " + (f"{df:.0f} df (clusters − 1)" if df is not None else "unknown df")
    else:
        text = str(e.se_type) + (f", df {df:.1f}" if df is not None else "")
    if e.model == "iv_poisson_gmm_fe":
        text = "Anderson–Rubin interval; " + text
    return text


def outcome_totals(frame: pd.DataFrame, outcomes: Sequence[str]) -> list[dict[str, Any]]:
    """Events, harm and rates per hotspot-day for each outcome and arm."""
    treated = frame["treated"].to_numpy() == 1
    rows = []
    for o in outcomes:
        count = frame[f"count_{o}"].to_numpy(dtype=float)
        harm_col = f"harm_{o}"
        harm = frame[harm_col].to_numpy(dtype=float) if harm_col in frame.columns else None
        for arm, mask in (("treatment", treated), ("control", ~treated)):
            n = int(mask.sum())
            events = float(count[mask].sum())
            harm_total = float(harm[mask].sum()) if harm is not None else None
            rows.append({
                "outcome": o, "arm": arm, "hotspot_days": n, "events": events,
                "count_per_day": events / n if n else None, "harm": harm_total,
                "harm_per_day": harm_total / n if (n and harm_total is not None) else None,
            })
    return rows


def ri_record(outcome: str, result: RITestResult) -> dict[str, Any]:
    """The report's randomisation-inference record of one outcome.

    ``p_value`` and ``mc_error`` are the randomisation p-value of "no effect on any
    hotspot-day" and its Monte Carlo standard error (``RITestResult.mc_std_error``);
    ``conf_low``/``conf_high`` are the limits of the test-inversion confidence interval
    for the *rate ratio* (``RITestResult.rr_conf_low``/``rr_conf_high``; ``None`` when
    the interval is open on that side or was not computed). ``p_value_rule`` says how the
    two-sided p is formed (``"equal-tailed"``: twice the smaller one-sided p; ``"symmetric"``);
    ``p_less`` is the one-sided p-value against a rate ratio below 1 (fewer crimes with
    patrols), ``p_greater`` against one above 1.

    Raises
    ------
    TypeError
        When ``result`` is not an :class:`RITestResult` (the report reads its fields by
        name and guesses at nothing).
    """
    if not isinstance(result, RITestResult):
        raise TypeError(f"randomisation-inference result for '{outcome}' must be an RITestResult "
                        f"(from estimation.randomisation.randomisation_test), not {type(result).__name__}")
    return {"outcome": outcome, "statistic": result.statistic, "observed": finite(result.observed),
            "p_value": finite(result.p_value), "mc_error": finite(result.mc_std_error),
            "conf_low": finite(result.rr_conf_low), "conf_high": finite(result.rr_conf_high),
            "draws": int(result.draws), "p_value_rule": result.p_value_rule,
            "p_less": finite(result.p_less), "p_greater": finite(result.p_greater)}


def _measure(outcome: str, outcomes: Sequence[str]) -> tuple[str, str]:
    """(declared outcome, ``count``/``harm``/``other``) of a labelled estimate outcome."""
    if outcome in outcomes:
        return outcome, "count"
    if outcome.endswith("_harm") and outcome[: -len("_harm")] in outcomes:
        return outcome[: -len("_harm")], "harm"
    return outcome, "other"


def estimate_rows(estimates: Sequence[Estimate], outcomes: Sequence[str], no_events: set[str],
                  family: dict[int, float | None], p_source: dict[int, str]) -> list[dict[str, Any]]:
    """The report's ``estimates`` records: the contract fields plus display fields.

    The first stage of a CACE estimate comes from ``Estimate.first_stage`` (through
    :meth:`Estimate.to_dict`); it is blanked with the estimate when that is not estimable.
    """
    rows = []
    for i, e in enumerate(estimates):
        row = e.to_dict()
        base, measure = _measure(e.outcome, outcomes)
        section = estimate_section(e)
        if base in no_events:
            status = NO_EVENTS
        elif not e.estimable:
            status = NOT_ESTIMABLE
        else:
            status = "ok"
        if status != "ok":
            for key in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "ri_p_value", "irr",
                        "first_stage_coef", "first_stage_se", "first_stage_f", "first_stage_n",
                        "weak_instrument", "nb_theta", "ri_conf_low", "ri_conf_high", "wild_p_value"):
                row[key] = None
        model_label = MODEL_LABELS.get(e.model, e.model)
        if i in family:
            model_label += " (primary)"
        row.update({
            "outcome_name": base, "measure": measure, "section": section,
            "label": f"{base.replace('_', ' ')} {measure} · {e.estimand} · {e.model}",
            "model_label": model_label,
            "comparison": _comparison(e) if section in ("cace", "carryover") else None,
            "status": status,
            "pct_change": e.pct_change if status == "ok" else None,
            "irr_conf_low": e.irr_conf_low if status == "ok" else None,
            "irr_conf_high": e.irr_conf_high if status == "ok" else None,
            "z_value": e.z_value if status == "ok" else None,
            "inference": inference_words(e) if status == "ok" else None,
            "in_holm_family": i in family,
            "holm_p_value": family.get(i),
            "holm_p_source": p_source.get(i),
        })
        rows.append(row)
    return rows


def holm_family(estimates: Sequence[Estimate], outcomes: Sequence[str], no_events: set[str],
                alpha: float, wald_trusted: Mapping[str, bool] | None = None,
                ) -> tuple[dict[int, float | None], dict[int, str], dict[str, Any]]:
    """Primary ITT estimate of each declared outcome × {count, harm}, Holm-adjusted.

    The family is every declared outcome's count and its harm (labelled
    ``<outcome>_harm``), since both are headline results (issue 12; docs/multiplicity.md):
    for each, the first record whose estimand is exactly ``"ITT"``. CACE and carry-over
    estimates never enter it. Each member enters with the p-value the report leads with
    for it, as the O'Brien–Fleming decision does: the randomisation p-value where the data
    diagnosis distrusts the Wald test (``wald_trusted[name]`` False, ``name`` the family
    name ``<outcome>`` or ``<outcome>_harm``) and randomisation inference was run, the model
    p-value where the diagnosis trusts it or none was made. An outcome that could not be tested stays
    in the family with p = 1 (conservative: the family size is the number of declared
    outcomes, fixed in advance).
    """
    names = [n for o in outcomes for n in (o, f"{o}_harm")]
    base = {n: (n[: -len("_harm")] if n.endswith("_harm") and n not in outcomes else n) for n in names}
    chosen: dict[str, int] = {}
    for i, e in enumerate(estimates):
        if estimate_section(e) == "itt" and e.outcome in base and e.outcome not in chosen:
            chosen[e.outcome] = i
    members, p_raw, sources = [], [], {}
    for o in names:
        if o not in chosen:
            continue
        i = chosen[o]
        e = estimates[i]
        ri, mp = finite(e.ri_p_value), finite(e.p_value)
        testable = base[o] not in no_events and e.estimable
        use_ri = ri is not None and (wald_trusted or {}).get(o) is False
        p = (ri if use_ri else mp) if testable else None
        sources[i] = ("ri_p_value" if use_ri else "p_value") if p is not None else "not tested"
        members.append(i)
        p_raw.append(1.0 if p is None else min(max(p, 0.0), 1.0))
    adjusted = holm_adjust(p_raw) if members else np.array([])
    family = {i: (float(a) if sources[i] != "not tested" else None)
              for i, a in zip(members, adjusted, strict=True)}
    summary = {
        "method": "Holm (1979) step-down, family-wise error rate",
        "family_definition": "declared outcomes x {count, harm}: the first ITT estimate of each",
        "p_definition": ("the p-value the report leads with: randomisation where the data diagnosis "
                         "distrusts the Wald test, the model-based p-value otherwise"),
        "alpha": alpha,
        "family": [{"outcome": estimates[i].outcome, "model": estimates[i].model,
                    "estimand": estimates[i].estimand, "estimate_index": i,
                    "p_source": sources[i], "p_raw": (None if sources[i] == "not tested" else p),
                    "p_holm": family[i],
                    "rejected": (family[i] is not None and family[i] <= alpha)}
                   for i, p in zip(members, p_raw, strict=True)],
        "family_size": len(members),
    }
    return family, sources, summary


def section_index(rows: Sequence[dict[str, Any]], outcomes: Sequence[str]) -> dict[str, Any]:
    """Positions of the ``estimates`` records in each table of the report.

    ``carryover`` is grouped by outcome, each group naming its main (Holm-family) ITT
    estimate so that the template shows it beside the carry-over rows.
    """
    out: dict[str, Any] = {s: [i for i, r in enumerate(rows) if r["section"] == s] for s in SECTIONS}
    groups = []
    for o in outcomes:
        members = [i for i in out["carryover"] if rows[i]["outcome_name"] == o]
        if not members:
            continue
        main = next((i for i, r in enumerate(rows) if r["in_holm_family"] and r["outcome_name"] == o), None)
        groups.append({"outcome": o, "main": main, "rows": members})
    out["carryover"] = groups
    return out


def dose_response_tables(frame: pd.DataFrame, outcomes: Sequence[str], alpha: float,
                         notes: list[str]) -> list[dict[str, Any]]:
    """Crimes per hotspot-day by band of patrol minutes on patrol-assigned hotspot-days.

    Uses :func:`guardian_rct.estimation.iv.dose_response` on the treated hotspot-days whose dosage is
    known (the 0-minute band is scheduled patrols that never arrived), with the control
    hotspot-days' rate as a reference. Empty when the panel has no dosage (compliance not
    given). Descriptive only: officers choose how long to stay, so a gradient mixes the
    effect of presence with where and when they stayed (Koper 1995).
    """
    from guardian_rct.estimation.iv import dose_response

    if "dosage_minutes" not in frame.columns:
        return []
    dosage = pd.to_numeric(frame["dosage_minutes"], errors="coerce").to_numpy(dtype=float)
    treated = pd.to_numeric(frame["treated"], errors="coerce").to_numpy() == 1
    known = treated & np.isfinite(dosage)
    if not known.any():
        notes.append("Patrol dosage is unknown on every patrol-assigned hotspot-day: no dose-response table.")
        return []
    unknown = int((treated & ~np.isfinite(dosage)).sum())
    control = ~treated
    out = []
    for o in outcomes:
        col = f"count_{o}"
        try:
            table = dose_response(frame.loc[known], col, alpha=alpha)
        except GuardianError as exc:
            notes.append(f"No dose-response table for '{o}': {exc.problem}.")
            continue
        bands = []
        for rec in table.to_dict(orient="records"):
            bands.append({"band": str(rec["band"]), "min_minutes": finite(rec["min_minutes"]),
                          "max_minutes": finite(rec["max_minutes"]),
                          "hotspot_days": int(rec["hotspot_days"]), "events": float(rec["events"]),
                          "rate": finite(rec["rate"]), "conf_low": finite(rec["conf_low"]),
                          "conf_high": finite(rec["conf_high"]), "rate_ratio": finite(rec["rate_ratio"])})
        n_control = int(control.sum())
        events_control = float(pd.to_numeric(frame.loc[control, col], errors="coerce").sum())
        out.append({
            "outcome": o, "measure": "count", "bands": bands,
            "control": {"hotspot_days": n_control, "events": events_control,
                        "rate": events_control / n_control if n_control else None},
            "treated_days_unknown_dosage": unknown,
            "causal": False,
        })
    return out


def timeseries(frame: pd.DataFrame, outcomes: Sequence[str]) -> list[dict[str, Any]]:
    """Weekly crimes per hotspot-day by arm (weeks start on Monday)."""
    dates = pd.to_datetime(frame["date"])
    week = (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.date
    treated = frame["treated"].to_numpy() == 1
    rows = []
    for o in outcomes:
        data = pd.DataFrame({"week": week, "arm": np.where(treated, "treatment", "control"),
                             "count": frame[f"count_{o}"].to_numpy(dtype=float)})
        agg = data.groupby(["week", "arm"])["count"].agg(["sum", "size"])
        for wk in sorted(set(week)):
            for arm in ("treatment", "control"):
                if (wk, arm) in agg.index:
                    s, n = agg.loc[(wk, arm)]
                    rows.append({"outcome": o, "week_start": wk.isoformat(), "arm": arm,
                                 "hotspot_days": int(n), "events": float(s), "count_per_day": float(s) / n})
                else:
                    rows.append({"outcome": o, "week_start": wk.isoformat(), "arm": arm,
                                 "hotspot_days": 0, "events": 0.0, "count_per_day": None})
    return rows
