/* SPDX-License-Identifier: BSD-3-Clause */
/* Status codes, RNG streams, formatting and atomic files. */
#include "config.h"
#include "cunit_mpi.h"
#include "gpulib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_status(void)
{
    CU_ASSERT_EQUAL(sl_status_exit_code(SL_OK), 0);
    CU_ASSERT_EQUAL(sl_status_exit_code(SL_ERR_USAGE), 2);
    CU_ASSERT_EQUAL(sl_status_exit_code(SL_ERR_STOPPED), 75);
    CU_ASSERT_EQUAL(sl_status_exit_code(SL_ERR_IO), 1);
    for (int s = SL_OK; s >= SL_ERR_NOSPACE; s--)
        CU_ASSERT(strcmp(sl_status_string((sl_status_t)s), "unknown status") != 0);
    CU_ASSERT_STRING_EQUAL(sl_version(), PACKAGE_VERSION);
}

static void test_rng(void)
{
    gsl_rng *a, *b, *c, *d;
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(42, 0, "init", &a), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(42, 0, "init", &b), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(42, 1, "init", &c), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(42, 0, "shuffle", &d), SL_OK);
    int same_ab = 1, same_ac = 1, same_ad = 1;
    for (int i = 0; i < 100; i++) {
        unsigned long x = gsl_rng_get(a), y = gsl_rng_get(b), z = gsl_rng_get(c), w = gsl_rng_get(d);
        same_ab &= x == y;
        same_ac &= x == z;
        same_ad &= x == w;
    }
    CU_ASSERT(same_ab);
    CU_ASSERT(!same_ac);
    CU_ASSERT(!same_ad);
    CU_ASSERT_EQUAL(sl_seed_mix(1, 2, "p"), sl_seed_mix(1, 2, "p"));
    CU_ASSERT_NOT_EQUAL(sl_seed_mix(1, 2, "p"), sl_seed_mix(2, 2, "p"));
    sl_rng_destroy(&a);
    CU_ASSERT_PTR_NULL(a);
    sl_rng_destroy(&a); /* NULL accepted */
    sl_rng_destroy(&b);
    sl_rng_destroy(&c);
    sl_rng_destroy(&d);
}

static void test_format(void)
{
    char b[32];
    CU_ASSERT_STRING_EQUAL(sl_format_duration(3.25, b, sizeof b), "3.2s");
    CU_ASSERT_STRING_EQUAL(sl_format_duration(125, b, sizeof b), "2m05s");
    CU_ASSERT_STRING_EQUAL(sl_format_duration(3725, b, sizeof b), "1h02m05s");
    CU_ASSERT_STRING_EQUAL(sl_format_bytes(1.5e9, b, sizeof b), "1.50 GB");
    CU_ASSERT_STRING_EQUAL(sl_format_bytes(512, b, sizeof b), "512 B");
    sl_log_level_t l;
    CU_ASSERT_EQUAL(sl_log_level_parse("verbose", &l), SL_OK);
    CU_ASSERT_EQUAL(l, SL_LOG_VERBOSE);
    CU_ASSERT_EQUAL(sl_log_level_parse("loud", &l), SL_ERR_INVALID);
}

static void test_files(void)
{
    char p[700], q[720], t[730];
    struct stat sb;
    snprintf(p, sizeof p, "%s/a/b/c", sl_test_tmpdir());
    CU_ASSERT_EQUAL(sl_mkdirs(p), SL_OK);
    CU_ASSERT_EQUAL(sl_mkdirs(p), SL_OK); /* exists: fine */
    CU_ASSERT(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(q, sizeof q, "%s/file.txt", p);
    CU_ASSERT_EQUAL(sl_file_write_atomic(q, "hello\n", 6), SL_OK);
    CU_ASSERT(stat(q, &sb) == 0 && sb.st_size == 6);
    snprintf(t, sizeof t, "%s.tmp", q);
    CU_ASSERT(stat(t, &sb) != 0); /* no temporary left */
    snprintf(p, sizeof p, "%s/file.txt/sub", sl_test_tmpdir());
    sl_log_set_level(SL_LOG_NONE);
    CU_ASSERT_EQUAL(sl_file_write_atomic("/nonexistent-dir/x", "x", 1), SL_ERR_IO);
    CU_ASSERT_EQUAL(sl_mkdirs(q), SL_ERR_IO); /* a file is in the way */
    sl_log_set_level(SL_LOG_INFO);
}

/* cuBLAS and NCCL open on first use (no GPU needed to load them): the
 * entry points are found, and a second call gives the same table. */
static void test_gpulib(void)
{
#ifdef SL_HAVE_CUDA
    const sl_cublas_fns_t *a = NULL, *b = NULL;
    CU_ASSERT_EQUAL_FATAL(sl_cublas_fns(&a), SL_OK);
    CU_ASSERT(a->create != NULL && a->sgemm != NULL);
    CU_ASSERT_EQUAL(sl_cublas_fns(&b), SL_OK);
    CU_ASSERT_PTR_EQUAL(a, b);
#endif
#ifdef SL_HAVE_NCCL
    const sl_nccl_fns_t *n = NULL;
    CU_ASSERT_EQUAL_FATAL(sl_nccl_fns(&n), SL_OK);
    CU_ASSERT(n->get_unique_id && n->comm_init_rank && n->all_reduce && n->comm_destroy &&
              n->get_error_string);
    CU_ASSERT_STRING_EQUAL(n->get_error_string(ncclSuccess), "no error");
#endif
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"status codes", test_status},
                                      {"rng streams", test_rng},
                                      {"formatting", test_format},
                                      {"atomic files", test_files},
                                      {"cuBLAS and NCCL opened on first use", test_gpulib},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "basics", tests);
}
