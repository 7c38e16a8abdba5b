#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A location named with --with-X=DIR that holds no X makes configure fail
# with a message naming it, instead of the compiler quietly finding the
# system's copy (README: "A location you name is used or configure fails").
. "$top_srcdir/tests/lib.sh"
[ -x "$top_srcdir/configure" ] || { echo "SKIP: no configure (run autoreconf -fi)"; exit 77; }
# configure runs in a copy of what it reads before its first check (the
# source tree may be configured in place, which refuses a second build dir)
S="$T/src"
mkdir -p "$S/src" "$T/empty/include" "$T/empty/lib"
cp -r "$top_srcdir/configure" "$top_srcdir/build-aux" "$S/"
cp "$top_srcdir/src/sluice.c" "$S/src/"
check() { # check OPTION MESSAGE
  (cd "$S" && ./configure -q "$1" >"$T/out" 2>"$T/err"); rc=$?
  [ $rc -ne 0 ] || { tail -20 "$T/out" >&2; fail "configure $1 succeeded"; }
  expect_grep "$2" "$T/err"
}
check --with-ucx=/nonexistent "configure: error: --with-ucx=/nonexistent: no such directory"
check --with-gsl=/nonexistent "configure: error: --with-gsl=/nonexistent: no such directory"
check --with-openblas=/nonexistent "configure: error: --with-openblas=/nonexistent: no such directory"
check --with-hdf5=/nonexistent "configure: error: --with-hdf5=/nonexistent: no such directory"
check --with-cunit=/nonexistent "configure: error: --with-cunit=/nonexistent: no such directory"
check --with-cuda=/nonexistent "configure: error: --with-cuda=/nonexistent: no such directory"
check --with-ucx-lib="$T/empty/lib" "configure: error: --with-ucx-lib=$T/empty/lib: no libucp in $T/empty/lib"
check --with-gsl="$T/empty" "configure: error: --with-gsl=$T/empty: $T/empty/include/gsl/gsl_rng.h not found"
echo "PASS: configure dirs"
