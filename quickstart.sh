#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The two commands of the README:
#   ./quickstart.sh          install what is missing, build, run the demo on local ranks
#   ./quickstart.sh check    the same set-up, then the whole test suite (make check)
# Packages come from the distribution (Debian 12, Ubuntu 24.04): apt-get as
# root, or through sudo; when neither works it prints the exact command.
# Environment: CONFIGURE_ARGS (extra ./configure arguments), NP (demo ranks, 2).
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-demo}
case "$mode" in demo|check) ;; *) echo "usage: $0 [check]" >&2; exit 2 ;; esac

# Build and run-time packages; check adds a real Slurm for the Slurm tests.
PKGS="build-essential autoconf automake libtool pkg-config zlib1g-dev
  libopenmpi-dev openmpi-bin libucx-dev libhdf5-openmpi-dev hdf5-tools
  libgsl-dev libopenblas-dev libcunit1-dev dataset-fashion-mnist python3 gzip procps"
[ "$mode" = check ] && PKGS="$PKGS slurmctld slurmd slurm-client munge strace"

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
else
  echo "quickstart: not a Debian/Ubuntu system; install the equivalents of:$PKGS" >&2
fi
if [ -n "$missing" ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
  echo "quickstart: installing:$missing"
  if [ "$(id -u)" -eq 0 ]; then
    sh -c "$cmd"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo sh -c "$cmd"
  else
    echo "quickstart: these packages are missing and I cannot install them (not root, no sudo)." >&2
    echo "Run as root, then run $0 again:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
fi

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
  autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
  # shellcheck disable=SC2086
  ./configure ${CONFIGURE_ARGS:-}
fi
make -j"$(nproc)"

# Open MPI refuses root unless told; more ranks than cores need oversubscription.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

if [ "$mode" = demo ]; then
  np=${NP:-2}
  echo "quickstart: mpirun -np $np ./sluice demo"
  mpirun -np "$np" ./sluice demo --out sluice-demo
  exit $?
fi

rc=0
make check || rc=$?
# One line that counts the tests, from automake's summary.
if [ -f test-suite.log ]; then
  pass=$(awk '/^# PASS:/ {print $3}' test-suite.log)
  fail=$(awk '/^# FAIL:/ {f+=$3} /^# ERROR:/ {f+=$3} /^# XPASS:/ {f+=$3} END {print f+0}' test-suite.log)
  skip=$(awk '/^# SKIP:/ {print $3}' test-suite.log)
  echo "tests: ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
  if [ "$rc" -ne 0 ]; then
    echo "quickstart: failing tests' logs:"
    grep -E '^(FAIL|ERROR)' test-suite.log || true
  fi
fi
exit $rc
