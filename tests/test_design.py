"""Statistics of the designs: probabilities vs empirical frequencies, exact counts,
constraints, matched pairs, shapes and seeds."""

import dataclasses
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_hotspots, write_trial
from guardian_rct._core.errors import ConfigError, DataError
from guardian_rct.config.trial_config import load_config
from guardian_rct.design.constraints import check_constraints
from guardian_rct.design.crossover import CrossoverDesign
from guardian_rct.design.factory import design_from_config
from guardian_rct.design.parallel import ParallelDesign, form_pairs
from guardian_rct.design.protocol import (
    Design,
    block_subsets,
    proportional_counts,
    simulated_probabilities,
)
from guardian_rct.geo.hotspots import hotspots_from_frame

DAYS = tuple(dt.date(2023, 3, 1) + dt.timedelta(days=i) for i in range(40))


def _ids(n):
    return tuple(f"H{i:02d}" for i in range(n))


def _z_ok(p_hat, p, draws, *, max_z=4.5):
    """Every cell within max_z binomial SEs, and the SEs calibrated (mean |z| ~ 0.80)."""
    se = np.sqrt(p * (1 - p) / draws)
    z = np.abs(p_hat - p) / np.where(se > 0, se, 1)
    assert z.max() < max_z, f"max |z| = {z.max():.2f}"
    inner = (p > 0) & (p < 1)
    if inner.sum() > 200:
        assert 0.65 < z[inner].mean() < 0.95, f"mean |z| = {z[inner].mean():.3f}"


def test_proportional_counts_add_up_and_follow_sizes():
    counts = proportional_counts(28, {"A": 19, "B": 19, "C": 19})
    assert sum(counts.values()) == 28 and sorted(counts.values()) == [9, 9, 10]
    assert proportional_counts(5, {"A": 8, "B": 2}) == {"A": 4, "B": 1}
    assert proportional_counts(3, {"A": 3, "B": 3}) == {"A": 2, "B": 1}


def test_block_subsets_exact_counts_and_uniform_pairs():
    rng = np.random.default_rng(7)
    block_of = np.array([0, 1, 0, 1, 1, 0, 2])
    out = block_subsets(rng, (20000,), block_of, np.array([1, 2, 1]))
    assert (out[:, block_of == 0].sum(1) == 1).all() and (out[:, block_of == 1].sum(1) == 2).all()
    assert out[:, 6].all()
    # every 2-subset of block 1's three columns equally likely (1/3 each)
    b1 = out[:, block_of == 1]
    freq = np.array([(~b1[:, j]).mean() for j in range(3)])
    assert np.abs(freq - 1 / 3).max() < 4.5 * np.sqrt(2 / 9 / 20000)


def test_crossover_frequencies_match_probabilities_with_blocks():
    blocks = tuple("A" if i < 7 else "B" for i in range(12))
    design = CrossoverDesign(_ids(12), blocks, DAYS, treated_per_block=(("A", 2), ("B", 3)))
    p = design.probabilities()
    assert p.shape == (40, 12)
    assert np.allclose(p[:, :7], 2 / 7) and np.allclose(p[:, 7:], 3 / 5)
    draws = design.draw(np.random.default_rng(1), size=4000)
    assert draws.shape == (4000, 40, 12) and draws.dtype == bool
    assert (draws[..., :7].sum(-1) == 2).all() and (draws[..., 7:].sum(-1) == 3).all()
    _z_ok(draws.mean(0), p, 4000)


def test_prob_treated_gives_exact_p_with_floor_or_ceil_counts():
    design = CrossoverDesign(_ids(10), ("A",) * 10, DAYS, prob_treated=0.25)
    assert np.allclose(design.probabilities(), 0.25)
    draws = design.draw(np.random.default_rng(2), size=4000)
    counts = draws.sum(-1)
    assert set(np.unique(counts)) == {2, 3}
    # E[count] = 2.5, so half of the days treat 3
    assert abs((counts == 3).mean() - 0.5) < 4.5 * np.sqrt(0.25 / counts.size)
    _z_ok(draws.mean(0), design.probabilities(), 4000)


@pytest.mark.parametrize("L, g, n, k", [(3, None, 12, 3), (None, 2, 12, 4), (3, 1, 12, 3),
                                        (4, 2, 10, 2), (2, 2, 12, 4), (6, 3, 19, 3)])
def test_constraints_never_violated_and_probabilities_hold(L, g, n, k):
    design = CrossoverDesign(_ids(n), ("A",) * n, DAYS, treated_per_block=(("A", k),),
                             max_consecutive_control_days=L, min_gap_days=g)
    assert design.constrained
    draws = design.draw(np.random.default_rng(3), size=1500)
    assert (draws.sum(-1) == k).all()
    for one in draws:
        assert check_constraints(one, max_control=L, min_gap=g) == []
    # exchangeability: every hotspot-day still has probability k / n
    _z_ok(draws.mean(0), design.probabilities(), 1500)


def test_constrained_blocks_and_history_constraint_binds():
    blocks = tuple("AB"[i % 2] for i in range(12))
    design = CrossoverDesign(_ids(12), blocks, DAYS, treated_per_block=(("A", 2), ("B", 2)),
                             max_consecutive_control_days=2)
    draws = design.draw(np.random.default_rng(4), size=300)
    for one in draws:
        assert check_constraints(one, max_control=2, min_gap=None) == []
    assert (draws[..., 0::2].sum(-1) == 2).all()
    # 6 hotspots, 2 a day, at most 2 control days in a row: the design is a rotation,
    # so every hotspot is treated exactly once in every 3 days
    windows = draws[:, :39].reshape(300, 13, 3, 12).sum(2)
    assert (windows == 1).all()


def test_check_constraints_finds_violations():
    a = np.zeros((6, 2), dtype=bool)
    a[[0, 5], 0] = True
    a[[0, 1], 1] = True
    problems = check_constraints(a, max_control=3, min_gap=1)
    assert any("hotspot 0: 4 control days" in p for p in problems)
    assert any("hotspot 1: only 0 control days" in p for p in problems)
    assert any("hotspot 1: 4 control days in a row at the end" in p for p in problems)


def test_draw_day_matches_whole_trial_rules_and_uses_history():
    design = CrossoverDesign(_ids(6), ("A",) * 6, DAYS[:10], treated_per_block=(("A", 2),),
                             max_consecutive_control_days=2)
    history = np.zeros((0, 6), dtype=bool)
    for d in range(10):
        day = design.draw_day(np.random.default_rng(d), DAYS[d], history)
        assert day.sum() == 2
        history = np.vstack([history, day])
    assert check_constraints(history, max_control=2, min_gap=None) == []
    with pytest.raises(ValueError, match="needs the 3 earlier days"):
        design.draw_day(np.random.default_rng(0), DAYS[3], history[:2])


def test_same_stream_same_draw_and_days_independent():
    design = CrossoverDesign(_ids(8), ("A",) * 8, DAYS, treated_per_block=(("A", 3),))
    a = design.draw(np.random.default_rng(11))
    b = design.draw(np.random.default_rng(11))
    assert (a == b).all() and a.shape == (40, 8)
    day5 = design.draw_day(np.random.default_rng(5), DAYS[5])
    assert (day5 == design.draw_day(np.random.default_rng(5), DAYS[5])).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"treated_per_block": (("A", 9),)}, "8 hotspots but 9"),
    ({"treated_per_block": (("A", 1),), "max_consecutive_control_days": 3}, "cannot each be treated"),
    ({"treated_per_block": (("A", 3),), "min_gap_days": 2}, "washout of 2 days needs at least 9"),
])
def test_impossible_designs_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        CrossoverDesign(_ids(8), ("A",) * 8, DAYS, **kwargs)


def test_tight_constraints_give_a_random_rotation():
    # 8 hotspots, 2 a day, washout 3 and at most 3 control days: each hotspot is treated
    # exactly every 4th day; only the first 4 days are random
    design = CrossoverDesign(_ids(8), ("A",) * 8, DAYS, treated_per_block=(("A", 2),),
                             max_consecutive_control_days=3, min_gap_days=3)
    draws = design.draw(np.random.default_rng(8), size=500)
    assert (draws[:, 4:] == draws[:, :-4]).all()
    assert (draws[:, :4].sum(1) == 1).all()
    _z_ok(draws[:, :4].mean(0), design.probabilities()[:4], 500)


def test_design_from_config_crossover(tmp_path):
    cfg = load_config(write_trial(tmp_path, design="treated_per_day = 3\n"
                                  "max_consecutive_control_days = 5"))
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    design = design_from_config(cfg, hotspots)
    assert isinstance(design, Design) and design.kind == "crossover"
    assert design.hotspot_ids == ("H01", "H02", "H03", "H04", "H05", "H06")
    assert design.blocks == ("A", "B", "A", "B", "A", "B")
    assert design.days[0] == cfg.trial.start_date and len(design.days) == cfg.trial.n_days
    assert dict(design.treated_per_block) == {"A": 2, "B": 1}
    assert design.max_consecutive_control_days == 5


def _parallel_config(tmp_path, design_lines, frame=None):
    text = 'kind = "parallel"\n' + design_lines
    path = write_trial(tmp_path, hotspots=frame, design=text)
    raw = path.read_text().replace('kind = "crossover"\n', "")
    path.write_text(raw)
    return load_config(path)


def test_parallel_complete_and_block(tmp_path):
    cfg = _parallel_config(tmp_path, "n_treated = 3")
    hotspots = hotspots_from_frame(make_hotspots(), block_column="block")
    design = design_from_config(cfg, hotspots)
    assert design.kind == "parallel" and design.assignment == "complete"
    draws = design.draw(np.random.default_rng(1), size=3000)
    assert draws.shape == (3000, cfg.trial.n_days, 6)
    assert (draws == draws[:, :1, :]).all()  # fixed for the whole trial
    assert (draws[:, 0].sum(-1) == 3).all()
    _z_ok(draws[:, 0].mean(0), design.probabilities()[0], 3000)

    block = ParallelDesign(_ids(6), tuple("AABBBB"), DAYS, "block", ((0, 1), (2, 3, 4, 5)),
                           group_counts=(1, 1))
    p = block.probabilities()[0]
    assert np.allclose(p, [0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    units = block.draw_units(np.random.default_rng(2), size=4000)
    assert (units[:, :2].sum(1) == 1).all() and (units[:, 2:].sum(1) == 1).all()
    _z_ok(units.mean(0), p, 4000)


def test_matched_pairs_always_split(tmp_path):
    frame = make_hotspots()
    frame["prior_violence"] = [10, 3, 11, 2, 30, 29]
    cfg = _parallel_config(tmp_path, 'assignment = "matched_pair"\npair_covariate = "prior_violence"',
                           frame=frame)
    hotspots = hotspots_from_frame(frame, block_column="block")
    design = design_from_config(cfg, hotspots)
    # pairs by adjacent values: (H04 2, H02 3), (H01 10, H03 11), (H06 29, H05 30)
    pairs = {tuple(sorted(design.hotspot_ids[i] for i in pair)) for pair in design.pairs}
    assert pairs == {("H02", "H04"), ("H01", "H03"), ("H05", "H06")}
    units = design.draw_units(np.random.default_rng(5), size=4000)
    for pair in design.pairs:
        assert (units[:, list(pair)].sum(1) == 1).all()
    assert np.allclose(design.probabilities(), 0.5)
    _z_ok(units.mean(0), np.full(6, 0.5), 4000)


def test_matched_pairs_odd_one_out_and_covariate_argument(tmp_path):
    pairs = form_pairs(("a", "b", "c"), np.array([3.0, 1.0, 2.0]))
    assert pairs == ((1, 2), (0,))
    frame = make_hotspots()
    cfg = _parallel_config(tmp_path, 'assignment = "matched_pair"\npair_covariate = "prior"',
                           frame=frame)
    hotspots = hotspots_from_frame(frame, block_column="block")
    with pytest.raises(DataError, match="no 'prior' column"):
        design_from_config(cfg, hotspots)
    design = design_from_config(cfg, hotspots, covariate={f"H0{i}": i for i in range(1, 7)})
    assert {tuple(p) for p in design.pairs} == {(0, 1), (2, 3), (4, 5)}
    with pytest.raises(DataError, match="no baseline value for hotspot 'H06'"):
        design_from_config(cfg, hotspots, covariate={f"H0{i}": i for i in range(1, 6)})


def test_simulated_probabilities_agree_with_exact():
    design = CrossoverDesign(_ids(9), ("A",) * 9, DAYS[:20], treated_per_block=(("A", 4),),
                             max_consecutive_control_days=2, min_gap_days=None)
    p_hat, se = simulated_probabilities(design, np.random.default_rng(9), draws=3000, batch=1000)
    assert p_hat.shape == (20, 9) and (se > 0).all()
    assert (np.abs(p_hat - 4 / 9) < 4.5 * se.max()).all()


def test_replace_keeps_checks():
    design = CrossoverDesign(_ids(8), ("A",) * 8, DAYS, treated_per_block=(("A", 2),))
    with pytest.raises(ConfigError):
        dataclasses.replace(design, max_consecutive_control_days=1)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=5), data=st.data())
def test_block_subsets_always_exact(sizes, data):
    counts = [data.draw(st.integers(0, s)) for s in sizes]
    block_of = np.repeat(np.arange(len(sizes)), sizes)
    block_of = block_of[np.random.default_rng(len(sizes)).permutation(len(block_of))]
    seed = data.draw(st.integers(0, 2**32 - 1))
    out = block_subsets(np.random.default_rng(seed), (50, 3), block_of, np.array(counts))
    assert out.shape == (50, 3, len(block_of))
    for b, k in enumerate(counts):
        assert (out[..., block_of == b].sum(-1) == k).all()


def test_tied_keys_are_redrawn():
    class TiesFirst:
        """A generator whose first batch of keys is all tied."""

        def __init__(self):
            self.inner, self.calls = np.random.default_rng(0), 0

        def random(self, shape, dtype=np.float64):
            self.calls += 1
            if self.calls == 1:
                return np.zeros(shape, dtype=dtype)
            return self.inner.random(shape, dtype=dtype)

    rng = TiesFirst()
    out = block_subsets(rng, (100,), np.array([0, 0, 0, 1, 1]), np.array([1, 1]))
    assert rng.calls == 2
    assert (out[:, :3].sum(1) == 1).all() and (out[:, 3:].sum(1) == 1).all()


def test_a_block_that_would_always_or_never_be_treated_is_refused(tmp_path):
    from conftest import make_hotspots, write_trial
    from guardian_rct._core.errors import ConfigError
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.design.factory import design_from_config
    from guardian_rct.ledger.store import load_trial_hotspots

    frame = make_hotspots(6)
    frame["block"] = ["A", "A", "A", "A", "A", "B"]  # B has one hotspot: p would be 0 or 1
    cfg = load_config(write_trial(tmp_path, hotspots=frame, design="treated_per_day = 3"))
    with pytest.raises(ConfigError, match="block 'B' \\(1 hotspot\\) would never be treated"):
        design_from_config(cfg, load_trial_hotspots(cfg))
    cfg = load_config(write_trial(tmp_path, hotspots=frame, design="treated_per_block_per_day = 1"))
    with pytest.raises(ConfigError, match="block 'B'.*would be treated every day"):
        design_from_config(cfg, load_trial_hotspots(cfg))
