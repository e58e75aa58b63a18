"""The Dask engine on a real local cluster (two worker processes) gives the same answer as
the in-process engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct.compliance.presence import score_pings
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import load_trial_hotspots

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install '.[dask]')")


def test_dask_local_cluster_matches_in_process_engine(tmp_path):
    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    rng = np.random.default_rng(2)
    n = 4000
    t = pd.Timestamp("2023-05-01T15:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 3 * 86_400, n)), unit="s")
    frame = pd.DataFrame({
        "device_id": rng.choice(["R1", "R2", "R3", "R4"], n),
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x": 406000 + rng.uniform(-50, 1250, n), "y": 286000 + rng.uniform(-50, 1250, n),
        "officer_id": rng.choice(["A", "B", ""], n), "team": rng.choice(["T1", "T2"], n),
        "accuracy_m": rng.choice([5.0, 20.0, 400.0], n, p=[0.6, 0.38, 0.02]),
    })
    frame.loc[[7, 8], "x"] = np.nan
    folder = tmp_path / "pings"
    folder.mkdir()
    # Three partitions; rows duplicated across partitions must be found by both engines.
    frame.iloc[:1500].to_parquet(folder / "part-0.parquet")
    frame.iloc[1500:3000].to_parquet(folder / "part-1.parquet")
    pd.concat([frame.iloc[3000:], frame.iloc[[1, 2, 1600]]]).to_parquet(folder / "part-2.parquet")
    local = score_pings(folder, hotspots, config.compliance)
    dask = score_pings(folder, hotspots, config.compliance, engine="dask", n_workers=2, processes=True)
    assert local.counts() == dask.counts()
    assert local.extent == dask.extent and local.extent.n_ok == local.n_used + 3  # before de-duplication
    assert local.counts()["quarantine_reasons"]["exact duplicate"] == 3
    assert local.n_read == n + 3 == local.n_used + len(local.quarantine)
    assert len(local.visits) > 50
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)


def _pings(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2023-05-01T15:00:00Z") + pd.to_timedelta(np.sort(rng.integers(0, 3 * 86_400, n)), unit="s")
    return pd.DataFrame({
        "device_id": rng.choice(["R1", "R2", "R3", "R4"], n),
        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x": 406000 + rng.uniform(-50, 1250, n), "y": 286000 + rng.uniform(-50, 1250, n),
        "officer_id": rng.choice(["A", "B", ""], n), "team": rng.choice(["T1", "T2"], n),
        "accuracy_m": rng.choice([5.0, 20.0, 400.0], n, p=[0.6, 0.38, 0.02]),
    })


def test_a_single_parquet_file_is_split_by_row_groups_with_the_local_answer(tmp_path, caplog):
    """One file of 14 row groups: several tasks; duplicates whose first copy is in another
    task (and in the same task), and quarantined rows keep the file's own row numbers."""
    import logging

    import pyarrow.parquet as pq

    from guardian_rct.compliance.dask_engine import plan_tasks
    from guardian_rct.compliance.pings import iter_raw_chunks

    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    frame = _pings(6500, 3)
    # Later copies of rows 10 and 20 (first task), 3_200 (a middle task) and 6_000 (the last):
    frame = pd.concat([frame, frame.iloc[[10, 20, 3200, 6000, 6001]]], ignore_index=True)
    frame.loc[[7, 2501, 6450], "x"] = np.nan  # quarantined in the first, a middle and the last task
    frame.loc[4000, "timestamp"] = "2023-05-02T10:00:00"  # no offset
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, row_group_size=500)
    assert pq.ParquetFile(path).metadata.num_row_groups == 14
    tasks = plan_tasks([str(path)], 2)
    assert len(tasks) >= 4 and all(t.row_groups is not None for t in tasks)
    assert [t.row_groups[0] for t in tasks] == sorted(t.row_groups[0] for t in tasks)
    # The file's own row numbers (1 = first data row): groups 3 and 4 in one chunk, or in
    # chunks of at most 300 rows.
    assert [first for first, _, _ in iter_raw_chunks(path, 1000, row_groups=(3, 5))] == [1501]
    chunks = [(first, len(raw)) for first, raw, _ in iter_raw_chunks(path, 300, row_groups=(3, 5))]
    assert [first for first, _ in chunks] == list(1501 + np.cumsum([0] + [n for _, n in chunks[:-1]]))
    assert sum(n for _, n in chunks) == 1000 and max(n for _, n in chunks) <= 300

    local = score_pings(path, hotspots, config.compliance)
    with caplog.at_level(logging.INFO, logger="guardian_rct.compliance.dask_engine"):
        dask = score_pings(path, hotspots, config.compliance, engine="dask", n_workers=2, processes=True)
    assert f"{len(tasks)} tasks ({len(tasks)} of them row groups" in caplog.text
    assert local.counts() == dask.counts()
    assert local.counts()["quarantine_reasons"]["exact duplicate"] == 5
    assert local.extent == dask.extent
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)
    rows = dask.quarantine.frame.set_index("source_row")["reason"]
    assert {8, 2502, 6451, 4001} <= set(rows.index)  # pandas index + 1: the file's own numbering
    assert rows[4001] == "timestamp without offset"
    assert [r for r, why in rows.items() if why == "exact duplicate"] == [6501, 6502, 6503, 6504, 6505]


def test_csv_files_stay_one_task_each(tmp_path):
    from guardian_rct.compliance.dask_engine import plan_tasks

    _pings(100, 1).to_csv(tmp_path / "a.csv", index=False)
    _pings(100, 2).to_parquet(tmp_path / "b.parquet", row_group_size=10)
    tasks = plan_tasks([str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")], 2)
    assert tasks[0].row_groups is None and tasks[0].file_number == 0
    assert len(tasks) == 1 + 4 and {t.file_number for t in tasks[1:]} == {1}  # 10 groups, ceil(10 / (2 x 2)) = 3 per task
    assert [t.row_groups for t in tasks[1:]] == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_a_mixed_folder_and_a_broken_file_behave_as_in_the_local_engine(tmp_path):
    """An empty Parquet file, one of 10 row groups and a CSV: the local answer; a broken
    Parquet file (the client cannot read its footer to plan tasks) is the same DataError."""
    from guardian_rct._core.errors import DataError

    config = load_config(write_trial(tmp_path))
    hotspots = load_trial_hotspots(config)
    folder = tmp_path / "p"
    folder.mkdir()
    _pings(0, 1).to_parquet(folder / "a-empty.parquet")
    _pings(3000, 2).to_parquet(folder / "b.parquet", row_group_size=300)
    _pings(50, 3).to_csv(folder / "c.csv", index=False)
    local = score_pings(folder, hotspots, config.compliance)
    dask = score_pings(folder, hotspots, config.compliance, engine="dask", n_workers=2, processes=False)
    assert local.counts() == dask.counts() and local.n_read == 3050
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)
    (folder / "d-broken.parquet").write_bytes(b"PAR1 not a Parquet file")
    for engine in ("local", "dask"):
        with pytest.raises(DataError, match=r"d-broken\.parquet: cannot read the ping file as Parquet"):
            score_pings(folder, hotspots, config.compliance, engine=engine, n_workers=2, processes=False)


class _Done:
    """A future already computed (the fake client's), noting when its result is fetched."""

    def __init__(self, value, fetched: list):
        self.value, self.fetched = value, fetched

    def result(self):
        self.fetched.append(self)
        return self.value

    key = property(id)

    def exception(self):
        return None

    def cancel(self):
        return False

    def cancelled(self):
        return False


class _InProcessClient:
    """The part of :class:`distributed.Client` the stages use, computing each task at once."""

    def __init__(self):
        self.fetched: list = []

    def scatter(self, value, broadcast=False):
        return value

    def who_has(self, futures):
        return {}

    def submit(self, func, *args, pure=True, workers=None, allow_other_workers=False, **kwargs):
        args = [a.value if isinstance(a, _Done) else a for a in args]
        return _Done(func(*args, **kwargs), self.fetched)

    def gather(self, futures):
        return [f.result() for f in futures]


def test_the_client_spools_each_tasks_quarantine_before_fetching_the_next(tmp_path):
    """A file of bad rows is quarantined whole: the client must not hold every task's
    quarantined rows at once, but spool each task's as it arrives, in task order."""
    from guardian_rct._core.quarantine import QuarantineSpool
    from guardian_rct.compliance.dask_engine import _run_stages, plan_tasks
    from guardian_rct.compliance.ping_assignment import hotspot_index, ping_options_for
    from guardian_rct.compliance.ping_types import QUARANTINE_COLUMNS

    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    frame = _pings(3000, 4)
    frame.loc[::3, "x"] = np.nan  # a third of every task quarantined
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, row_group_size=250)
    tasks = plan_tasks([str(path)], 2)
    assert len(tasks) >= 3
    index = hotspot_index(hotspots, config.compliance)
    options = ping_options_for(hotspots, config.compliance, index=index)
    client = _InProcessClient()
    spool = QuarantineSpool(QUARANTINE_COLUMNS)
    fetched_at_add = []
    added = spool.add

    def add(quarantine, *more):
        fetched_at_add.append((len(client.fetched), len(quarantine)))
        return added(quarantine, *more)

    spool.add = add
    _, stats = _run_stages(client, tasks, options, index, hotspots.ids, config.compliance, 4, spool)
    before = len(client.fetched) - len(tasks)  # the visit stage's results, fetched first
    assert [at for at, _ in fetched_at_add] == [before + i + 1 for i in range(len(tasks))]
    assert all(n > 0 for _, n in fetched_at_add) and all("quarantine" not in s for s in stats)
    quarantine = spool.finish().frame
    local = score_pings(path, hotspots, config.compliance)
    pd.testing.assert_frame_equal(local.quarantine.frame, quarantine)
    assert (quarantine["reason"] == "missing coordinates").sum() == 1000  # and the poor accuracies


def test_workers_spool_their_quarantines_and_the_client_fetches_them_in_parts(tmp_path, monkeypatch):
    """A task's quarantined rows beyond a bound are spooled to the worker's disk, its
    duplicates merged among them by file row there, and the client fetches them a part at a
    time: the quarantine equals the local engine's, and no spool file outlives the run."""
    import tempfile
    from functools import partial

    from guardian_rct._core.quarantine import Quarantine
    from guardian_rct.compliance import dask_engine
    from guardian_rct.compliance.ping_assignment import ping_options_for

    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    monkeypatch.setattr(dask_engine, "WORKER_ROWS_IN_MEMORY", 40)
    monkeypatch.setattr(dask_engine, "_PART_ROWS", 30)
    monkeypatch.setattr(dask_engine, "QuarantineSpool", partial(dask_engine.QuarantineSpool, batch_rows=10))
    parts_read: list[int] = []
    real_part = Quarantine.part

    def part(self, j, rows=200_000):  # noqa: ANN001, ANN202 - counts the parts fetched
        out = real_part(self, j, rows)
        parts_read.append(len(out))
        return out

    monkeypatch.setattr(Quarantine, "part", part)
    config = load_config(write_trial(tmp_path, extra="[compliance]\ngps_tolerance_m = 5\n"))
    hotspots = load_trial_hotspots(config)
    frame = _pings(3000, 5)
    frame.loc[::7, "x"] = np.nan  # every task has rows for its spool
    frame = pd.concat([frame, frame.iloc[100:400]], ignore_index=True)  # duplicates in the last task
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, row_group_size=250)
    options = ping_options_for(hotspots, config.compliance, chunk_rows=100)
    local = score_pings(path, hotspots, config.compliance, options=options)
    dask = score_pings(path, hotspots, config.compliance, options=options, engine="dask", n_workers=2,
                       processes=False)
    assert local.counts() == dask.counts()
    assert 200 < local.counts()["quarantine_reasons"]["exact duplicate"] <= 300 - len(range(105, 400, 7))
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    # Whole spilled batches (a chunk's quarantined rows: 100-row chunks), about 30 rows a part.
    assert len(parts_read) > 10 and sum(parts_read) == len(dask.quarantine) and max(parts_read) <= 30 + 100
    import gc

    gc.collect()
    assert list(spools.glob("guardian-quarantine-*")) == []
