#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Quality of `sluice tune --searcher tpe` against Optuna's TPESampler and
# sluice's random searcher.
#
#   bench/tune/tpe_quality.sh [BUILDDIR [SEEDS [TRIALS [FUNCS]]]]
#     BUILDDIR  sluice build (default: this checkout)   SEEDS  how many (20)
#     TRIALS    per run (60; the table reads 20, 40, 60)
#     FUNCS     "branin hart6 mixed" (defined in tpe_quality.py)
#   FIRST=K: seeds K..K+SEEDS-1 (K = 1). OUT=DIR keeps the runs there and
#   reuses those already done (default a temporary folder, removed);
#   METHODS="sluice-tpe optuna-tpe optuna-tpe-b2 sluice-random" picks methods.
#
# Every run minimises FUNC; sluice runs on 2 ranks (`mpirun -np 2`, so two
# trials at a time, the constant liar between them) with the cmd objective
# `tpe_quality.py eval`; Optuna 3.1 (Debian's /usr/bin/python3) runs
# TPESampler(n_startup_trials=10, n_ei_candidates=24, seed) with n_jobs=1
# (optuna-tpe) and also in pairs, ask two / tell two with constant_liar=True
# (optuna-tpe-b2, the same parallelism as sluice). sluice-tpe-np1 is sluice
# on 1 rank: one trial running and the next already suggested (queued). Prints the median over seeds
# of the best f found after 20, 40 and TRIALS trials (trial-id order) and the
# ratio of sluice's gap to the optimum over Optuna's (below 1: sluice better).
# Cost: about 1.5 s a sluice run and 1-3 s an Optuna run on 2 cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../..}
seeds=${2:-20}
trials=${3:-60}
funcs=${4:-branin hart6 mixed}
methods=${METHODS:-sluice-tpe optuna-tpe optuna-tpe-b2 sluice-random}
py=/usr/bin/python3
helper=$here/tpe_quality.py
. "$here/../sluice-bin.sh"
sluice_bin "$build"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
if [ -n "${OUT:-}" ]; then
  out=$OUT
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

for fn in $funcs; do
  space=$($py "$helper" space "$fn")
  names=$(echo "$space" | sed "s/--space '\([a-z0-9]*\)=[^']*'/{\1}/g")
  for s in $(seq "${FIRST:-1}" $((${FIRST:-1} + seeds - 1))); do
    for m in $methods; do
      f=$out/$fn.$m.$s.best
      [ -s "$f" ] && continue
      case $m in
        sluice-*)
          np=2 searcher=${m#sluice-}
          case $m in *-np1) np=1 searcher=${searcher%-np1} ;; esac
          d=$out/run.$fn.$m.$s
          rm -rf "$d"
          eval "mpirun -np $np \"\$SLUICE_BIN\" tune -q --command \"$py $helper eval $fn $names\" \
            $space --metric f --mode min --searcher $searcher --trials $trials --seed $s \
            --out \"\$d\"" >/dev/null
          # best so far in trial order, from the best_f column
          awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "best_f") c = i; next }
                   { v = $c + 0; if (NR == 2 || v < b) b = v; print b }' "$d/trials.csv" >"$f"
          rm -rf "$d"
          ;;
        optuna-tpe) $py "$helper" optuna "$fn" "$s" "$trials" 1 >"$f" ;;
        optuna-tpe-b2) $py "$helper" optuna "$fn" "$s" "$trials" 2 >"$f" ;;
      esac
    done
  done
done
$py "$helper" table "$out"
