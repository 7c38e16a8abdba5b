#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A writer killed (SIGKILL) in the middle of a checkpoint leaves the
# previous checkpoint intact and loadable; a re-run resumes from it and ends
# with the same state as an uninterrupted run.
. "$top_srcdir/tests/lib.sh"
ARGS="--rows 400000 --cols 64 --checkpoint-every 1 --step-ms 0 --keep 1"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/ref" --steps 8 $ARGS
ref=$(grep -o "checksum [0-9a-f]*" "$T/out")

$MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 1000 $ARGS >"$T/o" 2>"$T/e" &
mp=$!
# Wait until a checkpoint exists and the next one is being written.
for i in $(seq 1 400); do
  [ -e "$T/run/ckpt.h5" ] && [ -e "$T/run/ckpt.h5.tmp" ] && break
  sleep 0.01
done
[ -e "$T/run/ckpt.h5.tmp" ] || fail "never caught a checkpoint being written"
pkill -9 -f "sluice demo .*--out $T/run"
kill -9 $mp 2>/dev/null; wait $mp 2>/dev/null
# The previous checkpoint is whole: HDF5 can read every byte of it.
if command -v h5dump >/dev/null; then
  h5dump -A "$T/run/ckpt.h5" >"$T/dump" 2>&1 || { cat "$T/dump"; fail "ckpt.h5 unreadable after kill"; }
  expect_grep "step" "$T/dump"
fi
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 8 $ARGS
expect_grep "resuming from" "$T/out"
got=$(grep -o "checksum [0-9a-f]*" "$T/out")
[ "$got" = "$ref" ] || fail "after kill and resume: '$got', uninterrupted: '$ref'"
[ ! -e "$T/run/ckpt.h5.tmp" ] || fail "temporary checkpoint left behind after a good run"
echo "PASS: ckpt_kill"
