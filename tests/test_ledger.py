"""The ledger: stored not redrawn, deterministic, concurrent, crash-safe, tamper-evident,
concealed; with real processes and a real SQLite file."""

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_trial
from guardian_rct._core.errors import DataError, StoreError, UsageError
from guardian_rct.config.trial_config import load_config
from guardian_rct.design.allocation import read_allocation_csv
from guardian_rct.design.constraints import check_constraints
from guardian_rct.design.daily_draw import draw_schedule_payload
from guardian_rct.design.factory import design_from_config
from guardian_rct.ledger.exchange import export_allocation, import_allocation
from guardian_rct.ledger.publish import publish, publish_range, published, published_allocation
from guardian_rct.ledger.records import SIMULATED_NOTE
from guardian_rct.ledger.store import init_trial, load_trial_hotspots
from guardian_rct.ledger.verify import verify

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2023, 3, 20, 7, 0, tzinfo=dt.UTC)  # experimental day 2023-03-20
START = dt.date(2023, 3, 20)


def _env():
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT / 'tests'}"}


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardian_rct", *args], env=_env(),
                          capture_output=True, text=True, timeout=120)


def _trial(tmp_path, **kwargs):
    cfg = load_config(write_trial(tmp_path, **kwargs))
    init_trial(cfg)
    return cfg


def _rows(cfg):
    with sqlite3.connect(cfg.trial.store) as conn:
        try:
            return conn.execute("SELECT seq, day, payload, hash FROM ledger ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return []


def test_publish_returns_the_stored_schedule_byte_for_byte(tmp_path):
    cfg = _trial(tmp_path)
    first = publish(cfg, START, now=NOW)
    content = first.content
    assert first.seq == 1 and first.source == "drawn" and first.note == ""
    assert len(content["treated"]) == 3 and len(content["control"]) == 3
    assert sorted([*content["treated"], *content["control"]]) == [f"H0{i}" for i in range(1, 7)]
    later = NOW + dt.timedelta(hours=5)
    again = publish(load_config(cfg.source), START, now=later)
    assert again == first  # payload, hash and original published_at
    assert _rows(cfg) == [(1, "2023-03-20", first.payload, first.hash)]


def test_publishing_a_day_fills_earlier_days_and_chains(tmp_path):
    cfg = _trial(tmp_path)
    record = publish(cfg, START + dt.timedelta(days=4), now=NOW)
    assert record.seq == 5
    records = published(cfg)
    assert [r.day for r in records] == [START + dt.timedelta(days=i) for i in range(5)]
    for a, b in zip(records, records[1:], strict=False):
        assert b.prev_hash == a.hash
    result = verify(cfg)
    assert result.ok and result.records == 5 and result.redrawn == 5


def test_any_day_regenerates_independently_in_another_process(tmp_path):
    cfg = _trial(tmp_path)
    records = publish_range(cfg, START, START + dt.timedelta(days=6), now=NOW)
    proc = _python("""
        import sys, datetime as dt
        from guardian_rct.config.trial_config import load_config
        from guardian_rct.design.factory import design_from_config
        from guardian_rct.design.daily_draw import draw_schedule_payload
        from guardian_rct.ledger.store import load_trial_hotspots
        cfg = load_config(sys.argv[1])
        design = design_from_config(cfg, load_trial_hotspots(cfg))
        print(draw_schedule_payload(cfg, design, dt.date(2023, 3, 25), None))
    """, str(cfg.source))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == records[5].payload
    # a second trial with the same config (its own store) publishes identical schedules
    other = tmp_path / "other"
    other.mkdir()
    cfg2 = _trial(other)
    assert [r.payload for r in publish_range(cfg2, START, START + dt.timedelta(days=6), now=NOW)] \
        == [r.payload for r in records]
    # a different seed gives different schedules
    third = tmp_path / "third"
    third.mkdir()
    path = write_trial(third)
    path.write_text(path.read_text().replace("seed = 20230320", "seed = 7"))
    cfg3 = load_config(path)
    init_trial(cfg3)
    assert [r.payload for r in publish_range(cfg3, START, START + dt.timedelta(days=6), now=NOW)] \
        != [r.payload for r in records]


def test_concurrent_processes_publish_one_schedule(tmp_path):
    cfg = _trial(tmp_path)
    go = tmp_path / "go"
    code = """
        import sys, time, datetime as dt
        from pathlib import Path
        from guardian_rct.config.trial_config import load_config
        from guardian_rct.ledger.publish import publish_range
        cfg = load_config(sys.argv[1])
        now = dt.datetime(2023, 3, 20, 7, tzinfo=dt.UTC)
        Path(sys.argv[3]).write_text("ready")
        while not Path(sys.argv[2]).exists():  # start together
            time.sleep(0.001)
        records = publish_range(cfg, dt.date(2023, 3, 20), dt.date(2023, 3, 24), now=now)
        print("|".join(r.hash for r in records))
    """
    ready = [tmp_path / f"ready{i}" for i in range(3)]
    procs = [_python(code, str(cfg.source), str(go), str(r)) for r in ready]
    deadline = time.time() + 60
    while not all(r.exists() for r in ready):
        assert all(p.poll() is None for p in procs) and time.time() < deadline
        time.sleep(0.01)
    go.write_text("go")
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    outputs = {out.strip() for out, _ in results}
    assert len(outputs) == 1
    rows = _rows(cfg)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert "|".join(r[3] for r in rows) == outputs.pop()
    assert verify(cfg).ok


def test_a_killed_publisher_leaves_no_partial_record(tmp_path):
    cfg = _trial(tmp_path)
    marker = tmp_path / "inserted"
    proc = _python("""
        import sys, time, datetime as dt
        from pathlib import Path
        import guardian_rct.ledger.publish as ledger
        from guardian_rct.config.trial_config import load_config
        original = ledger.insert_record
        count = 0
        def slow_insert(*args, **kwargs):
            global count
            record = original(*args, **kwargs)
            count += 1
            if count == 3:  # three rows written inside the open transaction
                Path(sys.argv[2]).write_text("x")
                time.sleep(600)
            return record
        ledger.insert_record = slow_insert
        cfg = load_config(sys.argv[1])
        ledger.publish_range(cfg, dt.date(2023, 3, 20), dt.date(2023, 3, 24),
                             now=dt.datetime(2023, 3, 20, 7, tzinfo=dt.UTC))
    """, str(cfg.source), str(marker))
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _rows(cfg) == []
    empty = verify(cfg)  # nothing was committed: an empty ledger, which verify never calls OK
    assert not empty.ok and "has no records" in empty.problem
    assert not cfg.witness_path.exists()  # the witness is written only after a commit
    records = publish_range(cfg, START, START + dt.timedelta(days=4), now=NOW)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5] and verify(cfg).ok


def _tampered(tmp_path, sql, params=()):
    cfg = _trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=5), now=NOW)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute(sql, params)
    return cfg


def test_verify_detects_an_edited_record(tmp_path):
    cfg = _tampered(tmp_path, "UPDATE ledger SET payload = replace(payload, '\"H0', '\"h0') "
                              "WHERE seq = 3")
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 3 and result.bad_day == dt.date(2023, 3, 22)
    assert "do not match its hash" in result.problem
    proc = _cli("ledger", "verify", "--config", str(cfg.source))
    assert proc.returncode == 1
    assert "record 3 (day 2023-03-22)" in proc.stdout + proc.stderr


def test_verify_detects_an_edit_with_recomputed_hashes(tmp_path):
    """A careful forger rewrites record 3 and re-chains every later record and the head:
    the chain then holds, but the draw no longer matches the seed."""
    from guardian_rct.ledger.records import record_hash
    from guardian_rct.ledger.schema import LEDGER_COLUMNS as _COLUMNS

    cfg = _trial(tmp_path)
    records = publish_range(cfg, START, START + dt.timedelta(days=5), now=NOW)
    forged = []
    prev = records[1].hash
    for r in records[2:]:
        values = {c: getattr(r, c) for c in _COLUMNS}
        if r.seq == 3:
            content = r.content
            treated, control = content["treated"], content["control"]
            t, c = sorted(treated)[0], control[0]
            treated[c] = treated.pop(t)
            control = sorted([*control[1:], t])
            values["payload"] = json.dumps({**content, "treated": treated, "control": control},
                                           sort_keys=True, separators=(",", ":"))
            assert values["payload"] != r.payload
        values["prev_hash"] = prev
        values["day"] = r.day.isoformat()
        values["hash"] = prev = record_hash(values)
        forged.append(values)
    with sqlite3.connect(cfg.trial.store) as conn:
        for v in forged:
            conn.execute("UPDATE ledger SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (v["payload"], v["prev_hash"], v["hash"], v["seq"]))
        conn.execute("UPDATE ledger_head SET hash = ?", (prev,))
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 3 and "differs from the draw" in result.problem
    # without re-drawing, the witness file exposes it by default ...
    witnessed = verify(cfg, redraw=False)
    assert not witnessed.ok and "witness file says record" in witnessed.problem
    # ... and without the witness, the noted head from the daily log still does
    assert verify(cfg, redraw=False, witness=False).ok
    noted = verify(cfg, redraw=False, witness=False, expected_head=records[-1].hash)
    assert not noted.ok and "no longer in the ledger" in noted.problem


def test_verify_detects_a_wiped_ledger_after_an_export(tmp_path):
    cfg = _trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=2), now=NOW)
    export_allocation(cfg, tmp_path / "a.csv", evaluator="Dr E", now=NOW)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("DELETE FROM ledger")
        conn.execute("DELETE FROM ledger_head")
    result = verify(cfg)
    assert not result.ok and "exported to Dr E" in result.problem


def test_verify_detects_a_deleted_record(tmp_path):
    cfg = _tampered(tmp_path, "DELETE FROM ledger WHERE seq = 2")
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 3 and "deleted or inserted" in result.problem


def test_verify_detects_deletion_of_the_last_record(tmp_path):
    cfg = _tampered(tmp_path, "DELETE FROM ledger WHERE seq = 6")
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 5 and "head" in result.problem


def test_verify_detects_an_inserted_record(tmp_path):
    cfg = _trial(tmp_path)
    records = publish_range(cfg, START, START + dt.timedelta(days=3), now=NOW)
    fake = records[1]
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute("UPDATE ledger SET seq = -seq WHERE seq >= 3")
        conn.execute("UPDATE ledger SET seq = 1 - seq WHERE seq < 0")
        conn.execute("INSERT INTO ledger VALUES (3, '2023-03-21b', 'drawn', ?, ?, ?, ?, '', ?, ?, ?, ?)",
                     (fake.payload, fake.config_sha256, fake.hotspots_sha256, fake.published_at,
                      fake.package_version, fake.numpy_version, fake.hash, "0" * 64))
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 3


def test_verify_detects_an_appended_forgery_with_a_valid_chain(tmp_path):
    from guardian_rct.ledger.records import record_hash
    from guardian_rct.ledger.schema import LEDGER_COLUMNS as _COLUMNS

    cfg = _trial(tmp_path)
    records = publish_range(cfg, START, START + dt.timedelta(days=3), now=NOW)
    values = {c: getattr(records[0], c) for c in _COLUMNS}
    values.update(seq=5, day="2023-03-24", prev_hash=records[-1].hash,
                  payload=records[0].payload.replace("2023-03-20", "2023-03-24"))
    values["hash"] = record_hash(values)
    with sqlite3.connect(cfg.trial.store) as conn:
        conn.execute(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 12)})",
                     tuple(values[c] for c in _COLUMNS))
        conn.execute("UPDATE ledger_head SET seq = 5, hash = ?", (values["hash"],))
    result = verify(cfg)
    assert not result.ok and result.bad_seq == 5 and "differs from the draw" in result.problem


def test_bad_input_is_refused_and_nothing_written(tmp_path):
    cfg = _trial(tmp_path)
    publish(cfg, START, now=NOW)
    before = _rows(cfg)
    with pytest.raises(UsageError, match="2023-04-11 is outside the trial.*2023-03-20 to 2023-04-10"):
        publish(cfg, dt.date(2023, 4, 11), now=NOW)
    with pytest.raises(UsageError, match="outside the trial"):
        publish(cfg, dt.date(2023, 3, 19), now=NOW)
    with pytest.raises(UsageError, match=r"2023-03-28 is beyond the publishing horizon.*no later "
                                         r"than 2023-03-27"):
        publish(cfg, dt.date(2023, 3, 28), now=NOW)
    assert _rows(cfg) == before
    # a config edited after registration (the design changed)
    path = cfg.source
    original = path.read_text()
    path.write_text(original.replace("treated_per_day = 3", "treated_per_day = 4"))
    with pytest.raises(StoreError, match="design.treated_per_day"):
        publish(load_config(path), START + dt.timedelta(days=1), now=NOW)
    # a store from another trial
    path.write_text(original.replace('name = "Test trial"', 'name = "Other trial"'))
    with pytest.raises(StoreError, match="belongs to another trial"):
        publish(load_config(path), START + dt.timedelta(days=1), now=NOW)
    path.write_text(original)
    assert _rows(cfg) == before
    # a missing store is not created
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    cfg2 = load_config(write_trial(fresh))
    with pytest.raises(StoreError, match="trial store not found"):
        publish(cfg2, START, now=NOW)
    assert not cfg2.trial.store.exists()


def test_horizon_moves_with_today_and_simulation_is_recorded(tmp_path):
    cfg = _trial(tmp_path)
    assert publish(cfg, START + dt.timedelta(days=7), now=NOW).note == ""
    # 05:30 local on the 21st is still experimental day 2023-03-20
    early = dt.datetime(2023, 3, 21, 5, 30, tzinfo=dt.UTC)
    with pytest.raises(UsageError, match="horizon"):
        publish(cfg, START + dt.timedelta(days=8), now=early)
    assert publish(cfg, START + dt.timedelta(days=8), now=early + dt.timedelta(hours=1)).seq == 9
    records = publish_range(cfg, START, cfg.trial.end_date, now=NOW, simulated=True)
    assert len(records) == cfg.trial.n_days
    assert {r.note for r in records[9:]} == {SIMULATED_NOTE}
    assert verify(cfg).ok


def test_constrained_design_through_the_ledger(tmp_path):
    cfg = _trial(tmp_path, design="treated_per_block_per_day = 1\nmax_consecutive_control_days = 3\n"
                                  "min_gap_days = 1")
    publish_range(cfg, START, cfg.trial.end_date, now=NOW, simulated=True)
    allocation = published_allocation(cfg)
    hotspots = load_trial_hotspots(cfg)
    days, matrix = allocation.assignment_matrix(hotspots.ids)
    assert len(days) == cfg.trial.n_days
    assert check_constraints(matrix, max_control=3, min_gap=1) == []
    blocks = hotspots.blocks
    assert (matrix[:, blocks == "A"].sum(1) == 1).all() and (matrix[:, blocks == "B"].sum(1) == 1).all()
    result = verify(cfg)
    assert result.ok and result.redrawn == cfg.trial.n_days
    # day D's draw depends on the published days before it: verify re-derives it from them
    design = design_from_config(cfg, hotspots)
    record = published(cfg)[10]
    assert draw_schedule_payload(cfg, design, record.day, matrix[:10]) == record.payload


def test_parallel_design_keeps_its_arms_every_day(tmp_path):
    path = write_trial(tmp_path, design='n_treated = 3')
    path.write_text(path.read_text().replace('kind = "crossover"', 'kind = "parallel"'))
    cfg = load_config(path)
    init_trial(cfg)
    records = publish_range(cfg, START, START + dt.timedelta(days=6), now=NOW)
    arms = {tuple(sorted(r.content["treated"])) for r in records}
    assert len(arms) == 1 and len(arms.pop()) == 3
    times = {json.dumps(r.content["treated"]) for r in records}
    assert len(times) == 7  # the windows are drawn afresh each day
    assert verify(cfg).ok


def test_export_and_import_round_trip(tmp_path):
    cfg = _trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=4), now=NOW)
    out = tmp_path / "allocation.csv"
    result = export_allocation(cfg, out, evaluator="Dr Evaluator", now=NOW)
    assert result.rows == 5 * 6 and result.first_day == START
    exported = read_allocation_csv(out)
    assert set(exported.frame["arm"]) == {"treatment", "control"}
    assert "+00:00" in out.read_text()  # local offset (GMT in March before the change)
    with sqlite3.connect(cfg.trial.store) as conn:
        assert conn.execute("SELECT evaluator FROM ledger_exports").fetchall() == [("Dr Evaluator",)]
    with pytest.raises(UsageError, match="evaluator"):
        export_allocation(cfg, out, evaluator="  ")

    other = tmp_path / "b"
    other.mkdir()
    cfg_b = _trial(other)
    written = import_allocation(cfg_b, out, now=NOW)
    assert [r.source for r in written] == ["imported"] * 5
    pd.testing.assert_frame_equal(published_allocation(cfg_b).frame, published_allocation(cfg).frame)
    check = verify(cfg_b)
    assert check.ok and check.redrawn == 0 and check.records == 5
    assert import_allocation(cfg_b, out, now=NOW) == ()  # already there, identical
    # later days are drawn as usual and agree with the original store (same seed)
    assert publish(cfg_b, START + dt.timedelta(days=5), now=NOW).payload == \
        publish(cfg, START + dt.timedelta(days=5), now=NOW).payload


def test_import_refuses_gaps_conflicts_and_partial_days(tmp_path):
    cfg = _trial(tmp_path)
    publish_range(cfg, START, START + dt.timedelta(days=2), now=NOW)
    out = tmp_path / "allocation.csv"
    export_allocation(cfg, out, evaluator="E", now=NOW)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    other = tmp_path / "b"
    other.mkdir()
    cfg_b = _trial(other)
    frame[frame["date"] != "2023-03-20"].to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(DataError, match="gap before 2023-03-21"):
        import_allocation(cfg_b, tmp_path / "gap.csv")
    frame[frame["hotspot_id"] != "H02"].to_csv(tmp_path / "partial.csv", index=False)
    with pytest.raises(DataError, match="does not list every hotspot"):
        import_allocation(cfg_b, tmp_path / "partial.csv")
    assert _rows(cfg_b) == []
    swapped = frame.copy()
    swapped.loc[swapped["date"] == "2023-03-20", "arm"] = swapped.loc[
        swapped["date"] == "2023-03-20", "arm"].map({"treatment": "control", "control": "treatment"})
    swapped.loc[swapped["arm"] == "control", ["window_start", "window_end"]] = ""
    swapped.loc[swapped["arm"] == "treatment", "window_start"] = "2023-03-20T16:00:00+00:00"
    swapped.loc[swapped["arm"] == "treatment", "window_end"] = "2023-03-20T16:15:00+00:00"
    swapped = swapped.drop_duplicates(["date", "hotspot_id"])
    swapped.to_csv(tmp_path / "conflict.csv", index=False)
    with pytest.raises(StoreError, match="already published with a different schedule"):
        import_allocation(cfg, tmp_path / "conflict.csv")


def test_published_allocation_contract(tmp_path):
    cfg = _trial(tmp_path, design="treated_per_day = 2\nvisits_per_day = 2\nvisit_spacing_minutes = 60")
    publish_range(cfg, START, START + dt.timedelta(days=2), now=NOW)
    allocation = published_allocation(cfg, first=START + dt.timedelta(days=1))
    frame = allocation.frame
    assert allocation.days == [START + dt.timedelta(days=1), START + dt.timedelta(days=2)]
    treated = frame[frame["arm"] == "treatment"]
    assert len(treated) == 2 * 2 * 2 and treated["window_start"].notna().all()
    assert (treated["window_end"] - treated["window_start"] == pd.Timedelta(minutes=15)).all()
    assert frame.loc[frame["arm"] == "control", "window_start"].isna().all()
    with pytest.raises(StoreError, match="no published schedules"):
        published_allocation(cfg, first=dt.date(2023, 4, 1))
    assert np.array_equal(sorted(set(frame["hotspot_id"])), [f"H0{i}" for i in range(1, 7)])
