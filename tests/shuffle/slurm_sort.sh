#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/sort.sbatch on a real private single-node Slurm (tests/slurm's
# harness; skipped where it cannot run): gensort --parts, sort --local and
# valsort --local over the node-local partitions, all inside one job.
. "$top_srcdir/tests/lib.sh"
cd "$T"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" SORT_RECORDS=20000 SORT_SKEW=1 SORT_LOCAL="$T/local" SORT_RESULTS="$T/results"
sbatch --wait -n 2 -o "$T/job.out" "$top_srcdir/slurm/sort.sbatch"
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "^Records: 20000$" "$T/job.out"
expect_grep "^SUCCESS - all records are in order$" "$T/job.out"
[ -f "$T/results/summary.json" ] || fail "no summary.json in the results"
[ "$(wc -c <"$T/results/all.sum")" -eq 280 ] || fail "no valsort summary in the results"
# resubmitted with the same SORT_LOCAL where the inputs are still there (a
# job killed before its end): gensort is not run again, the sort resumes
# (its partitions are complete) and valsort passes
$MPIRUN -np 2 "$SLUICE" gensort -s --parts 20000 "$T/local/in" || fail "gensort --parts for the resubmission"
rm -f "$T/job.out"
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "^sluice-sort: resuming in $T/local with its inputs$" "$T/job.out"
expect_grep "^SUCCESS - all records are in order$" "$T/job.out"
# USR1 to the batch script (what --signal=B:USR1@120 sends before the time
# limit) while rank 1 stalls before writing its partition: the script passes
# it on (it had waited in srun, so the signal was not seen until Slurm's
# SIGKILL); the sort stops in its merge, keeping rank 1's records as a run
# (it merged to the end, and the script stopped after the sort); the script
# starts no later step and exits 75 saying how to resume; the resubmission
# merges the kept run without the map and finishes the job
rm -rf "$T/local" "$T/results" "$T/job.out"
cat >"$T/stopjob.sh" <<JOB
set -u
export SLUICE="$SLUICE" SORT_RECORDS=20000 SORT_LOCAL="$T/local" SORT_RESULTS="$T/results"
export SORT_ARGS="--test-stall-ms 6000"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" "$top_srcdir/slurm/sort.sbatch") || exit 1
for i in \$(seq 1 300); do [ -e "$T/local/out/part-00000" ] && break; sleep 0.1; done
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "sluice-sort: stopped"
for i in \$(seq 1 100); do st=\$(scontrol show job "\$id" 2>/dev/null | grep -o ' ExitCode=[0-9:]*'); [ "\$st" = " ExitCode=75:0" ] && break; sleep 0.2; done
echo "job\$st" >>"$T/job.out"
JOB
slurm_job "$T/stopjob.sh" "$T/job.out"
expect_grep "^sluice-sort: USR1, stopping the step$" "$T/job.out"
expect_grep "^sluice-sort: stopped during the sort; resubmit with SORT_LOCAL=$T/local to resume$" "$T/job.out"
expect_grep "stopped during the merge: complete partitions are kept" "$T/job.out"
expect_grep "^job ExitCode=75:0$" "$T/job.out"
grep -q "^Records:" "$T/job.out" && fail "valsort ran after the stop"
rm -f "$T/job.out"
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "^sluice-sort: resuming in $T/local with its inputs$" "$T/job.out"
expect_grep "the map is skipped" "$T/job.out"
expect_grep "^SUCCESS - all records are in order$" "$T/job.out"
# USR1 to the batch script during the map (every rank slowed before each
# chunk by a test hook): the sort keeps what was mapped as runs, with the
# map file saying how far each rank's share went; the job exits 75; the
# resubmission maps only the rest, and valsort passes over the partitions
rm -rf "$T/local" "$T/results" "$T/job.out"
cat >"$T/mapstopjob.sh" <<JOB
set -u
export SLUICE="$SLUICE" SORT_RECORDS=20000 SORT_LOCAL="$T/local" SORT_RESULTS="$T/results" SORT_MEM=1M
export SORT_ARGS="--test-map-stall-ms 400"
id=\$(sbatch --parsable -n 2 -o "$T/job.out" "$top_srcdir/slurm/sort.sbatch") || exit 1
for i in \$(seq 1 300); do [ -e "$T/local/out/.sluice-sort" ] && break; sleep 0.1; done
sleep 1
"$top_srcdir/tests/slurm/stop-and-wait.sh" "\$id" "$T/job.out" "sluice-sort: stopped"
for i in \$(seq 1 100); do st=\$(scontrol show job "\$id" 2>/dev/null | grep -o ' ExitCode=[0-9:]*'); [ "\$st" = " ExitCode=75:0" ] && break; sleep 0.2; done
echo "job\$st" >>"$T/job.out"
JOB
slurm_job "$T/mapstopjob.sh" "$T/job.out"
expect_grep "^sluice-sort: USR1, stopping the step$" "$T/job.out"
expect_grep "stopped during the map: [0-9]* of 20000 records were mapped" "$T/job.out"
expect_grep "^job ExitCode=75:0$" "$T/job.out"
[ -f "$T/local/out/.sluice-sort-map" ] || fail "no map file after the stop during the map"
rm -f "$T/job.out"
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "^sluice-sort: resuming in $T/local with its inputs$" "$T/job.out"
expect_grep "the map continues where a stop left it" "$T/job.out"
expect_grep "^Records: 20000$" "$T/job.out"
expect_grep "^SUCCESS - all records are in order$" "$T/job.out"
[ -e "$T/local/out/.sluice-sort-map" ] && fail "the map file is left after the resumed sort"
# the README's form, -N NODES --ntasks-per-node=K, sets the job's rank count:
# the script names no --ntasks, which would take precedence over it (2 ranks)
rm -rf "$T/local" "$T/results" "$T/job.out"
cat >"$T/pernode.sh" <<JOB
set -u
export SLUICE="$SLUICE" SORT_RECORDS=2000 SORT_LOCAL="$T/local" SORT_RESULTS="$T/results"
sbatch --wait -N 1 --ntasks-per-node=1 -o "$T/job.out" "$top_srcdir/slurm/sort.sbatch"
JOB
slurm_job "$T/pernode.sh" "$T/job.out"
expect_grep "^sluice-sort: 2000 records on 1 ranks, 1 node(s);" "$T/job.out"
expect_grep "^SUCCESS - all records are in order$" "$T/job.out"
echo "PASS: slurm sort"
