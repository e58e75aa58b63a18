"""``compliance --engine dask`` against a real cluster: a ``dask scheduler`` and two
``dask worker`` processes started separately, talking TCP on 127.0.0.1, as a force
would run it (issue 14, part 4). The report files must equal the local engine's."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from guardian_rct.cli import main
from test_compliance_report import _make_trial

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install '.[dask]')")
DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
pytestmark = pytest.mark.skipif(DASK is None, reason="the dask command-line tool is not installed")
_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([DASK, *args], stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture()
def cluster(tmp_path):
    """Scheduler + two single-threaded workers as separate processes; always killed."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []
    try:
        procs.append(_start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                            tmp_path / "scheduler.log"))
        for i in range(2):
            procs.append(_start(["worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                 "--no-dashboard", "--no-nanny", "--name", f"w{i}",
                                 "--local-directory", str(tmp_path / f"w{i}")], tmp_path / f"worker{i}.log"))
        from distributed import Client

        deadline = time.monotonic() + _TIMEOUT_S
        while True:
            try:
                with Client(address, timeout=10) as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                    workers = client.scheduler_info()["workers"]
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.5)
        assert len(workers) == 2
        # Separate processes: the workers are the two `dask worker` processes started here.
        with Client(address, timeout=10) as client:
            worker_pids = set(client.run(os.getpid).values())
        assert worker_pids == {procs[1].pid, procs[2].pid} and os.getpid() not in worker_pids
        yield address, [p.pid for p in procs]
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_compliance_on_a_scheduler_and_two_worker_processes_equals_local(cluster, tmp_path):
    address, pids = cluster
    trial = _make_trial(tmp_path)
    frame = pd.read_csv(trial["pings"])
    folder = tmp_path / "pings"
    folder.mkdir()
    # A partitioned dataset: three files, with rows duplicated across partitions.
    cut = [0, len(frame) // 3, 2 * len(frame) // 3, len(frame)]
    for i in range(3):
        part = frame.iloc[cut[i]:cut[i + 1]]
        if i == 2:
            part = pd.concat([part, frame.iloc[[5, 6, cut[1] + 3]]])
        part.to_parquet(folder / f"part-{i}.parquet")
    common = ["compliance", "--config", str(trial["config"]), "--pings", str(folder),
              "--allocation", str(trial["allocation"]), "--week", "2023-W18", "--json", "--large-tables", "both"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler", address]) == 0
    for pid in pids:  # the cluster survived the run
        os.kill(pid, 0)
    local = json.loads((tmp_path / "local" / "weekly_compliance.json").read_text())
    dask = json.loads((tmp_path / "dask" / "weekly_compliance.json").read_text())
    assert local["headline"] == dask["headline"]
    assert local["pings"] == dask["pings"]
    assert local["pings"]["quarantine_reasons"]["exact duplicate"] == 5  # 2 in the file + 3 across parts
    for name in ("compliance_visits.csv", "compliance_patrols.csv", "compliance_controls.csv",
                 "compliance_hotspot_days.csv", "quarantine.csv", "compliance_by_hotspot.csv"):
        a = (tmp_path / "local" / name).read_bytes()
        b = (tmp_path / "dask" / name).read_bytes()
        assert a == b, name
    for name in ("compliance_visits.parquet", "quarantine.parquet"):  # the default format of these two
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name),
                                      pd.read_parquet(tmp_path / "dask" / name))
    assert len(pd.read_csv(tmp_path / "local" / "compliance_visits.csv")) > 10  # the week's visits: enough to compare


def test_one_parquet_file_is_shared_by_the_two_worker_processes(cluster, tmp_path):
    """A single-file week of 12 row groups: cut into row-group tasks that run on both
    worker processes (the scheduler's task stream, logged by the engine), with the local
    engine's results."""
    import logging

    from guardian_rct.compliance.presence import score_pings
    from guardian_rct.config.trial_config import load_config
    from guardian_rct.ledger.store import load_trial_hotspots

    address, _ = cluster
    trial = _make_trial(tmp_path)
    frame = pd.read_csv(trial["pings"])
    frame = pd.concat([frame, frame.iloc[[3, len(frame) // 2]]], ignore_index=True)  # duplicates across tasks
    path = tmp_path / "week.parquet"
    frame.to_parquet(path, row_group_size=-(-len(frame) // 12))
    config = load_config(trial["config"])
    hotspots = load_trial_hotspots(config)
    local = score_pings(path, hotspots, config.compliance)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("guardian_rct.compliance.dask_engine")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        # Up to three tries: whether the scheduler gives both workers a task is its choice
        # (work stealing), so a single run could land on one worker by timing alone.
        for _ in range(3):
            records.clear()
            dask = score_pings(path, hotspots, config.compliance, engine="dask", scheduler=address)
            line = next(r for r in records if r.startswith("dask engine:"))
            if len(re.findall(r"tcp://127\.0\.0\.1:\d+ \d+", line)) == 2:
                break
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert re.search(r"(\d+) tasks \(\1 of them row groups", line), line
    assert len(re.findall(r"tcp://127\.0\.0\.1:\d+ \d+", line)) == 2, line  # both worker processes checked rows
    assert local.counts() == dask.counts() and local.counts()["quarantine_reasons"]["exact duplicate"] == 4
    pd.testing.assert_frame_equal(local.visits.frame, dask.visits.frame)
    pd.testing.assert_frame_equal(local.quarantine.frame, dask.quarantine.frame)
