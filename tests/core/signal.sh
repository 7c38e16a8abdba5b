#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Graceful stop: SIGUSR1 sent to ONE rank stops all ranks at the next
# agreement with a checkpoint and exit 75; SIGUSR1 to mpirun (which forwards
# it) does the same; re-running resumes, and the final state equals an
# uninterrupted run's.
. "$top_srcdir/tests/lib.sh"

expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/ref" --steps 60 --step-ms 0
ref=$(grep -o "checksum [0-9a-f]*" "$T/out")
[ -n "$ref" ] || fail "no checksum in reference run"

wait_for() { for i in $(seq 1 200); do [ -e "$1" ] && return 0; sleep 0.05; done; fail "$1 never appeared"; }

# 1. Signal one rank (not mpirun).
$MPIRUN -np 4 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 60 --step-ms 100 >"$T/o1" 2>"$T/e1" &
mp=$!
wait_for "$T/run/ckpt.h5"
victim=$(pgrep -f "sluice demo .*--out $T/run" | while read -r p; do
  [ "$(cat /proc/$p/comm)" = sluice ] && echo "$p"; done | tail -1)
[ -n "$victim" ] || fail "no rank process found"
kill -USR1 "$victim"
wait $mp; rc=$?
[ $rc -eq 75 ] || { cat "$T/o1" "$T/e1"; fail "mpirun exited $rc after SIGUSR1 to one rank, expected 75"; }
expect_grep "stopped at step" "$T/o1"
stopped=$(grep -o "stopped at step [0-9]*" "$T/o1" | grep -o "[0-9]*$")
[ "$stopped" -lt 60 ] || fail "did not stop early ($stopped)"

# 2. Signal mpirun itself; it forwards USR1 to every rank.
$MPIRUN -np 2 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 60 --step-ms 100 >"$T/o2" 2>"$T/e2" &
mp=$!
sleep 1
kill -USR1 $mp
wait $mp; rc=$?
[ $rc -eq 75 ] || { cat "$T/o2" "$T/e2"; fail "mpirun exited $rc after SIGUSR1 to mpirun, expected 75"; }
expect_grep "resuming from" "$T/o2"

# 3. Finish with yet another rank count; same result as the uninterrupted run.
expect_rc 0 $MPIRUN -np 1 "$SLUICE" demo --farm-tasks 0 --sort-records 0 --train-epochs 0 --out "$T/run" --steps 60 --step-ms 0
expect_grep "resuming from" "$T/out"
got=$(grep -o "checksum [0-9a-f]*" "$T/out")
[ "$got" = "$ref" ] || fail "resumed result '$got' differs from uninterrupted '$ref'"
echo "PASS: signal"
