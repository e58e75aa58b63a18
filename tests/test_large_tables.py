"""The row-level tables that grow with the pings (visits, quarantine) as Parquet, CSV or both.

``[outputs] large_tables`` (and ``--large-tables``) choose the format; the Parquet and CSV
forms must hold the same rows, the report and the CLI must name the files actually
written, a bad value is a config error naming the key, and the quarantine must be written
with bounded memory however many rows are bad (checked on all-bad files of two sizes).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from guardian_rct._core.errors import ConfigError
from guardian_rct._core.formula_safe import escape_cell
from guardian_rct._core.pseudonyms import Pseudonymiser
from guardian_rct._core.quarantine import QuarantineSpool, quarantine_rows
from guardian_rct.cli import main
from guardian_rct.config.trial_config import load_config
from test_compliance_report import _make_trial

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("device_id", "officer_id", "timestamp", "lat", "lon")


def _quarantine(max_rows: int):
    """A quarantine of 1,000 rows in 10 chunks (formula-like, multi-line and empty cells)."""
    spool = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows)
    for c in range(10):
        rows = pd.DataFrame({"device_id": [f"R-{i % 7}" for i in range(100)],
                             "officer_id": [f"PC-{i % 5}" if i % 9 else "" for i in range(100)],
                             "timestamp": ["=1+1" if i % 13 == 0 else f"2023-05-01T10:{i % 60:02d}:00"
                                           for i in range(100)],
                             "lat": ["two\nlines" if i % 17 == 0 else "52.4" for i in range(100)],
                             "lon": ["-1.9"] * 100})
        spool.add(quarantine_rows(rows, "timestamp without offset", source=f"pings-{c}.csv",
                                  source_row=pd.Series(np.arange(100) + 100 * c + 1)))
    return spool.finish()


@pytest.mark.parametrize("max_rows", [10_000, 150], ids=["in memory", "spilled"])
def test_quarantine_parquet_and_csv_hold_the_same_rows(tmp_path, max_rows):
    quarantine = _quarantine(max_rows)
    assert (quarantine.spilled is not None) == (max_rows == 150)
    officers = Pseudonymiser(b"k" * 32)
    ids = {"officer_id": officers.many, "device_id": officers.for_devices().many}
    csv = pd.read_csv(quarantine.write_csv(tmp_path / "q.csv", ids), dtype=str, keep_default_na=False)
    parquet_path = quarantine.write_parquet(tmp_path / "q.parquet", ids)
    table = pq.read_table(parquet_path)
    assert table.schema.field("source_row").type == "int64"
    assert all(str(f.type) == "string" for f in table.schema if f.name != "source_row")
    parquet = table.to_pandas()
    assert list(parquet.columns) == list(csv.columns) == ["source", "source_row", "reason", *COLUMNS]
    assert len(parquet) == len(csv) == 1000
    assert parquet["source_row"].tolist() == list(range(1, 1001))  # file order, every row
    # Same cells; the CSV's formula-like cells carry the spreadsheet escape, Parquet the raw text.
    for col in parquet.columns:
        expected = parquet[col].astype(str).map(escape_cell) if col != "source_row" else parquet[col].astype(str)
        assert expected.tolist() == csv[col].tolist(), col
    assert (parquet["timestamp"] == "=1+1").sum() == 80 and (csv["timestamp"] == "'=1+1").sum() == 80
    assert (parquet["lat"] == "two\nlines").sum() == 60
    given = parquet["officer_id"] != ""
    assert parquet.loc[given, "officer_id"].str.match(r"^O-[0-9a-f]{16}$").all() and (~given).sum() == 120
    assert not parquet["device_id"].str.startswith("R-").any()


def test_an_empty_quarantine_writes_a_parquet_file_with_its_columns(tmp_path):
    empty = QuarantineSpool(COLUMNS).finish()
    table = pq.read_table(empty.write_parquet(tmp_path / "q.parquet"))
    assert table.num_rows == 0 and table.column_names == ["source", "source_row", "reason", *COLUMNS]


def test_the_parquet_writer_never_replaces_an_input_and_leaves_no_half_file(tmp_path):
    quarantine = _quarantine(150)
    victim = tmp_path / "pings.parquet"
    victim.write_bytes(b"the user's pings")
    with pytest.raises(Exception, match="input"):
        quarantine.write_parquet(victim, inputs=[victim])
    assert victim.read_bytes() == b"the user's pings"

    def broken(values):
        raise RuntimeError("disk full half-way")

    target = tmp_path / "q.parquet"
    target.write_bytes(b"last week's complete file")
    with pytest.raises(RuntimeError, match="half-way"):
        quarantine.write_parquet(target, {"officer_id": broken})
    assert target.read_bytes() == b"last week's complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pings.parquet", "q.parquet"]  # no temporary left


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return _make_trial(tmp_path_factory.mktemp("large-tables"))


def _compliance(made, out: Path, *extra: str) -> tuple[int, dict]:
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out),
                 "--json", *extra])
    return code, json.loads((out / "weekly_compliance.json").read_text()) if code == 0 else {}


def _with_key(made, tmp_path: Path, value: str) -> Path:
    text = Path(made["config"]).read_text() + f'\n[outputs]\nlarge_tables = "{value}"\n'
    path = Path(made["config"]).parent / f"trial-{value}-{tmp_path.name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("value, written", [("parquet", {"parquet"}), ("csv", {"csv"}),
                                            ("both", {"parquet", "csv"})])
def test_each_value_of_the_key_writes_its_files_and_the_report_names_them(made, tmp_path, capsys, value, written):
    config = _with_key(made, tmp_path, value)
    out = tmp_path / "out"
    code, report = _compliance({**made, "config": config}, out)
    assert code == 0, capsys.readouterr().err
    for stem in ("compliance_visits", "quarantine"):
        assert {ext for ext in ("parquet", "csv") if (out / f"{stem}.{ext}").exists()} == written
    assert report["tables"]["quarantine"] == [f"quarantine.{e}" for e in ("parquet", "csv") if e in written]
    html = (out / "weekly_compliance.html").read_text()
    for ext in ("parquet", "csv"):
        assert (f'href="quarantine.{ext}"' in html) == (ext in written)
        assert (f'href="compliance_visits.{ext}"' in html) == (ext in written)
    assert ("--large-tables csv" in html) == ("csv" not in written)  # how to get CSV, when there is none
    n_bad = report["pings"]["quarantined"]
    assert n_bad > 0
    if "csv" in written:
        assert len(pd.read_csv(out / "quarantine.csv")) == n_bad
    if "parquet" in written:
        assert len(pd.read_parquet(out / "quarantine.parquet")) == n_bad
    if written == {"parquet", "csv"}:  # the two forms hold the same rows
        q_csv = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
        q_pq = pd.read_parquet(out / "quarantine.parquet")
        assert q_pq.astype(str).values.tolist() == q_csv.values.tolist()
        v_csv = pd.read_csv(out / "compliance_visits.csv")
        v_pq = pd.read_parquet(out / "compliance_visits.parquet").drop(columns="geometry")
        assert len(v_csv) == len(v_pq) > 10
        assert v_csv["device_id"].tolist() == v_pq["device_id"].tolist()
        assert (pd.to_datetime(v_csv["start"], utc=True) == v_pq["start"]).all()
        assert np.allclose(v_csv["minutes"], v_pq["minutes"])


def test_the_flag_overrides_the_key_and_stale_files_of_the_other_format_go(made, tmp_path, capsys):
    out = tmp_path / "out"
    assert _compliance({**made, "config": _with_key(made, tmp_path, "csv")}, out)[0] == 0
    assert (out / "quarantine.csv").exists() and not (out / "quarantine.parquet").exists()
    capsys.readouterr()
    code, report = _compliance({**made, "config": _with_key(made, tmp_path, "csv")}, out, "--large-tables", "parquet")
    assert code == 0
    assert (out / "quarantine.parquet").exists() and not (out / "quarantine.csv").exists()
    assert not (out / "compliance_visits.csv").exists()
    files = json.loads(capsys.readouterr().out)
    assert "quarantine_parquet" in files["files"] and "quarantine" not in files["files"]


def test_the_cli_summary_names_the_files_written(made, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "compliance_visits.parquet, quarantine.parquet (--large-tables csv" in text
    assert ".csv" not in text.split("visits and quarantined rows:")[1]


def test_a_bad_value_is_a_config_error_naming_the_key(made, tmp_path, capsys):
    config = _with_key(made, tmp_path, "xlsx")
    with pytest.raises(ConfigError, match=r"outputs\.large_tables") as caught:
        load_config(config)
    assert "'parquet', 'csv', 'both'" in str(caught.value) and "xlsx" in str(caught.value)
    code = main(["compliance", "--config", str(config), "--pings", str(made["pings"]), "--week", "2023-W18",
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "large_tables" in capsys.readouterr().err
    assert main(["compliance", "--config", str(made["config"]), "--pings", str(made["pings"]),
                 "--week", "2023-W18", "--out", str(tmp_path / "o"), "--large-tables", "xlsx"]) == 2


def _all_bad_run(made, work: Path, n: int) -> int:
    """Peak RSS (kB) of ``compliance`` on ``n`` unusable pings (a fresh process)."""
    rng = np.random.default_rng(n)
    start = pd.Timestamp("2023-05-01T06:00:00")
    frame = pd.DataFrame({
        "device_id": np.char.add("R-", rng.integers(0, 600, n).astype(str)),
        "timestamp": (start + pd.to_timedelta(rng.integers(0, 7 * 86400, n), unit="s")).strftime(
            "%Y-%m-%dT%H:%M:%S"),  # no offset: every row quarantined
        "x": rng.uniform(406000, 408000, n), "y": rng.uniform(286000, 288000, n),
        "officer_id": np.char.add("PC-", rng.integers(0, 600, n).astype(str))})
    pings = work / f"bad-{n}.parquet"
    frame.to_parquet(pings, row_group_size=200_000)
    del frame
    out = work / f"out-{n}"
    script = (
        "import sys\n"
        "from guardian_rct.cli import main\n"
        "code = main(sys.argv[1:])\n"
        # VmHWM: this process's own peak (ru_maxrss would include the forked test process's)
        "print('RSS', [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])\n"
        "sys.exit(code)\n")
    run = subprocess.run([sys.executable, "-c", script, "compliance", "--config", str(made["config"]),
                          "--pings", str(pings), "--allocation", str(made["allocation"]), "--week", "2023-W18",
                          "--out", str(out), "--quiet", "--chunk-rows", "50000"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin"})
    assert run.returncode == 0, run.stderr
    assert pq.read_metadata(out / "quarantine.parquet").num_rows == n  # every row, streamed out
    assert not (out / "quarantine.csv").exists()
    return int(re.search(r"RSS (\d+)", run.stdout).group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc (Linux)")
def test_quarantine_memory_stays_bounded_on_all_bad_input(made, tmp_path):
    """Three times the bad rows must not cost memory in proportion: 1.2 M more rows held in
    pandas would add well over 0.3 GB; spooled to disk and streamed to Parquet they add
    little. Chunks of 50,000 rows, so that both runs fill the reading/checking/duplicate
    pipeline (about nine chunks in flight) and the difference is what accumulates."""
    small = _all_bad_run(made, tmp_path, 600_000)
    large = _all_bad_run(made, tmp_path, 1_800_000)
    growth_mb = (large - small) / 1024
    assert growth_mb < 120, f"peak RSS grew {growth_mb:.0f} MB from 0.6 M to 1.8 M bad rows"


def test_a_stale_name_that_is_an_input_is_never_removed(made, tmp_path, capsys):
    """The pings themselves saved as ``--out/quarantine.csv``: a Parquet run removes stale
    CSVs of the large tables, but never a file it reads."""
    out = tmp_path / "out"
    out.mkdir()
    pings = out / "quarantine.csv"
    pings.write_bytes(Path(made["pings"]).read_bytes())
    before = pings.read_bytes()
    code = main(["compliance", "--config", str(made["config"]), "--pings", str(pings),
                 "--allocation", str(made["allocation"]), "--week", "2023-W18", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert pings.read_bytes() == before and (out / "quarantine.parquet").exists()


@pytest.mark.parametrize("max_rows", [10_000, 150], ids=["in memory", "spilled"])
def test_a_spool_gathering_its_additions_keeps_every_row_in_order(max_rows):
    """Additions are conformed in batches (batch_rows): the rows, their order, the counts
    and the spill must be those of conforming each addition alone."""
    def spool_rows(batch_rows: int):
        spool = QuarantineSpool(COLUMNS, max_rows_in_memory=max_rows, batch_rows=batch_rows)
        for c in range(12):
            n = 7 + 13 * c
            rows = pd.DataFrame({"device_id": [f"R-{c}-{i}" for i in range(n)], "lat": ["52.4"] * n})
            spool.add(quarantine_rows(rows, f"reason {c % 3}", source=f"f{c % 2}.csv",
                                      source_row=pd.Series(np.arange(n) + 1000 * c)))
        q = spool.finish()
        return q, pd.concat(list(q.iter_frames()), ignore_index=True) if q.spilled else q.frame

    one, one_rows = spool_rows(1)
    many, many_rows = spool_rows(500)
    pd.testing.assert_frame_equal(one_rows, many_rows)
    assert one.counts() == many.counts() and (one.spilled is None) == (many.spilled is None) == (max_rows > 1000)
    assert many_rows["device_id"].iloc[[0, -1]].tolist() == ["R-0-0", "R-11-149"]
