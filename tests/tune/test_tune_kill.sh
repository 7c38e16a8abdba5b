#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 of every rank and trial in the middle of an experiment (nothing
# saved on the way out): experiment.h5 is whole, and --resume ends with the
# trial table and reports of an uninterrupted run (deterministic objective,
# random search, FIFO): trials after the last write are redone, none lost,
# none twice.
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
run() {
  $MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 6 0.1" --space 'x=uniform(-1,1)' --metric loss --trials 8 \
    --seed 9 --out "$@"
}
run "$T/ref" > "$T/out" 2>&1 || { cat "$T/out"; fail "the uninterrupted run failed"; }
$MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 6 0.1" --space 'x=uniform(-1,1)' --metric loss --trials 8 \
  --seed 9 --out "$T/cut" > "$T/out" 2>&1 &
pid=$!
i=0
while [ "$(cat "$T/cut/results.csv" 2>/dev/null | wc -l)" -lt 6 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
# the ranks are mpirun's children, the trials their children's process groups
for r in $(pgrep -P $pid); do
  for c in $(pgrep -P "$r"); do kill -9 -- "-$c" 2>/dev/null; done
  kill -9 "$r" 2>/dev/null
done
wait $pid
h5dump -H "$T/cut/experiment.h5" > /dev/null 2>&1 || fail "experiment.h5 is not whole after kill -9"
grep -q ',done,' "$T/cut/trials.csv" && [ "$(grep -c ',done,' "$T/cut/trials.csv")" -eq 8 ] &&
  fail "the kill came too late to test anything"
expect_rc 0 run "$T/cut" --resume
cmp "$T/ref/trials.csv" "$T/cut/trials.csv" || { diff "$T/ref/trials.csv" "$T/cut/trials.csv"; fail "trial tables differ"; }
cut -d, -f1,2,4- "$T/ref/results.csv" | sort > "$T/a"; cut -d, -f1,2,4- "$T/cut/results.csv" | sort > "$T/b"
cmp "$T/a" "$T/b" || { diff "$T/a" "$T/b"; fail "reports differ (lost or duplicated)"; }
# checkpoints of steps experiment.h5 does not know (written after the state
# the resume reads, or never reported) are stale: a trial running at the
# kill resumes from its newest checkpoint of a reported step, and the stale
# ones neither shadow its new checkpoints in pruning nor outlive them
cat > "$T/k.sh" <<'SH'
#!/bin/sh
d=$1
echo "resume=${SLUICE_RESUME:-}" >> "$d/starts"
step=0
[ -n "${SLUICE_RESUME:-}" ] && step=$(cat "$SLUICE_RESUME")
if [ ! -e "$d/killed-run" ]; then
  touch "$d/killed-run"
  for s in 1 2 3 4 5; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=$s"; done
  for s in 6 7 8; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; done
  i=0
  while ! grep -q '^0,running,5,' "$d/k/trials.csv" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
  touch "$d/ready"
  sleep 60
fi
while [ $step -lt $SLUICE_MAX_T ]; do
  step=$((step+1)); echo $step > "$SLUICE_TRIAL_DIR/checkpoint-$step"; echo "sluice-report step=$step loss=$step"
done
SH
chmod +x "$T/k.sh"
krun() {
  $MPIRUN -np 1 $SLUICE tune -q --command "$T/k.sh $T" --space 'x=uniform(0,1)' --metric loss --trials 1 \
    --max-t 7 --keep-checkpoints 2 --out "$T/k" "$@"
}
krun > "$T/out" 2>&1 &
pid=$!
i=0
while [ ! -e "$T/ready" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
for r in $(pgrep -P $pid); do
  for c in $(pgrep -P "$r"); do kill -9 -- "-$c" 2>/dev/null; done
  kill -9 "$r" 2>/dev/null
done
wait $pid
expect_rc 0 krun --resume
[ "$(sed -n 2p "$T/starts")" = "resume=$T/k/trials/000000/checkpoint-5" ] ||
  fail "the killed trial did not resume from its last reported checkpoint: $(cat "$T/starts")"
[ "$(cd "$T/k/trials/000000" && echo checkpoint-*)" = "checkpoint-6 checkpoint-7" ] ||
  fail "stale checkpoints of the killed run outlived the new ones: $(ls "$T/k/trials/000000")"
# killed between a decision (saved) and the end of the trial's job (the
# program slow to stop): the resume takes the decision as it stands, and the
# trial's directory is tidied as the job's end would have, to the newest
# --keep-checkpoints K of its reported steps (the unreported one it had
# begun goes); it used to keep them all
cat > "$T/d.sh" <<'SH'
#!/bin/sh
trap '' TERM
for s in 1 2 3 4 5; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=$s"; done
echo 6 > "$SLUICE_TRIAL_DIR/checkpoint-6"
sleep 60
SH
chmod +x "$T/d.sh"
drun() {
  $MPIRUN -np 1 $SLUICE tune -q --command "$T/d.sh" --space 'x=uniform(0,1)' --metric loss --trials 1 \
    --max-t 5 --keep-checkpoints 2 --kill-grace 60 --out "$T/d" "$@"
}
drun > "$T/out" 2>&1 &
pid=$!
i=0
while ! grep -q '^0,running,5,' "$T/d/trials.csv" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
for r in $(pgrep -P $pid); do
  for c in $(pgrep -P "$r"); do kill -9 -- "-$c" 2>/dev/null; done
  kill -9 "$r" 2>/dev/null
done
wait $pid
grep -q '^0,running,5,' "$T/d/trials.csv" || fail "the decision was not saved before the kill: $(cat "$T/d/trials.csv")"
expect_rc 0 drun --resume
grep -q '^0,done,5,' "$T/d/trials.csv" || fail "the decided trial is not done: $(cat "$T/d/trials.csv")"
[ "$(cd "$T/d/trials/000000" && echo checkpoint-*)" = "checkpoint-4 checkpoint-5" ] ||
  fail "--keep-checkpoints 2 does not hold for a trial decided before the kill: $(ls "$T/d/trials/000000")"
# killed while experiment.h5 lags behind the reports (it is written at most
# every 50 writes' time): the resume goes on from the step it holds and drops
# the checkpoints after it, so pruning must keep the newest one up to that
# step; it pruned up to the reported step, and a trial that had reported a
# burst of steps since the last write started over from its first step
cat > "$T/b.sh" <<'SH'
#!/bin/sh
d=$1
echo "$SLUICE_TRIAL_ID resume=${SLUICE_RESUME:-}" >> "$d/bstarts"
step=0
[ -n "${SLUICE_RESUME:-}" ] && step=$(cat "$SLUICE_RESUME")
if [ ! -e "$d/b-killed" ]; then
  # three steps, then 27 at once, read at one wake soon after a write of
  # the state (pruned, not written: writes come at most every 50 writes'
  # time), then the kill
  for s in 1 2 3; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=$s"; sleep 0.3; done
  # once experiment.h5 holds a step (results.csv is written with it): under
  # load a write can wait 50 writes' time, and the resume rightly started over
  i=0
  while ! grep -q '^0,[123],' "$d/burst/results.csv" 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
  out=""
  while [ $s -lt 30 ]; do s=$((s+1)); echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; out="$out
sluice-report step=$s loss=$s"; done
  echo "$out"
  sleep 0.02
  touch "$d/b-killed"
  kill -9 $PPID
  exit 0
fi
while [ $step -lt 40 ]; do
  step=$((step+1)); echo $step > "$SLUICE_TRIAL_DIR/checkpoint-$step"; echo "sluice-report step=$step loss=$step"
done
SH
chmod +x "$T/b.sh"
brun() {
  $MPIRUN -np 1 $SLUICE tune -q --command "$T/b.sh $T" --space 'x=uniform(0,1)' --metric loss --trials 1 \
    --max-t 40 --keep-checkpoints 1 --out "$T/burst" "$@"
}
brun > "$T/out" 2>&1
[ -e "$T/b-killed" ] || { cat "$T/out"; fail "the burst trial did not kill its rank"; }
expect_rc 0 brun --resume
grep -q 'holds no checkpoint' "$T/err" && { cat "$T/bstarts" "$T/err"; fail "a trial killed after a burst of reports started over from its first step"; }
grep -q "^0 resume=$T/burst/trials/000000/checkpoint-[0-9]" "$T/bstarts" ||
  fail "the trial did not resume from a checkpoint: $(cat "$T/bstarts")"
[ "$(cd "$T/burst/trials/000000" && echo checkpoint-*)" = "checkpoint-40" ] ||
  fail "the trial does not end with its newest checkpoint alone: $(ls "$T/burst/trials/000000")"
# killed after best.h5 was made from a report experiment.h5 does not hold
# yet (it is written at most every 50 writes' time): the trial redoes the
# step and reports worse, so the saved best (trial 0) stays the best, and
# best.h5 must be its checkpoint; it stayed trial 1's
cat > "$T/bh.sh" <<'SH'
#!/bin/sh
d=$1
echo "$SLUICE_TRIAL_ID" > "$SLUICE_TRIAL_DIR/checkpoint-1"
if [ "$SLUICE_TRIAL_ID" = 0 ]; then echo "sluice-report step=1 loss=2"; exit 0; fi
if [ ! -e "$d/bh-killed" ]; then
  echo "sluice-report step=1 loss=1"
  i=0
  while [ "$(cat "$d/bh/best.h5" 2>/dev/null)" != 1 ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
  touch "$d/bh-killed"
  kill -9 $PPID
  sleep 5
  exit 0
fi
echo "sluice-report step=1 loss=3"
SH
chmod +x "$T/bh.sh"
# killed_then_resumed NAME TRIALS: $T/NAME.sh as the command of TRIALS
# trials on one rank, into $T/NAME, until a trial kills its rank (it touches
# $T/NAME-killed); then --resume, which must finish
killed_then_resumed() {
  krun() {
    $MPIRUN -np 1 $SLUICE tune -q --command "$T/$1.sh $T" --space 'x=uniform(0,1)' --metric loss --trials "$2" \
      --out "$T/$1" ${3:-}
  }
  krun "$1" "$2" > "$T/out" 2>&1
  [ -e "$T/$1-killed" ] || { cat "$T/out"; fail "a trial of $1.sh did not kill its rank"; }
  expect_rc 0 krun "$1" "$2" --resume
}
killed_then_resumed bh 2
grep -q '"trial": 0,' "$T/bh/best.json" || fail "the report cut off by the kill counts: $(cat "$T/bh/best.json")"
[ "$(cat "$T/bh/best.h5")" = 0 ] ||
  fail "best.h5 is trial $(cat "$T/bh/best.h5")'s checkpoint, best.json names trial 0"
# the same, with the saved best's checkpoint pruned by then (keep 1, a
# worse step after it): best.h5 was missing for good, best.json naming
# trial 0; the link of the saved best made at each write brings it back
cat > "$T/bp.sh" <<'SH'
#!/bin/sh
d=$1
if [ "$SLUICE_TRIAL_ID" = 0 ]; then
  echo 0-1 > "$SLUICE_TRIAL_DIR/checkpoint-1"; echo "sluice-report step=1 loss=2"
  echo 0-2 > "$SLUICE_TRIAL_DIR/checkpoint-2"; echo "sluice-report step=2 loss=5"; exit 0
fi
echo 1-1 > "$SLUICE_TRIAL_DIR/checkpoint-1"
if [ ! -e "$d/bp-killed" ]; then
  # right after the write that holds trial 0 done, which prunes its step 1
  # (the next write comes 50 writes' time later at the soonest)
  i=0
  while [ -e "$d/bp/trials/000000/checkpoint-1" ] && [ $i -lt 2000 ]; do sleep 0.005; i=$((i+1)); done
  echo "sluice-report step=1 loss=1"
  i=0
  while [ "$(cat "$d/bp/best.h5" 2>/dev/null)" != 1-1 ] && [ $i -lt 500 ]; do sleep 0.005; i=$((i+1)); done
  touch "$d/bp-killed"
  kill -9 $PPID
  sleep 5
  exit 0
fi
echo "sluice-report step=1 loss=3"
SH
chmod +x "$T/bp.sh"
bprun() { # bprun NAME [options]: $T/NAME.sh into $T/NAME
  n=$1
  shift
  $MPIRUN -np 1 $SLUICE tune -q --command "$T/$n.sh $T" --space 'x=uniform(0,1)' --metric loss --trials 2 \
    --keep-checkpoints 1 --out "$T/$n" "$@"
}
# bp_killed NAME: bprun NAME until its trial 1 kills the rank with its
# report unsaved, which the case needs (tried up to 3 times)
bp_killed() {
  for try in 1 2 3; do
    rm -rf "$T/$1" "$T/$1-killed"
    bprun "$1" > "$T/out" 2>&1
    [ -e "$T/$1-killed" ] || { cat "$T/out"; fail "a trial of $1.sh did not kill its rank"; }
    ! grep -q '^1,' "$T/$1/results.csv" && [ ! -e "$T/$1/trials/000000/checkpoint-1" ] && return
  done
  fail "$1: trial 1's report was saved before the kill three times: nothing tested"
}
bp_killed bp
expect_rc 0 bprun bp --resume
grep -q '"trial": 0, "step": 1,' "$T/bp/best.json" || fail "best.json: $(cat "$T/bp/best.json")"
[ "$(cat "$T/bp/best.h5" 2>/dev/null)" = 0-1 ] ||
  fail "best.h5 is not trial 0's checkpoint of step 1: $(cat "$T/bp/best.h5" 2>&1); $(ls -a "$T/bp")"
# the same with directory checkpoints, kept as the directory best/ (links)
# and as .best-saved-T-S/
sed -e 's|echo \([01]-[12]\) > "$SLUICE_TRIAL_DIR/checkpoint-\([12]\)"|mkdir "$SLUICE_TRIAL_DIR/checkpoint-\2" \&\& echo \1 > "$SLUICE_TRIAL_DIR/checkpoint-\2/w"|' \
  -e 's|\$d/bp/best.h5|$d/bpd/best/checkpoint-1/w|; s|\$d/bp/|$d/bpd/|; s|\$d/bp-killed|$d/bpd-killed|' "$T/bp.sh" > "$T/bpd.sh"
chmod +x "$T/bpd.sh"
grep -q 'checkpoint-1/w' "$T/bpd.sh" && ! grep -q '/bp/\|bp-killed' "$T/bpd.sh" || fail "bpd.sh: $(cat "$T/bpd.sh")"
bp_killed bpd
[ -d "$T/bpd/.best-saved-0-1" ] || fail "no .best-saved-0-1/ before the resume: $(ls -a "$T/bpd")"
expect_rc 0 bprun bpd --resume
grep -q '"trial": 0, "step": 1,' "$T/bpd/best.json" || fail "best.json: $(cat "$T/bpd/best.json")"
[ "$(cat "$T/bpd/best/checkpoint-1/w" 2>/dev/null)" = 0-1 ] ||
  fail "best/ is not trial 0's checkpoint of step 1: $(ls -a "$T/bpd" "$T/bpd/best" 2>&1 | tr '\n' ' ')"
[ -e "$T/bpd/best.h5" ] || [ -e "$T/bpd/.best.tmp" ] || [ -e "$T/bpd/.best.old" ] &&
  fail "left beside best/: $(ls -a "$T/bpd")"
# a trial that reports the step it resumed from again (it evaluates the
# checkpoint first) makes best.h5 of the file it already is: no best.h5.tmp
# is left beside it
cat > "$T/rr.sh" <<'SH'
#!/bin/sh
d=$1
if [ -n "${SLUICE_RESUME:-}" ]; then echo "sluice-report step=1 loss=1"; exit 0; fi
echo 1 > "$SLUICE_TRIAL_DIR/checkpoint-1"
echo "sluice-report step=1 loss=1"
# killed once experiment.h5 holds the report (results.csv is written with
# it): a fixed 0.5 s was too short under load, and the resume started over
i=0
while ! grep -q '^0,1,' "$d/rr/results.csv" 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
touch "$d/rr-killed"
kill -9 $PPID
sleep 5
SH
chmod +x "$T/rr.sh"
killed_then_resumed rr 1
[ -e "$T/rr/best.h5" ] || fail "best.h5 is missing"
[ -e "$T/rr/best.h5.tmp" ] && fail "best.h5.tmp was left beside best.h5: $(ls "$T/rr")"
# killed after a trial wrote and reported checkpoints but before the state
# held the trial, then resumed with a smaller --trials that ends the
# experiment without it: its checkpoints stayed, in the directory of a
# trial trials.csv does not have (found by bench/tune/chaos.py, where a
# --target ended the experiment before such a trial ran again)
cat > "$T/kq.sh" <<'SH'
#!/bin/sh
d=$1
if [ "$SLUICE_TRIAL_ID" = 0 ]; then echo "sluice-report step=1 loss=1"; exit 0; fi
for s in 1 2 3; do echo $s > "$SLUICE_TRIAL_DIR/checkpoint-$s"; echo "sluice-report step=$s loss=2"; done
if [ ! -e "$d/kq-killed" ]; then touch "$d/kq-killed"; kill -9 $PPID; sleep 5; fi
SH
chmod +x "$T/kq.sh"
kqrun() {
  $MPIRUN -np 1 $SLUICE tune -q --command "$T/kq.sh $T" --space 'x=uniform(0,1)' --metric loss \
    --keep-checkpoints 1 --out "$T/kq" "$@"
}
kqrun --trials 2 > "$T/out" 2>&1
[ -e "$T/kq-killed" ] || { cat "$T/out"; fail "kq.sh did not kill its rank"; }
[ -e "$T/kq/trials/000001/checkpoint-3" ] || fail "kq: trial 1 wrote no checkpoints: $(ls -R "$T/kq/trials")"
if grep -q '^1,' "$T/kq/trials.csv"; then
  echo "kq: the state held trial 1 before the kill (a write came first): the case is not tested this time"
else
  expect_rc 0 kqrun --trials 1 --resume
  [ -e "$T/kq/trials/000001" ] && fail "the directory of a trial the state never held stayed: $(ls -R "$T/kq/trials")"
fi
# the ranks alone killed with -9 (a crash, the OOM killer): the commands
# they ran do not run on unseen; each rank's guard sends their groups SIGTERM
printf '#!/bin/sh\necho $$ >> "%s/gpids"\nexec sleep 60\n' "$T" > "$T/g.sh"
chmod +x "$T/g.sh"
$MPIRUN -np 2 $SLUICE tune -q --command "$T/g.sh" --space 'x=uniform(0,1)' --metric m --trials 2 \
  --out "$T/g" > "$T/out" 2>&1 &
pid=$!
i=0
while [ "$(cat "$T/gpids" 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
[ "$(wc -l < "$T/gpids")" -eq 2 ] || fail "the two commands did not start"
for r in $(pgrep -P $pid); do kill -9 "$r" 2>/dev/null; done
wait $pid
i=0
while [ $i -lt 100 ]; do
  left=""
  for g in $(cat "$T/gpids"); do kill -0 "$g" 2>/dev/null && left="$left $g"; done
  [ -z "$left" ] && break
  sleep 0.1; i=$((i+1))
done
if [ -n "$left" ]; then
  kill -9 $left
  fail "commands ran on after their ranks were killed with -9"
fi
# a command stopped by a decision whose group still runs a child after its
# leader is gone (a child between its write and the signal: mv of a
# checkpoint into place): the job waits for the group before its end prunes
# the checkpoints after the taken step, or the child's file landed after
# that and outlived the experiment (a later --resume removed it)
cat > "$T/late.sh" <<'SH'
#!/bin/sh
d=$SLUICE_TRIAL_DIR
(trap 'sleep 0.5; echo 99 > "$d/checkpoint-99"; exit 0' TERM; while :; do sleep 0.05; done) &
s=0
while :; do s=$((s+1)); echo $s > "$d/checkpoint-$s"; echo "sluice-report step=$s loss=$s"; sleep 0.05; done
SH
chmod +x "$T/late.sh"
expect_rc 0 $MPIRUN -np 1 $SLUICE tune -q --command "$T/late.sh" --space 'x=uniform(0,1)' --metric loss \
  --trials 1 --max-t 3 --keep-checkpoints 2 --kill-grace 5 --out "$T/late"
sleep 1
[ -e "$T/late/trials/000000/checkpoint-99" ] &&
  fail "a checkpoint the stopped command's child wrote after the job's end stayed: $(ls "$T/late/trials/000000")"
[ "$(ls "$T/late/trials/000000" | grep -c '^checkpoint-')" -eq 2 ] ||
  fail "--keep-checkpoints 2 left $(ls "$T/late/trials/000000")"
echo PASS
