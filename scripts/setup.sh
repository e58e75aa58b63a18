#!/usr/bin/env bash
# Create .venv in the repository and install guardian_rct with its test tools, at the
# exact versions in constraints.txt (the ones the test suite was last green with; refresh
# them with scripts/refresh_constraints.sh). Safe to re-run. Usage: scripts/setup.sh
#
# In a terminal pip shows what it is doing (each package, with a download progress bar);
# when the output is not a terminal (CI logs, scripts/test.sh piped to a file) pip is
# quiet and one line per step says what happened and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -t 1 ]; then
  PIP_OPTS=(--progress-bar on)
else
  PIP_OPTS=(--quiet --progress-bar off)
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
echo "== installing guardian_rct and its pinned dependencies (constraints.txt) into .venv;"
echo "   the first run downloads about 230 MB of wheels and can take a few minutes"
started=$SECONDS
.venv/bin/python -m pip install "${PIP_OPTS[@]}" --upgrade pip
.venv/bin/python -m pip install "${PIP_OPTS[@]}" -c constraints.txt -e '.[test]'
echo "guardian_rct installed in $(pwd)/.venv in $((SECONDS - started)) s (activate with: source .venv/bin/activate)"
