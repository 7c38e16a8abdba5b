#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The ppo objective (the rl library's PPO on CartPole-v1), 2 ranks: ASHA's
# promotion form resumes trials from their iteration checkpoints and stops
# them only at rungs, and the best trial learns; the same seed gives the
# same returns; PBT over a parameter that shapes the network keeps the
# donor's; 4 ranks in groups of 2 run DD-PPO trials; SIGUSR1, then --resume,
# ends with every trial done and no report twice; bad input is refused.
. "$top_srcdir/tests/lib.sh"
common="--objective ppo --metric return_mean --mode max --iteration-steps 2048"
# The program itself, not libtool's wrapper script: the wrapper's start-up
# (20-40 ms a rank) staggers the ranks, which hid a race below.
. "$top_srcdir/bench/sluice-bin.sh"
sluice_bin "$(dirname "$SLUICE")"
for i in 1 2 3; do
  rm -rf "$T/a"
  expect_rc 0 $MPIRUN -np 2 $SLUICE_BIN tune -q $common --space 'lr=loguniform(1e-4,1e-2)' \
    --space 'ent_coef=uniform(0,0.02)' --scheduler asha --max-t 8 --reduction-factor 2 --trials 8 \
    --keep-checkpoints 2 --seed $i --out "$T/a"
  # a trial stops only at a rung (1, 2, 4, 8) and is done only at max-t: a
  # promoted trial must not take its last rung's pause, which reached its
  # group after that job had ended, for a decision on the next job
  awk -F, 'NR>1 && !($3 == 1 || $3 == 2 || $3 == 4 || $3 == 8) {bad=1} NR>1 && $2 == "done" && $3 != 8 {bad=1}
    END{exit bad}' "$T/a/trials.csv" || { cat "$T/a/trials.csv"; fail "ASHA left a trial between rungs (seed $i)"; }
done
grep -q ',done,8,' "$T/a/trials.csv" || { cat "$T/a/trials.csv"; fail "no trial reached max-t"; }
head -1 "$T/a/results.csv" | grep -q '^trial,step,time,lr,ent_coef,return_mean,env_steps,episodes,sps' ||
  fail "results.csv columns: $(head -1 "$T/a/results.csv")"
# env_steps: the iteration's end, at least step x 2048
awk -F, 'NR>1 && $7 < $2 * 2048 {bad=1} END{exit bad}' "$T/a/results.csv" || fail "env_steps below step x 2048"
ret=$(sed -n 's/.*"metric": \([0-9.e+-]*\).*/\1/p' "$T/a/best.json")
awk -v a="$ret" 'BEGIN{exit !(a > 60)}' || fail "best return_mean $ret (a random policy gets about 22)"
h5dump -a /env "$T/a/best.h5" 2>/dev/null | grep -q CartPole-v1 || fail "best.h5 is not an rl checkpoint"
for d in "$T"/a/trials/*; do
  n=$(ls "$d" | grep -c '^checkpoint-')
  s=$(awk -F, -v t="$(basename "$d" | sed 's/^0*//')" 'NR>1 && $1==(t==""?0:t) {print $3}' "$T/a/trials.csv")
  want=2; [ "$s" -lt 2 ] && want=$s
  [ "$n" -eq "$want" ] || fail "$d keeps $n checkpoints (step $s), not $want"
  ls "$d" | grep -q '^ckpt' && fail "$d: rl's own ckpt.h5 left beside the checkpoints: $(ls "$d")"
done
# the same seed: the same returns, trial by trial (FIFO: no timing in it)
for x in f1 f2; do
  expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=loguniform(1e-3,1e-2)' --max-t 3 --trials 3 \
    --seed 5 --out "$T/$x"
  cut -d, -f1,2,4,5,6 "$T/$x/results.csv" | sort > "$T/$x.ret"
done
[ "$(wc -l < "$T/f1.ret")" -eq 10 ] || fail "FIFO: $(wc -l < "$T/f1.ret") lines in results.csv, not 10"
cmp -s "$T/f1.ret" "$T/f2.ret" || { diff "$T/f1.ret" "$T/f2.ret"; fail "the same seed gave other returns"; }
# tuned parameters reach PPO: with lr 1e-6 a trial stays near a random
# policy (about 22), with 0.005 it learns
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=grid(0.000001,0.005)' --space 'update_epochs=grid(2)' \
  --searcher grid --max-t 6 --out "$T/lr"
awk -F, 'NR>1 && $6 == 0.000001 && $8 < 40 {lo=1} NR>1 && $6 == 0.005 && $8 > 60 {hi=1} END{exit !(lo && hi)}' \
  "$T/lr/trials.csv" || { cat "$T/lr/trials.csv"; fail "lr and update_epochs did not reach PPO"; }
# PBT over the network's shape: a trial that takes a donor's checkpoint
# takes its hidden layers too, so no resume fails
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=loguniform(1e-4,1e-2)' \
  --space 'hidden=choice(16-16,32-32,64-64)' --scheduler pbt --perturbation-interval 2 --resample-probability 0.5 \
  --max-t 8 --trials 4 --out "$T/pbt"
# (one did: its lr changed between its reports; the population advances
# together, so its report count does not tell)
awk -F, 'NR==1 {for (i = 1; i <= NF; i++) if ($i == "lr") c = i; next}
  {if (($1 in lr) && lr[$1] != $c) p = 1; lr[$1] = $c} END {exit !p}' "$T/pbt/results.csv" ||
  { cat "$T/pbt/trials.csv"; fail "no PBT trial took over a checkpoint"; }
[ "$(grep -c ',done,' "$T/pbt/trials.csv")" -eq 4 ] || { cat "$T/pbt/trials.csv"; fail "PBT trials failed"; }
# 4 ranks, groups of 2: DD-PPO trials
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q $common --space 'lr=loguniform(1e-3,1e-2)' --max-t 2 --trials 4 \
  --ranks-per-trial 2 --out "$T/g"
[ "$(grep -c ',done,' "$T/g/trials.csv")" -eq 4 ] || { cat "$T/g/trials.csv"; fail "4 DD-PPO trials should be done"; }
grep -q '"ranks": 2' "$T"/g/trials/000000/summary.json || fail "a trial did not run on its group of 2"
/usr/bin/python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T"/g/trials/000000/summary.json ||
  fail "a trial's summary.json is not JSON: $(cat "$T"/g/trials/000000/summary.json)"
# SIGUSR1 in the middle, then --resume
$MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=loguniform(1e-3,1e-2)' --max-t 40 --trials 4 \
  --out "$T/r" > "$T/r.out" 2>&1 &
pid=$!
n=0
while [ ! -s "$T/r/results.csv" ] || [ "$(wc -l < "$T/r/results.csv")" -lt 4 ]; do
  sleep 0.1; n=$((n + 1)); [ $n -lt 300 ] || fail "no reports in 30 s"
done
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat "$T/r.out"; fail "stopped run exited $rc, not 75"; }
grep -q ',done,' "$T/r/trials.csv" && [ "$(grep -c ',done,' "$T/r/trials.csv")" -eq 4 ] &&
  fail "every trial was done before the stop: the test did not interrupt anything"
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=loguniform(1e-3,1e-2)' --max-t 40 --trials 4 \
  --out "$T/r" --resume
[ "$(grep -c ',done,40,' "$T/r/trials.csv")" -eq 4 ] || { cat "$T/r/trials.csv"; fail "not every trial done after --resume"; }
[ "$(cut -d, -f1,2 "$T/r/results.csv" | sort | uniq -d | wc -l)" -eq 0 ] || fail "a report twice after --resume"
[ "$(wc -l < "$T/r/results.csv")" -eq 161 ] || fail "$(wc -l < "$T/r/results.csv") lines in results.csv, not 4 x 40 + 1"
# bad input
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --space 'foo=uniform(0,1)' --max-t 2 --trials 2 --out "$T/bad"
expect_grep "parameter 'foo' is not used by the ppo objective" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --space 'hidden=uniform(8,64)' --max-t 2 --trials 2 --out "$T/bad"
expect_grep "parameter 'hidden' cannot set the ppo option" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --space 'gamma=choice(0.99,high)' --max-t 2 --trials 2 --out "$T/bad"
expect_grep "parameter 'gamma' cannot set the ppo option" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --env Pong --space 'lr=uniform(0.001,0.01)' --max-t 2 --trials 2 \
  --out "$T/bad"
expect_grep "env 'Pong': unknown environment (CartPole-v1" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --space 'lr=uniform(0.001,0.01)' --time-attr env_steps --max-t 8000 \
  --trials 2 --out "$T/bad"
expect_grep "needs --iterations N" "$T/err"
# a metric ppo never reports (every trial ran and failed on it)
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q $common --metric reward --space 'lr=uniform(0.001,0.01)' --max-t 2 \
  --trials 2 --out "$T/bad"
expect_grep "^sluice: error: --metric reward: the ppo objective reports return_mean, env_steps" "$T/err"
[ ! -e "$T/bad" ] || fail "a refused run left $T/bad"
echo PASS
