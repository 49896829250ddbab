#!/usr/bin/env bash
# Refresh constraints.txt, the tested dependency set (every package, transitive ones included)
# that the README's commands, .ci/run and the Dockerfile install with `-c constraints.txt`.
#
#   scripts/lock_deps.sh            # resolve pyproject.toml's ranges afresh, run the tests, write
#
# It resolves in a new virtual environment without the old constraints, runs the whole test
# suite there, and only then replaces constraints.txt; review the diff and commit it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q -e "$repo[test]"
(cd "$repo" && "$venv/bin/python" -m pytest -q)
{
  echo "# The tested dependency set: pip install -c constraints.txt ... (refresh: scripts/lock_deps.sh)"
  "$venv/bin/pip" freeze --all --exclude-editable | grep -v "^pip==" | LC_ALL=C sort -f
} > "$repo/constraints.txt"
echo "constraints.txt refreshed: $(grep -vc '^#' "$repo/constraints.txt") packages"
