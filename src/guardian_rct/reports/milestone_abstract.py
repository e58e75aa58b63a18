"""The milestone report's structured abstract, in words, from the numbers of the report.

Research question, data, methods, findings and conclusions, as the *Cambridge Journal of
Evidence-Based Policing* asks, written from the estimate rows, the flow, the O'Brien–Fleming
look and the displacement analyses that :func:`guardian_rct.reports.milestone.build_milestone_report`
assembles; a sentence per number, never a number the report does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guardian_rct._core.wording import crime_count
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.estimation.displacement import DisplacementAnalysis
from guardian_rct.estimation.flow import TrialFlow

__all__ = ["structured_abstract", "format_p"]


def format_p(p: float) -> str:
    """p-values: three decimals, or two significant digits below 0.001."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _ci(low: float, high: float, level: int, digits: int = 2) -> str:
    return f"{level}% CI {low:.{digits}f} to {high:.{digits}f}"


def _ratio_phrase(row: dict[str, Any], level: int) -> str:
    """"13.9% lower (rate ratio 0.86, 95% CI 0.76 to 0.98" — left open for p-values."""
    pct = row["pct_change"]
    size = f"{abs(pct):.1f}% {'lower' if pct < 0 else 'higher'}" if round(abs(pct), 1) else "no different"
    return (f"{size} (rate ratio {row['irr']:.2f}, "
            f"{_ci(row['irr_conf_low'], row['irr_conf_high'], level)}")


def _find(rows: Sequence[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items()) and r["status"] == "ok"), None)


def _data_text(config: TrialConfig, trial: dict[str, Any], flow: TrialFlow, totals: list[dict[str, Any]]) -> str:
    outcome = trial["primary_outcome"]
    by_arm = {r["arm"]: r["events"] for r in totals if r["outcome"] == outcome}
    text = (f"{trial['n_hotspots']} hotspots observed over {trial['n_days']} experimental days "
            f"({trial['first_day']} to {trial['last_day']}): {flow.assigned:,} hotspot-days, "
            f"{flow.treatment:,} assigned to patrol and {flow.control:,} to no patrol. "
            f"{crime_count(sum(by_arm.values()), outcome)} recorded in the hotspots "
            f"({by_arm.get('treatment', 0):,.0f} on patrol days, {by_arm.get('control', 0):,.0f} on "
            f"no-patrol days).")
    known = flow.treatment - flow.delivery_unknown
    if known == 0:
        return text + " Whether patrols arrived was not recorded."
    hours = config.compliance.arrival_within_hours
    text += (f" An officer arrived within {hours:g} hours of the scheduled time on {flow.delivered:,} of "
             f"{known:,} patrol-assigned hotspot-days with a record ({flow.delivery_rate:.1%} compliance)")
    if flow.control - flow.contamination_unknown:
        text += (f"; a patrol was present on {flow.contaminated:,} no-patrol hotspot-days "
                 f"({flow.contamination_rate:.1%})")
    return text + "."


def _methods_text(trial: dict[str, Any], rows: Sequence[dict[str, Any]], sequential: dict[str, Any],
                  ri_draws: int | None, holm: dict[str, Any]) -> str:
    design = ("each hotspot was randomly assigned to patrol or no patrol every experimental day "
              "(repeat crossover), so each hotspot is its own control"
              if trial["design"] == "crossover" else "hotspots were randomly assigned to patrol or "
              "control for the whole trial (parallel design)")
    models = {r["model"] for r in rows if r["section"] == "itt"}
    primary = ("Poisson regression with hotspot and day fixed effects" if "poisson_fe" in models else
               "Poisson regression with block and day effects and the baseline count"
               if "poisson_parallel" in models else ", ".join(sorted(models)) or "no model")
    checks = [t for m, t in (("negbin_fe", "negative binomial"), ("diff_in_means", "difference in means"))
              if m in models]
    cr2 = any(r.get("se_type") == "CR2" for r in rows if r["section"] == "itt")
    se = ("Bell–McCaffrey (CR2) standard errors clustered by hotspot, t with Satterthwaite degrees of freedom"
          if cr2 else "standard errors clustered by hotspot")
    text = (f"Randomised controlled trial: {design}. The effect of assignment (intention to treat) was "
            f"estimated by {primary} ({se})")
    if checks:
        text += f", with {' and '.join(checks)} models as sensitivity checks"
    text += (f"; randomisation-inference p-values come from {ri_draws:,} re-draws of the trial's own design"
             if ri_draws else "; model-based p-values only (randomisation inference not run)")
    text += "."
    if any(r["section"] == "cace" for r in rows):
        text += (" The effect of patrols actually delivered (complier average causal effect) was estimated "
                 "by two-stage least squares with random assignment as the instrument")
        text += (", and as a rate ratio by multiplicative instrumental variables (Mullahy 1997) with an "
                 "Anderson–Rubin interval and a randomisation interval that re-draws the design under a "
                 "multiplicative effect of patrol presence (Imbens & Rosenbaum 2005)."
                 if any(r["model"] == "iv_poisson_gmm_fe" for r in rows) else ".")
    if any(r["section"] == "carryover" for r in rows):
        text += (" Carry-over (residual deterrence) was estimated from yesterday's assignment and the days "
                 "since the last assigned patrol.")
    look = sequential["current_look"]
    text += (f" Holm adjustment across the {holm['family_size']} primary tests (declared outcomes × count and harm); O'Brien–Fleming alpha "
             f"spending (Lan–DeMets), look {len(sequential['looks'])} at information fraction "
             f"{look['information_fraction']:.2f} ({sequential['information_scale']}); displacement into the buffer rings by the Weighted "
             f"Displacement Quotient (WDQ) and Difference (WDD).")
    return text


def _findings_text(trial: dict[str, Any], rows: Sequence[dict[str, Any]], primary: dict[str, Any],
                   displacement: Sequence[DisplacementAnalysis], totals: list[dict[str, Any]],
                   ri: dict[str, Any] | None, level: int, harm_coverage: dict[str, Any] | None = None,
                   distrusted: frozenset[str] = frozenset()) -> str:
    outcome = trial["primary_outcome"]
    name = outcome.replace("_", " ")
    if primary["irr"] is not None and primary["irr_conf_low"] is not None:
        text = (f"{name[:1].upper() + name[1:]} was {_ratio_phrase(primary, level)}) on hotspot-days "
                f"assigned to patrol than on hotspot-days without")
    else:
        text = (f"The difference in {name} per hotspot-day, patrol minus no patrol, was "
                f"{primary['estimate']:.3f} ({_ci(primary['conf_low'], primary['conf_high'], level, 3)})")
    ri_p = primary["ri_p_value"]
    if ri_p is not None:
        ri_p_text = f"randomisation p = {format_p(ri_p)}"
        if ri and ri.get("draws"):
            ri_p_text += f" from {ri['draws']:,} re-draws"
        if ri and ri.get("conf_low") is not None and ri.get("conf_high") is not None:
            ri_p_text += f", randomisation {_ci(ri['conf_low'], ri['conf_high'], level)}"
    p_parts = [f"model p = {format_p(primary['p_value'])}" if primary["p_value"] is not None else None,
               ri_p_text if ri_p is not None else None,
               f"Holm-adjusted p = {format_p(primary['holm_p_value'])}" if primary["holm_p_value"] is not None
               else None]
    text += f" ({'; '.join(p for p in p_parts if p)})."
    harm = _find(rows, outcome=f"{outcome}_harm", model=primary["model"], section="itt")
    if harm_coverage and not harm_coverage.get("estimated", True):
        text += " Crime harm is not reported as estimated: " + harm_coverage["statement"]
    elif harm is not None and harm["irr"] is not None and harm["irr_conf_low"] is not None:
        text += _harm_sentence(harm, level, lead_ri=f"{outcome}_harm" in distrusted)
    cace = _find(rows, outcome=outcome, section="cace", term="delivered")
    if cace is not None:
        control = next((r["count_per_day"] for r in totals if r["outcome"] == outcome and r["arm"] == "control"),
                       None)
        ratio_row = _find(rows, outcome=outcome, model="iv_poisson_gmm_fe")
        lead_ri = outcome in distrusted and ratio_row is not None and _has_ri_interval(ratio_row)
        linear = (f"{cace['estimate']:+.3f} crimes per hotspot-day "
                  f"({_ci(cace['conf_low'], cace['conf_high'], level, 3)}")
        if cace["first_stage_f"] is not None:
            linear += f"; first-stage F = {cace['first_stage_f']:,.0f}"
        linear += ")"
        linear += f", against {control:.3f} per no-patrol hotspot-day." if control is not None else "."
        if lead_ri:
            # the design-based CACE first; two-stage least squares is a model-based (CR1) interval
            text += _cace_ratio_sentence(ratio_row, level, lead_ri=True,
                                         opening=" The effect of a patrol present on the day (CACE), design-based:")
            text += f" In crimes, the model-based two-stage least squares CACE of a delivered patrol was {linear}"
        else:
            text += f" The effect of a delivered patrol (CACE) was {linear}"
            text += _cace_ratio_sentence(ratio_row, level)
    elif not any(r["section"] == "cace" for r in rows):
        text += " Patrol delivery was not recorded, so the effect of patrols delivered was not estimated."
    lag = _find(rows, outcome=outcome, section="carryover", term="treated_lag1")
    if lag is not None and lag["irr"] is not None:
        text += (f" A patrol assigned the day before changed the rate by a ratio of {lag['irr']:.2f} "
                 f"({_ci(lag['irr_conf_low'], lag['irr_conf_high'], level)}; p = {format_p(lag['p_value'])}).")
    wdq = _primary_wdq(displacement, outcome)
    if wdq:
        text += f" {wdq}"
    return text


def _limits(low: float | None, high: float | None) -> str:
    return f"{'open' if low is None else f'{low:.2f}'} to {'open' if high is None else f'{high:.2f}'}"


def _has_ri_interval(row: dict[str, Any]) -> bool:
    return row["ri_p_value"] is not None and (row["ri_conf_low"] is not None or row["ri_conf_high"] is not None)


def _harm_sentence(harm: dict[str, Any], level: int, *, lead_ri: bool) -> str:
    """Crime harm's ITT: led by randomisation inference where the diagnosis distrusts its Wald test."""
    if lead_ri and _has_ri_interval(harm):
        return (f" For crime harm (CCHI) the model-based test is not reliable (see the diagnosis), so the "
                f"design-based result leads: rate ratio {harm['irr']:.2f}, randomisation {level}% CI "
                f"{_limits(harm['ri_conf_low'], harm['ri_conf_high'])}, randomisation p = "
                f"{format_p(harm['ri_p_value'])} (model-based {_ci(harm['irr_conf_low'], harm['irr_conf_high'], level)}, "
                f"p = {format_p(harm['p_value'])}).")
    return (f" Crime harm (CCHI) on patrol days was {_ratio_phrase(harm, level)}; "
            f"p = {format_p(harm['p_value'])}).")


def _cace_ratio_sentence(row: dict[str, Any] | None, level: int, *, lead_ri: bool = False,
                         opening: str = " As a rate ratio comparable with the one above,") -> str:
    """The rate-ratio CACE with its Anderson–Rubin and randomisation intervals, or "".

    The Anderson–Rubin test is the Wald test of the de-treated outcome (CR1, t(G − 1)), so
    where the diagnosis distrusts the outcome's Wald test the randomisation interval leads.
    """
    if row is None or row["irr"] is None:
        return ""
    text = (f"{opening} a patrol present on the day multiplied the rate "
            f"by {row['irr']:.2f} among hotspot-days whose patrol depended on assignment (")
    ar = f"Anderson–Rubin {level}% CI {_limits(row['irr_conf_low'], row['irr_conf_high'])}"
    if not _has_ri_interval(row):
        return text + ar + ")."
    randomisation = (f"randomisation {level}% CI {_limits(row['ri_conf_low'], row['ri_conf_high'])}, "
                     f"randomisation p = {format_p(row['ri_p_value'])}")
    if lead_ri:
        return text + f"{randomisation}; {ar}, model-based, shown for comparison)."
    return text + f"{ar}; {randomisation})."


def _conclusion_text(trial: dict[str, Any], primary: dict[str, Any], sequential: dict[str, Any]) -> str:
    name = trial["primary_outcome"].replace("_", " ")
    look = sequential["current_look"]
    final = look["information_fraction"] >= 1.0 - 1e-9
    if look["z_boundary"] is None:
        return ("This look is so early that the pre-specified O'Brien–Fleming plan spends no alpha: no effect "
                "can be declared, and the trial should continue as planned.")
    if sequential["crossed"]:
        direction = "reduction" if primary["estimate"] < 0 else "increase"
        return (f"The {direction} in {name} on patrol days crosses the pre-specified O'Brien–Fleming "
                f"boundary at this look (which needs p ≤ {format_p(look['nominal_p'])}): the evidence supports "
                f"{'an effect' if final else 'an effect, declared at an interim look'} of assigning patrols.")
    if final:
        return (f"At the final look the result does not cross the pre-specified boundary "
                f"(which needs p ≤ {format_p(look['nominal_p'])}): the trial does not establish an effect of patrols on {name}.")
    favours = "favours patrols" if primary["estimate"] < 0 else "does not favour patrols"
    return (f"This is an interim look (information fraction {look['information_fraction']:.2f}). The estimate "
            f"{favours} but does not cross the pre-specified O'Brien–Fleming boundary for this look "
            f"(which needs p ≤ {format_p(look['nominal_p'])}), so no effect can be declared yet: the trial should continue as "
            f"planned and the estimate should not be acted on.")


def structured_abstract(config: TrialConfig, trial: dict[str, Any], flow: TrialFlow,
                        totals: list[dict[str, Any]], rows: list[dict[str, Any]],
                        primary: dict[str, Any] | None, sequential: dict[str, Any],
                        displacement: Sequence[DisplacementAnalysis], ri_draws: int | None,
                        holm: dict[str, Any], alpha: float, ri_records: Sequence[dict[str, Any]] = (),
                        harm_coverage: dict[str, Any] | None = None,
                        distrusted: frozenset[str] = frozenset()) -> dict[str, str]:
    """The five parts of the structured abstract, in plain words with the headline numbers.

    ``distrusted`` holds the Holm-family names (``<outcome>``, ``<outcome>_harm``) whose
    Wald test the data diagnosis distrusts: for those the findings lead with the
    randomisation result (the primary count's lead sentence is added by the caller).
    """
    outcome = trial["primary_outcome"]
    spec = next((o for o in config.outcomes if o.name == outcome), None)
    described = spec.description if spec and spec.description else outcome.replace("_", " ")
    level = round(100 * (1 - alpha))
    question = (f"In the {config.trial.name} trial, did assigning high-visibility patrols to crime hotspots "
                f"reduce {described}, measured as crime counts and by the Cambridge Crime Harm Index, "
                f"compared with no assigned patrol?")
    if primary is None:
        findings = f"No intention-to-treat estimate was supplied for {outcome.replace('_', ' ')}."
        conclusion = "No conclusion can be drawn about the primary outcome."
    elif primary["status"] != "ok":
        findings = f"{outcome.replace('_', ' ')}: {primary['status']}."
        conclusion = "No conclusion can be drawn about the primary outcome at this look."
    else:
        ri = next((r for r in ri_records if r["outcome"] == outcome), None)
        findings = _findings_text(trial, rows, primary, displacement, totals, ri, level, harm_coverage,
                                  distrusted)
        conclusion = _conclusion_text(trial, primary, sequential)
    return {"research_question": question, "data": _data_text(config, trial, flow, totals),
            "methods": _methods_text(trial, rows, sequential, ri_draws, holm), "findings": findings,
            "conclusions": conclusion}


def _primary_wdq(displacement: Sequence[DisplacementAnalysis], outcome: str) -> str | None:
    """The all-rings WDQ (and WDD test) of the primary outcome, in a sentence."""
    for analysis in displacement:
        if analysis.outcome != outcome:
            continue
        rings = [e.ring for e in analysis.estimates if e.ring != "all rings"]
        for e in analysis.estimates:
            if e.ring != "all rings":
                continue
            where = f"In the buffer rings around the hotspots ({', '.join(rings)} m)" if rings else "Around the hotspots"
            if e.wdq.wdq is None:
                return f"Displacement: the WDQ could not be computed ({e.wdq.note or 'undefined'})."
            text = f"{where} the WDQ was {e.wdq.wdq:.2f}"
            if e.wdq.conf_low is not None and e.wdq.conf_high is not None:
                text += f" (cluster-bootstrap interval {e.wdq.conf_low:.2f} to {e.wdq.conf_high:.2f})"
            text += f", read as {e.wdq.interpretation}"
            if e.wdd.p_value is not None:
                text += (f" (WDD: net change of {e.wdd.wdd:+,.0f} crimes in hotspots and rings together, "
                         + (f"interval {e.wdd.conf_low:+,.0f} to {e.wdd.conf_high:+,.0f}, "
                            if e.wdd.conf_low is not None and e.wdd.conf_high is not None else "")
                         + f"{e.wdd.se_type}; p = {format_p(e.wdd.p_value)})")
            return text + "."
    return None


# ---------------------------------------------------------------------------
# Build and write
# ---------------------------------------------------------------------------
