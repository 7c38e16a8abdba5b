#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice farm on a file system that fills up (a 4 MB tmpfs and a filler
# file; skipped where mount is not allowed). --output-dir full: one message
# (each rank said it for its own rank-R.log), exit 1, and after a resume
# with space freed every task's output is there (a task was journaled as
# done before its output was written: output lost for good). The journal
# full: one message, not one per rank. An index line cut short is ended
# before the next one is appended. --output-per-task on a full file system:
# the tasks whose output may be cut short are not journaled, and run again;
# so are those whose captures in a full TMPDIR may be. A file system that
# gives no figures (tmpfs size=0) is not taken as full.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
full_tmpfs full 4m
i=0
while [ $i -lt 400 ]; do echo "echo task $i; head -c 300 /dev/zero | tr '\\0' x"; i=$((i + 1)); done >cmds
# every task's latest stdout in DIR holds "task ID"
all_out() {
  /usr/bin/python3 - "$1" 400 <<'PY'
import glob, sys
d, n = sys.argv[1], int(sys.argv[2]); best = {}
for idx in glob.glob(d + "/rank-*.idx"):
    log = open(idx[:-4] + ".log", "rb").read()
    for line in open(idx):
        f = line.rstrip("\n").split("\t")
        if len(f) == 6 and f[2] == "stdout":
            best[int(f[0])] = log[int(f[3]):int(f[3]) + int(f[4])]
bad = [i for i in range(n) if not best.get(i, b"").startswith(b"task %d\n" % i)]
if bad:
    sys.exit("output of tasks %s missing" % bad[:10])
PY
}
fill full 100000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE farm cmds --journal j1 --output-dir full/logs
expect_grep "rank [01]: cannot write to full/logs/rank-[01].\(log\|idx\): No space left on device" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "output dir full: not one message: $(cat "$T/err")"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE farm cmds --journal j1 --output-dir full/logs
all_out full/logs || fail "a task's output was lost on the full file system"
# the journal on the full file system
rm -rf full/logs && fill full 8000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE farm cmds --journal full/j2
expect_grep "rank [01]: cannot write to full/j2: No space left on device" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "journal full: not one message: $(cat "$T/err")"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE farm cmds --journal full/j2
[ "$(awk -F'\t' 'NF == 9 && $5 == "ok" { print $1 }' full/j2 | sort -u | wc -l)" -eq 400 ] ||
  fail "the journal does not hold the 400 tasks done"
# an index line cut short (the file system filled up there)
mkdir o3
printf 'echo one\necho two\n' >c3
expect_rc 0 $SLUICE farm c3 --journal j3 --output-dir o3
printf '0\t0\tstd' >>o3/rank-0.idx
printf 'echo uno\necho dos\n' >c4
expect_rc 0 $SLUICE farm c4 --journal j4 --output-dir o3
expect_rc 0 $SLUICE farm c4 --output-dir o3 --show 0
expect_grep "^uno$" "$T/out"
# --output-per-task: the tasks write DIR/task-ID.out themselves and exit 0
# whatever became of their writes (so did tasks 'ok' with 0 bytes before);
# the farm asks the file system after each task: full, the task's output is
# not kept, the task not journaled (one message, exit 1), and the next run,
# with space freed, runs it again: every task ends with its whole output
rm -rf full/* && fill full 1500000
i=0
while [ $i -lt 100 ]; do echo "echo task $i; head -c 20000 /dev/zero | tr '\\0' x; true"; i=$((i + 1)); done >c5
per_task_out() { # every task journaled ok has its whole output in full/o5
  /usr/bin/python3 - full/o5 j5 <<'PY'
import sys
d, j = sys.argv[1], sys.argv[2]
ok = {int(l.split("\t")[0]) for l in open(j) if l.count("\t") == 8 and l.split("\t")[4] == "ok"}
bad = [i for i in sorted(ok) if open("%s/task-%d.out" % (d, i), "rb").read() != b"task %d\n" % i + b"x" * 20000]
if bad:
    sys.exit("tasks %s journaled ok with their output cut short" % bad[:10])
print(len(ok))
PY
}
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE farm c5 --journal j5 --output-dir full/o5 --output-per-task
expect_grep "rank [01]: cannot keep the output of task [0-9]* in 'full/o5': its file system is full" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "per-task output dir full: not one message: $(cat "$T/err")"
n=$(per_task_out) || fail "$n"
[ "$n" -lt 100 ] || fail "all 100 tasks journaled ok on a file system too small for their output"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE farm c5 --journal j5 --output-dir full/o5 --output-per-task
n=$(per_task_out) || fail "$n"
[ "$n" -eq 100 ] || fail "$n tasks of 100 done after the resume"
if ls full/o5 | grep -q '\.part$'; then fail "temporary .part files left in full/o5"; fi
# the same for the captures in TMPDIR (packed output, or the terminal's):
# full there, a task's output is not kept nor the task journaled
rm -rf full/* && fill full 10000
i=0
while [ $i -lt 10 ]; do echo "echo task $i; head -c 20000 /dev/zero | tr '\\0' x; true"; i=$((i + 1)); done >c6
expect_rc 1 timeout 60 $MPIRUN -np 2 env TMPDIR="$T/full" $SLUICE farm c6 --journal j6 --output-dir o6
expect_grep "rank [01]: cannot keep the output of task [0-9]*: the file system of the scratch directory '$T/full/sluice-farm-[^']*' (TMPDIR) is full" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "TMPDIR full: not one message: $(cat "$T/err")"
grep -q '	ok	' j6 && { cat j6; fail "a task was journaled ok although its capture did not fit in TMPDIR"; }
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 env TMPDIR="$T/full" $SLUICE farm c6 --journal j6 --output-dir o6
i=0
while [ $i -lt 10 ]; do
  expect_rc 0 $SLUICE farm c6 --output-dir o6 --show $i
  [ "$(wc -c <"$T/out")" -eq $((20000 + ${#i} + 6)) ] || fail "task $i: $(wc -c <"$T/out") bytes of output kept"
  i=$((i + 1))
done
# the same with the output on the terminal: a task whose capture did not
# fit is not journaled, so its output is not printed either (the next run
# printed it again), and the summary counts it not done (it said succeeded).
# (mpirun may put a line of one rank inside a long one of the other's)
rm -rf full/* && fill full 10000
expect_rc 1 timeout 60 $MPIRUN -np 2 env TMPDIR="$T/full" $SLUICE farm c6 --journal j9
expect_grep "(TMPDIR) is full" "$T/err"
expect_grep "could not be recorded (the error above): they run again when the farm is run again" "$T/err"
grep -o '\[[0-9]*\] task ' "$T/out" | tr -dc '0-9\n' | sort -n >printed
awk -F'\t' 'NF == 9 && $5 == "ok" { print $1 }' j9 | sort -n >journaled
cmp -s printed journaled || { cat "$T/err"; fail "output printed of tasks $(tr '\n' ' ' <printed), journaled: $(tr '\n' ' ' <journaled)"; }
expect_grep "farm: 10 tasks: $(wc -l <journaled) succeeded (0 earlier)" "$T/err"
rm full/filler
expect_rc 0 timeout 60 $MPIRUN -np 2 env TMPDIR="$T/full" $SLUICE farm c6 --journal j9
grep -o '\[[0-9]*\] task ' "$T/out" | tr -dc '0-9\n' >>printed
[ "$(sort -n printed | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 " ] || fail "outputs printed over two runs: $(sort -n printed | tr '\n' ' ')"
# a file system without figures (a tmpfs of size=0, ramfs, many a FUSE one:
# statfs says 0 blocks in all and 0 free) is no full one: every task was
# refused as if TMPDIR or the output directory were full, run after run
full_tmpfs unl 0
printf 'echo a\necho b\n' >c7
expect_rc 0 timeout 60 $MPIRUN -np 2 env TMPDIR="$T/unl" $SLUICE farm c7 --journal j7
[ "$(grep -c '	ok	' j7)" -eq 2 ] || { cat "$T/err" j7; fail "TMPDIR on a tmpfs of size=0: tasks not done"; }
expect_rc 0 timeout 60 $MPIRUN -np 2 $SLUICE farm c7 --journal unl/j8 --output-dir unl/o8 --output-per-task
[ "$(cat unl/o8/task-0.out unl/o8/task-1.out)" = "$(printf 'a\nb')" ] || { cat "$T/err"; fail "--output-dir on a tmpfs of size=0: output not kept"; }
