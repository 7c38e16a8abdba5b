#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A stop (SIGUSR1/SIGTERM) during the map keeps what was mapped: each
# partition's records received so far become runs in --tmp, listed in its
# run manifest under the stop's id, and OUTDIR/.sluice-sort-map says how far
# each rank's share was mapped; exit 75. --resume maps only the rest (the
# records mapped before are not read again: changing them changes nothing)
# and merges the kept runs with the new ones, giving the bytes of an
# uninterrupted run. Stops chain; a kill -9 in the resumed run keeps the
# stop's runs; a stop in the resumed merge is resumed from its runs; a
# missing run manifest or map file, or run manifests of different stops,
# fall back to the whole map, leaving nothing behind.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
checksum() { # checksum FILE... -> valsort's checksum line
  $SLUICE valsort "$@" 2>&1 | grep '^Checksum:'
}
# cut_as NP: after a stop during the map, no partition is complete and none
# is being written; every partition has a run manifest of the stop in the
# map file, with runs in tmp/ (rank 0 maps its whole share: the hook stops
# ranks > 0 only, so partition 0 has runs)
cut_as() {
  [ -z "$(cd sorted && ls part-* 2>/dev/null)" ] || fail "a partition after a stop during the map: $(ls sorted)"
  [ -f sorted/.sluice-sort-map ] || fail "no map file after a stop during the map: $(ls -a sorted)"
  _cut=$(sed -n 's/^cut //p' sorted/.sluice-sort-map)
  [ -n "$_cut" ] || fail "map file without its stop: $(cat sorted/.sluice-sort-map)"
  [ "$(grep -c '^share ' sorted/.sluice-sort-map)" -eq "$1" ] || fail "map file: $(cat sorted/.sluice-sort-map)"
  _p=0
  while [ $_p -lt "$1" ]; do
    grep -qx "cut $_cut" sorted/.sluice-sort-runs-0000$_p || fail "partition $_p: no run manifest of the stop: $(ls -a sorted)"
    _p=$((_p + 1))
  done
  ls tmp/sluice-run-*-0-* >/dev/null 2>&1 || fail "rank 0's runs are gone: $(ls tmp)"
}
# mapped_total: the records the map file says were mapped
mapped_total() { awk '/^share / {s += $4} END {print s}' sorted/.sluice-sort-map; }
# continued WHAT N: the resume mapped only the rest: N records not read again
continued() {
  expect_grep "the map continues where a stop left it: $2 of 60000 records were mapped" "$T/err"
  grep -q "\"resumed_map_records\": $2," sorted/summary.json || fail "$1: $(cat sorted/summary.json)"
}
# done_clean WHAT: the partitions are the uninterrupted run's bytes, and
# nothing of the stops is left
done_clean() {
  cat sorted/part-* | cmp -s - ref.all || fail "$1: the output differs from an uninterrupted run's"
  grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "$1: summary checksum"
  ls sorted/.sluice-sort-runs-* >/dev/null 2>&1 && fail "$1: run manifests left: $(ls -a sorted)"
  [ -e sorted/.sluice-sort-map ] && fail "$1: the map file is left"
  ls sorted/*.tmp >/dev/null 2>&1 && fail "$1: temporary files left: $(ls sorted)"
  [ -z "$(ls tmp)" ] || fail "$1: runs left in --tmp: $(ls tmp)"
}
mkdir tmp
$SLUICE gensort -s 60000 orig.dat || fail gensort
insum=$(checksum orig.dat)
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input orig.dat --output ref --mem 1M
cat ref/part-* >ref.all

# 2 ranks, spilling (--mem 1M: 1310-record chunks); rank 1 stops before its
# 3rd chunk, rank 0 maps its whole share.
cp orig.dat in.dat
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
expect_grep "stopped during the map: 32620 of 60000 records were mapped" "$T/err"
cut_as 2
[ "$(grep '^share ' sorted/.sluice-sort-map | tr '\n' ' ')" = "share 0 30000 30000 share 30000 30000 2620 " ] ||
  fail "shares: $(cat sorted/.sluice-sort-map)"
# Records mapped before the stop are not read again: changed (but for the
# fingerprint's samples, at (N-1)k/64), the output keeps the originals.
/usr/bin/python3 -c "
import sys
b = bytearray(open('in.dat', 'rb').read())
for i in (5, 29990, 30001, 32619):
    b[i * 100 + 50] ^= 0xff
open('in.dat', 'wb').write(b)" || fail "changing in.dat"
[ "$(checksum in.dat)" != "$insum" ] || fail "the changed input has the original's checksum"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
continued "2 ranks" 32620
done_clean "2 ranks"

# Stops chain: 4 ranks stopped in the map twice, each resume mapping on
# from where the last stopped; in memory (--mem 4M: no spill, the stop
# writes each partition's records as one run).
cp orig.dat in.dat
rm -rf sorted
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 4M --chunk 200000 --test-stop-chunk 2
cut_as 4
m1=$(mapped_total)
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 4M --chunk 200000 --resume \
  --test-stop-chunk 2
expect_grep "the map continues where a stop left it: $m1 of 60000" "$T/err"
cut_as 4
m2=$(mapped_total)
[ "$m2" -gt "$m1" ] || fail "the second stop mapped nothing more ($m1, then $m2)"
expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 4M --resume
continued "4 ranks, two stops" "$m2"
done_clean "4 ranks, two stops"

# A stop during the merge of a resumed map keeps all the runs (without a
# stop id: the map is over); the next resume skips the map.
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume --test-stop-buffer 2
expect_grep "stopped during the merge: " "$T/err"
grep -q '^cut ' sorted/.sluice-sort-runs-00001 && fail "a stop during the merge kept a stop id: the map is over"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "the map is skipped" "$T/err"
done_clean "a stop in the merge of a resumed map"

# A kill -9 during the merge of a resumed map, once part-00000 is in
# place: rank 1's run manifest of the stop stands, and the next resume maps
# the rest again, rank 0 (complete) sending from where its share stopped.
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
m1=$(mapped_total)
sort_killed_after_part0 --keep --input in.dat --tmp tmp --mem 1M --resume
grep -q '^cut ' sorted/.sluice-sort-runs-00001 || fail "the kill removed rank 1's run manifest of the stop"
[ -e sorted/.sluice-sort-runs-00000 ] && fail "a run manifest beside the complete part-00000"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
continued "kill -9 in the resumed merge" "$m1"
done_clean "kill -9 in the resumed merge"

# A run manifest missing (a rank killed before it wrote its own): the map
# runs again, every kept run goes.
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
rm sorted/.sluice-sort-runs-00000
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "partition 0 cannot be merged from spilled runs (it has no run manifest" "$T/err"
grep -q '"resumed_map_records": 0,' sorted/summary.json || fail "missing run manifest: $(cat sorted/summary.json)"
done_clean "a missing run manifest"

# The map file missing (a kill before rank 0 wrote it): the same.
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
rm sorted/.sluice-sort-map
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "the runs kept at a stop during the map cannot be used" "$T/err"
done_clean "a missing map file"

# Run manifests of different stops (rank 0's of the first, rank 1's of
# the second: a kill while the second stop's were written): the same.
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
cp sorted/.sluice-sort-runs-00000 first.runs
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume --test-stop-chunk 2
cp first.runs sorted/.sluice-sort-runs-00000
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "the run manifests are of different stops" "$T/err"
done_clean "run manifests of different stops"

# Node-local inputs split otherwise at the resume (the same records, but
# 10000/50000 then 30000/30000): the map file's shares are not the ranks'
# shares, and the map runs again (it took the first 2620 records of rank
# 1's new share as mapped: 2620 duplicates, as many lost, exit 0).
head -c 1000000 orig.dat >a.0
tail -c +1000001 orig.dat >a.1
head -c 3000000 orig.dat >b.0
tail -c +3000001 orig.dat >b.1
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --local --input a.%r --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --local --input b.%r --output sorted --tmp tmp --mem 1M --resume
expect_grep "the inputs are split across the ranks otherwise than at the stop" "$T/err"
done_clean "--local inputs split otherwise"

# A partition complete before a stop during the map is still checked
# against the inputs at the resume: the map file has what the parts mapped
# before the stop gave it. Partition 0 completes at a stop in the merge;
# rank 1's run manifest is lost, so the resume maps again, and is stopped
# in its map; then a record of rank 1's part not mapped yet, one of
# partition 0's keys, is changed: the next resume refuses the stale
# part-00000 (it was kept silently, the check being off).
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-buffer 2
[ -e sorted/part-00000 ] || fail "part-00000 not complete after the stop in the merge"
rm sorted/.sluice-sort-runs-00001
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume --test-stop-chunk 3
grep -q '^kept 0 ' sorted/.sluice-sort-map || fail "no count for the complete partition 0: $(cat sorted/.sluice-sort-map)"
/usr/bin/python3 -c "
b = bytearray(open('in.dat', 'rb').read())
hi = open('ref/part-00000', 'rb').read()[-100:][:10]
fp = {59999 * k // 64 for k in range(65)}
i = next(i for i in range(40001, 60000) if b[i * 100:i * 100 + 10] < hi and i not in fp)
b[i * 100 + 50] ^= 0xff
open('in.dat', 'wb').write(b)" || fail "changing in.dat"
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "cannot resume with 'sorted/part-00000': .* the inputs changed since the run that wrote it" "$T/err"
cp orig.dat in.dat
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
done_clean "a complete partition checked after a stop during the map"
# unchanged, the same sequence passes the check
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-buffer 2
rm sorted/.sluice-sort-runs-00001
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume --test-stop-chunk 3
m1=$(mapped_total)
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
continued "a complete partition, unchanged inputs" "$m1"
done_clean "a complete partition, unchanged inputs"

# Files a kill left half-written in OUTDIR go at the next run.
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
for f in .sluice-sort.tmp .sluice-sort-map.tmp summary.json.tmp .sluice-sort-runs-00001.tmp; do echo x >"sorted/$f"; done
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
[ -z "$(cd sorted && ls -A | grep '\.tmp$')" ] || fail "half-written files left: $(ls -A sorted)"
done_clean "half-written files"

# A fresh run on fewer ranks after stops with two --tmp removes the runs of
# the partitions beyond its ranks in both (those in the first stayed).
mkdir tmp1 tmp2
rm -rf sorted
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp1 --mem 4M --chunk 200000 --test-stop-chunk 2
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp2 --mem 4M --chunk 200000 --resume \
  --test-stop-chunk 2
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp2 --mem 1M
[ -z "$(ls -A tmp1)$(ls -A tmp2)" ] || fail "runs left after a fresh run on fewer ranks: $(ls tmp1 tmp2)"
done_clean "a fresh run on fewer ranks"

# A fresh run (no --resume) after a stop during the map removes its runs,
# run manifests and map file.
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-chunk 3
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M
grep -q '"resumed_map_records": 0,' sorted/summary.json || fail "fresh run: $(cat sorted/summary.json)"
done_clean "a fresh run after a stop during the map"
exit 0
