#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Task farm benchmarks, each side by side with its peer in the same run, on
# the same cores; medians of REPS runs (default 3); ratios printed.
#  (a) empty tasks through the C API on 2 ranks vs mpi4py.futures (one by one
#      and in chunks of 100; rank 0 submits, rank 1 works)
#  (b) 2,000 log-normal tasks (mean 2 ms) on 2 and 4 ranks: makespan divided
#      by max(total / P, longest), for the farm and a static block partition
#  (c) 2,000 x `true` with `sluice farm` on 2 ranks (mpirun start-up
#      included) vs GNU parallel -j2
# usage: bench/tasks/run.sh [BUILDDIR]   (needs: make; python3-mpi4py and parallel
# from Debian: apt-get install -y python3-mpi4py parallel)
set -u
B=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
REPS=${REPS:-3}
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
HERE=$(cd "$(dirname "$0")" && pwd)
TINY=$B/bench/tasks/tiny
. "$(dirname "$0")/../sluice-bin.sh"
sluice_bin "$B"
SLUICE=$SLUICE_BIN
[ -x "$TINY" ] && [ -x "$SLUICE" ] || { echo "build first: make (missing $TINY or $SLUICE)" >&2; exit 1; }
have_futures=1; /usr/bin/python3 -c 'import mpi4py.futures' 2>/dev/null || { have_futures=0; echo "note: python3-mpi4py missing (apt-get install -y python3-mpi4py): skipping the mpi4py.futures peer" >&2; }
have_parallel=1; command -v parallel >/dev/null || { have_parallel=0; echo "note: GNU parallel missing (apt-get install -y parallel): skipping its peer" >&2; }
W=$(mktemp -d /tmp/sluice-bench-tasks-XXXXXX); trap 'rm -rf "$W"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "nan"}'; }

echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== (a) empty tasks, 2 ranks"
N=${TINY_N:-100000000}
for i in $(seq $REPS); do $MPIRUN -np 2 "$TINY" empty $N | field rate; done > "$W/a_farm"
farm=$(median < "$W/a_farm")
printf "  sluice C API      %12.0f tasks/s  (%s tasks; claims per run: %s)\n" "$farm" "$N" \
  "$($MPIRUN -np 2 "$TINY" empty $N | field claims)"
if [ $have_futures -eq 1 ]; then
  for i in $(seq $REPS); do $MPIRUN -np 2 /usr/bin/python3 -m mpi4py.futures "$HERE/futures_peer.py" 5000 1 | field rate; done > "$W/a_f1"
  for i in $(seq $REPS); do $MPIRUN -np 2 /usr/bin/python3 -m mpi4py.futures "$HERE/futures_peer.py" 300000 100 | field rate; done > "$W/a_f100"
  f1=$(median < "$W/a_f1"); f100=$(median < "$W/a_f100")
  printf "  mpi4py.futures    %12.0f tasks/s  one by one      -> sluice is %sx\n" "$f1" "$(ratio "$farm" "$f1")"
  printf "  mpi4py.futures    %12.0f tasks/s  chunks of 100   -> sluice is %sx\n" "$f100" "$(ratio "$farm" "$f100")"
fi
printf "  goal: >= 5,000,000 tasks/s: %s\n" "$(awk -v f="$farm" 'BEGIN {print (f >= 5e6) ? "met" : "NOT met"}')"

echo "== (b) 2,000 log-normal tasks (mean 2 ms): makespan / max(total/P, longest)"
for spec in "2 spin" "4 sleep" "4 spin"; do
  set -- $spec
  for i in $(seq $REPS); do $MPIRUN -np $1 "$TINY" lognormal 2000 2 $i $2; done > "$W/b_$1_$2"
  fr=$(field farm_ratio < "$W/b_$1_$2" | median); sr=$(field static_ratio < "$W/b_$1_$2" | median)
  fm=$(field farm_mratio < "$W/b_$1_$2" | median); sm=$(field static_mratio < "$W/b_$1_$2" | median)
  note=""; [ "$1" -gt "$(getconf _NPROCESSORS_ONLN)" ] && [ "$2" = spin ] && note="  (busy-waiting ranks > cores: not meaningful, shown for completeness)"
  [ "$2" = sleep ] && note="  (tasks sleep: $1 ranks on $(getconf _NPROCESSORS_ONLN) cores)"
  printf "  %d ranks, %-5s  farm %s   static blocks %s   (vs measured task times: farm %s, static %s)%s\n" \
    "$1" "$2" "$fr" "$sr" "$fm" "$sm" "$note"
done
echo "  goal: farm <= 1.05 (the bound in brackets uses the task times measured in the same run,"
echo "  which a loaded machine stretches for both schedules alike)"

echo "== (c) 2,000 x true, 2 ranks (mpirun start-up included)"
yes true | head -2000 > "$W/true.txt"
for i in $(seq $REPS); do
  rm -f "$W/true.txt.journal"
  t0=$(date +%s.%N); $MPIRUN -np 2 "$SLUICE" farm "$W/true.txt" -q > /dev/null 2>&1; t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f\n", 2000 / (b - a)}'
done > "$W/c_farm"
cf=$(median < "$W/c_farm")
printf "  sluice farm       %8.0f commands/s\n" "$cf"
if [ $have_parallel -eq 1 ]; then
  for i in $(seq $REPS); do
    t0=$(date +%s.%N); parallel -j2 < "$W/true.txt" > /dev/null 2>&1; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f\n", 2000 / (b - a)}'
  done > "$W/c_par"
  cp=$(median < "$W/c_par")
  printf "  GNU parallel -j2  %8.0f commands/s  -> sluice is %sx (goal >= 3x)\n" "$cp" "$(ratio "$cf" "$cp")"
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
