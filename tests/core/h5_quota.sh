#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# An HDF5 file written over a quota (the usual way an HPC user runs out of
# space: the file system has room, the user's or project's quota has not).
# The kernel here may have no quota support, so a preloaded fallocate fails
# with EDQUOT beyond QUOTA_AT bytes, as a quota's would. The one message
# must say "Disk quota exceeded" (it said "No space left on device", sending
# the user to df, which shows room), exit 1, nothing left.
. "$top_srcdir/tests/lib.sh"
MANY="$top_builddir/tests/core/h5_many"
cd "$T" || exit 1
cat >quota.c <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
int fallocate(int fd, int mode, off_t off, off_t len)
{
    static int (*real)(int, int, off_t, off_t);
    const char *at = getenv("QUOTA_AT");
    if (!real)
        real = (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT, "fallocate");
    if (at && !(mode & FALLOC_FL_PUNCH_HOLE) && off + len > atoll(at)) {
        errno = EDQUOT;
        return -1;
    }
    return real(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off_t off, off_t len) { return fallocate(fd, mode, off, len); }
C
${CC:-cc} -shared -fPIC -o quota.so quota.c -ldl || { echo "SKIP: cannot build the preloaded fallocate"; exit 77; }
mkdir q
# over the quota in the middle of the file
expect_rc 1 timeout 60 $MPIRUN -np 2 -x LD_PRELOAD="$T/quota.so" -x QUOTA_AT=300000 "$MANY" q/f.h5 1000
expect_grep "^sluice: error: rank 0: cannot write .* 'q/f.h5.tmp': Disk quota exceeded$" "$T/err"
[ "$(grep -c 'error' "$T/err")" -eq 1 ] || fail "not one message: $(cat "$T/err")"
[ -z "$(ls q)" ] || fail "output left: $(ls q)"
# over the quota at once
expect_rc 1 timeout 60 $MPIRUN -np 2 -x LD_PRELOAD="$T/quota.so" -x QUOTA_AT=0 "$MANY" q/f.h5 10
expect_grep "^sluice: error: rank 0: cannot create 'q/f.h5.tmp': Disk quota exceeded$" "$T/err"
[ -z "$(ls q)" ] || fail "output left: $(ls q)"
