#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The mlp objective (the train library) on a small 3-class dataset, 2 ranks:
# ASHA promotes trials by resuming their epoch checkpoints, the best
# accuracy is high, best.h5 is a train checkpoint, each trial keeps exactly K
# epoch checkpoints; 4 ranks in groups of 2 train data-parallel trials.
. "$top_srcdir/tests/lib.sh"
awk 'BEGIN{srand(1); for (i = 0; i < 300; i++) { c = i % 3; s = "";
  for (j = 0; j < 6; j++) { u1 = rand(); u2 = rand(); g = sqrt(-2*log(u1+1e-12))*cos(6.2831853*u2);
    s = s sprintf("%.4f,", (c-1)*1.5 + g) }
  print s c } }' > "$T/blobs.csv"
expect_rc 0 $SLUICE data import-csv -i "$T/blobs.csv" -o "$T/blobs.h5" -q
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-{width}-3' --space 'lr=loguniform(1e-3,1e-1)' --space 'width=choice(8,16)' \
  --metric accuracy --mode max --scheduler asha --max-t 8 --reduction-factor 2 --trials 8 --batch 32 \
  --keep-checkpoints 2 --out "$T/m"
grep -q ',done,' "$T/m/trials.csv" || fail "no trial ran to max-t"
awk -F, 'NR>1 && $3 > 1 {p=1} END{exit !p}' "$T/m/trials.csv" || fail "no trial was promoted past rung 1"
# the promotion form stops a trial only at a rung (1, 2, 4, 8), and a trial
# is done only at max-t: a promoted trial must not take the pause of its
# last rung for a decision on its next job
awk -F, 'NR>1 && !($3 == 1 || $3 == 2 || $3 == 4 || $3 == 8) {bad=1} NR>1 && $2 == "done" && $3 != 8 {bad=1}
  END{exit bad}' "$T/m/trials.csv" || { cat "$T/m/trials.csv"; fail "ASHA left a trial between rungs"; }
acc=$(sed -n 's/.*"metric": \([0-9.e-]*\).*/\1/p' "$T/m/best.json")
awk -v a="$acc" 'BEGIN{exit !(a > 0.8)}' || fail "best accuracy $acc"
h5dump -H "$T/m/best.h5" > /dev/null 2>&1 || fail "best.h5 is not HDF5"
for d in "$T"/m/trials/*; do
  n=$(ls "$d" | grep -c '^checkpoint-')
  s=$(awk -F, -v t="$(basename "$d" | sed 's/^0*//')" 'NR>1 && $1==(t==""?0:t) {print $3}' "$T/m/trials.csv")
  want=2; [ "$s" -lt 2 ] && want=$s
  [ "$n" -eq "$want" ] || fail "$d keeps $n checkpoints (step $s), not $want"
done
expect_rc 0 $MPIRUN -np 4 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'lr=loguniform(1e-3,1e-1)' --metric accuracy --mode max --max-t 3 \
  --trials 4 --batch 32 --ranks-per-trial 2 --out "$T/g"
[ "$(grep -c ',done,' "$T/g/trials.csv")" -eq 4 ] || fail "4 data-parallel trials should be done"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-8-3' \
  --space 'foo=uniform(0,1)' --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
expect_grep "parameter 'foo' is not used by the mlp objective" "$T/err"
# momentum tuned where the optimiser is never sgd changes nothing: said
# once (the run goes on; here it stops at the metric, which comes after)
for case in 'warn|--optimizer adam' 'warn|--space optimizer=choice(adam,adamw)' 'none|--optimizer sgd' \
  'none|--space optimizer=choice(adam,sgd)'; do
  expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-8-3' \
    --space 'momentum=uniform(0,0.9)' ${case#*|} --metric nope --trials 2 --out "$T/mom"
  n=$(grep -c "parameter 'momentum' is tuned, but the optimiser is never sgd" "$T/err")
  [ "${case%%|*}" = warn ] && [ "$n" -ne 1 ] && fail "momentum with ${case#*|}: not warned once: $(cat "$T/err")"
  [ "${case%%|*}" = none ] && [ "$n" -ne 0 ] && fail "momentum with ${case#*|}: warned"
done
# optimizer and batch of a kind the options cannot take are refused (a crash, or every trial failing)
for sp in 'optimizer=uniform(0,1)' 'optimizer=choice(adam,lion)' 'batch=choice(small,big)' 'lr=choice(fast,slow)'; do
  expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-8-3' \
    --space "$sp" --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
  expect_grep "parameter '${sp%%=*}' cannot set the mlp option" "$T/err"
done
[ -e "$T/bad" ] && fail "a refused space created EXPDIR"
# a layer width from a continuous range is refused (every trial failed on
# its model "mlp:6-9.7-3")
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-{width}-3' --space 'width=uniform(4,16)' --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
expect_grep "parameter 'width' shapes --model as {width}: it needs whole numbers" "$T/err"
[ -e "$T/bad" ] && fail "a fractional width created EXPDIR"
# so are values that are no layer width (a word, a fraction, 0 or less,
# past 2^24) in a choice or a range's bounds: each trial that drew one
# failed on its model ("bad layer width"), the others ran
for w in 'choice(8,a)' 'grid(8,2.5)' 'choice(16,0)' 'randint(-3,8)' 'qrandint(0,16,8)' 'randint(8,20000000)'; do
  expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
    --model 'mlp:6-{width}-3' --space "width=$w" --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
  expect_grep "parameter 'width' shapes --model as {width}: a layer width takes whole numbers of 1 to 16777216, not " "$T/err"
  [ -e "$T/bad" ] && fail "a width of $w created EXPDIR"
done
# a width written as a real (1e1, +12) is given to the model as a whole number
# ('mlp:6-1e1-3' failed its trial)
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-{width}-3' --space "width=grid(1e1,+12)" --searcher grid --metric accuracy --max-t 1 --out "$T/wreal"
[ "$(grep -c ',done,' "$T/wreal/trials.csv")" -eq 2 ] || fail "widths 1e1, +12: $(cat "$T/wreal/trials.csv")"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-{width}-3' \
  --space 'lr=uniform(0.01,0.1)' --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
expect_grep "^sluice: error: --model 'mlp:6-{width}-3' names in {} 'width', which is not a parameter" "$T/err"
# a trial that fails in the train library (labels 0-2, a model of 2
# outputs) is warned about without pointing at a trial.log, which mlp
# trials never write (the warning named one that did not exist)
expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-8-2' \
  --space 'lr=uniform(0.01,0.1)' --metric train_loss --max-t 1 --trials 2 --out "$T/shape"
expect_grep "label 2 in row .* is outside \[0, 2)" "$T/err"
expect_grep "warn: trial 0 failed (its error is above)" "$T/err"
# a model whose inputs do not match --data, or --eval-data, is refused up
# front, with the parameters at a value, and nothing is written (every
# trial failed on it, and the EXPDIR left refused the corrected command)
expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:5-{w}-3' \
  --space 'w=choice(8,16)' --metric train_loss --max-t 1 --trials 2 --out "$T/shape2"
expect_grep "^sluice: error: --model 'mlp:5-{w}-3' takes 5 features per sample (as 'mlp:5-8-3'), --data '$T/blobs.h5' has 6" "$T/err"
[ -e "$T/shape2" ] && fail "a model that does not match the data created EXPDIR"
awk 'BEGIN{srand(2); for (i = 0; i < 30; i++) { s = ""; for (j = 0; j < 4; j++) s = s sprintf("%.3f,", rand()); print s (i % 3) } }' > "$T/four.csv"
expect_rc 0 $SLUICE data import-csv -i "$T/four.csv" -o "$T/four.h5" -q
expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/four.h5" \
  --model 'mlp:6-8-3' --space 'lr=uniform(0.01,0.1)' --metric accuracy --mode max --max-t 1 --trials 2 --out "$T/shape2"
expect_grep "^sluice: error: --model 'mlp:6-8-3' takes 6 features per sample (as 'mlp:6-8-3'), --eval-data '$T/four.h5' has 4" "$T/err"
[ -e "$T/shape2" ] && fail "an --eval-data that does not match the model created EXPDIR"
awk 'BEGIN{srand(3); for (i = 0; i < 30; i++) { s = ""; for (j = 0; j < 9; j++) s = s sprintf("%s%.3f", j ? "," : "", rand()); print s } }' > "$T/tgt.csv"
expect_rc 0 $SLUICE data import-csv -i "$T/tgt.csv" -o "$T/tgt.h5" --targets 3 -q
expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/tgt.h5" \
  --model 'mlp:6-8-3' --space 'lr=uniform(0.01,0.1)' --metric loss --max-t 1 --trials 2 --out "$T/shape2"
expect_grep "^sluice: error: --eval-data '$T/tgt.h5' has float targets, --data '$T/blobs.h5' int32 labels" "$T/err"
[ -e "$T/shape2" ] && fail "an --eval-data of targets beside labels created EXPDIR"
grep -q 'trial\.log' "$T/err" && { cat "$T/err" >&2; fail "a failed mlp trial's warning names a trial.log"; }
# a metric the objective never reports is refused before EXPDIR is made
# (every trial ran and failed on it): accuracy needs --eval-data, acc is none
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --model 'mlp:6-8-3' \
  --space 'lr=uniform(0.01,0.1)' --metric accuracy --max-t 2 --trials 2 --out "$T/bad"
expect_grep "^sluice: error: --metric accuracy: the mlp objective reports train_loss (accuracy and loss of --eval-data" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'lr=uniform(0.01,0.1)' --metric acc --max-t 2 --trials 2 --out "$T/bad"
expect_grep "^sluice: error: --metric acc: the mlp objective reports train_loss, accuracy and loss" "$T/err"
[ "$(grep -c '^sluice' "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "an unreported metric: more than one line"; }
[ -e "$T/bad" ] && fail "an unreported metric created EXPDIR"
# a missing --data or --eval-data is refused before EXPDIR is made, in one
# line naming the option and the file (every trial failed on it, with two
# lines each, and the EXPDIR left behind refused the corrected command)
for opt in --data --eval-data; do
  d="$T/blobs.h5" e="$T/blobs.h5"
  if [ $opt = --data ]; then d="$T/nofile.h5"; else e="$T/nofile.h5"; fi
  expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$d" --eval-data "$e" --model 'mlp:6-8-3' \
    --space 'lr=uniform(0.01,0.1)' --metric accuracy --max-t 2 --trials 3 --out "$T/nodata"
  expect_grep "^sluice: error: $opt '$T/nofile.h5': No such file or directory" "$T/err"
  [ "$(grep -c '^sluice' "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "$opt missing: more than one line"; }
  [ -e "$T/nodata" ] && fail "a missing $opt file created EXPDIR"
done
# lr, weight_decay and momentum from choice or grid train with the values
# named (they had taken the option's index: lr 0, so no trial learnt)
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'lr=grid(0.05)' --space 'weight_decay=choice(0.0001)' --space 'momentum=grid(0.9)' \
  --searcher grid --optimizer sgd --metric accuracy --mode max --max-t 4 --trials 1 --batch 32 --out "$T/gridlr"
acc=$(sed -n 's/.*"metric": \([0-9.e-]*\).*/\1/p' "$T/gridlr/best.json")
awk -v a="$acc" 'BEGIN{exit !(a > 0.8)}' || fail "lr=grid(0.05): best accuracy $acc"
# --device cuda where no GPU is: one message before anything is written
# (every trial failed on it, and the EXPDIR left refused the corrected command)
if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -eq 0 ]; then
  expect_rc 1 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
    --model 'mlp:6-8-3' --space 'lr=loguniform(1e-3,1e-1)' --device cuda --metric accuracy --max-t 2 --trials 2 \
    --out "$T/nocuda"
  [ "$(grep -c '^sluice: error: --device cuda: no CUDA device' "$T/err")" -eq 1 ] ||
    { cat "$T/err" >&2; fail "--device cuda without a GPU: not one message"; }
  [ -e "$T/nocuda" ] && fail "--device cuda without a GPU created EXPDIR"
fi
# --epochs is a trial's length beside --max-t (it was ignored: 4 epochs ran)
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'lr=loguniform(1e-3,1e-1)' --metric accuracy --mode max --max-t 4 --epochs 2 \
  --trials 2 --batch 32 --out "$T/epochs"
awk -F, 'NR>1 && ($2 != "done" || $3 != 2) {bad=1} END {exit bad || NR != 3}' "$T/epochs/trials.csv" ||
  fail "--epochs 2 --max-t 4: $(cat "$T/epochs/trials.csv")"
# a trial run to its end says so in its summary (it read stopped-by-callback:
# the decision at its last epoch stopped nothing)
expect_grep '"status": "completed"' "$T/epochs/trials/000000/summary.json"
# a tuned optimizer (words: a choice's value is no number) trains with the
# one named (the index was taken from its NaN value: rank 0 crashed)
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'optimizer=choice(sgd,adam)' --searcher grid --metric accuracy --mode max \
  --max-t 2 --batch 32 --out "$T/optim"
expect_grep '"optimizer": "sgd"' "$T/optim/trials/000000/summary.json"
expect_grep '"optimizer": "adam"' "$T/optim/trials/000001/summary.json"
# PBT over a parameter that shapes the model: a trial that takes another's
# checkpoint keeps the donor's width, so no resume fails on a shape mismatch
expect_rc 0 $MPIRUN -np 2 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-{width}-3' --space 'lr=loguniform(1e-3,1e-1)' --space 'width=choice(8,16,32)' \
  --metric accuracy --mode max --scheduler pbt --perturbation-interval 2 --resample-probability 0.5 \
  --max-t 8 --trials 6 --batch 32 --out "$T/pbt"
# a trial took over a donor's checkpoint: its parameters changed between its
# reports (explored: lr times 0.8 or 1.2, or resampled). Its report count no
# longer tells: the population advances together, so a donor is often at the
# same step, and one behind makes the trial repeat steps.
awk -F, 'NR==1 {for (i = 1; i <= NF; i++) if ($i == "lr") c = i; next}
  {if (($1 in lr) && lr[$1] != $c) p = 1; lr[$1] = $c} END {exit !p}' "$T/pbt/results.csv" ||
  fail "no PBT trial took over a checkpoint: $(cat "$T/pbt/trials.csv")"
[ "$(grep -c ',done,' "$T/pbt/trials.csv")" -eq 6 ] || { cat "$T/pbt/trials.csv"; fail "PBT trials failed"; }
# --resume with another --objective is refused, naming both: a cmd
# experiment resumed as mlp ran its remaining trials on the network, their
# metrics in the same table; the same objective resumes
expect_rc 0 $MPIRUN -np 1 $SLUICE tune -q --command 'echo sluice-report step=1 accuracy={lr}' \
  --space 'lr=loguniform(1e-3,1e-1)' --metric accuracy --mode max --trials 2 --out "$T/obj"
expect_rc 1 $MPIRUN -np 1 $SLUICE tune -q --objective mlp --data "$T/blobs.h5" --eval-data "$T/blobs.h5" \
  --model 'mlp:6-8-3' --space 'lr=loguniform(1e-3,1e-1)' --metric accuracy --mode max --max-t 2 --trials 4 \
  --batch 32 --out "$T/obj" --resume
expect_grep "^sluice: error: --resume: '$T/obj/experiment.h5' was made with another --objective (cmd, now mlp)" "$T/err"
[ "$(grep -c ',done,' "$T/obj/trials.csv")" -eq 2 ] || fail "the refused resume changed the trials: $(cat "$T/obj/trials.csv")"
expect_rc 0 $MPIRUN -np 1 $SLUICE tune -q --command 'echo sluice-report step=1 accuracy={lr}' \
  --space 'lr=loguniform(1e-3,1e-1)' --metric accuracy --mode max --trials 3 --out "$T/obj" --resume
[ "$(grep -c ',done,' "$T/obj/trials.csv")" -eq 3 ] || fail "the resume with the same objective: $(cat "$T/obj/trials.csv")"
