import datetime as dt
import textwrap

import pytest

from conftest import write_trial
from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import load_config, parse_window


def test_loads_reference_keys_and_resolves_paths(trial_toml):
    cfg = load_config(trial_toml)
    assert cfg.trial.start_date == dt.date(2023, 3, 20)
    assert cfg.trial.n_days == 22
    assert cfg.trial.store == trial_toml.parent / "trial.db"
    assert cfg.hotspots.path == trial_toml.parent / "hotspots.geojson"
    assert cfg.design.treated_per_day == 3
    assert str(cfg.design.windows[0]) == "15:00-23:00"
    assert cfg.compliance.arrival_within_hours == 24
    assert {o.name for o in cfg.outcomes} >= {"all_crime", "violence", "serious_youth_violence"}


def test_design_md_example_loads(tmp_path):
    # The exact example of DESIGN.md §3 must keep working.
    write_trial(tmp_path)
    text = textwrap.dedent("""\
        [trial]
        name = "Targeted Guardian Patrols"
        timezone = "Europe/London"
        day_starts = "06:00"
        start_date = 2022-10-03
        end_date = 2023-09-30
        seed = 20221003
        store = "trial.db"

        [hotspots]
        path = "hotspots.geojson"
        id_column = "hotspot_id"
        block_column = "block"

        [design]
        kind = "crossover"
        treated_per_day = 28
        windows = ["15:00-23:00"]
        patrol_minutes = 15

        [compliance]
        arrival_within_hours = 24
        gps_tolerance_m = 0
        max_ping_gap_minutes = 5
        min_visit_minutes = 0
        koper_minutes = 15
        """)
    (tmp_path / "t.toml").write_text(text)
    cfg = load_config(tmp_path / "t.toml")
    assert cfg.trial.n_days == 363
    assert cfg.compliance.koper_minutes == 15.0


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"trial": "colour = 'red'"}, "trial.colour"),
        ({"design": "treated_per_day = 'three'"}, "design.treated_per_day"),
        ({"design": "treated_per_day = 3\nprob_treated = 0.5"}, "design"),
        ({"design": "prob_treated = 1.5"}, "design.prob_treated"),
        ({"extra": "[compliance]\nkoper_minutes = -1\n"}, "compliance.koper_minutes"),
        ({"extra": "[nonsense]\na = 1\n"}, "nonsense"),
        ({"extra": "[evaluation]\noutcomes = ['burglary']\n"}, "evaluation.outcomes[0]"),
    ],
)
def test_bad_values_name_the_key(tmp_path, kwargs, key):
    path = write_trial(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert key in str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_end_before_start(tmp_path):
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace("end_date = 2023-04-10", "end_date = 2023-03-01"))
    with pytest.raises(ConfigError, match="trial.end_date.*ends before it starts"):
        load_config(path)


def test_unknown_time_zone(tmp_path):
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace("Europe/London", "Europe/Birmingham"))
    with pytest.raises(ConfigError, match="trial.timezone.*unknown time zone 'Europe/Birmingham'"):
        load_config(path)


@pytest.mark.parametrize("window", ["15:00", "25:00-26:00", "15-23", "15:00-15:00", ""])
def test_windows_that_do_not_parse(tmp_path, window):
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace('"15:00-23:00"', repr(window).replace("'", '"')))
    with pytest.raises(ConfigError, match=r"design\.windows\[0\]"):
        load_config(path)


def test_window_across_midnight():
    window = parse_window("22:00-02:00")
    assert window.minutes == 240


def test_misspelt_key_suggests_the_right_one(tmp_path):
    path = write_trial(tmp_path, design="treated_per_dya = 3")
    with pytest.raises(ConfigError, match="did you mean 'treated_per_day'"):
        load_config(path)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[trial\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_missing_required(tmp_path):
    path = write_trial(tmp_path)
    path.write_text(path.read_text().replace("seed = 20230320\n", ""))
    with pytest.raises(ConfigError, match="trial.seed.*missing required key"):
        load_config(path)
