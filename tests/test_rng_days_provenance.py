import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from guardian_rct._core.days import day_bounds, experimental_day, experimental_days
from guardian_rct._core.provenance import (
    KEY_DEPENDENCIES,
    make_provenance,
    seed_fingerprint,
    sha256_file,
)
from guardian_rct._core.rng import stream

LONDON = ZoneInfo("Europe/London")
SIX = dt.time(6)


def test_streams_are_reproducible_and_independent():
    a = stream(7, "allocation", dt.date(2023, 1, 17)).random(5)
    b = stream(7, "allocation", dt.date(2023, 1, 17)).random(5)
    c = stream(7, "allocation", dt.date(2023, 1, 16)).random(5)
    d = stream(7, "patrol_times", dt.date(2023, 1, 17)).random(5)
    e = stream(8, "allocation", dt.date(2023, 1, 17)).random(5)
    np.testing.assert_array_equal(a, b)
    for other in (c, d, e):
        assert not np.allclose(a, other)


def test_stream_rejects_bad_seed():
    with pytest.raises(ValueError):
        stream(-1, "allocation")
    with pytest.raises(TypeError):
        stream(1, "allocation", dt.datetime(2023, 1, 1))


def test_day_boundary_0559_and_0600():
    # 2023-05-02 05:59 BST = 04:59 UTC belongs to 1 May; 06:00 BST to 2 May.
    assert experimental_day(dt.datetime(2023, 5, 2, 4, 59, tzinfo=dt.UTC), LONDON, SIX) == dt.date(2023, 5, 1)
    assert experimental_day(dt.datetime(2023, 5, 2, 5, 0, tzinfo=dt.UTC), LONDON, SIX) == dt.date(2023, 5, 2)


@pytest.mark.parametrize("day, hours", [(dt.date(2023, 3, 25), 23), (dt.date(2023, 10, 28), 25),
                                        (dt.date(2023, 6, 1), 24)])
def test_clock_change_days(day, hours):
    start, end = day_bounds(day, LONDON, SIX)
    assert (end - start) == dt.timedelta(hours=hours)
    assert start.astimezone(LONDON).hour == 6 and end.astimezone(LONDON).hour == 6


def test_vectorised_days_match_scalar():
    instants = pd.date_range("2023-03-24", "2023-03-28", freq="37min", tz="UTC")
    vector = experimental_days(instants, LONDON, SIX)
    scalar = [experimental_day(t.to_pydatetime(), LONDON, SIX) for t in instants]
    assert [pd.Timestamp(v).date() for v in vector] == scalar


def test_provenance_hashes_inputs(tmp_path):
    f = tmp_path / "x.txt"
    f.write_bytes(b"abc")
    prov = make_provenance(seed=3, seed_key=b"k" * 32, inputs={"x": f})
    assert prov.inputs["x"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(f) == prov.inputs["x"]
    data = prov.to_dict()
    assert "seed" not in data and data["seed_fingerprint"] == seed_fingerprint(3, b"k" * 32)
    assert len(data["seed_fingerprint"]) == 16 and "3" != data["seed_fingerprint"]
    assert make_provenance(seed=3).seed_fingerprint is None  # no key: withheld, never the seed
    assert data["package_version"] and data["created_at"].endswith("+00:00")


def test_provenance_records_the_resolved_versions_of_the_key_dependencies():
    data = make_provenance(seed=None).to_dict()
    versions = data["dependency_versions"]
    assert list(versions) == ["python", *KEY_DEPENDENCIES]
    assert {"numpy", "scipy", "pandas", "shapely", "geopandas", "pyproj", "statsmodels",
            "pyarrow"} <= set(KEY_DEPENDENCIES)
    assert versions["python"] == platform.python_version() == data["python_version"]
    for name in KEY_DEPENDENCIES:
        assert versions[name] == importlib.metadata.version(name), name
    assert versions["numpy"] == data["numpy_version"] == np.__version__
    assert versions["pandas"] == pd.__version__
    assert json.loads(json.dumps(data)) == data


def test_reading_the_versions_imports_none_of_the_packages():
    code = ("import sys; from guardian_rct._core.provenance import make_provenance; "
            "make_provenance(); heavy = {'scipy', 'pandas', 'shapely', 'geopandas', 'pyproj', "
            "'statsmodels', 'pyarrow'}; print(sorted(heavy & set(sys.modules)))")
    src = Path(__file__).resolve().parents[1] / "src"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(src)})
    assert run.stdout.strip() == "[]"
