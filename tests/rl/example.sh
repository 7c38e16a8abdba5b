#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The custom-environment example (examples/rl/custom_env.c) trains on 2
# ranks through the C API and its policy learns to reach the goal.
. "$top_srcdir/tests/lib.sh"
EX="$top_builddir/examples/rl/custom_env"
[ -x "$EX" ] || fail "missing $EX (built by make check)"
expect_rc 0 $MPIRUN -np 2 "$EX" 30000 "$T/line"
expect_grep "Line-v0: return_mean" "$T/out"
grep -q "first reached at step -1)" "$T/out" && { cat "$T/out"; fail "Line-v0 never reached return 0"; }
[ -s "$T/line/ckpt.h5" ] || fail "no checkpoint"
# SIGUSR1 (what Slurm sends before a time limit; mpirun forwards it): the
# example stops at the next update with a checkpoint and exits 75 (it was
# killed by the signal, its progress lost).
$MPIRUN -np 2 "$EX" 100000000 "$T/stop" >"$T/s.out" 2>"$T/s.err" &
usr1_after_rows $! "$T/stop/metrics.csv" 3 "$T/s.out" "$T/s.err"
expect_grep "stopped at update" "$T/s.out"
[ -s "$T/stop/ckpt.h5" ] || fail "no checkpoint after SIGUSR1"
echo "rl example: ok"
