"""The command line's exit without interpreter teardown (cli.exit_now) loses nothing:
the exit code, everything written to the standard streams (a pipe, buffered), the exit
handlers' work and the work of threads still running when the command returned."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_exit_now_keeps_the_code_streams_exit_handlers_and_threads(tmp_path):
    done = tmp_path / "thread-done.txt"
    handler = tmp_path / "handler.txt"
    result = _run(f"""
        import atexit, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path
        from guardian_rct.cli import exit_now

        def slow():
            time.sleep(0.5)
            Path({str(done)!r}).write_text("done")

        pool = ThreadPoolExecutor(1)
        pool.submit(slow)  # still running when the command returns
        atexit.register(lambda: Path({str(handler)!r}).write_text("ran"))
        sys.stdout.write("x" * 200_000)  # more than a pipe's buffer, not yet flushed
        sys.stderr.write("last words")
        exit_now(3)
        print("never")
    """)
    assert result.returncode == 3
    assert result.stdout == "x" * 200_000
    assert result.stderr == "last words"
    assert done.read_text() == "done"
    assert handler.read_text() == "ran"


def test_a_command_s_exit_code_and_output_reach_the_shell():
    ok = subprocess.run([sys.executable, "-m", "guardian_rct", "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip()
    bad = subprocess.run([sys.executable, "-m", "guardian_rct", "compliance", "--config", "missing.toml",
                          "--pings", "missing.parquet", "--week", "2023-W18", "--out", "out"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    # The config's error, as before the pings were hashed early: a missing ping file is
    # left for its own check, after the config's.
    assert "missing.toml: config file not found" in bad.stderr
