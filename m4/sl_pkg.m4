# SPDX-License-Identifier: BSD-3-Clause
# SL_CHECK_GIVEN_DIR(option, incdir, header, libdir, lib): for a location
# the user named, fail unless incdir holds header and libdir holds liblib.*
# (an empty incdir or libdir is not checked; Debian's multiarch folders count,
# so /usr works). The compiler's own search path would otherwise find the
# system's copy and the named one be silently unused.
AC_DEFUN([SL_CHECK_GIVEN_DIR], [
  AS_IF([test -n "$2"], [
    sl_found_h=no
    for sl_f in "$2/$3" "$2"/*-linux-gnu/"$3"; do
      test -f "$sl_f" && sl_found_h=yes
    done
    AS_IF([test "x$sl_found_h" = xno],
      [AS_IF([test -d "$2"], [AC_MSG_ERROR([$1: $2/$3 not found])], [AC_MSG_ERROR([$1: no directory $2])])])])
  AS_IF([test -n "$4"], [
    sl_found_lib=no
    for sl_f in "$4"/lib$5.so "$4"/lib$5.so.* "$4"/lib$5.a "$4"/lib$5.dylib \
                "$4"/*-linux-gnu/lib$5.so "$4"/../lib/*-linux-gnu/lib$5.so; do
      test -f "$sl_f" && sl_found_lib=yes
    done
    AS_IF([test "x$sl_found_lib" = xno],
      [AS_IF([test -d "$4"], [AC_MSG_ERROR([$1: no lib$5 in $4])], [AC_MSG_ERROR([$1: no directory $4])])])])
])

# SL_WITH_PKG(name, VAR, pkg-config-module, header, function, libs, help-text)
# Honours --with-name[=DIR], --with-name-include, --with-name-lib. An explicit
# location is used or configure fails; it never falls back to another copy.
AC_DEFUN([SL_WITH_PKG], [
  AC_ARG_WITH([$1], [AS_HELP_STRING([--with-$1=DIR], [$7])], [], [with_$1=check])
  AC_ARG_WITH([$1-include], [AS_HELP_STRING([--with-$1-include=DIR], [$1 headers directory])], [], [])
  AC_ARG_WITH([$1-lib], [AS_HELP_STRING([--with-$1-lib=DIR], [$1 library directory])], [], [])
  AS_IF([test "x$with_$1" = xno], [AC_MSG_ERROR([$1 is required; --without-$1 is not supported])])
  sl_explicit=no; sl_inc=""; sl_lib=""; sl_opt=""
  AS_IF([test "x$with_$1" != xcheck && test "x$with_$1" != xyes], [
    sl_explicit=yes; sl_opt="--with-$1=$with_$1"
    AS_IF([test ! -d "$with_$1"], [AC_MSG_ERROR([--with-$1=$with_$1: no such directory])])
    sl_inc="$with_$1/include"
    AS_IF([test -d "$with_$1/lib64"], [sl_lib="$with_$1/lib64"], [sl_lib="$with_$1/lib"])
    $2_CPPFLAGS="-I$sl_inc"
    $2_LDFLAGS="-L$sl_lib -Wl,-rpath,$sl_lib"
    $2_LIBS="$6"])
  AS_IF([test -n "$with_$1_include"], [sl_explicit=yes; sl_opt="--with-$1-include=$with_$1_include"; sl_inc="$with_$1_include"; $2_CPPFLAGS="-I$with_$1_include"])
  AS_IF([test -n "$with_$1_lib"], [sl_explicit=yes; sl_opt="${sl_opt:+$sl_opt }--with-$1-lib=$with_$1_lib"; sl_lib="$with_$1_lib"; $2_LDFLAGS="-L$with_$1_lib -Wl,-rpath,$with_$1_lib"; $2_LIBS="$6"])
  AS_IF([test "x$sl_explicit" = xyes], [
    sl_lib1=`echo "$6" | sed 's/^-l\([[^ ]]*\).*/\1/'`
    SL_CHECK_GIVEN_DIR([$sl_opt], [$sl_inc], [$4], [$sl_lib], [$sl_lib1])])
  AS_IF([test "x$sl_explicit" = xno], [
    AS_IF([test -n "$3"], [PKG_CHECK_EXISTS([$3], [
        $2_CPPFLAGS=`$PKG_CONFIG --cflags-only-I $3`
        $2_LDFLAGS=`$PKG_CONFIG --libs-only-L $3`
        $2_LIBS="$6"], [$2_LIBS="$6"])], [$2_LIBS="$6"])])
  sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS; sl_save_LIBS=$LIBS
  CPPFLAGS="$$2_CPPFLAGS $CPPFLAGS"; LDFLAGS="$$2_LDFLAGS $LDFLAGS"; LIBS="$$2_LIBS $LIBS"
  AC_MSG_CHECKING([for $1 ($4, $5)])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <$4>]], [[(void)$5;]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([$1 not found or not usable (header $4, symbol $5, flags: $$2_CPPFLAGS $$2_LDFLAGS $$2_LIBS). $7. Give its location with --with-$1=DIR or --with-$1-include/--with-$1-lib.])])
  CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS; LIBS=$sl_save_LIBS
  AC_SUBST([$2_CPPFLAGS]) AC_SUBST([$2_LDFLAGS]) AC_SUBST([$2_LIBS])
])

AC_DEFUN([SL_CHECK_UCX], [SL_WITH_PKG([ucx], [UCX], [ucx], [ucp/api/ucp.h], [ucp_init_version], [-lucp -luct -lucs], [UCX 1.10 or newer (Debian: libucx-dev)])])
AC_DEFUN([SL_CHECK_GSL], [SL_WITH_PKG([gsl], [GSL], [gsl], [gsl/gsl_rng.h], [gsl_rng_alloc], [-lgsl], [GSL 2 (Debian: libgsl-dev)])])
AC_DEFUN([SL_CHECK_CUNIT], [
  AC_ARG_WITH([cunit], [AS_HELP_STRING([--with-cunit=DIR], [CUnit for make check (Debian: libcunit1-dev)])], [], [with_cunit=check])
  CUNIT_LIBS=""; sl_have_cunit=no
  AS_IF([test "x$with_cunit" != xno], [
    AS_IF([test "x$with_cunit" != xcheck && test "x$with_cunit" != xyes],
      [AS_IF([test ! -d "$with_cunit"], [AC_MSG_ERROR([--with-cunit=$with_cunit: no such directory])])
       SL_CHECK_GIVEN_DIR([--with-cunit=$with_cunit], [$with_cunit/include], [CUnit/Basic.h], [$with_cunit/lib], [cunit])
       CUNIT_CPPFLAGS="-I$with_cunit/include"; CUNIT_LDFLAGS="-L$with_cunit/lib"])
    sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS
    CPPFLAGS="$CUNIT_CPPFLAGS $CPPFLAGS"; LDFLAGS="$CUNIT_LDFLAGS $LDFLAGS"
    AC_CHECK_HEADER([CUnit/Basic.h], [AC_CHECK_LIB([cunit], [CU_initialize_registry], [sl_have_cunit=yes; CUNIT_LIBS=-lcunit])])
    CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS
    AS_IF([test "x$sl_have_cunit" = xno && test "x$with_cunit" != xcheck],
      [AC_MSG_ERROR([CUnit not found where --with-cunit said ($with_cunit)])])])
  AC_SUBST([CUNIT_CPPFLAGS]) AC_SUBST([CUNIT_LDFLAGS]) AC_SUBST([CUNIT_LIBS])
  AM_CONDITIONAL([HAVE_CUNIT], [test "x$sl_have_cunit" = xyes])
])
AC_DEFUN([SL_CHECK_ZLIB], [
  AC_CHECK_HEADER([zlib.h], [], [AC_MSG_ERROR([zlib.h not found (Debian: zlib1g-dev)])])
  AC_CHECK_LIB([z], [crc32], [ZLIB_LIBS=-lz], [AC_MSG_ERROR([zlib not found (Debian: zlib1g-dev)])])
  AC_SUBST([ZLIB_LIBS])
])
