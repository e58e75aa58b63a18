#!/usr/bin/env bash
# Set up (if needed) and run the lint and the test suite. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests scripts
.venv/bin/python -m pytest -m "not slow" "$@"
