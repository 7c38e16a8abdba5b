#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A stop (SIGUSR1) during the merge keeps the map's work: complete
# partitions stay, the others' runs are kept in --tmp and listed in a run
# manifest, exit 75; --resume then merges them without reading the inputs
# (an input changed everywhere but where the fingerprint samples would give
# another checksum) and removes them. A kill -9 (no run manifest) or a
# missing run falls back to the map; a kill -9 during a resumed merge
# keeps the runs for the next resume.
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
checksum() { # checksum FILE... -> valsort's checksum line
  $SLUICE valsort "$@" 2>&1 | grep '^Checksum:'
}
# same_fp_other IN OUT: OUT of IN's size with IN's records where the
# manifest's fingerprint samples them (65, evenly spread) and every other
# record changed: a sort that reads OUT gives another checksum.
same_fp_other() {
  /usr/bin/python3 -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
n = len(b) // 100
keep = {(n - 1) * k // 64 for k in range(65)}
for i in range(n):
    if i not in keep:
        b[i * 100 + 50] ^= 0xff
open(sys.argv[2], 'wb').write(b)" "$1" "$2" || fail "making $2"
}
# stopped_as NP: after a stop, part-00000 alone is complete, no .tmp is
# left, partitions 1..NP-1 have a run manifest and runs in tmp/
stopped_as() {
  [ "$(cd sorted && echo part-*)" = "part-00000" ] || fail "after the stop: $(ls sorted)"
  ls sorted/*.tmp >/dev/null 2>&1 && fail ".tmp left after the stop: $(ls sorted)"
  [ -e sorted/.sluice-sort-runs-00000 ] && fail "a run manifest for the complete partition 0"
  _p=1
  while [ $_p -lt "$1" ]; do
    [ -f sorted/.sluice-sort-runs-0000$_p ] || fail "no run manifest for partition $_p: $(ls -a sorted)"
    ls tmp/sluice-run-*-$_p-* >/dev/null 2>&1 || fail "rank $_p's runs are gone: $(ls tmp)"
    _p=$((_p + 1))
  done
}
# stop_in_merge MEM N: the sort on 2 ranks with --mem MEM, rank 1 stopped
# at its Nth output buffer (exit 75), then checked as stopped_as 2
stop_in_merge() {
  expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem "$1" --test-stop-buffer "$2"
  stopped_as 2
}
# resumed_from_runs WHAT: the map was skipped
resumed_from_runs() {
  expect_grep "the map is skipped" "$T/err"
  expect_grep "resumed from the runs kept at a stop: the map was skipped" "$T/err"
  grep -q '"resumed_from_runs": true,' sorted/summary.json || fail "$1: $(cat sorted/summary.json)"
  grep -q '"map_shuffle": 0.000000,' sorted/summary.json || fail "$1: map seconds: $(cat sorted/summary.json)"
}
# done_clean WHAT: the partitions in order with the original input's
# checksum, and nothing of the stop left
done_clean() {
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "$1: output $(grep '^Checksum:' "$T/err"), input $insum"
  grep -q "\"checksum\": \"${insum#Checksum: }\"" sorted/summary.json || fail "$1: summary checksum"
  ls sorted/.sluice-sort-runs-* >/dev/null 2>&1 && fail "$1: run manifests left: $(ls -a sorted)"
  ls sorted/*.tmp >/dev/null 2>&1 && fail "$1: temporary files left: $(ls sorted)"
  [ -z "$(ls tmp)" ] || fail "$1: runs left in --tmp: $(ls tmp)"
}
mkdir tmp
$SLUICE gensort -s 60000 orig.dat || fail gensort
insum=$(checksum orig.dat)
same_fp_other orig.dat other.dat
[ "$(checksum other.dat)" != "$insum" ] || fail "the changed input has the original's checksum"

# SIGUSR1 to mpirun (forwarded to the ranks, as Slurm's --signal) once
# part-00000 is complete while rank 1 waits before its merge: exit 75 (the
# stop was not acted on: rank 1 merged and the job exited 0).
cp orig.dat in.dat
rm -rf sorted
$MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stall-ms 20000 >run.out 2>run.err &
pid=$!
i=0
while [ ! -e sorted/part-00000 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -e sorted/part-00000 ] || { kill -9 $pid; fail "part-00000 never appeared: $(cat run.err)"; }
kill -USR1 $pid
wait $pid
rc=$?
[ $rc -eq 75 ] || { cat run.out run.err >&2; fail "SIGUSR1 during the merge: exit $rc, expected 75"; }
grep -q "stopped during the merge: .*--resume continues from them without running the map again" run.err ||
  fail "no word on the stop: $(cat run.err)"
stopped_as 2
ino=$(stat -c %i sorted/part-00000)
# The resume reads no input: the input now has the fingerprint's records
# and other ones elsewhere; a map would give its checksum (or refuse the
# kept part-00000).
cp other.dat in.dat
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
resumed_from_runs "USR1"
[ "$(stat -c %i sorted/part-00000)" = "$ino" ] || fail "--resume rewrote the complete part-00000"
done_clean "resume after USR1"

# Deterministic stops inside the merge (--test-stop-buffer: ranks > 0 stop
# themselves at their 3rd output buffer, part-N.tmp partly written) on 4
# ranks; a resume refused for another rank count keeps the runs; a stop
# during the resumed merge keeps them again; the next resume finishes.
cp orig.dat in.dat
rm -rf sorted
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-buffer 3
stopped_as 4
expect_rc 1 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "cannot resume" "$T/err"
stopped_as 4
cp other.dat in.dat
expect_rc 75 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume --test-stop-buffer 2
stopped_as 4
expect_rc 0 $MPIRUN -np 4 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
resumed_from_runs "4 ranks"
done_clean "4 ranks, stopped twice"

# A stop between the map's end and the safe point after it (every rank
# then stops at its first output buffer: no partition is complete); a
# kill -9 during the resumed merge, once part-00000 is renamed, leaves
# rank 1's runs and run manifest, and the next resume merges them.
cp orig.dat in.dat
rm -rf sorted
expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --test-stop-after-map
expect_grep "stopped during the merge: " "$T/err"
[ -z "$(cd sorted && ls part-* 2>/dev/null)" ] || fail "a partition complete after a stop before the merge: $(ls sorted)"
[ -f sorted/.sluice-sort-runs-00000 ] && [ -f sorted/.sluice-sort-runs-00001 ] || fail "run manifests: $(ls -a sorted)"
cp other.dat in.dat
sort_killed_after_part0 --keep --input in.dat --tmp tmp --mem 1M --resume
[ -f sorted/.sluice-sort-runs-00001 ] || fail "the kill removed rank 1's run manifest"
ls tmp/sluice-run-*-0-* >/dev/null 2>&1 && fail "rank 0's runs left after its partition was renamed: $(ls tmp)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
resumed_from_runs "kill -9 in the resumed merge"
done_clean "kill -9 in the resumed merge"

# A partition that fits in memory (no spill): the stop writes it as one
# sorted run.
cp orig.dat in.dat
rm -rf sorted
stop_in_merge 16M 2
[ "$(ls tmp | wc -l)" -eq 1 ] || fail "the in-memory partition: not one run: $(ls tmp)"
cp other.dat in.dat
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 16M --resume
resumed_from_runs "in memory"
done_clean "in memory"

# A run missing: the map runs again (from the inputs), saying why.
cp orig.dat in.dat
rm -rf sorted
stop_in_merge 1M 3
rm "$(ls tmp/sluice-run-*-1-* | head -n 1)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "partition 1 cannot be merged from spilled runs (a run its run manifest lists is missing): the map runs again" "$T/err"
grep -q '"resumed_from_runs": false,' sorted/summary.json || fail "missing run: $(cat sorted/summary.json)"
done_clean "a missing run"

# A run cut short by a record: the same.
stop_in_merge 1M 3
truncate -s -100 "$(ls tmp/sluice-run-*-1-* | tail -n 1)"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "partition 1 cannot be merged from spilled runs (a run its run manifest lists is not of the recorded size)" "$T/err"
grep -q '"resumed_from_runs": false,' sorted/summary.json || fail "short run: $(cat sorted/summary.json)"
done_clean "a short run"

# A kill -9 during the merge leaves no run manifest: the map runs again.
sort_killed_after_part0 --input in.dat --tmp tmp --mem 1M
ls sorted/.sluice-sort-runs-* >/dev/null 2>&1 && fail "a kill -9 left a run manifest"
expect_rc 0 $MPIRUN -np 2 $SLUICE sort -v --input in.dat --output sorted --tmp tmp --mem 1M --resume
expect_grep "partition 1 cannot be merged from spilled runs (it has no run manifest" "$T/err"
grep -q '"resumed_from_runs": false,' sorted/summary.json || fail "kill -9: $(cat sorted/summary.json)"
done_clean "kill -9 during the merge"

# A fresh run (no --resume) after a stop removes the kept runs and the run
# manifests.
stop_in_merge 1M 3
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmp --mem 1M
grep -q '"resumed_from_runs": false,' sorted/summary.json || fail "fresh run: $(cat sorted/summary.json)"
done_clean "a fresh run after a stop"

# Runs of a complete partition are removed wherever its run manifest says
# they are. A stop keeps runs in tmpa; a resume with --tmp tmpc, stopped
# again, keeps rank 1's there and names tmpc in the manifest; a kill
# between rank 1's rename and the removal of its runs (here: its partition
# put in place by hand); then a resume or a fresh run with --tmp tmpb: the
# runs stayed in tmpa for good (found by bench/shuffle/chaos.py).
mkdir tmpa tmpb tmpc
rm -rf sorted ref
expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output ref --mem 1M
for how in "--resume" ""; do
  rm -rf sorted
  expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmpa --mem 1M --test-stop-after-map
  expect_rc 75 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmpc --mem 1M --resume \
    --test-stop-buffer 1
  [ -e sorted/part-00000 ] && [ ! -e sorted/part-00001 ] || fail "after the second stop: $(ls sorted)"
  ls tmpa/sluice-run-*-1-* >/dev/null 2>&1 || fail "rank 1's runs are not in tmpa: $(ls tmpa)"
  cp ref/part-00001 sorted/part-00001
  # shellcheck disable=SC2086
  expect_rc 0 $MPIRUN -np 2 $SLUICE sort --input in.dat --output sorted --tmp tmpb --mem 1M $how
  [ -z "$(ls -A tmpa)$(ls -A tmpb)$(ls -A tmpc)" ] ||
    fail "runs left after a complete partition's (${how:-fresh run}): $(ls tmpa tmpb tmpc)"
  ls sorted/.sluice-sort-runs-* >/dev/null 2>&1 && fail "run manifests left (${how:-fresh run}): $(ls -a sorted)"
  expect_rc 0 $SLUICE valsort sorted/part-*
  [ "$(grep '^Checksum:' "$T/err")" = "$insum" ] || fail "${how:-fresh run}: output $(grep '^Checksum:' "$T/err")"
done
echo "sort_mresume: ok"
