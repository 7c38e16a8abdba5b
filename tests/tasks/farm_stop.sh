#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A farm stopped by SIGUSR1 sent to mpirun (as Slurm's --signal does) exits
# 75 with interrupted tasks recorded as not done; running it again finishes,
# and every task has succeeded exactly once over the journal's life.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
n=40
i=0; : > cmds
while [ $i -lt $n ]; do echo 'sleep 0.2; echo x >> done.$SLUICE_TASK_ID' >> cmds; i=$((i+1)); done
$MPIRUN -np 2 "$SLUICE" farm cmds --slots 2 --grace 5 > out1 2> err1 &
pid=$!
# wait until some tasks are done, then stop
k=0
while [ "$(ls done.* 2>/dev/null | wc -l)" -lt 6 ] && [ $k -lt 300 ]; do sleep 0.1; k=$((k+1)); done
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat err1; fail "stopped farm exited $rc, expected 75"; }
grep -q "stopped" err1 || { cat err1; fail "no stop message"; }
first=$(ls done.* | wc -l)
[ "$first" -lt $n ] || fail "the farm finished before the signal; test proves nothing"
grep -q "	interrupted	" cmds.journal || { cat cmds.journal; fail "no interrupted record"; }
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm cmds --slots 2
i=0
while [ $i -lt $n ]; do
  [ -f done.$i ] && [ "$(wc -l < done.$i)" -eq 1 ] || fail "task $i: $(cat done.$i 2>/dev/null | wc -l) runs"
  [ "$(grep -c "^$i	.*	ok	" cmds.journal)" -eq 1 ] || fail "task $i has not exactly one ok record"
  i=$((i+1))
done
echo "farm_stop: OK ($first of $n done before the stop)"
