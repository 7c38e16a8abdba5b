#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice valsort with 1, 2 and 4 ranks: the reference's lines for a sorted
# sequence of files; a disorder exactly at a file boundary; a changed record
# (wrong checksum); -o summaries combined with -s; partial records; empty.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
expect_rc 0 $SLUICE gensort -c 6000 in.dat
sum=$(cat "$T/err")

expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted
for np in 1 2 4; do
  expect_rc 0 $MPIRUN -np $np $SLUICE valsort sorted/part-00000 sorted/part-00001
  expect_grep "^Records: 6000$" "$T/err"
  expect_grep "^Checksum: $sum$" "$T/err"
  expect_grep "^Duplicate keys: 0$" "$T/err"
  expect_grep "^SUCCESS - all records are in order$" "$T/err"
  # The same two files in the wrong order: one disorder, at the boundary.
  n0=$(( $(wc -c <sorted/part-00000) / 100 ))
  expect_rc 1 $MPIRUN -np $np $SLUICE valsort sorted/part-00001 sorted/part-00000
  expect_grep "^ERROR - there are 1 unordered records$" "$T/err"
  n1=$(( $(wc -c <sorted/part-00001) / 100 ))
  expect_grep "^First unordered record is record $n1$" "$T/err"
  # Unsorted input: valsort agrees with gensort -c on the checksum.
  expect_rc 1 $MPIRUN -np $np $SLUICE valsort in.dat
  expect_grep "^Checksum: $sum$" "$T/err"
done
[ "$n0" -gt 0 ] || fail "empty first partition"
# -q: nothing printed, the exit status tells.
expect_rc 1 $SLUICE valsort -q sorted/part-00001 sorted/part-00000
[ -s "$T/err" ] && fail "valsort -q printed: $(cat "$T/err")"
expect_rc 0 $SLUICE valsort -q sorted/part-00000 sorted/part-00001
# --local: each rank validates its own partition (%R = rank in 5 digits).
expect_rc 0 $MPIRUN -np 2 $SLUICE valsort --local -o loc.sum 'sorted/part-%R'
expect_grep "^Records: 6000$" "$T/err"
expect_grep "^Checksum: $sum$" "$T/err"
[ "$(wc -c <loc.sum)" -eq 280 ] || fail "--local -o wrote no summary"
# --local with a FILE that names one file on every rank (no %R): the ranks
# of a node would each validate it, and the sequence would hold it twice.
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort --local sorted/part-00000
expect_grep "ranks 0 and 1 are on one node and both name 'sorted/part-00000'" "$T/err"
expect_grep "put %r or %R in FILE" "$T/err"
[ "$(grep -c 'sluice: error' "$T/err")" -eq 1 ] || fail "--local named one file twice: not one message"
# ... and so with names that differ, but link to one file.
mkdir links; ln -s ../sorted/part-00000 links/p-00000; ln -s ../sorted/part-00000 links/p-00001
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort --local 'links/p-%R'
expect_grep "ranks 0 and 1 are on one node and both name 'links/p-00000' (FILE 'links/p-%R')" "$T/err"
cp sorted/part-00000 swap1; cp sorted/part-00001 swap0
mkdir sw; cp swap0 sw/part-00000; cp swap1 sw/part-00001
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort --local 'sw/part-%R'
expect_grep "^ERROR - there are 1 unordered records$" "$T/err"
# A changed byte outside the key: still in order, but the checksum differs.
cp sorted/part-00000 bad.dat
printf 'Z' | dd of=bad.dat bs=1 seek=50 conv=notrunc 2>/dev/null
expect_rc 0 $MPIRUN -np 2 $SLUICE valsort bad.dat sorted/part-00001
grep -q "^Checksum: $sum$" "$T/err" && fail "valsort did not see the changed record"
# -o per partition, then -s over the summaries == the whole.
expect_rc 0 $SLUICE valsort -o s0 sorted/part-00000
expect_rc 0 $MPIRUN -np 2 $SLUICE valsort -o s1 sorted/part-00001
[ "$(wc -c <s0)" -eq 280 ] || fail "summary is not 280 bytes"
cat s0 s1 >all.sum
expect_rc 0 $SLUICE valsort -s all.sum
expect_grep "^Records: 6000$" "$T/err"
expect_grep "^Checksum: $sum$" "$T/err"
expect_rc 0 $SLUICE valsort -s s0 s1
expect_grep "^SUCCESS" "$T/err"
expect_rc 1 $SLUICE valsort -s s1 s0
expect_grep "^ERROR - there are 1 unordered records$" "$T/err"
# -s --local: each rank reads the summaries named for it (node-local), in
# rank order; --local was ignored with -s ("summary file 's%r': No such
# file or directory")
expect_rc 0 $MPIRUN -np 2 $SLUICE valsort -s --local -o loc2.sum 's%r'
expect_grep "^Records: 6000$" "$T/err"
expect_grep "^SUCCESS" "$T/err"
expect_rc 0 $SLUICE valsort -s -o comb.sum s0 s1
cmp -s loc2.sum comb.sum || fail "valsort -s --local -o wrote another summary than -s s0 s1"
cp s0 u1 && cp s1 u0 || fail "cp"
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort -s --local 'u%r'
expect_grep "^ERROR - there are 1 unordered records$" "$T/err"
cp s0 s0.keep2 || fail "cp"
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort -s --local -o s0 's%r'
expect_grep "rank 0: -o s0 is also an input ('s%r' is 's0' with --local)" "$T/err"
cmp -s s0 s0.keep2 || fail "valsort -s --local -o replaced its summary input"
# A summary that cannot be read (a directory) is an error naming it; it was
# taken for an empty file, and s0 alone passed.
mkdir sumdir
expect_rc 1 $SLUICE valsort -s s0 sumdir
expect_grep "cannot read summary file 'sumdir'" "$T/err"
# -o naming a FIFO or a device (a link to /dev/null) is refused before
# validating, exit 2, and left as it was: SUMMARY.tmp renamed to SUMMARY
# replaced it (as root, '-o /dev/null' put a file in place of /dev/null).
ln -s /dev/null nulllink && mkfifo sumfifo || fail "ln or mkfifo"
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort -o nulllink sorted/part-00000
expect_grep "o nulllink is a character device: the summary is written as nulllink.tmp and renamed" "$T/err"
[ -L nulllink ] && [ ! -e nulllink.tmp ] || fail "valsort -o replaced a link to /dev/null"
expect_rc 2 $SLUICE valsort -o sumfifo sorted/part-00000
expect_grep "o sumfifo is a FIFO" "$T/err"
[ -p sumfifo ] || fail "valsort -o replaced a FIFO"
rm -f nulllink sumfifo
# -o naming a directory, or in a directory that does not exist, is refused
# before validating (usage, exit 2): it failed at the rename, after every
# input was read (exit 1)
mkdir sumdir2
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort -o sumdir2 sorted/part-00000
expect_grep "o sumdir2: is a directory" "$T/err"
[ -d sumdir2 ] && [ ! -e sumdir2.tmp ] || fail "valsort -o a directory left sumdir2.tmp"
expect_rc 2 $SLUICE valsort -o nodir/s sorted/part-00000
expect_grep "o nodir/s: its directory 'nodir' does not exist" "$T/err"
rmdir sumdir2
# -o naming an input is refused; the input is kept.
cp sorted/part-00001 keep.dat
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort -o keep.dat sorted/part-00000 keep.dat
expect_grep "is also an input" "$T/err"
cmp -s keep.dat sorted/part-00001 || fail "valsort -o replaced its input"
# ... also with --local, where the inputs are the names after %R (rank 0
# wrote the summary over part-00000 and exited 0).
cp sorted/part-00000 lkeep0
expect_rc 2 $MPIRUN -np 2 $SLUICE valsort --local -o sorted/part-00000 'sorted/part-%R'
expect_grep "rank 0: -o sorted/part-00000 is also an input" "$T/err"
cmp -s lkeep0 sorted/part-00000 || fail "valsort --local -o replaced its input"
# ... also an input named SUMMARY.tmp, the name the summary is written
# under before its rename (the input was overwritten and renamed away).
cp sorted/part-00001 keep.dat.tmp
expect_rc 2 $SLUICE valsort -o keep.dat keep.dat.tmp
expect_grep "is also an input ('keep.dat.tmp'" "$T/err"
cmp -s keep.dat.tmp sorted/part-00001 || fail "valsort -o SUMMARY replaced its input SUMMARY.tmp"
cp s0 s0.keep
expect_rc 2 $SLUICE valsort -s -o s0 s0 s1
cmp -s s0 s0.keep || fail "valsort -s -o replaced its summary input"
# Bad inputs: a partial record names the file; no records; missing file.
head -c 250 in.dat >partial.dat
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort partial.dat
expect_grep "partial.dat.*not a multiple" "$T/err"
: >empty.dat
expect_rc 1 $SLUICE valsort empty.dat
expect_grep "at least one record" "$T/err"
expect_rc 1 $SLUICE valsort missing.dat
expect_grep "missing.dat" "$T/err"
# a stop ends the check, exit 75, without a summary (40 GB of zero records,
# a sparse file: valsort ran on to its end through the first signal)
truncate -s 40000000000 zeros.dat
$MPIRUN -np 2 $SLUICE valsort -o zeros.sum zeros.dat >stop.out 2>stop.err &
pid=$!
sleep 1.5
kill -USR1 $pid
wait $pid; rc=$?
rm -f zeros.dat
[ $rc -eq 75 ] || { cat stop.out stop.err >&2; fail "valsort after SIGUSR1 exited $rc, expected 75"; }
[ ! -e zeros.sum ] && [ ! -e zeros.sum.tmp ] || fail "a stopped valsort wrote its summary"
# ... also when the signal comes while MPI starts (Slurm's --signal may come
# at any time): the ranks died of SIGUSR1 (signal 10, and mpirun at times
# never returned), the handler being installed after MPI_Init.
truncate -s 40000000000 zeros.dat
for i in 1 2; do
  $MPIRUN -np 2 $SLUICE valsort -o zeros.sum zeros.dat >stop.out 2>stop.err &
  usr1_while_starting $! stop.out stop.err
done
rm -f zeros.dat
[ ! -e zeros.sum ] || fail "a stopped valsort wrote its summary"
# --silent still prints errors (a bad input): its help said "print nothing"
$SLUICE help valsort | grep -q -- "--silent  *print only errors (bad input)" || fail "valsort --help: --silent says it prints nothing"
grep -q "stopped by a signal, nothing written; run the same command again, which starts over" stop.err || fail "no stop message (valsort keeps nothing: no resume)"
echo "valsort: ok"
