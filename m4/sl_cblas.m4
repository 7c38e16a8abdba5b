# SPDX-License-Identifier: BSD-3-Clause
# SL_CHECK_CBLAS: CBLAS from OpenBLAS (also used by GSL instead of gslcblas).
AC_DEFUN([SL_CHECK_CBLAS], [
  AC_ARG_WITH([openblas], [AS_HELP_STRING([--with-openblas=DIR], [OpenBLAS install providing cblas.h (Debian: libopenblas-dev)])], [], [with_openblas=check])
  AS_IF([test "x$with_openblas" != xcheck && test "x$with_openblas" != xyes], [
      CBLAS_CPPFLAGS="-I$with_openblas/include"
      AS_IF([test -d "$with_openblas/lib64"], [sl_oblib="$with_openblas/lib64"], [sl_oblib="$with_openblas/lib"])
      CBLAS_LDFLAGS="-L$sl_oblib -Wl,-rpath,$sl_oblib"
      AS_IF([test ! -d "$with_openblas"], [AC_MSG_ERROR([--with-openblas=$with_openblas: no such directory])])
      SL_CHECK_GIVEN_DIR([--with-openblas=$with_openblas], [$with_openblas/include], [cblas.h], [$sl_oblib], [openblas])],
    [PKG_CHECK_EXISTS([openblas], [
        CBLAS_CPPFLAGS=`$PKG_CONFIG --cflags-only-I openblas`
        CBLAS_LDFLAGS=`$PKG_CONFIG --libs-only-L openblas`], [])])
  CBLAS_LIBS="-lopenblas"
  sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS; sl_save_LIBS=$LIBS
  CPPFLAGS="$CBLAS_CPPFLAGS $CPPFLAGS"; LDFLAGS="$CBLAS_LDFLAGS $LDFLAGS"; LIBS="$CBLAS_LIBS $LIBS"
  AC_MSG_CHECKING([for cblas_sgemm in OpenBLAS])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cblas.h>]], [[cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.f, 0, 1, 0, 1, 0.f, 0, 1); openblas_set_num_threads(1);]])],
    [AC_MSG_RESULT([yes]); sl_cblas_name="OpenBLAS"],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([OpenBLAS with cblas.h not found (flags: $CBLAS_CPPFLAGS $CBLAS_LDFLAGS). Debian: libopenblas-dev; or --with-openblas=DIR.])])
  CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS; LIBS=$sl_save_LIBS
  AC_SUBST([CBLAS_CPPFLAGS]) AC_SUBST([CBLAS_LDFLAGS]) AC_SUBST([CBLAS_LIBS])
])
