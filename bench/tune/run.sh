#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Benchmarks of sluice tune, printing ratios (medians of REPS runs, run
# side by side on the same cores):
#   1. overhead: N=2000 trivial cmd trials (echo sluice-report step=1 m={x}),
#      random search + FIFO on 2 ranks, mpirun start-up included, against
#      Optuna (python3-optuna, in-memory, random sampler, n_jobs=2, the same
#      command through subprocess; interpreter start-up included): trials/s.
#      Both exec echo directly; a second line uses a shell for both.
#   3. many trials: the same with NBIG=30000 trials against N, both tools:
#      the share of the trials/s each keeps.
#   2. Fashion-MNIST MLP (Debian's dataset-fashion-mnist), lr, width, batch,
#      weight decay, 2 ranks: ASHA against random search + FIFO with the
#      same --budget of trial-epochs; time until a trial first reaches ACC (0.88)
#      test accuracy, best accuracy, and the scheduler's share of rank time.
# usage: bench/tune/run.sh [BUILD_DIR]
#   (REPS=3 N=2000 NBIG=30000 PARTS="1 2 3" SEED0=0: seeds SEED0+1.. ASHA=asha-time|asha-stop|asha
#    MAXT=16 FIFO_TRIALS=6: a budget of FIFO_TRIALS x MAXT trial-epochs for both; ASHA_TRIALS=1000;
#    BEST_REPS=1: seeds run over the whole budget for the best accuracy)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../..}
. "$here/../sluice-bin.sh"
sluice_bin "$build"
SLUICE=$SLUICE_BIN
OUT=${OUT:-$here/../out/tune}
REPS=${REPS:-3}
N=${N:-2000}
PARTS=${PARTS:-"1 2 3"}
ACC=${ACC:-0.88}
MPIRUN="mpirun --oversubscribe"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ -x "$SLUICE" ] || { echo "build sluice first (no $SLUICE)"; exit 1; }
mkdir -p "$OUT"
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

if echo "$PARTS" | grep -q 1; then
  /usr/bin/python3 -c 'import optuna' 2>/dev/null || { echo "missing Optuna: apt-get install python3-optuna"; exit 1; }
  for mode in direct shell; do
    s=""; o=""
    tpl='echo sluice-report step=1 m={x}'
    [ $mode = shell ] && tpl='echo sluice-report step=1 m={x} ;'
    for i in $(seq "$REPS"); do
      # a fresh directory each run, all removed at the end: ext4 allocates
      # inodes slowly for 30 s after thousands were deleted, which would
      # time the benchmark's own clean-up
      d="$OUT/ovh.$mode.$i.$$"
      t0=$(now)
      $MPIRUN -np 2 "$SLUICE" tune -q --command "$tpl" --space 'x=uniform(0,1)' --metric m --trials "$N" \
        --out "$d" > "$OUT/ovh.log" 2>&1
      t1=$(now)
      [ "$(grep -c ',done,' "$d/trials.csv")" -eq "$N" ] || { cat "$OUT/ovh.log"; echo "sluice run failed"; exit 1; }
      s="$s $(echo "$N $t0 $t1" | awk '{printf "%.1f", $1/($3-$2)}')"
      t0=$(now)
      /usr/bin/python3 "$here/optuna_cmd.py" "$N" $mode > "$OUT/optuna.log" 2>&1
      t1=$(now)
      o="$o $(echo "$N $t0 $t1" | awk '{printf "%.1f", $1/($3-$2)}')"
    done
    ms=$(echo $s | tr ' ' '\n' | median); mo=$(echo $o | tr ' ' '\n' | median)
    echo "== 1. overhead ($mode exec), $N trials, 2 ranks/jobs, median of $REPS"
    echo "sluice tune: $ms trials/s  [$s ]"
    echo "optuna $(/usr/bin/python3 -c 'import optuna; print(optuna.__version__)'): $mo trials/s  [$o ]"
    grep utilisation "$OUT/ovh.log" || true
    awk "BEGIN{printf \"ratio sluice/optuna: %.2fx (goal >= 2.5)\n\", $ms/$mo}"
  done
  rm -rf "$OUT"/ovh.*.*.$$
fi

if echo "$PARTS" | grep -q 3; then
  # 3. many trials: trials/s with NBIG trials against with N, both tools
  # (a driver that slows down as its trials add up is what Ray Tune's
  # users report); one run each, direct exec
  NBIG=${NBIG:-30000}
  /usr/bin/python3 -c 'import optuna' 2>/dev/null || { echo "missing Optuna: apt-get install python3-optuna"; exit 1; }
  rate() { # rate N sluice|optuna: trials/s of one run
    d="$OUT/big.$1.$$"
    t0=$(now)
    if [ "$2" = sluice ]; then
      $MPIRUN -np 2 "$SLUICE" tune -q --command 'echo sluice-report step=1 m={x}' --space 'x=uniform(0,1)' --metric m \
        --trials "$1" --out "$d" > "$OUT/big.log" 2>&1 || { cat "$OUT/big.log"; exit 1; }
    else
      /usr/bin/python3 "$here/optuna_cmd.py" "$1" > "$OUT/big.log" 2>&1 || { cat "$OUT/big.log"; exit 1; }
    fi
    t1=$(now)
    rm -rf "$d"
    echo "$1 $t0 $t1" | awk '{printf "%.1f", $1/($3-$2)}'
  }
  echo "== 3. many trials: $NBIG against $N, 2 ranks/jobs"
  for tool in sluice optuna; do
    a=$(rate "$N" $tool); b=$(rate "$NBIG" $tool)
    echo "$tool: $a trials/s with $N trials, $b trials/s with $NBIG: $(awk "BEGIN{printf \"%.0f\", 100 * $b / $a}")% of the rate kept"
    if [ $tool = sluice ]; then
      grep utilisation "$OUT/big.log" || true
      sb=$b
    else
      ob=$b
    fi
  done
  awk "BEGIN{printf \"ratio sluice/optuna with $NBIG trials: %.2fx\n\", $sb/$ob}"
fi

if echo "$PARTS" | grep -q 2; then
  D=/usr/share/datasets/fashion-mnist
  [ -f $D/train-images-idx3-ubyte.gz ] || { echo "missing $D: apt-get install dataset-fashion-mnist"; exit 1; }
  [ -f "$OUT/train.h5" ] || $SLUICE data import-idx --images $D/train-images-idx3-ubyte.gz \
    --labels $D/train-labels-idx1-ubyte.gz --output "$OUT/train.h5" -q
  [ -f "$OUT/test.h5" ] || $SLUICE data import-idx --images $D/t10k-images-idx3-ubyte.gz \
    --labels $D/t10k-labels-idx1-ubyte.gz --output "$OUT/test.h5" -q
  # the same budget of trial-epochs for both: FIFO runs FIFO_TRIALS whole
  # trials, ASHA as many as --budget lets it start
  MAXT=${MAXT:-16}; FIFO_TRIALS=${FIFO_TRIALS:-6}; BUDGET=$((FIFO_TRIALS * MAXT))
  # asha-time (default): the stopping form (Ray Tune's ASHAScheduler) with
  # time_total_s as its time_attr, rungs 1, 4, 16, 64 s, each trial at most
  # MAXT epochs; asha-stop: the same counting epochs; asha: the promotion form
  ASHA=${ASHA:-asha-time}
  case $ASHA in
    asha-time) asha_opts="--scheduler asha-stop --time-attr time_total_s --epochs $MAXT --max-t 256" ;;
    asha-stop) asha_opts="--scheduler asha-stop --max-t $MAXT" ;;
    asha) asha_opts="--scheduler asha --max-t $MAXT" ;;
    *) echo "ASHA=$ASHA: expected asha-time, asha-stop or asha"; exit 2 ;;
  esac
  ASHA_TRIALS=${ASHA_TRIALS:-1000}
  common="--objective mlp --data $OUT/train.h5 --eval-data $OUT/test.h5 --model mlp:784-{width}-{width}-10
    --space lr=loguniform(1e-4,1e-1) --space width=choice(64,128,256,512) --space batch=qrandint(32,512,32)
    --space weight_decay=loguniform(1e-6,1e-2) --optimizer adamw --metric accuracy --mode max"
  # 2a. time to ACC: every run ends when a trial first reaches it (--target
  # ACC: up to then the run is the same as one over the whole budget), so
  # many seeds are affordable; "never" (the budget ran out first) counts as
  # longer than any time in the medians. 2b. the best accuracy at the end of
  # the whole budget, for BEST_REPS seeds (0: skip).
  summary() { awk -F, -v acc="$ACC" 'NR==1{for(i=1;i<=NF;i++) if($i=="accuracy") c=i; next}
    {n++; if ($c > best) best = $c; if ($c >= acc && (first == "" || $3 < first)) first = $3}
    END{printf "%s %d %.4f\n", (first == "" ? "never" : first), n, best}' "$1"; }
  run() { # run SCHEDULER SEED [tune options]: prints "time-to-ACC trial-epochs best"
    sch=$1 seed=$2; shift 2
    tr=$FIFO_TRIALS; so="--scheduler fifo --max-t $MAXT"
    [ "$sch" = fifo ] || { tr=$ASHA_TRIALS; so=$asha_opts; }
    rm -rf "$OUT/$sch"
    $MPIRUN -np 2 "$SLUICE" tune -q $common $so --trials "$tr" --budget $BUDGET --seed "$seed" --out "$OUT/$sch" "$@" \
      > "$OUT/$sch.log" 2>&1 || { cat "$OUT/$sch.log"; exit 1; }
    summary "$OUT/$sch/results.csv"
  }
  stats() { # stats TIMES...: median and mean ("never" counts as infinite)
    echo "$@" | tr ' ' '\n' | sed 's/never/inf/' | sort -g | awk '{a[NR]=$1; s+=$1} END{n=NR;
      printf "%s %s\n", (n%2) ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2, s/n}'; }
  fa=""; aa=""
  echo "== 2a. Fashion-MNIST, 2 ranks, MAXT=$MAXT epochs a trial, budget $BUDGET trial-epochs: time to test accuracy $ACC"
  for i in $(seq "$REPS"); do
    seed=$((i + ${SEED0:-0}))
    f=$(run fifo $seed --target "$ACC"); f=${f%% *}
    a=$(run $ASHA $seed --target "$ACC"); a=${a%% *}
    echo "seed $seed: random+FIFO $f s, ASHA ($ASHA) $a s"
    fa="$fa $f"; aa="$aa $a"
  done
  set -- $(stats $fa); mf=$1 nf=$2
  set -- $(stats $aa); ma=$1 na=$2
  echo "random+FIFO: [$fa ] s   ASHA: [$aa ] s"
  echo "medians: FIFO $mf s, ASHA $ma s; means: FIFO $nf s, ASHA $na s"
  awk -v mf="$mf" -v ma="$ma" -v nf="$nf" -v na="$na" 'function r(a, b) {
      return (a == "inf" && b == "inf") ? "n/a (neither reached it)" : (b == "inf") ? "0x" : (a == "inf") ? "infinite" : sprintf("%.2fx", a / b) }
    BEGIN{printf "ratio FIFO/ASHA time to '"$ACC"': %s of the medians (goal >= 3), %s of the means\n", r(mf, ma), r(nf, na)}'
  BEST_REPS=${BEST_REPS:-1}
  [ "$BEST_REPS" -gt 0 ] && echo "== 2b. the whole budget: best test accuracy at the end"
  for i in $(seq "$BEST_REPS"); do
    seed=$((i + ${SEED0:-0}))
    for sch in fifo $ASHA; do
      r=$(run $sch $seed)
      u=$(sed -n 's/.*scheduler \([0-9.]*\)%.*/\1/p' "$OUT/$sch.log")
      echo "seed $seed $sch: first >= $ACC at $(echo $r | cut -d' ' -f1) s, $(echo $r | cut -d' ' -f2) trial-epochs, best $(echo $r | cut -d' ' -f3), scheduler ${u}% of rank time"
    done
  done
fi
