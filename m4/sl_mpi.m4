# SPDX-License-Identifier: BSD-3-Clause
# SL_CHECK_MPI: pick an MPI C compiler wrapper (honours CC and MPICC).
AC_DEFUN([SL_CHECK_MPI], [
  AC_ARG_VAR([MPICC], [MPI C compiler wrapper])
  AS_IF([test -z "$CC"], [
    AS_IF([test -n "$MPICC"], [CC="$MPICC"], [
      AC_PATH_PROGS([sl_mpicc], [mpicc mpicc.openmpi mpicc.mpich], [])
      AS_IF([test -z "$sl_mpicc"],
        [AC_MSG_ERROR([no MPI C compiler (mpicc) found. Install Open MPI (Debian: apt-get install libopenmpi-dev openmpi-bin) or load an MPI module, or set CC/MPICC.])])
      CC="$sl_mpicc"])])
])

# SL_CHECK_MPI_WORKS: the compiler must build an MPI-3 program.
AC_DEFUN([SL_CHECK_MPI_WORKS], [
  AC_MSG_CHECKING([whether $CC builds MPI-3 programs])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <mpi.h>
#if MPI_VERSION < 3
#error need MPI-3
#endif]], [[MPI_Win w; MPI_Init(0, 0); MPI_Win_allocate_shared(8, 8, MPI_INFO_NULL, MPI_COMM_WORLD, 0, &w); MPI_Finalize();]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([$CC cannot build an MPI-3 program (mpi.h with MPI_VERSION >= 3). Use an MPI compiler wrapper: CC=mpicc.])])
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <mpi.h>]], [[#ifndef OPEN_MPI
#error not ompi
#endif]])], [sl_mpi_flavour="Open MPI"], [sl_mpi_flavour="MPI"])
])
