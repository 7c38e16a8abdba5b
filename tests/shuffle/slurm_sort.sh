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
echo "PASS: slurm sort"
