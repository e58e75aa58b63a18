"""scripts/pool_simulation_grid.py: disjoint runs pooled by trials, overlapping runs never twice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from pool_simulation_grid import _pooled, table  # noqa: E402


def _grid(path: Path, first: int, n: int, coverage: float, size: float) -> Path:
    rows = [{"outcome": "count_violence", "method": "randomisation", "coverage": coverage, "coverage_se": 0.0,
             "size": size, "size_se": 0.0},
            {"outcome": "count_violence", "method": "led with", "coverage": coverage, "coverage_se": 0.0,
             "size": size, "size_se": 0.0, "share_led_by_ri": 1.0}]
    path.write_text(json.dumps({"setup": {"trials_per_arm": n, "first_trial": first, "days": 28,
                                          "ri_p_value": "equal-tailed"},
                                "cells": {"c": {"rows": rows}}}))
    return path


def test_disjoint_runs_are_weighted_by_trials_and_overlaps_use_the_longest(tmp_path):
    assert _pooled([(range(0, 100), 0.9), (range(100, 400), 0.95)]) == (0.9375, 400)
    # trials 0-99 are inside 0-999: the same trials, counted once (the longer run)
    assert _pooled([(range(0, 100), 0.5), (range(0, 1000), 0.95)]) == (0.95, 1000)
    a = _grid(tmp_path / "a.json", 0, 100, 0.90, 0.04)
    b = _grid(tmp_path / "b.json", 100, 300, 0.95, 0.06)
    null = tmp_path / "null.json"
    null.write_text(json.dumps({"ri_null": [{"cell": "c", "days": 28, "first_trial": 400, "trials": 600,
                                             "p_value_rule": "equal-tailed",
                                             "outcomes": {"count_violence": {"size": 0.05}}}]}))
    text = table([a, b], [null], [], "studentised")
    ri = next(line for line in text.splitlines() if "| randomisation |" in line)
    assert "0.938 ± 0.012 (400)" in ri  # coverage: grid runs only
    assert "0.052 ± 0.007 (1,000)" in ri  # size: (100·0.04 + 300·0.06 + 600·0.05) / 1000
    led = next(line for line in text.splitlines() if "| led with |" in line)
    assert "(1,000)" in led  # RI leads in every trial: the RI-only null trials count there too


def test_cace_runs_pool_by_trials(tmp_path):
    from pool_simulation_grid import cace_table

    def run(path, trials, cover, bias):
        o = {"bias": bias, "bias_se": 0.01, "no_estimate": 1, "linear_bias": bias, "linear_bias_se": 0.01,
             **{k: cover for k in ("ar_cover", "ri_cover", "lin_cover")},
             **{k: 0.05 for k in ("ar_reject", "ri_reject", "lin_reject")}}
        path.write_text(json.dumps({"cace": [{"cell": "c", "days": 28, "trials": trials, "p_value_rule": "equal-tailed",
                                              "outcomes": {"count_violence": o}}]}))
        return path

    text = cace_table([run(tmp_path / "a.json", 100, 0.90, 0.1), run(tmp_path / "b.json", 300, 0.94, -0.1)])
    row = text.splitlines()[-1]
    assert "| 400 |" in row and "-0.050 ± " in row and "0.930 ± 0.013" in row and "| 2 |" in row


def test_runs_of_another_p_value_rule_are_refused_not_pooled(tmp_path):
    """Follow-ups 1-6 used the symmetric rule and say nothing about it: never mixed in."""
    import pytest

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"setup": {"trials_per_arm": 10, "first_trial": 0, "days": 28},
                               "cells": {"c": {"rows": []}}}))
    with pytest.raises(SystemExit, match="'symmetric' randomisation p-value rule"):
        table([old], [], [], "studentised")
    null = tmp_path / "null.json"
    null.write_text(json.dumps({"ri_null": [{"cell": "c", "days": 28, "first_trial": 0, "trials": 5,
                                             "outcomes": {"count_violence": {"size": 0.05}}}]}))
    with pytest.raises(SystemExit, match="null.json"):
        table([_grid(tmp_path / "a.json", 0, 10, 0.9, 0.05)], [null], [], "studentised")


def test_ri_only_cace_runs_pool_their_randomisation_rows(tmp_path):
    from pool_simulation_grid import cace_table

    def run(path, trials, cover):
        o = {"ri_cover": cover, "ri_reject": 0.05, "ri_misses_below": 1, "ri_misses_above": 1}
        path.write_text(json.dumps({"cace": [{"cell": "c", "days": 28, "trials": trials, "ri_only": True,
                                              "p_value_rule": "equal-tailed", "outcomes": {"harm_violence": o}}]}))
        return path

    row = cace_table([run(tmp_path / "a.json", 100, 0.90), run(tmp_path / "b.json", 300, 0.94)]).splitlines()[-1]
    assert "| 400 |" in row and "0.930 ± 0.013 (misses: 2 below, 2 above)" in row and row.count("—") == 7
