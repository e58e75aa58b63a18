"""The package version: the single source that ``pyproject.toml`` reads at build time.

Written as a literal (``[tool.setuptools.dynamic] version = {attr = ...}`` in
pyproject.toml) rather than read from the installed distribution's metadata, because
``importlib.metadata`` alone costs more than the whole of ``guardian-rct --help``
(it imports the ``email`` package); ``tests/test_cli_startup.py`` checks that the two
agree.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
