#!/usr/bin/env bash
# Create .venv in the repository and install guardian_rct with its test tools, at the
# exact versions in constraints.txt (the ones the test suite was last green with; refresh
# them with scripts/refresh_constraints.sh). Safe to re-run. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
echo "== installing guardian_rct and its pinned dependencies (constraints.txt) into .venv;"
echo "   the first run downloads about 230 MB of wheels and can take a few minutes"
.venv/bin/python -m pip install --upgrade pip
.venv/bin/python -m pip install -c constraints.txt -e '.[test]'
echo "guardian_rct installed in $(pwd)/.venv (activate with: source .venv/bin/activate)"
