#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# slurm/train.sbatch in a job Slurm will not requeue (--no-requeue): after
# USR1 the step checkpoints and exits 75; the failed `scontrol requeue` is
# reported and the job ends with 75, not 0 as if training were done.
. "$top_srcdir/tests/lib.sh"
/usr/bin/python3 - "$T" <<'PY' || fail "cannot write the CSV"
import sys
with open(sys.argv[1] + "/data.csv", "w") as f:
    f.write("a,b,c,label\n")
    for i in range(3000):
        c = i % 3; f.write(",".join(str(1.0 if j == c else 0.0) for j in range(3)) + ",%d\n" % c)
PY
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/data.csv" --output "$T/d.h5"
cat >"$T/job.sh" <<JOB
set -u
export SLUICE="$SLUICE" DATA="$T/d.h5" OUT="$T/run" MODEL=mlp:3-8-3 EPOCHS=100000 BATCH=2
"$top_srcdir/tests/slurm/stop-norequeue.sh" "$top_srcdir/slurm/train.sbatch" "$T/job.out" "$T/rc" '[ -e "$T/run/ckpt.h5" ]'
JOB
slurm_job "$T/job.sh" "$T/job.out"
expect_grep "USR1, asking the step" "$T/job.out"
expect_grep "scontrol requeue failed" "$T/job.out"
expect_grep "job exit 75" "$T/rc"
echo "PASS: train under slurm, no requeue"
