#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# DD-PPO learns: 2 ranks x 2 envs (CleanRL's global batch of 4 envs x 128
# steps) reach a mean return of 475 on CartPole-v1 within 500k steps, and
# the trained policy scores 500 greedily.
. "$top_srcdir/tests/lib.sh"
expect_rc 0 $MPIRUN -np 2 $SLUICE rl train --env CartPole-v1 --envs-per-rank 2 --total-steps 500000 \
  --stop-at-target --out "$T/cp"
reach=$(sed -n 's/.*"first_reach_step": \([-0-9]*\).*/\1/p' "$T/cp/summary.json")
[ -n "$reach" ] && [ "$reach" -gt 0 ] && [ "$reach" -le 500000 ] || { cat "$T/cp/summary.json"; fail "return 475 not reached within 500k steps"; }
expect_rc 0 $MPIRUN -np 2 $SLUICE rl eval --model "$T/cp/ckpt.h5" --episodes 10
expect_grep "greedy   return mean" "$T/out"
echo "rl learn (2 ranks): 475 reached at step $reach"
