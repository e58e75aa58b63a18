"""Every name the package advertises resolves, and importing it stays light."""

import subprocess
import sys

import guardian_rct as grct


def test_every_public_name_resolves():
    for name in grct.__all__:
        assert getattr(grct, name) is not None, name


def test_import_does_not_load_the_heavy_modules():
    code = ("import sys, guardian_rct; "
            "print(any(m.startswith(('statsmodels', 'geopandas', 'matplotlib')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": "src"}).stdout.strip()
    assert out == "False"
