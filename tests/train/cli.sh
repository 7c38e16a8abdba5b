#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The train commands end to end: import-idx on a small IDX pair the test
# writes (plain and gzip), import-csv, train, predict with 1 and 2 ranks
# (identical output), a stop by SIGUSR1-equivalent and resume, and bad
# inputs (one message, non-zero exit, nothing half-written).
. "$top_srcdir/tests/lib.sh"

# 200 images of 4x4: class c lights the pixels c, c+4, c+8, c+12 (4 classes)
/usr/bin/python3 - "$T" <<'PY' || fail "cannot write the IDX files"
import struct, sys, random
d = sys.argv[1]; random.seed(1); n = 200
imgs = bytearray(); labs = bytearray()
for i in range(n):
    c = random.randrange(4); labs.append(c)
    for p in range(16):
        imgs.append(200 + random.randrange(55) if p % 4 == c else random.randrange(40))
open(d + "/img.idx", "wb").write(struct.pack(">IIII", 0x803, n, 4, 4) + imgs)
open(d + "/lab.idx", "wb").write(struct.pack(">II", 0x801, n) + labs)
with open(d + "/data.csv", "w") as f:
    f.write("a,b,c,label\n")
    for i in range(60):
        c = i % 3; f.write(",".join(str(1.0 if j == c else 0.0) for j in range(3)) + ",%d\n" % c)
PY
gzip -k "$T/img.idx"
/usr/bin/python3 - "$T" <<'PY' || fail "cannot write the half IDX files"
import sys
d = sys.argv[1]; i = open(d + "/img.idx", "rb").read(); l = open(d + "/lab.idx", "rb").read()
open(d + "/img2.idx", "wb").write(i[:4] + (100).to_bytes(4, "big") + i[8:16] + i[16:16 + 1600])
open(d + "/lab2.idx", "wb").write(l[:4] + (100).to_bytes(4, "big") + l[8:108])
PY
expect_rc 0 $MPIRUN -np 2 "$SLUICE" data import-idx --images "$T/img.idx.gz" --labels "$T/lab.idx" --output "$T/d.h5"
expect_grep "imported 200 samples of 16 features" "$T/err"
h5dump -H "$T/d.h5" | grep -q 'DATASPACE  SIMPLE { ( 200, 16 )' || fail "/X is not 200 x 16"
h5dump -d /X -s "0,0" -c "1,16" "$T/d.h5" | grep -q "0\.[0-9]" || fail "pixels not scaled to [0, 1]"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-idx --images "$T/img2.idx" --labels "$T/lab2.idx" --output "$T/d2.h5"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/data.csv" --output "$T/c.h5"
expect_grep "imported 60 samples of 3 features" "$T/err"
# An HDF5 file is written under PATH.tmp: a link found there (left by
# someone else) is removed, not written through into its target.
echo keep >"$T/victim"
ln -s "$T/victim" "$T/c2.h5.tmp"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" data import-csv --input "$T/data.csv" --output "$T/c2.h5"
[ "$(cat "$T/victim")" = keep ] || fail "an HDF5 file was written through a link at PATH.tmp"
h5dump -H "$T/c2.h5" >/dev/null 2>&1 && [ ! -L "$T/c2.h5" ] || fail "c2.h5 with a link at c2.h5.tmp"

# train, then predict with 1 and 2 ranks: the same output
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --eval "$T/d.h5" --model mlp:16-8-4 --epochs 8 \
  --batch 16 --lr 0.05 --out "$T/run"
expect_grep "epoch 8/8" "$T/err"
for f in ckpt.h5 metrics.csv summary.json; do [ -s "$T/run/$f" ] || fail "run/$f missing"; done
[ "$(wc -l < "$T/run/metrics.csv")" -eq 9 ] || fail "metrics.csv should have 8 rows"
h5dump -H "$T/run/ckpt.h5" | grep -q 'DATASET "weight"' || fail "no /model/<layer>/weight in ckpt.h5"
# a --resume of the finished run trains nothing and keeps its summary.json
# (it was rewritten with checkpoint_bytes 0 and the seconds of the no-op)
cp "$T/run/summary.json" "$T/summary.keep"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --eval "$T/d.h5" --model mlp:16-8-4 --epochs 8 \
  --batch 16 --lr 0.05 --out "$T/run" --resume
expect_grep "already holds 8 epochs; nothing to do" "$T/err"
grep -q "resuming from" "$T/err" && fail "a resume with nothing to do said it resumed at an epoch: $(cat "$T/err")"
cmp -s "$T/run/summary.json" "$T/summary.keep" ||
  { diff "$T/summary.keep" "$T/run/summary.json" >&2; fail "a resume with nothing to do rewrote summary.json"; }
acc=$(tail -1 "$T/run/metrics.csv" | cut -d, -f5)
awk "BEGIN{exit !($acc > 0.95)}" || fail "accuracy $acc not above 0.95"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/d.h5" --output "$T/p1.h5" -p
expect_rc 0 $MPIRUN -np 2 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/d.h5" --output "$T/p2.h5" -p
h5diff "$T/p1.h5" "$T/p2.h5" /prob /prob || fail "predict with 1 and 2 ranks differs"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/d.h5" --output "$T/ids.h5"
h5dump -H "$T/ids.h5" | grep -q 'DATASET "pred"' || fail "no /pred"

# a stop at a safe point (the hidden hook acts like SIGUSR1): exit 75, then resume
# (with a steps.csv row every 4 steps: the resumed file equals an uninterrupted run's)
expect_rc 75 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --max-steps 5 --log-steps 4
cp "$T/stop/ckpt.h5" "$T/stop.keep.h5"
# the open interval's training time travels with its sums (else the resumed
# row's samples/s divides 4 steps' samples by the time of the steps after it)
h5dump -a /train/log_train_time "$T/stop/ckpt.h5" | grep -q '(0): [0-9.e-]*[1-9]' ||
  fail "the checkpoint does not carry the open --log-steps interval's time"
# ... and the epoch's wall time so far (metrics.csv's seconds of the resumed epoch)
h5dump -a /train/ep_seconds "$T/stop/ckpt.h5" | grep -q '(0): [0-9.e-]*[1-9]' ||
  fail "the mid-epoch checkpoint does not carry the epoch's seconds"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume --seed 7
expect_grep "written mid-epoch with --seed 1; resume it with the same seed, not 7" "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d2.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume
expect_grep "written mid-epoch on a training set of 200 rows; --data $T/d2.h5 has 100" "$T/err"
# the reduction (--exact's shards, --no-exact) would change for the rest
# of the epoch: refused, naming both (it resumed, and the weights were
# those of no run)
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume --shards 8
expect_grep "written mid-epoch with --exact --shards 4; this run has --exact --shards 8, which reduces the rest of the epoch's gradients another way: resume it with --exact --shards 4" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "a resume with another --shards printed $(cat "$T/err")"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume --no-exact
expect_grep "written mid-epoch with --exact --shards 4; this run has --no-exact," "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume --shards 3
expect_grep "this run has --shards 3 (--exact falls back to --no-exact with it on 2 ranks)" "$T/err"
cmp -s "$T/stop/ckpt.h5" "$T/stop.keep.h5" || fail "a refused resume changed the checkpoint"
printf '1,4,0.5' >> "$T/stop/steps.csv" # a row torn by a kill: dropped on resume
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/stop" --resume --log-steps 4
expect_grep "resuming from" "$T/err"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 --out "$T/ref" \
  --log-steps 4
h5diff "$T/stop/ckpt.h5" "$T/ref/ckpt.h5" /model /model || fail "stop + resume differs from one run"
# --no-exact does not use the shard count: a mid-epoch resume may change it
# (the weights equal an uninterrupted run's), but not to --exact
expect_rc 75 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 2 --batch 16 \
  --out "$T/nx" --max-steps 5 --no-exact
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 2 --batch 16 \
  --out "$T/nx" --resume
expect_grep "written mid-epoch with --no-exact; this run has --exact --shards 4," "$T/err"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 2 --batch 16 \
  --out "$T/nx" --resume --no-exact --shards 8
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 2 --batch 16 \
  --out "$T/nxref" --no-exact
h5diff "$T/nx/ckpt.h5" "$T/nxref/ckpt.h5" /model /model || fail "--no-exact stop + resume with --shards 8 differs from one run"
# 200 rows, batch 16: 13 steps an epoch, 39 in all: rows at steps 4, 8, ..., 36
[ "$(tail -n +2 "$T/ref/steps.csv" | cut -d, -f2 | tr '\n' ' ')" = "4 8 12 16 20 24 28 32 36 " ] ||
  fail "steps.csv rows: $(cut -d, -f2 "$T/ref/steps.csv" | tr '\n' ' ')"
cut -d, -f1-4 "$T/stop/steps.csv" | cmp -s - "$(cut -d, -f1-4 "$T/ref/steps.csv" > "$T/ref.rows"; echo "$T/ref.rows")" ||
  fail "steps.csv after stop + resume differs from one run"

# a fresh run over a finished one, stopped in its first epoch: no rows of the old run stay
expect_rc 75 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 3 --batch 16 \
  --out "$T/ref" --max-steps 5
[ ! -e "$T/ref/metrics.csv" ] || [ "$(wc -l < "$T/ref/metrics.csv")" -le 1 ] ||
  fail "a fresh run left the earlier run's metrics.csv rows beside its new checkpoint"
expect_grep "without --resume: starting afresh; the earlier run's $T/ref/ckpt.h5 is removed" "$T/err"
[ ! -e "$T/ref/steps.csv" ] || fail "a fresh run without --log-steps left the earlier run's steps.csv rows"
# ... and, run without --log-steps, its checkpoint carries no interval for a later --resume --log-steps
h5dump -a /train/log_samples "$T/ref/ckpt.h5" | grep -q '(0): 0$' ||
  fail "a run without --log-steps carried training sums into its checkpoint's log interval"

# an epoch-boundary checkpoint of 2 ranks (each holding a slice of the Adam
# state in the single-node step) resumed by 1 rank equals 1 rank throughout
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-1024-4 --epochs 1 --batch 16 --out "$T/rr"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --model mlp:16-1024-4 --epochs 2 --batch 16 --out "$T/rr" \
  --resume
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --model mlp:16-1024-4 --epochs 2 --batch 16 --out "$T/r1"
h5diff "$T/rr/ckpt.h5" "$T/r1/ckpt.h5" /model /model || fail "2 ranks then 1 differs from 1 rank"
h5diff "$T/rr/ckpt.h5" "$T/r1/ckpt.h5" /optim/v /optim/v || fail "2 ranks then 1: Adam state differs"

# bad inputs
cp "$T/run/ckpt.h5" "$T/keep.h5"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:10-4 --out "$T/bad"
expect_grep "16 features per sample but model mlp:10-4 takes 10" "$T/err"
[ "$(grep -c error "$T/err")" -eq 1 ] || fail "the error should be printed once"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 9 --out "$T/run" --resume \
  --model mlp:16-12-4
expect_grep "holds model 'mlp:16-8-4', not 'mlp:16-12-4'" "$T/err"
[ "$(grep -c "holds model" "$T/err")" -eq 1 ] || fail "the mismatch should be printed once"
# the same model written another way (a default spelled out, options in another
# order, 0.10 for 0.1) resumes; it was refused as 'holds model ..., not ...'
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4:dropout=0.1:ln --epochs 1 \
  --batch 16 --out "$T/spec"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4:ln:relu:dropout=0.10:init=kaiming \
  --epochs 2 --batch 16 --out "$T/spec" --resume
expect_grep "trained 2 epochs" "$T/err"
expect_rc 1 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4:ln:dropout=0.2 --epochs 3 \
  --batch 16 --out "$T/spec" --resume
expect_grep "holds model 'mlp:16-8-4:ln:relu:dropout=0.10:init=kaiming', not 'mlp:16-8-4:ln:dropout=0.2'" "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 9 --out "$T/run" --resume \
  --optimizer sgd
expect_grep "holds the state of optimiser adam, not sgd" "$T/err"
cmp -s "$T/run/ckpt.h5" "$T/keep.h5" || fail "a refused resume changed the checkpoint"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-3 --out "$T/bad"
expect_grep "label 3 in row" "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/img.idx" --out "$T/bad"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T" --out "$T/bad"
expect_grep "cannot read '$T': Is a directory" "$T/err"
! grep -q "mca_fbtl" "$T/err" || fail "MPI-IO's read errors reached the user"
expect_rc 1 $MPIRUN -np 1 "$SLUICE" data import-idx --images "$T/lab.idx" --labels "$T/lab.idx" --output "$T/x.h5"
expect_grep "not an IDX file" "$T/err"
[ ! -e "$T/x.h5" ] && [ ! -e "$T/x.h5.tmp" ] || fail "a failed import left a file"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/data.csv" --output "$T/r.h5" --targets 1
# a label column and targets: refused, not the label column quietly ignored
expect_rc 2 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/data.csv" --output "$T/lt.h5" --targets 1 \
  --label-column 0
expect_grep "label-column and --targets exclude each other" "$T/err"
[ ! -e "$T/lt.h5" ] || fail "a refused import left a file"
# lines longer than the 1 MiB line buffer (numbers written with 600,000
# leading zeros): read whole, not split into a row and a bogus next row
/usr/bin/python3 -c 'import sys
z = "0" * 600000
with open(sys.argv[1], "w") as f:
    f.write("a,b,label\n" + z + "1.5," + z + "2.5,1\n0.25," + z + "4,0\n")' "$T/long.csv"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/long.csv" --output "$T/long.h5"
h5dump -d /X "$T/long.h5" | tr -d ' \n' | grep -q '(0,0):1.5,2.5,(1,0):0.25,4' || fail "long CSV lines were not read whole"
# quoted fields: a first line of quoted numbers is data (it was taken as a
# header, and the next quoted number was "not a number"); a quoted header
# is a header, a comma inside quotes is no separator, "" is a quote; a
# field whose first value is a number only in part ("1st") names a header
printf '"1.5","2","0"\n"2.5", "3" ,"1"\n' > "$T/qnum.csv"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/qnum.csv" --output "$T/qnum.h5"
expect_grep "imported 2 samples of 2 features" "$T/err"
h5dump -d /X "$T/qnum.h5" | tr -d ' \n' | grep -q '(0,0):1.5,2,(1,0):2.5,3' || fail "quoted numbers were not read as data"
h5dump -d /y "$T/qnum.h5" | tr -d ' \n' | grep -q '(0):0,1}' || fail "quoted labels were not read"
printf '"a, in m","the ""b""","label"\n1.5,2,0\n2.5,3,1\n' > "$T/qhead.csv"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/qhead.csv" --output "$T/qhead.h5"
expect_grep "imported 2 samples of 2 features" "$T/err"
printf '1st,2nd,label\n1.5,2,0\n' > "$T/nhead.csv"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/nhead.csv" --output "$T/nhead.h5"
expect_grep "imported 1 samples of 2 features" "$T/err"
printf '"a","b\n1.5,2\n' > "$T/qopen.csv"
expect_rc 1 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/qopen.csv" --output "$T/qopen.h5"
expect_grep "qopen.csv:1: column 2: a quoted field must end with its closing quote" "$T/err"
[ ! -e "$T/qopen.h5" ] || fail "a failed import left a file"
printf 'a,b,label\n0.5,1e39,1\n0.1,0.2,0\n' > "$T/big.csv"
expect_rc 1 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/big.csv" --output "$T/big.h5"
expect_grep "big.csv:2: column 2: '1e39' times --scale does not fit in float32" "$T/err"
[ ! -e "$T/big.h5" ] || fail "a failed import left a file"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/r.h5" --model mlp:3-1 --out "$T/bad2" --lr 1e30 --optimizer sgd
expect_grep "the loss became" "$T/err"
# a NaN among the features of a data set made elsewhere (import refuses
# one; here a value's bytes are patched in the file): named with its row,
# not left to end as "the loss became NaN ... (lower --lr?)"
printf 'a,b,label\n0.1,0.2,0\n1234.5,0.5,1\n0.3,0.1,0\n0.9,0.4,1\n' > "$T/nan.csv"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/nan.csv" --output "$T/nan.h5"
/usr/bin/python3 -c 'import struct, sys
b = open(sys.argv[1], "rb").read(); p = struct.pack("<f", 1234.5)
assert b.count(p) == 1
open(sys.argv[1], "wb").write(b.replace(p, struct.pack("<I", 0x7fc00000)))' "$T/nan.h5" || fail "patching nan.h5"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/nan.h5" --model mlp:2-4-2 --epochs 1 --batch 2 --out "$T/bad3"
expect_grep "nan.h5: feature 0 of row 1 in /X is not finite" "$T/err"
expect_rc 1 $MPIRUN -np 1 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/c.h5" --output "$T/pp.h5"
expect_grep "3 features per sample but the model takes 16" "$T/err"
[ ! -e "$T/pp.h5" ] || fail "a failed predict left a file"
# an output that names an input: refused, the input kept
cp "$T/d.h5" "$T/same.h5"
expect_rc 2 $MPIRUN -np 2 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/same.h5" --output "$T/same.h5"
expect_grep "is the --input file; it would be replaced" "$T/err"
cmp -s "$T/d.h5" "$T/same.h5" || fail "predict replaced its input"
expect_rc 2 $MPIRUN -np 1 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/d.h5" --output "$T/run/./ckpt.h5"
expect_grep "is the --model file; it would be replaced" "$T/err"
cmp -s "$T/run/ckpt.h5" "$T/keep.h5" || fail "predict replaced the model"
cp "$T/data.csv" "$T/same.csv"
expect_rc 2 $MPIRUN -np 1 "$SLUICE" data import-csv --input "$T/same.csv" --output "$T/same.csv"
cmp -s "$T/data.csv" "$T/same.csv" || fail "import-csv replaced its input"
expect_rc 2 $MPIRUN -np 1 "$SLUICE" data import-idx --images "$T/img.idx" --labels "$T/lab.idx" --output "$T/lab.idx"
expect_grep "is an input file; it would be replaced" "$T/err"
# an output in a folder that does not exist: the file system's reason, not
# the errno MPI-IO left behind ("Bad file descriptor")
expect_rc 1 $MPIRUN -np 2 "$SLUICE" predict --model "$T/run/ckpt.h5" --input "$T/d.h5" --output "$T/nodir/p.h5"
expect_grep "cannot create '$T/nodir/p.h5.tmp': No such file or directory" "$T/err"
expect_rc 2 "$SLUICE" train --data "$T/d.h5" --out "$T/bad" --optimizer rmsprop
# MIN_LR above --lr makes the schedule rise: a warning (the run goes on;
# here it stops at the missing --data, which is checked after)
expect_rc 1 "$SLUICE" train --data "$T/none.h5" --model mlp:16-4 --out "$T/bad" --lr 0.01 --schedule cosine:0:0.1
expect_grep "warn: --schedule cosine:0:0.1: MIN_LR 0.1 is above --lr 0.01, so the rate rises" "$T/err"
expect_rc 1 "$SLUICE" train --data "$T/none.h5" --model mlp:16-4 --out "$T/bad" --lr 0.01 --schedule cosine:0:0.001
grep -q "MIN_LR" "$T/err" && fail "a MIN_LR below --lr was warned about"
# a range printed with the digits that tell it from the value refused
expect_rc 2 "$SLUICE" train --data "$T/d.h5" --out "$T/bad" --beta2 1
expect_grep "option --beta2: 1 is out of range \[0, 0.999999999\]" "$T/err"
expect_rc 2 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --out "$T/bad" --model mlp:16-x-4
expect_grep "model spec 'mlp:16-x-4': bad layer width at 'x-4'" "$T/err"
# widths are digits ('+16', ' 16' were taken; '16.0' said "needs at least an
# input and an output width"), and each kind of option comes once
# ('relu:tanh' took tanh in silence)
for m in 'mlp:+16-4|at .+16-4.' 'mlp: 16-4|at . 16-4.' 'mlp:16.0-4|at .16.0-4.' \
  "mlp:16-8-4:relu:tanh|'tanh' gives the activation a second time" \
  "mlp:16-8-4:dropout=0.1:ln:dropout=0.2|'dropout=0.2' gives the dropout a second time"; do
  expect_rc 2 "$SLUICE" train --data "$T/d.h5" --out "$T/bad" --model "${m%%|*}"
  grep -q "model spec '${m%%|*}': .*${m#*|}" "$T/err" || fail "--model '${m%%|*}': $(cat "$T/err")"
done
expect_rc 2 $MPIRUN -np 1 "$SLUICE" train --data "$T/d.h5" --out "$T/bad" --model mlp:16-2-2-2-2-2-2-2-2-2-2-2-2-2-2-2-4
expect_grep "more than 16 widths (15 Linear layers)" "$T/err"
[ "$(grep -c "model spec" "$T/err")" -eq 1 ] || fail "the bad model spec should be printed once"
if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -eq 0 ]; then
  expect_rc 1 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --out "$T/gpu" --device cuda
  expect_grep "no CUDA device" "$T/err"
  [ "$(grep -c "no CUDA device" "$T/err")" -eq 1 ] || fail "the CUDA error should be printed once"
fi
# a real SIGUSR1 to mpirun (forwarded to the ranks): checkpoint, exit 75, resumable
$MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 100000 --batch 16 --out "$T/sig" \
  >"$T/sig.out" 2>&1 &
pid=$!
i=0; while [ ! -s "$T/sig/ckpt.h5" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat "$T/sig.out"; fail "SIGUSR1: exit $rc, expected 75"; }
grep -q '"status": "stopped"' "$T/sig/summary.json" || fail "summary.json does not say stopped"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" train --data "$T/d.h5" --model mlp:16-8-4 --epochs 1 --batch 16 --out "$T/sig" --resume
# (the checkpoint holds at least one epoch, unless the stop came mid-epoch)
grep -Eq "resuming from|already holds [0-9]+ epochs?; nothing to do" "$T/err" || fail "resume after SIGUSR1: $(cat "$T/err")"

# a run directory whose name has a quote and a backslash: summary.json escapes them
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/c.h5" --model mlp:3-4-3 --epochs 1 --batch 8 --out "$T/q\"d\\x"
expect_grep "trained 1 epoch: " "$T/err"
grep -qF '"checkpoint": "'"$T"'/q\"d\\x/ckpt.h5",' "$T/q\"d\\x/summary.json" ||
  { cat "$T/q\"d\\x/summary.json" >&2; fail "summary.json: the checkpoint path is not escaped"; }

# a regression model predicts its outputs (/y)
expect_rc 0 $MPIRUN -np 1 "$SLUICE" train --data "$T/r.h5" --model mlp:3-4-1 --epochs 2 --batch 8 --out "$T/reg"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" predict --model "$T/reg/ckpt.h5" --input "$T/r.h5" --output "$T/ry.h5"
h5dump -H "$T/ry.h5" | grep -q 'DATASET "y"' || fail "no /y from a regression model"
echo "train cli: ok"
