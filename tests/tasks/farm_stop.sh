#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A farm stopped by SIGUSR1 sent to mpirun (as Slurm's --signal does) exits
# 75 with interrupted tasks recorded as not done; running it again finishes,
# and every task has succeeded exactly once over the journal's life. A
# stopped --retry-failed run's plan goes on in a resume without the option.
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

# SIGTERM to a rank (here a single rank started without mpirun): the same
# graceful path. The running tasks get the signal: one handles it and exits 0
# within --grace (recorded ok, never run again); one ignores it and is killed
# when the grace period ends (recorded interrupted, run again later).
cat > g <<'X'
trap 'echo handled >> h.$SLUICE_TASK_ID; exit 0' TERM; touch s.0; sleep 30 & wait
trap '' TERM; touch s.1; sleep 3; echo x >> late.$SLUICE_TASK_ID
X
"$SLUICE" farm g --slots 2 --grace 1 > out2 2> err2 &
pid=$!
k=0
while { [ ! -f s.0 ] || [ ! -f s.1 ]; } && [ $k -lt 300 ]; do sleep 0.1; k=$((k+1)); done
kill -TERM $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat err2; fail "SIGTERM: exit $rc, expected 75"; }
[ "$(cat h.0 2>/dev/null)" = handled ] || fail "task 0 did not get the signal"
grep -q "^0	0	.*	ok	" g.journal || { cat g.journal; fail "task 0 finished within the grace period but is not recorded ok"; }
grep -q "^1	0	.*	interrupted	9	" g.journal || { cat g.journal; fail "task 1 outlived --grace but was not killed and recorded interrupted"; }
[ -f late.1 ] && fail "task 1 was not killed"
rm -f h.0
expect_rc 0 "$SLUICE" farm g --slots 2
[ -f h.0 ] && fail "a task recorded ok ran again"
[ "$(wc -l < late.1)" -eq 1 ] || fail "the interrupted task did not run again exactly once"
# a stop that arrives while a rank is starting tasks into free slots: no
# task starts after it (task 0 signals its rank; 99 more would fit at once)
{ echo 'kill -USR1 $PPID'; i=1; while [ $i -lt 100 ]; do echo 'sleep 2'; i=$((i+1)); done; } > burst
expect_rc 75 "$SLUICE" farm burst --slots 100 --grace 1
started=$(grep -c . burst.journal)
[ "$started" -lt 50 ] || fail "$((started - 1)) tasks started although a stop signal had arrived"
# a stop signal that reaches one rank only (the others never see it): the
# other ranks start no new task either, not even from the chunk of ids they
# have claimed already (it could hold hours of work), and the farm exits 75
i=0; : > one
while [ $i -lt 200 ]; do
  echo 'if [ $SLUICE_RANK = 1 ] && mkdir sig 2>/dev/null; then kill -USR1 $PPID; fi; sleep 0.1; echo x >> ran.$SLUICE_RANK' >> one
  i=$((i+1))
done
expect_rc 75 $MPIRUN -np 2 "$SLUICE" farm one --grace 1
r0=$(cat ran.0 2>/dev/null | wc -l)
[ "$r0" -lt 10 ] || fail "rank 0 ran $r0 tasks after rank 1 was stopped by a signal"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm one
[ "$(grep -c '	ok	' one.journal)" -eq 200 ] || fail "not every task succeeded once after the resume"
# ... and the tasks running on the other ranks get the signal and --grace,
# as if it had come there (they ran on to their end, 20 s here)
rm -rf sig; : > long
for i in 1 2 3 4; do
  echo 'if [ $SLUICE_RANK = 1 ]; then mkdir sig 2>/dev/null && { sleep 0.5; kill -USR1 $PPID; }; sleep 0.5; else sleep 20; fi' >> long
done
expect_rc 75 $MPIRUN -np 2 "$SLUICE" farm long --grace 1
# (before, rank 0's sleep ran to its end and was recorded ok)
grep -q '	0	[^	]*	interrupted	' long.journal || { cat long.journal; fail "rank 0's task was not recorded interrupted"; }
grep -q '	0	[^	]*	ok	' long.journal && { cat long.journal; fail "rank 0's task ran to its end after the stop"; }
# --retries bounds a task's failed attempts over the journal's life: a stop
# during a retry does not give the task its retries again on the resumed run,
# and the attempt the stop cut short is no failure (before: 1 + 3 failures)
echo 'n=$(cat rt.ran 2>/dev/null | wc -l); echo x >> rt.ran; if [ $n -eq 1 ]; then kill -USR1 $PPID; sleep 5; fi; exit 1' > rt
expect_rc 75 "$SLUICE" farm rt --retries 2 --grace 5
grep -q "^0	1	.*	interrupted	" rt.journal || { cat rt.journal; fail "the retry cut short by the stop is not recorded interrupted"; }
expect_rc 1 "$SLUICE" farm rt --retries 2
[ "$(grep -c '	exit	1	' rt.journal)" -eq 3 ] || { cat rt.journal; fail "--retries 2 over a stop: not 3 failed attempts in all"; }
grep -q "^0	3	.*	exit	1	.*	1$" rt.journal || { cat rt.journal; fail "attempt 3 is not the final one"; }
# --retry-failed gives a finally failed task its retries afresh
expect_rc 1 "$SLUICE" farm rt --retries 1 --retry-failed
[ "$(grep -c '	exit	1	' rt.journal)" -eq 5 ] || { cat rt.journal; fail "--retry-failed --retries 1: not 2 more attempts"; }
# a --retry-failed run stopped before it retried every failed task, resumed
# without the option (a requeued job's plain command): the rest of its plan
# is retried (they were skipped as failed); a task failed again in it is
# failed for good, and a later run without the option skips it. The first
# task waits for the stop the farm forwards to it (sleep 60, cut short by
# it): a sleep 1 on a loaded machine could end first, and the task be done
i=0
while [ $i -lt 4 ]; do
  echo '[ "$SLUICE_TASK_ATTEMPT" -ge 1 ] && [ "$SLUICE_TASK_ID" -ne 3 ] || exit 1; if [ ! -e rf.stop ]; then touch rf.stop; kill -USR1 $PPID; sleep 60; fi; echo x >> rf.$SLUICE_TASK_ID'
  i=$((i + 1))
done > rf
expect_rc 1 "$SLUICE" farm rf
expect_rc 75 "$SLUICE" farm rf --retry-failed
[ -f rf.stop ] && ! ls rf.[0-9] 2>/dev/null | grep -q . || fail "the --retry-failed run was not stopped at its first task"
expect_rc 1 "$SLUICE" farm rf
for i in 0 1 2; do
  [ "$(cat rf.$i 2>/dev/null | wc -l)" -eq 1 ] || { cat rf.journal; fail "task $i of the stopped --retry-failed run's plan ran $(cat rf.$i 2>/dev/null | wc -l) times"; }
done
expect_grep "journal rf.journal: 0 tasks done, 0 failed earlier; running 4 (4 of them failed tasks a stopped --retry-failed run had yet to retry)" "$T/err"
expect_grep "failed task ids: 3 " "$T/err"
expect_rc 1 "$SLUICE" farm rf
expect_grep "journal rf.journal: 3 tasks done, 1 failed earlier; running 0$" "$T/err"
[ "$(grep -c '^3	' rf.journal)" -eq 2 ] || { cat rf.journal; fail "task 3, failed in the retry, was run again without --retry-failed"; }
echo "farm_stop: OK ($first of $n done before the stop)"
