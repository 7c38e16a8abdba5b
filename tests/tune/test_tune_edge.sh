#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice tune, cmd objective, edges a user meets: names that would give
# results.csv two columns of one name, refused up front or not taken from
# a report (said once).
. "$top_srcdir/tests/lib.sh"
TUNE="$MPIRUN -np 2 $SLUICE tune -q"

# a --metric or --time-attr named trial, step or time is refused (two
# columns 'time'; a report's step= is its step, so --metric step was never
# found), and nothing is written
for m in trial step time; do
  expect_rc 2 $TUNE --command "echo sluice-report step=1 $m=1" --space 'x=uniform(0,1)' --metric $m --trials 2 \
    --out "$T/bad"
  expect_grep "^sluice: error: --metric '$m' has the name of a column of results.csv" "$T/err"
done
expect_rc 2 $TUNE --command "echo sluice-report step=1 m=1 time=1" --space 'x=uniform(0,1)' --metric m \
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
echo PASS
