#!/usr/bin/env bash
# Create (or reuse) bench/.venv-peers and install bench/peers-requirements.txt into it.
#
# A venv of its own so that statsforecast and neuralforecast stay out of forecaster's dependencies and
# its .venv. The constraints pin torch to the local CPU wheel (neuralforecast pulls torch; unpinned,
# pip would download a CUDA build of several GB).
#
#     bench/peers-venv.sh            # then: bench/.venv-peers/bin/python bench/peers.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet -c "$here/../.ci/constraints.txt" -r "$here/peers-requirements.txt"
"$venv/bin/python" -c 'import statsforecast, neuralforecast, torch; print("statsforecast", statsforecast.__version__, "neuralforecast", neuralforecast.__version__, "torch", torch.__version__)'
