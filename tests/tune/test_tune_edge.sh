#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice tune, cmd objective, edges a user meets: names that would give
# results.csv two columns of one name (refused up front, or not taken from
# a report, said once); a program that cannot run, through the shell too;
# failed trials' warnings saying why; output without a final newline and
# lines longer than the read buffer; --resume with other rungs, seed;
# --space against the config file's space = lines; a blank --command.
. "$top_srcdir/tests/lib.sh"
TUNE="$MPIRUN -np 2 $SLUICE tune -q"
# refusals up front are alike on every rank: one rank checks them (mpirun
# 4.1 now and then crashes in PMIx_Finalize when two ranks exit non-zero)
TUNE1="$MPIRUN -np 1 $SLUICE tune -q"
# --help says --grace-period counts --time-attr units, as the README does
# (it said steps)
$SLUICE tune --help | grep -q -- '--grace-period R .*in steps or --time-attr units' ||
  fail "--help: $($SLUICE tune --help | grep -- --grace-period)"

# a --metric or --time-attr named trial, step or time is refused (two
# columns 'time'; a report's step= is its step, so --metric step was never
# found), and nothing is written
for m in trial step time; do
  expect_rc 2 $TUNE1 --command "echo sluice-report step=1 $m=1" --space 'x=uniform(0,1)' --metric $m --trials 2 \
    --out "$T/bad"
  expect_grep "^sluice: error: --metric '$m' has the name of a column of results.csv" "$T/err"
done
expect_rc 2 $TUNE1 --command "echo sluice-report step=1 m=1 time=1" --space 'x=uniform(0,1)' --metric m \
  --time-attr time --max-t 2 --trials 2 --out "$T/bad"
expect_grep "^sluice: error: --time-attr 'time' has the name of a column of results.csv" "$T/err"
[ -e "$T/bad" ] && fail "a refused metric name created EXPDIR"
# a metric a program reports under a parameter's name, or as trial or time,
# is not taken, and said once: results.csv had two columns of one name
expect_rc 0 $TUNE --command 'echo sluice-report step=1 loss=0.5 x={x} time=4 trial=9 z=1' \
  --space 'x=uniform(0,1)' --metric loss --trials 3 --out "$T/clash"
[ "$(head -1 "$T/clash/results.csv")" = trial,step,time,x,loss,z ] ||
  fail "results.csv header: $(head -1 "$T/clash/results.csv")"
[ "$(grep -c "reports 'x' (a parameter), 'time' (sluice's own column), 'trial' (sluice's own column): .* not taken" "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "metrics named like columns were not warned about once"; }
# a program that cannot be run is named before anything is written also
# when the template goes through the shell (each trial ended with its 127)
# (a directory too: access(X_OK) passed it, and each trial failed with
# "cannot start '/tmp': Permission denied")
mkdir "$T/adir"
for c in 'no-such-program-x {x} | cat' "$T/no-such.sh {x} > log" 'no-such-program-x;true' "$T/adir {x}" \
  "$T/adir | cat"; do
  expect_rc 1 $TUNE1 --command "$c" --space 'x=uniform(0,1)' --metric m --trials 2 --out "$T/bad6"
  w=${c%% *}; w=${w%%;*}
  expect_grep "^sluice: error: --command '$c': cannot run '$w': " "$T/err"
  [ "$(grep -c '^sluice' "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "a missing program: more than one line"; }
  [ -e "$T/bad6" ] && fail "a missing program created EXPDIR"
done
# a first word that only the shell knows goes through it ('exec' was exec'd)
expect_rc 0 $TUNE --command 'exec echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 2 \
  --out "$T/exec"
# shell syntax before a plain first word does not make it the program: a
# redirection's descriptor ('2>err.log prog {x}': "cannot run '2'"), a
# function defined first; nor is a word bash knows (pushd, time: where
# /bin/sh is bash) looked up in PATH. Each ran before, and runs.
cat > "$T/r.sh" <<'EOS'
#!/bin/sh
echo "sluice-report step=1 m=$1"
EOS
chmod +x "$T/r.sh"
i=0
for c in "2>$T/r.err $T/r.sh {x}" "f() {{ $T/r.sh \"\$@\"; }}; f {x}" \
  "f () {{ $T/r.sh \"\$@\"; }}; f {x}" \
  "pushd . 2>/dev/null; $T/r.sh {x}"; do
  i=$((i + 1))
  expect_rc 0 $TUNE1 --command "$c" --space 'x=uniform(0,1)' --metric m --trials 2 --out "$T/pre$i"
done
# what cannot be told up front (a program after a builtin) fails each trial
# with the shell's 127: the warning says so, with the shell's line
expect_rc 1 $TUNE1 --command 'cd / && no-such-program-x {x}' --space 'x=uniform(0,1)' --metric m --trials 2 --out "$T/127"
expect_grep "warn: trial 0 failed; the command exited with status 127, after '.*no-such-program-x: not found' (see $T/127/trials/000000/trial.log)" "$T/err"
# a failed trial's warning has its exit status also after binary output
# (a NUL hid it: "its last output: '<bytes>'"), a progress bar's last state,
# and no control character of the log (a colour's escape)
cat > "$T/bin.sh" <<'EOS'
#!/bin/sh
printf '1%%\r50%%\rboom\n'
printf 'x\000y\033[31mred\n'
exit 3
EOS
cat > "$T/cr.sh" <<'EOS'
#!/bin/sh
printf '1%%\r50%%\rboom\n'
exit 4
EOS
chmod +x "$T/bin.sh" "$T/cr.sh"
expect_rc 1 $TUNE1 --command "$T/bin.sh" --space 'x=uniform(0,1)' --metric m --trials 1 --out "$T/bin"
expect_grep "warn: trial 0 failed; the command exited with status 3, after 'x?y?\[31mred' (see " "$T/err"
[ "$(tr -d '\t\n -~' < "$T/err" | wc -c)" -eq 0 ] || fail "control characters in the warnings: $(cat -v "$T/err")"
expect_rc 1 $TUNE1 --command "$T/cr.sh" --space 'x=uniform(0,1)' --metric m --trials 1 --out "$T/cr"
expect_grep "warn: trial 0 failed; the command exited with status 4, after 'boom' (see " "$T/err"
# a traceback on stderr after much output on stdout is what the warning
# and trial.log end with (read once stdout ended and the exit was reaped,
# it was lost: every trial said "after '20000'")
cat > "$T/tb.sh" <<'EOS'
#!/bin/sh
echo "sluice-report step=1 m=$SLUICE_PARAM_X"
seq 1 20000
echo "Traceback: CUDA out of memory" >&2
exit 1
EOS
chmod +x "$T/tb.sh"
expect_rc 1 $TUNE1 --command "$T/tb.sh" --space 'x=uniform(0,1)' --metric m --trials 3 --out "$T/tb"
[ "$(grep -c "failed; the command exited with status 1, after 'Traceback: CUDA out of memory'" "$T/err")" -eq 3 ] ||
  fail "stderr's last line after much stdout: $(grep warn "$T/err")"
[ "$(cat "$T"/tb/trials/*/trial.log | grep -c 'CUDA out of memory')" -eq 3 ] || fail "trial.log without the traceback"
# a retry that ends without the metric (exit 0) is not said to have exited
# with the failed try's status: trial.log is appended to, and its last
# line was the earlier job's
cat > "$T/twice.sh" <<'EOS'
#!/bin/sh
[ -e "$SLUICE_TRIAL_DIR/once" ] && exit 0
touch "$SLUICE_TRIAL_DIR/once"; echo boom; exit 1
EOS
chmod +x "$T/twice.sh"
expect_rc 1 $TUNE1 --command "$T/twice.sh" --space 'x=uniform(0,1)' --metric m --trials 1 --max-failures 1 \
  --out "$T/twice"
expect_grep "warn: trial 0 failed; the command exited with status 1, after 'boom' (see " "$T/err"
expect_grep "warn: trial 0 ended without reporting the metric 'm' (0 reports; metrics seen: none)$" "$T/err"
# output that ends without a newline (print(..., end='')) still has its
# last line read: the report there was dropped; a line longer than the 64
# KiB read buffer goes to trial.log whole (it was dropped 64 KiB at a time)
cat > "$T/out.sh" <<'EOS'
#!/bin/sh
head -c 100000 /dev/zero | tr '\0' a; echo
echo "sluice-report step=1 m=2"
printf 'sluice-report step=2 m=1'
EOS
chmod +x "$T/out.sh"
expect_rc 0 $TUNE --command "$T/out.sh" --space 'x=uniform(0,1)' --metric m --trials 1 --out "$T/eol"
[ "$(cut -d, -f1,2,5 "$T/eol/results.csv" | tr '\n' ' ')" = "trial,step,m 0,1,2 0,2,1 " ] ||
  fail "the last report, without a newline, was not taken: $(cat "$T/eol/results.csv")"
[ "$(wc -c < "$T/eol/trials/000000/trial.log")" -eq 100001 ] ||
  fail "trial.log does not hold the long line whole: $(wc -c < "$T/eol/trials/000000/trial.log") bytes"
# --resume of an ASHA or HyperBand experiment with other rungs (--max-t,
# --min-t, --reduction-factor) is refused: trials hold their rung by index
# (a trial paused at step 4 of --max-t 16 ran to 16 after a resume with
# --max-t 2); the same rungs resume
expect_rc 0 $TUNE1 --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 3 \
  --scheduler asha --max-t 16 --out "$T/rungs"
for o in "--max-t 2" "--max-t 16 --min-t 2" "--max-t 16 --reduction-factor 3"; do
  expect_rc 1 $TUNE1 --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 3 \
    --scheduler asha $o --out "$T/rungs" --resume
  expect_grep "^sluice: error: .*--resume: '$T/rungs/experiment.h5' was made with another rung schedule (.*, now ${o##*16 })" "$T/err"
done
expect_rc 0 $TUNE1 --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 4 \
  --scheduler asha --max-t 16 --out "$T/rungs" --resume
# another --scheduler, --searcher or --seed is named, with both values
expect_rc 1 $TUNE1 --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 4 \
  --scheduler asha --max-t 16 --seed 7 --out "$T/rungs" --resume
expect_grep "was made with another --seed (1, now 7); use a new --out" "$T/err"
# a metric name longer than 63 characters is not taken, said once: cut
# to 63, two such names were one column
L=$(printf '%070d' 0)
expect_rc 0 $TUNE1 --command "echo sluice-report step=1 m=1 ${L}x=1 ${L}y=2" --space 'x=uniform(0,1)' --metric m \
  --trials 2 --out "$T/long"
[ "$(head -1 "$T/long/results.csv")" = trial,step,time,x,m ] || fail "long names: $(cat "$T/long/results.csv")"
[ "$(grep -c 'a name longer than 63 characters, which is not taken' "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "a metric name too long was not warned about once"; }
# a blank --command is refused up front (each trial failed: "the command is empty")
expect_rc 2 $TUNE1 --command '  ' --space 'x=uniform(0,1)' --metric m --trials 2 --out "$T/blank"
expect_grep "^sluice: error: --objective cmd needs --command TEMPLATE" "$T/err"
[ -e "$T/blank" ] && fail "a blank --command created EXPDIR"
# a --space replaces the space = line of [tune] of its name only, as it
# does a [space] line (it replaced them all: y was dropped)
printf '[tune]\nspace = x=uniform(0,1) z=choice(3)\nspace = y=choice(4)\nmetric = m\n' > "$T/sp.cfg"
expect_rc 0 $TUNE1 --config "$T/sp.cfg" --space 'x=uniform(5,6)' --command 'echo sluice-report step=1 m={x}' \
  --trials 2 --out "$T/sp"
[ "$(head -1 "$T/sp/trials.csv")" = trial,status,step,reports,failures,x,z,y,best_m,last_m ] ||
  fail "--space with space = lines in [tune]: $(head -1 "$T/sp/trials.csv")"
awk -F, 'NR > 1 && ($6 < 5 || $7 != 3 || $8 != 4) {exit 1}' "$T/sp/trials.csv" || fail "$(cat "$T/sp/trials.csv")"
# options the objective or scheduler does not use are said once each (they
# were ignored in silence); the run goes on
expect_rc 0 $TUNE1 --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m --trials 2 \
  --data "$T/none.h5" --scheduler median --grace-period 5 --max-t 2 --quantile 0.1 --out "$T/unused"
expect_grep "warn: --data is for --objective mlp only: not used with --objective cmd" "$T/err"
expect_grep "warn: --quantile is for --scheduler pbt only: not used with --scheduler median" "$T/err"
expect_grep "warn: --grace-period 5 is past --max-t 2: the median rule never stops a trial" "$T/err"
[ "$(grep -c 'warn:' "$T/err")" -eq 3 ] || fail "unused options: $(grep warn "$T/err")"
# a --metric no report line can carry (a blank, an '='): refused before
# any trial (every trial ran and errored, and EXPDIR was left)
expect_rc 2 $TUNE1 --command 'echo sluice-report step=1 a=1' --space 'x=uniform(0,1)' --metric 'val loss' --trials 2 --out "$T/vl"
expect_grep "error: --metric 'val loss': a 'sluice-report' line cannot carry a name with a blank or '='" "$T/err"
[ -e "$T/vl" ] && fail "an impossible --metric made EXPDIR"
# a parameter in both the space = line of [tune] and [space] is defined
# twice in the file: refused, naming the line (the [space] one was dropped
# in silence, as if the [tune] one had come from the command line)
printf '[tune]\nmetric = m\ntrials = 2\nspace = lr=uniform(0,1)\n[space]\nlr = loguniform(1e-5,1e-1)\n' > "$T/dup.cfg"
expect_rc 2 $TUNE1 --config "$T/dup.cfg" --command 'echo sluice-report step=1 m={lr}' --out "$T/dup"
expect_grep "error: $T/dup.cfg:6: space expression 'lr=loguniform(1e-5,1e-1)': at position 1: parameter defined twice" "$T/err"
[ -e "$T/dup" ] && fail "a parameter defined twice in the file made EXPDIR"
# ... and a --space of that name still replaces both
expect_rc 0 $TUNE1 --config "$T/dup.cfg" --space 'lr=uniform(5,6)' --command 'echo sluice-report step=1 m={lr}' \
  --out "$T/dup2"
awk -F, 'NR > 1 && $6 < 5 {exit 1}' "$T/dup2/trials.csv" || fail "--space over a twice-defined name: $(cat "$T/dup2/trials.csv")"
# a trial that ends without reporting has what its program said last in
# the warning: the pipeline's last command exits 0 when the one before failed
expect_rc 1 $TUNE1 --command 'sh -c "echo boom >&2; exit 1" | cat' --space 'x=uniform(0,1)' --metric m --trials 1 \
  --out "$T/pipe"
expect_grep "trial 0 ended without reporting the metric 'm' (0 reports; metrics seen: none); its last output: 'boom'" "$T/err"
# with mlp, a {name} of --model named like a metric it reports is refused
# before the data sets are looked at (that metric was not taken)
expect_rc 2 $TUNE1 --objective mlp --data "$T/none.h5" --eval-data "$T/none.h5" --model 'mlp:4-{loss}-2' \
  --space 'loss=choice(2,4)' --metric accuracy --max-t 1 --trials 2 --out "$T/mlpname"
expect_grep "^sluice: error: parameter 'loss' has the name of a metric the mlp objective reports" "$T/err"
# report lines written to stderr are not read: said once (the trials
# ended "without reporting the metric", with no word of why)
expect_rc 1 $TUNE1 --command 'sh -c "echo sluice-report step=1 m=1 >&2"' --space 'x=uniform(0,1)' --metric m \
  --trials 2 --out "$T/stderr"
[ "$(grep -c "writes 'sluice-report' lines to stderr, where they are not read: write them to stdout" "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "reports on stderr were not warned about once"; }
# --resume with the same parameters in another order (a --space that
# replaces a [space] line comes first; --space options reordered) goes on
# with them in the experiment's order (it was "another search space")
printf '[tune]\nmetric = m\n[space]\nx = uniform(0,1)\ny = uniform(2,3)\n' > "$T/ord.cfg"
expect_rc 0 $TUNE1 --config "$T/ord.cfg" --command 'echo sluice-report step=1 m={x} n={y}' --trials 2 --out "$T/ord"
expect_rc 0 $TUNE --config "$T/ord.cfg" --space 'y=uniform(2,3)' --command 'echo sluice-report step=1 m={x} n={y}' \
  --trials 4 --out "$T/ord" --resume
expect_rc 0 $TUNE1 --space 'y=uniform(2,3)' --space 'x=uniform(0,1)' --command 'echo sluice-report step=1 m={x} n={y}' \
  --metric m --trials 6 --out "$T/ord" --resume
awk -F, 'function d(a, b) {return a > b ? a - b : b - a} NR > 1 {n++; if ($4 >= 1 || $5 < 2 || d($6, $4) > 1e-9 || d($7, $5) > 1e-9) exit 1} END {exit n != 6}' "$T/ord/results.csv" ||
  fail "resumed with the parameters in another order: $(cat "$T/ord/results.csv")"
# another space is named with its numbers as written, not in the 17
# digits experiment.h5 keeps (0.10000000000000001 for 0.1)
expect_rc 0 $TUNE1 --space 'lr=loguniform(1e-4,0.1)' --space 'm=quniform(0,0.99,0.01)' \
  --command 'echo sluice-report step=1 loss={lr}' --metric loss --trials 1 --out "$T/digits"
expect_rc 1 $TUNE1 --space 'lr=loguniform(1e-5,0.1)' --space 'm=quniform(0,0.99,0.01)' \
  --command 'echo sluice-report step=1 loss={lr}' --metric loss --trials 2 --out "$T/digits" --resume
expect_grep "another search space (lr=loguniform(0.0001,0.1);m=quniform(0,0.99,0.01), now lr=loguniform(1e-05,0.1);m=quniform(0,0.99,0.01))" "$T/err"
# a metric infinite the good way (-inf with --mode min) is no result: it
# was the best for good (best.json said null); said once, kept in
# results.csv; the best is the finite one
cat > "$T/inf.sh" <<'EOS'
#!/bin/sh
echo "sluice-report step=1 loss=$1"
echo "sluice-report step=2 loss=-inf"
EOS
chmod +x "$T/inf.sh"
expect_rc 0 $TUNE1 --command "$T/inf.sh {x}" --space 'x=grid(3,2)' --searcher grid --metric loss --mode min \
  --trials 2 --out "$T/inf"
grep -q '"metric": 2[,}]' "$T/inf/best.json" || { cat "$T/inf/best.json"; fail "an infinite loss was taken as the best"; }
[ "$(grep -c "reports loss=-inf at step 2: an infinite minimum is not taken as a result" "$T/err")" -eq 1 ] ||
  { cat "$T/err"; fail "an infinite best was not warned about once"; }
[ "$(grep -c ',-inf$' "$T/inf/results.csv")" -eq 2 ] || fail "results.csv lost the -inf reports: $(cat "$T/inf/results.csv")"
# a report whose step does not grow (a step's metrics on a second line, a
# step that goes back) is not taken: it was dropped in silence; said once,
# with the line in trial.log
cat > "$T/back.sh" <<'EOS'
#!/bin/sh
echo "sluice-report step=1 loss=2"
echo "sluice-report step=1 acc=0.5"
echo "sluice-report step=2 loss=1"
echo "sluice-report step=1 loss=0.5"
EOS
chmod +x "$T/back.sh"
expect_rc 0 $TUNE1 --command "$T/back.sh" --space 'x=uniform(0,1)' --metric loss --trials 2 --out "$T/back"
[ "$(grep -c "warn: trial 0 reports step 1 after step 1: a report's step must grow, so it is not taken" "$T/err")" -eq 1 ] &&
  [ "$(grep -c "step must grow" "$T/err")" -eq 1 ] || { cat "$T/err"; fail "a report of a step not past the last was not warned about once"; }
grep -q '"metric": 1,' "$T/back/best.json" || fail "best.json: $(cat "$T/back/best.json")"
[ "$(grep -c 'step=1 acc=0.5' "$T/back/trials/000000/trial.log")" -eq 1 ] || fail "the report not taken is not in trial.log"
# results.csv keeps 16 metrics: one past them (in a report of 20, or a
# 17th name of another trial) is not taken, said once naming it; they were
# dropped in silence
M=$(i=1; while [ $i -le 20 ]; do printf 'a%d=%d ' $i $i; i=$((i + 1)); done)
expect_rc 0 $TUNE1 --command "echo sluice-report step=1 $M loss={x}" --space 'x=uniform(0,1)' --metric loss \
  --trials 2 --out "$T/many"
[ "$(head -1 "$T/many/results.csv" | tr , '\n' | grep -c '^a')" -eq 15 ] || fail "results.csv: $(head -1 "$T/many/results.csv")"
[ "$(grep -c "warn: trial 0 reports more metrics than the 16 results.csv keeps: 'a17', 'a18', 'a19', 'a20', 'a1' not taken" "$T/err")" -eq 1 ] &&
  [ "$(grep -c "results.csv keeps" "$T/err")" -eq 1 ] || { cat "$T/err"; fail "metrics past 16 were not warned about once"; }
cat > "$T/many.sh" <<'EOS'
#!/bin/sh
i=1
while [ $i -le 8 ]; do printf 'b%d_%d=1 ' "$SLUICE_TRIAL_ID" $i; i=$((i + 1)); done > "$SLUICE_TRIAL_DIR/m"
echo "sluice-report step=1 loss=1 $(cat "$SLUICE_TRIAL_DIR/m")"
EOS
chmod +x "$T/many.sh"
expect_rc 0 $TUNE1 --command "$T/many.sh" --space 'x=uniform(0,1)' --metric loss --trials 3 --out "$T/many2"
expect_grep "warn: trial 1 reports more metrics than the 16 results.csv keeps: 'b1_8' not taken" "$T/err"
# a report with step= or a metric twice is malformed, warned about once and
# not taken (the last one of each was taken in silence)
for bad in 'step=2 m=0.5 step=3' 'step=2 m=0.5 m=0.7'; do
  expect_rc 0 $TUNE1 --command "sh -c 'echo sluice-report step=1 m={x}; echo sluice-report $bad'" \
    --space 'x=uniform(0,1)' --metric m --trials 2 --out "$T/dup-rep"
  expect_grep "a malformed report line is not taken: 'sluice-report $bad'" "$T/err"
  [ "$(grep -c 'malformed report line' "$T/err")" -eq 2 ] || fail "'$bad': not one warning a trial"
  awk -F, 'NR > 1 && $2 != 1 {exit 1}' "$T/dup-rep/results.csv" || fail "'$bad' was taken: $(cat "$T/dup-rep/results.csv")"
  rm -rf "$T/dup-rep"
done
# every trial errored after reporting: the files are written, best.json
# among them, but the run fails (it exited 0, and a script went on with a
# best value from failed runs); one trial done is enough to succeed
expect_rc 1 $TUNE1 --command 'sh -c "echo sluice-report step=1 m={x}; exit 3"' --space 'x=uniform(0,1)' \
  --metric m --trials 3 --out "$T/allerr"
expect_grep "every trial errored (3): the best value above comes from the reports of failed trials" "$T/err"
[ -s "$T/allerr/best.json" ] && [ "$(grep -c ',errored,' "$T/allerr/trials.csv")" -eq 3 ] ||
  fail "all errored: best.json or trials.csv"
expect_rc 0 $TUNE1 --command 'sh -c "echo sluice-report step=1 m={x}; [ {trial} = 1 ]"' --space 'x=uniform(0,1)' \
  --metric m --trials 3 --out "$T/oneok"
echo PASS
