#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 of every rank and trial in the middle of an experiment (nothing
# saved on the way out): experiment.h5 is whole, and --resume ends with the
# trial table and reports of an uninterrupted run (deterministic objective,
# random search, FIFO): trials after the last write are redone, none lost,
# none twice.
. "$top_srcdir/tests/lib.sh"
OBJ="$top_srcdir/tests/tune/objective.sh"
run() {
  $MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 6 0.1" --space 'x=uniform(-1,1)' --metric loss --trials 8 \
    --seed 9 --out "$@"
}
run "$T/ref" > "$T/out" 2>&1 || { cat "$T/out"; fail "the uninterrupted run failed"; }
$MPIRUN -np 2 $SLUICE tune -q --command "$OBJ 6 0.1" --space 'x=uniform(-1,1)' --metric loss --trials 8 \
  --seed 9 --out "$T/cut" > "$T/out" 2>&1 &
pid=$!
i=0
while [ "$(cat "$T/cut/results.csv" 2>/dev/null | wc -l)" -lt 6 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
# the ranks are mpirun's children, the trials their children's process groups
for r in $(pgrep -P $pid); do
  for c in $(pgrep -P "$r"); do kill -9 -- "-$c" 2>/dev/null; done
  kill -9 "$r" 2>/dev/null
done
wait $pid
h5dump -H "$T/cut/experiment.h5" > /dev/null 2>&1 || fail "experiment.h5 is not whole after kill -9"
grep -q ',done,' "$T/cut/trials.csv" && [ "$(grep -c ',done,' "$T/cut/trials.csv")" -eq 8 ] &&
  fail "the kill came too late to test anything"
expect_rc 0 run "$T/cut" --resume
cmp "$T/ref/trials.csv" "$T/cut/trials.csv" || { diff "$T/ref/trials.csv" "$T/cut/trials.csv"; fail "trial tables differ"; }
cut -d, -f1,2,4- "$T/ref/results.csv" | sort > "$T/a"; cut -d, -f1,2,4- "$T/cut/results.csv" | sort > "$T/b"
cmp "$T/a" "$T/b" || { diff "$T/a" "$T/b"; fail "reports differ (lost or duplicated)"; }
echo PASS
