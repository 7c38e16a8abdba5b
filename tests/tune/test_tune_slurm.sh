#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/tune.sbatch under a real Slurm: USR1 to the batch script (what
# --signal=B:USR1@120 sends) reaches the ranks, the experiment is saved and
# sluice exits 75, the script requeues the job, and the requeued job resumes
# with --resume and finishes with the same trial table as an uninterrupted
# run. Skips (77) where no private Slurm can be started.
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" tune -q --command "$OBJ 6 0.25" --space 'x=uniform(-1,1)' --metric loss \
  --trials 8 --seed 3 --out "$T/ref"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" OUT="$T/run"
export ARGS="-q --command '$OBJ 6 0.25' --space 'x=uniform(-1,1)' --metric loss --trials 8 --seed 3"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" --open-mode=append "$top_srcdir/slurm/tune.sbatch") || exit 1
for i in \$(seq 1 300); do [ "\$(cat "$T/run/results.csv" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "tune finished"
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "USR1, asking the step" "$T/job.out"
expect_grep "requeueing" "$T/job.out"
expect_grep "tune finished" "$T/job.out"
cmp "$T/ref/trials.csv" "$T/run/trials.csv" || { diff "$T/ref/trials.csv" "$T/run/trials.csv"; fail "trial tables differ"; }
echo "PASS: tune under slurm with a requeue"
