#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Surviving a time limit under a real Slurm: USR1 to the batch script (what
# --signal=B:USR1@120 sends) is passed to the ranks, they checkpoint and exit
# 75, the script requeues the job, and the requeued job resumes and finishes
# with the same state as an uninterrupted run. The job is submitted as a user
# would (no --open-mode on the command line): the script's own
# --open-mode=append keeps the first run's lines in the log after the requeue.
. "$top_srcdir/tests/lib.sh"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --out "$T/ref" --steps 80 --step-ms 0
ref=$(grep -o "checksum [0-9a-f]*" "$T/out")
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" DEMO_OUT="$T/run" DEMO_STEPS=80 DEMO_ARGS="--step-ms 100 --farm-tasks 0 --sort-records 0 --train-epochs 0"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" "$top_srcdir/slurm/demo.sbatch") || exit 1
for i in \$(seq 1 300); do [ -e "$T/run/ckpt.h5" ] && break; sleep 0.1; done
[ -e "$T/run/ckpt.h5" ] || { echo "no checkpoint appeared"; exit 1; }
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "demo finished"
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "USR1 received" "$T/job.out"
expect_grep "requeueing job" "$T/job.out"
expect_grep "resuming from" "$T/job.out"
expect_grep "demo finished" "$T/job.out"
got=$(grep -o "checksum [0-9a-f]*" "$T/job.out" | tail -1)
[ "$got" = "$ref" ] || fail "requeued run ended with '$got', uninterrupted run with '$ref'"
echo "PASS: slurm requeue"
