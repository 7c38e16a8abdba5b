#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# 4 ranks with --ranks-per-trial 2: two trials run at once, each on both
# ranks of its group. Each copy of a trial marks its start and waits until
# four copies (two trials x two ranks) have started: run one at a time, no
# trial could ever report. A stop decision reaches every rank of a trial;
# a copy that fails, the leader's or another, stops the others. best.h5 is the
# best checkpoint when the coordinator reads another group's reports late.
. "$top_srcdir/tests/lib.sh"
D="$T/marks"; mkdir -p "$D"
cat > "$T/gang.sh" <<SH
#!/bin/sh
touch "$D/start.\$SLUICE_TRIAL_ID.\$SLUICE_TRIAL_RANK.\$SLUICE_TRIAL_SIZE"
i=0
while [ "\$(ls "$D" | grep -c '^start\.[01]\.')" -lt 4 ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i+1)); done
[ "\$(ls "$D" | grep -c '^start\.[01]\.')" -ge 4 ] || exit 1
[ "\$SLUICE_TRIAL_RANK" = 0 ] && echo "sluice-report step=1 m=\$SLUICE_PARAM_X"
exit 0
SH
chmod +x "$T/gang.sh"
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q --command "$T/gang.sh" --space 'x=grid(1,2)' --searcher grid \
  --metric m --ranks-per-trial 2 --out "$T/g"
for t in 0 1; do
  for r in 0 1; do
    [ -e "$D/start.$t.$r.2" ] || fail "trial $t did not run on rank $r of its group of 2"
  done
done
[ "$(grep -c ',done,' "$T/g/trials.csv")" -eq 2 ] || { cat "$T/g/trials.csv"; fail "both trials should be done"; }

# decisions reach every rank: trials stopped at max-t (a long sleep otherwise)
cat > "$T/long.sh" <<SH
#!/bin/sh
trap 'echo stopped > "\$SLUICE_TRIAL_DIR/stopped.\$SLUICE_TRIAL_RANK"; exit 0' TERM
s=0
while [ \$s -lt 1000 ]; do
  s=\$((s+1)); [ "\$SLUICE_TRIAL_RANK" = 0 ] && echo "sluice-report step=\$s m=\$s"
  sleep 0.05
done
SH
chmod +x "$T/long.sh"
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q --command "$T/long.sh" --space 'x=uniform(0,1)' --metric m \
  --max-t 3 --trials 3 --ranks-per-trial 2 --out "$T/stop"
for t in 0 1 2; do
  for r in 0 1; do
    [ -e "$T/stop/trials/00000$t/stopped.$r" ] || fail "rank $r of trial $t did not get the stop"
  done
done
# one copy of a two-rank trial fails (exit 3 on group rank FAILING, which
# says so on stderr); the other, which may wait for it for ever (the ranks
# of a distributed program), must be stopped within seconds, not waited for
stop_other() { # stop_other NAME FAILING WHAT
  cat > "$T/$1.sh" <<SH
#!/bin/sh
[ "\$SLUICE_TRIAL_RANK" = $2 ] && { echo "rank $2 gives up" >&2; exit 3; }
trap 'echo stopped > "\$SLUICE_TRIAL_DIR/stopped"; exit 0' TERM
i=0
while [ \$i -lt 600 ]; do sleep 0.05; i=\$((i+1)); done
SH
  chmod +x "$T/$1.sh"
  t0=$(date +%s)
  expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --command "$T/$1.sh" --space 'x=uniform(0,1)' --metric m \
    --trials 1 --ranks-per-trial 2 --out "$T/$1"
  [ $(($(date +%s) - t0)) -lt 20 ] && [ -e "$T/$1/trials/000000/stopped" ] ||
    fail "the $3 copy of a trial whose other copy failed was not stopped"
}
stop_other lead 0 "other rank's"
# another copy fails: the leader's is stopped, and the warning names the
# rank and its log
stop_other member 1 "leader's"
expect_grep "trial 0 failed on rank 1 of its group; the command exited with status 3, after .rank 1 gives up. (see .*/trials/000000/trial.rank1.log)" "$T/err"
expect_grep "rank 1 gives up" "$T/member/trials/000000/trial.rank1.log"
# best.h5 when the coordinator reads another group's reports late (rank 0
# busy or descheduled, here stopped): that group's leader has ended the
# trial by then (--keep-checkpoints 1) and must not prune the checkpoint of
# its best step, which best.h5 becomes (it prunes only up to the step rank 0
# has said it took); the directory ends with K checkpoints all the same.
# best.h5 used to be left out (or an older best's)
cat > "$T/late.sh" <<'SH'
#!/bin/sh
d=$1
echo $PPID > "$d/late-where.$SLUICE_TRIAL_ID"
i=0
while [ ! -e "$d/late-role.$SLUICE_TRIAL_ID" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
if [ "$(cat "$d/late-role.$SLUICE_TRIAL_ID")" = hold ]; then # on rank 0
  while [ ! -e "$d/late-done" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
  echo 0 > "$SLUICE_TRIAL_DIR/checkpoint-1"; echo "sluice-report step=1 loss=10"; exit 0
fi
while [ ! -e "$d/late-go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
for s in 1 2 3; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=$s"; done
touch "$d/late-ended"
SH
chmod +x "$T/late.sh"
$MPIRUN -np 2 $SLUICE tune -q --command "$T/late.sh $T" --space 'x=uniform(0,1)' --metric loss --trials 2 \
  --keep-checkpoints 1 --out "$T/late" > "$T/late.out" 2>&1 &
pid=$!
i=0
while [ ! -e "$T/late-where.0" ] || [ ! -e "$T/late-where.1" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
r0=""
for r in $(pgrep -P $pid); do tr '\0' '\n' < /proc/$r/environ | grep -qxE 'OMPI_COMM_WORLD_RANK=0|PMIX_RANK=0|PMI_RANK=0' && r0=$r; done
[ -n "$r0" ] || { kill $pid; fail "rank 0 not found"; }
for t in 0 1; do [ "$(cat "$T/late-where.$t")" = "$r0" ] && echo hold > "$T/late-role.$t" || echo late > "$T/late-role.$t"; done
lt=$(grep -l late "$T"/late-role.* | sed 's/.*\.//')
[ "$(cat "$T"/late-role.* | grep -c late)" = 1 ] || { kill $pid; fail "the two trials did not run on the two groups"; }
kill -STOP "$r0"
touch "$T/late-go"
i=0 # the other group's trial has ended (its leader reads its last reports within 1 ms)
while [ ! -e "$T/late-ended" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.5
[ -e "$T/late/trials/00000$lt/checkpoint-1" ] || { kill -CONT "$r0"; kill $pid; fail "the leader pruned the best checkpoint before rank 0 read its report"; }
kill -CONT "$r0"
touch "$T/late-done"
wait $pid || { cat "$T/late.out"; fail "the run with a late coordinator failed"; }
expect_grep "\"trial\": $lt, \"step\": 1, \"metric\": 1," "$T/late/best.json"
[ "$(cat "$T/late/best.h5" 2>/dev/null)" = 1 ] || fail "best.h5 is not trial $lt's checkpoint of step 1: $(cat "$T/late/best.h5" 2>&1)"
[ "$(ls "$T/late/trials/00000$lt")" = checkpoint-3 ] || fail "--keep-checkpoints 1: $(ls "$T/late/trials/00000$lt")"
echo PASS

# a copy that outlives the leader's (rank 1's never ends by itself) is
# waited for, but a stop request stops it: the run exits 75 at once (it
# held the job past the stop signal, for ever)
cat > "$T/lone.sh" <<SH
#!/bin/sh
[ "\$SLUICE_TRIAL_RANK" = 0 ] && { echo "sluice-report step=1 m=1"; touch "$T/lone-reported"; exit 0; }
exec sleep 1000
SH
chmod +x "$T/lone.sh"
$MPIRUN -np 2 $SLUICE tune -q --command "$T/lone.sh" --space 'x=uniform(0,1)' --metric m --trials 2 \
  --ranks-per-trial 2 --out "$T/lone" > "$T/lone.out" 2>&1 &
pid=$!
i=0
while [ ! -e "$T/lone-reported" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.5
kill -USR1 $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
if kill -0 $pid 2>/dev/null; then
  pkill -KILL -f "$T/lone.sh"; pkill -KILL -f 'sleep 1000'; kill -9 $pid
  fail "a stop request did not end a trial whose copy outlives the leader's in 30 s"
fi
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat "$T/lone.out"; fail "the stopped run exited $rc, not 75"; }
awk -F, 'NR==2 && $1==0 && $2=="done" {ok=1} END{exit !ok}' "$T/lone/trials.csv" ||
  { cat "$T/lone/trials.csv"; fail "trial 0, whose leader's copy ended, is not done"; }
echo PASS
