#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# As tests/core/h5_fullfs.sh, on a file system without fallocate (ext4
# without extents, 16 MB, loop-mounted; skipped where that is not allowed):
# the room for HDF5's metadata is held in zeros instead. Full in the middle
# of 1000 datasets: one message, exit 1, nothing left (both ranks said it
# and crashed at exit); full once every dataset is written: the file is
# complete (the close failed). Full before the file is made: nothing left.
# On ramfs (no fallocate, no size: statfs says 0 blocks) files are written.
. "$top_srcdir/tests/lib.sh"
MANY="$top_builddir/tests/core/h5_many"
cd "$T" || exit 1
command -v mkfs.ext4 >/dev/null || { echo "SKIP: no mkfs.ext4"; exit 77; }
truncate -s 16M img && mkfs.ext4 -q -F -O ^extent,^has_journal,^64bit -m 0 img || fail "mkfs.ext4"
mkdir nf
mount -o loop img nf 2>/dev/null || { echo "SKIP: mount -o loop not permitted here"; exit 77; }
trap 'umount nf 2>/dev/null; rm -rf "$T"' EXIT
fallocate -n -l 4096 nf/probe 2>/dev/null && { echo "SKIP: this ext4 has fallocate"; exit 77; }
rm -f nf/probe
expect_rc 1 timeout 60 $MPIRUN -np 2 "$MANY" nf/f.h5 1000 500
expect_grep "^sluice: error: rank 0: cannot write .* 'nf/f.h5.tmp': No space left on device$" "$T/err"
[ "$(grep -c 'error' "$T/err")" -eq 1 ] || fail "not one message: $(cat "$T/err")"
[ ! -e nf/f.h5 ] && [ ! -e nf/f.h5.tmp ] || fail "output left on the full file system: $(ls nf)"
# full before the file is made: one message, and no nf/f.h5.tmp left (it
# was: the create's clean-up looked for the descriptor the switch to the
# room file had closed)
expect_rc 1 timeout 60 $MPIRUN -np 2 "$MANY" nf/g.h5 10 0
expect_grep "^sluice: error: rank 0: cannot create 'nf/g.h5.tmp': No space left on device$" "$T/err"
[ ! -e nf/g.h5.tmp ] || fail "nf/g.h5.tmp left by a create refused for want of space"
rm nf/f.h5.filler nf/g.h5.filler
expect_rc 0 timeout 60 $MPIRUN -np 2 "$MANY" nf/f.h5 1000 1000
[ "$(h5ls -r nf/f.h5 | grep -c Dataset)" -eq 1000 ] || fail "nf/f.h5 lacks datasets: $(h5ls -r nf/f.h5 | tail -3)"
[ "$(ls nf)" = "$(printf 'f.h5\nf.h5.filler\nlost+found')" ] || fail "files left: $(ls nf)"
# ext4 reserves blocks at the write: the room file's zeros need no
# fdatasync (a disk flush at every create, for tune's often saved
# experiment.h5 too); NFS and other file systems keep it
if strace -f -qq -e trace=fdatasync -o "$T/st" true 2>/dev/null; then
  rm nf/f.h5.filler
  expect_rc 0 timeout 60 $MPIRUN -np 1 strace -f -qq -e trace=fdatasync -o "$T/st" "$MANY" nf/s.h5 10
  grep fdatasync "$T/st" && fail "the room file was flushed on ext4"
  rm nf/s.h5
fi
umount nf
# ramfs: no fallocate, and no figures (statfs says 0 blocks in all, 0
# free: it has no limit): every file was refused as if the file system were
# full ("cannot create ...: No space left on device")
mkdir rf
mount -t ramfs ramfs rf 2>/dev/null || { echo "h5_nofalloc: ramfs not mounted here; that case skipped"; exit 0; }
trap 'umount nf rf 2>/dev/null; rm -rf "$T"' EXIT
H5_MANY_FDS="$T/fds" expect_rc 0 timeout 60 $MPIRUN -np 2 "$MANY" rf/f.h5 100
# the room file is close-on-exec: a program spawned meanwhile (a farm task,
# a tune command) inherited it and kept its blocks held after the close
[ -s "$T/fds" ] || fail "h5_many listed no descriptors"
grep -q 'f\.h5\.tmp\.room' "$T/fds" && fail "the room file inherited: $(cat "$T/fds")"
[ "$(h5ls -r rf/f.h5 | grep -c Dataset)" -eq 100 ] || fail "rf/f.h5 lacks datasets: $(h5ls -r rf/f.h5 | tail -3)"
[ "$(ls rf)" = "f.h5" ] || fail "files left on ramfs: $(ls rf)"
