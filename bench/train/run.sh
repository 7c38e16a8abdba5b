#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Benchmark of sluice train on Fashion-MNIST (Debian's dataset-fashion-mnist),
# MLP 784-256-128-10 ReLU, Adam 1e-3, batch 128, printing ratios:
#   1. test accuracy after 10 epochs (goal >= 0.88)
#   2. samples/s with 1 thread against PyTorch (python3-torch), same run, medians
#   3. 2 ranks x 1 thread against 1 rank x 1 thread (exact and bucketed modes)
#   5. checkpoint write bandwidth against dd to the same filesystem
# usage: bench/train/run.sh [BUILD_DIR]   (REPS=3 EPOCHS=10 to change)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../..}
. "$here/../sluice-bin.sh"
sluice_bin "$build"
SLUICE=$SLUICE_BIN
D=/usr/share/datasets/fashion-mnist
OUT=${OUT:-$here/../out/train}
REPS=${REPS:-3}
EPOCHS=${EPOCHS:-10}
MPIRUN="mpirun --oversubscribe"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ -x "$SLUICE" ] || { echo "build sluice first (no $SLUICE)"; exit 1; }
[ -f $D/train-images-idx3-ubyte.gz ] || { echo "missing $D: apt-get install dataset-fashion-mnist"; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "missing PyTorch: apt-get install python3-torch"; exit 1; }
mkdir -p "$OUT"
$SLUICE data import-idx --images $D/train-images-idx3-ubyte.gz --labels $D/train-labels-idx1-ubyte.gz --output "$OUT/train.h5" -q
$SLUICE data import-idx --images $D/t10k-images-idx3-ubyte.gz --labels $D/t10k-labels-idx1-ubyte.gz --output "$OUT/test.h5" -q
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
train() { # NP EXTRA... -> "wall_samples_per_s cpu_samples_per_s" of epoch 2 (epoch 1 warms caches)
  np=$1; shift
  rm -rf "$OUT/tp"
  $MPIRUN -np "$np" $SLUICE train --data "$OUT/train.h5" --model mlp:784-256-128-10 --epochs 2 --batch 128 \
    --lr 0.001 --optimizer adam --threads 1 --out "$OUT/tp" -q "$@" >/dev/null 2>&1
  tail -1 "$OUT/tp/metrics.csv" | awk -F, '{printf "%.0f %.0f\n", $7, 60000 / $9}'
}
col() { echo $1 | tr ' ' '\n' | awk -v c="$2" 'NR % 2 == c'; }

echo "machine: $(getconf _NPROCESSORS_ONLN) cores, load average now: $(cut -d" " -f1-3 /proc/loadavg) (the ratios need a quiet machine)"
echo "== 1. accuracy: $EPOCHS epochs, 1 rank"
rm -rf "$OUT/acc"
$SLUICE train --data "$OUT/train.h5" --eval "$OUT/test.h5" --model mlp:784-256-128-10 --epochs "$EPOCHS" \
  --batch 128 --lr 0.001 --optimizer adam --threads 1 --out "$OUT/acc" -q
acc=$(tail -1 "$OUT/acc/metrics.csv" | cut -d, -f5)
best=$(tail -n +2 "$OUT/acc/metrics.csv" | cut -d, -f5 | sort -g | tail -1)
echo "sluice test accuracy after $EPOCHS epochs: $acc (best epoch $best; goal 0.88)"

echo "pytorch, same run, same data: $(/usr/bin/python3 "$here/torch_mlp.py" $D "$EPOCHS" 1 | tail -1)"

echo "== 2. one thread against PyTorch (median of $REPS; wall clock, and per CPU second since the VM is shared)"
s=""; x=""; t=""
for i in $(seq "$REPS"); do
  s="$s $(train 1)"
  x="$x $(train 1 --no-exact)"
  t="$t $(/usr/bin/python3 "$here/torch_mlp.py" $D 2 1 | grep samples_per_s | tail -1 | awk '{printf "%.0f %.0f", $2, $4}')"
done
ms=$(col "$s" 1 | median); msc=$(col "$s" 0 | median)
mx=$(col "$x" 1 | median); mxc=$(col "$x" 0 | median)
mt=$(col "$t" 1 | median); mtc=$(col "$t" 0 | median)
echo "sluice --exact (4 shards): $ms samples/s wall, $msc per CPU s   [wall cpu:$s ]"
echo "sluice --no-exact:         $mx samples/s wall, $mxc per CPU s   [wall cpu:$x ]"
echo "pytorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'):     $mt samples/s wall, $mtc per CPU s   [wall cpu:$t ]"
awk "BEGIN{printf \"ratio sluice/pytorch wall: exact %.2fx, no-exact %.2fx; per CPU second: exact %.2fx, no-exact %.2fx (goal >= 1.0)\\n\", $ms/$mt, $mx/$mt, $msc/$mtc, $mxc/$mtc}"

echo "== 3. 2 ranks x 1 thread against 1 rank x 1 thread (median of $REPS, wall clock)"
a=""; c=""
for i in $(seq "$REPS"); do
  a="$a $(train 2)"
  c="$c $(train 2 --no-exact)"
done
m2=$(col "$a" 1 | median); m2x=$(col "$c" 1 | median)
echo "2 ranks --exact: $m2 samples/s [wall cpu:$a ], --no-exact: $m2x samples/s [wall cpu:$c ]"
awk "BEGIN{printf \"scaling 2 ranks / 1 rank: exact %.2fx, no-exact %.2fx (goal >= 1.8)\\n\", $m2/$ms, $m2x/$mx}"

echo "== 5. checkpoint write bandwidth against dd (same filesystem)"
# a wide model makes a checkpoint worth timing: ~17.9M parameters, weights + Adam state ~215 MB
rm -rf "$OUT/ck"
$MPIRUN -np 1 $SLUICE train --data "$OUT/test.h5" --model mlp:784-4096-4096-10 --epochs 1 --batch 100 \
  --out "$OUT/ck" -q --max-steps 1 --threads 2 >/dev/null 2>&1 || true
bytes=$(grep checkpoint_bytes "$OUT/ck/summary.json" | tr -dc 0-9)
secs=$(grep checkpoint_seconds "$OUT/ck/summary.json" | tr -dc 0-9.)
ckbw=$(awk "BEGIN{print $bytes/$secs/1e6}")
dd if=/dev/zero of="$OUT/dd.bin" bs=4M count=$((bytes / 4194304 + 1)) conv=fsync 2>"$OUT/dd.txt"; rm -f "$OUT/dd.bin"
ddbw=$(tail -1 "$OUT/dd.txt" | awk '{v=$(NF-1); u=$NF; if (u ~ /^GB/) v*=1000; if (u ~ /^kB/) v/=1000; print v}')
echo "checkpoint: $bytes bytes in $secs s = $ckbw MB/s (fsync'd, atomic rename); dd conv=fsync: $ddbw MB/s"
awk "BEGIN{printf \"ratio checkpoint/dd: %.2fx\\n\", $ckbw/$ddbw}"
rm -rf "$OUT/ck" "$OUT/tp"
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
