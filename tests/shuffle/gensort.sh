#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice gensort: byte-for-byte against an independent Python implementation
# of gensort 1.5 (bench/shuffle/gensort_ref.py) for every mode, -b and -c;
# the documented partition property (-b); parallel output identical to serial
# with 1, 2 and 4 ranks; --parts; /dev/null (--parts too) writes nothing;
# a FILE that cannot be written refused before any work; usage errors.
. "$top_srcdir/tests/lib.sh"
REF="$top_srcdir/bench/shuffle/gensort_ref.py"
cd "$T" || exit 1
for flags in "" "-a" "-s" "-a -s" "-b18446744073709549000 -s" "-a -s -b4294967000"; do
  # shellcheck disable=SC2086
  expect_rc 0 $SLUICE gensort -c $flags 2500 c.dat
  cp "$T/err" c.sum
  # shellcheck disable=SC2086
  /usr/bin/python3 "$REF" -c $flags 2500 p.dat 2>p.sum || fail "reference generator failed"
  cmp -s c.dat p.dat || fail "gensort $flags differs from the reference"
  cmp -s c.sum p.sum || fail "gensort -c $flags printed $(cat c.sum), reference $(cat p.sum)"
done
# The first printable record, as published.
expect_rc 0 $SLUICE gensort -a 1 one.dat
printf 'AsfAGHM5om  00000000000000000000000000000000  0000222200002222000022220000222200002222000000001111\r\n' >want
cmp -s one.dat want || fail "first -a record is not the published one"
# gensort -b0 1000 part0; gensort -b1000 1000 part1; cat == gensort 2000.
expect_rc 0 $SLUICE gensort -b0 1000 part0
expect_rc 0 $SLUICE gensort -b1000 1000 part1
expect_rc 0 $SLUICE gensort 2000 whole
cat part0 part1 | cmp -s - whole || fail "-b partitions do not concatenate to the whole"
# Parallel into one file == serial; --parts == serial split.
expect_rc 0 $SLUICE gensort -s -c 30001 serial.dat
cp "$T/err" serial.sum
for np in 1 2 4; do
  expect_rc 0 $MPIRUN -np $np $SLUICE gensort -s -c 30001 par.dat
  cmp -s par.dat serial.dat || fail "gensort on $np ranks differs from serial"
  cmp -s "$T/err" serial.sum || fail "gensort -c on $np ranks printed $(cat "$T/err")"
  [ ! -e par.dat.tmp ] || fail "temporary file left behind"
  rm -f pp.*
  expect_rc 0 $MPIRUN -np $np $SLUICE gensort -s --parts 30001 pp
  i=0; : >cat.dat
  while [ $i -lt $np ]; do cat "pp.$i" >>cat.dat; i=$((i + 1)); done
  cmp -s cat.dat serial.dat || fail "--parts on $np ranks does not concatenate to the serial output"
done
# --parts where one rank's FILE.RANK is a directory: refused before any
# work, exit 2, naming it once, and no part written. A link at FILE.0.tmp
# shows that FILE.0.tmp was never created (gensort removes such a link
# before it writes): rank 0 generated its part, renamed it to FILE.0 and
# removed it when rank 1's rename failed, at the end.
rm -f pp.* && mkdir pp.1 && ln -s nowhere pp.0.tmp
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort --parts 1000 pp
expect_grep "rank 1: cannot write FILE.RANK 'pp.1': is a directory (the output is written as 'pp.1.tmp' and renamed to it, which cannot replace a directory" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "gensort --parts with a directory FILE.1 printed $(cat "$T/err")"
[ -L pp.0.tmp ] || fail "gensort --parts created pp.0.tmp beside a directory pp.1"
[ -e pp.0 ] || [ -e pp.1.tmp ] && fail "gensort --parts left $(ls pp.*) beside a directory pp.1"
mkdir pp.0
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort --parts 1000 pp
expect_grep "rank 0: cannot write FILE.RANK 'pp.0': is a directory.*(1 more rank cannot write its FILE.RANK either)" "$T/err"
rmdir pp.0 pp.1 && rm pp.0.tmp
# FILE = /dev/null generates without writing, with --parts too (it created
# /dev/null.RANK.tmp and renamed it to /dev/null.RANK). As root, /dev is
# made read-only in a private mount namespace first, so that a regression
# fails here instead of writing into the real /dev.
expect_rc 0 $SLUICE gensort -c 3000 devnull.dat
cp "$T/err" devnull.sum
if [ "$(id -u)" -ne 0 ]; then
  expect_rc 0 $MPIRUN -np 2 $SLUICE gensort -c --parts 3000 /dev/null
elif unshare -m --propagation private true 2>/dev/null; then
  # shellcheck disable=SC2016
  expect_rc 0 unshare -m --propagation private sh -c \
    'mount --rbind /dev /dev && mount -o remount,bind,ro /dev && [ ! -w /dev ] && exec "$@"' \
    sh $MPIRUN -np 2 $SLUICE gensort -c --parts 3000 /dev/null
else
  echo "SKIP: gensort --parts /dev/null (root, and no private mount namespace to make /dev read-only)"
  cp devnull.sum "$T/err"
fi
cmp -s "$T/err" devnull.sum || fail "gensort -c --parts /dev/null printed $(cat "$T/err"), want $(cat devnull.sum)"
ls /dev/null.* >/dev/null 2>&1 && fail "gensort --parts /dev/null wrote $(ls /dev/null.*)"
# FILE that exists as a FIFO or a device (a link to one: /dev/stdout) is
# refused before any work, exit 2, and left as it was: FILE.tmp renamed
# to FILE replaced it (as root, 'gensort N /dev/stdout' put a regular
# file in place of /dev/stdout and wrote nothing to the pipe).
mkfifo fifo.dat && ln -s /dev/null devlink.dat || fail "mkfifo or ln"
expect_rc 2 $SLUICE gensort 10 fifo.dat
expect_grep "FILE 'fifo.dat' is a FIFO (a pipe): gensort writes FILE.tmp and renames it to FILE" "$T/err"
[ -p fifo.dat ] && [ ! -e fifo.dat.tmp ] || fail "gensort replaced the FIFO FILE or left FILE.tmp"
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort 10 devlink.dat
expect_grep "FILE 'devlink.dat' is a character device" "$T/err"
[ -L devlink.dat ] && [ "$(readlink devlink.dat)" = /dev/null ] || fail "gensort replaced the link FILE"
rm -f sp.* && mkfifo sp.1
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort --parts 10 sp
expect_grep "rank 1: FILE.RANK 'sp.1' is a FIFO" "$T/err"
[ -p sp.1 ] && [ ! -e sp.0 ] && [ ! -e sp.0.tmp ] || fail "gensort --parts wrote a part beside a FIFO FILE.RANK"
rm -f fifo.dat devlink.dat sp.1
# A link at the temporary name (FILE.tmp, SUMMARY.tmp), left there by
# someone else, is removed, not written through: its target was truncated
# and overwritten with the records, then the link renamed to FILE.
echo keep >victim
ln -s victim lk.dat.tmp
expect_rc 0 $MPIRUN -np 2 $SLUICE gensort 100 lk.dat
[ "$(cat victim)" = keep ] || fail "gensort wrote through a link at FILE.tmp"
[ -f lk.dat ] && [ ! -L lk.dat ] && [ "$(wc -c <lk.dat)" -eq 10000 ] || fail "gensort FILE with a link at FILE.tmp"
ln -s victim lk.sum.tmp
expect_rc 1 $SLUICE valsort -o lk.sum lk.dat # gensort output is not in order
[ "$(cat victim)" = keep ] || fail "valsort -o wrote through a link at SUMMARY.tmp"
[ "$(wc -c <lk.sum)" -eq 280 ] && [ ! -L lk.sum ] || fail "valsort -o SUMMARY with a link at SUMMARY.tmp"
rm -f lk.dat lk.sum victim
# Usage errors: exit 2 and a message.
expect_rc 2 $SLUICE gensort 12x out.dat
expect_grep "NUM_RECS" "$T/err"
expect_rc 2 $SLUICE gensort -b-5 10 out.dat
# strtoull's leading blanks and sign: ' -5' wrapped to 2^64-5 records
expect_rc 2 $SLUICE gensort " -5" out.dat
expect_grep "NUM_RECS: expected a non-negative integer, got ' -5'" "$T/err"
# more records than a file holds (NUM_RECS x 100 bytes past 2^63): the
# byte count wrapped ('cannot size ... to -9223372036854775716 bytes', or a
# small size and a write that ran until the disk was full)
expect_rc 2 $SLUICE gensort 92233720368547759 out.dat
expect_grep "NUM_RECS 92233720368547759 is more than one file holds" "$T/err"
[ ! -e out.dat ] && [ ! -e out.dat.tmp ] || fail "a refused NUM_RECS left a file"
# FILE that cannot be written or cannot take the generated file's place:
# refused before any work (exit 2), one message naming it, and FILE.tmp is
# never created (a link left there stays: gensort removes such a link
# before it writes). A directory FILE failed only at the rename, after
# all the records were written to FILE.tmp.
expect_rc 2 $SLUICE gensort 10 /nonexistent/dir/out.dat
expect_grep "cannot write FILE '/nonexistent/dir/out.dat': its directory '/nonexistent/dir' does not exist" "$T/err"
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort --parts 10 /nonexistent/dir/out.dat
expect_grep "rank 0: cannot write FILE.RANK '/nonexistent/dir/out.dat.0': its directory '/nonexistent/dir'" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "gensort --parts into a missing directory printed $(cat "$T/err")"
mkdir isdir && ln -s nowhere isdir.tmp
expect_rc 2 $SLUICE gensort 1000 isdir
expect_grep "cannot write FILE 'isdir': is a directory (the output is written as 'isdir.tmp' and renamed to it" "$T/err"
[ -L isdir.tmp ] || fail "gensort created isdir.tmp for a directory FILE"
expect_rc 2 $MPIRUN -np 2 $SLUICE gensort 1000 isdir
expect_grep "rank 0: cannot write FILE 'isdir': is a directory" "$T/err"
[ "$(grep -c "error" "$T/err")" -eq 1 ] || fail "gensort with a directory FILE printed $(cat "$T/err")"
[ -L isdir.tmp ] && [ -d isdir ] || fail "gensort on 2 ranks created isdir.tmp for a directory FILE"
rm isdir.tmp && rmdir isdir
# a directory gensort cannot write in (as root, permissions do not stop
# it: the directory is made read-only in a private mount namespace)
mkdir rodir
if [ "$(id -u)" -ne 0 ]; then
  chmod 555 rodir
  expect_rc 2 $MPIRUN -np 2 $SLUICE gensort 10 rodir/out.dat
  chmod 755 rodir
  expect_grep "cannot write FILE 'rodir/out.dat': its directory 'rodir' is not writable (for 'rodir/out.dat.tmp')" "$T/err"
elif unshare -m --propagation private true 2>/dev/null; then
  # shellcheck disable=SC2016
  expect_rc 2 unshare -m --propagation private sh -c \
    'mount --bind rodir rodir && mount -o remount,bind,ro rodir && exec "$@"' \
    sh $MPIRUN -np 2 $SLUICE gensort 10 rodir/out.dat
  expect_grep "cannot write FILE 'rodir/out.dat': its directory 'rodir' is not writable (for 'rodir/out.dat.tmp'): Read-only file system" "$T/err"
else
  echo "SKIP: gensort into a read-only directory (root, and no private mount namespace)"
fi
[ -z "$(ls rodir)" ] || fail "gensort wrote $(ls rodir) into a directory it cannot write in"
rmdir rodir
# a stop (Slurm's USR1 before a time limit, forwarded by mpirun) ends the
# generation: exit 75 and no FILE nor FILE.tmp (the first signal was
# ignored: gensort ran on, and only a second one killed it, leaving FILE.tmp)
$MPIRUN -np 2 $SLUICE gensort 100000000 stopped.dat >stop.out 2>stop.err &
pid=$!
_i=0
while [ ! -e stopped.dat.tmp ]; do
  sleep 0.1; _i=$((_i + 1)); [ $_i -gt 300 ] && { kill $pid; fail "gensort never started"; }
done
sleep 0.3
kill -USR1 $pid
wait $pid; rc=$?
[ $rc -eq 75 ] || { cat stop.err >&2; fail "gensort after SIGUSR1 exited $rc, expected 75"; }
[ ! -e stopped.dat ] && [ ! -e stopped.dat.tmp ] || fail "a stopped gensort left stopped.dat or its .tmp"
grep -q "stopped by a signal, nothing written; run the same command again, which starts over" stop.err || fail "no stop message (gensort keeps nothing: no resume)"
# gensort's options are not config keys ([gensort] begin = 5 is refused):
# its help, under "options (also config keys ...)", says so for each
$SLUICE help gensort | grep -q -- "--begin N .*(command line only: no config key)" || fail "gensort --help: --begin not marked command line only"
echo "gensort: ok"
