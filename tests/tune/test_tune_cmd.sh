#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice tune with the cmd objective on 2 ranks: a noisy function with a
# fidelity parameter is optimised (TPE + ASHA), every scheduler runs to the
# end, ASHA and --max-t count seconds with --time-attr, --budget caps the
# trial steps, --target ends the experiment, failing trials end errored
# while the experiment finishes, checkpoint pruning keeps exactly K per trial plus best.h5 (best/ for a
# directory checkpoint or one of several files), trial
# directories are made, kept and reused as documented, and bad input
# fails with one clear message and leaves EXPDIR as it was; malformed
# report lines are not taken, nor reports past a decision's step that the
# leader of another group read before the decision came (on 3 ranks).
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
TUNE="$MPIRUN -np 2 $SLUICE tune -q"
num() { sed -n "s/.*\"$1\": \([-0-9.e]*\).*/\1/p" "$2"; }

# 1. the optimum of (x-0.3)^2 + (y+0.2)^2 is found through the noise
expect_rc 0 $TUNE --command "$OBJ 16" --space 'x=uniform(-1,1)' --space 'y=uniform(-1,1)' --metric loss \
  --searcher tpe --scheduler asha --max-t 16 --trials 40 --seed 1 --out "$T/opt"
x=$(num x "$T/opt/best.json"); y=$(num y "$T/opt/best.json")
# (within 0.2 of it: the search's course depends on the order in which
# asynchronous results come, and under load x alone was 0.156 off once)
awk -v x="$x" -v y="$y" 'BEGIN{exit !((x - 0.3)^2 + (y + 0.2)^2 < 0.04)}' ||
  fail "best x=$x y=$y is not near (0.3, -0.2)"
expect_grep '"metric":' "$T/opt/best.json"
[ -s "$T/opt/best.h5" ] || fail "no best.h5"
head -1 "$T/opt/results.csv" | grep -q '^trial,step,time,x,y,loss$' || fail "results.csv header: $(head -1 "$T/opt/results.csv")"
[ "$(grep -c '' "$T/opt/trials.csv")" -eq 41 ] || fail "trials.csv should have 40 trials"

# 2. every scheduler runs to its end (with a config file and its [space])
cat > "$T/space.cfg" <<CFG
metric = loss
max-t = 9
[space]
x = quniform(-1, 1, 0.05)
y = choice(-0.2, 0, 0.4)
CFG
for s in fifo asha asha-stop hyperband median pbt; do
  expect_rc 0 $TUNE --config "$T/space.cfg" --command "$OBJ 9" --scheduler $s --trials 12 --out "$T/s-$s"
  grep -q ',running,\|,pending,' "$T/s-$s/trials.csv" && fail "$s left trials unfinished"
  [ -s "$T/s-$s/best.json" ] || fail "$s: no best.json"
done
grep -q ',pruned,' "$T/s-hyperband/trials.csv" || fail "hyperband pruned nothing"
# rounded rungs do not meet: with eta 1.5 (1, 1.5, 2.25, ... rounded) a trial
# promoted to the step it stood on ended done there, never reaching --max-t
for s in asha hyperband; do
  expect_rc 0 $TUNE --command "$OBJ 8" --space 'x=uniform(-1,1)' --metric loss --scheduler $s --reduction-factor 1.5 \
    --trials 12 --max-t 8 --out "$T/eta-$s"
  awk -F, 'NR>1 && $2=="done" {n++; if ($3!=8) bad=1} END {exit bad || !n}' "$T/eta-$s/trials.csv" ||
    fail "$s, eta 1.5: a trial done before --max-t 8: $(cat "$T/eta-$s/trials.csv")"
done
# a --space overrides the [space] entry of the same name (the command line
# overrides the file), and adds to the others
expect_rc 0 $TUNE --config "$T/space.cfg" --command "$OBJ 2" --space 'y=choice(7)' --trials 2 --max-t 2 --out "$T/over"
awk -F, 'NR==1 {for (i = 1; i <= NF; i++) if ($i == "y") c = i} NR>1 && (!c || $c != 7) {exit 1}' "$T/over/trials.csv" || fail "--space y did not replace [space] y: $(cat "$T/over/trials.csv")"
# space = given on two lines of [tune] adds both (the second replaced the first)
printf '[tune]\nspace = x=uniform(-1,1)\nspace = y=choice(5)\nmetric = loss\n' > "$T/two.cfg"
expect_rc 0 $TUNE --config "$T/two.cfg" --command "$OBJ 2" --trials 2 --max-t 2 --out "$T/two"
head -1 "$T/two/trials.csv" | grep -q ',x,y,' || fail "space = on two lines: $(head -1 "$T/two/trials.csv")"

# a program that keeps no checkpoints starts over at every promotion: said
# once (promoted trials redid their steps without a word)
expect_rc 0 $TUNE --command "env -u SLUICE_TRIAL_DIR $OBJ 9" --space 'x=uniform(-1,1)' --metric loss \
  --scheduler asha --reduction-factor 3 --max-t 9 --trials 9 --out "$T/nockpt"
[ "$(grep -c 'holds no checkpoint of it: it starts over from its first step' "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "a promoted trial without checkpoints was not warned about once"; }
expect_rc 0 $TUNE --command "$OBJ 9" --space 'x=uniform(-1,1)' --metric loss \
  --scheduler asha --reduction-factor 3 --max-t 9 --trials 9 --out "$T/withckpt"
grep -q 'holds no checkpoint' "$T/err" && fail "warned although the program keeps checkpoints"

# 2b. --time-attr time_total_s: ASHA's stopping form and --max-t count the
# seconds a trial has run (stamped on every report), not its steps
expect_rc 0 $TUNE --command "$OBJ 1000 0.05" --space 'x=uniform(-1,1)' --metric loss --scheduler asha-stop \
  --time-attr time_total_s --min-t 1 --max-t 2 --trials 4 --out "$T/secs"
head -1 "$T/secs/results.csv" | grep -q ',loss,time_total_s$' || fail "results.csv lacks time_total_s: $(head -1 "$T/secs/results.csv")"
# the report that passes 2 s is a trial's last (later ones are not taken)
awk -F, 'NR>1 {if ($NF >= 2) {past[$1]++; at[$1] = $2} if ($2 > s[$1]) s[$1] = $2; if ($NF > m[$1]) m[$1] = $NF}
  END {for (t in s) if (past[t] > 1 || (past[t] && at[t] != s[t]) || s[t] >= 1000 || m[t] > 5) exit 1}' \
  "$T/secs/results.csv" || fail "a trial ran past --max-t 2 seconds: $(tail -3 "$T/secs/results.csv")"
grep -q ',done,' "$T/secs/trials.csv" || fail "no trial reached --max-t 2 s"
awk -F, 'NR>1 && $2!="done" && $2!="pruned" {exit 1}' "$T/secs/trials.csv" || fail "time attr: $(cat "$T/secs/trials.csv")"
expect_rc 2 $TUNE --command "$OBJ 3" --space 'x=uniform(0,1)' --metric loss --scheduler hyperband \
  --time-attr time_total_s --max-t 9 --trials 2 --out "$T/secs-hb"
expect_grep "only fifo, asha-stop and median" "$T/err"
# a --time-attr that no report carries cannot stop a trial at --max-t: it is
# said once, not left silent
expect_rc 0 $TUNE --command "$OBJ 4" --space 'x=uniform(0,1)' --metric loss --time-attr samples --max-t 2 \
  --trials 3 --out "$T/noattr"
[ "$(grep -c "time-attr samples: trial .* without 'samples'" "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "a --time-attr never reported was not warned about once"; }

# 2c. --budget: the reports add up to 12 steps, then everything stops; the
# other group may add one step of its running trial and one of a trial
# queued there before the budget ran out
expect_rc 0 $TUNE --command "$OBJ 5" --space 'x=uniform(0,1)' --metric loss --trials 50 --max-t 5 \
  --budget 12 --out "$T/budget"
n=$(($(grep -c '' "$T/budget/results.csv") - 1))
[ "$n" -ge 12 ] && [ "$n" -le 14 ] || fail "--budget 12: $n trial steps reported"
[ "$(($(grep -c '' "$T/budget/trials.csv") - 1))" -le 5 ] || fail "--budget 12 started more than 5 trials"

# 2c'. --target: m = x * step reaches 40 in some trial; that trial is done
# at that step, the experiment ends there (a trial queued on the other
# group before may add a step, then it is pruned), and the output says who
# reached it and when; a --resume has nothing left to do; a --target that
# is not a number is a usage error
expect_rc 0 $TUNE --command 'for i in 1 2 3 4 5 6 7 8; do echo sluice-report step=$i m=$(({x} * i)); sleep 0.02; done' \
  --space 'x=randint(1,10)' --metric m --mode max --trials 30 --target 40 --out "$T/target"
expect_grep '^target: m >= 40 reached by trial [0-9]* at step [0-9]*, [0-9.]* s into the experiment$' "$T/out"
w=$(sed -n 's/^target: .* by trial \([0-9]*\) at step.*/\1/p' "$T/out")
awk -F, -v w="$w" 'NR > 1 && $1 == w' "$T/target/trials.csv" | grep -q "^$w,done," ||
  { cat "$T/target/trials.csv"; fail "--target: trial $w that reached it is not done"; }
awk -F, 'NR > 1 && $7 >= 40' "$T/target/trials.csv" | grep -q . || fail "--target: no trial reached m >= 40"
[ "$(($(grep -c '' "$T/target/trials.csv") - 1))" -le $((w + 3)) ] ||
  { cat "$T/target/trials.csv"; fail "--target: trials went on starting after trial $w reached it"; }
awk -F, 'NR > 1 && $2 != "done" && $2 != "pruned"' "$T/target/trials.csv" | grep -q . &&
  { cat "$T/target/trials.csv"; fail "--target: trials left neither done nor pruned"; }
n=$(grep -c '' "$T/target/results.csv")
expect_rc 0 $TUNE --command 'echo sluice-report step=1 m=0' --space 'x=randint(1,10)' --metric m --mode max \
  --trials 30 --target 40 --out "$T/target" --resume
[ "$(grep -c '' "$T/target/results.csv")" -eq "$n" ] || fail "--resume after --target ran more trials"
expect_rc 2 $TUNE --command 'true' --space 'x=randint(1,10)' --metric m --target 4o --trials 2 --out "$T/badtarget"
expect_grep "target '4o' is not a number" "$T/err"
[ ! -e "$T/badtarget" ] || fail "a bad --target left $T/badtarget"

# 2c''. the live line counts a job handed to a busy group ahead of time as
# queued, not running: never more running than the 2 groups
expect_rc 0 env SLUICE_PROGRESS=lines SLUICE_PROGRESS_INTERVAL=0.1 $MPIRUN -np 2 $SLUICE tune --command 'for i in 1 2 3 4; do echo sluice-report step=$i m={x}; sleep 0.1; done' \
  --space 'x=uniform(0,1)' --metric m --trials 6 --out "$T/live"
grep -q 'running [0-9]' "$T/err" || { cat "$T/err"; fail "no live line with SLUICE_PROGRESS=lines"; }
sed -n 's/.*running \([0-9]*\),.*/\1/p' "$T/err" | awk '$1 > 2 {exit 1}' ||
  { cat "$T/err"; fail "the live line shows more running trials than groups"; }

# 2d. trial directories: every command starts in a directory of its own,
# empty; one that leaves nothing in it has none afterwards (the directory is
# reused), one that writes keeps just its own files; a directory is not
# reused while a process the command left behind may still write in it, nor
# when the command put a link in its place; and output of several times
# what a pipe holds, before the report, is all read
cat > "$T/dirs.sh" <<'EOS'
#!/bin/sh
d=$SLUICE_TRIAL_DIR i=$SLUICE_TRIAL_ID
[ -d "$d" ] || { echo "no directory $d" >&2; exit 3; }
[ -z "$(ls -A "$d")" ] || { echo "$d holds $(ls -A "$d")" >&2; exit 4; }
case $((i % 5)) in
  0) echo "$i" > "$d/own.$i" ;;
  1) seq 1 50000 ;;
  3) (sleep 0.3; echo "$i" > "$d/late.$i") > /dev/null 2>&1 & ;;
  4) s="$d/../../scratch.$i"; mkdir "$s" && rmdir "$d" && ln -s "$s" "$d" ;;
esac
echo "sluice-report step=1 m=$SLUICE_PARAM_X"
EOS
chmod +x "$T/dirs.sh"
expect_rc 0 $TUNE --command "$T/dirs.sh" --space 'x=uniform(0,1)' --metric m --trials 25 --out "$T/dirs"
for w in $(seq 50); do # the background writers (0.3 s each), 10 s at most
  [ "$(ls "$T"/dirs/trials/*/late.* 2>/dev/null | grep -c '')" -ge 5 ] && break
  sleep 0.2
done
[ "$(grep -c ',done,' "$T/dirs/trials.csv")" -eq 25 ] || fail "trial directories: $(cat "$T/dirs/trials.csv"; cat "$T"/dirs/trials/*/trial.log)"
[ "$(($(grep -c '' "$T/dirs/results.csv") - 1))" -eq 25 ] || fail "trial directories: not every report was read"
[ -z "$(ls -A "$T/dirs/trials" | grep -v '^0')" ] || fail "left in trials/: $(ls -A "$T/dirs/trials")"
for i in $(seq 0 24); do
  d="$T/dirs/trials/$(printf %06d "$i")"
  case $((i % 5)) in
    0) [ "$(ls -A "$d" 2>&1)" = "own.$i" ] || fail "$d holds $(ls -A "$d" 2>&1), not own.$i" ;;
    1) [ "$(ls -A "$d" 2>&1)" = trial.log ] && [ "$(grep -c '' "$d/trial.log")" -eq 50000 ] ||
         fail "$d: the command's 50000 lines are not all in trial.log" ;;
    2) [ -e "$d" ] && fail "$d was left, though the trial wrote nothing" ;;
    3) [ "$(ls -A "$d" 2>&1)" = "late.$i" ] || fail "$d holds $(ls -A "$d" 2>&1), not late.$i written after the trial" ;;
    4) [ -L "$d" ] && [ -d "$T/dirs/scratch.$i" ] || fail "$d: the trial's link or its target was moved" ;;
  esac
done

# 3. a trial that fails is errored (after --max-failures retries); the rest go on
FAIL_ABOVE=0.5 expect_rc 0 $TUNE --command "$OBJ 3" --space 'x=uniform(0,1)' --metric loss --trials 12 \
  --max-failures 1 --out "$T/fail"
grep -q ',errored,' "$T/fail/trials.csv" || fail "no errored trial"
grep -q ',done,' "$T/fail/trials.csv" || fail "no done trial"
awk -F, 'NR>1 && $2=="errored" && $5!=2 {exit 1}' "$T/fail/trials.csv" || fail "errored trials were not retried once"
# a trial that never reported has no step (it read -1), as it has no best_ or last_
awk -F, 'NR>1 && $2=="errored" && $3!="" {exit 1}' "$T/fail/trials.csv" ||
  fail "an errored trial that never reported has a step: $(cat "$T/fail/trials.csv")"
expect_grep "failing on purpose" "$(ls -d "$T"/fail/trials/* | head -1)/../$(awk -F, 'NR>1 && $2=="errored"{printf "%06d", $1; exit}' "$T/fail/trials.csv")/trial.log"

# 3b. a malformed report line (a step that is not a whole number, or none,
# a value that is not a number) is not taken: it used to be counted as the
# next step, with whatever values parsed. It goes to trial.log, and a warning
# names the trial and the line
cat > "$T/malformed.sh" <<'EOS'
#!/bin/sh
echo "sluice-report step=1 loss=0.5"
echo "sluice-report step=x loss=0.1"
echo "sluice-report step=2.5 loss=0.1"
echo "sluice-report loss=0.1"
echo "sluice-report step=3 loss=abc"
echo "sluice-report step=4 loss="
echo "sluice-report step=2 loss=0.4"
EOS
chmod +x "$T/malformed.sh"
expect_rc 0 $TUNE --command "$T/malformed.sh" --space 'x=uniform(0,1)' --metric loss --trials 1 --out "$T/malformed"
[ "$(cut -d, -f1,2,5 "$T/malformed/results.csv" | tr '\n' ' ')" = "trial,step,loss 0,1,0.5 0,2,0.4 " ] ||
  fail "malformed report lines were taken: $(cat "$T/malformed/results.csv")"
expect_grep "trial 0: a malformed report line is not taken: 'sluice-report step=x loss=0.1'" "$T/err"
[ "$(grep -c 'malformed report' "$T/err")" -eq 1 ] || fail "the warning should be printed once a trial"
[ "$(grep -c '^sluice-report' "$T/malformed/trials/000000/trial.log")" -eq 5 ] ||
  fail "trial.log lacks the malformed lines: $(cat "$T/malformed/trials/000000/trial.log")"
# 3c. a trial whose metric is only ever NaN is errored, and the warning
# says so (it listed the metric among those seen, as if it were another);
# no trial with the metric: exit 1
printf '#!/bin/sh\necho "sluice-report step=1 loss=nan"\n' >"$T/nan.sh"
chmod +x "$T/nan.sh"
expect_rc 1 $TUNE --command "$T/nan.sh" --space 'x=uniform(0,1)' --metric loss --trials 1 --out "$T/nan"
grep -q ',errored,' "$T/nan/trials.csv" || fail "a NaN-only trial was not errored: $(cat "$T/nan/trials.csv")"
expect_grep "trial 0 ended without a value of the metric 'loss' (1 report, none with a number for it" "$T/err"

# 4. pruning: exactly K checkpoints per trial, and the best one as best.h5
expect_rc 0 $TUNE --command "$OBJ 6" --space 'x=uniform(0,1)' --metric loss --trials 4 --keep-checkpoints 2 \
  --out "$T/keep"
for d in "$T"/keep/trials/*; do
  n=$(ls "$d" | grep -c '^checkpoint-')
  [ "$n" -eq 2 ] || fail "$d holds $n checkpoints, not 2"
  [ -e "$d/checkpoint-5" ] && [ -e "$d/checkpoint-6" ] || fail "$d did not keep the newest two"
done
# a checkpoint of several files is one checkpoint: K steps are kept, all their files
cat > "$T/two.sh" <<'EOS'
#!/bin/sh
for s in 1 2 3 4; do
  touch "$SLUICE_TRIAL_DIR/checkpoint-$s.model" "$SLUICE_TRIAL_DIR/checkpoint-$s.optim"
  echo "sluice-report step=$s m=$s"
done
EOS
chmod +x "$T/two.sh"
expect_rc 0 $TUNE --command "$T/two.sh" --space 'x=uniform(0,1)' --metric m --trials 2 --keep-checkpoints 2 \
  --out "$T/keep2"
for d in "$T"/keep2/trials/*; do
  [ "$(ls "$d" | grep '^checkpoint-' | tr '\n' ' ')" = \
    "checkpoint-3.model checkpoint-3.optim checkpoint-4.model checkpoint-4.optim " ] ||
    fail "$d holds $(ls "$d" | tr '\n' ' '), not the files of steps 3 and 4"
done
bt=$(num trial "$T/keep/best.json"); bs=$(num step "$T/keep/best.json")
cmp -s "$T/keep/best.h5" "$T/keep/trials/$(printf %06d "$bt")/checkpoint-$bs" || fail "best.h5 is not trial $bt's checkpoint at step $bs"
# a checkpoint of several files, or a directory (as Ray Tune's are), is kept
# whole as the directory best/ (hard links: it outlives its trial's
# pruning), with no best.h5 beside it; there was none (a warning and an
# error at each new best)
[ "$(ls "$T/keep2/best" 2>&1 | tr '\n' ' ')" = "checkpoint-1.model checkpoint-1.optim " ] ||
  fail "best/ of a two-file checkpoint: $(ls -a "$T/keep2" "$T/keep2/best" 2>&1 | tr '\n' ' ')"
[ -e "$T/keep2/best.h5" ] && fail "best.h5 beside best/: $(ls "$T/keep2")"
cat > "$T/dirck.sh" <<'EOS'
#!/bin/sh
for s in 1 2 3 4; do
  mkdir -p "$SLUICE_TRIAL_DIR/checkpoint-$s/sub"
  echo "$SLUICE_TRIAL_ID-$s" > "$SLUICE_TRIAL_DIR/checkpoint-$s/sub/w"
  echo "sluice-report step=$s m=$((SLUICE_TRIAL_ID * 10 + (s - 2) * (s - 2)))"
done
EOS
chmod +x "$T/dirck.sh"
expect_rc 0 $TUNE --command "$T/dirck.sh" --space 'x=uniform(0,1)' --metric m --trials 2 --keep-checkpoints 1 \
  --out "$T/dirck"
expect_grep '"trial": 0, "step": 2,' "$T/dirck/best.json"
[ "$(cat "$T/dirck/best/checkpoint-2/sub/w" 2>&1)" = 0-2 ] ||
  fail "best/ is not trial 0's checkpoint-2/: $(find "$T/dirck" -path '*/trials' -prune -o -print | tr '\n' ' ')"
[ "$(ls "$T/dirck/best")" = checkpoint-2 ] || fail "best/ holds $(ls "$T/dirck/best"), not checkpoint-2"
[ -e "$T/dirck/best.h5" ] && fail "best.h5 beside best/: $(ls "$T/dirck")"
[ "$(ls "$T/dirck/trials/000000")" = checkpoint-4 ] || fail "pruning with best/: $(ls "$T/dirck/trials/000000")"
grep -q 'could not keep\|cannot copy' "$T/err" && fail "best/: $(cat "$T/err")"
# checkpoints that are links (relative, into the trial's directory: a file,
# then a directory) are kept as what they point to: best.h5 was the link
# itself, pointing nowhere from EXPDIR
cat > "$T/lnck.sh" <<'EOS'
#!/bin/sh
cd "$SLUICE_TRIAL_DIR" || exit 1
for s in 1 2 3; do
  if [ "$KIND" = file ]; then echo "$SLUICE_TRIAL_ID-$s" > "w-$s"; else mkdir -p "w-$s"; echo "$SLUICE_TRIAL_ID-$s" > "w-$s/f"; fi
  # links back up the tree: to the trial's directory, and through a sibling
  [ "$KIND" = loop ] && mkdir -p "x-$s" && ln -s .. "w-$s/up" && ln -s "../x-$s" "w-$s/side" && ln -s "../w-$s" "x-$s/back"
  ln -s "w-$s" "checkpoint-$s"
  echo "sluice-report step=$s m=$((SLUICE_TRIAL_ID * 10 + (s - 2) * (s - 2)))"
done
EOS
chmod +x "$T/lnck.sh"
export KIND=file
expect_rc 0 $TUNE --command "$T/lnck.sh" --space 'x=uniform(0,1)' --metric m --trials 2 --keep-checkpoints 1 \
  --out "$T/lnck"
[ -f "$T/lnck/best.h5" ] && [ ! -L "$T/lnck/best.h5" ] && [ "$(cat "$T/lnck/best.h5" 2>&1)" = 0-2 ] ||
  fail "best.h5 of a checkpoint that is a link: $(ls -l "$T/lnck" | tr '\n' ' ')"
KIND=dir
expect_rc 0 $TUNE --command "$T/lnck.sh" --space 'x=uniform(0,1)' --metric m --trials 2 --keep-checkpoints 1 \
  --out "$T/lnckd"
[ "$(cat "$T/lnckd/best/checkpoint-2/f" 2>&1)" = 0-2 ] && [ ! -L "$T/lnckd/best/checkpoint-2" ] ||
  fail "best/ of a checkpoint that is a link to a directory: $(ls -lR "$T/lnckd/best" 2>&1 | tr '\n' ' ')"
grep -q 'could not keep\|cannot copy' "$T/err" && fail "linked checkpoints: $(cat "$T/err")"
# links to directories the copy is inside are kept as links (they were
# followed: the copy went on until the path was too long)
KIND=loop
expect_rc 0 timeout 60 $TUNE --command "$T/lnck.sh" --space 'x=uniform(0,1)' --metric m --trials 2 --keep-checkpoints 1 \
  --out "$T/lnckl"
b=$T/lnckl/best/checkpoint-2
[ "$(cat "$b/f" 2>&1)" = 0-2 ] && [ "$(readlink "$b/up")" = .. ] && [ "$(readlink "$b/side/back")" = ../w-2 ] &&
  [ "$(find "$T/lnckl/best" | wc -l)" -eq 6 ] || fail "best/ of a checkpoint with looping links: $(find "$T/lnckl/best" | head -20 | tr '\n' ' ')"

# PBT copies the donor's whole checkpoint (several files, a directory, a
# link relative to the donor's directory: what it points to), and
# when the donor has pruned the one of the decision's step (--keep-checkpoints
# 1) while the exploited trial took its time to stop, its newest reported
# one: an exploited trial never starts over from nothing. The donor starts
# writing its next checkpoint right after a report, as a program that
# checkpoints between steps does: pruning at a report keeps the reported
# one and leaves the half-written one alone (it used to keep only the
# newest files, so under load a copy could take a half-written checkpoint)
cat > "$T/p.sh" <<'SH'
#!/bin/sh
d=$1 dir=$SLUICE_TRIAL_DIR step=0 how=fresh
if [ -n "${SLUICE_RESUME:-}" ]; then
  step=${SLUICE_RESUME##*/checkpoint-}; step=${step%%.*}
  how=partial
  [ -f "$dir/checkpoint-$step.model" ] && [ -f "$dir/checkpoint-$step.optim" ] &&
    [ "$(cat "$dir/checkpoint-$step.d/state")" = "$step" ] &&
    [ "$(cat "$dir/checkpoint-$step.link" 2>/dev/null)" = "$step" ] && how=whole
fi
echo "$SLUICE_TRIAL_ID $how $step" >> "$d/pbt-starts"
trap 'sleep 1; exit 0' TERM
while [ $step -lt $SLUICE_MAX_T ]; do
  step=$((step+1))
  echo $step > "$dir/checkpoint-$step.model"; sleep 0.05; echo $step > "$dir/checkpoint-$step.optim"
  mkdir -p "$dir/checkpoint-$step.d"; echo $step > "$dir/checkpoint-$step.d/state"
  echo $step > "$dir/w-$step"; ln -s "w-$step" "$dir/checkpoint-$step.link"
  echo "sluice-report step=$step loss=$(awk -v x="$SLUICE_PARAM_X" -v s=$step 'BEGIN{print x + 1/s}')"
done
SH
chmod +x "$T/p.sh"
expect_rc 0 $TUNE --command "$T/p.sh $T" --space 'x=uniform(0,1)' --metric loss \
  --scheduler pbt --trials 2 --quantile 0.5 --perturbation-interval 5 --max-t 30 --keep-checkpoints 1 \
  --out "$T/pbt"
[ "$(wc -l < "$T/pbt-starts")" -gt 2 ] || fail "no PBT exploit: $(cat "$T/pbt-starts")"
awk 'seen[$1]++ && $2 != "whole" {exit 1}' "$T/pbt-starts" ||
  fail "an exploited trial started without the donor's whole checkpoint: $(cat "$T/pbt-starts")"

# A trial whose program had begun its next checkpoint when it stopped (at an
# ASHA rung, --keep-checkpoints 1): that unreported one goes, the reported
# one stays, and the promoted trial resumes from its rung, never from 0
cat > "$T/half.sh" <<'SH'
#!/bin/sh
d=$1 dir=$SLUICE_TRIAL_DIR step=0
[ -n "${SLUICE_RESUME:-}" ] && { step=${SLUICE_RESUME##*/checkpoint-}; step=${step%%.*}; }
echo "$SLUICE_TRIAL_ID $step" >> "$d/half-starts"
while [ $step -lt $SLUICE_MAX_T ]; do
  step=$((step+1))
  echo $step > "$dir/checkpoint-$step.h5"
  echo "sluice-report step=$step loss=$(awk -v x="$SLUICE_PARAM_X" -v s=$step 'BEGIN{print x + 1/s}')"
  echo half > "$dir/checkpoint-$((step+1)).h5"
done
SH
chmod +x "$T/half.sh"
expect_rc 0 $MPIRUN -np 1 $SLUICE tune -q --command "$T/half.sh $T" --space 'x=uniform(0,1)' --metric loss \
  --scheduler asha --max-t 8 --min-t 2 --reduction-factor 2 --trials 6 --keep-checkpoints 1 --out "$T/half"
awk 'seen[$1]++ && $2 == 0 {exit 1}' "$T/half-starts" ||
  fail "a promoted trial started over from step 0: $(cat "$T/half-starts")"
[ "$(awk 'seen[$1]++' "$T/half-starts" | wc -l)" -gt 0 ] || fail "no ASHA promotion: $(cat "$T/half-starts")"
grep -l half "$T"/half/trials/*/checkpoint-* 2>/dev/null && fail "a checkpoint never reported was kept"

# A program that reports past its stop (ASHA's rung, --max-t) before the
# SIGTERM lands: those reports are not taken, and neither are their
# checkpoints in pruning (they outranked the taken ones: a promoted trial
# lost the checkpoint of its rung and started over, and a done trial kept
# checkpoints of steps it never had)
# $1: past (its loss from awk, a fork a report) or fast (reports without a
# pause); $2: where the starts are listed
cat > "$T/past.sh" <<'SH'
#!/bin/sh
mode=$1 d=$2 dir=$SLUICE_TRIAL_DIR step=0
[ -n "${SLUICE_RESUME:-}" ] && step=$(cat "$SLUICE_RESUME")
echo "$SLUICE_TRIAL_ID $step" >> "$d/$mode-starts"
end=$((SLUICE_MAX_T + 3))
while [ $step -lt $end ]; do
  step=$((step+1))
  echo $step > "$dir/checkpoint-$step"
  if [ "$mode" = fast ]; then loss=$SLUICE_PARAM_X
  else loss=$(awk -v x="$SLUICE_PARAM_X" -v s=$step 'BEGIN{print x + 1/s}'); fi
  echo "sluice-report step=$step loss=$loss"
done
SH
chmod +x "$T/past.sh"
# every trial of EXPDIR $1 keeps the checkpoints of its last two taken steps
keeps_last_two() {
  awk -F, 'NR > 1 {print $1, $3}' "$1/trials.csv" | while read -r t s; do
    d="$1/trials/$(printf %06d "$t")"
    [ "$(cd "$d" && echo checkpoint-*)" = "checkpoint-$((s - 1)) checkpoint-$s" ] ||
      fail "trial $t, at step $s, holds $(ls "$d" | tr '\n' ' ')"
  done || exit 1
}
expect_rc 0 $MPIRUN -np 1 $SLUICE tune -q --command "$T/past.sh past $T" --space 'x=uniform(0,1)' --metric loss \
  --scheduler asha --max-t 8 --min-t 2 --reduction-factor 2 --trials 4 --keep-checkpoints 2 --out "$T/past"
[ "$(awk 'seen[$1]++' "$T/past-starts" | wc -l)" -gt 0 ] || fail "no ASHA promotion: $(cat "$T/past-starts")"
awk 'seen[$1]++ && $2 == 0 {exit 1}' "$T/past-starts" ||
  fail "a promoted trial started over from step 0: $(cat "$T/past-starts")"
keeps_last_two "$T/past"

# The same on 2 ranks with a program that reports faster than a decision
# comes back from rank 0: rank 1's leader read the reports past the rung
# before the pause reached it and took them; they outranked the rung's
# checkpoint in pruning, and a promoted trial went on from an older one (a
# report after one at or past the job's target is not taken: that one is
# decided)
expect_rc 0 $TUNE --command "$T/past.sh fast $T" --space 'x=uniform(0,1)' --metric loss --scheduler asha --max-t 8 \
  --min-t 2 --reduction-factor 2 --trials 16 --keep-checkpoints 2 --out "$T/fast"
[ "$(awk 'seen[$1]++' "$T/fast-starts" | wc -l)" -gt 0 ] || fail "no ASHA promotion: $(cat "$T/fast-starts")"
awk '$1 in rung && $2 != rung[$1] {exit 1} {rung[$1] = $2 ? 2 * $2 : 2}' "$T/fast-starts" ||
  fail "a promoted trial did not go on from its rung: $(sort -n -s -k1,1 "$T/fast-starts" | tr '\n' ';')"
keeps_last_two "$T/fast"

# Decisions below a job's target (asha-stop at a rung, PBT's pause and
# exploit; median, --budget and --target stop the same way) reach a group
# other than rank 0's after its program has reported on. A program whose
# stdout is block-buffered hands its leader several reports in one read,
# all taken before the decision on the first of them can come back (3
# ranks: two such groups). The decision carries the step it was made at: no
# report past it counts, and the leader prunes only what rank 0 has told it
# it took. The leader took them: they outranked the decided step's
# checkpoint in pruning, so a stopped trial kept none of its last two steps
# and a paused PBT trial started over from step 0
cat > "$T/batch.sh" <<'SH'
#!/bin/sh
d=$1 dir=$SLUICE_TRIAL_DIR step=0 out=
[ -n "${SLUICE_RESUME:-}" ] && step=$(cat "$SLUICE_RESUME")
echo "$SLUICE_TRIAL_ID $step" >> "$d/batch-starts"
while [ $step -lt $SLUICE_MAX_T ]; do
  step=$((step+1))
  echo $step > "$dir/checkpoint-$step"
  # the loss falls with the steps, lower for a lower x (a better trial)
  out="${out}sluice-report step=$step loss=$((100 - step)).${SLUICE_PARAM_X#0.}
"
  if [ $((step % 8)) -eq 0 ] || [ $step -eq $SLUICE_MAX_T ]; then printf %s "$out"; out=; fi
done
SH
chmod +x "$T/batch.sh"
expect_rc 0 $MPIRUN -np 3 $SLUICE tune -q --command "$T/batch.sh $T" --space 'x=uniform(0.1,0.9)' --metric loss \
  --scheduler asha-stop --min-t 2 --reduction-factor 2 --max-t 16 --trials 24 --keep-checkpoints 2 --out "$T/batch"
grep -q ',pruned,' "$T/batch/trials.csv" || fail "asha-stop stopped no trial: $(cat "$T/batch/trials.csv")"
keeps_last_two "$T/batch"
rm -f "$T/batch-starts"
expect_rc 0 $MPIRUN -np 3 $SLUICE tune -q --command "$T/batch.sh $T" --space 'x=uniform(0.1,0.9)' --metric loss \
  --scheduler pbt --perturbation-interval 4 --max-t 24 --trials 6 --keep-checkpoints 1 --out "$T/batch-pbt"
[ "$(awk 'seen[$1]++' "$T/batch-starts" | wc -l)" -gt 0 ] || fail "no PBT pause or exploit: $(cat "$T/batch-starts")"
awk 'seen[$1]++ && $2 == 0 {exit 1}' "$T/batch-starts" ||
  fail "a paused or exploited trial started over from step 0: $(sort -n -s -k1,1 "$T/batch-starts" | tr '\n' ';')"

# 5. bad input: one message, non-zero exit, nothing written
expect_rc 2 $TUNE --command "$OBJ 3" --space 'lr=loguniform(1e-4,)' --metric loss --trials 2 --out "$T/bad1"
expect_grep "space expression 'lr=loguniform(1e-4,)': at position 20: expected a value" "$T/err"
[ "$(grep -c error "$T/err")" -eq 1 ] || fail "the message should be printed once"
# every rank makes these checks alike: rank 0 prints the line naming no rank
# (README, exit statuses; it said 'sluice: error: rank 0: --space: ...')
expect_grep "^sluice: error: --space: " "$T/err"
[ -e "$T/bad1" ] && fail "a malformed space created EXPDIR"
expect_rc 2 $TUNE --command "$OBJ 3" --space 'w=grid()' --searcher grid --metric loss --out "$T/bad2"
expect_grep "empty grid" "$T/err"
expect_rc 2 $TUNE --command "$OBJ 3" --space 'x=uniform(0,1)' --searcher grid --metric loss --out "$T/bad2"
expect_grep "grid search needs finite values" "$T/err"
# names that differ only in case would be one SLUICE_PARAM_ variable
expect_rc 2 $TUNE --command "$OBJ 3" --space 'lr=uniform(0,1)' --space 'LR=uniform(0,1)' --metric loss --trials 2 --out "$T/bad5"
expect_grep "parameters 'lr' and 'LR' differ only in case" "$T/err"
[ -e "$T/bad5" ] && fail "a refused experiment left $T/bad5"
expect_rc 1 $TUNE --command "$OBJ 2" --space 'x=uniform(0,1)' --metric accuracy --trials 2 --out "$T/bad3"
expect_grep "no trial reported the metric 'accuracy'" "$T/err"
mkdir -p "$T/notexp" && echo keep > "$T/notexp/file"
expect_rc 2 $TUNE --command "$OBJ 2" --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/notexp" --resume
expect_grep "is not a tune experiment" "$T/err"
[ "$(ls "$T/notexp")" = file ] || fail "--resume of a non-experiment changed it"
sum=$(cksum < "$T/keep/experiment.h5")
expect_rc 1 $TUNE --command "$OBJ 6" --space 'x=uniform(0,2)' --metric loss --trials 4 --out "$T/keep" --resume
expect_grep "another search space" "$T/err"
expect_rc 2 $TUNE --command "$OBJ 6" --space 'x=uniform(0,1)' --metric loss --trials 4 --out "$T/keep"
expect_grep "^sluice: error: '$T/keep' already holds an experiment" "$T/err"
[ "$(cksum < "$T/keep/experiment.h5")" = "$sum" ] || fail "a refused run changed experiment.h5"
# a --metric of up to 63 characters is found in the reports (their names were cut at 47)
m=m123456789012345678901234567890123456789012345678901234567890
expect_rc 0 $TUNE --command "echo sluice-report step=1 $m=1" --space 'x=uniform(0,1)' --metric $m --trials 2 \
  --out "$T/longname"
expect_grep "\"metric_name\": \"$m\"" "$T/longname/best.json"
# one trial is "1 trial" in the summary
expect_rc 0 $TUNE --command "echo sluice-report step=1 loss=1" --space 'x=uniform(0,1)' --metric loss --trials 1 \
  --out "$T/one"
expect_grep "tune finished: 1 trial: 1 done" "$T/out"
expect_rc 2 $TUNE --command "$OBJ {z}" --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/bad4"
expect_grep "{} that is not a parameter" "$T/err"
# the brace is named, and how to write a literal one ({print} was not)
expect_rc 2 $TUNE --command "awk '{print 1}'" --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/bad4b"
expect_grep "{print 1} names something in {} that is not a parameter.*write {{ and }} for literal braces" "$T/err"
# a parameter named as sluice's own {resume} was never substituted: refused
expect_rc 2 $TUNE --command "$OBJ {resume}" --space 'resume=choice(yes,no)' --metric loss --trials 2 --out "$T/bad5"
expect_grep "parameter 'resume' has the name of sluice's {resume}" "$T/err"
[ -e "$T/bad5" ] && fail "a refused parameter name created EXPDIR"
# a parameter named like a column of results.csv, or like the metric, gave
# two columns of one name: refused
expect_rc 2 $TUNE --command "$OBJ 2" --space 'time=uniform(0,1)' --metric loss --trials 2 --out "$T/bad5"
expect_grep "parameter 'time' has the name of a column of results.csv" "$T/err"
expect_rc 2 $TUNE --command "$OBJ 2" --space 'loss=uniform(0,1)' --metric loss --trials 2 --out "$T/bad5"
expect_grep "^sluice: error: --metric 'loss' is also a parameter's name" "$T/err"
expect_rc 2 $TUNE --command "$OBJ 2" --space 'best_loss=uniform(0,1)' --metric loss --trials 2 --out "$T/bad5"
expect_grep "parameter 'best_loss' has the name of a column of trials.csv (best_loss, last_loss)" "$T/err"
[ -e "$T/bad5" ] && fail "a refused parameter name created EXPDIR"
# a program that cannot be run (not on PATH, or no such path) is named
# before anything is written: every trial failed to start it, and the
# EXPDIR left behind refused the corrected command
for c in 'no-such-program-x {x}' "$T/no-such.sh {x}"; do
  expect_rc 1 $TUNE --command "$c" --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/bad6"
  expect_grep "^sluice: error: --command '$c': cannot run '${c%% *}': " "$T/err"
  [ "$(grep -c '^sluice' "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "a missing program: more than one line"; }
  [ -e "$T/bad6" ] && fail "a missing program created EXPDIR"
done
# 6. a choice value with a space, a quote or shell syntax reaches the program
# as one argument, as it is, whether the template quotes {b} or not (it was
# substituted raw: 'x y' was two arguments, and the shell ran 'touch')
cat > "$T/args.sh" <<'SH'
#!/bin/sh
{ printf '%s|' "$#" "$@"; echo; } > "$SLUICE_TRIAL_DIR/args"
echo sluice-report step=1 loss=1
SH
chmod +x "$T/args.sh"
expect_rc 0 $TUNE --command "$T/args.sh {b} '{b}' --b=\"{b}\"" --searcher grid --metric loss --out "$T/quote" \
  --space "b=choice('x y', 'a;touch $T/ran', \"it's \$HOME\")"
for v in 'x y' "a;touch $T/ran" "it's \$HOME"; do
  cat "$T"/quote/trials/*/args | grep -qFx "3|$v|$v|--b=$v|" || fail "value '$v' was not passed whole: $(cat "$T"/quote/trials/*/args)"
done
[ -e "$T/ran" ] && fail "a choice value was run by the shell"
# an empty value is one empty argument, quoted by the template or not (bare,
# the word was dropped and the arguments after it moved up one)
expect_rc 0 $TUNE --command "$T/args.sh {e} '{e}' --e={e} end" --searcher grid --metric loss --out "$T/empty" \
  --space "e=choice('', z)"
cat "$T"/empty/trials/*/args | grep -qFx "4|||--e=|end|" &&
  cat "$T"/empty/trials/*/args | grep -qFx "4|z|z|--e=z|end|" ||
  fail "an empty value was not one argument: $(cat "$T"/empty/trials/*/args)"
# 7. PBT: best.json and the summary give the parameters a trial had when it
# reported its best, not those an exploit gave it later (m is 10+x at step 1,
# then -x: the best trial, 0, is the bottom one at step 4 and is exploited)
cat > "$T/pbt.sh" <<'SH'
#!/bin/sh
step=0
[ -n "$SLUICE_RESUME" ] && step=$(cat "$SLUICE_RESUME")
while [ $step -lt $SLUICE_MAX_T ]; do
  step=$((step + 1))
  echo $step > "$SLUICE_TRIAL_DIR/checkpoint-$step"
  echo "sluice-report step=$step m=$(awk -v x="$SLUICE_PARAM_X" -v s=$step 'BEGIN {print s < 2 ? 10 + x : -x}')"
done
SH
chmod +x "$T/pbt.sh"
expect_rc 0 $TUNE --command "$T/pbt.sh" --space 'x=uniform(0,1)' --metric m --mode max --scheduler pbt \
  --perturbation-interval 2 --trials 4 --max-t 6 --out "$T/pbtbest"
b=$(num trial "$T/pbtbest/best.json"); s=$(num step "$T/pbtbest/best.json"); x=$(num x "$T/pbtbest/best.json")
awk -F, -v b="$b" 'NR>1 && $1==b {x[$4]++} END {n = 0; for (v in x) n++; exit n < 2}' "$T/pbtbest/results.csv" ||
  fail "the best trial $b was not exploited: $(cat "$T/pbtbest/results.csv")"
awk -F, -v b="$b" -v s="$s" -v x="$x" 'NR>1 && $1==b && $2==s && $4==x {ok=1} END {exit !ok}' "$T/pbtbest/results.csv" ||
  fail "best.json's x=$x is not what trial $b reported step $s with: $(cat "$T/pbtbest/best.json" "$T/pbtbest/results.csv")"
grep "^best: trial $b, m = .* at step $s: x=$x\$" "$T/out" >/dev/null || fail "summary: $(cat "$T/out")"
# 8. a report of 17 metrics keeps the --metric, last (it was dropped past
# the 16th: every trial "ended without reporting" it), also when the first
# report fills the 16 columns; with --time-attr time_total_s the stamp does
# not take the --metric's place either
m16=$(seq -f 'm%g=1' 1 16 | tr '\n' ' ')
expect_rc 0 $TUNE --command "echo sluice-report step=1 $m16 loss=0.5" --space 'x=uniform(0,1)' --metric loss \
  --trials 2 --out "$T/many"
expect_grep '"metric": 0.5' "$T/many/best.json"
expect_rc 0 $TUNE --command "sh -c 'echo sluice-report step=1 $m16; echo sluice-report step=2 loss=0.5'" \
  --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/many2"
expect_grep '"metric": 0.5' "$T/many2/best.json"
expect_rc 0 $TUNE --command "echo sluice-report step=1 $(seq -f 'm%g=1' 1 15 | tr '\n' ' ') loss=0.5" \
  --space 'x=uniform(0,1)' --metric loss --time-attr time_total_s --max-t 100 --trials 2 --out "$T/many3"
expect_grep '"metric": 0.5' "$T/many3/best.json"
# 9. best.h5 is the best trial's checkpoint or none: a best reported at a
# step without one (a=0) left the former best's (a=1, trial 0) as best.h5
cat > "$T/ck.sh" <<'SH'
#!/bin/sh
if [ "$SLUICE_PARAM_A" = 1 ]; then echo "$SLUICE_TRIAL_ID" > "$SLUICE_TRIAL_DIR/checkpoint-1"; else sleep 0.3; fi
echo "sluice-report step=1 loss=$((SLUICE_PARAM_A + 1))"
SH
chmod +x "$T/ck.sh"
expect_rc 0 $TUNE --command "$T/ck.sh" --space 'a=grid(1,0)' --searcher grid --metric loss --out "$T/bestck"
expect_grep '"trial": 1' "$T/bestck/best.json"
[ -e "$T/bestck/best.h5" ] && fail "best.h5 is trial $(cat "$T/bestck/best.h5")'s checkpoint, best.json names trial 1"
# 10. with a relative --out the trial directory the program gets is absolute:
# a command that changes directory first wrote its checkpoint elsewhere
(cd "$T" && expect_rc 0 $TUNE --command "sh -c 'cd / && echo 1 > \"\$SLUICE_TRIAL_DIR/checkpoint-1\" &&
  echo sluice-report step=1 loss=1'" --space 'x=uniform(0,1)' --metric loss --trials 2 --out relout) || exit 1
[ -s "$T/relout/best.h5" ] || fail "relative --out: no checkpoint where the trial directory is: $(cat "$T/err")"
echo PASS
