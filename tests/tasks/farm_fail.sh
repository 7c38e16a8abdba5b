#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Failing commands, retries, a missing command (127), timeouts,
# --halt-on-error, --retry-failed, and kept output (--output-dir, --show,
# --output-per-task).
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
# task 1 fails on its first attempt only; task 2 always (exit 3); task 3 does not exist
cat > cmds <<'X'
echo a >> ran.0
echo b >> ran.1; [ "$SLUICE_TASK_ATTEMPT" -ge 1 ]
echo c >> ran.2; exit 3
no_such_command_sluice_test
X
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm cmds --retries 2
[ "$(wc -l < ran.0)" -eq 1 ] || fail "task 0 ran $(wc -l < ran.0) times"
[ "$(wc -l < ran.1)" -eq 2 ] || fail "task 1 ran $(wc -l < ran.1) times (fails once, then succeeds)"
[ "$(wc -l < ran.2)" -eq 3 ] || fail "task 2 ran $(wc -l < ran.2) times (1 + 2 retries)"
expect_grep "failed task ids: 2 3" "$T/err"
grep -q "^3	2	.*	exit	127	" cmds.journal || { cat cmds.journal; fail "no final record with status 127 for task 3"; }
grep -q "^2	2	.*	exit	3	.*	1$" cmds.journal || { cat cmds.journal; fail "no final exit 3 record for task 2"; }
grep -q "^1	0	.*	exit	1	.*	0$" cmds.journal || { cat cmds.journal; fail "no non-final record of task 1"; }
# a re-run skips the final failures; --retry-failed runs them again
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm cmds
[ "$(wc -l < ran.2)" -eq 3 ] || fail "re-run without --retry-failed ran task 2 again"
expect_grep "farm: journal cmds.journal: 2 tasks done, 2 failed earlier; running 0" "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm cmds --retry-failed
# (it said "0 failed earlier": they are run again, not skipped)
expect_grep "farm: journal cmds.journal: 2 tasks done, 2 failed earlier (run again: --retry-failed); running 2" "$T/err"
[ "$(wc -l < ran.2)" -eq 4 ] || fail "--retry-failed did not run task 2 again"
[ "$(wc -l < ran.0)" -eq 1 ] || fail "--retry-failed ran a succeeded task"
grep -q "^2	3	" cmds.journal || fail "attempt numbers do not continue over runs"

# timeout: the whole process group is killed and recorded
printf 'sleep 30; echo late >> late\necho fast >> fast\n' > slow
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm slow --timeout 0.5
grep -q "^0	0	.*	timeout	" slow.journal || { cat slow.journal; fail "no timeout record"; }
[ -f late ] && fail "timed-out task was not killed"
[ "$(wc -l < fast)" -eq 1 ] || fail "other task did not run"
# a task that exits 0 on the timeout's SIGTERM still timed out
echo "trap 'exit 0' TERM; sleep 30 & wait" > slow0
expect_rc 1 "$SLUICE" farm slow0 --timeout 0.5
grep -q "^0	0	.*	timeout	" slow0.journal || { cat slow0.journal; fail "a task cut short by --timeout was recorded as done"; }

# a command too long for exec(2) fails as a task (126); the others still run
{ echo 'echo a >> long.0'; printf 'echo %0200000d\n' 0; echo 'echo c >> long.2'; } > long
expect_rc 1 "$SLUICE" farm long
grep -q "^1	0	.*	exit	126	" long.journal || { cat "$T/err"; fail "no exit 126 record for the too-long task 1"; }
[ -f long.0 ] && [ -f long.2 ] || { cat "$T/err"; fail "a too-long command stopped the other tasks"; }
expect_grep "failed task ids: 1 " "$T/err"

# halt on error: with one rank and one slot, nothing starts after task 1 fails
i=0; : > many; echo 'echo x >> h.$SLUICE_TASK_ID' >> many; echo 'exit 1' >> many
while [ $i -lt 20 ]; do echo 'echo x >> h.$SLUICE_TASK_ID' >> many; i=$((i+1)); done
expect_rc 1 $MPIRUN -np 1 "$SLUICE" farm many --halt-on-error
[ "$(ls h.* | wc -l)" -eq 1 ] || fail "tasks started after a final failure with --halt-on-error: $(ls h.*)"
expect_grep "20 not done" "$T/err"
# and with two ranks: the other rank starts nothing more of the chunk it
# holds once a task of rank 1 has finally failed
for i in $(seq 1 40); do echo '[ $SLUICE_RANK = 0 ] || exit 1; sleep 0.2'; done > many2
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm many2 --halt-on-error
late=$(awk -F'\t' 'NR > 1 && $5 == "exit" && (end == "" || $8 < end) { end = $8 }
  NR > 1 && $5 == "ok" { s[NR] = $7 } END { n = 0; for (i in s) if (s[i] > end) n++; print n }' many2.journal)
[ "$late" -le 1 ] || { cat many2.journal; fail "$late tasks started after the first final failure with --halt-on-error"; }

# kept output, packed, and --show
printf 'echo out-$SLUICE_TASK_ID; echo err-$SLUICE_TASK_ID >&2\n%.0s' $(seq 1 30) > talk
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm talk --output-dir o --slots 3
n=$(ls o | wc -l)
[ "$n" -le 4 ] || fail "packed output made $n files for 30 tasks: $(ls o)"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" farm --show 17 --output-dir o
[ "$(cat "$T/out")" = "out-17" ] || fail "--show stdout: $(cat "$T/out")"
expect_grep "^err-17$" "$T/err"
expect_rc 1 "$SLUICE" farm --show 99 --output-dir o
expect_grep "no output of task 99" "$T/err"
# attempt numbers restart with another journal (the fix the journal error
# suggests for a changed FILE): --show prints this run's output, not the
# higher attempt an earlier run left in the same directory
echo 'echo old; exit 1' > fix
expect_rc 1 "$SLUICE" farm fix --retries 2 --output-dir of
echo 'echo new' > fix
expect_rc 0 "$SLUICE" farm fix --output-dir of --journal fix.j2
expect_rc 0 "$SLUICE" farm --show 0 --output-dir of
[ "$(cat "$T/out")" = "new" ] || fail "--show printed an earlier run's output: $(cat "$T/out")"
# runs with and without --output-per-task in one directory: the newest
# output wins (per-task files of an earlier run were preferred to it)
echo 'echo first' > mix
expect_rc 0 "$SLUICE" farm mix --output-dir om --output-per-task
echo 'echo second' > mix
expect_rc 0 "$SLUICE" farm mix --output-dir om --journal mix.j2
expect_rc 0 "$SLUICE" farm --show 0 --output-dir om
[ "$(cat "$T/out")" = "second" ] || fail "--show preferred older per-task files to a newer packed log: $(cat "$T/out")"
echo 'echo third' > mix
expect_rc 0 "$SLUICE" farm mix --output-dir om --output-per-task --journal mix.j3
expect_rc 0 "$SLUICE" farm --show 0 --output-dir om
[ "$(cat "$T/out")" = "third" ] || fail "--show preferred an older packed log to newer per-task files: $(cat "$T/out")"
# one file per task when asked
# (a link left at a temporary name, task-ID.out.part, is not written through)
mkdir -p p && echo keep > victim && ln -s ../victim p/task-5.out.part
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm talk --output-dir p --output-per-task --journal p.journal
[ "$(cat p/task-5.out)" = "out-5" ] || fail "per-task output"
[ "$(cat victim)" = keep ] || fail "a task's output was written through a link at task-5.out.part"
# a rank killed while a task runs leaves no partial file under the final name
echo 'echo partial; echo $$ > kpid; sleep 30' > kcmds
"$SLUICE" farm kcmds --output-dir k --output-per-task 2>/dev/null &
kp=$!
i=0; while [ ! -s kpid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -9 $kp; kill -9 -"$(cat kpid)"; wait $kp
[ -e k/task-0.out ] && fail "a killed job left a partial k/task-0.out: $(cat k/task-0.out)"
# a rank killed at once (kill -9) leaves no task running: its guard process
# sends the task's group SIGTERM (a resumed run would start it again beside it)
echo 'echo $$ > gpid; exec sleep 60' > gcmds
"$SLUICE" farm gcmds --output-dir g --grace 2 2>/dev/null &
gp=$!
i=0; while [ ! -s gpid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -s gpid ] || fail "the task of gcmds did not start"
kill -9 $gp; wait $gp
i=0; while kill -0 "$(cat gpid)" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if kill -0 "$(cat gpid)" 2>/dev/null; then
  kill -9 "$(cat gpid)"
  fail "a task ran on after its rank was killed with -9"
fi
# one that ignores SIGTERM gets SIGKILL after --grace
printf '%s\n' "trap '' TERM; echo \$\$ > hpid; while :; do sleep 1; done" > hcmds
"$SLUICE" farm hcmds --output-dir h --grace 1 2>/dev/null &
hp=$!
i=0; while [ ! -s hpid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -s hpid ] || fail "the task of hcmds did not start"
kill -9 $hp; wait $hp
sleep 0.5
kill -0 "$(cat hpid)" 2>/dev/null || fail "the task that ignores SIGTERM ended before --grace"
i=0; while kill -0 "$(cat hpid)" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if kill -0 "$(cat hpid)" 2>/dev/null; then
  kill -9 -"$(cat hpid)"
  fail "a task that ignores SIGTERM ran on after --grace"
fi
[ "$(cat p/task-5.err)" = "err-5" ] || fail "per-task error output"
expect_rc 0 "$SLUICE" farm --show 5 --output-dir p
[ "$(cat "$T/out")" = "out-5" ] || fail "--show with per-task files"
echo "farm_fail: OK"
