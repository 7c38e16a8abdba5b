#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Benchmarks of sluice's shuffle component against peers, side by side on the
# same data and cores, medians of REPS runs; ratios printed.
#  1. in memory, 2 ranks: `sluice sort` vs `LC_ALL=C sort -S 50% --parallel=2`
#     on the same records in -a form (wall clock of each whole command);
#     the sort phase vs ips4o's parallel sort on 2 threads (libips4o-dev).
#  2. external (data = 4 x the total --mem, EXT_RECS records: 1 GB by
#     default, so that start-up is not a fifth of the time as it is at 200 MB):
#     time vs this run's disk bound, bandwidths measured here with dd and
#     direct I/O just before each sort, input dropped from the page cache.
#  3. gensort and valsort throughput per rank, 1 -> 2 rank scaling of all three.
# usage: bench/shuffle/run.sh [BUILDDIR]
#   (env: RECS=2000000 EXT_RECS=5*RECS REPS=3 DIR=scratch dir PARTS="1 2 3")
set -eu
B=$(cd "${1:-.}" && pwd)
. "$(dirname "$0")/../sluice-bin.sh"
sluice_bin "$B"
S=$SLUICE_BIN
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RECS=${RECS:-2000000}
EXT_RECS=${EXT_RECS:-$((RECS * 5))}
PARTS=${PARTS:-"1 2 3"}
REPS=${REPS:-3}
DIR=${DIR:-$(mktemp -d "${TMPDIR:-/var/tmp}/sluice-bench-XXXXXX")}
mkdir -p "$DIR"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe"
trap 'rm -rf "$DIR"' EXIT
[ -x "$S" ] || { echo "build sluice first (no $S)"; exit 1; }
med() { /usr/bin/python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { /usr/bin/python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
wall() { # wall seconds of a command; its CPU seconds (user+sys, children too) in $DIR/last.cpu
  /usr/bin/time -f "%e %U %S" -o "$DIR/last.time" "$@" >/dev/null 2>"$DIR/last.err" || { cat "$DIR/last.err"; exit 1; }
  awk '{printf "%.3f\n", $2 + $3}' "$DIR/last.time" >"$DIR/last.cpu"
  awk '{print $1}' "$DIR/last.time"
}
MB=$((RECS / 10000))
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); data $MB MB ($RECS records); scratch $DIR"

$S gensort -a "$RECS" "$DIR/in.dat"
if echo "$PARTS" | grep -q 1; then
echo "== 1. in memory, 2 ranks, $MB MB of -a records"
ts=""; tg=""; ti=""; cs=""; cg=""; td=""
for r in $(seq "$REPS"); do
  rm -rf "$DIR/out"
  ts="$ts $(wall $MPIRUN -np 2 "$S" sort --input "$DIR/in.dat" --output "$DIR/out" --tmp "$DIR")"
  cs="$cs $(cat "$DIR/last.cpu")"
  ti="$ti $(/usr/bin/python3 -c "import json; print(json.load(open('$DIR/out/summary.json'))['seconds']['total'])")"
  tg="$tg $(wall env LC_ALL=C sort -S 50% --parallel=2 "$DIR/in.dat" -o "$DIR/gnu.out")"
  cg="$cg $(cat "$DIR/last.cpu")"
  # the same with its output made durable, as sluice's is (fsync by coreutils' sync FILE)
  rm -f "$DIR/gnu.out"
  td="$td $(wall sh -c "LC_ALL=C sort -S 50% --parallel=2 '$DIR/in.dat' -o '$DIR/gnu.out' && sync '$DIR/gnu.out'")"
done
cat "$DIR"/out/part-* | cmp -s - "$DIR/gnu.out" && same="identical output" || same="OUTPUT DIFFERS"
ms=$(med $ts); mi=$(med $ti); mg=$(med $tg); mcs=$(med $cs); mcg=$(med $cg)
echo "sluice sort (mpirun -np 2, whole command): ${ms} s wall, ${mcs} s CPU   (inside the job: ${mi} s)"
echo "GNU sort -S 50% --parallel=2:              ${mg} s wall, ${mcg} s CPU   ($same)"
echo "RATIO sluice/GNU speedup: $(ratio "$mg" "$ms")x wall (whole command), $(ratio "$mg" "$mi")x wall (inside the job), $(ratio "$mcg" "$mcs")x CPU time (goal >= 5x)"
md=$(med $td)
echo "GNU sort, then sync of its output:         ${md} s wall: sluice is $(ratio "$md" "$ms")x faster with both outputs durable"
rm -f "$DIR/gnu.out"

echo "== 1b. in-memory sort phase vs ips4o (2 ranks vs 2 threads, same records)"
if [ -f /usr/include/ips4o.hpp ]; then
  mpicc -O2 -march=native -I"$SRC/src" -I"$SRC/src/core" -I"$SRC/src/shuffle" -I"$B" "$SRC/bench/shuffle/sortbench.c" \
    -o "$DIR/sortbench" -L"$B/.libs" -lsluice -Wl,-rpath,"$B/.libs"
  g++ -O3 -march=native -fopenmp -std=c++17 "$SRC/bench/shuffle/ips4o_bench.cpp" -o "$DIR/ips4o_bench" -latomic
  $MPIRUN -np 2 "$DIR/sortbench" "$RECS" ascii "$REPS" | tee "$DIR/sb.txt"
  OMP_NUM_THREADS=2 "$DIR/ips4o_bench" "$DIR/in.dat" "$REPS" | tee "$DIR/ips.txt"
  k=$(awk '/^keyidx/ {print $2}' "$DIR/sb.txt"); x=$(awk '/^radix/ {print $2}' "$DIR/sb.txt")
  i=$(awk '/^ips4o/ {print $2}' "$DIR/ips.txt")
  echo "RATIO sort phase keyidx/ips4o: $(ratio "$k" "$i")x (radix: $(ratio "$x" "$i")x) (goal >= 1.0x)"
else
  echo "SKIP: ips4o not installed (apt-get install -y libips4o-dev)"
fi

fi

if echo "$PARTS" | grep -q 2; then
EMB=$((EXT_RECS / 10000))
echo "== 2. external: $EMB MB of -a records, 4x --mem, against the disk bound"
$S gensort -a "$EXT_RECS" "$DIR/ext.dat"
# The VM's disk varies by 1.5x from minute to minute, so every repetition
# measures it again (dd, direct I/O, 512 MB written then read) just before
# its sort, and its ratio uses that minute's figures; the ratio against the
# fastest figures seen in the whole run is printed too (the stricter one).
tomb() { echo "$1" | awk '{v=$1; if ($2 ~ /^GB/) v*=1000; if ($2 ~ /^kB/) v/=1000; print v}'; }
MEM=$((EXT_RECS * 100 / 8)) # per rank: 2 ranks x MEM = data / 4
DDN=$((EXT_RECS * 100 / 4194304 + 1)) # dd: as many 4 MiB blocks as the data
# The sort's output is durable (fsync before its rename), which dd's
# direct writes are not: where the disk is virtual, they may land in the
# host's cache, and the flush comes later. So dd also writes the same bytes
# with conv=fsync (DURABLE=0 skips it), and a second ratio uses that rate
# for the bytes written: the bound of a disk whose writes must reach it.
DURABLE=${DURABLE:-1}
fr=""; fd=""; tt=""; Rmax=0; Wmax=0; bytes_r=0; bytes_w=0
for r in $(seq "$REPS"); do
  WD=""
  if [ "$DURABLE" = 1 ]; then
    dd if=/dev/zero of="$DIR/dd.test" bs=4M count=$DDN oflag=direct conv=fsync 2>"$DIR/dd.wd"
    rm -f "$DIR/dd.test"
    WD=$(tomb "$(awk '/copied/ {print $(NF-1), $NF}' "$DIR/dd.wd")")
  fi
  dd if=/dev/zero of="$DIR/dd.test" bs=4M count=$DDN oflag=direct 2>"$DIR/dd.w"
  dd if="$DIR/dd.test" of=/dev/null bs=4M iflag=direct 2>"$DIR/dd.r"
  rm -f "$DIR/dd.test"
  W=$(tomb "$(awk '/copied/ {print $(NF-1), $NF}' "$DIR/dd.w")"); R=$(tomb "$(awk '/copied/ {print $(NF-1), $NF}' "$DIR/dd.r")")
  Rmax=$(awk -v a="$R" -v b="$Rmax" 'BEGIN{print (a > b) ? a : b}'); Wmax=$(awk -v a="$W" -v b="$Wmax" 'BEGIN{print (a > b) ? a : b}')
  rm -rf "$DIR/out"
  dd if="$DIR/ext.dat" iflag=nocache count=0 2>/dev/null || true
  $MPIRUN -np 2 "$S" sort --direct-read --input "$DIR/ext.dat" --output "$DIR/out" --tmp "$DIR" --mem "$MEM" \
    --disk-read-bw "$R" --disk-write-bw "$W" 2>"$DIR/ext.err" >/dev/null || { cat "$DIR/ext.err"; exit 1; }
  p=$(sed -n 's/.*: \([0-9.]*\)% of the disk bound/\1/p' "$DIR/ext.err")
  t=$(awk '$1 == "total" {print $2}' "$DIR/ext.err")
  bytes_r=$(tomb "$(sed -n 's/.* read \([0-9.]* [kMG]B\), written.*/\1/p' "$DIR/ext.err")")
  bytes_w=$(tomb "$(sed -n 's/.*, written \([0-9.]* [kMG]B\), spilled.*/\1/p' "$DIR/ext.err")")
  dur=""
  if [ -n "$WD" ]; then
    pd=$(awk -v r="$bytes_r" -v w="$bytes_w" -v R="$R" -v W="$WD" -v t="$t" 'BEGIN{printf "%.1f", 100 * (r / R + w / W) / t}')
    dur="; $pd% of the bound with dd's durable writes ($WD MB/s)"
    fd="$fd $pd"
  fi
  echo "run $r: dd read $R MB/s, write $W MB/s; sort $t s: $p% of the disk bound$dur"
  fr="$fr $p"; tt="$tt $t"
done
grep -E "total|spilled" "$DIR/ext.err"
strict=$(awk -v r="$bytes_r" -v w="$bytes_w" -v R="$Rmax" -v W="$Wmax" -v t="$(med $tt)" 'BEGIN{printf "%.1f", 100 * (r / R + w / W) / t}')
echo "RATIO external sort / disk bound: median $(med $fr)% with each run's dd figures; ${strict}% for the median time against the fastest dd figures of the run (read $Rmax, write $Wmax MB/s) (goal >= 90%)"
[ -z "$fd" ] || echo "RATIO external sort / durable disk bound (dd conv=fsync for the writes): median $(med $fd)%"
rm -rf "$DIR/out" "$DIR/ext.dat"
fi

if echo "$PARTS" | grep -q 3; then
echo "== 3. gensort, valsort, sort: throughput per rank and 1 -> 2 ranks"
rm -rf "$DIR/out"
$MPIRUN -np 2 "$S" sort --input "$DIR/in.dat" --output "$DIR/out" --tmp "$DIR" 2>/dev/null
cat "$DIR"/out/part-* >"$DIR/sorted.dat"
for cmd in gensort valsort sort; do
  t1=""; t2=""; c1=""; c2=""
  for r in $(seq "$REPS"); do
    for np in 1 2; do
      case $cmd in
        gensort) t=$(wall $MPIRUN -np $np "$S" gensort "$RECS" "$DIR/g.dat") ;;
        valsort) t=$(wall $MPIRUN -np $np "$S" valsort "$DIR/sorted.dat") ;;
        sort) rm -rf "$DIR/out"; t=$(wall $MPIRUN -np $np "$S" sort --input "$DIR/in.dat" --output "$DIR/out" --tmp "$DIR") ;;
      esac
      if [ $np = 1 ]; then t1="$t1 $t"; c1="$c1 $(cat "$DIR/last.cpu")"; else t2="$t2 $t"; c2="$c2 $(cat "$DIR/last.cpu")"; fi
    done
  done
  m1=$(med $t1); m2=$(med $t2); k1=$(med $c1); k2=$(med $c2)
  echo "$cmd: 1 rank $m1 s wall ($(/usr/bin/python3 -c "print('%.0f' % ($MB / $m1))") MB/s per rank, $k1 CPU s), 2 ranks $m2 s wall ($(/usr/bin/python3 -c "print('%.0f' % ($MB / $m2 / 2))") MB/s per rank, $k2 CPU s); wall scaling $(ratio "$m1" "$m2")x"
done
rm -f "$DIR/g.dat"
G=$((RECS * 5))
t=$(wall "$S" gensort "$G" /dev/null)
c=$(cat "$DIR/last.cpu")
echo "gensort generation only ($((G / 10000)) MB to /dev/null, 1 rank, start-up included): $(/usr/bin/python3 -c "print('%.0f MB/s wall, %.0f MB/s per CPU second' % ($G / 1e4 / $t, $G / 1e4 / $c))") (reference gensort: ~475 MB/s per core)"
fi
