"""Benchmark: randomisation inference without refitting vs refitting the model per draw.

Times :func:`guardian_rct.estimation.randomisation.randomisation_test` with 10,000 redraws of a daily
crossover design (57 hotspots × 365 days, 28 patrolled per day), once for the p-value
only and once with the test-inversion confidence interval, and compares it with the
usual approach of refitting the Poisson fixed-effects model for every redraw (what
pyfixest's ``ritest`` does). Refitting 10,000 times would take hours, so the script times
a few refits and extrapolates linearly (stated in the output):

* statsmodels ``GLM(Poisson)`` with explicit hotspot and day dummies (a well-known peer;
  run with single-threaded BLAS, which is faster than threaded BLAS on this shared box),
* our own PPML with absorbed fixed effects (``guardian_rct.estimation.fixed_effects.fit_glm_fe``), which is
  the fastest refit available here.

Usage::

    PYTHONPATH=src python scripts/bench_ri.py [--draws 10000] [--refits 20]

The design is the package's own: ``[design] kind = "crossover", treated_per_day = 28``
over 57 hotspots through :func:`guardian_rct.design.factory.design_from_config`
(``tests/estimate_fixtures.configured_design``), so the redraws are the ones a trial's
evaluation makes. Run it once: the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import statsmodels.api as sm  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from estimate_fixtures import configured_design, make_panel  # noqa: E402
from guardian_rct._core.rng import stream  # noqa: E402
from guardian_rct.estimation.fixed_effects import encode, fit_glm_fe  # noqa: E402
from guardian_rct.estimation.randomisation import randomisation_test  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--refits", type=int, default=20, help="own-PPML refits to time")
    ap.add_argument("--sm-refits", type=int, default=3, help="statsmodels refits to time")
    args = ap.parse_args(argv)

    design = configured_design(57, 365, treated_per_day=28)
    frame = make_panel(design, stream(1, "bench", 0), irr=0.9, mean_rate=0.25,
                       overdispersion=2.0)
    y = frame["count_violence"].to_numpy(float)
    print(f"design: {type(design).__module__}.{type(design).__name__}, "
          f"{dict(design.treated_per_block)} treated per day")
    print(f"panel: {len(frame)} hotspot-days (57 x 365), {int(y.sum())} events")

    # warm-up (imports, caches) on a few draws
    randomisation_test(frame, "count_violence", design, draws=50, rng=stream(1, "ri", 0),
                       conf_int=False)
    t0 = time.perf_counter()
    res = randomisation_test(frame, "count_violence", design, draws=args.draws,
                             rng=stream(1, "ri", 1), conf_int=False)
    t_p = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_ci = randomisation_test(frame, "count_violence", design, draws=args.draws,
                                rng=stream(1, "ri", 1))
    t_ci = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen = stream(1, "ri", 2)
    for _ in range(args.draws // 250):  # same batch size as randomisation_test
        design.draw(gen, size=250)
    t_draw = time.perf_counter() - t0
    print(f"guardian_rct RI, {args.draws} redraws, p-value only:      {t_p:7.2f} s "
          f"(p = {res.p_value:.4f} ± {res.mc_std_error:.4f})")
    print(f"guardian_rct RI, {args.draws} redraws, p-value + CI ({len(res_ci.curve)} tau): "
          f"{t_ci:7.2f} s (CI {res_ci.rr_conf_low:.3f}-{res_ci.rr_conf_high:.3f})")
    print(f"  (drawing {args.draws} allocations from the design alone, timed separately: "
          f"{t_draw:.2f} s)")

    fe = [encode(frame["hotspot_id"].to_numpy()), encode(frame["day_index"].to_numpy())]
    draws = design.draw(stream(1, "ri", 3), size=max(args.refits, args.sm_refits))
    t0 = time.perf_counter()
    for k in range(args.refits):
        fit_glm_fe(y, draws[k].reshape(-1, 1).astype(float), fe)
    t_own = (time.perf_counter() - t0) / args.refits
    dummies = pd.get_dummies(frame[["hotspot_id"]].assign(day=frame["day_index"].astype(str)),
                             drop_first=True, dtype=float).to_numpy()
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # as fast as BLAS gets on this box
        for k in range(args.sm_refits):
            X = np.column_stack([np.ones(len(y)), draws[k].reshape(-1).astype(float), dummies])
            sm.GLM(y, X, family=sm.families.Poisson()).fit()
    t_sm = (time.perf_counter() - t0) / args.sm_refits
    print(f"refit per draw, own PPML (absorbed FE): {t_own * 1e3:8.1f} ms per fit "
          f"(timed {args.refits}) -> {t_own * args.draws:8.0f} s for {args.draws} (extrapolated)")
    print(f"refit per draw, statsmodels GLM + dummies: {t_sm:6.2f} s per fit "
          f"(timed {args.sm_refits}) -> {t_sm * args.draws:8.0f} s for {args.draws} (extrapolated)")
    print(f"ratio (refit own PPML / guardian_rct RI p-value):   {t_own * args.draws / t_p:8.0f}x")
    print(f"ratio (refit statsmodels / guardian_rct RI p-value): {t_sm * args.draws / t_p:8.0f}x")
    print(f"ratio (refit own PPML / guardian_rct RI with CI):   {t_own * args.draws / t_ci:8.0f}x "
          "(the refit approach has no CI at all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
