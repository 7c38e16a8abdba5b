/* SPDX-License-Identifier: BSD-3-Clause */
/* CUnit under MPI: every rank runs the suites; failures are summed across
 * ranks and rank 0 prints the summary; a failure on any rank fails the run. */
#ifndef SLUICE_TESTS_CUNIT_MPI_H
#define SLUICE_TESTS_CUNIT_MPI_H
#include <CUnit/Basic.h>
#include <mpi.h>

#include "core.h"

typedef struct {
    const char *name;
    CU_TestFunc fn;
} sl_test_t;

/* Runs one suite of tests (NULL-terminated list); returns the exit code. */
int sl_test_run(int argc, char **argv, const char *suite, const sl_test_t *tests);
/* A scratch directory for this run (same path on all ranks), created. */
const char *sl_test_tmpdir(void);
/* This rank and the world size. */
int sl_test_rank(void);
int sl_test_size(void);

/* Assert the same condition on every rank (collective): fails everywhere if
 * it is false anywhere, so no rank runs ahead into a collective. */
#define SL_ASSERT_ALL(cond)                                                    \
    do {                                                                       \
        int sl_ok_ = (cond) ? 1 : 0, sl_all_ = 0;                              \
        MPI_Allreduce(&sl_ok_, &sl_all_, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD); \
        CU_ASSERT_FATAL(sl_all_);                                              \
    } while (0)
#endif
