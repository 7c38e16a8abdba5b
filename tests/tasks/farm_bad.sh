#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Bad input: missing FILE, a journal for another FILE (refused, --force),
# unwritable journal and output directory, a torn journal record (last
# line, or a broken line in the middle: removed by a rewrite).
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm nothere
expect_grep "task file 'nothere' does not exist" "$T/err"
expect_rc 2 $MPIRUN -np 1 "$SLUICE" farm
# a FILE named with a newline and a tab: the journal header stays one line
nl='n
l	t'
echo 'echo x' > "$nl"
expect_rc 0 "$SLUICE" farm "$nl"
expect_rc 0 "$SLUICE" farm "$nl"
grep -q "not a complete record" "$T/err" && fail "the header of a journal for a FILE named with a newline broke: $(cat "$T/err")"
[ "$(grep -c '^#sluice-farm-journal' "$nl.journal")" -eq 1 ] && [ "$(wc -l < "$nl.journal")" -eq 2 ] || { cat "$nl.journal"; fail "header not one line"; }
# an error during the run stops the farm, but it is an error: not announced
# as a resumable stop
printf 'echo a\necho b\necho c\n' > c5
mkdir -p o5/task-1.out.part
expect_rc 1 "$SLUICE" farm c5 --output-dir o5 --output-per-task
expect_grep "cannot create output files of task 1" "$T/err"
grep -q "run again to resume" "$T/err" && fail "an error was reported as a resumable stop: $(cat "$T/err")"
# a NUL byte would end the parse there and drop the commands after it unseen
printf 'echo 1\necho 2\000\necho 3 > three\n' > withnul
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm withnul
expect_grep "task file 'withnul': line 2 contains a NUL byte" "$T/err"
expect_rc 2 $MPIRUN -np 1 "$SLUICE" farm x --bogus
# --show has no default: --help shows none (it showed the sentinel -1), and
# an id that is not one is a usage error, not a farm run
expect_rc 0 "$SLUICE" farm --help
grep -- "--show" "$T/out" | grep -q -- "-1" && { cat "$T/out"; fail "--help shows a -1 for --show"; }
expect_rc 2 "$SLUICE" farm --show -1 --output-dir o5
expect_grep "farm: --show '-1' is not a task id" "$T/err"
expect_rc 2 "$SLUICE" farm --show x1 --output-dir o5
expect_grep "farm: --show 'x1' is not a task id" "$T/err"
printf 'echo a >> a.$SLUICE_TASK_ID\necho b >> a.$SLUICE_TASK_ID\n' > c1
printf 'echo other\n' > c2
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm c1 --journal j
cp j j.before
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm c2 --journal j
expect_grep "different task file" "$T/err"
cmp -s j j.before || fail "a refused journal was modified"
expect_rc 0 $MPIRUN -np 1 "$SLUICE" farm c2 --journal j --force
# the header's hash is FNV-1a 64 of FILE's bytes, as documented
want=$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 0x100000001b3) % 2**64
print("hash=%016x" % h)' c2)
[ "$(grep -c "	$want	" j)" -eq 1 ] || { cat j; fail "journal header lacks $want"; }
# a journal from before the hash was corrected (offset basis short of its
# last digit) is still taken as one for the same FILE
printf 'echo old\n' > c6
old=$(python3 -c 'import sys
h = 1469598103934665603
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 0x100000001b3) % 2**64
print("%016x" % h)' c6)
printf '#sluice-farm-journal\tv1\thash=%s\tntasks=1\tfile=c6\n0\t0\t0\th\tok\t0\t1.0\t1.1\t1\n' "$old" > c6.journal
expect_rc 0 "$SLUICE" farm c6
expect_grep "1 task: 1 succeeded (1 earlier)" "$T/err"
expect_grep "journal c6.journal: 1 task done" "$T/err"
expect_grep "0 attempts on 1 rank x 1 slot in" "$T/err"
# unwritable journal and output directory (a path under a regular file)
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm c1 --journal c2/j
expect_grep "journal" "$T/err"
expect_rc 1 $MPIRUN -np 2 "$SLUICE" farm c1 --journal j3 --output-dir c2/out
expect_grep "c2/out" "$T/err"
# an error on one rank names that rank once (the log line adds "rank R: ")
expect_rc 1 $MPIRUN -np 1 "$SLUICE" farm c1 --journal j7 : -np 1 env TMPDIR=c2 "$SLUICE" farm c1 --journal j7
expect_grep "error: rank 1: cannot create a scratch directory in c2" "$T/err"
grep -q "rank 1: rank 1" "$T/err" && { cat "$T/err"; fail "the rank is named twice"; }
# torn last record: complete ones kept, torn one ignored with a warning
rm -f a.*
printf 'echo x >> t.$SLUICE_TASK_ID\n%.0s' 1 2 3 4 > c3
expect_rc 0 $MPIRUN -np 1 "$SLUICE" farm c3
head -c -20 c3.journal > torn && cp torn c3.journal  # the last record loses its end
rm -f t.*
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm c3
expect_grep "incomplete record" "$T/err"
[ "$(ls t.* | wc -l)" -eq 1 ] || fail "expected only the torn task to run again, ran: $(ls t.*)"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm c3
[ "$(ls t.* | wc -l)" -eq 1 ] || fail "a third run ran tasks again"
# the run that repaired it cut the torn bytes off: the next run is silent,
# and every line is a header or a complete record (9 fields)
grep -q "record" "$T/err" && { cat "$T/err"; fail "the torn line is warned about again on a later run"; }
awk -F'\t' 'NR > 1 && NF != 9' c3.journal | grep -q . && { cat -A c3.journal; fail "the torn bytes stayed in the journal"; }
[ "$(grep -c '	ok	' c3.journal)" -eq 4 ] || { cat c3.journal; fail "expected 4 ok records after the repair"; }
# a torn line in the middle (older versions closed a torn last line with a
# newline and appended after it): warned about once, and the journal
# rewritten without it (the other lines as they were, through a temporary
# file renamed over it); later runs are silent
sed '3s/^\(.............\).*/\1/' c3.journal > torn && cp torn c3.journal  # record 2 of 5 lines cut
[ "$(wc -l < torn)" -eq 5 ] && [ "$(sed -n 3p torn | awk -F'\t' '{ print NF }')" -lt 9 ] || fail "no broken line 3 made"
rm -f t.*
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm c3
[ "$(grep -c "line 3 is not a complete record" "$T/err")" -eq 1 ] || { cat "$T/err"; fail "the broken line is not warned about once"; }
[ "$(ls t.* | wc -l)" -eq 1 ] || fail "expected only the task of the broken line to run again, ran: $(ls t.*)"
awk -F'\t' 'NR > 1 && NF != 9' c3.journal | grep -q . && { cat -A c3.journal; fail "the broken line stayed in the journal"; }
[ "$(grep -vc '	ok	' c3.journal)" -eq 1 ] || { cat -A c3.journal; fail "the rewritten journal is not a header and records"; }
sed 3d torn > kept
head -n 4 c3.journal | cmp -s - kept || { cat -A torn c3.journal; fail "the rewrite changed the other lines"; }
[ -e c3.journal.tmp ] && fail "the rewrite's temporary c3.journal.tmp is left"
expect_rc 0 $MPIRUN -np 2 "$SLUICE" farm c3
grep -q "record" "$T/err" && { cat "$T/err"; fail "the broken line is warned about again on a later run"; }
[ "$(ls t.* | wc -l)" -eq 1 ] || fail "a run after the rewrite ran tasks again"
# a directory as FILE
mkdir d
expect_rc 1 $MPIRUN -np 1 "$SLUICE" farm d
expect_grep "directory" "$T/err"
# a second farm on a journal another farm still runs on is refused (it
# would run every task again); once the first ends, a re-run finds all done
printf 'sleep 3; echo x >> slow.$SLUICE_TASK_ID\necho y >> slow.$SLUICE_TASK_ID\n' > c6
$MPIRUN -np 1 "$SLUICE" farm c6 --journal j6 > first.out 2>&1 &
first=$!
n=0
while ! grep -q '^#sluice-farm-journal' j6 2>/dev/null; do
  sleep 0.1; n=$((n + 1)); [ $n -lt 200 ] || fail "the first farm never wrote its journal header"
done
expect_rc 1 $MPIRUN -np 1 "$SLUICE" farm c6 --journal j6
expect_grep "journal 'j6' is in use by another farm" "$T/err"
wait $first || { cat first.out; fail "the first farm failed"; }
expect_rc 0 $MPIRUN -np 1 "$SLUICE" farm c6 --journal j6
[ "$(cat slow.0)" = x ] && [ "$(cat slow.1)" = y ] || fail "a task ran twice: $(cat slow.0 slow.1)"
echo "farm_bad: OK"
