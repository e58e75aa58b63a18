"""The statistical analysis plan (SAP) of a registered trial, as data, then HTML and Markdown.

:func:`build_plan` is a pure function of the trial config, its hotspots, its declared
design and its harm index: it assembles every item a SAP for a randomised trial states
(the SPIRIT 2013 items that apply — Chan et al. 2013, *BMJ* 346:e7586, items 6-12, 14-16,
20; the CONSORT extension for randomised crossover trials' analysis items — Dwan et al.
2019, *BMJ* 366:l4378, items 3-4, 6, 8-12; and Gamble et al. 2017, *JAMA* 318:2337, the
SAP guidance): the research question; units, hotspots (with the file's SHA-256) and
blocks; the design and randomisation procedure (numbers treated per block and day,
constraints, patrol windows, concealment rule and horizon); the compliance rule and the
delivery definition; each outcome (offence codes, victim-age rule, harm index with version
and SHA-256, exclusions); estimands (ITT, CACE), the planned analyses and their models,
variance estimator, degrees of freedom, randomisation-inference draws, alpha, the Holm
family, interim looks with information fractions and O'Brien–Fleming boundaries; the
design diagnosis and the minimum detectable effect at registration; and the rules for
missing compliance and quarantined data.

The power figures use the closed form of :mod:`guardian_rct.simulation.power_analytic`
(so ``init`` stays fast) over a grid of assumed baseline rates, because no crimes are
read at registration; ``guardian-rct power --crimes`` simulates the real estimator.

The plan never contains the trial seed or any future assignment (DESIGN.md rule 12): it
is meant to be handed to a registry or journal. Its canonical JSON
(:func:`guardian_rct._core.canonical.canonical_json`) is what the trial store seals;
computed numbers are rounded to 6 significant digits so that the same config gives the
same bytes across library versions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from guardian_rct._core.canonical import canonical_json, sha256_text
from guardian_rct._core.provenance import package_version
from guardian_rct.config.trial_config import OutcomeSpec, TrialConfig
from guardian_rct.design.protocol import Design
from guardian_rct.estimation.itt import SE_TYPE, SE_TYPE_CR2
from guardian_rct.estimation.multiplicity import information_fractions, obf_boundaries
from guardian_rct.estimation.ri_statistic import P_VALUE_RULE_WORDS, RI_STATISTIC_WORDS
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.harm.index import HarmIndex
from guardian_rct.simulation.power_analytic import poisson_mde

__all__ = ["PLAN_SCHEMA_VERSION", "AnalysisPlan", "build_plan", "planned_analyses", "analysis_key",
           "ASSUMED_RATES"]

PLAN_SCHEMA_VERSION = "1.0"
#: Baseline crimes per hotspot-day at which the registration MDE is shown.
ASSUMED_RATES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_POWER = 0.8


@dataclass(frozen=True)
class AnalysisPlan:
    """A plan's content (JSON-ready, schema-versioned) and its canonical form and hash."""

    content: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return dict(self.content)

    def canonical_json(self) -> str:
        """The bytes the trial store seals."""
        return canonical_json(self.to_dict())

    @property
    def sha256(self) -> str:
        """SHA-256 of :meth:`canonical_json`."""
        return sha256_text(self.canonical_json())


def _sig(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def analysis_key(section: str, outcome: str, model: str, term: str | None = None) -> str:
    """The identity of an analysis: ``section|outcome label|model|term`` (term for CACE only)."""
    return "|".join([section, outcome, model, term if section == "cace" and term else ""])


def planned_analyses(kind: str, outcomes: tuple[str, ...], primary: str) -> list[dict[str, Any]]:
    """The analyses the evaluation runs for every declared outcome (mirrors
    :func:`guardian_rct.estimation.standard_set.standard_estimates`).

    Crossover: Poisson FE (primary for each outcome), negative binomial FE (counts) and
    difference in means, for counts and harm; CACE of a delivered patrol and of a minute
    of patrol by 2SLS FE, counts and harm; carry-over (yesterday's assignment; days since
    the last patrol) on counts. Parallel: Poisson with block and day effects and the
    baseline, difference in means, CACE; no carry-over.
    """
    itt_models = {"crossover": ("poisson_fe", "negbin_fe", "diff_in_means"),
                  "parallel": ("poisson_parallel", "diff_in_means")}[kind]
    rows: list[dict[str, Any]] = []

    def add(section: str, label: str, measure: str, model: str, term: str | None, role: str,
            estimand: str) -> None:
        rows.append({"key": analysis_key(section, label, model, term), "section": section,
                     "outcome": label, "measure": measure, "model": model, "term": term,
                     "role": role, "estimand": estimand})

    for o in outcomes:
        for measure, label in (("count", o), ("harm", f"{o}_harm")):
            for i, model in enumerate(itt_models):
                if model == "negbin_fe" and measure == "harm":
                    continue  # NB2 needs integer outcomes
                role = ("primary" if o == primary else "secondary") if (i == 0 and measure == "count") \
                    else ("secondary" if i == 0 else "sensitivity")
                add("itt", label, measure, model, None, role, "ITT")
            for term, what in (("delivered", "patrol delivered"), ("dosage_minutes", "dosage minutes")):
                add("cace", label, measure, "iv_2sls_fe", term, "supporting", f"CACE ({what})")
            # the CACE as a rate ratio beside the ITT, for counts and harm (issue 12)
            add("cace", label, measure, "iv_poisson_gmm_fe", "present_on_day", "supporting",
                "CACE rate ratio (patrol present on the day)")
        if kind == "crossover":
            add("carryover", o, "count", "poisson_fe_carryover", None, "supporting",
                "carry-over: patrol assigned yesterday")
            add("carryover", o, "count", "poisson_fe_days_since", None, "supporting",
                "days since last assigned patrol")
    return rows


def _outcome_entry(spec: OutcomeSpec, primary: str) -> dict[str, Any]:
    age = (f"victim younger than {spec.victim_age_below}; crimes with no recorded victim age are not counted"
           if spec.victim_age_below is not None else "no victim-age rule")
    return {"name": spec.name, "description": spec.description or spec.name.replace("_", " "),
            "offence_codes": list(spec.offence_codes), "crime_types": list(spec.crime_types),
            "victim_age_below": spec.victim_age_below, "victim_age_rule": age,
            "selection": _selection(spec),
            "primary": spec.name == primary, "measures": ["count", "harm"]}


def _selection(spec: OutcomeSpec) -> str:
    if spec.offence_codes and spec.crime_types:
        return ("records with a Home Office code are selected by code; records with only a data.police.uk "
                "crime type by type")
    if spec.offence_codes:
        return "records are selected by Home Office code; records with no code are not counted"
    if spec.crime_types:
        return "records are selected by data.police.uk crime type"
    return "every recorded crime"


def _blocks(config: TrialConfig, design: Design) -> list[dict[str, Any]]:
    probs = design.probabilities()[0]
    out = []
    blocks = np.asarray(design.blocks, dtype=object)
    for b in sorted(set(design.blocks)):
        members = np.flatnonzero(blocks == b)
        lo, hi = (design.count_range(b) if hasattr(design, "count_range")
                  else (int(round(probs[members].sum())),) * 2)
        out.append({"block": b, "n_hotspots": int(members.size), "treated_min": int(lo),
                    "treated_max": int(hi), "probability": _sig(float(probs[members].mean()))})
    return out


def _randomisation(config: TrialConfig, design: Design, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    d = config.design
    if d.kind == "crossover":
        if d.treated_per_day is not None:
            rule = (f"{d.treated_per_day} hotspots treated every experimental day, split across blocks in "
                    "proportion to their size (largest remainder)")
        elif d.treated_per_block_per_day is not None:
            rule = f"{d.treated_per_block_per_day} hotspots treated in every block every experimental day"
        else:
            rule = (f"each hotspot-day treated with probability {d.prob_treated:g} (floor/ceiling of "
                    "n_b × p per block)")
        procedure = ("Every experimental day, within each block, the treated hotspots are drawn by complete "
                     "random assignment (randomizr block_ra; Gerber & Green 2012, §2.7) from that day's own "
                     "random stream, numpy SeedSequence(trial seed, spawn_key=('allocation', day)).")
        unit = "hotspot-day"
    else:
        rule = (f"{d.n_treated} hotspots treated for the whole trial" if d.n_treated is not None else
                f"each hotspot treated with probability {d.prob_treated:g}" if d.prob_treated is not None
                else "half of the hotspots (of each group) treated for the whole trial")
        procedure = (f"One {d.assignment.replace('_', '-')} random assignment of hotspots for the whole trial "
                     "(randomizr complete_ra/block_ra) from the stream SeedSequence(trial seed, "
                     "spawn_key=('allocation', 'parallel')).")
        unit = "hotspot"
    constraints = {"max_consecutive_control_days": d.max_consecutive_control_days, "min_gap_days": d.min_gap_days}
    if any(v is not None for v in constraints.values()):
        procedure += (" Constrained days are drawn conditionally on the days before, treating the hotspots "
                      "of a block symmetrically, so each keeps the block's marginal probability.")
    return {
        "kind": d.kind, "assignment": d.assignment if d.kind == "parallel" else "complete within blocks, daily",
        "unit": unit, "rule": rule, "procedure": procedure, "constraints": constraints,
        "treated_per_day_total": [sum(b["treated_min"] for b in blocks), sum(b["treated_max"] for b in blocks)],
        "windows": [str(w) for w in d.windows], "patrol_minutes": d.patrol_minutes,
        "visits_per_day": d.visits_per_day, "visit_spacing_minutes": d.visit_spacing_minutes,
        "seed_rule": "one trial seed, recorded in the trial store only; never shown in any officer- or "
                     "analyst-facing output or in this plan",
        "horizon_days": config.schedule.horizon_days,
        "concealment": (f"A day's schedule is published at most {config.schedule.horizon_days} day(s) ahead and "
                        "lists only the hotspots to patrol and their windows; control hotspots, later days "
                        "and the seed are never shown to officers. Published schedules are stored in a "
                        "hash-chained ledger whose genesis includes this plan's SHA-256, and are verified "
                        "against the seed by 'guardian-rct ledger verify'."),
    }


def _looks(config: TrialConfig, alpha: float) -> dict[str, Any]:
    start, end = config.trial.start_date, config.trial.end_date
    dates = sorted({m for m in config.evaluation.milestones if start <= m < end} | {end})
    fractions = information_fractions(start, end, dates)
    bounds = obf_boundaries(fractions, alpha, sides=2).to_dict()
    looks = [{"look": i + 1, "date": day.isoformat(), "information_fraction": _sig(f),
              "z_boundary": _sig(b["z_boundary"]), "nominal_p": _sig(b["nominal_p"]),
              "cumulative_alpha": _sig(b["cumulative_alpha"])}
             for i, (day, f, b) in enumerate(zip(dates, fractions, bounds["looks"], strict=True))]
    ignored = [m.isoformat() for m in config.evaluation.milestones if not start <= m <= end]
    return {"spending": "Lan-DeMets O'Brien-Fleming-type", "sides": 2, "alpha": alpha,
            "information": ("share of the trial's experimental days elapsed" if config.evaluation.information == "calendar"
                            else "expected events: O / (O + R), primary-outcome crimes observed by the look over "
                                 "those plus the crimes expected at the baseline rate for the days left; the "
                                 "fractions below are the calendar values it equals when crime runs at the "
                                 "baseline rate"), "looks": looks,
            "milestones_outside_trial": ignored,
            "rule": "At each look the primary outcome's count p-value that the report leads with (randomisation "
                    "where the data diagnosis distrusts the Wald test, model-based otherwise) is compared with "
                    "that look's nominal p; secondary outcomes are descriptive until the final look."}


def _diagnosis(config: TrialConfig, design: Design, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    p = design.probabilities()
    n_days, n_hot = p.shape
    log10_day = sum(math.log10(math.comb(b["n_hotspots"], b["treated_min"])) for b in blocks)
    varies = bool(np.ptp(p) > 0)
    return {"n_hotspots": n_hot, "n_days": n_days, "n_hotspot_days": n_days * n_hot,
            "expected_treated_hotspot_days": _sig(float(p.sum())),
            "expected_control_hotspot_days": _sig(float((1 - p).sum())),
            "probability_min": _sig(float(p.min())), "probability_max": _sig(float(p.max())),
            "probabilities_vary": varies,
            "weighting": ("inverse assignment probabilities (Horvitz & Thompson 1952)" if varies else
                          "none needed: every hotspot-day has the same probability of patrol"),
            "clusters": n_hot,
            "log10_allocations_per_day": _sig(log10_day if config.design.kind == "crossover" else 0.0),
            "log10_allocations": _sig(log10_day * (n_days if config.design.kind == "crossover" else 1)),
            "randomisation_inference": ("Monte Carlo re-draws of the design (exact enumeration is "
                                        "infeasible)" if log10_day * n_days > 6 else
                                        "few enough allocations to enumerate exactly")}


def _power(config: TrialConfig, design: Design, diagnosis: dict[str, Any], alpha: float) -> dict[str, Any]:
    from guardian_rct.simulation.common import load_calibration

    overdispersion = 1.0 / load_calibration().gamma_shape
    compliance = config.compliance.target_rate
    n_t = float(diagnosis["expected_treated_hotspot_days"])
    n_c = float(diagnosis["expected_control_hotspot_days"])
    rows = []
    for rate in ASSUMED_RATES:
        try:
            itt: float | None = poisson_mde(rate, n_t, n_c, power=_POWER, alpha=alpha, overdispersion=overdispersion)
        except (ValueError, RuntimeError):  # the SE is so large that no reduction is detectable
            itt = None
        patrol = 1 - (1 - itt) / compliance if itt is not None and compliance > 0 else None
        rows.append({"rate_per_hotspot_day": rate, "expected_control_crimes": _sig(rate * n_c),
                     "mde_itt_rate_ratio": _sig(itt) if itt is not None and itt > 0 else None,
                     "mde_patrol_rate_ratio": _sig(patrol) if patrol is not None and patrol > 0 else None})
    caveat = ("closed-form planning approximation (simulation/power_analytic.py: Wald test of the log rate "
              "ratio; Signorini 1991, Gu et al. 2008) at registration, chosen so that 'init' stays fast; it "
              "ignores the within-hotspot correlation of the design and the estimator actually used.")
    if config.design.kind == "parallel":
        caveat += " In a parallel design hotspot-days of one hotspot share its assignment, so this is optimistic."
    return {"method": caveat, "power": _POWER, "alpha": alpha, "sides": 2,
            "assumptions": {"overdispersion_alpha_per_hotspot_day": _sig(overdispersion),
                            "overdispersion_source": "crime simulator's West Midlands calibration "
                                                     "(1 / day-level gamma shape)",
                            "compliance": compliance, "compliance_source": "[compliance] target_rate",
                            "treated_hotspot_days": n_t, "control_hotspot_days": n_c,
                            "baseline_rates": "a grid of assumed rates (no crimes are read at registration)",
                            "itt_to_patrol": "ITT rate ratio = 1 - compliance x (1 - patrol rate ratio)"},
            "rows": rows,
            "check": "guardian-rct power --crimes FILE simulates trials through the real estimator"}


def _research_question(config: TrialConfig, primary: OutcomeSpec | None, primary_name: str) -> str:
    described = primary.description if primary and primary.description else primary_name.replace("_", " ")
    unit = ("hotspot-days assigned to patrol compared with hotspot-days not assigned"
            if config.design.kind == "crossover" else "hotspots assigned to patrol compared with control hotspots")
    return (f"In the {config.trial.name} trial, does assigning high-visibility patrols to crime hotspots reduce "
            f"{described} (crime counts, and harm by the crime-harm index), in {unit}, and what is the "
            f"effect of a patrol actually delivered?")


def build_plan(config: TrialConfig, hotspots: HotspotSet, design: Design, harm: HarmIndex) -> AnalysisPlan:
    """The statistical analysis plan of the trial (see the module docstring).

    Parameters
    ----------
    config
        The trial config as registered (or amended).
    hotspots
        The trial's hotspot set (its SHA-256, ids, names and blocks).
    design
        The design declared from the config (:func:`guardian_rct.design.factory.design_from_config`).
    harm
        The harm index named by ``[harm] index`` (version and SHA-256).
    """
    ev = config.evaluation
    outcomes = tuple(ev.outcomes)
    primary_name = ev.primary_outcome or outcomes[0]
    specs = {o.name: o for o in config.outcomes}
    primary_spec = specs.get(primary_name)
    blocks = _blocks(config, design)
    diagnosis = _diagnosis(config, design, blocks)
    analyses = planned_analyses(config.design.kind, outcomes, primary_name)
    primary_model = next(a["model"] for a in analyses if a["role"] == "primary")
    frame = hotspots.frame
    content: dict[str, Any] = {
        "schema_version": PLAN_SCHEMA_VERSION,
        "document": "guardian_rct statistical analysis plan",
        "generated_by": f"guardian_rct {package_version()}",
        "standards": ["SPIRIT 2013 (Chan et al. 2013, BMJ 346:e7586), items that apply",
                      "CONSORT extension for randomised crossover trials (Dwan et al. 2019, BMJ 366:l4378), "
                      "analysis items",
                      "Guidelines for the content of statistical analysis plans (Gamble et al. 2017, JAMA 318:2337)"],
        "trial": {"name": config.trial.name, **({"simulated": True} if config.trial.simulated else {}),
                  "start_date": config.trial.start_date.isoformat(),
                  "end_date": config.trial.end_date.isoformat(), "n_days": config.trial.n_days,
                  "timezone": config.trial.timezone, "day_starts": config.trial.day_starts,
                  "experimental_day": f"{config.trial.day_starts} to the next day's {config.trial.day_starts}, "
                                      f"{config.trial.timezone} (23- and 25-hour days at clock changes)"},
        "research_question": _research_question(config, primary_spec, primary_name),
        "units": {"randomised": "hotspot-day" if config.design.kind == "crossover" else "hotspot",
                  "analysed": "hotspot-day", "cluster": "hotspot", "n_hotspots": len(hotspots),
                  "hotspot_file": hotspots.source.name if hotspots.source else "(built in memory)",
                  "hotspot_sha256": hotspots.sha256, "id_column": config.hotspots.id_column,
                  "block_column": config.hotspots.block_column, "crs": config.hotspots.crs,
                  "buffer_rings_m": list(config.hotspots.buffer_rings_m)},
        "blocks": blocks,
        "hotspots": [{"hotspot_id": str(h), "name": str(n), "block": str(b)}
                     for h, n, b in zip(frame["hotspot_id"], frame["name"], frame["block"], strict=True)],
        "randomisation": _randomisation(config, design, blocks),
        "compliance": _compliance(config),
        "outcomes": [_outcome_entry(specs[o], primary_name) for o in outcomes],
        "harm": _harm(config, harm),
        "primary": {"outcome": primary_name, "definition": _outcome_entry(primary_spec, primary_name)
                    if primary_spec else None, "measure": "count", "estimand": "ITT", "model": primary_model},
        "estimands": _estimands(),
        "analyses": analyses,
        "inference": _inference(config),
        "multiplicity": {"method": "Holm (1979) step-down across the declared outcomes x {count, harm}",
                         "family": [n for o in outcomes for n in (o, f"{o}_harm")],
                         "tests": "the primary ITT estimate of each declared outcome's count and harm, with the "
                                  "p-value the report leads with (randomisation where the data diagnosis distrusts "
                                  "the Wald test, model-based otherwise)", "not_in_family": "CACE, carry-over and "
                                  "sensitivity estimates"},
        "interim_looks": _looks(config, ev.alpha),
        "design_diagnosis": diagnosis,
        "missing_data": _missing_rules(config),
    }
    content["power"] = _power(config, design, diagnosis, ev.alpha)
    return AnalysisPlan(content)


def _inference(config: TrialConfig) -> dict[str, Any]:
    """The registered inference: variance, df, randomisation inference and what the report leads with."""
    ev = config.evaluation
    cr2 = ev.se_type == "CR2"
    return {
        "variance": SE_TYPE_CR2 if cr2 else SE_TYPE,
        "df_rule": ("Satterthwaite degrees of freedom of the CR2 variance (Bell & McCaffrey 2002; "
                    "Pustejovsky & Tipton 2018)" if cr2 else
                    "Student's t with G - 1 degrees of freedom, G = number of hotspots (clusters) "
                    "(Cameron & Miller 2015, §VI)"),
        "ri_draws": ev.ri_draws,
        "ri_outcomes": "count and harm of every declared outcome, and the CACE of each where it is reported",
        "ri_method": ("re-draws of the trial's own design object (for an imported allocation: the design "
                      "declared with it, or its permutation matrix; otherwise none is run); p-value of the "
                      "sharp null of no effect with its Monte Carlo error, and a test-inversion interval "
                      "for the rate ratio (Rosenbaum 2002)"),
        "ri_statistic": RI_STATISTIC_WORDS[ev.ri_statistic],
        "ri_p_value": P_VALUE_RULE_WORDS[ev.ri_p_value],
        "lead_rule": ("the report leads with randomisation inference for an outcome whose data diagnosis "
                      "distrusts the Wald test (few or unequal clusters, low Satterthwaite df, the score "
                      "concentrated in a few hotspots, a constrained or near-deterministic design, few "
                      "events on treated hotspot-days, heavy tails), with the model-based result otherwise"),
        "wild_bootstrap_draws": ev.wild_bootstrap_draws,
        "alpha": ev.alpha, "confidence_level": _sig(1 - ev.alpha),
        "baseline_days": ev.baseline_days,
    }


def _compliance(config: TrialConfig) -> dict[str, Any]:
    c = config.compliance
    return {"arrival_within_hours": c.arrival_within_hours, "gps_tolerance_m": c.gps_tolerance_m,
            "max_ping_gap_minutes": c.max_ping_gap_minutes, "min_visit_minutes": c.min_visit_minutes,
            "koper_minutes": c.koper_minutes, "target_rate": c.target_rate, "max_accuracy_m": c.max_accuracy_m,
            "delivery_definition": (f"A scheduled patrol is delivered when an officer's location pings first arrive "
                                    f"in the hotspot (grown by {c.gps_tolerance_m:g} m) within {c.arrival_within_hours:g} "
                                    f"hours of the scheduled window's start; pings less accurate than "
                                    f"{c.max_accuracy_m:g} m are not used, gaps over {c.max_ping_gap_minutes:g} minutes "
                                    f"end a visit and "
                                    + (f"stays under {c.min_visit_minutes:g} minutes are not visits. " if c.min_visit_minutes
                                       else "every stay counts as a visit, a single ping too. ")
                                    + f"Dosage = minutes in the hotspot that experimental day (target "
                                    f"{c.koper_minutes:g} minutes per visit; Koper 1995)."),
            "contamination_definition": "a no-patrol hotspot-day with a visit by the same rule (patrol present)",
            "cace_instrument": "random assignment; endogenous: patrol present, or dosage minutes",
            "evaluation_presence": ("the CACE measures presence inside the experimental day whose crimes are "
                                    "counted (present_on_day), so a late visit is never delivery of one day and "
                                    "contamination of the next; the rule above is for the weekly report")}


def _harm(config: TrialConfig, harm: HarmIndex) -> dict[str, Any]:
    h = config.harm
    exclusions = []
    if h.exclude_proactive:
        exclusions.append("crimes detected proactively (detection = proactive) are excluded from counts and harm")
    if h.exclude_historic_days is not None:
        exclusions.append(f"crimes reported more than {h.exclude_historic_days} days after they occurred are "
                          "excluded from counts and harm")
    return {"index": h.index, "name": harm.name, "version": harm.version, "sha256": harm.sha256, "unit": harm.unit,
            "exclude_proactive": h.exclude_proactive, "exclude_historic_days": h.exclude_historic_days,
            "exclusions": exclusions or ["none"],
            "weighting": "each crime weighs its offence code's index value, or its crime type's when it has "
                         "no code; a crime with no weight in the index counts in volume and adds no harm",
            "max_unweighted_share": h.max_unweighted_share, "accept_unweighted": h.accept_unweighted}


def _estimands() -> list[dict[str, Any]]:
    return [
        {"name": "ITT", "definition": "effect of assignment to patrol on crimes (and harm) per hotspot-day, "
                                      "as a rate ratio, whether or not the patrol arrived"},
        {"name": "CACE (patrol delivered)", "definition": "complier average causal effect of a patrol being "
                                                           "present, in crimes per hotspot-day (Angrist, Imbens "
                                                           "& Rubin 1996)"},
        {"name": "CACE rate ratio (patrol present on the day)",
         "definition": "rate ratio of a hotspot-day with a patrol present against the same day without one, "
                       "among compliers: multiplicative IV by GMM (Mullahy 1997) with an Anderson-Rubin interval; "
                       "assumes exclusion restriction, monotonicity and no interference"},
        {"name": "Crimes and harm prevented", "definition": "sum over patrol-assigned hotspot-days of the fitted "
                                                             "no-patrol count minus the observed, Y_T (1/IRR - 1)"},
        {"name": "CACE (dosage minutes)", "definition": "effect of a minute of patrol presence, in crimes per "
                                                         "hotspot-day, with assignment as the instrument"},
    ]


def _missing_rules(config: TrialConfig) -> dict[str, str]:
    return {
        "compliance": "Hotspot-days without a compliance record are 'delivery unknown' (or 'contamination "
                      "unknown'): they stay in every intention-to-treat analysis, are counted in the CONSORT flow, "
                      "and without compliance data the CACE is not estimated and is reported as missing.",
        "quarantine": "Crime, ping and compliance rows that cannot be used (unparseable, no time, outside the "
                      "area, duplicate) are quarantined with a reason, reported in the report's notes by reason, "
                      "and never imputed or silently dropped.",
        "no_events": "An outcome without events in the evaluated period is reported as not estimable and "
                     "enters the Holm family with p = 1.",
        "victim_age": "A crime without a recorded victim age never counts toward an outcome with a victim-age "
                      "rule.",
        "allocation": "Every hotspot-day of the trial must have a published (or imported) assignment; an "
                      "allocation with gaps is refused, not completed.",
    }
