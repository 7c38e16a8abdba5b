#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The demo's four stages on a tiny scale (a small Fashion-MNIST look-alike
# made here): the files the README says it writes, and a re-run of a finished
# demo, whose training stage runs no epoch and must say so (it printed "test
# accuracy 0.0000").
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
mkdir "$T/fm"
python3 - "$T/fm" <<'PY' || fail "could not write the IDX files"
import gzip, struct, sys
def write(name, n):
    with gzip.open(f"{sys.argv[1]}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        f.write(bytes((i * 7 + j) % 256 for i in range(n) for j in range(784)))
    with gzip.open(f"{sys.argv[1]}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n))
        f.write(bytes(i % 10 for i in range(n)))
write("train", 256)
write("t10k", 64)
PY
args="--out $T/run --steps 6 --step-ms 0 --farm-tasks 1000 --sort-records 1000 --train-epochs 1 --fashion-mnist $T/fm"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo $args
expect_grep "^tasks: 1000 tiny tasks on 2 ranks" "$T/out"
expect_grep "^sort: .*valsort: 1000 records in 2 part(s), all in order" "$T/out"
expect_grep "^train: test accuracy 0\.[0-9]* after 1 epoch; checkpoint" "$T/out"
expect_grep "^demo finished" "$T/out"
# the run directory, as the README's "The demo" lists it
for f in ckpt.h5 ckpt.h5.1 summary.json sort/input.dat sort/sorted/part-00000 sort/sorted/part-00001 \
    sort/sorted/summary.json fashion-train.h5 fashion-test.h5 train/ckpt.h5 train/metrics.csv train/summary.json; do
  [ -f "$T/run/$f" ] || fail "the demo did not write DIR/$f"
done
# A re-run resumes every stage; the training is complete, so it says so
# instead of printing an accuracy it did not measure.
expect_rc 0 $MPIRUN -np 2 "$SLUICE" demo $args
expect_grep "resuming from" "$T/out"
grep -q "test accuracy 0\.0000" "$T/out" && fail "a re-run printed an accuracy it did not measure: $(cat "$T/out")"
expect_grep "^train: $T/run/train/ckpt.h5 already holds 1 epoch" "$T/out"
expect_grep "^demo finished" "$T/out"
echo "PASS: demo"
