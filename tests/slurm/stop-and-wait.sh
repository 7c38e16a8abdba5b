#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# stop-and-wait.sh JOBID OUTFILE DONE_PATTERN [SECONDS]: inside a private test
# Slurm, send USR1 to the job's batch script (what --signal=B:USR1@T sends
# before a time limit), then wait until DONE_PATTERN appears in OUTFILE, that
# is until the requeued job has run to its end. Slurm starts a requeued job
# after the credential lifetime (cred_expire=5 in with-slurm.sh); forcing it
# earlier races the revocation of the old credential. Exit 1 on time-out.
id=$1 out=$2 done_pat=$3 limit=${4:-120}
scancel --batch --signal=USR1 "$id" || exit 1
for i in $(seq 1 $((limit * 2))); do
  grep -q -- "$done_pat" "$out" 2>/dev/null && { sleep 1; exit 0; }
  sleep 0.5
done
echo "stop-and-wait: '$done_pat' never appeared in $out" >&2
exit 1
