"""Design diagnosis (number of allocation sequences, fixed rotation) and data diagnosis."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import make_hotspots, write_trial
from guardian_rct._core.errors import DataError
from guardian_rct.cli import main
from guardian_rct.design.crossover import CrossoverDesign
from guardian_rct.design.diagnosis import diagnose_design
from guardian_rct.design.permutation_matrix import read_permutations
from guardian_rct.estimation.diagnosis import diagnose_inference

START = dt.date(2024, 1, 1)
REF = pd.read_csv(Path(__file__).parent / "reference" / "crossover_panel.csv")


def _design(n, k, n_days, L=None, gap=None, blocks=None):
    blocks = tuple(blocks) if blocks else ("A",) * n
    counts = k if isinstance(k, dict) else {b: k for b in set(blocks)}
    return CrossoverDesign(tuple(f"H{i:02d}" for i in range(n)), blocks,
                           tuple(START + dt.timedelta(days=i) for i in range(n_days)),
                           treated_per_block=tuple(sorted(counts.items())),
                           max_consecutive_control_days=L, min_gap_days=gap)


def _distinct(design, draws=6000, seed=0):
    a = design.draw(np.random.default_rng(seed), size=draws)
    return len({x.tobytes() for x in np.packbits(a.reshape(draws, -1), axis=1)})


def test_unconstrained_count_is_exact():
    d = diagnose_design(_design(10, {"A": 2, "B": 1}, 30, blocks=["A"] * 6 + ["B"] * 4))
    assert d.method == "exact" and not d.warnings and not d.refuse
    assert d.log10_sequences == pytest.approx(30 * (math.log10(math.comb(6, 2)) + math.log10(4)))


def test_fixed_rotation_is_counted_exactly_and_refused():
    # n = k(L+1): 4 hotspots, 1 a day, at most 3 control days in a row -> 4! sequences, whatever the length
    design = _design(4, 1, 12, L=3)
    d = diagnose_design(design)
    assert d.refuse and d.blocks[0].fixed_rotation and "fixed rotation" in d.warnings[0]
    assert 10 ** d.log10_sequences == pytest.approx(24)
    assert _distinct(design) == 24  # the design itself never draws more
    assert d.deterministic_share == pytest.approx(8 / 12)


def test_near_rotation_warns_and_estimate_tracks_the_real_count():
    design = _design(5, 2, 6, L=2)  # n = 5 < k(L+1) = 6: nearly a rotation
    d = diagnose_design(design, reps=400)
    assert not d.refuse and d.method == "estimated from draws"
    # the design's own draws: the estimate is within a factor 2 of the distinct sequences seen
    seen = _distinct(design, draws=20000)
    assert abs(d.log10_sequences - math.log10(seen)) < math.log10(2)
    longer = diagnose_design(_design(5, 2, 14, L=2), reps=200)
    assert longer.deterministic_share > 0.25 and any("nearly deterministic" in w for w in longer.warnings)


def test_unconstrained_design_has_no_deterministic_days():
    d = diagnose_design(_design(20, 3, 28, L=10))
    assert d.deterministic_share < 0.05 and not d.refuse


def test_init_refuses_a_fixed_rotation(tmp_path, capsys):
    path = write_trial(tmp_path, hotspots=make_hotspots(6, blocks=False),
                       design="treated_per_day = 2\nmax_consecutive_control_days = 2")
    text = path.read_text().replace('block_column = "block"\n', "")
    path.write_text(text)
    assert main(["init", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not random enough" in err and "fixed rotation" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "trial.db").exists()  # nothing registered


def test_init_prints_the_diagnosis(tmp_path, capsys):
    path = write_trial(tmp_path)
    assert main(["init", "--config", str(path)]) == 0
    assert "allocation sequences" in capsys.readouterr().out


def test_data_diagnosis_flags_few_clusters_and_concentrated_harm():
    count = diagnose_inference(REF, "count_violence")
    assert count.n_clusters == 20 and not count.wald_reliable and count.lead == "randomisation"
    assert any("only 20 hotspots" in r for r in count.reasons)
    skew = REF.copy()
    top = skew["hotspot_id"].drop_duplicates().iloc[:3]
    skew.loc[skew["hotspot_id"].isin(top), "harm_violence"] *= 40
    harm = diagnose_inference(skew, "harm_violence")
    assert harm.top3_share > 0.5 and harm.satterthwaite_df < 5
    assert any("three hotspots hold" in r for r in harm.reasons)


def test_permutation_matrix_bad_input(tmp_path):
    ids, blocks = ("H1", "H2"), ("A", "A")
    days = (START, START + dt.timedelta(days=1))
    np.save(tmp_path / "shape.npy", np.zeros((3, 5), dtype=int))
    with pytest.raises(DataError, match="wrong shape"):
        read_permutations(tmp_path / "shape.npy", ids, blocks, days)
    bad = np.zeros((3, 4), dtype=int)
    bad[1, 2] = 2
    np.save(tmp_path / "values.npy", bad)
    with pytest.raises(DataError, match=r"allocation 2, hotspot-day 3"):
        read_permutations(tmp_path / "values.npy", ids, blocks, days)
    good = np.array([[1, 0, 0, 1], [0, 1, 1, 0]])
    np.save(tmp_path / "good.npy", good)
    d = read_permutations(tmp_path / "good.npy", ids, blocks, days)
    assert d.probabilities().tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert diagnose_design(d).log10_sequences == pytest.approx(math.log10(2))
