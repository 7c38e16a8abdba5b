#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice sort on bad input: a size that is not a multiple of 100, a missing
# input, a missing --tmp, a full output file system and a full --tmp (a
# 1 MB tmpfs, skipped with a message where mount is not allowed), inputs in
# the output directory, a failed run over an earlier one's output, too
# many --samples for one MPI message. Each:
# one message naming the file, exit 1, no partition under a final name,
# inputs untouched.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
mkdir tmp
$SLUICE gensort 30000 good.dat || fail gensort
head -c 12345 good.dat >odd.dat
cp good.dat good.orig
cp odd.dat odd.orig
no_parts() { ! ls "$1"/part-* >/dev/null 2>&1 || fail "partition under a final name in $1: $(ls "$1")"; }
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat odd.dat --output out1 --tmp tmp
expect_grep "odd.dat.*12345 is not a multiple of the 100-byte record size" "$T/err"
no_parts out1
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat nothere.dat --output out2
expect_grep "nothere.dat" "$T/err"
no_parts out2
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat --output out3 --tmp "$T/no/such/dir"
expect_grep "tmp '$T/no/such/dir' is not an existing directory" "$T/err"
no_parts out3
# The same file twice (by its name, through its directory, through a
# link) is refused: its records were sorted twice, exit 0.
mkdir twice && cp good.dat twice/a && ln -s good.dat good.lnk
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat good.dat --output out12
expect_grep "rank 0: input 'good.dat' is given twice: its records would be sorted twice" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input twice twice/a --output out12
expect_grep "input 'twice/a' is given twice" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat good.lnk --output out12
expect_grep "input 'good.lnk' is the same file as input 'good.dat'" "$T/err"
[ ! -e out12 ] || fail "a refused input made OUTDIR"
# An input directory: a dangling symbolic link in it is a missing input
# (refused, naming it), a subdirectory is not sorted and says so (both were
# passed over in silence: exit 0 without their records).
mkdir -p dir/sub
$SLUICE gensort 100 dir/a && $SLUICE gensort -b100 100 dir/sub/b || fail gensort
ln -s gone dir/link
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input dir --output out8
expect_grep "rank 0: input 'dir/link': No such file or directory" "$T/err"
no_parts out8
rm dir/link
# %R without --local is a file's name as it is: said so where it is missing
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input 'dir/part-%R' --output out8
expect_grep "input 'dir/part-%R': No such file or directory (%r and %R are the rank only with --local)" "$T/err"
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort 'dir/part-%r'
expect_grep "(%r and %R are the rank only with --local)" "$T/err"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input dir --output out8
expect_grep "warn: input directory 'dir': 'dir/sub' is not a regular file: not sorted" "$T/err"
[ "$(grep -c "dir/sub" "$T/err")" -eq 1 ] || fail "the warning on dir/sub came more than once: $(cat "$T/err")"
# A node-local --tmp missing on one node only (here: rank 1 runs in
# another directory): that rank names it and every rank stops, none hangs.
mkdir -p wa/scratch wb
expect_rc 1 timeout 60 $MPIRUN -np 1 -wdir "$T/wa" $SLUICE sort --input "$T/good.dat" --output "$T/out5" \
  --tmp scratch : -np 1 -wdir "$T/wb" $SLUICE sort --input "$T/good.dat" --output "$T/out5" --tmp scratch
expect_grep "rank 1: --tmp 'scratch' is not an existing directory" "$T/err"
no_parts out5
# --output naming a file: one message (every rank printed it), the file
# untouched.
echo keep >afile
expect_rc 1 $MPIRUN -np 4 $SLUICE sort --input good.dat --output afile
expect_grep "rank 0: 'afile' exists and is not a directory" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "--output afile: not one message: $(cat "$T/err")"
[ "$(cat afile)" = keep ] || fail "--output afile changed the file"
expect_rc 2 $MPIRUN -np 2 $SLUICE sort --input good.dat
expect_grep "output" "$T/err"
cmp -s good.dat good.orig && cmp -s odd.dat odd.orig || fail "an input was modified"
# Inputs inside --output under names the sort writes or removes: refused
# before anything is touched, naming the input; every file stays as it was.
# (The partitions beyond the rank count were removed before being read, and
# part-00001 was replaced by its own sorted records.)
mkdir prev lnk
for p in 0 1 2 3; do $SLUICE gensort -b$((p * 1000)) 1000 prev/part-0000$p || fail gensort; done
cp -r prev prev.orig
ln -s ../prev/part-00001 lnk/in1
# --output itself as an input directory is named as such (it was refused
# for its summary.json's size, which is no multiple of 100, when it had one)
for d in prev ./prev/; do
  expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat "$d" --output prev
  expect_grep "rank 0: --input '$d' is the --output directory 'prev' (inputs are never modified)" "$T/err"
  diff -r prev prev.orig >/dev/null || fail "sort --input $d --output prev changed prev: $(ls -a prev)"
done
for args in "prev/part-00002 prev/part-00003" "lnk/in1"; do
  # shellcheck disable=SC2086
  expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input $args --output prev
  expect_grep "rank 0: input '.*' is 'part-0000[0-3]' in --output 'prev'" "$T/err"
  diff -r prev prev.orig >/dev/null || fail "sort --input $args --output prev changed prev: $(ls -a prev)"
done
# shellcheck disable=SC2016
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --local --input 'prev/part-0000%r' --output prev
expect_grep "rank [01]: input 'prev/part-0000[01]' is 'part-0000[01]' in --output 'prev'" "$T/err"
diff -r prev prev.orig >/dev/null || fail "sort --local into its inputs' directory changed them"
# A failed run leaves no summary.json of an earlier run beside its own
# partitions: rank 1 cannot create part-00001.tmp (a directory is in the
# way) after rank 0 has written part-00000 of the new run.
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input good.dat --output out6
[ -f out6/summary.json ] || fail "no summary.json after a complete run"
mkdir out6/part-00001.tmp
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input prev.orig --output out6
expect_grep "rank 1: cannot create 'out6/part-00001.tmp'" "$T/err"
[ ! -e out6/summary.json ] || fail "a failed run left the earlier run's summary.json: $(cat out6/summary.json)"
# --samples whose gathered sample would not fit one MPI message (int
# counts, 2^31-1 bytes): refused with a usage error before sampling. 12
# ranks x 10^7 samples x 18 bytes is just over (the counts overflowed).
# The refusal comes before anything in OUTDIR is touched: an earlier
# run's partitions and summary stay (they were removed first).
mkdir out7 && cp prev.orig/part-00000 prev.orig/part-00003 out7/ && echo '{}' >out7/summary.json || fail "making out7"
cp -r out7 out7.orig
expect_rc 2 timeout 120 $MPIRUN -np 12 $SLUICE sort --samples 10000000 --input good.dat --output out7
expect_grep "samples 10000000 on 12 ranks gathers up to 2160000000 bytes of samples.*use --samples 9942053 or fewer" "$T/err"
diff -r out7 out7.orig >/dev/null || fail "a refused --samples changed the earlier run's output: $(ls -a out7)"
# A full output file system.
mkdir full
if mount -t tmpfs -o size=1m tmpfs full 2>/dev/null; then
  trap 'umount "$T/full" 2>/dev/null; rm -rf "$T"' EXIT
  expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat --output full/out --tmp tmp
  expect_grep "rank [0-9]: cannot write .full/out/part-0000[01].tmp.: No space left on device" "$T/err"
  no_parts full/out
  ls full/out/*.tmp >/dev/null 2>&1 && fail "temporary partition left on the full file system"
  cmp -s good.dat good.orig || fail "input modified"
  # A full --tmp: an external sort's runs do not fit (the spill thread's
  # error reaches the rank and every rank stops); no run file is left. A
  # failed rank goes on receiving (and dropping) its peers' blocks until
  # their streams end, or a peer would wait forever on a send to it; it
  # does not write to the full --tmp again, so it says so once. Several
  # runs, since which rank fails first, and when, varies.
  rm -rf full/out
  $SLUICE gensort 60000 big.dat || fail gensort
  for i in 1 2 3 4 5; do
    rm -rf out4 full/*
    expect_rc 1 timeout 120 $MPIRUN -np 2 $SLUICE sort --input big.dat --output out4 --tmp full --mem 1M
    [ -z "$(grep 'error:' "$T/err" | sort | uniq -d)" ] || fail "a rank printed its error twice: $(cat "$T/err")"
  done
  expect_grep "rank [0-9]: cannot write .full/sluice-run-[0-9-]*.: No space left on device" "$T/err"
  no_parts out4
  [ -z "$(ls full)" ] || fail "run files left in the full --tmp: $(ls full)"
  # A read-only OUTDIR: the message names what could not be written, not
  # an earlier run's summary.json that is not there (EROFS comes before
  # ENOENT).
  mkdir full/ro && mount -o remount,ro "$T/full" || fail "remount read-only"
  expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat --output full/ro
  expect_grep "rank 0: cannot write 'full/ro/.sluice-sort.tmp': Read-only file system" "$T/err"
  grep -q "earlier run" "$T/err" && fail "a read-only OUTDIR blamed an earlier run: $(cat "$T/err")"
  # A read-only --tmp is refused before the map, once (it failed at the
  # first spill, after the map's reads), and OUTDIR is not made.
  expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat --output out9 --tmp full --mem 1M
  expect_grep "error: --tmp 'full' is not a writable directory: Read-only file system" "$T/err"
  [ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "--tmp read-only: not one message: $(cat "$T/err")"
  [ ! -e out9 ] || fail "a refused --tmp made OUTDIR"
  # An output file system that holds some partitions but not all (sized
  # from a run on a larger one: short by half a partition): the ranks whose
  # partition fitted had renamed it, and it stayed under its final name
  # (valsort of part-* said SUCCESS); now every partition goes.
  umount "$T/full" && mkdir full2 && mount -t tmpfs -o size=8m tmpfs full2 || fail "mount full2"
  trap 'umount "$T/full2" 2>/dev/null; rm -rf "$T"' EXIT
  $SLUICE gensort 50000 mid.dat || fail gensort
  expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input mid.dat --output full2/out
  used=$(df --output=used -B4096 full2 | tail -1)
  rm -rf full2/out && umount "$T/full2" || fail "umount full2"
  mount -t tmpfs -o size=$(((used - 1 - 32) * 4096)) tmpfs full2 || fail "mount full2 smaller"
  expect_rc 1 $MPIRUN -np 4 $SLUICE sort --input mid.dat --output full2/out
  expect_grep "rank [0-3]: cannot write .full2/out/part-0000[0-3].tmp.: No space left on device" "$T/err"
  no_parts full2/out
  # Room for every partition but not summary.json: exit 1, not 0 with a
  # warning, and the partitions go as above.
  rm -rf full2/out && umount "$T/full2" || fail "umount full2"
  mount -t tmpfs -o size=$(((used - 1) * 4096)) tmpfs full2 || fail "mount full2 smaller"
  expect_rc 1 $MPIRUN -np 4 $SLUICE sort --input mid.dat --output full2/out
  expect_grep "rank 0: cannot write .full2/out/summary.json.tmp.: No space left on device" "$T/err"
  no_parts full2/out
  [ ! -e full2/out/summary.json ] || fail "summary.json on a full file system"
else
  echo "SKIP: full output file system case (mount -t tmpfs not permitted here)"
fi
# An earlier run's extra partition that cannot be removed (a directory is in
# the way) stops a fresh run before its manifest is written: a --resume
# once the cause is gone removes that partition (it had kept it as part of
# the output, since the manifest was there already)
mkdir -p out10/part-00005/x
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input good.dat --output out10
expect_grep "cannot remove the earlier run's 'out10/part-00005'" "$T/err"
rm -rf out10/part-00005 && echo stale >out10/part-00005
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input good.dat --output out10 --resume
[ -e out10/part-00005 ] && fail "--resume kept an earlier run's extra partition part-00005"
expect_rc 0 $SLUICE valsort out10/part-00000 out10/part-00001
# --local where two ranks of one node read the same file (IN without %r on
# one node, or in.%r and a common file): its records were sorted once per
# rank, exit 0 with every record twice. Refused, naming both ranks; one
# rank's own files and empty ones shared are fine.
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --local --input good.dat --output out11
expect_grep "rank 1: --local: input 'good.dat' is the file rank 0 reads too" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "--local shared input: not one message: $(cat "$T/err")"
no_parts out11
cp good.dat l.0 && $SLUICE gensort -b30000 100 l.1 && : >l.empty || fail "making --local inputs"
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --local --input 'l.%r' l.1 --output out11
expect_grep "rank 1: input 'l.1' is given twice: its records would be sorted twice" "$T/err"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --local --input 'l.%r' l.empty --output out11
expect_rc 0 $SLUICE valsort out11/part-00000 out11/part-00001
expect_grep "^Records: 30100$" "$T/err"
echo "sort_bad: ok"
