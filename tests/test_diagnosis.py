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


def test_effective_events_are_kish_counts():
    from guardian_rct.estimation.diagnosis import sparse_treated_bias

    y = np.array([1.0] * 10 + [1.0] * 40 + [0.0] * 5)
    t = np.array([1] * 10 + [0] * 45)
    n_t, n_c, b = sparse_treated_bias(y, t)
    assert (n_t, n_c) == (10.0, 40.0)  # one event per hotspot-day: n_eff is the count
    assert b == pytest.approx(0.5 * (1 / 40 - 1 / 10))
    # one heavy value dominates: the effective number collapses towards 1
    heavy = y.copy()
    heavy[0] = 1000.0
    assert sparse_treated_bias(heavy, t)[0] < 1.1
    assert not math.isfinite(sparse_treated_bias(y * (t == 0), t)[2])  # no treated events


def test_data_diagnosis_flags_few_treated_events_but_not_a_long_balanced_trial():
    # unequal blocks (2 + 10, one treated in each a day, 28 days): about 3 treated days per
    # hotspot in the large block; the simulation study measured the PPML bias there
    from estimate_fixtures import make_panel

    short = _design(12, 1, 28, blocks=["S"] * 2 + ["L"] * 10)
    frame = make_panel(short, np.random.default_rng(5), irr=0.8, mean_rate=0.3, hotspot_sd=0.7,
                       day_sd=0.25)
    for col in ("count_violence", "harm_violence"):
        d = diagnose_inference(frame, col)
        assert any("few events on treated hotspot-days" in r for r in d.reasons), (col, d.reasons)
    balanced = _balanced_40_by_91()
    frame = make_panel(balanced, np.random.default_rng(6), irr=0.8, mean_rate=0.3, hotspot_sd=0.7,
                       day_sd=0.25)
    d = diagnose_inference(frame, "count_violence")
    assert not any("few events" in r for r in d.reasons), d.reasons
    assert d.wald_reliable


def _balanced_40_by_91() -> CrossoverDesign:
    """40 hotspots x 91 days, 20 treated a day: a design no reason of the diagnosis flags."""
    return CrossoverDesign(tuple(f"H{i:02d}" for i in range(40)), ("A",) * 40,
                           tuple(START + dt.timedelta(days=i) for i in range(91)),
                           treated_per_block=(("A", 20),))


def test_heavy_tailed_harm_is_flagged_and_counts_are_not():
    # 40 hotspots x 91 days, half treated a day: no other reason fires for counts
    from estimate_fixtures import make_panel
    from guardian_rct.estimation.diagnosis import tail_share

    design = _balanced_40_by_91()
    frame = make_panel(design, np.random.default_rng(8), irr=0.8, mean_rate=0.3, hotspot_sd=0.7,
                       day_sd=0.25)
    harm = diagnose_inference(frame, "harm_violence")
    assert any("heavy-tailed" in r for r in harm.reasons) and harm.lead == "randomisation"
    count = diagnose_inference(frame, "count_violence")
    assert not any("heavy-tailed" in r for r in count.reasons)
    # frequent, overdispersed counts differ in rate between hotspots, which is no tail
    busy = make_panel(design, np.random.default_rng(9), mean_rate=2.0, hotspot_sd=1.0,
                      overdispersion=1.0)
    assert tail_share(busy["count_violence"], busy["hotspot_id"]) > 0.5
    ones = np.ones(50)
    assert tail_share(ones, np.repeat(np.arange(5), 10)) == pytest.approx(1.0)


@pytest.mark.parametrize("log10, words", [(0.0, "1"), (3.0103, "1,024"), (5888.5, "3.2 × 10^5,888"),
                                          (6.0, "1.0 × 10^6"), (6.999, "1.0 × 10^7"), (float("inf"), "infinitely many")])
def test_numbers_of_sequences_read_as_numbers(log10, words):
    """The report once printed "10^5888.5 allocation sequences (exact)"."""
    from guardian_rct.design.diagnosis import _power_of_ten

    assert _power_of_ten(log10) == words
