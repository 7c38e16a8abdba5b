#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A checkpoint written by 4 ranks is resumed by 2 (and by 1), and the result
# matches a run that never changed rank count.
. "$top_srcdir/tests/lib.sh"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/ref" --steps 30 --step-ms 0 --rows 1001
ref=$(grep -o "checksum [0-9a-f]*" "$T/out")
expect_rc 0 $MPIRUN -np 4 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 10 --step-ms 0 --rows 1001
expect_grep "demo: 4 ranks" "$T/out"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 20 --step-ms 0 --rows 1001
expect_grep "resuming from .* at step 10" "$T/out"
expect_rc 0 $MPIRUN -np 3 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 30 --step-ms 0 --rows 1001
got=$(grep -o "checksum [0-9a-f]*" "$T/out")
[ "$got" = "$ref" ] || fail "4->2->3 ranks gave '$got', 1 rank gave '$ref'"
# Resuming with a different shape is refused with a clear message.
expect_rc 1 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 40 --step-ms 0 --rows 999
expect_grep "state/x is not 999x64" "$T/err"
[ "$(grep -c error "$T/err")" -eq 1 ] || fail "error printed more than once"
echo "PASS: rerank"
