#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice train with --out on a file system that fills up (a 4 MB tmpfs and
# a filler file; skipped where mount is not allowed): a checkpoint that no
# longer fits is one message naming it and exit 1 on every rank (it hung in
# HDF5's close: one rank's metadata flush failed, the other waited in a
# barrier), ckpt.h5.tmp is removed, the previous ckpt.h5 stays valid and a
# --resume once space is freed goes on from it.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
small_dataset d.h5
/usr/bin/python3 -c "
with open('big.csv', 'w') as f:
    for i in range(20000): f.write(','.join('%.3f' % ((i * 7 + j) % 10 / 10) for j in range(16)) + ',%d\n' % (i % 4))
" || fail "cannot write big.csv"
expect_rc 0 $SLUICE data import-csv --input big.csv --output big.h5
full_tmpfs full 4m
A="--data d.h5 --model mlp:16-2048-4 --batch 16 --out full/run"
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE train $A --epochs 1
# fill the file system but 400 KB: less than the checkpoint (540 KB), more than the room
# kept for its metadata
fill full 400000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE train $A --epochs 3 --resume
expect_grep "rank 0: cannot write .* 'full/run/ckpt.h5.tmp': No space left on device" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "not one message: $(cat "$T/err")"
[ ! -e full/run/ckpt.h5.tmp ] || fail "ckpt.h5.tmp left on the full file system"
h5dump -a /train/epoch full/run/ckpt.h5 | grep -q '(0): 1$' || fail "ckpt.h5 no longer holds epoch 1"
# full to the last few KB: the checkpoint cannot even be created
rm full/filler && fill full 20000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE train $A --epochs 3 --resume
expect_grep "rank 0: cannot create 'full/run/ckpt.h5.tmp': No space left on device" "$T/err"
[ ! -e full/run/ckpt.h5.tmp ] || fail "ckpt.h5.tmp left on the full file system"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE train $A --epochs 3 --resume
expect_grep "resuming from full/run/ckpt.h5 at epoch 2" "$T/err"
h5dump -a /train/epoch full/run/ckpt.h5 | grep -q '(0): 3$' || fail "the resume did not reach epoch 3"
[ "$(wc -l <full/run/metrics.csv)" -eq 4 ] || fail "metrics.csv: $(cat full/run/metrics.csv)"
# steps.csv rows that cannot be written (the file system fills up during an
# epoch and is freed before the next checkpoint): that checkpoint is
# refused, naming steps.csv, since a resume re-logs only the steps after
# its checkpoint (the rows were dropped in silence, and the run went on,
# exit 75 with a gap in steps.csv); a --resume fills steps.csv without a gap.
# (10,000 steps an epoch, a tenth of a second here: when the file system
# filled up at an epoch's end, its checkpoint or metrics.csv is what does
# not fit, rightly, and the case is tried again, up to 3 times)
B="--data big.h5 --model mlp:16-8-4 --batch 2 --log-steps 1 --out full/run"
for try in 1 2 3; do
  rm -rf full/run
  timeout 60 $MPIRUN -np 2 $SLUICE train $B --epochs 100000 >out 2>err &
  pid=$!
  full_while_writing $pid full/run/steps.csv full
  rc=$?
  [ $rc -eq 1 ] || { cat out err >&2; fail "rows lost on a full file system: exit $rc, expected 1"; }
  grep -q "'full/run/\(ckpt.h5\|metrics.csv\|summary.json\).tmp'" err || break
done
expect_grep "rank 0: cannot write 'full/run/steps.csv': No space left on device" err
expect_rc 75 timeout 60 $MPIRUN -np 2 $SLUICE train $B --epochs 100000 --resume --max-steps 3000
awk -F, 'NR > 1 && $2 != NR - 1 { print "row " NR ": step " $2; bad = 1; exit } END { exit bad }' \
  full/run/steps.csv || fail "steps.csv has a gap after the resume"
# predict into a file system without room for its output: one message (each
# rank said it for its own rows), exit 1, no PRED.h5 nor PRED.h5.tmp
cp full/run/ckpt.h5 model.h5 && rm -rf full/run && fill full 300000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE predict --model model.h5 --input big.h5 --output full/p.h5 --probabilities
expect_grep "rank 0: cannot write rows to 'full/p.h5.tmp': No space left on device" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "predict: not one message: $(cat "$T/err")"
[ ! -e full/p.h5 ] && [ ! -e full/p.h5.tmp ] || fail "predict left its output on the full file system: $(ls full)"
