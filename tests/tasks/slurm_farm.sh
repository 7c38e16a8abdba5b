#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/farm.sbatch on a private local Slurm: USR1 to the batch script (what
# --signal=B:USR1@120 sends) stops the farm (exit 75), the script requeues
# the job, and the requeued job finishes the journal: every task succeeded
# exactly once. Skips (77) where Slurm cannot be started.
. "$top_srcdir/tests/lib.sh"
n=30
for i in $(seq 1 $n); do echo 'sleep 0.3; echo x >> '"$T"'/done.$SLUICE_TASK_ID'; done > "$T/cmds"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" FARM_FILE="$T/cmds" FARM_ARGS="--grace 5"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" --open-mode=append "$top_srcdir/slurm/farm.sbatch") || exit 1
for i in \$(seq 1 300); do [ "\$(ls $T/done.* 2>/dev/null | wc -l)" -ge 4 ] && break; sleep 0.1; done
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "journal complete"
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "USR1 received" "$T/job.out"
expect_grep "requeueing job" "$T/job.out"
expect_grep "tasks done" "$T/job.out"
expect_grep "journal complete" "$T/job.out"
grep -q "	interrupted	" "$T/cmds.journal" || fail "no task was interrupted: the stop proved nothing"
for i in $(seq 0 $((n - 1))); do
  [ -f "$T/done.$i" ] && [ "$(wc -l < "$T/done.$i")" -eq 1 ] || fail "task $i ran $(cat "$T/done.$i" 2>/dev/null | wc -l) times"
done
# the README's form, -N NODES --ntasks-per-node=K, sets the job's rank count:
# the script names no --ntasks, which would take precedence over it
for i in 1 2 3; do echo 'echo "$SLURM_NTASKS" >> '"$T"'/ntasks'; done > "$T/cmds2"
cat >"$T/pernode.sh" <<JOB
set -u
export SLUICE="$SLUICE" FARM_FILE="$T/cmds2"
sbatch --wait -N 1 --ntasks-per-node=1 -o "$T/job2.out" "$top_srcdir/slurm/farm.sbatch"
JOB
slurm_job "$T/pernode.sh" "$T/job2.out"
expect_grep "journal complete" "$T/job2.out"
[ "$(sort -u "$T/ntasks")" = 1 ] || fail "-N 1 --ntasks-per-node=1 gave $(sort -u "$T/ntasks") tasks"
echo "PASS: slurm farm requeue"
