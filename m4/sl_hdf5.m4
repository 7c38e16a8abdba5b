# SPDX-License-Identifier: BSD-3-Clause
# SL_CHECK_HDF5_PARALLEL: HDF5 built with MPI-IO. A serial HDF5 is an error:
# sluice writes checkpoints and datasets collectively.
AC_DEFUN([SL_CHECK_HDF5_PARALLEL], [
  AC_ARG_WITH([hdf5], [AS_HELP_STRING([--with-hdf5=DIR], [parallel HDF5 install (Debian: libhdf5-openmpi-dev)])], [], [with_hdf5=check])
  AC_ARG_WITH([hdf5-include], [AS_HELP_STRING([--with-hdf5-include=DIR], [HDF5 headers])], [], [])
  AC_ARG_WITH([hdf5-lib], [AS_HELP_STRING([--with-hdf5-lib=DIR], [HDF5 libraries])], [], [])
  HDF5_LIBS="-lhdf5"
  AS_IF([test "x$with_hdf5" != xcheck && test "x$with_hdf5" != xyes], [
      HDF5_CPPFLAGS="-I$with_hdf5/include"
      AS_IF([test -d "$with_hdf5/lib64"], [sl_h5lib="$with_hdf5/lib64"], [sl_h5lib="$with_hdf5/lib"])
      HDF5_LDFLAGS="-L$sl_h5lib -Wl,-rpath,$sl_h5lib"],
    [test -n "$with_hdf5_include$with_hdf5_lib"], [:],
    [PKG_CHECK_EXISTS([hdf5-openmpi], [
        HDF5_CPPFLAGS=`$PKG_CONFIG --cflags-only-I hdf5-openmpi`
        HDF5_LDFLAGS=`$PKG_CONFIG --libs-only-L hdf5-openmpi`],
      [PKG_CHECK_EXISTS([hdf5-mpich], [
        HDF5_CPPFLAGS=`$PKG_CONFIG --cflags-only-I hdf5-mpich`
        HDF5_LDFLAGS=`$PKG_CONFIG --libs-only-L hdf5-mpich`], [])])])
  AS_IF([test -n "$with_hdf5_include"], [HDF5_CPPFLAGS="-I$with_hdf5_include"])
  AS_IF([test -n "$with_hdf5_lib"], [HDF5_LDFLAGS="-L$with_hdf5_lib -Wl,-rpath,$with_hdf5_lib"])
  AS_IF([test "x$with_hdf5" != xcheck && test "x$with_hdf5" != xyes], [
    AS_IF([test ! -d "$with_hdf5"], [AC_MSG_ERROR([--with-hdf5=$with_hdf5: no such directory])])
    SL_CHECK_GIVEN_DIR([--with-hdf5=$with_hdf5], [${with_hdf5_include:-$with_hdf5/include}], [hdf5.h],
                       [${with_hdf5_lib:-$sl_h5lib}], [hdf5])],
    [sl_opt="${with_hdf5_include:+--with-hdf5-include=$with_hdf5_include}"
     sl_opt="$sl_opt${with_hdf5_lib:+${sl_opt:+ }--with-hdf5-lib=$with_hdf5_lib}"
     SL_CHECK_GIVEN_DIR([$sl_opt], [$with_hdf5_include], [hdf5.h], [$with_hdf5_lib], [hdf5])])
  sl_save_CPPFLAGS=$CPPFLAGS; sl_save_LDFLAGS=$LDFLAGS; sl_save_LIBS=$LIBS
  CPPFLAGS="$HDF5_CPPFLAGS $CPPFLAGS"; LDFLAGS="$HDF5_LDFLAGS $LDFLAGS"; LIBS="$HDF5_LIBS $LIBS"
  AC_MSG_CHECKING([for HDF5])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <hdf5.h>]], [[H5open();]])], [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([HDF5 not found (flags: $HDF5_CPPFLAGS $HDF5_LDFLAGS). Install parallel HDF5 (Debian: libhdf5-openmpi-dev) or give --with-hdf5=DIR.])])
  AC_MSG_CHECKING([whether HDF5 is built for parallel I/O])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <hdf5.h>
#ifndef H5_HAVE_PARALLEL
#error serial HDF5
#endif]], [[hid_t p = H5Pcreate(H5P_FILE_ACCESS); H5Pset_fapl_mpio(p, MPI_COMM_WORLD, MPI_INFO_NULL);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([the HDF5 found ($HDF5_CPPFLAGS) is serial-only (no H5_HAVE_PARALLEL). sluice needs parallel HDF5 built with the same MPI: Debian libhdf5-openmpi-dev, or --with-hdf5=DIR of a parallel build.])])
  CPPFLAGS=$sl_save_CPPFLAGS; LDFLAGS=$sl_save_LDFLAGS; LIBS=$sl_save_LIBS
  AC_SUBST([HDF5_CPPFLAGS]) AC_SUBST([HDF5_LDFLAGS]) AC_SUBST([HDF5_LIBS])
])
