"""A hostile insider with write access to the trial folder edits the store: each edit is
either refused or caught by ``ledger verify`` (with the witness on, its default)."""

import datetime as dt
import json
import sqlite3

import pandas as pd
import pytest
from attack_fixtures import NOW, START, trial

from guardian_rct._core.errors import DataError, UsageError
from guardian_rct.ledger.exchange import export_allocation, import_allocation
from guardian_rct.ledger.publish import publish_range
from guardian_rct.ledger.records import SIMULATED_NOTE, record_hash
from guardian_rct.ledger.schema import LEDGER_COLUMNS
from guardian_rct.ledger.verify import verify


def _published(tmp_path, days=4):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=days - 1), now=NOW)
    return cfg


def _rechain(cfg, edit):
    """Apply ``edit(values)`` to every record and recompute every hash and the head."""
    with sqlite3.connect(cfg.trial.store) as conn:
        rows = conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
        prev = None
        for row in rows:
            values = dict(zip(LEDGER_COLUMNS, row, strict=True))
            edit(values)
            if prev is not None:
                values["prev_hash"] = prev
            values["hash"] = prev = record_hash(values)
            conn.execute("UPDATE ledger SET source = ?, note = ?, numpy_version = ?, payload = ?, "
                         "prev_hash = ?, hash = ? WHERE seq = ?",
                         (values["source"], values["note"], values["numpy_version"], values["payload"],
                          values["prev_hash"], values["hash"], values["seq"]))
        conn.execute("UPDATE ledger_head SET hash = ?", (prev,))


def _export_frame(cfg, tmp_path):
    out = tmp_path / "alloc.csv"
    export_allocation(cfg, out, evaluator="Dr E", now=NOW)
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def _fresh(tmp_path, name="b"):
    other = tmp_path / name
    other.mkdir()
    return trial(other)


def test_wiped_ledger_fails_verify(tmp_path):
    cfg = _published(tmp_path)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("DELETE FROM ledger")
        conn.execute("DELETE FROM ledger_head")
    result = verify(cfg)
    assert not result.ok and "ledger was wiped" in result.problem


def test_registered_trial_with_no_records_fails_verify(tmp_path):
    result = verify(trial(tmp_path))
    assert not result.ok and "has no records" in result.problem


def test_deleting_the_latest_records_is_caught_without_head(tmp_path):
    cfg = _published(tmp_path)
    with sqlite3.connect(cfg.trial.store) as conn:
        row = conn.execute("SELECT seq, hash FROM ledger WHERE seq = 2").fetchone()
        conn.execute("DELETE FROM ledger WHERE seq > 2")
        conn.execute("UPDATE ledger_head SET seq = ?, hash = ?", row)
    result = verify(cfg)
    assert not result.ok and "witness file says record 4" in result.problem


def test_deleted_witness_file_fails_verify(tmp_path):
    cfg = _published(tmp_path)
    cfg.witness_path.unlink()
    result = verify(cfg)
    assert not result.ok and "witness file" in result.problem and "missing" in result.problem
    assert verify(cfg, witness=False).ok  # explicitly skipped, and said so:
    assert any("witness file was not checked" in n for n in verify(cfg, witness=False).notes)


def test_edited_witness_line_is_refused(tmp_path):
    cfg = _published(tmp_path)
    cfg.witness_path.write_text(cfg.witness_path.read_text() + "garbage\n")
    with pytest.raises(Exception, match="not a witness line"):
        verify(cfg)


def test_rechained_edit_marking_records_imported_is_caught(tmp_path):
    cfg = _published(tmp_path)
    _rechain(cfg, lambda v: v.update(source="imported", note="imported allocation"))
    result = verify(cfg, witness=False)
    assert not result.ok and "names no recorded import" in result.problem


def test_rechained_edit_marking_records_simulated_is_caught(tmp_path):
    cfg = _published(tmp_path)
    _rechain(cfg, lambda v: v.update(note=SIMULATED_NOTE))
    result = verify(cfg, witness=False)
    assert not result.ok and "no simulated publish" in result.problem


def test_rechained_edit_with_foreign_numpy_and_swapped_arms_is_caught_by_witness(tmp_path):
    cfg = _published(tmp_path)

    def swap(v):
        content = json.loads(v["payload"])
        t, c = content["treated"], content["control"]
        content["treated"] = {c[0]: t[sorted(t)[0]]}
        content["control"] = sorted([*c[1:], *t])
        v.update(numpy_version="1.0.0", payload=json.dumps(content, sort_keys=True, separators=(",", ":")))
    _rechain(cfg, swap)
    without = verify(cfg, witness=False)  # chain-only: the foreign numpy mark hides the edit ...
    assert without.ok and without.foreign_numpy == 4
    assert any("ATTENTION: 4 records drawn with numpy 1.0.0" in n for n in without.notes)
    result = verify(cfg)  # ... but not from the witness
    assert not result.ok and "witness" in result.problem


def test_foreign_numpy_records_are_reported_by_count(tmp_path):
    cfg = _published(tmp_path)
    _rechain(cfg, lambda v: v.update(numpy_version="0.0.1"))
    result = verify(cfg, witness=False)
    assert result.ok and result.foreign_numpy == 4 and result.redrawn == 0
    assert "ATTENTION" in result.summary()


def test_deleted_export_log_entry_fails_verify(tmp_path):
    cfg = _published(tmp_path)
    export_allocation(cfg, tmp_path / "a.csv", evaluator="Dr E", now=NOW)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("DELETE FROM ledger_exports")
    result = verify(cfg)
    assert not result.ok and "export" in result.problem


def test_deleted_export_log_with_reset_sequence_is_caught_by_witness(tmp_path):
    cfg = _published(tmp_path)
    export_allocation(cfg, tmp_path / "a.csv", evaluator="Dr E", now=NOW)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("DELETE FROM ledger_exports")
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'ledger_exports'")
    result = verify(cfg)
    assert not result.ok and "witness file names 1 exports" in result.problem


def test_drawn_record_beyond_the_horizon_without_mark_is_caught(tmp_path):
    cfg = _published(tmp_path)
    _rechain(cfg, lambda v: v.update(published_at="2023-03-01T07:00:00+00:00") if v["seq"] == 4 else None)
    # published_at is not in the UPDATE of _rechain: set it directly and re-chain from there
    with sqlite3.connect(cfg.trial.store) as conn:
        rows = conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger ORDER BY seq").fetchall()
        values = dict(zip(LEDGER_COLUMNS, rows[-1], strict=True))
        values["published_at"] = "2023-03-01T07:00:00+00:00"
        values["hash"] = record_hash(values)
        conn.execute("UPDATE ledger SET published_at = ?, hash = ? WHERE seq = 4",
                     (values["published_at"], values["hash"]))
        conn.execute("UPDATE ledger_head SET hash = ?", (values["hash"],))
    result = verify(cfg, witness=False)
    assert not result.ok and result.bad_seq == 4 and "beyond the publishing horizon" in result.problem


def test_simulated_publish_is_recorded_and_reported(tmp_path):
    cfg = trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=20), now=NOW, simulated=True)
    result = verify(cfg)
    assert result.ok and result.simulated == 21
    assert any("SIMULATED" in n for n in result.attention)
    with sqlite3.connect(cfg.trial.store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM trial_events WHERE kind = 'simulated'").fetchone()[0] == 1


# -- imports --------------------------------------------------------------------------

def test_import_is_recorded_and_reported(tmp_path):
    source = _published(tmp_path)
    frame = _export_frame(source, tmp_path)
    cfg = _fresh(tmp_path)
    frame.to_csv(tmp_path / "in.csv", index=False)
    written = import_allocation(cfg, tmp_path / "in.csv", now=NOW, imported_by="Analyst A")
    assert len(written) == 4 and written[0].note == "imported allocation: import 1"
    with sqlite3.connect(cfg.trial.store) as conn:
        who, sha = conn.execute("SELECT imported_by, file_sha256 FROM ledger_imports").fetchone()
    from guardian_rct._core.provenance import sha256_file
    assert who == "Analyst A" and sha == sha256_file(tmp_path / "in.csv")
    result = verify(cfg)
    assert result.ok and result.imported == 4 and result.imports == 1
    assert "IMPORTED" in result.summary()


def test_import_beyond_the_horizon_is_refused(tmp_path):
    source = trial(tmp_path)
    publish_range(source, START, START + dt.timedelta(days=15), now=NOW, simulated=True)
    frame = _export_frame(source, tmp_path)
    cfg = _fresh(tmp_path)
    frame.to_csv(tmp_path / "far.csv", index=False)
    with pytest.raises(UsageError, match="beyond the publishing horizon"):
        import_allocation(cfg, tmp_path / "far.csv", now=NOW)


def test_import_with_wrong_count_per_block_is_refused(tmp_path):
    frame = _export_frame(_published(tmp_path), tmp_path)
    day = frame["date"] == "2023-03-20"
    control = frame.index[day & (frame["arm"] == "control")][0]
    frame.loc[control, ["arm", "window_start", "window_end"]] = [
        "treatment", "2023-03-20T16:00:00+00:00", "2023-03-20T16:15:00+00:00"]
    frame.to_csv(tmp_path / "count.csv", index=False)
    cfg = _fresh(tmp_path)
    with pytest.raises(DataError, match="treated hotspots; the design treats"):
        import_allocation(cfg, tmp_path / "count.csv", now=NOW)


def test_import_with_window_on_another_date_is_refused(tmp_path):
    frame = _export_frame(_published(tmp_path), tmp_path)
    treated = frame.index[(frame["date"] == "2023-03-20") & (frame["arm"] == "treatment")][0]
    frame.loc[treated, ["window_start", "window_end"]] = ["2023-03-25T16:00:00+00:00",
                                                          "2023-03-25T16:15:00+00:00"]
    frame.to_csv(tmp_path / "window.csv", index=False)
    cfg = _fresh(tmp_path)
    with pytest.raises(DataError, match="not inside the configured patrol windows"):
        import_allocation(cfg, tmp_path / "window.csv", now=NOW)


def test_import_with_window_outside_configured_windows_is_refused(tmp_path):
    frame = _export_frame(_published(tmp_path), tmp_path)
    treated = frame.index[(frame["date"] == "2023-03-20") & (frame["arm"] == "treatment")][0]
    frame.loc[treated, ["window_start", "window_end"]] = ["2023-03-20T09:00:00+00:00",
                                                          "2023-03-20T09:15:00+00:00"]
    frame.to_csv(tmp_path / "early.csv", index=False)
    cfg = _fresh(tmp_path)
    with pytest.raises(DataError, match="15:00-23:00"):
        import_allocation(cfg, tmp_path / "early.csv", now=NOW)


def test_import_with_wrong_patrol_length_is_refused(tmp_path):
    frame = _export_frame(_published(tmp_path), tmp_path)
    treated = frame.index[(frame["date"] == "2023-03-20") & (frame["arm"] == "treatment")][0]
    frame.loc[treated, ["window_start", "window_end"]] = ["2023-03-20T16:00:00+00:00",
                                                          "2023-03-20T18:00:00+00:00"]
    frame.to_csv(tmp_path / "long.csv", index=False)
    cfg = _fresh(tmp_path)
    with pytest.raises(DataError, match="is not 15 minutes long"):
        import_allocation(cfg, tmp_path / "long.csv", now=NOW)


def test_edited_imported_record_is_caught_by_its_import_digest(tmp_path):
    frame = _export_frame(_published(tmp_path), tmp_path)
    cfg = _fresh(tmp_path)
    frame.to_csv(tmp_path / "in.csv", index=False)
    import_allocation(cfg, tmp_path / "in.csv", now=NOW)

    def shift(v):  # move one visit by 5 minutes: still inside the window, still valid
        content = json.loads(v["payload"])
        h = sorted(content["treated"])[0]
        start, _ = (pd.Timestamp(t) for t in content["treated"][h][0])
        start += pd.Timedelta(minutes=5) if start.hour < 22 else -pd.Timedelta(minutes=5)
        content["treated"][h] = [[start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  (start + pd.Timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")]]
        v["payload"] = json.dumps(content, sort_keys=True, separators=(",", ":"))
    _rechain(cfg, shift)
    result = verify(cfg, witness=False)
    assert not result.ok and "does not match the records it wrote" in result.problem


def test_forged_import_row_with_design_breaking_record_is_caught(tmp_path):
    cfg = _published(tmp_path)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("INSERT INTO ledger_imports (imported_at, imported_by, path, file_sha256, first_day, "
                     "last_day, payloads_sha256) VALUES ('x', 'x', 'x', 'x', '2023-03-20', '2023-03-23', 'x')")

    def treat_all(v):
        content = json.loads(v["payload"])
        visit = next(iter(content["treated"].values()))
        content["treated"].update({h: visit for h in content["control"]})
        content["control"] = []
        v.update(source="imported", note="imported allocation: import 1",
                 payload=json.dumps(content, sort_keys=True, separators=(",", ":")))
    _rechain(cfg, treat_all)
    result = verify(cfg, witness=False)
    assert not result.ok and "could not come from the registered design" in result.problem


def test_concurrent_import_and_publish_leave_one_consistent_ledger(tmp_path):
    import subprocess
    import sys
    import textwrap

    from test_ledger import _env

    frame = _export_frame(_published(tmp_path, days=6), tmp_path)
    cfg = _fresh(tmp_path)
    frame.to_csv(tmp_path / "in.csv", index=False)
    code = textwrap.dedent("""
        import sys, datetime as dt
        from guardian_rct.config.trial_config import load_config
        from guardian_rct.ledger.exchange import import_allocation
        from guardian_rct.ledger.publish import publish_range
        cfg = load_config(sys.argv[1])
        now = dt.datetime(2023, 3, 20, 7, tzinfo=dt.UTC)
        try:
            if sys.argv[2] == "import":
                import_allocation(cfg, sys.argv[3], now=now)
            else:
                publish_range(cfg, dt.date(2023, 3, 20), dt.date(2023, 3, 25), now=now)
            print("done")
        except Exception as exc:
            print(type(exc).__name__, exc)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cfg.source), kind, str(tmp_path / "in.csv")],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for kind in ("import", "publish", "import", "publish")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    result = verify(cfg)
    assert result.ok and result.records == 6, (result.summary(), outs)
    assert result.imported + result.drawn == 6


def test_a_killed_import_leaves_nothing_partial(tmp_path):
    import os
    import signal
    import time

    from test_ledger import _python

    frame = _export_frame(_published(tmp_path, days=5), tmp_path)
    cfg = _fresh(tmp_path)
    frame.to_csv(tmp_path / "in.csv", index=False)
    marker = tmp_path / "inserted"
    proc = _python("""
        import sys, time, datetime as dt
        from pathlib import Path
        import guardian_rct.ledger.exchange as exchange
        from guardian_rct.config.trial_config import load_config
        original = exchange.insert_record
        count = 0
        def slow_insert(*args, **kwargs):
            global count
            record = original(*args, **kwargs)
            count += 1
            if count == 3:  # the import row and three records written inside the transaction
                Path(sys.argv[2]).write_text("x")
                time.sleep(600)
            return record
        exchange.insert_record = slow_insert
        exchange.import_allocation(load_config(sys.argv[1]), sys.argv[3],
                                   now=dt.datetime(2023, 3, 20, 7, tzinfo=dt.UTC))
    """, str(cfg.source), str(marker), str(tmp_path / "in.csv"))
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    with sqlite3.connect(cfg.trial.store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM ledger_imports").fetchone()[0] == 0
    assert not cfg.witness_path.exists()
    written = import_allocation(cfg, tmp_path / "in.csv", now=NOW)  # the retry succeeds whole
    assert len(written) == 5 and verify(cfg).ok
