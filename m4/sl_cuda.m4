# SPDX-License-Identifier: BSD-3-Clause
# SL_CHECK_CUDA / SL_CHECK_NCCL: optional GPU support. Without an explicit
# --with-cuda, /usr/local/cuda is tried and CUDA is disabled if absent. An
# explicit --with-cuda=DIR that does not work is an error.
AC_DEFUN([SL_CHECK_CUDA], [
  AC_ARG_WITH([cuda], [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [CUDA toolkit (default: look in /usr/local/cuda)])], [], [with_cuda=check])
  sl_have_cuda=no; sl_cuda_dir=""; CUDA_CPPFLAGS=""; CUDA_LDFLAGS=""; CUDA_LIBS=""; NVCC=""
  AS_IF([test "x$with_cuda" != xno], [
    AS_CASE([$with_cuda], [check|yes], [sl_cuda_dir=/usr/local/cuda], [sl_cuda_dir=$with_cuda])
    CUDA_CPPFLAGS="-I$sl_cuda_dir/include"
    AS_IF([test -d "$sl_cuda_dir/lib64"], [sl_cudalib="$sl_cuda_dir/lib64"], [sl_cudalib="$sl_cuda_dir/lib"])
    CUDA_LDFLAGS="-L$sl_cudalib -Wl,-rpath,$sl_cudalib"
    CUDA_LIBS="-lcublas -lcudart"
    AS_CASE([$with_cuda], [check|yes], [], [
      AS_IF([test ! -d "$sl_cuda_dir"], [AC_MSG_ERROR([--with-cuda=$with_cuda: no such directory])])
      SL_CHECK_GIVEN_DIR([--with-cuda=$with_cuda], [$sl_cuda_dir/include], [cuda_runtime.h], [$sl_cudalib], [cublas])])
    sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS; sl_save_LIBS=$LIBS
    CPPFLAGS="$CUDA_CPPFLAGS $CPPFLAGS"; LDFLAGS="$CUDA_LDFLAGS $LDFLAGS"; LIBS="$CUDA_LIBS $LIBS"
    AC_MSG_CHECKING([for CUDA runtime and cuBLAS in $sl_cuda_dir])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cuda_runtime.h>
#include <cublas_v2.h>]], [[int n; cudaGetDeviceCount(&n); cublasHandle_t h; cublasCreate(&h);]])],
      [AC_MSG_RESULT([yes]); sl_have_cuda=yes], [AC_MSG_RESULT([no])])
    CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS; LIBS=$sl_save_LIBS
    AS_IF([test "x$sl_have_cuda" = xyes], [
      AC_PATH_PROG([NVCC], [nvcc], [], [$sl_cuda_dir/bin:$PATH])
      AS_IF([test -z "$NVCC"], [sl_have_cuda=no; AS_IF([test "x$with_cuda" != xcheck], [AC_MSG_ERROR([nvcc not found in $sl_cuda_dir/bin])])])])
    AS_IF([test "x$sl_have_cuda" = xno && test "x$with_cuda" != xcheck],
      [AC_MSG_ERROR([--with-cuda=$with_cuda given but the CUDA runtime and cuBLAS are not usable there])])
    AS_IF([test "x$sl_have_cuda" = xno], [CUDA_CPPFLAGS=""; CUDA_LDFLAGS=""; CUDA_LIBS=""; sl_cuda_dir="(not found)"])])
  AS_IF([test "x$sl_have_cuda" = xyes], [
    AC_DEFINE([SL_HAVE_CUDA], [1], [CUDA support])
    # the runtime linked statically and cuBLAS opened on first use: linking
    # cuBLAS (and cuBLASLt) cost every process ~80 ms at start-up, GPU or not
    AS_IF([test -f "$sl_cudalib/libcudart_static.a"], [CUDA_LIBS="-lcudart_static -lstdc++ -ldl -lrt -lpthread"],
      [CUDA_LIBS="-lcudart -ldl"])
    sl_cublas_so=`objdump -p "$sl_cudalib/libcublas.so" 2>/dev/null | awk '/SONAME/ {print $[2]}'`
    AS_IF([test -z "$sl_cublas_so"], [sl_cublas_so=libcublas.so])
    AC_DEFINE_UNQUOTED([SL_CUBLAS_LIB], ["$sl_cublas_so"], [cuBLAS, opened on first use])
    AC_DEFINE_UNQUOTED([SL_CUDA_LIBDIR], ["$sl_cudalib"], [where configure found the CUDA libraries])])
  AC_ARG_VAR([NVCCFLAGS], [flags for nvcc])
  AC_SUBST([NVCC]) AC_SUBST([CUDA_CPPFLAGS]) AC_SUBST([CUDA_LDFLAGS]) AC_SUBST([CUDA_LIBS])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$sl_have_cuda" = xyes])
])

AC_DEFUN([SL_CHECK_NCCL], [
  AC_ARG_WITH([nccl], [AS_HELP_STRING([--with-nccl@<:@=DIR@:>@], [NCCL (default: with CUDA, look beside it)])], [], [with_nccl=check])
  sl_have_nccl=no; sl_nccl_dir=""; sl_nccllib=""; NCCL_CPPFLAGS=""; NCCL_LDFLAGS=""; NCCL_LIBS=""
  AS_IF([test "x$with_nccl" != xno], [
    AS_IF([test "x$sl_have_cuda" != xyes],
      [AS_IF([test "x$with_nccl" != xcheck], [AC_MSG_ERROR([--with-nccl needs CUDA (--with-cuda)])])],
      [AS_CASE([$with_nccl], [check|yes], [sl_nccl_dir=$sl_cuda_dir], [sl_nccl_dir=$with_nccl])
       AS_IF([test "x$sl_nccl_dir" != "x$sl_cuda_dir"], [
         NCCL_CPPFLAGS="-I$sl_nccl_dir/include"
         AS_IF([test -d "$sl_nccl_dir/lib64"], [sl_nccllib="$sl_nccl_dir/lib64"], [sl_nccllib="$sl_nccl_dir/lib"])
         NCCL_LDFLAGS="-L$sl_nccllib -Wl,-rpath,$sl_nccllib"])
       NCCL_LIBS="-lnccl"
       AS_CASE([$with_nccl], [check|yes], [], [
         AS_IF([test ! -d "$sl_nccl_dir"], [AC_MSG_ERROR([--with-nccl=$with_nccl: no such directory])])
         AS_IF([test -n "$sl_nccllib"], [sl_nccl_libdir=$sl_nccllib], [sl_nccl_libdir=$sl_cudalib])
         SL_CHECK_GIVEN_DIR([--with-nccl=$with_nccl], [$sl_nccl_dir/include], [nccl.h], [$sl_nccl_libdir], [nccl])])
       sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS; sl_save_LIBS=$LIBS
       CPPFLAGS="$NCCL_CPPFLAGS $CUDA_CPPFLAGS $CPPFLAGS"; LDFLAGS="$NCCL_LDFLAGS $CUDA_LDFLAGS $LDFLAGS"; LIBS="$NCCL_LIBS $CUDA_LIBS $LIBS"
       AC_MSG_CHECKING([for NCCL in $sl_nccl_dir])
       AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <nccl.h>]], [[ncclUniqueId id; ncclGetUniqueId(&id);]])],
         [AC_MSG_RESULT([yes]); sl_have_nccl=yes], [AC_MSG_RESULT([no])])
       CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS; LIBS=$sl_save_LIBS
       AS_IF([test "x$sl_have_nccl" = xno && test "x$with_nccl" != xcheck],
         [AC_MSG_ERROR([--with-nccl=$with_nccl given but NCCL is not usable there])])
       AS_IF([test "x$sl_have_nccl" = xno], [NCCL_CPPFLAGS=""; NCCL_LDFLAGS=""; NCCL_LIBS=""; sl_nccl_dir="(not found)"])])])
  AS_IF([test "x$sl_have_nccl" = xyes], [
    AC_DEFINE([SL_HAVE_NCCL], [1], [NCCL support])
    # opened on first use, like cuBLAS
    AS_IF([test -n "$sl_nccllib"], [sl_nccl_libdir=$sl_nccllib], [sl_nccl_libdir=$sl_cudalib])
    sl_nccl_so=`objdump -p "$sl_nccl_libdir/libnccl.so" 2>/dev/null | awk '/SONAME/ {print $[2]}'`
    AS_IF([test -z "$sl_nccl_so"], [sl_nccl_so=libnccl.so])
    AC_DEFINE_UNQUOTED([SL_NCCL_LIB], ["$sl_nccl_so"], [NCCL, opened on first use])
    AC_DEFINE_UNQUOTED([SL_NCCL_LIBDIR], ["$sl_nccl_libdir"], [where configure found NCCL])
    NCCL_LIBS=""])
  AC_SUBST([NCCL_CPPFLAGS]) AC_SUBST([NCCL_LDFLAGS]) AC_SUBST([NCCL_LIBS])
  AM_CONDITIONAL([HAVE_NCCL], [test "x$sl_have_nccl" = xyes])
])
