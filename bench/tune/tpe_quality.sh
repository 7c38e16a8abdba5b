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
#   METHODS picks methods (default "sluice-tpe optuna-tpe optuna-tpe-fix
#   optuna-tpe-b2 sluice-random"; also sluice-tpe-np1, optuna-tpe-bK).
#
# Every run minimises FUNC. sluice-tpe / sluice-random: sluice on 2 ranks
# (`mpirun -np 2`; each rank's next trial is suggested while its current one
# runs, so up to 4 trials are in flight, the constant liar between them) with
# the cmd objective `tpe_quality.py eval`; sluice-tpe-np1: on 1 rank.
# optuna-tpe: Optuna 3.1 (Debian's /usr/bin/python3),
# TPESampler(n_startup_trials=10, n_ei_candidates=24, seed), sequential
# (n_jobs=1); optuna-tpe-fix: the same with its kernels' logpdf normalised
# (3.1 leaves out -log(sigma): optuna/optuna#5109, fixed in Optuna 3.5; the
# estimator newer Optuna and sluice have); optuna-tpe-bK: ask K, tell K,
# constant_liar=True. Prints the median over seeds of the best f found after
# 20, 40 and 60 trials (trial-id order), the ratio of sluice-tpe's gap to the
# optimum over each Optuna's (below 1: sluice better) and Mann-Whitney
# p-values. Cost: about 1.5 s a sluice run and 1-3 s an Optuna run on 2
# cores (the three functions, 20 seeds, default methods: about 15 minutes).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../..}
seeds=${2:-20}
trials=${3:-60}
funcs=${4:-branin hart6 mixed}
methods=${METHODS:-sluice-tpe optuna-tpe optuna-tpe-fix optuna-tpe-b2 sluice-random}
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
        optuna-tpe-fix) $py "$helper" optuna "$fn" "$s" "$trials" 1 fix >"$f" ;;
        optuna-tpe-b*) $py "$helper" optuna "$fn" "$s" "$trials" "${m#optuna-tpe-b}" >"$f" ;;
      esac
    done
  done
done
$py "$helper" table "$out"
