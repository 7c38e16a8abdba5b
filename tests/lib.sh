# SPDX-License-Identifier: BSD-3-Clause
# Helpers for shell tests: sourced by tests/*/*.sh. They fail loudly.
set -u
: "${SLUICE:?run through make check}"
: "${MPIRUN:=mpirun --oversubscribe}"
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-sh-XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_rc RC CMD...: run CMD, fail unless its exit status is RC.
expect_rc() {
  want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; got=$?
  [ "$got" -eq "$want" ] || { cat "$T/out" "$T/err" >&2; fail "'$*' exited $got, expected $want"; }
}
# expect_grep PATTERN FILE
expect_grep() { grep -q -- "$1" "$2" || { cat "$2" >&2; fail "'$1' not found in $2"; }; }
# slurm_job SCRIPT LOG: run SCRIPT with bash inside a private test Slurm
# (tests/slurm/with-slurm.sh); skip (exit 77) where none can run; print LOG
# (the job's output); fail when SCRIPT exits non-zero.
slurm_job() {
  "$top_srcdir/tests/slurm/with-slurm.sh" bash "$1"
  _rc=$?
  [ $_rc -eq 77 ] && exit 77
  cat "$2" 2>/dev/null
  [ $_rc -eq 0 ] || fail "the job script $1 exited $_rc"
}
