#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/ddppo.sbatch on a real private single-node Slurm (sbatch --wait, srun
# --mpi=pmix inside): 2 DD-PPO workers train CartPole-v1 briefly; then the
# same script resumes the run to more steps (it always passes --resume).
. "$top_srcdir/tests/lib.sh"
cd "$T"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" ENV=CartPole-v1 OUT="$T/run" ARGS="--num-steps 32 --minibatches 2 --epochs 1"
STEPS=1280 ENVS=2 sbatch --wait -n 2 -o "$T/job1.out" "$top_srcdir/slurm/ddppo.sbatch" || exit \$?
STEPS=2560 ENVS=2 sbatch --wait -n 2 -o "$T/job2.out" "$top_srcdir/slurm/ddppo.sbatch"
JOB
"$top_srcdir/tests/slurm/with-slurm.sh" bash "$T/job.sh"
rc=$?
[ $rc -eq 77 ] && exit 77
for f in "$T/job1.out" "$T/job2.out"; do [ -f "$f" ] && cat "$f"; done
[ $rc -eq 0 ] || fail "sbatch --wait slurm/ddppo.sbatch exited $rc"
expect_grep "2 ranks x 2 envs" "$T/job1.out"
expect_grep "sluice-ddppo: done" "$T/job1.out"
expect_grep "resuming from" "$T/job2.out"
expect_grep '"steps": 2560' "$T/run/summary.json"
[ "$(wc -l < "$T/run/metrics.csv")" -eq 21 ] || fail "expected 20 updates in metrics.csv"
echo "PASS: slurm ddppo"
