#!/usr/bin/env bash
# Create (or reuse) bench/.venv-mutation: forecaster with its test dependencies, and mutmut from
# bench/mutation-requirements.txt. A venv of its own so that the mutation tester stays out of forecaster's
# dependencies and its .venv; the constraints pin torch to the local CPU wheel.
#
#     bench/mutation-venv.sh            # then: bench/.venv-mutation/bin/python bench/mutation.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-mutation"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet -c "$here/../.ci/constraints.txt" -e "$here/..[test]" -r "$here/mutation-requirements.txt"
"$venv/bin/python" -c 'import importlib.metadata as m; print("mutmut", m.version("mutmut"), "forecaster", m.version("forecaster"))'
