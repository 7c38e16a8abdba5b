#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sluice rl benchmarks on this machine, printed as figures and ratios:
#  1. CartPole-v1 on 2 ranks (CleanRL's global batch: 2 envs per rank x 128
#     steps): steps until return_mean first reaches 475, wall time, env
#     steps/s with PPO included (goals: <= 500k steps, >= 100k steps/s).
#  2. The same algorithm in PyTorch + NumPy (bench/rl/ppo_torch.py, CleanRL's
#     ppo.py) on the same cores: steps/s ratio (goal >= 20x).
#  3. Acrobot-v1 >= -100 within 500k steps; Pendulum-v1 >= -250 within 1M.
#  4. DD-PPO scaling 1 -> 2 ranks (4 envs per rank), and a straggler (rank 1
#     made ~2x slower by the test hook): throughput with preemption vs without.
# Medians of BENCH_REPS runs (default 3; the PyTorch peer: BENCH_PEER_REPS,
# default 1, over BENCH_PEER_STEPS steps, default 51200).
# Usage: bench/rl/run.sh [BUILDDIR]   (needs ./sluice built; python3-torch,
# python3-numpy for the peer: apt-get install python3-torch python3-numpy)
set -u
B=${1:-.}
. "$(dirname "$0")/../sluice-bin.sh"
sluice_bin "$B"
SLUICE=$SLUICE_BIN
[ -x "$SLUICE" ] || { echo "bench/rl: build sluice first ($SLUICE missing)" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe"
REPS=${BENCH_REPS:-3}
PREPS=${BENCH_PEER_REPS:-1}
PSTEPS=${BENCH_PEER_STEPS:-51200}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-rl-XXXXXX")
trap 'rm -rf "$T"' EXIT

# Wall-clock rates depend on what else runs on the machine; steps per
# CPU-second (all ranks' or threads' CPU time) are printed beside them.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# json FILE KEY: a number from a summary.json
json() { sed -n "s/.*\"$2\": \([-0-9.e+]*\).*/\1/p" "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# train NP OUT ARGS...: run and keep summary.json
train() { np=$1; out=$2; shift 2; $MPIRUN -np "$np" "$SLUICE" rl train -q --out "$out" "$@" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; echo "bench/rl: run failed: $*" >&2; exit 1; }; }

echo "sluice rl benchmark on $(getconf _NPROCESSORS_ONLN) cores ($(uname -m)), $(date -u +%Y-%m-%dT%H:%MZ), medians of $REPS"

# 1. CartPole-v1, 2 ranks
: > "$T/c.reach"; : > "$T/c.secs"; : > "$T/c.sps"; : > "$T/c.cps"
for s in $(seq 1 "$REPS"); do
  train 2 "$T/c$s" --env CartPole-v1 --envs-per-rank 2 --total-steps 500000 --seed "$s"
  json "$T/c$s/summary.json" first_reach_step >> "$T/c.reach"
  json "$T/c$s/summary.json" seconds >> "$T/c.secs"
  json "$T/c$s/summary.json" sps >> "$T/c.sps"
  json "$T/c$s/summary.json" steps_per_cpu_second >> "$T/c.cps"
done
reach=$(median < "$T/c.reach"); secs=$(median < "$T/c.secs"); sps2=$(median < "$T/c.sps"); cps2=$(median < "$T/c.cps")
echo "1. CartPole-v1, 2 ranks x 2 envs: return_mean >= 475 first at step $reach (runs: $(tr '\n' ' ' < "$T/c.reach")); 500k steps in $secs s; $sps2 steps/s; $cps2 steps per CPU-second"

# 2. PyTorch + NumPy peer on the same 2 cores
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  : > "$T/p.sps"; : > "$T/p.cps"
  for s in $(seq 1 "$PREPS"); do
    /usr/bin/python3 "$HERE/ppo_torch.py" --total-steps "$PSTEPS" --seed "$s" --threads 2 > "$T/p$s.json" || exit 1
    json "$T/p$s.json" sps >> "$T/p.sps"
    json "$T/p$s.json" steps_per_cpu_second >> "$T/p.cps"
  done
  psps=$(median < "$T/p.sps"); pcps=$(median < "$T/p.cps")
  echo "2. PyTorch+NumPy CleanRL ppo.py, 1 process x 2 threads, $PSTEPS steps: $psps steps/s, $pcps steps per CPU-second"
  echo "   sluice/peer: $(awk -v a="$sps2" -v b="$psps" 'BEGIN{printf "%.1f", a/b}')x wall-clock, $(awk -v a="$cps2" -v b="$pcps" 'BEGIN{printf "%.1f", a/b}')x per CPU-second"
else
  echo "2. PyTorch peer skipped: install python3-torch python3-numpy (Debian) to run it"
fi

# 3. Acrobot and Pendulum, 2 ranks
train 2 "$T/a" --env Acrobot-v1 --envs-per-rank 2 --total-steps 500000
echo "3. Acrobot-v1, 2 ranks x 2 envs, 500k steps: return_mean $(json "$T/a/summary.json" return_mean), >= -100 first at step $(json "$T/a/summary.json" first_reach_step), $(json "$T/a/summary.json" seconds) s"
train 2 "$T/p" --env Pendulum-v1 --envs-per-rank 2 --total-steps 1000000
echo "   Pendulum-v1, 2 ranks x 2 envs, 1M steps: return_mean $(json "$T/p/summary.json" return_mean), >= -250 first at step $(json "$T/p/summary.json" first_reach_step), $(json "$T/p/summary.json" seconds) s"

# 4. Scaling 1 -> 2 ranks at 4 envs per rank (same work per rank), and a straggler
: > "$T/s1"; : > "$T/s2"
for s in $(seq 1 "$REPS"); do
  train 1 "$T/one$s" --env CartPole-v1 --envs-per-rank 4 --total-steps 200000 --seed "$s"
  json "$T/one$s/summary.json" sps >> "$T/s1"
  train 2 "$T/two$s" --env CartPole-v1 --envs-per-rank 4 --total-steps 400000 --seed "$s"
  json "$T/two$s/summary.json" sps >> "$T/s2"
done
s1=$(median < "$T/s1"); s2=$(median < "$T/s2")
echo "4. DD-PPO scaling, 4 envs per rank: 1 rank $s1 steps/s, 2 ranks $s2 steps/s: $(awk -v a="$s2" -v b="$s1" 'BEGIN{printf "%.2f", a/b}')x"
# Straggler: rank 1 spins one normal update's time spread over its rollout
# steps (so its iterations take about twice as long).
delay=$(awk -v s="$s1" 'BEGIN{printf "%d", 1e6 * 512 / s / 128}')
: > "$T/on"; : > "$T/off"; : > "$T/pre"
for s in $(seq 1 "$REPS"); do
  train 2 "$T/on$s" --env CartPole-v1 --envs-per-rank 4 --total-steps 200000 --seed "$s" \
    --preempt --preempt-workers 0.4 --test-straggler-rank 1 --test-delay-us "$delay"
  json "$T/on$s/summary.json" sps >> "$T/on"; json "$T/on$s/summary.json" preempted >> "$T/pre"
  train 2 "$T/off$s" --env CartPole-v1 --envs-per-rank 4 --total-steps 200000 --seed "$s" \
    --no-preempt --test-straggler-rank 1 --test-delay-us "$delay"
  json "$T/off$s/summary.json" sps >> "$T/off"
done
on=$(median < "$T/on"); off=$(median < "$T/off")
echo "   straggler (rank 1 +${delay} us per step): with preemption $on steps/s ($(median < "$T/pre") rollouts cut), without $off steps/s: $(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.2f", a/b}')x"
echo "5. GPU: not measured here (no GPU on this machine); see the README"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
