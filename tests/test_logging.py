"""Logging: silent as a library, configured by -v/-q/--log-file on the command line."""

from __future__ import annotations

import io
import logging
import sys

from guardian_rct._core import log
from guardian_rct.cli import main


def test_library_logger_has_a_null_handler_and_prints_nothing(capsys):
    log.reset()  # undo what earlier CLI runs in this process configured
    root = logging.getLogger(log.ROOT)
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    log.get_logger("guardian_rct.test").warning("should not appear on stderr by itself")
    assert "should not appear" not in capsys.readouterr().err


def test_levels_and_log_file(tmp_path, capsys):
    path = tmp_path / "logs" / "run.log"
    try:
        log.configure(0, log_file=path)
        logger = log.get_logger("guardian_rct.test")
        logger.info("an info line")
        logger.warning("a warning line")
        err = capsys.readouterr().err
        assert "a warning line" in err and "an info line" not in err
        text = path.read_text(encoding="utf-8")
        assert "an info line" in text and "a warning line" in text  # the file gets everything
        log.configure(1)
        logger.info("now shown")
        assert "now shown" in capsys.readouterr().err
        log.configure(0, quiet=True)
        logger.warning("hidden when quiet")
        assert "hidden when quiet" not in capsys.readouterr().err
        assert not log.progress_enabled()
    finally:
        log.reset()


def test_progress_draws_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    log.set_progress(None)
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert list(log.progress(range(5), total=5, desc="steps")) == [0, 1, 2, 3, 4]
    assert plain.getvalue() == ""
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert list(log.progress(range(5), total=5, desc="steps")) == [0, 1, 2, 3, 4]
    assert "steps" in tty.getvalue() and "5/5" in tty.getvalue()


def test_every_verb_accepts_the_logging_flags(tmp_path):
    """-v and --log-file parse on a real verb; a config error still exits 2 and is logged."""
    path = tmp_path / "cli.log"
    code = main(["init", "--config", str(tmp_path / "missing.toml"), "-v", "--log-file", str(path)])
    assert code == 2
    assert path.exists()
    log.configure(0)
    assert main(["init", "--config", "x.toml", "-v", "-q"]) == 2  # -v and -q exclude each other
