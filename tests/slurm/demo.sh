#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs slurm/demo.sbatch on a real private single-node Slurm with
# `sbatch --wait` (srun --mpi=pmix inside) and checks its output and status.
. "$top_srcdir/tests/lib.sh"
cd "$T"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" DEMO_OUT="$T/run" DEMO_STEPS=12 DEMO_ARGS="--step-ms 5"
sbatch --wait -n 2 -o "$T/job.out" "$top_srcdir/slurm/demo.sbatch"
JOB
"$top_srcdir/tests/slurm/with-slurm.sh" bash "$T/job.sh"
rc=$?
[ $rc -eq 77 ] && exit 77
[ -f "$T/job.out" ] && cat "$T/job.out"
[ $rc -eq 0 ] || fail "sbatch --wait slurm/demo.sbatch exited $rc"
expect_grep "demo: 2 ranks on 1 node" "$T/job.out"
expect_grep "after 12 steps" "$T/job.out"
expect_grep "^tasks: 10000000 tiny tasks on 2 ranks" "$T/job.out"
expect_grep "^sort: .*valsort: 1000000 records in 2 part(s), all in order" "$T/job.out"
if [ -d /usr/share/datasets/fashion-mnist ]; then
  expect_grep "train: test accuracy 0\.[5-9]" "$T/job.out"
  [ -f "$T/run/train/ckpt.h5" ] || fail "no training checkpoint"
fi
expect_grep "demo finished" "$T/job.out"
[ -f "$T/run/ckpt.h5" ] || fail "no checkpoint in $T/run"
[ -f "$T/run/summary.json" ] || fail "no summary.json"
echo "PASS: slurm demo"
