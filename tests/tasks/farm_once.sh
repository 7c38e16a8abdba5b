#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice farm runs every command exactly once with 1, 2 and 4 ranks (each
# task appends a line to its own file; we count lines), with fewer tasks than
# ranks, and with an empty FILE (0 tasks: success with a summary).
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
n=60
i=0; : > cmds
echo "# a comment line, not a task" >> cmds
while [ $i -lt $n ]; do
  echo 'echo "$SLUICE_TASK_ID $SLUICE_TASK_ATTEMPT $SLUICE_NTASKS $SLUICE_RANK $SLUICE_SLOT" >> out.$SLUICE_TASK_ID' >> cmds
  [ $((i % 10)) -eq 0 ] && echo "" >> cmds
  i=$((i + 1))
done
check_once() { # N: every file out.0..out.N-1 has exactly one line
  k=0
  while [ $k -lt "$1" ]; do
    [ -f out.$k ] || fail "task $k never ran"
    [ "$(wc -l < out.$k)" -eq 1 ] || fail "task $k ran $(wc -l < out.$k) times"
    k=$((k + 1))
  done
  [ "$(ls out.* | wc -l)" -eq "$1" ] || fail "unexpected task output files: $(ls out.*)"
}
for np in 1 2 4; do
  rm -f out.* cmds.journal
  expect_rc 0 $MPIRUN -np $np "$SLUICE" farm cmds --slots 2
  check_once $n
  expect_grep "$n succeeded" "$T/err"
  # the environment each task saw
  read id att nt rank slot < out.7
  [ "$id" = 7 ] && [ "$att" = 0 ] && [ "$nt" = $n ] || fail "task env: $(cat out.7)"
  [ "$rank" -ge 0 ] && [ "$rank" -lt $np ] && [ "$slot" -ge 0 ] && [ "$slot" -lt 2 ] || fail "rank/slot: $(cat out.7)"
  # one record per task in the journal, all ok
  [ "$(grep -c '	ok	' cmds.journal)" -eq $n ] || fail "journal has $(grep -c '	ok	' cmds.journal) ok records"
  # running again does nothing
  expect_rc 0 $MPIRUN -np $np "$SLUICE" farm cmds
  check_once $n
  expect_grep "$n tasks done" "$T/err"
done
# fewer tasks than ranks
grep -v "^#" cmds | grep . | head -3 > three; rm -f out.*
expect_rc 0 $MPIRUN -np 4 "$SLUICE" farm three
# a task may itself start an MPI program with mpirun (README)
echo "$MPIRUN -np 1 true > nested.out 2>&1 && echo ok > nested" > nest
expect_rc 0 $MPIRUN -np 1 "$SLUICE" farm nest
[ -f nested ] || { cat nested.out; fail "mpirun inside a task failed"; }
check_once 3
# empty file and comments only: 0 tasks, success
: > empty
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm empty
expect_grep "0 tasks" "$T/err"
printf '# nothing\n\n   \n' > comments
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm comments
# output without --output-dir: prefixed by the task id
printf 'echo hello-from-$SLUICE_TASK_ID\necho oops >&2\n' > say
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm say
expect_grep "^\[0\] hello-from-0" "$T/out"
expect_grep "^\[1\] oops" "$T/err"
echo "farm_once: OK"
