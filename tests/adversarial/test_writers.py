"""Outputs never overwrite inputs or the store, and are never left half-written (issue 11, item 5)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core import safe_write
from guardian_rct._core.errors import UsageError
from guardian_rct._core.quarantine import quarantine_rows
from guardian_rct._core.safe_write import atomic_path, check_output_path, write_text
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from guardian_rct.jobs.daily import run_daily
from guardian_rct.ledger.store import init_trial

NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)
START = dt.date(2023, 3, 20)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_rings_out_over_the_registered_hotspot_file_is_refused(tmp_path, capsys):
    cfg = write_trial(tmp_path)
    hotspot_file = tmp_path / "hotspots.geojson"
    before = _digest(hotspot_file)
    code, text = _run(capsys, "hotspots", "rings", "--config", cfg, "--out", hotspot_file)
    assert code == 2
    assert "registered hotspot file" in text and "hotspots.geojson" in text and "Fix:" in text
    assert len(text.strip().splitlines()) == 1
    assert _digest(hotspot_file) == before


def test_rings_out_over_its_own_input_is_refused_without_config(tmp_path, capsys):
    write_trial(tmp_path)
    hotspot_file = tmp_path / "hotspots.geojson"
    before = _digest(hotspot_file)
    code, text = _run(capsys, "hotspots", "rings", hotspot_file, "--out", hotspot_file)
    assert code == 2 and "an input of this command" in text
    assert _digest(hotspot_file) == before


def test_rings_out_through_a_symlink_to_the_input_is_refused(tmp_path, capsys):
    write_trial(tmp_path)
    hotspot_file = tmp_path / "hotspots.geojson"
    link = tmp_path / "rings.geojson"
    link.symlink_to(hotspot_file)
    before = _digest(hotspot_file)
    code, text = _run(capsys, "hotspots", "rings", hotspot_file, "--out", link)
    assert code == 2 and "same file" in text
    assert _digest(hotspot_file) == before


def test_rings_out_over_a_hard_link_of_the_config_is_refused(tmp_path, capsys):
    cfg = write_trial(tmp_path)
    hard = tmp_path / "copy.geojson"
    hard.hardlink_to(cfg)
    before = _digest(cfg)
    code, text = _run(capsys, "hotspots", "rings", "--config", cfg, "--out", hard)
    assert code == 2 and "trial config" in text
    assert _digest(cfg) == before


def test_rings_out_over_the_store_is_refused(tmp_path, capsys):
    cfg_path = write_trial(tmp_path)
    init_trial(load_config(cfg_path))
    store = tmp_path / "trial.db"
    before = _digest(store)
    code, text = _run(capsys, "hotspots", "rings", "--config", cfg_path, "--out", tmp_path / "./trial.db")
    # the suffix check comes after the path check: the store is named as the reason
    assert code == 2 and "trial store" in text
    assert _digest(store) == before


def test_rings_to_a_new_file_still_works_and_leaves_no_temporary_file(tmp_path, capsys):
    cfg = write_trial(tmp_path)
    code, text = _run(capsys, "hotspots", "rings", "--config", cfg, "--out", tmp_path / "rings.geojson")
    assert code == 0, text
    assert (tmp_path / "rings.geojson").stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_quarantine_over_the_crimes_file_it_reads_is_refused(tmp_path):
    crimes = tmp_path / "crimes.csv"
    crimes.write_text("crime_id,x\n1,2\n", encoding="utf-8")
    before = _digest(crimes)
    q = quarantine_rows(pd.DataFrame({"crime_id": ["1"]}), "missing coordinates", source=crimes,
                        source_row=pd.Series([1]))
    with pytest.raises(UsageError, match="quarantine file over an input"):
        q.write_csv(tmp_path / "sub" / ".." / "crimes.csv")
    assert _digest(crimes) == before


def test_hotspots_summary_quarantine_over_a_crimes_file_is_refused_before_reading(tmp_path, capsys):
    write_trial(tmp_path)
    crimes = tmp_path / "street.csv"
    crimes.write_text("not read\n", encoding="utf-8")
    before = _digest(crimes)
    code, text = _run(capsys, "hotspots", "summary", tmp_path / "hotspots.geojson", "--boundary",
                      tmp_path / "hotspots.geojson", "--crimes", crimes, "--quarantine", crimes)
    assert code == 2 and "--quarantine file" in text and "street.csv" in text
    assert _digest(crimes) == before


def test_a_failure_half_way_leaves_the_old_file_and_no_partial_one(tmp_path):
    out = tmp_path / "tasking.geojson"
    out.write_text('{"old": true}', encoding="utf-8")
    with pytest.raises(OSError, match="No space left"):
        with atomic_path(out) as tmp:
            tmp.write_text('{"type": "FeatureCollection", "feat', encoding="utf-8")
            raise OSError(28, "No space left on device")
    assert out.read_text(encoding="utf-8") == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasking.geojson"]


def test_a_crash_before_the_rename_never_creates_the_target(tmp_path, monkeypatch):
    out = tmp_path / "new.csv"

    def boom(*_a, **_k):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(safe_write.os, "replace", boom)
    with pytest.raises(OSError):
        write_text(out, "a,b\n1,2\n")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_failing_xlsx_writer_leaves_no_xlsx_and_no_temporary_file(tmp_path, monkeypatch):
    cfg = load_config(write_trial(tmp_path))
    init_trial(cfg)
    import guardian_rct.reports.tasking as tasking

    def broken(table, path, record):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tasking, "_write_xlsx", broken)
    with pytest.raises(OSError):
        run_daily(cfg, START, out_dir=tmp_path / "out", now=NOW)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not any(name.endswith(".xlsx") for name in files), files
    assert not any(".tmp" in name for name in files), files


def test_an_output_path_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(UsageError, match="is a folder"):
        check_output_path(tmp_path)


def test_protection_ends_with_the_command_scope(tmp_path):
    store = tmp_path / "trial.db"
    with safe_write.protected_scope():
        safe_write.protect({"the trial store": store})
        with pytest.raises(UsageError, match="trial store"):
            check_output_path(store)
    assert check_output_path(store) == store  # a later command in the same process is not affected
