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
sbatch --wait --parsable --no-requeue -n 2 -o "$T/job.out" "$top_srcdir/slurm/train.sbatch" >"$T/id" &
w=\$!
for i in \$(seq 1 300); do [ -e "$T/run/ckpt.h5" ] && break; sleep 0.1; done
[ -e "$T/run/ckpt.h5" ] || { echo "no checkpoint appeared"; cat "$T/job.out"; scancel "\$(cat "$T/id")"; exit 1; }
scancel --batch --signal=USR1 "\$(cat "$T/id")"
wait \$w
echo "job exit \$?" >"$T/rc"
JOB
"$top_srcdir/tests/slurm/with-slurm.sh" bash "$T/job.sh"
rc=$?
[ $rc -eq 77 ] && exit 77
cat "$T/job.out" 2>/dev/null
[ $rc -eq 0 ] || fail "job script exited $rc"
expect_grep "USR1, asking the step" "$T/job.out"
expect_grep "scontrol requeue failed" "$T/job.out"
expect_grep "job exit 75" "$T/rc"
echo "PASS: train under slurm, no requeue"
