#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice sort and valsort on records of other geometries (--record-size R,
# --key-offset O, --key-length L) on 1, 2 and 4 ranks, in memory and
# external (--mem 1: runs of 500-1000 records spilled and merged). The
# records are lines of R-1 printable bytes and a newline with the key at O,
# so GNU sort (stable, the whole line as field 1, the key as characters
# O+1..O+L; where the key ends at R its last byte is the newline, the same
# in every record) gives the expected bytes: with unique keys the partitions, concatenated,
# must be byte-identical to it; with duplicate keys (R=7, L=1) they must
# hold the same lines with the same key sequence, and on one rank be GNU
# sort's output without -s (equal keys by the whole line). valsort with the same
# geometry must find them in order with the input's checksum. Then bad
# geometries, an input that is not whole records, --resume with another
# geometry, and a resume after a kill.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
mkdir tmp
# gen N R O L KIND: N records on stdout. The non-key bytes spell the record
# number in base 52 first (so records differ even where keys do not), then
# letters. unique: the K = min(L, R-1-O) key characters are
# (i * 982451653 + 12345) mod 10^8 in K digits (a bijection for N < 10^8:
# the multiplier is prime to 10; the input is far from sorted), with
# leading zeros for K > 8, so that the first 8 key bytes tie and the rest
# decides (the tie-breaks of the sort and the merge); dup: one of 3
# letters, K times.
gen() {
  awk -v n="$1" -v R="$2" -v O="$3" -v L="$4" -v kind="$5" 'BEGIN {
    al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    B = al; while (length(B) < R + 60) B = B al
    K = L; if (O + K > R - 1) K = R - 1 - O
    for (i = 0; i < n; i++) {
      e = ""; x = i
      for (d = 0; d < 5; d++) { e = e substr(al, x % 52 + 1, 1); x = int(x / 52) }
      f = e substr(B, i % 26 + 1, R)
      if (kind == "dup") { c = substr("qrs", (i * 7) % 3 + 1, 1); k = ""; for (d = 0; d < K; d++) k = k c }
      else k = sprintf("%0" K "d", (i * 982451653 + 12345) % 100000000)
      printf "%s%s%s\n", substr(f, 1, O), k, substr(f, O + 1, R - 1 - O - K)
    }
  }'
}
checksum() { # checksum GEOM FILE... -> valsort's checksum line
  g=$1; shift
  # shellcheck disable=SC2086
  $SLUICE valsort $g "$@" 2>&1 | grep '^Checksum:'
}
# N R O L KIND: each geometry of the brief, about 1-2 MB.
for spec in "20000 64 4 8 unique" "60000 16 0 16 unique" "8000 200 190 10 unique" "100000 7 3 1 dup"; do
  # shellcheck disable=SC2086
  set -- $spec
  n=$1 R=$2 O=$3 L=$4 kind=$5
  geom="--record-size $R --key-offset $O --key-length $L"
  gen "$n" "$R" "$O" "$L" "$kind" >in.dat || fail "gen $spec"
  [ "$(wc -c <in.dat)" -eq $((n * R)) ] || fail "gen $spec: $(wc -c <in.dat) bytes"
  LC_ALL=C sort -s -t "$(printf '\001')" -k1.$((O + 1)),1.$((O + L)) in.dat >expect.dat
  insum=$(checksum "$geom" in.dat)
  [ -n "$insum" ] || fail "valsort $geom in.dat: no checksum"
  for np in 1 2 4; do
    for mem in "" "--mem 1"; do
      what="R=$R O=$O L=$L on $np ranks ${mem:-in memory}"
      rm -rf sorted
      # shellcheck disable=SC2086
      expect_rc 0 $MPIRUN -np $np $SLUICE sort --input in.dat --output sorted --tmp tmp $geom $mem
      [ "$(ls sorted/part-* | wc -l)" -eq $np ] || fail "$what: $(ls sorted)"
      grep -q "\"record_size\": $R," sorted/summary.json && grep -q "\"key_offset\": $O," sorted/summary.json &&
        grep -q "\"key_length\": $L," sorted/summary.json || fail "$what: geometry in $(cat sorted/summary.json)"
      grep -q "\"bytes\": $((n * R))," sorted/summary.json || fail "$what: bytes in summary.json"
      if [ -n "$mem" ]; then
        grep -q '"runs": 0,' sorted/summary.json && fail "$what did not spill"
      fi
      # Splitters sampled from the key at O and records routed by it: the
      # partitions come within 20% of the mean (a sort that routed by other
      # bytes could still be in order, all in one partition).
      if [ "$kind" = unique ]; then
        /usr/bin/python3 -c "
import json, sys
p = json.load(open('sorted/summary.json'))['partitions']
m = sum(p) / len(p)
sys.exit(0 if max(p) <= 1.2 * m and min(p) >= 0.8 * m else 1)" ||
          fail "$what: partitions $(grep partitions sorted/summary.json) not within 20% of the mean"
      fi
      [ -z "$(ls tmp)" ] || fail "$what: spill files left: $(ls tmp)"
      # (a) valsort with the same geometry: in order, the input's checksum.
      # shellcheck disable=SC2086
      expect_rc 0 $MPIRUN -np 2 $SLUICE valsort $geom sorted/part-*
      expect_grep "SUCCESS" "$T/err"
      [ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "$what: output $(grep Checksum "$T/err"), input $insum"
      grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "$what: summary checksum"
      # (b) GNU sort.
      cat sorted/part-* >got.dat
      if [ "$kind" = unique ]; then
        cmp -s got.dat expect.dat || fail "$what: output differs from GNU sort's ($(cmp got.dat expect.dat))"
      else
        LC_ALL=C sort got.dat | cmp -s - "$(LC_ALL=C sort expect.dat >e.s && echo e.s)" ||
          fail "$what: not the input's records"
        cut -c$((O + 1))-$((O + L)) got.dat | cmp -s - "$(cut -c$((O + 1))-$((O + L)) expect.dat >e.k && echo e.k)" ||
          fail "$what: keys not in GNU sort's order"
        # equal keys in the order of the whole records' bytes: on one rank
        # GNU sort's order with its last-resort comparison of the whole line
        if [ "$np" = 1 ]; then
          LC_ALL=C sort -t "$(printf '\001')" -k1.$((O + 1)),1.$((O + L)) in.dat | cmp -s - got.dat ||
            fail "$what: equal keys not in the order of the whole records"
        fi
      fi
    done
  done
done
# --algo radix and --direct-read take the same geometry (200-byte records
# straddle pages: the reads take the enclosing aligned range; the merge
# reads whole 51-page pieces of 1024 records).
gen 8000 200 190 10 unique >d.dat
LC_ALL=C sort -s -t "$(printf '\001')" -k1.191,1.200 d.dat >d.exp
rm -rf sorted
expect_rc 0 $MPIRUN -np 3 $SLUICE sort --input d.dat --output sorted --tmp tmp --record-size 200 --key-offset 190 \
  --key-length 10 --mem 1 --algo radix --direct-read
cat sorted/part-* | cmp -s - d.exp || fail "radix/--direct-read: output differs from GNU sort's"
gen 20000 64 4 8 unique >in.dat
LC_ALL=C sort -s -t "$(printf '\001')" -k1.5,1.12 in.dat >expect.dat
geom="--record-size 64 --key-offset 4 --key-length 8"
rm -rf sorted
# shellcheck disable=SC2086
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted $geom
# valsort finds disorder with the geometry, and -o/-s are refused with it
# (their summary format is the reference's, of 100-byte records).
# shellcheck disable=SC2086
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort $geom in.dat
expect_grep "ERROR - there are [0-9]* unordered records" "$T/err"
# shellcheck disable=SC2086
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort --record-size 64 --key-offset 0 --key-length 8 sorted/part-*
expect_grep "unordered records" "$T/err"
# shellcheck disable=SC2086
expect_rc 2 $SLUICE valsort $geom -o x.sum sorted/part-00000
expect_grep "partition summaries are valsort's" "$T/err"
[ ! -e x.sum ] || fail "valsort -o with a geometry wrote a summary"
# Bad geometries: usage errors naming the options; nothing made.
for bad in "--key-offset 60 --key-length 8:--key-offset 60 + --key-length 8 = 68 is beyond the 64-byte record" \
  "--key-length 0:--key-length" "--record-size 2000000:--record-size"; do
  args="--record-size 64 ${bad%%:*}"
  # shellcheck disable=SC2086
  expect_rc 2 $MPIRUN -np 2 $SLUICE sort --input in.dat --output badout $args
  expect_grep "${bad#*:}" "$T/err"
  [ ! -e badout ] || fail "sort $args made OUTDIR"
  # shellcheck disable=SC2086
  expect_rc 2 $MPIRUN -np 2 $SLUICE valsort $args in.dat
  expect_grep "${bad#*:}" "$T/err"
done
# An input that is not whole records (1280000 bytes are not a multiple of
# 48): refused naming the file and the rank, nothing made.
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in.dat --output badout --record-size 48
expect_grep "rank 0: input 'in.dat': size 1280000 is not a multiple of the 48-byte record size" "$T/err"
[ ! -e badout ] || fail "a refused input made OUTDIR"
expect_rc 1 $MPIRUN -np 2 $SLUICE valsort --record-size 48 in.dat
expect_grep "rank 0: input 'in.dat': size 1280000 is not a multiple of the 48-byte record size" "$T/err"
# --local: each rank's own input, checked by that rank.
head -c 640000 in.dat >loc.0 && tail -c 640000 in.dat >loc.1 && head -c 1000 in.dat >loc.2
# shellcheck disable=SC2016
expect_rc 1 $MPIRUN -np 3 $SLUICE sort --local --input 'loc.%r' --output badout $geom
expect_grep "rank 2: input 'loc.2': size 1000 is not a multiple of the 64-byte record size" "$T/err"
rm loc.2
# shellcheck disable=SC2016,SC2086
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --local --input 'loc.%r' --output sorted $geom
cat sorted/part-* | cmp -s - expect.dat || fail "--local with a geometry: output differs from GNU sort's"
# shellcheck disable=SC2086
expect_rc 0 $MPIRUN -np 2 $SLUICE valsort --local $geom 'sorted/part-%R'
expect_grep "SUCCESS" "$T/err"
# Resume: kill an external sort once part-00000 is complete (rank 1 stalls);
# --resume with another geometry is refused, naming the manifest's, and
# touches nothing; with the same one it keeps part-00000 and completes.
# shellcheck disable=SC2086
sort_killed_after_part0 --input in.dat --tmp tmp --mem 1 $geom
ino=$(stat -c %i sorted/part-00000)
cp sorted/.sluice-sort manifest.keep
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --resume --record-size 64 \
  --key-offset 0 --key-length 8
expect_grep "rank 0: cannot resume: 'sorted/.sluice-sort' was written by a sort of --record-size 64 --key-offset 4 --key-length 8, not 64/0/8" "$T/err"
cmp -s sorted/.sluice-sort manifest.keep || fail "a refused --resume changed the manifest"
[ "$(stat -c %i sorted/part-00000)" = "$ino" ] || fail "a refused --resume touched part-00000"
# The default geometry reads the same file as 100-byte records: refused too.
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --resume
expect_grep "cannot resume: .*--record-size 64 --key-offset 4 --key-length 8, not 100/0/10" "$T/err"
# shellcheck disable=SC2086
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --resume --mem 1 $geom
[ "$(stat -c %i sorted/part-00000)" = "$ino" ] || fail "--resume rewrote the complete part-00000"
cat sorted/part-* | cmp -s - expect.dat || fail "resumed sort: output differs from GNU sort's"
grep -q "\"checksum\": \"$(checksum "$geom" in.dat | sed 's/Checksum: //')\"" sorted/summary.json ||
  fail "resumed sort: summary checksum"
# A kept partition that is not whole records of R bytes is refused, naming it.
printf x >>sorted/part-00000
# shellcheck disable=SC2086
expect_rc 1 timeout 60 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --resume $geom
expect_grep "rank 0: cannot resume with 'sorted/part-00000': size [0-9]* is not a multiple of the 64-byte record size" "$T/err"
# Large records whose partition fits in memory are sorted there, read and
# written once: 150 records of 100 KB (15 MB) with --mem 64M (a 51 MB
# buffer). The slack the plan allowed beyond the partition was 1000
# records whatever their size (100 MB here), so it went external and
# spilled a run.
head -c 15000000 /dev/urandom >r100k.dat
rm -rf sorted
expect_rc 0 $MPIRUN -np 1 $SLUICE sort --input r100k.dat --output sorted --record-size 100000 --mem 64M
grep -q '"runs": 0,' sorted/summary.json || fail "a 15 MB partition spilled with --mem 64M: $(cat sorted/summary.json)"
expect_rc 0 $SLUICE valsort --record-size 100000 sorted/part-00000
expect_grep "^Records: 150$" "$T/err"
echo "sort_geom: ok"
