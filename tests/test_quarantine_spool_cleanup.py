"""The quarantine spool's temporary folder holds bad rows as read (raw device and officer
ids, not pseudonymised): it must not outlive a run, whether the run finishes, fails after
spilling, or the process exits with the error."""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import textwrap
from functools import partial
from pathlib import Path

import pytest

from conftest import write_trial
from guardian_rct._core.errors import DataError
from guardian_rct._core.quarantine import QuarantineSpool
from guardian_rct.compliance import presence
from guardian_rct.compliance.ping_types import PingOptions
from guardian_rct.config.trial_config import load_config
from guardian_rct.ledger.store import load_trial_hotspots

SPOOL_FOLDERS = "guardian-quarantine-*"


def _bad_rows_then_a_broken_line(path: Path, n_bad: int) -> None:
    """A ping CSV of ``n_bad`` rows with no coordinates (all quarantined), then a line with
    too many fields (the CSV reader fails there, after the spool has spilled)."""
    lines = ["device_id,officer_id,timestamp,lat,lon"]
    lines += [f"R{i % 7},PC{i % 11},2023-05-01T10:{i % 60:02d}:00Z,," for i in range(n_bad)]
    lines.append("R1,PC1,2023-05-01T11:00:00Z,52.48,-1.90,surplus,fields")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary folder of the test's own, where the spool makes its folder."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_run_failing_after_the_spool_spilled_leaves_no_spool_folder(tmp_path, private_tmp, monkeypatch):
    config = load_config(write_trial(tmp_path))
    hotspots = load_trial_hotspots(config)
    pings = tmp_path / "pings.csv"
    _bad_rows_then_a_broken_line(pings, 50_000)
    spilled: list[Path] = []
    real_store = QuarantineSpool._store

    def store(self, *args, **kwargs):  # noqa: ANN001, ANN202 - records that the spool spilled
        real_store(self, *args, **kwargs)
        if self._path is not None and self._path not in spilled:
            spilled.append(self._path)

    monkeypatch.setattr(QuarantineSpool, "_store", store)
    monkeypatch.setattr(presence, "QuarantineSpool", partial(QuarantineSpool, max_rows_in_memory=100,
                                                             batch_rows=50))
    with pytest.raises(DataError, match="cannot read the ping CSV"):
        presence.score_pings(pings, hotspots, config.compliance, options=PingOptions(chunk_rows=1000))
    assert spilled, "the spool never spilled: the test would not see a leak"
    gc.collect()
    assert not spilled[0].exists()
    assert list(private_tmp.glob(SPOOL_FOLDERS)) == []


def test_a_process_ending_on_the_error_leaves_no_spool_folder(tmp_path):
    """The spool still referenced by the traceback when the process exits (the command line
    reports the error and exits): its folder goes at exit."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    script = textwrap.dedent(f"""
        import tempfile
        import pandas as pd
        tempfile.tempdir = {str(folder)!r}
        from guardian_rct._core.quarantine import QuarantineSpool, quarantine_rows
        spool = QuarantineSpool(("device_id",), max_rows_in_memory=5, batch_rows=1)
        rows = pd.DataFrame({{"device_id": [f"R{{i}}" for i in range(20)]}})
        spool.add(quarantine_rows(rows, "missing coordinates", source="p.csv",
                                  source_row=pd.Series(range(1, 21))))
        assert spool._path is not None and spool._path.exists()
        print(spool._path)
        raise SystemExit("failed mid-way, the spool still held")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "failed mid-way" in done.stderr
    assert Path(done.stdout.strip()).parent.parent == folder
    assert list(folder.glob(SPOOL_FOLDERS)) == []


def test_a_finished_spool_hands_its_folder_to_the_quarantine(private_tmp):
    import pandas as pd

    from guardian_rct._core.quarantine import quarantine_rows

    spool = QuarantineSpool(("device_id",), max_rows_in_memory=5, batch_rows=1)
    rows = pd.DataFrame({"device_id": [f"R{i}" for i in range(20)]})
    spool.add(quarantine_rows(rows, "missing coordinates", source="p.csv", source_row=pd.Series(range(1, 21))))
    quarantine = spool.finish()
    del spool
    gc.collect()
    assert quarantine.spilled is not None and quarantine.spilled.path.exists()  # the quarantine still needs it
    assert len(quarantine.to_frame()) == 20
    path = quarantine.spilled.path
    del quarantine
    gc.collect()
    assert not path.exists() and list(private_tmp.glob(SPOOL_FOLDERS)) == []


def test_a_spilled_quarantine_pickles_with_its_rows_not_its_path(private_tmp):
    """A copy sent to another process (a Dask result moved or spilled by the worker) must
    not depend on a file that goes with the original, or is on another machine."""
    import pickle

    import pandas as pd

    from guardian_rct._core.quarantine import quarantine_rows

    spool = QuarantineSpool(("device_id",), max_rows_in_memory=5, batch_rows=1)
    rows = pd.DataFrame({"device_id": [f"R{i}" for i in range(20)]})
    spool.add(quarantine_rows(rows, "missing coordinates", source="p.csv", source_row=pd.Series(range(1, 21))))
    quarantine = spool.finish()
    copy = pickle.loads(pickle.dumps(quarantine))
    assert copy.spilled is None
    pd.testing.assert_frame_equal(copy.frame, quarantine.to_frame())
    path = quarantine.spilled.path
    del quarantine
    gc.collect()
    assert not path.exists() and len(copy) == 20 and copy.counts() == {"missing coordinates": 20}
