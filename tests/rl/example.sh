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
echo "rl example: ok"
