#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice sort with 1, 2 and 4 ranks on uniform, skewed, printable,
# duplicate-heavy, uneven-file and empty inputs: the partitions, read in name
# order, must be in order and carry the input's checksum; skewed input must
# split within 10% of the mean. Then the external path (small --mem) and a
# resume after a kill.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
checksum() { # checksum FILE... -> valsort's checksum line
  $SLUICE valsort "$@" 2>&1 | grep '^Checksum:'
}
mkdir -p in/uniform in/skewed in/ascii in/dups in/uneven in/empty tmp
$SLUICE gensort 20000 in/uniform/a || fail gensort
$SLUICE gensort -s 40000 in/skewed/a || fail gensort
$SLUICE gensort -a 10000 in/ascii/a || fail gensort
/usr/bin/python3 -c "
import random, sys
random.seed(7)
out = bytearray()
for i in range(12000):
    out += bytes([65 + random.randrange(3)]) * 10 + i.to_bytes(90, 'big')
open(sys.argv[1], 'wb').write(out)" in/dups/a || fail "making duplicate keys"
$SLUICE gensort -b100 1 in/uneven/f1 && : >in/uneven/f2 && $SLUICE gensort -b7 7777 in/uneven/f3 &&
  $SLUICE gensort -b9000 333 in/uneven/f4 || fail gensort
: >in/empty/a
for np in 1 2 4; do
  for kind in uniform skewed ascii dups uneven empty; do
    rm -rf sorted
    expect_rc 0 $MPIRUN -np $np $SLUICE sort --input in/$kind --output sorted --tmp tmp
    nparts=$(ls sorted/part-* | wc -l)
    [ "$nparts" -eq "$np" ] || fail "$kind on $np ranks: $nparts partitions"
    ls sorted/*.tmp >/dev/null 2>&1 && fail "$kind: temporary files left in sorted/"
    [ -f sorted/summary.json ] || fail "$kind: no summary.json"
    if [ "$kind" = empty ]; then
      [ "$(cat sorted/part-* | wc -c)" -eq 0 ] || fail "empty input gave output"
      grep -q '"records": 0,' sorted/summary.json || fail "empty: summary records"
      continue
    fi
    expect_rc 0 $SLUICE valsort sorted/part-*
    insum=$(checksum in/$kind/*)
    got=$(grep '^Checksum:' "$T/err")
    [ "$insum" = "$got" ] || fail "$kind on $np ranks: output $got, input $insum"
    grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "$kind: summary checksum"
    if [ "$kind" = skewed ] || [ "$kind" = uniform ] || [ "$kind" = dups ]; then
      /usr/bin/python3 -c "
import json, sys
p = json.load(open('sorted/summary.json'))['partitions']
m = sum(p) / len(p)
sys.exit(0 if max(p) <= 1.10 * m and min(p) >= 0.90 * m else 1)" ||
        fail "$kind on $np ranks: partitions $(grep partitions sorted/summary.json) not within 10% of the mean"
    fi
  done
done
# Equal keys go in the order of the whole records' bytes, so the output
# does not depend on the order in which the network delivered the blocks
# (it changed from run to run where keys repeat): on one rank it is GNU
# sort's (the key, then the whole line); on 4 ranks, in memory and with
# spills, keyidx and radix, every run gives the same bytes.
/usr/bin/python3 -c "
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
for i in range(len(d) // 100):
    d[i * 100:i * 100 + 10] = (b'KEYAAAAAAA', b'KEYBBBBBBB', b'KEYCCCCCCC')[i * 7 % 3]
open(sys.argv[2], 'wb').write(d)" in/ascii/a dupa.dat || fail "making ascii records of 3 keys"
rm -rf sorted
expect_rc 0 $MPIRUN -np 1 $SLUICE sort --input dupa.dat --output sorted --tmp tmp
LC_ALL=C sort dupa.dat | cmp -s - sorted/part-00000 || fail "equal keys on 1 rank: not GNU sort's order"
first=""
for run in "1" "2 --mem 1M" "3 --mem 1M" "4 --mem 1M --algo radix" "5 --algo radix"; do
  rm -rf sorted
  # shellcheck disable=SC2086
  expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input dupa.dat --output sorted --tmp tmp $(echo "$run" | cut -s -d' ' -f2-)
  sum=$(cat sorted/part-* | cksum)
  [ -n "$first" ] || first=$sum
  [ "$sum" = "$first" ] || fail "equal keys on 4 ranks: run $run gave other bytes than run 1"
done
# The external path: data 6 MB, --mem 1M per rank: runs are spilled and merged.
$SLUICE gensort -s 60000 big.dat || fail gensort
insum=$(checksum big.dat)
for np in 1 2 4; do
  rm -rf sorted
  # -q on 2 ranks: nothing on stderr, and summary.json still complete
  q=""; [ $np -eq 2 ] && q=-q
  expect_rc 0 $MPIRUN -np $np $SLUICE sort $q --input big.dat --output sorted --tmp tmp --mem 1M
  [ -z "$q" ] || [ ! -s "$T/err" ] || fail "sort -q wrote to stderr: $(cat "$T/err")"
  grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "--mem 1M on $np ranks ($q): summary checksum"
  grep -q '"runs": 0,' sorted/summary.json && fail "--mem 1M on $np ranks did not spill"
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "external sort on $np ranks lost records: $(cat "$T/err") insum $insum"
  [ -z "$(ls tmp)" ] || fail "spill files left in --tmp: $(ls tmp)"
done
# More runs than the soft limit of open files allows (the merge opens each
# run twice; 1024 is a common limit): the soft limit is raised up to the
# hard one instead of failing after the whole map ("Too many open files").
# --mem 1 makes runs of 1000 records: 150 runs, 300 descriptors.
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 1024 ]; then
  $SLUICE gensort -s 150000 f150.dat || fail gensort
  rm -rf sorted
  expect_rc 0 sh -c 'ulimit -Sn 200 && exec "$@"' sh $MPIRUN -np 1 $SLUICE sort --input f150.dat --output sorted \
    --tmp tmp --mem 1
  grep -q '"runs": 1[0-9][0-9],' sorted/summary.json || fail "--mem 1: not 100-199 runs: $(cat sorted/summary.json)"
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$(checksum f150.dat)" ] || fail "150 runs under ulimit -Sn 200"
  [ -z "$(ls tmp)" ] || fail "spill files left in --tmp: $(ls tmp)"
else
  echo "SKIP: runs beyond the soft limit of open files (hard limit $(ulimit -Hn) below 1024)"
fi
# Ranks with different budgets (the default --mem differs across nodes
# with other RAM or ranks per node) agree on the block size: 40M gives
# 750 KB blocks, 80M 1 MB ones, and a block must fit the receiver's buffers.
rm -rf sorted
expect_rc 0 timeout 120 $MPIRUN -np 1 $SLUICE sort --mem 40M --input big.dat --output sorted : \
  -np 1 $SLUICE sort --mem 80M --input big.dat --output sorted
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "ranks with different --mem lost records"
# Uneven partitions from a tiny sample (--samples 4): a rank receives more
# than it planned for, so the buffer it kept in memory for the merge is
# spilled after all.
rm -rf sorted
expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input big.dat --output sorted --tmp tmp --mem 1M --samples 4
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "external sort with uneven partitions lost records"
[ -z "$(ls tmp)" ] || fail "spill files left in --tmp: $(ls tmp)"
# Direct-I/O reads (--direct-read) on files of uneven sizes, chunks across
# file boundaries included (small --chunk).
for np in 1 2 4; do
  rm -rf sorted
  expect_rc 0 $MPIRUN -np $np $SLUICE sort --direct-read --chunk 300K --input in/uneven in/skewed --output sorted
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$(checksum in/uneven/* in/skewed/a)" ] || fail "--direct-read on $np ranks"
done
# Node-local inputs (--local, %r = rank), as on node-local scratch.
for np in 2 4; do
  rm -rf sorted loc.*
  expect_rc 0 $MPIRUN -np $np $SLUICE gensort --parts 9000 loc
  expect_rc 0 $MPIRUN -np $np $SLUICE sort --local --input 'loc.%r' --output sorted
  expect_rc 0 $SLUICE valsort sorted/part-*
  cat loc.* >locall
  [ "$(grep '^Checksum:' "$T/err")" = "$(checksum locall)" ] ||
    fail "--local on $np ranks lost records"
done
# --local shares of very different sizes and key ranges (printable keys on
# ranks 0 and 3, 2000 records each; binary keys on ranks 1 and 2, 100000
# each): samples follow the shares' sizes, so the partitions still split
# within 10% of the mean (each rank sampled alike: the largest was 1.44 x).
rm -rf sorted lu.*
$SLUICE gensort -a 2000 lu.0 && $SLUICE gensort 100000 lu.1 && $SLUICE gensort -b100000 100000 lu.2 &&
  $SLUICE gensort -a -b2000 2000 lu.3 || fail gensort
expect_rc 0 $MPIRUN -np 4 $SLUICE sort --local --input 'lu.%r' --output sorted
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$(checksum lu.0 lu.1 lu.2 lu.3)" ] || fail "uneven --local shares lost records"
/usr/bin/python3 -c "
import json, sys
p = json.load(open('sorted/summary.json'))['partitions']
m = sum(p) / len(p)
sys.exit(0 if max(p) <= 1.10 * m and min(p) >= 0.90 * m else 1)" ||
  fail "uneven --local shares: partitions $(grep partitions sorted/summary.json) not within 10% of the mean"
# A --local rank with an empty share still receives a partition: it spills
# whole buffers from the spill thread like the others (each of its runs was
# the first run's small remainder: 221 runs on 3 ranks where one shared
# input makes 33).
rm -rf sorted ls.*
$SLUICE gensort -s 100000 ls.0 && : >ls.1 && : >ls.2 || fail gensort
expect_rc 0 $MPIRUN -np 3 $SLUICE sort --local --input 'ls.%r' --output sorted --mem 1M
runs=$(sed -n 's/.*"runs": \([0-9]*\),.*/\1/p' sorted/summary.json)
[ "$runs" -le 50 ] || fail "--local with empty shares spilled $runs runs, expected at most 50"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$(checksum ls.0)" ] || fail "--local with empty shares lost records"
# UCX_TLS is honoured: shared memory and TCP both carry the shuffle; an
# unusable choice fails cleanly on every rank instead of hanging.
ucxsum=$(checksum in/uniform/a)
for tls in sm,self tcp,self; do
  rm -rf sorted
  UCX_TLS=$tls expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in/uniform --output sorted
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$ucxsum" ] || fail "UCX_TLS=$tls lost records"
done
# An explicit --block or --chunk is used as given (the README advises
# --block 4M on InfiniBand and TCP); only the defaults are capped (1 MB,
# 8 MB).
rm -rf sorted
expect_rc 0 $MPIRUN -np 2 $SLUICE sort -v --block 4M --chunk 16M --input in/uniform --output sorted
expect_grep "blocks 4194300 B" "$T/err"
expect_grep "read-ahead 2 x 16777200 B" "$T/err" # --chunk too (it was cut to 8 MB)
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$ucxsum" ] || fail "--block 4M lost records"
# The report names the in-memory sort that ran: --algo radix was reported
# as "sort (key index)"
rm -rf sorted
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --algo radix --input in/uniform --output sorted
expect_grep "^  sort (radix) " "$T/err"
grep -q "key index" "$T/err" && fail "--algo radix reported as the key index sort"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$ucxsum" ] || fail "--algo radix lost records"
UCX_TLS=cma,self expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in/uniform --output sorted2
expect_grep "UCX_TLS" "$T/err"
# ... and before an earlier run's outputs are removed: sorted stays whole.
UCX_TLS=cma,self expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in/uniform --output sorted
[ -f sorted/summary.json ] && [ -f sorted/part-00001 ] || fail "a UCX that cannot start removed the earlier run's outputs"
# --mem beyond 10^18 bytes is a usage error (2^63 and more wrapped to a tiny budget).
expect_rc 2 $MPIRUN -np 2 $SLUICE sort --mem 10000000000000000000 --input in/uniform --output sorted2
expect_grep "mem" "$T/err"
# An explicit --chunk that leaves the reducer less than a quarter of --mem
# is refused, once (the reducer fell to its floor: more memory than --mem).
expect_rc 2 $MPIRUN -np 2 $SLUICE sort --mem 10M --chunk 4M --input in/uniform --output sorted2
expect_grep "leave at least a quarter for the reducer" "$T/err"
[ "$(grep -c 'error:' "$T/err")" -eq 1 ] || fail "--chunk too large: not one message: $(cat "$T/err")"
# The planning model names a bottleneck.
expect_rc 0 $SLUICE sort --plan 100T --nodes 100 --disk-read-bw 2000 --disk-write-bw 1500 --net-bw 1200 --mem 200G
expect_grep "bottleneck: " "$T/out"
expect_grep "total" "$T/out"
expect_rc 2 $SLUICE sort --plan 100T --nodes 100
expect_grep "give --disk-read-bw, --disk-write-bw, --net-bw$" "$T/err"
# --plan sorts nothing: with --input/--output it is a usage error (it
# printed the plan and exited 0 without sorting, or making OUTDIR).
expect_rc 2 $SLUICE sort --plan 1G --nodes 1 --disk-read-bw 1 --disk-write-bw 1 --net-bw 1 --input big.dat --output planned
expect_grep "plan.*sorts nothing" "$T/err"
[ ! -e planned ] || fail "--plan made OUTDIR"
# Resume after a kill: rank 1 stalls before writing; kill the job once
# part-00000 is complete; --resume must keep it (same inode) and finish,
# and remove the runs the killed rank 1 had spilled to --tmp (they stayed
# forever), but not another sort's.
sort_killed_after_part0 --input big.dat --tmp tmp --mem 1M
ino=$(stat -c %i sorted/part-00000)
ls tmp/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed rank 1 left no spilled runs: $(ls tmp)"
: >tmp/sluice-run-12345-1-0
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp --resume
[ "$(stat -c %i sorted/part-00000)" = "$ino" ] || fail "--resume rewrote the complete part-00000"
[ "$(ls tmp)" = "sluice-run-12345-1-0" ] || fail "--resume left the killed run's spills or removed another's: $(ls tmp)"
rm tmp/sluice-run-12345-1-0
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "resumed sort lost records"
grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "resumed summary checksum"
# Resuming with another rank count is refused.
expect_rc 1 $MPIRUN -np 4 $SLUICE sort --input big.dat --output sorted --resume
expect_grep "cannot resume" "$T/err"
# Resuming with other inputs of the same record count is refused (the
# earlier sort's partitions were kept as this one's: exit 0, wrong records).
$SLUICE gensort -b60000 60000 other.dat || fail gensort
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input other.dat --output sorted --tmp tmp --resume
expect_grep "cannot resume: .*other inputs" "$T/err"
[ "$(stat -c %i sorted/part-00000)" = "$ino" ] || fail "a refused --resume touched part-00000"
# A manifest of another format (an older sluice) is named as such.
cp sorted/.sluice-sort manifest.keep
printf 'SLSORT01' | dd of=sorted/.sluice-sort bs=1 conv=notrunc 2>/dev/null
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp --resume
expect_grep "another version of sluice sort (format SLSORT01" "$T/err"
cp manifest.keep sorted/.sluice-sort
# A kept partition that is not whole records is refused, naming it (it
# was counted forever).
printf x >>sorted/part-00000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp --resume
expect_grep "rank 0: cannot resume with 'sorted/part-00000': size [0-9]* is not a multiple" "$T/err"
# A kept partition short of whole records: the output would not hold the
# input's records (it exited 0 with one record lost); no summary.json.
truncate -s -101 sorted/part-00000
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp --resume
expect_grep "the partitions hold 59999 records, the input 60000" "$T/err"
[ ! -e sorted/summary.json ] || fail "a sort that lost a record wrote summary.json"
# A fresh run into a directory that holds another sort's partitions, which
# fails on rank 1, then --resume: the other sort's part-00001 must not be
# taken for this one's (it was: exit 0, unordered output).
rm -rf sorted
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in/uniform --output sorted
mkdir sorted/part-00001.tmp
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp
[ -e sorted/part-00001 ] && fail "a fresh run left the earlier sort's part-00001"
rmdir sorted/part-00001.tmp
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmp --resume
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "resume after a failed fresh run: $(cat "$T/err")"
# A run on fewer ranks than an earlier, killed one removes all of that
# run's higher partitions and their temporary names, not only those before
# the first missing one (part-00003 and part-00005.tmp stayed under part-*).
rm -rf sorted
expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input in/uniform --output sorted
rm sorted/part-00002
printf x >sorted/part-00005.tmp
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in/uniform --output sorted
[ "$(cd sorted && echo part-*)" = "part-00000 part-00001" ] || fail "partitions of the earlier run left: $(ls sorted)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$ucxsum" ] || fail "fewer ranks after a killed run: $(cat "$T/err")"
# A fresh run (no --resume) after a killed one removes the killed run's
# spilled runs too, and not another sort's; on fewer ranks, also those of
# the ranks it does not have (rank 1's stayed in --tmp for good).
sort_killed_after_part0 --input big.dat --tmp tmp --mem 1M
ls tmp/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed rank 1 left no spilled runs: $(ls tmp)"
: >tmp/sluice-run-12345-1-0
expect_rc 0 $MPIRUN -np 1 $SLUICE sort --input big.dat --output sorted --tmp tmp
[ "$(ls tmp)" = "sluice-run-12345-1-0" ] || fail "a fresh run left the killed run's spills or removed another's: $(ls tmp)"
rm tmp/sluice-run-12345-1-0
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "fresh run after a kill: $(cat "$T/err")"
echo "sort: ok"
