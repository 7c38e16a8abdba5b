#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Cross-check of sluice's environments against gymnasium itself on random
# trajectories (bench only: needs gymnasium in bench/venv, which this script
# creates with pip if missing). Usage: bench/rl/gym_check.sh [BUILDDIR]
set -eu
B=${1:-.}
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$B/bench/rl/gym_check" ] || { echo "build first: make bench/rl/gym_check" >&2; exit 1; }
if ! "$HERE/venv/bin/python" -c 'import gymnasium' 2>/dev/null; then
  /usr/bin/python3 -m venv "$HERE/venv" && "$HERE/venv/bin/pip" install -q gymnasium
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-gymcheck-XXXXXX")
trap 'rm -rf "$T"' EXIT
"$HERE/venv/bin/python" "$HERE/gym_check.py" "$T/traj.txt" "${EPISODES:-20}"
echo "gymnasium $("$HERE/venv/bin/python" -c 'import gymnasium; print(gymnasium.__version__)') vs sluice:"
"$B/bench/rl/gym_check" "$T/traj.txt"
