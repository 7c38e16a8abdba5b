#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/tune.sbatch in a job Slurm will not requeue (--no-requeue): after USR1
# the experiment is saved and sluice exits 75; the failed `scontrol requeue`
# is reported and the job ends with 75, not 0 as if the experiment were done.
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" OUT="$T/run"
export ARGS="-q --command '$OBJ 6 0.25' --space 'x=uniform(-1,1)' --metric loss --trials 8 --seed 3"
"$top_srcdir/tests/slurm/stop-norequeue.sh" "$top_srcdir/slurm/tune.sbatch" "$T/job.out" "$T/rc" \
  '[ "\$(cat "$T/run/results.csv" 2>/dev/null | wc -l)" -ge 3 ]'
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "USR1, asking the step" "$T/job.out"
expect_grep "scontrol requeue failed" "$T/job.out"
expect_grep "job exit 75" "$T/rc"
[ -s "$T/run/experiment.h5" ] || fail "no experiment saved"
echo "PASS: tune under slurm, no requeue"
