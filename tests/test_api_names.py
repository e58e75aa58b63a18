"""A clean public API (issue 13, item 8): no top-level name shadows a module."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import guardian_rct


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(guardian_rct.__path__, "guardian_rct.")]


def test_no_public_name_is_also_a_top_level_module():
    top = {name.split(".")[1] for name in _modules()}
    clash = sorted(set(guardian_rct.__all__) & top)
    assert not clash, f"top-level API names shadow modules: {clash}"


def test_names_resolve_to_the_same_object_after_every_module_is_imported():
    """The old failure: after ``import guardian_rct.simulate`` the API name gave a module."""
    code = (
        "import importlib, pkgutil, types, guardian_rct as g\n"
        "names = [n for n in g.__all__ if n != '__version__']\n"
        "for m in pkgutil.walk_packages(g.__path__, 'guardian_rct.'):\n"
        "    if m.name.endswith('__main__') or 'dask' in m.name: continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = [n for n in names if isinstance(getattr(g, n), types.ModuleType)]\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"names that are modules: {done.stdout}"


def test_every_public_name_is_importable():
    for name in guardian_rct.__all__:
        assert getattr(guardian_rct, name) is not None
    assert importlib.import_module("guardian_rct").__version__
