#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# SIGUSR1 in the middle of an experiment (deterministic objective, random
# search, FIFO, 2 ranks): the run stops with exit status 75 and experiment.h5
# consistent; --resume finishes it, and the trial table and every report are
# the same as those of an uninterrupted run: nothing lost, nothing twice;
# a second run on an EXPDIR in use is refused.
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
run() {
  $MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 8 0.15" --space 'x=uniform(-1,1)' \
    --space 'y=choice(-0.2,0,0.4)' --metric loss --trials 8 --seed 5 --out "$@"
}
run "$T/ref" > "$T/out" 2>&1 || { cat "$T/out"; fail "the uninterrupted run failed"; }

$MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 8 0.15" --space 'x=uniform(-1,1)' \
  --space 'y=choice(-0.2,0,0.4)' --metric loss --trials 8 --seed 5 --out "$T/cut" > "$T/out" 2>&1 &
pid=$!
i=0
# stop once a few reports have arrived (the state is saved at decisions)
while [ "$(cat "$T/cut/results.csv" 2>/dev/null | wc -l)" -lt 5 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat "$T/out"; fail "the stopped run exited $rc, not 75"; }
# the same command alone would be refused (EXPDIR holds an experiment)
grep -q "run the same command again with --resume" "$T/out" || { cat "$T/out"; fail "the stop message does not name --resume"; }
grep -q ',running,' "$T/cut/trials.csv" && fail "trials left running in the saved state"
grep -q ',pending,' "$T/cut/trials.csv" || fail "the stop came too late to test a resume"
# the summary accounts for every trial: those left to resume too
awk '/^tune stopped: / {n = $3; for (i = 5; i < NF; i += 2) s += $i; ok = s == n && /pending/} END {exit !ok}' \
  "$T/out" || { cat "$T/out"; fail "the stopped summary's counts do not add up to its trials"; }
# a resume with another mode is refused, naming both modes
expect_rc 1 run "$T/cut" --resume --mode max
expect_grep "loss --mode min, now loss --mode max" "$T/err"
expect_rc 0 run "$T/cut" --resume
cmp "$T/ref/trials.csv" "$T/cut/trials.csv" || { diff "$T/ref/trials.csv" "$T/cut/trials.csv"; fail "trial tables differ"; }
# all but the time column (seconds since the experiment began)
cut -d, -f1,2,4- "$T/ref/results.csv" | sort > "$T/a"; cut -d, -f1,2,4- "$T/cut/results.csv" | sort > "$T/b"
cmp "$T/a" "$T/b" || { diff "$T/a" "$T/b"; fail "reports differ (lost or duplicated)"; }
cmp "$T/ref/best.json" "$T/cut/best.json" || fail "best.json differs"
# a second run on an EXPDIR in use (a requeued job while the first still
# runs, ranks of a killed mpirun not yet gone) is refused and leaves it
# alone: two coordinators would run the same trials and overwrite each
# other's state and checkpoints
$MPIRUN -np 1 $SLUICE tune -q --command "$OBJ 4 0.3" --space 'x=uniform(-1,1)' --metric loss --trials 3 \
  --out "$T/busy" > "$T/busy.out" 2>&1 &
pid=$!
i=0
while [ ! -s "$T/busy/trials/000000/checkpoint-1" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
expect_rc 1 $MPIRUN -np 1 $SLUICE tune -q --command "$OBJ 4 0.3" --space 'x=uniform(-1,1)' --metric loss \
  --trials 3 --out "$T/busy" --resume
expect_grep "'$T/busy' is in use by another sluice tune" "$T/err"
wait $pid || { cat "$T/busy.out"; fail "the first run failed beside the refused one"; }
[ "$(grep -c '' "$T/busy/results.csv")" -eq 13 ] || fail "reports lost or doubled: $(cat "$T/busy/results.csv")"
# a stop while a paused trial is queued again at a busy group: its last
# job's pruning to --keep-checkpoints waited for a save, which found it
# queued (running) and left it to the next job's end; the stop skipped that
# job, and the trial kept K+1 checkpoints until a resume. Rank 0's trial
# (it holds EXPDIR/.lock) reaches the rung (step 2) with loss 2; then rank
# 1's first trial T with loss 1, paused there and promoted at once, queued
# behind rank 1's second trial, which runs until the stop.
cat > "$T/q.sh" <<'SH'
#!/bin/sh
d=$1
if ls -l /proc/$PPID/fd 2>/dev/null | grep -q '/\.lock$'; then
  for s in 1 2; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=2"; done
  exit 0
fi
if mkdir "$d/t-started" 2>/dev/null; then
  echo "$SLUICE_TRIAL_ID" > "$d/t-id"
  i=0
  # rank 0's trial paused at the rung, as saved (at least every 2 s)
  while ! grep -q ',paused,2,' "$d/q/trials.csv" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
  for s in 1 2; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=1"; done
  exit 0
fi
sleep 30
SH
chmod +x "$T/q.sh"
$MPIRUN -np 2 $SLUICE tune -q --command "$T/q.sh $T" --space 'x=uniform(0,1)' --metric loss --trials 3 \
  --scheduler asha --min-t 2 --max-t 4 --reduction-factor 2 --keep-checkpoints 1 --out "$T/q" > "$T/out" 2>&1 &
pid=$!
i=0
# the state is saved with T queued (running) at its rung's step
while ! { [ -s "$T/t-id" ] && grep -q "^$(cat "$T/t-id"),running,2," "$T/q/trials.csv" 2>/dev/null; } && [ $i -lt 600 ]; do
  sleep 0.05; i=$((i+1))
done
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat "$T/out"; fail "the stopped run exited $rc, not 75"; }
grep -q "^$(cat "$T/t-id"),pending,2," "$T/q/trials.csv" || fail "T is not pending at step 2: $(cat "$T/q/trials.csv")"
[ "$(cd "$T/q/trials/00000$(cat "$T/t-id")" && echo checkpoint-*)" = "checkpoint-2" ] ||
  fail "--keep-checkpoints 1 does not hold after a stop: $(ls "$T/q/trials/00000$(cat "$T/t-id")")"
echo PASS
