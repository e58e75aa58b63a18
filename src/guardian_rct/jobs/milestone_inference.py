"""Design-based and small-sample inference for the milestone evaluation (issue 12).

* :func:`ri_design` — the design randomisation inference must redraw: the registered
  design for the trial's own ledger; for an imported allocation, a design declared with it
  (a TOML file with a ``[design]`` table, the same keys as ``trial.toml``) or a supplied
  permutation matrix (:mod:`guardian_rct.design.permutation_matrix`); with neither, RI is
  refused with a note — never run on a design that did not make the allocation.
* :func:`run_inference` — randomisation tests (p-value and test-inversion interval) for
  the count *and* harm of every declared outcome, the wild cluster score bootstrap
  p-value of each primary Poisson ITT estimate, and the data diagnosis
  (:func:`guardian_rct.estimation.diagnosis.diagnose_inference`).
* The CACE's randomisation inference. The linear (2SLS) CACE gets the ITT randomisation
  p-value of the same outcome column: under the exclusion restriction, "no effect of a
  delivered patrol on any hotspot-day" implies "no effect of assignment", so that test is
  exact for CACE = 0 (Imbens & Rosenbaum 2005, *JRSS A* 168(1); Rosenbaum 2002, §5). The
  rate-ratio CACE (count and harm) gets its own p-value *and* test-inversion interval: the
  assignment is re-drawn from the same design under the sharp null ``Y(d) = Y(0)·τ^d`` in
  patrol presence (:func:`~guardian_rct.estimation.randomisation.randomisation_test` with
  ``dose``); hotspot-days of unknown presence are left out, with a note.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from guardian_rct._core.errors import ConfigError, DataError, where
from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import TrialConfig, config_from_dict
from guardian_rct.crimes.panel import Panel
from guardian_rct.design.allocation import Allocation
from guardian_rct.design.diagnosis import DesignDiagnosis
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.permutation_matrix import read_permutations
from guardian_rct.design.protocol import Design
from guardian_rct.estimation.diagnosis import InferenceDiagnosis, diagnose_inference
from guardian_rct.estimation.itt import ipw_weights
from guardian_rct.estimation.iv import patrol_present
from guardian_rct.estimation.panel_checks import model_frame
from guardian_rct.estimation.randomisation import RITestResult, randomisation_test
from guardian_rct.estimation.results import Estimate
from guardian_rct.estimation.wild_bootstrap import wild_score_bootstrap
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["ri_design", "run_inference", "RI_REFUSED"]

RI_REFUSED = ("Randomisation inference was not run: the allocation was imported without the design that "
              "made it. Give that design with --design-config FILE ([design] table) or its allocations with "
              "--permutations FILE; re-drawing the trial's own design would test the wrong null.")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _declared_design(config: TrialConfig, hotspots: HotspotSet, path: Path) -> Design:
    try:
        other = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("design config not found", where=where(path), fix="check --design-config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("design config is not valid TOML", where=where(path), found=str(exc),
                          fix="write a [design] table with the keys of trial.toml") from None
    if "design" not in other:
        raise ConfigError("design config has no [design] table", where=where(path),
                          expected="[design] with kind, treated_per_day, ...", found=", ".join(other) or "nothing",
                          fix="copy the [design] table of the tool that made the allocation")
    raw = _plain(config.raw)
    raw["design"] = other["design"]
    return design_from_config(config_from_dict(raw, source=config.source), hotspots)


def ri_design(config: TrialConfig, hotspots: HotspotSet, allocation: Allocation, *, imported: bool,
              design_config: str | Path | None = None,
              permutations: str | Path | None = None) -> tuple[Design | None, str]:
    """The design RI redraws and a sentence saying which (or why RI is refused: design None)."""
    if design_config is not None and permutations is not None:
        raise ConfigError("give a design config or a permutation matrix, not both",
                          where="--design-config/--permutations", fix="keep one of them")
    if design_config is not None:
        return (_declared_design(config, hotspots, Path(design_config)),
                f"Randomisation inference re-draws the design declared in {design_config}.")
    own = design_from_config(config, hotspots)
    if permutations is not None:
        ids = [str(h) for h in hotspots.ids]
        days, obs = allocation.assignment_matrix(ids)
        design = read_permutations(permutations, own.hotspot_ids, own.blocks, own.days, kind=own.kind)
        offset = own.days.index(days[0]) if days[0] in own.days else 0
        sub = design.matrix[:, offset:offset + len(days)]
        if not (sub == np.asarray(obs, dtype=bool)[None]).all(axis=(1, 2)).any():
            raise ConfigError("the allocation is not one of the permutation matrix's allocations",
                              where=where(Path(permutations)), fix="supply the matrix the allocation was drawn from")
        return design, (f"Randomisation inference re-draws the {design.matrix.shape[0]:,} allocations of "
                        f"{permutations}.")
    if imported:
        return None, RI_REFUSED
    return own, "Randomisation inference re-draws the trial's registered design."


def _wild(frame, col: str, kind: str, rng: np.random.Generator, draws: int) -> float | None:
    fe = ("hotspot", "day") if kind == "crossover" else (("block", "day") if frame["block"].nunique() > 1
                                                        else ("day",))
    mf = model_frame(frame, col, fe=fe, weights=ipw_weights(frame))
    cov = None
    if kind == "parallel" and f"baseline_{col}" in frame.columns:
        cov = np.log1p(frame[f"baseline_{col}"].to_numpy(dtype=float))[mf.rows][:, None]
        cov = cov if np.ptp(cov) > 0 else None
    res = wild_score_bootstrap(mf.y, mf.treated, mf.fe, mf.clusters,
                               weights=mf.weights, covariates=cov, rng=rng, draws=draws)
    return res.p_value


def _cace_ri(frame, e: Estimate, design: Design, *, seed: int, alpha: float, draws: int,
             statistic: str, p_value_rule: str) -> Estimate:
    """The rate-ratio CACE with its randomisation p-value and interval (module notes).

    It re-draws with the ITT test's stream, so that with presence known on every hotspot-day
    its test of no effect (τ = 1) is the ITT randomisation test draw for draw, as theory says.
    """
    col = f"harm_{e.outcome[:-len('_harm')]}" if e.outcome.endswith("_harm") else f"count_{e.outcome}"
    if col not in frame.columns:
        return e
    present = patrol_present(frame, allow_unknown=True)
    known = np.isfinite(present)
    centre = (e.estimate, e.std_error) if e.estimable else None
    try:
        res = randomisation_test(frame.loc[known].reset_index(drop=True), col, design, draws=draws, alpha=alpha,
                                 seed=seed, rng=stream(seed, "randomisation_inference", e.outcome),
                                 dose=present[known], centre=centre, statistic=statistic,
                                 p_value_rule=p_value_rule)
    except DataError as exc:  # e.g. every hotspot-day of one arm has unknown presence
        return dataclasses.replace(e, notes=e.notes + (f"no randomisation inference for this CACE: {exc.problem}",))
    note = (f"randomisation inference: {draws:,} re-draws of the design under the sharp null that a patrol "
            "present multiplies the hotspot-day's outcome by the rate ratio (Imbens & Rosenbaum 2005)")
    if not known.all():
        note += f"; {int((~known).sum()):,} hotspot-days of unknown presence left out"
    return dataclasses.replace(e, ri_p_value=res.p_value, ri_conf_low=res.rr_conf_low,
                               ri_conf_high=res.rr_conf_high, notes=e.notes + (note,))


def run_inference(config: TrialConfig, panel: Panel, design: Design | None, design_diag: DesignDiagnosis | None,
                  outcomes: Sequence[str], no_events: set[str], estimates: Sequence[Estimate], *,
                  draws: int, wild_draws: int
                  ) -> tuple[dict[str, RITestResult], list[Estimate], list[InferenceDiagnosis]]:
    """RI for count and harm, wild bootstrap p-values and diagnoses (see module notes)."""
    frame = panel.frame
    kind = config.design.kind
    seed = config.trial.seed
    alpha = config.evaluation.alpha
    ri: dict[str, RITestResult] = {}
    diags: list[InferenceDiagnosis] = []
    wild: dict[str, float | None] = {}
    for o in outcomes:
        if o in no_events:
            continue
        for col, label in ((f"count_{o}", o), (f"harm_{o}", f"{o}_harm")):
            if col not in frame.columns or float(frame[col].sum()) <= 0:
                continue
            if kind == "crossover":
                diags.append(diagnose_inference(frame, col, design=design_diag))
            if design is not None and draws > 0:
                ri[label] = randomisation_test(frame, col, design, draws=draws, alpha=alpha, seed=seed,
                                               rng=stream(seed, "randomisation_inference", label),
                                               statistic=config.evaluation.ri_statistic,
                                               p_value_rule=config.evaluation.ri_p_value)
            if wild_draws > 0:
                wild[label] = _wild(frame, col, kind, stream(seed, "wild_bootstrap", label), wild_draws)
    out, seen = [], set()
    for e in estimates:
        if e.estimand == "ITT" and e.model in ("poisson_fe", "poisson_parallel") and e.outcome not in seen:
            seen.add(e.outcome)
            if wild.get(e.outcome) is not None:
                e = dataclasses.replace(e, wild_p_value=wild[e.outcome])
            if e.outcome in ri:
                e = dataclasses.replace(e, ri_conf_low=ri[e.outcome].rr_conf_low,
                                        ri_conf_high=ri[e.outcome].rr_conf_high)
        elif e.model == "iv_poisson_gmm_fe" and design is not None and draws > 0 and e.ri_p_value is None:
            e = _cace_ri(frame, e, design, seed=seed, alpha=alpha, draws=draws,
                         statistic=config.evaluation.ri_statistic,
                         p_value_rule=config.evaluation.ri_p_value)
        elif e.estimand.startswith("CACE") and e.outcome in ri and e.ri_p_value is None:
            e = dataclasses.replace(e, ri_p_value=ri[e.outcome].p_value, notes=e.notes + (
                "randomisation p-value: the exact test of no effect of assignment, which under the "
                "exclusion restriction tests CACE = 0 (Imbens & Rosenbaum 2005); no randomisation interval",))
        out.append(e)
    return ri, out, diags
