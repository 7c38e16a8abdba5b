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
# usr1_after_rows PID FILE N OUT ERR: once FILE has N lines (the run in the
# background as PID has made progress; at most 60 s), send PID SIGUSR1 (what
# Slurm sends before a time limit; mpirun forwards it) and fail unless it
# then exits 75 (stopped, resumable); OUT and ERR are its output, shown on
# failure.
usr1_after_rows() {
  _i=0
  while [ ! -s "$2" ] || [ "$(wc -l < "$2")" -lt "$3" ]; do
    sleep 0.2; _i=$((_i + 1)); [ $_i -gt 300 ] && { kill "$1"; fail "the run never wrote $3 lines to $2"; }
  done
  kill -USR1 "$1"
  wait "$1"; _rc=$?
  [ $_rc -eq 75 ] || { cat "$4" "$5" >&2; fail "after SIGUSR1 the run exited $_rc, expected 75"; }
}
# usr1_while_starting PID OUT ERR: send SIGUSR1 to each rank of the mpirun
# in the background as PID as soon as it runs a second thread (it is inside
# MPI_Init), and fail unless the job then exits 75 (stopped): the ranks were
# killed by the signal, and mpirun could hang.
usr1_while_starting() {
  _done="" _i=0
  while kill -0 "$1" 2>/dev/null && [ $_i -lt 3000 ]; do
    for _r in $(pgrep -P "$1"); do
      case " $_done " in *" $_r "*) continue ;; esac
      [ "$(ls "/proc/$_r/task" 2>/dev/null | wc -l)" -gt 1 ] && kill -USR1 "$_r" && _done="$_done $_r"
    done
    _i=$((_i + 1))
  done
  _w=0
  while kill -0 "$1" 2>/dev/null && [ $_w -lt 300 ]; do sleep 0.1; _w=$((_w + 1)); done
  kill -0 "$1" 2>/dev/null && { kill -9 "$1"; cat "$2" "$3" >&2; fail "the job hung after SIGUSR1 while starting"; }
  wait "$1"; _rc=$?
  [ -n "$_done" ] || fail "no rank was seen starting"
  [ $_rc -eq 75 ] || { cat "$2" "$3" >&2; fail "after SIGUSR1 while starting the job exited $_rc, expected 75"; }
}
# sort_killed_after_part0 [--keep] SORT-OPTIONS...: an external sort on 2
# ranks into sorted/ (removed first, but with --keep; rank 1 stalled by
# --test-stall-ms), killed with -9 once part-00000 is complete; fails
# unless part-00001 is still missing. Its output is in run.log.
sort_killed_after_part0() {
  if [ "${1:-}" = --keep ]; then shift; else rm -rf sorted; fi
  $MPIRUN -np 2 $SLUICE sort --output sorted --test-stall-ms 30000 "$@" >run.log 2>&1 &
  _mpid=$!
  _i=0
  while [ ! -e sorted/part-00000 ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
  [ -e sorted/part-00000 ] || { kill -9 $_mpid; fail "part-00000 never appeared: $(cat run.log)"; }
  for _p in $(pgrep -P $_mpid); do kill -9 "$_p"; done
  kill -9 $_mpid 2>/dev/null
  wait $_mpid 2>/dev/null
  [ -e sorted/part-00001 ] && fail "part-00001 complete although its rank was killed"
}
# full_tmpfs DIR SIZE [OPTIONS]: a tmpfs of SIZE (and mount OPTIONS, e.g.
# nr_inodes=40) mounted at DIR, made under the current directory and
# unmounted at exit; the test is skipped (77) where mount is not allowed.
full_tmpfs() {
  mkdir -p "$1" || fail "mkdir $1"
  mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" 2>/dev/null || { echo "SKIP: mount -t tmpfs not permitted here"; exit 77; }
  _mounts="$(cd "$1" && pwd) ${_mounts:-}"
  trap 'for _m in $_mounts; do umount "$_m" 2>/dev/null; done; rm -rf "$T"' EXIT
}
# fill DIR LEFT: DIR/filler takes the space of DIR's file system but LEFT bytes.
fill() { head -c $(($(df -B1 --output=avail "$1" | tail -1) - $2)) /dev/zero >"$1/filler" || true; }
# small_dataset H5: data.csv here (200 rows of 16 features, 4 classes, seeded)
# imported as H5, for runs that need a tiny training set.
small_dataset() {
  /usr/bin/python3 - <<'PY' || fail "cannot write data.csv"
import random
random.seed(1)
with open("data.csv", "w") as f:
    for i in range(200):
        c = random.randrange(4)
        f.write(",".join("%.3f" % (random.random() * 0.3 + (j % 4 == c)) for j in range(16)) + ",%d\n" % c)
PY
  expect_rc 0 "$SLUICE" data import-csv --input data.csv --output "$1"
}
# full_while_writing PID FILE DIR: the run in the background as PID (under
# timeout, so its child is mpirun) appends rows to FILE on the tmpfs DIR;
# once FILE has 8000 bytes, DIR is filled until the rows stop at a page's
# end, the space is freed and the run stopped with SIGUSR1 (timeout does not
# pass it on). Returns the run's exit status.
full_while_writing() {
  _i=0
  while [ "$(stat -c %s "$2" 2>/dev/null || echo 0)" -lt 8000 ] && [ $_i -lt 300 ]; do
    sleep 0.1; _i=$((_i + 1))
  done
  cat /dev/zero >"$3/filler" 2>/dev/null
  _i=0
  while [ $(($(stat -c %s "$2") % 4096)) -ne 0 ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
  rm "$3/filler"
  kill -USR1 $(pgrep -P "$1") 2>/dev/null
  wait "$1"
}
