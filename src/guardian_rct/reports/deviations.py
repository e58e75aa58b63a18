"""Audit a milestone report against the registered analysis plan: "Registered plan and deviations".

:func:`audit_against_plan` compares what a milestone evaluation did with the plan in
force (the sealed plan after its numbered amendments, :class:`~guardian_rct.ledger.records.PlanHistory`)
and lists every departure, as reporting guidelines ask (SPIRIT 2013 item 20; CONSORT 2010
items 3b and 6b: changes to methods and outcomes after the trial began, with reasons):

* each plan amendment, with its time and label (before/after the first look; post hoc);
* analyses in the report that the plan did not name (labelled **exploratory**), and
  outcomes the plan did not declare;
* planned analyses missing from the report (with the reason when it is known);
* randomisation-inference draws, alpha or primary outcome other than planned;
* a look date other than a planned one (the milestones and the trial's end);
* a harm index or hotspot file other than the registered one;
* any other change of the config's analysis sections not registered as an amendment.

It is pure: it reads the plan history handed to it and the report's rows; nothing here
opens the store or estimates anything. An evaluation with no deviations says so in one line.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardian_rct.ledger.records import PlanHistory
from guardian_rct.reports.plan import analysis_key

__all__ = ["PlanContext", "PlanAudit", "audit_against_plan", "NO_DEVIATIONS", "unaudited"]

NO_DEVIATIONS = "No deviations: this evaluation followed the registered analysis plan."
#: Plan sections whose difference between the config used and the plan in force is an
#: unregistered change (the evaluation-run settings are checked one by one instead).
_COMPARED = ("outcomes", "compliance", "harm", "units")


@dataclass(frozen=True)
class PlanContext:
    """What the audit needs besides the report's own rows.

    Attributes
    ----------
    history
        The sealed plan, its amendments and the looks; ``None`` when there is none.
    harm
        The harm index the panel used (``HarmIndex.to_dict()``: name, version, sha256).
    hotspots_sha256
        SHA-256 of the hotspot file the evaluation read.
    config_plan
        The plan built from the config this evaluation ran with (to catch changes that
        were never registered as amendments).
    registered_config_plan
        The plan built by this same package version from the config in force in the
        store; compared with ``config_plan`` so that a package upgrade that rewords the
        plan's prose is not reported as a change (falls back to the sealed plan).
    unaudited_reason
        Why there is no history (e.g. no trial store).
    """

    history: PlanHistory | None
    harm: Mapping[str, Any] = field(default_factory=dict)
    hotspots_sha256: str | None = None
    config_plan: Mapping[str, Any] | None = None
    unaudited_reason: str | None = None
    registered_config_plan: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlanAudit:
    """The report's ``analysis_plan`` and ``deviations``."""

    analysis_plan: dict[str, Any]
    deviations: tuple[dict[str, Any], ...]


def unaudited(reason: str) -> PlanAudit:
    """The audit of a report with no registered plan to compare with."""
    return PlanAudit({"audited": False, "reason": reason, "sha256": None, "registered_at": None,
                      "current_sha256": None, "version": None, "amendments": [], "planned_looks": [],
                      "looks_recorded": 0, "first_look_at": None, "summary": f"Not audited: {reason}"}, ())


def _entry(kind: str, item: str, planned: Any, reported: Any, label: str, text: str) -> dict[str, Any]:
    return {"kind": kind, "item": item, "planned": None if planned is None else str(planned),
            "reported": None if reported is None else str(reported), "label": label, "text": text}


def _flat(value: Any, name: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            _flat(value[k], f"{name}.{k}" if name else k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flat(v, f"{name}[{i}]", out)
    else:
        out[name] = value


def _analyses(plan: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], no_events: set[str],
              with_compliance: bool) -> list[dict[str, Any]]:
    planned = {a["key"]: a for a in plan["analyses"]}
    declared = {o["name"] for o in plan["outcomes"]}
    reported = {}
    for r in rows:
        reported.setdefault(analysis_key(r["section"], r["outcome"], r["model"], r.get("term")), r)
    out = []
    extra_outcomes: dict[str, int] = {}
    extra: dict[tuple[str, str], list[str]] = {}
    for key, r in reported.items():
        if key in planned:
            continue
        base = r["outcome"][:-5] if r["outcome"].endswith("_harm") else r["outcome"]
        if base not in declared:
            extra_outcomes[base] = extra_outcomes.get(base, 0) + 1
        else:
            extra.setdefault((r["section"], r["outcome"]), []).append(r["model"])
    for o, n in sorted(extra_outcomes.items()):
        out.append(_entry("exploratory_outcome", o, None, f"{n} estimate(s)", "exploratory",
                          f"Outcome '{o}' is not in the registered plan: its {n} estimate(s) are exploratory."))
    for (section, o), models in sorted(extra.items()):
        out.append(_entry("exploratory_analysis", f"{section}: {o}", None, ", ".join(sorted(set(models))),
                          "exploratory", f"{section.upper()} analysis of '{o}' by {', '.join(sorted(set(models)))} "
                          "was not named in the plan: exploratory."))
    evaluated = {r["outcome"][:-5] if r["outcome"].endswith("_harm") else r["outcome"] for r in rows}
    dropped = sorted(declared - evaluated)
    for o in dropped:
        n = sum(1 for a in planned.values() if a["outcome"] in (o, f"{o}_harm"))
        out.append(_entry("missing_analysis", f"outcome: {o}", f"{n} analyses", None, "planned, not reported",
                          f"Planned outcome '{o}' was not evaluated: its {n} planned analyses are missing "
                          "from the report."))
    missing: dict[tuple[str, str], list[str]] = {}
    for key, a in planned.items():
        if a["outcome"] in dropped or a["outcome"][:-5] in dropped and a["outcome"].endswith("_harm"):
            continue
        if key not in reported:
            missing.setdefault((a["section"], a["outcome"]), []).append(a["model"] + (f" ({a['term']})" if a["term"] else ""))
    for (section, o), models in sorted(missing.items()):
        base = o[:-5] if o.endswith("_harm") else o
        reason = ("no events in the evaluated period" if base in no_events else
                  "no compliance data were supplied" if section == "cace" and not with_compliance else
                  "not run")
        out.append(_entry("missing_analysis", f"{section}: {o}", ", ".join(models), None, "planned, not reported",
                          f"Planned {section.upper()} analysis of '{o}' ({', '.join(models)}) is missing from the "
                          f"report: {reason}."))
    return out


def _settings(plan: Mapping[str, Any], *, ri_draws: int | None, alpha: float, primary: str,
              look_date: dt.date, ctx: PlanContext) -> list[dict[str, Any]]:
    out = []
    planned_draws = plan["inference"]["ri_draws"]
    used = ri_draws or 0
    if used != planned_draws:
        out.append(_entry("ri_draws", "randomisation-inference draws", planned_draws, used, "deviation",
                          f"Randomisation inference used {used:,} re-draws; the plan registered {planned_draws:,}."))
    if alpha != plan["inference"]["alpha"]:
        out.append(_entry("alpha", "alpha", plan["inference"]["alpha"], alpha, "deviation",
                          f"Tests used alpha = {alpha:g}; the plan registered {plan['inference']['alpha']:g}."))
    # the registered config's plan, built by this package version, so that rewording is no change
    registered_inference = (ctx.registered_config_plan or plan).get("inference", {})
    used_inference = (ctx.config_plan or {}).get("inference", {})
    for key, label in (("variance", "variance estimator"), ("ri_statistic", "randomisation statistic"),
                       ("ri_p_value", "randomisation p-value rule")):
        registered, now = registered_inference.get(key), used_inference.get(key)
        if registered is not None and now is not None and registered != now:
            out.append(_entry(key, label, registered, now, "deviation",
                              f"The {label} used ({now}) is not the registered one ({registered})."))
    if primary != plan["primary"]["outcome"]:
        out.append(_entry("primary_outcome", "primary outcome", plan["primary"]["outcome"], primary, "post hoc",
                          f"The report's primary outcome is '{primary}'; the plan's is "
                          f"'{plan['primary']['outcome']}'."))
    planned_looks = [lk["date"] for lk in plan["interim_looks"]["looks"]]
    if look_date.isoformat() not in planned_looks:
        out.append(_entry("unplanned_look", "look date", ", ".join(planned_looks), look_date.isoformat(),
                          "unplanned look", f"This look ({look_date}) is not a planned look date "
                          f"({', '.join(planned_looks)}); its boundary is recomputed for the actual dates."))
    harm = plan["harm"]
    if ctx.harm and (ctx.harm.get("sha256") != harm["sha256"] or ctx.harm.get("version") != harm["version"]):
        out.append(_entry("harm_index", "harm index", f"{harm['version']} (SHA-256 {harm['sha256']})",
                          f"{ctx.harm.get('version')} (SHA-256 {ctx.harm.get('sha256')})", "deviation",
                          f"Harm was weighted with {ctx.harm.get('version')} (SHA-256 {str(ctx.harm.get('sha256'))[:12]}…), "
                          f"not the registered {harm['version']} (SHA-256 {harm['sha256'][:12]}…)."))
    registered = plan["units"]["hotspot_sha256"]
    if ctx.hotspots_sha256 and ctx.hotspots_sha256 != registered:
        out.append(_entry("hotspot_file", "hotspot file", registered, ctx.hotspots_sha256, "deviation",
                          f"The hotspot file read (SHA-256 {ctx.hotspots_sha256[:12]}…) is not the registered one "
                          f"(SHA-256 {registered[:12]}…)."))
    return out


def _section(plan: Mapping[str, Any], section: str) -> dict[str, Any]:
    """A plan section flattened to dotted keys; outcomes keyed by name, not position."""
    value = plan.get(section)
    if section == "outcomes":
        value = {o["name"]: o for o in value or []}
    out: dict[str, Any] = {}
    _flat(value, section, out)
    if section == "harm":  # the index actually used is checked against the panel's
        out = {k: v for k, v in out.items() if k not in ("harm.sha256", "harm.version", "harm.name")}
    if section == "units":  # the hotspot file is checked on its own
        out.pop("units.hotspot_sha256", None)
    return out


def _unregistered(plan: Mapping[str, Any], config_plan: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if config_plan is None:
        return []
    declared = {o["name"] for o in plan["outcomes"]} & {o["name"] for o in config_plan["outcomes"]}
    out = []
    for section in _COMPARED:
        a, b = _section(plan, section), _section(config_plan, section)
        for key in sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)):
            if section == "outcomes" and key.split(".")[1].split("[")[0] not in declared:
                continue  # an outcome added or dropped is listed with its analyses
            if key.endswith(".primary"):
                continue  # the primary outcome is checked on its own
            out.append(_entry("unregistered_change", key, a.get(key), b.get(key), "deviation",
                              f"The config used differs from the registered plan at {key} "
                              f"(registered {a.get(key)!r}, used {b.get(key)!r}) and the change was not "
                              "registered as a plan amendment ('guardian-rct init')."))
    return out


def audit_against_plan(ctx: PlanContext, rows: Sequence[Mapping[str, Any]], *, outcomes: Sequence[str],
                       primary: str, ri_draws: int | None, alpha: float, look_date: dt.date,
                       no_events: set[str], with_compliance: bool) -> PlanAudit:
    """Compare the report with the plan in force; see the module docstring.

    Parameters
    ----------
    ctx
        The plan history and the harm index, hotspot file and config plan of this run.
    rows
        The report's estimate rows (``section``, ``outcome``, ``model``, ``term``).
    outcomes, primary, ri_draws, alpha, look_date
        What the evaluation declared and used.
    no_events, with_compliance
        Outcomes without events, and whether compliance was supplied (reasons for missing analyses).
    """
    if ctx.history is None:
        return unaudited(ctx.unaudited_reason or "no registered analysis plan")
    history = ctx.history
    plan = history.current
    # config values keep their JSON text in the report, so the schema has one type per field
    amendments = [{**a.to_dict(), "changes": [{"key": c.key, "before": json.dumps(c.before, ensure_ascii=False),
                                               "after": json.dumps(c.after, ensure_ascii=False)}
                                              for c in a.changes]} for a in history.amendments]
    deviations = [_entry("amendment", f"amendment {a['number']}", None, None, a["label"],
                         f"Plan amendment {a['number']} ({a['created_at']}, {a['label']}"
                         + (f": {a['post_hoc_reason']}" if a["post_hoc_reason"] else "") + "): "
                         + "; ".join(f"{c['key']} {c['before']} → {c['after']}" for c in a["changes"])
                         + ".") for a in amendments]
    analyses = _analyses(plan, rows, no_events, with_compliance)
    deviations += analyses
    deviations += _settings(plan, ri_draws=ri_draws, alpha=alpha, primary=primary, look_date=look_date, ctx=ctx)
    deviations += _unregistered(ctx.registered_config_plan or plan, ctx.config_plan)
    looks = history.looks
    n = len(deviations)
    summary = NO_DEVIATIONS if n == 0 else (
        f"{n} deviation(s) from the registered analysis plan" +
        (f", {len(amendments)} of them plan amendment(s)" if amendments else "") + ": see the list below.")
    info = {"audited": True, "reason": None, "sha256": history.plan.sha256,
            "registered_at": history.plan.registered_at, "current_sha256": history.current_sha256,
            "version": len(history.amendments), "amendments": amendments,
            "planned_looks": [lk["date"] for lk in plan["interim_looks"]["looks"]],
            "looks_recorded": len(looks), "first_look_at": looks[0].at if looks else None, "summary": summary}
    return PlanAudit(info, tuple(deviations))
