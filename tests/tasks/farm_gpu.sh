#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# --gpus-per-task and --cpus-per-task without a GPU: the node's GPUs come from
# CUDA_VISIBLE_DEVICES; each task gets its own subset, and tasks running at
# the same time never share a GPU (tasks log their devices while they run).
. "$top_srcdir/tests/lib.sh"
cd "$T" || exit 1
i=0; : > cmds
while [ $i -lt 16 ]; do
  echo 'echo "$CUDA_VISIBLE_DEVICES" > gpu.$SLUICE_TASK_ID; for d in $(echo $CUDA_VISIBLE_DEVICES | tr , " "); do mkdir lock.$d || exit 9; done; sleep 0.1; for d in $(echo $CUDA_VISIBLE_DEVICES | tr , " "); do rmdir lock.$d; done' >> cmds
  i=$((i+1))
done
for np in 1 2; do
  rm -f gpu.* cmds.journal
  expect_rc 0 env CUDA_VISIBLE_DEVICES=3,5,6,7 $MPIRUN -np $np -x CUDA_VISIBLE_DEVICES "$SLUICE" farm cmds --gpus-per-task 2 --slots 4
  for f in gpu.*; do
    v=$(cat $f)
    case "$v" in
      3,5|6,7|3,6|3,7|5,6|5,7) ;;
      *) fail "$f: CUDA_VISIBLE_DEVICES='$v' is not 2 of the node's GPUs 3,5,6,7" ;;
    esac
  done
  [ "$(ls gpu.* | wc -l)" -eq 16 ] || fail "not every task ran"
done
# 3 GPUs on 2 ranks: rank 0 gets 2 (2 slots), rank 1 gets 1 (1 slot); the
# summary counts 3 slots, not 2 x 2, and the efficiency with them
rm -f cmds.journal
expect_rc 0 env CUDA_VISIBLE_DEVICES=3,5,6 $MPIRUN -np 2 -x CUDA_VISIBLE_DEVICES "$SLUICE" farm cmds --gpus-per-task 1 --slots 2
expect_grep "16 attempts on 2 ranks with 3 slots in all in" "$T/err"
# GPU UUIDs (as some sites and MIG set them) are long: the whole subset
# must reach the task, not a prefix cut at a fixed buffer size
u=GPU-12345670-89ab-cdef-0123-456789abcdef,GPU-12345671-89ab-cdef-0123-456789abcdef
u=$u,GPU-12345672-89ab-cdef-0123-456789abcdef,GPU-12345673-89ab-cdef-0123-456789abcdef
echo 'echo "$CUDA_VISIBLE_DEVICES" > uuid.$SLUICE_TASK_ID' > ucmds
expect_rc 0 env CUDA_VISIBLE_DEVICES=$u "$SLUICE" farm ucmds --gpus-per-task 4
[ "$(cat uuid.0)" = "$u" ] || fail "CUDA_VISIBLE_DEVICES='$(cat uuid.0)', expected the 4 UUIDs '$u'"
# more GPUs per task than the rank's share: a clear error on every rank count
expect_rc 1 env CUDA_VISIBLE_DEVICES=0 $MPIRUN -np 1 -x CUDA_VISIBLE_DEVICES "$SLUICE" farm cmds --gpus-per-task 2 --journal j2
expect_grep "gpus-per-task" "$T/err"
# --cpus-per-task: OMP_NUM_THREADS, and each slot pinned to its own CPUs
# when the rank has enough of them
printf 'echo "$OMP_NUM_THREADS $(grep Cpus_allowed_list /proc/self/status | cut -f2)" > cpu.$SLUICE_TASK_ID\n%.0s' 1 2 3 4 > ccmds
expect_rc 0 $MPIRUN -np 1 --bind-to none "$SLUICE" farm ccmds --cpus-per-task 1 --slots 2
for f in cpu.*; do
  read omp cpus < $f
  [ "$omp" = 1 ] || fail "$f: OMP_NUM_THREADS=$omp"
  if [ "$(nproc)" -ge 2 ]; then
    case "$cpus" in *,*|*-*) fail "$f: task not pinned to one CPU ($cpus)" ;; esac
  fi
done
# two ranks of a node with one same mask (not bound) split it: their tasks
# never get the same CPU
if [ "$(nproc)" -ge 2 ]; then
  printf 'sleep 0.2; echo "$SLUICE_RANK $(grep Cpus_allowed_list /proc/self/status | cut -f2)" > pin.$SLUICE_TASK_ID\n%.0s' $(seq 1 8) > pcmds
  expect_rc 0 $MPIRUN -np 2 --bind-to none "$SLUICE" farm pcmds --cpus-per-task 1
  r0=$(cat pin.* | awk '$1 == 0 { print $2 }' | sort -u); r1=$(cat pin.* | awk '$1 == 1 { print $2 }' | sort -u)
  for c in $r0; do
    for d in $r1; do [ "$c" = "$d" ] && fail "tasks of ranks 0 and 1 both pinned to CPU $c"; done
  done
fi
echo "farm_gpu: OK"
