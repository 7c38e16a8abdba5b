#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice rl train with --out on a file system that fills up (a 4 MB tmpfs
# and a filler file; skipped where mount is not allowed). metrics.csv rows
# that cannot be written (the file system is full for a while, freed before
# the next checkpoint) fail that checkpoint, naming metrics.csv, exit 1: a
# resume keeps the rows up to its checkpoint, so the lost rows were a gap
# for good (they were dropped in silence, exit 75). A checkpoint that does not
# fit is one message, the previous ckpt.h5 stays and --resume goes on.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
full_tmpfs full 4m
A="--env CartPole-v1 --out full/rl -q"
timeout 60 $MPIRUN -np 2 $SLUICE rl train $A --total-steps 1000000000 --checkpoint-every 1000000 >out 2>err &
pid=$!
full_while_writing $pid full/rl/metrics.csv full
rc=$?
[ $rc -eq 1 ] || { cat out err >&2; fail "rows lost on a full file system: exit $rc, expected 1"; }
expect_grep "rank 0: cannot write 'full/rl/metrics.csv': No space left on device" err
[ ! -e full/rl/ckpt.h5 ] || fail "a checkpoint past the lost rows was written"
# a run with a checkpoint, then one whose next checkpoint does not fit
rm -rf full/rl
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE rl train $A --total-steps 20000
fill full 300000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE rl train $A --total-steps 40000 --resume
expect_grep "rank 0: cannot write dataset to 'full/rl/ckpt.h5.tmp': No space left on device" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "not one message: $(cat "$T/err")"
[ ! -e full/rl/ckpt.h5.tmp ] || fail "ckpt.h5.tmp left on the full file system"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE rl train $A --total-steps 40000 --resume
awk -F, 'NR > 1 && $1 != NR - 1 { print "row " NR ": update " $1; bad = 1; exit } END { exit bad }' \
  full/rl/metrics.csv || fail "metrics.csv has a gap after the resume"
[ "$(grep -c '' full/rl/metrics.csv)" -eq 41 ] || fail "metrics.csv: $(grep -c '' full/rl/metrics.csv) lines, expected 41"
