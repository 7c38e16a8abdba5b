#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# stop-norequeue.sh SCRIPT OUTFILE RCFILE READY: inside a private test Slurm,
# submit the sbatch SCRIPT as a job Slurm will not requeue (--no-requeue, 2
# tasks, its output in OUTFILE), wait until the shell test READY succeeds
# (the run has made progress; at most 30 s), send USR1 to the batch script
# (what --signal=B:USR1@T sends before a time limit), wait for the job's end
# and write "job exit STATUS" to RCFILE. Exit 1 when READY never succeeds.
script=$1 out=$2 rcfile=$3 ready=$4
sbatch --wait --parsable --no-requeue -n 2 -o "$out" "$script" >"$rcfile.id" &
w=$!
for i in $(seq 1 300); do eval "$ready" && break; sleep 0.1; done
if ! eval "$ready"; then
  echo "stop-norequeue: the run never got to: $ready" >&2
  cat "$out" 2>/dev/null
  scancel "$(cat "$rcfile.id")"
  wait $w
  exit 1
fi
scancel --batch --signal=USR1 "$(cat "$rcfile.id")"
wait $w
echo "job exit $?" >"$rcfile"
