#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice sort's sample (--samples) with long keys: the gathered sample
# (ranks x samples x (key length + 8) bytes) must fit one MPI message
# (2^31-1 bytes). Without --samples the count is cut to what fits: 1 MiB
# records with a 1 MiB key on 4 ranks (4096 x 4 x (2^20 + 8) bytes before)
# and 300,000-byte keys on 2 ranks were refused as if the user had given
# --samples 4096. A --samples that does not fit is refused naming the most
# that does, and that one is accepted. The default 100-byte records sample
# as before: the partitions of a skewed input are the sizes they were.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
R=1048576
head -c $((6 * R)) /dev/urandom >big.dat || fail "making big.dat"
insum=$($SLUICE valsort --record-size $R --key-length $R big.dat 2>&1 | grep '^Checksum:')
[ -n "$insum" ] || fail "valsort big.dat: no checksum"
# check NP OFFSET LENGTH: sorted/ holds NP partitions of big.dat in order.
check() {
  [ "$(ls sorted/part-* | wc -l)" -eq "$1" ] || fail "key $2+$3 on $1 ranks: $(ls sorted)"
  expect_rc 0 $SLUICE valsort --record-size $R --key-offset "$2" --key-length "$3" sorted/part-*
  expect_grep "SUCCESS" "$T/err"
  [ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "key $2+$3 on $1 ranks lost records"
  grep -q '"records": 6,' sorted/summary.json || fail "key $2+$3 on $1 ranks: $(cat sorted/summary.json)"
}
# The automatic count: no usage error, the records sorted.
rm -rf sorted
expect_rc 0 timeout 120 $MPIRUN -np 4 $SLUICE sort --input big.dat --output sorted --record-size $R --key-length $R
grep -q -- "--samples" "$T/err" && fail "no --samples given, yet: $(cat "$T/err")"
check 4 0 $R
rm -rf sorted
expect_rc 0 timeout 120 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --record-size $R \
  --key-offset 1000 --key-length 300000
check 2 1000 300000
# A --samples that does not fit: refused, naming the most that fits
# (2^31-1 / 4 / (2^20 + 8) = 511), which is accepted; fewer than 64 a rank
# too (a rank took 64 at least whatever --samples said).
rm -rf sorted
expect_rc 2 timeout 120 $MPIRUN -np 4 $SLUICE sort --input big.dat --output sorted --record-size $R --key-length $R \
  --samples 512
expect_grep "samples 512 on 4 ranks gathers up to 2147500032 bytes of samples.*use --samples 511 or fewer" "$T/err"
[ ! -e sorted ] || fail "a refused --samples made OUTDIR"
for s in 511 1; do
  rm -rf sorted
  expect_rc 0 timeout 120 $MPIRUN -np 4 $SLUICE sort --input big.dat --output sorted --record-size $R --key-length $R \
    --samples $s
  check 4 0 $R
done
# The default geometry samples as before (64 blocks of 4096 / 64 samples a
# rank): the partition sizes of a skewed input on 2 and 4 ranks.
$SLUICE gensort -s 200000 in.dat || fail gensort
for spec in "2 100424, 99576" "4 50130, 50069, 49838, 49963"; do
  np=${spec%% *} sizes=${spec#* }
  rm -rf sorted
  expect_rc 0 timeout 120 $MPIRUN -np "$np" $SLUICE sort --input in.dat --output sorted
  grep -q "\"partitions\": \[$sizes\]" sorted/summary.json ||
    fail "gensort -s 200000 on $np ranks: $(grep partitions sorted/summary.json), expected [$sizes]"
done
echo "sort_samples: ok"
