"""``guardian-rct new`` and the generated config reference (issue 13, item 1)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from guardian_rct.cli import main
from guardian_rct.config.reference import all_keys, config_markdown
from guardian_rct.config.trial_config import _SECTIONS, OutcomeSpec, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_key_has_help_text():
    for cls in [*_SECTIONS.values(), OutcomeSpec]:
        for f in dataclasses.fields(cls):
            if cls is OutcomeSpec and f.name == "name":
                continue
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no metadata['help']"


def test_docs_config_md_is_current():
    page = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert page == config_markdown(), "docs/config.md is out of date: run python scripts/build_config_docs.py"
    for key in all_keys():
        assert f"| `{key.name}` |" in page


def test_new_writes_a_template_that_loads_lists_every_key_and_registers(tmp_path, capsys):
    folder = tmp_path / "mytrial"
    assert main(["new", str(folder), "--start", "2023-05-01", "--days", "28", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    text = (folder / "trial.toml").read_text()
    for key in all_keys():
        assert f"{key.name} = " in text, key   # set, or commented out with its default
    config = load_config(folder / "trial.toml")
    assert config.trial.seed == 42 and config.trial.n_days == 28
    assert config.hotspots.path == (folder / "hotspots.geojson").resolve() and config.hotspots.path.is_file()
    # uncommenting a key gives exactly its default: the template's defaults are the schema's
    raw = tomllib.loads(text)
    names = "|".join(k.name for k in all_keys())
    setting = re.compile(rf"^# ({names}) = (?!\(unset\))")
    lines = text.split("# [outcomes.robbery]")[0].splitlines()
    uncommented = "\n".join(line[2:] if setting.match(line) else line for line in lines)
    assert uncommented != "\n".join(lines)
    assert load_config_text(uncommented, folder) == load_config_text(text, folder)
    assert raw["trial"]["seed"] == 42
    nxt = [line.strip() for line in out.splitlines() if line.startswith("  guardian-rct")]
    assert len(nxt) == 3 and nxt[0].startswith("guardian-rct init")
    assert main(nxt[0].split()[1:]) == 0


def load_config_text(text: str, folder: Path):
    path = folder / "probe.toml"
    path.write_text(text)
    cfg = load_config(path)
    return (cfg.trial, cfg.hotspots, cfg.design, cfg.schedule, cfg.compliance, cfg.harm, cfg.evaluation)


def test_new_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "t"
    assert main(["new", str(folder), "--seed", "1"]) == 0
    before = (folder / "trial.toml").read_bytes()
    assert main(["new", str(folder), "--seed", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (folder / "trial.toml").read_bytes() == before


@pytest.mark.parametrize("args, message", [(["--hotspots", "nope.geojson"], "not found"),
                                           (["--days", "0"], "--days must be at least 1")])
def test_new_bad_input_is_one_line(tmp_path, capsys, args, message):
    code = main(["new", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code in (1, 2) and message in err and len(err.strip().splitlines()) == 1


def test_build_config_docs_check_mode():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_config_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
