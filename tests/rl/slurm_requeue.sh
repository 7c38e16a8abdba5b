#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/ddppo.sbatch surviving a time limit on a real private Slurm: USR1 to
# the batch script (what --signal=B:USR1@120 sends) reaches the workers, they
# checkpoint and exit 75, the script requeues the job and the requeued job
# resumes (--resume) and finishes the run.
. "$top_srcdir/tests/lib.sh"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" ENV=CartPole-v1 OUT="$T/run" STEPS=25600 ENVS=2
export ARGS="--num-steps 32 --minibatches 2 --epochs 1 --checkpoint-every 5 --test-straggler-rank 0 --test-delay-us 500"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" "$top_srcdir/slurm/ddppo.sbatch") || exit 1
for i in \$(seq 1 300); do [ -e "$T/run/ckpt.h5" ] && break; sleep 0.1; done
[ -e "$T/run/ckpt.h5" ] || { echo "no checkpoint appeared"; exit 1; }
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "sluice-ddppo: done" 180 || exit 1
# A job that cannot be requeued (--no-requeue): the script says so and the
# job ends with 75, not 0 as if the run were complete.
export OUT="$T/run2"
"$top_srcdir/tests/slurm/stop-norequeue.sh" "$top_srcdir/slurm/ddppo.sbatch" "$T/job2.out" "$T/rc2" \
  '[ -e "$T/run2/ckpt.h5" ]' || exit 1
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "sluice-ddppo: USR1" "$T/job.out"
expect_grep "stopped at update" "$T/job.out"
expect_grep "requeueing job" "$T/job.out"
expect_grep "resuming from" "$T/job.out"
expect_grep '"steps": 25600' "$T/run/summary.json"
cat "$T/job2.out"
expect_grep "scontrol requeue failed" "$T/job2.out"
expect_grep "job exit 75" "$T/rc2"
echo "PASS: slurm ddppo requeue"
