#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Clean-up of what an earlier, killed sort left: its spilled runs in the
# --tmp it used, when the re-run (fresh or --resume) names another --tmp or
# none; an earlier run's partitions in a node-local OUTDIR on every node,
# not only rank 0's, and its runs in a node-local --tmp whatever rank now
# runs on that node (nodes simulated by mount namespaces: ranks from
# NL_FROM on, or those in NL_RANKS, see the directory NL_B at NL_MNT).
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
$SLUICE gensort 60000 big.dat || fail gensort
insum=$($SLUICE valsort big.dat 2>&1 | grep '^Checksum:')
mkdir tmpA tmpB
# --resume with another --tmp: the killed run's runs in tmpA are removed
# (they stayed for good: the runs were looked for in the new --tmp only).
sort_killed_after_part0 --input big.dat --tmp tmpA --mem 1M
ls tmpA/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed rank 1 left no spilled runs: $(ls tmpA)"
: >tmpA/sluice-run-12345-1-0
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmpB --mem 1M --resume
[ "$(ls tmpA)" = "sluice-run-12345-1-0" ] || fail "--resume with another --tmp left the killed run's spills in the first: $(ls tmpA)"
[ -z "$(ls tmpB)" ] || fail "spills left in the new --tmp: $(ls tmpB)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "resume with another --tmp: $(cat "$T/err")"
# ... and a resume killed again in its new --tmp, resumed with the first:
# the runs of the second --tmp are found too.
sort_killed_after_part0 --input big.dat --tmp tmpA --mem 1M
sort_killed_resume() { # like sort_killed_after_part0, for a --resume whose part-00000 is kept
  $MPIRUN -np 2 $SLUICE sort --output sorted --test-stall-ms 30000 "$@" >run2.log 2>&1 &
  _mpid=$!
  _i=0
  while ! ls tmpB/sluice-run-*-1-* >/dev/null 2>&1 && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
  sleep 0.5
  for _p in $(pgrep -P $_mpid); do kill -9 "$_p"; done
  kill -9 $_mpid 2>/dev/null
  wait $_mpid 2>/dev/null
}
sort_killed_resume --input big.dat --tmp tmpB --mem 1M --resume
ls tmpB/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed resume left no spilled runs in tmpB: $(ls tmpB) $(cat run2.log)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --tmp tmpA --mem 1M --resume
[ -z "$(ls tmpB)" ] || fail "a second --resume left the first resume's spills in its --tmp: $(ls tmpB)"
[ "$(ls tmpA)" = "sluice-run-12345-1-0" ] || fail "spills left in tmpA: $(ls tmpA)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "second resume: $(cat "$T/err")"
# A fresh run without --tmp (runs in OUTDIR) after a run killed with
# --tmp tmpA: tmpA's runs are removed.
sort_killed_after_part0 --input big.dat --tmp tmpA --mem 1M
ls tmpA/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed rank 1 left no spilled runs: $(ls tmpA)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted
[ "$(ls tmpA)" = "sluice-run-12345-1-0" ] || fail "a fresh run without --tmp left the killed run's spills in its --tmp: $(ls tmpA)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "fresh run: $(cat "$T/err")"
# A kept partition that is not this sort's (another file of the same record
# count under its name: here another sort's partition 0, and unsorted
# records) is refused on --resume; it was kept, exit 0, output out of order.
sort_killed_after_part0 --input big.dat --mem 1M
n0=$(stat -c %s sorted/part-00000)
head -c "$n0" big.dat >other.dat
expect_rc 0 $SLUICE sort --input other.dat --output other
cp other/part-00000 sorted/part-00000
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --mem 1M --resume
expect_grep "rank 0: cannot resume with 'sorted/part-00000': it is not partition 0 of this sort" "$T/err"
cp other.dat sorted/part-00000
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input big.dat --output sorted --mem 1M --resume
expect_grep "rank 0: cannot resume with 'sorted/part-00000': it is not partition 0 of this sort" "$T/err"
[ ! -e sorted/summary.json ] || fail "a refused resume wrote summary.json"
# Inputs changed after the killed run where the fingerprint does not look
# (one record of partition 0, not among the 65 sampled): --resume kept
# part-00000 with the old record, exit 0, the output not the input's
# records. The map counts what it would send to each kept partition and
# the partition must hold just that.
cp big.dat chg.dat
sort_killed_after_part0 --input chg.dat --mem 1M
/usr/bin/python3 - chg.dat sorted/part-00000 <<'EOP' || fail "changing a record of partition 0"
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
p0 = open(sys.argv[2], 'rb').read()
last = p0[-100:-90]
for i in range(1, 900):  # fingerprint samples: records 0, 937, 1874, ...
    if d[i * 100:i * 100 + 10] < last:
        d[i * 100 + 50] ^= 0x55
        open(sys.argv[1], 'wb').write(d)
        sys.exit(0)
sys.exit(1)
EOP
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input chg.dat --output sorted --mem 1M --resume
expect_grep "rank 0: cannot resume with 'sorted/part-00000': it holds [0-9]* records, the inputs now give partition 0 [0-9]* (the same number, other records)" "$T/err"
[ ! -e sorted/summary.json ] || fail "a refused resume wrote summary.json"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input chg.dat --output sorted --mem 1M
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$($SLUICE valsort chg.dat 2>&1 | grep '^Checksum:')" ] || fail "fresh run after a refused resume"
# --tmp in an input directory: a re-run took the killed run's spilled runs
# there for inputs, then removed them as stale ("cannot open input
# 'in2/sluice-run-...'"); they are left out of the directory's files.
rm -rf in2 && mkdir in2 && cp big.dat in2/
sort_killed_after_part0 --input in2 --tmp in2 --mem 1M
ls in2/sluice-run-*-1-* >/dev/null 2>&1 || fail "the killed rank 1 left no spilled runs: $(ls in2)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in2 --output sorted --tmp in2 --mem 1M
[ "$(ls in2)" = "big.dat" ] || fail "spilled runs left in --tmp in2: $(ls in2)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "--tmp in the input directory: $(cat "$T/err")"
# Node-local OUTDIR: ranks >= NL_FROM run in a mount namespace of their
# own where OUTDIR is NL_B (another node's disk under the same path).
unshare -m sh -c 'mount --bind "$0" "$0"' "$T" 2>/dev/null || { echo "no mount namespaces: node-local part skipped"; exit 77; }
cat >nl.sh <<'EOS'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-0}
if [ "$r" -ge "${NL_FROM:-999999}" ] || case " ${NL_RANKS:-} " in *" $r "*) true ;; *) false ;; esac; then
  exec unshare -m sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$NL_B" "$NL_MNT" "$@"
fi
exec "$@"
EOS
chmod +x nl.sh
mkdir -p nodeB loc
export NL_B="$T/nodeB" NL_MNT="$T/loc"
# An earlier run on 4 ranks, ranks 2 and 3 on node B; then one on 2 ranks,
# rank 1 on node B: node B's part-00002 and part-00003 (and a summary.json
# of a run whose rank 0 was there) stayed beside this run's part-00001.
expect_rc 0 env NL_FROM=2 $MPIRUN -np 4 -x NL_FROM -x NL_B -x NL_MNT ./nl.sh $SLUICE sort --input big.dat --output loc
[ "$(cd nodeB && echo part-*)" = "part-00002 part-00003" ] || fail "node B after 4 ranks: $(ls nodeB)"
printf x >nodeB/summary.json
printf x >nodeB/part-00001.tmp
expect_rc 0 env NL_FROM=1 $MPIRUN -np 2 -x NL_FROM -x NL_B -x NL_MNT ./nl.sh $SLUICE sort --input big.dat --output loc
[ "$(cd nodeB && echo *)" = "part-00001" ] || fail "an earlier run's files left in node B's OUTDIR: $(ls nodeB)"
[ "$(cd loc && echo part-*)" = "part-00000" ] || fail "node A's OUTDIR: $(ls loc)"
expect_rc 0 $SLUICE valsort loc/part-00000 nodeB/part-00001
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "node-local OUTDIR: $(cat "$T/err")"
# Node-local --tmp: a run killed with rank 1 on node B (its runs in B's
# --tmp), resumed with rank 0 there and rank 1 on node A: B's runs went
# unremoved for good (each rank removed only its own rank's).
mkdir -p tmpnode tmpB2 && rm -rf sorted
NL_RANKS=1 NL_B="$T/tmpB2" NL_MNT="$T/tmpnode" $MPIRUN -np 2 -x NL_RANKS -x NL_B -x NL_MNT ./nl.sh \
  $SLUICE sort --input big.dat --output sorted --tmp tmpnode --mem 1M --test-stall-ms 30000 >run.log 2>&1 &
mpid=$!
i=0
while [ ! -e sorted/part-00000 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
for p in $(pgrep -P $mpid); do kill -9 "$p"; done
kill -9 $mpid 2>/dev/null
wait $mpid 2>/dev/null
ls tmpB2/sluice-run-*-1-* >/dev/null 2>&1 || fail "rank 1 left no spilled runs on node B: $(ls tmpB2) $(cat run.log)"
expect_rc 0 env NL_RANKS=0 NL_B="$T/tmpB2" NL_MNT="$T/tmpnode" $MPIRUN -np 2 -x NL_RANKS -x NL_B -x NL_MNT ./nl.sh \
  $SLUICE sort --input big.dat --output sorted --tmp tmpnode --mem 1M --resume
[ -z "$(ls tmpB2)" ] || fail "the killed run's runs left in node B's --tmp: $(ls tmpB2)"
expect_rc 0 $SLUICE valsort sorted/part-*
[ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "node-local --tmp resume: $(cat "$T/err")"
echo "sort_clean: ok"
