/* SPDX-License-Identifier: BSD-3-Clause */
/* CUnit under MPI: see cunit_mpi.h. */
#include "cunit_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[512];
static int rank_, size_;

int sl_test_rank(void) { return rank_; }
int sl_test_size(void) { return size_; }
const char *sl_test_tmpdir(void) { return tmpdir; }

int sl_test_run(int argc, char **argv, const char *suite, const sl_test_t *tests)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    sl_log_set_rank(rank_, size_);
    sl_log_init_env();
    /* One scratch directory per run, named by rank 0. */
    if (rank_ == 0) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/sluice-test-%s-XXXXXX", base, suite);
        if (!mkdtemp(tmpdir))
            tmpdir[0] = '\0';
    }
    MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (!tmpdir[0]) {
        fprintf(stderr, "cannot create a scratch directory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        MPI_Abort(MPI_COMM_WORLD, 1);
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    for (const sl_test_t *t = tests; t->name; t++)
        CU_add_test(s, t->name, t->fn);
    CU_basic_set_mode(rank_ == 0 ? CU_BRM_VERBOSE : CU_BRM_SILENT);
    CU_basic_run_tests();
    int fails = (int)CU_get_number_of_failures(), total = 0;
    int run = (int)CU_get_number_of_tests_run();
    if (fails && rank_ != 0) {
        /* Rank 0 printed its own; show where the others failed. */
        for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
            fprintf(stderr, "rank %d: %s:%u: %s\n", rank_, f->strFileName, f->uiLineNumber, f->strCondition);
    }
    CU_cleanup_registry();
    MPI_Allreduce(&fails, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (total && fails)
        fprintf(stderr, "rank %d: %d assertion(s) failed\n", rank_, fails);
    if (rank_ == 0)
        printf("%s with %d rank(s): %d tests, %d failed assertions over all ranks\n", suite, size_, run, total);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0 && !getenv("SLUICE_TEST_KEEP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
