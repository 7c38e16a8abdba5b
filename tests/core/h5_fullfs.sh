#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# HDF5 files with much metadata (1000 datasets with an attribute each:
# 400 KB, most of it metadata) on a file system that fills up while they are
# written (an 8 MB tmpfs; skipped where mount is not allowed). Full in the
# middle: one message naming the file, nothing from Open MPI, exit 1, no
# PATH.tmp left (Open MPI's line came first, and as often both ranks said
# it and crashed at exit: HDF5's metadata flush had failed on both). Full
# once every dataset is written: the close still fits, the file is complete
# (the close failed on both ranks, which then crashed).
. "$top_srcdir/tests/lib.sh"
MANY="$top_builddir/tests/core/h5_many"
cd "$T" || exit 1
full_tmpfs full 8m
expect_rc 1 timeout 60 $MPIRUN -np 2 "$MANY" full/f.h5 1000 500
expect_grep "^sluice: error: rank 0: cannot write .* 'full/f.h5.tmp': No space left on device$" "$T/err"
[ "$(grep -c 'error' "$T/err")" -eq 1 ] || fail "not one message: $(cat "$T/err")"
grep -q mca_fbtl "$T/err" && fail "Open MPI's own line: $(cat "$T/err")"
[ ! -e full/f.h5 ] && [ ! -e full/f.h5.tmp ] || fail "output left on the full file system: $(ls full)"
rm full/f.h5.filler
expect_rc 0 timeout 60 $MPIRUN -np 2 "$MANY" full/f.h5 1000 1000
[ "$(h5ls -r full/f.h5 | grep -c Dataset)" -eq 1000 ] || fail "full/f.h5 lacks datasets: $(h5ls -r full/f.h5 | tail -3)"
[ ! -e full/f.h5.tmp ] || fail "full/f.h5.tmp left"
# rank 0's own descriptor of PATH.tmp (the one it holds blocks with, opened
# write-only) is close-on-exec: a program spawned while the file is written
# (a farm task, a tune command) inherited it. (The read-write one is the
# MPI-IO driver's own, which Open MPI opens without close-on-exec.)
H5_MANY_FDS="$T/fds" expect_rc 0 timeout 60 $MPIRUN -np 2 "$MANY" full/e.h5 20
[ -s "$T/fds" ] || fail "h5_many listed no descriptors"
grep -q '^l-wx.* -> .*/full/e\.h5\.tmp$' "$T/fds" && fail "rank 0's descriptor of full/e.h5.tmp inherited: $(cat "$T/fds")"
true
