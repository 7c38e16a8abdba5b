#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# make install into a staging prefix, then build examples/*.c and run
# hello.c and many_models.c against the installed library with pkg-config alone.
. "$top_srcdir/tests/lib.sh"
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }
make -C "$top_builddir" install DESTDIR="$T/stage" >"$T/install.log" 2>&1 || { tail -20 "$T/install.log"; fail "make install failed"; }
pc=$(find "$T/stage" -name sluice.pc | head -1)
[ -n "$pc" ] || fail "sluice.pc not installed"
inc=$(find "$T/stage" -path '*/include/sluice/sluice.h' | head -1)
[ -n "$inc" ] || fail "include/sluice/sluice.h not installed"
[ -f "$(dirname "$inc")/core.h" ] || fail "include/sluice/core.h not installed"
find "$T/stage" -name sluice -type f -perm -u+x | grep -q bin/sluice || fail "bin/sluice not installed"
# the manual: the man page (which describes every command `sluice --help`
# lists, and renders without warnings), README.md, the batch scripts
man1=$(find "$T/stage" -path '*/share/man/man1/sluice.1' | head -1)
[ -n "$man1" ] || fail "share/man/man1/sluice.1 not installed"
cmds=$("$top_builddir/sluice" --help 2>&1 | awk '/^commands:/ {on = 1; next} on && NF == 0 {exit} on {print $1}')
[ "$(echo "$cmds" | wc -w)" -ge 10 ] || fail "sluice --help lists no commands: $cmds"
for c in $cmds; do
  grep -q "^\.B $c\$" "$man1" || fail "the man page does not describe the command '$c' that sluice --help lists"
done
# every SLUICE_* variable the library reads is in ENVIRONMENT, and FILES names
# every batch script that make install puts in share/sluice/slurm
for v in $(grep -rhoE 'getenv\("SLUICE_[A-Z_]+"\)' "$top_srcdir/src" | grep -oE 'SLUICE_[A-Z_]+' | sort -u); do
  grep -q "^\.B $v\$" "$man1" || fail "the man page's ENVIRONMENT lacks $v, which sluice reads"
done
for f in $(find "$T/stage" -path '*/share/sluice/slurm/*.sbatch'); do
  b=$(basename "$f" .sbatch)
  [ "$b" = ddppo ] && b=DD-PPO
  sed -n '/^\.I share\/sluice\/slurm/,/^\.TP/p' "$man1" | grep -qw -- "$b" ||
    fail "the man page's FILES does not name the installed batch script $(basename "$f")"
done
if command -v groff >/dev/null; then
  w=$(groff -man -Tutf8 -ww -z "$man1" 2>&1)
  [ -z "$w" ] || fail "the man page renders with warnings: $w"
fi
find "$T/stage" -path '*/share/doc/sluice/README.md' | grep -q . || fail "share/doc/sluice/README.md not installed"
for b in sort tune train ddppo farm demo; do
  f=$(find "$T/stage" -path "*/share/sluice/slurm/$b.sbatch" | head -1)
  [ -n "$f" ] && [ -x "$f" ] || fail "share/sluice/slurm/$b.sbatch not installed as a script"
done
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-prefix --cflags --libs sluice) || fail "pkg-config failed"
# core.h includes <gsl/gsl_rng.h>: Cflags must carry GSL's -I, or a GSL given
# with --with-gsl=DIR outside the compiler's paths (a cluster module) fails
# the build of hello.c ("gsl/gsl_rng.h: No such file or directory")
grep -q '^Cflags:.*@GSL_CPPFLAGS@' "$top_srcdir/sluice.pc.in" || fail "sluice.pc.in: Cflags lacks @GSL_CPPFLAGS@"
for f in $(sed -n 's/^GSL_CPPFLAGS = //p' "$top_builddir/Makefile"); do
  case " $flags " in *" $f "*) ;; *) fail "pkg-config --cflags sluice lacks GSL's $f" ;; esac
done
# the installed headers include each other by their own directory, so Cflags
# need not (and must not) put include/sluice on the path: a user's own nn.h or
# tasks.h, found later on the path, would be shadowed by sluice's
mkdir -p "$T/user"
echo '#define USER_TASKS_H 1' >"$T/user/tasks.h"
printf '#include <sluice/sluice.h>\n#include <tasks.h>\n#ifndef USER_TASKS_H\n#error sluice shadows tasks.h\n#endif\nint main(void) { return 0; }\n' >"$T/user/own.c"
mpicc -c -o "$T/user/own.o" "$T/user/own.c" $flags -I"$T/user" || fail "pkg-config --cflags sluice shadows a user's own tasks.h: $flags"
mpicc -o "$T/hello" "$top_srcdir/examples/hello.c" $flags || fail "examples/hello.c did not build with: $flags"
libdir=$(dirname "$(dirname "$pc")")
LD_LIBRARY_PATH="$libdir" expect_rc 0 $MPIRUN -np 2 "$T/hello"
expect_grep "hello from sluice" "$T/out"
expect_grep "2 ranks" "$T/out"
# every example in examples/ is a program a user writes: copied out of the
# tree, it builds with pkg-config alone (public headers <sluice/...>, no
# config.h, no src/), and many_models runs on 2 ranks
mkdir -p "$T/ex"
for src in $(cd "$top_srcdir" && ls examples/*.c examples/*/*.c); do
  cp "$top_srcdir/$src" "$T/ex/"
  b=$(basename "$src" .c)
  mpicc -o "$T/ex/$b" "$T/ex/$b.c" $flags -lm >"$T/ex/$b.log" 2>&1 ||
    { cat "$T/ex/$b.log"; fail "$src did not build against the installed sluice with: mpicc $b.c $flags -lm"; }
done
LD_LIBRARY_PATH="$libdir" expect_rc 0 $MPIRUN -np 2 "$T/ex/many_models" 20 "$T/ex/models.csv"
expect_grep "100 models (20 stores x 5 lambdas) on 2 ranks" "$T/out"
[ "$(wc -l <"$T/ex/models.csv")" = 21 ] || fail "many_models wrote no 20-store CSV: $(cat "$T/ex/models.csv")"
# sl_rng_create hands out GSL generators, which a program draws from with
# GSL's own functions: pkg-config --libs must link GSL too
printf '#include <sluice/sluice.h>\n#include <gsl/gsl_rng.h>\nint main(void)\n{\n    gsl_rng *r;\n    if (sl_rng_create(1, 0, "t", &r) != SL_OK)\n        return 1;\n    printf("%%.6f\\n", gsl_rng_uniform(r));\n    sl_rng_destroy(&r);\n    return 0;\n}\n' >"$T/user/rng.c"
mpicc -o "$T/rng" "$T/user/rng.c" $flags || fail "a program drawing from sl_rng_create's generator did not link with: $flags"
LD_LIBRARY_PATH="$libdir" expect_rc 0 "$T/rng"
expect_grep "^0\.[0-9]" "$T/out"
# a program's error names the rank that saw it when the job has several, as
# the driver's do (the library knew the rank but not the size: no rank named)
printf '#include <sluice/sluice.h>\nint main(int argc, char **argv)\n{\n    MPI_Init(&argc, &argv);\n    int r;\n    MPI_Comm_rank(MPI_COMM_WORLD, &r);\n    sl_status_t st = sl_agree(MPI_COMM_WORLD, r == 1 ? sl_error(SL_ERR_IO, "cannot read x.h5") : SL_OK);\n    MPI_Finalize();\n    return st == SL_OK;\n}\n' >"$T/user/err.c"
mpicc -o "$T/errprog" "$T/user/err.c" $flags || fail "err.c did not build with: $flags"
LD_LIBRARY_PATH="$libdir" expect_rc 0 $MPIRUN -np 2 "$T/errprog"
[ "$(cat "$T/err")" = "sluice: error: rank 1: cannot read x.h5" ] || fail "expected the error once, naming rank 1: $(cat "$T/err")"
echo "PASS: install"
