#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Test driver used by `make check` for test programs (LOG_COMPILER): programs
# whose name starts with mpi_ run under mpirun with 1, 2 and 4 ranks
# (oversubscribed; SLUICE_TEST_NP overrides), others with 1 rank. Each run has
# a time limit, so a hang is a failure, not a stuck CI. Exit 77 is a skip.
prog="$1"; shift
base=$(basename "$prog")
case "$base" in
  mpi_*) nps="${SLUICE_TEST_NP:-1 2 4}" ;;
  *) nps=1 ;;
esac
limit="${SLUICE_TEST_TIMEOUT:-300}"
skipped=0
for np in $nps; do
  echo "== $base with $np rank(s)"
  timeout -k 10 "$limit" ${MPIRUN:-mpirun} -np "$np" "$prog" "$@"
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "FAIL: $base with $np rank(s) timed out after ${limit}s"; exit 1
  fi
  if [ $rc -eq 77 ]; then skipped=1; continue; fi
  if [ $rc -ne 0 ]; then echo "FAIL: $base with $np rank(s): exit $rc"; exit $rc; fi
done
[ $skipped -eq 1 ] && exit 77
exit 0
