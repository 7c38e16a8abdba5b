/* SPDX-License-Identifier: BSD-3-Clause */
/* HDF5 checkpoints: collective writes of distributed and replicated arrays,
 * atomic commit, keep-last-K, reads by a different number of ranks, and
 * errors that say what differs. */
#include "cunit_mpi.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROWS 37
#define COLS 5

static void block(uint64_t n, int P, int r, uint64_t *off, uint64_t *cnt)
{
    uint64_t base = n / (uint64_t)P, rem = n % (uint64_t)P;
    *off = (uint64_t)r * base + ((uint64_t)r < rem ? (uint64_t)r : rem);
    *cnt = base + ((uint64_t)r < rem);
}

static float val(uint64_t i, uint64_t j, int version) { return (float)(i * 100 + j) + 0.5f * (float)version; }

static sl_status_t write_ckpt(const char *path, int version, int keep)
{
    int r = sl_test_rank(), P = sl_test_size();
    uint64_t off, cnt, dims[2] = {ROWS, COLS};
    block(ROWS, P, r, &off, &cnt);
    float *x = malloc((cnt ? cnt : 1) * COLS * sizeof(float));
    for (uint64_t i = 0; i < cnt; i++)
        for (uint64_t j = 0; j < COLS; j++)
            x[i * COLS + j] = val(off + i, j, version);
    int32_t small[4] = {1, 2, 3, version};
    uint64_t d1 = 4;
    sl_h5_t *h;
    sl_status_t st = sl_h5_create(MPI_COMM_WORLD, path, &h);
    if (st == SL_OK) {
        struct stat sb;
        char tmp[700];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        SL_ASSERT_ALL(stat(tmp, &sb) == 0);
        st = sl_h5_write_rows(h, "model/layer0/weight", SL_F32, 2, dims, off, cnt, x);
        if (st == SL_OK)
            st = sl_h5_write(h, "meta/small", SL_I32, 1, &d1, small);
        if (st == SL_OK)
            st = sl_h5_set_attr_i64(h, "/", "version", version);
        if (st == SL_OK)
            st = sl_h5_set_attr_str(h, "model", "spec", "mlp:5-3");
        if (st == SL_OK)
            st = sl_h5_set_attr_f64(h, "/", "loss", 0.125);
        if (st == SL_OK)
            st = sl_h5_commit(&h, keep);
        else
            sl_h5_discard(&h);
    }
    free(x);
    return st;
}

static int64_t version_of(MPI_Comm comm, const char *path)
{
    sl_h5_t *h;
    int64_t v = -1;
    if (sl_h5_open(comm, path, &h) != SL_OK)
        return -2;
    sl_h5_get_attr_i64(h, "/", "version", &v);
    sl_h5_close(&h);
    return v;
}

static void test_write_read_other_ranks(void)
{
    char path[700];
    int r = sl_test_rank(), P = sl_test_size();
    snprintf(path, sizeof path, "%s/ckpt.h5", sl_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(write_ckpt(path, 1, 1), SL_OK);
    /* Read with half the ranks (e.g. written by 4, read by 2). */
    int Q = P > 1 ? P / 2 : 1;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, r < Q ? 0 : MPI_UNDEFINED, r, &sub);
    if (sub != MPI_COMM_NULL) {
        sl_h5_t *h;
        CU_ASSERT_EQUAL_FATAL(sl_h5_open(sub, path, &h), SL_OK);
        uint64_t off, cnt;
        block(ROWS, Q, r, &off, &cnt);
        float *x = malloc((cnt ? cnt : 1) * COLS * sizeof(float));
        CU_ASSERT_EQUAL(sl_h5_read_rows(h, "model/layer0/weight", SL_F32, off, cnt, x), SL_OK);
        int ok = 1;
        for (uint64_t i = 0; i < cnt; i++)
            for (uint64_t j = 0; j < COLS; j++)
                ok &= x[i * COLS + j] == val(off + i, j, 1);
        CU_ASSERT(ok);
        float all[ROWS * COLS];
        uint64_t dims[2] = {ROWS, COLS};
        CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer0/weight", SL_F32, 2, dims, all), SL_OK);
        CU_ASSERT_EQUAL(all[36 * COLS + 4], val(36, 4, 1));
        int32_t small[4];
        uint64_t d1 = 4;
        CU_ASSERT_EQUAL(sl_h5_read(h, "meta/small", SL_I32, 1, &d1, small), SL_OK);
        CU_ASSERT_EQUAL(small[3], 1);
        char *s = NULL;
        CU_ASSERT_EQUAL(sl_h5_get_attr_str(h, "model", "spec", &s), SL_OK);
        CU_ASSERT_STRING_EQUAL(s ? s : "", "mlp:5-3");
        free(s);
        double loss = 0;
        CU_ASSERT_EQUAL(sl_h5_get_attr_f64(h, "/", "loss", &loss), SL_OK);
        CU_ASSERT_EQUAL(loss, 0.125);
        int64_t dummy;
        CU_ASSERT_EQUAL(sl_h5_get_attr_i64(h, "/", "absent", &dummy), SL_ERR_NOT_FOUND);
        sl_h5_close(&h);
        free(x);
        MPI_Comm_free(&sub);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void test_mismatch_errors(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/mm.h5", sl_test_tmpdir());
    CU_ASSERT_EQUAL_FATAL(write_ckpt(path, 1, 1), SL_OK);
    sl_h5_t *h;
    CU_ASSERT_EQUAL_FATAL(sl_h5_open(MPI_COMM_WORLD, path, &h), SL_OK);
    float buf[ROWS * COLS];
    uint64_t wrong[2] = {ROWS, COLS + 1}, right[2] = {ROWS, COLS}, any[2] = {0, COLS};
    sl_log_set_level(SL_LOG_NONE);
    CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer0/weight", SL_F32, 2, wrong, buf), SL_ERR_MISMATCH);
    CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer0/weight", SL_F64, 2, right, buf), SL_ERR_MISMATCH);
    CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer0/weight", SL_F32, 1, right, buf), SL_ERR_MISMATCH);
    CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer1/weight", SL_F32, 2, right, buf), SL_ERR_MISMATCH);
    CU_ASSERT_EQUAL(sl_h5_read(h, "nogroup/x", SL_F32, 2, right, buf), SL_ERR_MISMATCH);
    CU_ASSERT_EQUAL(sl_h5_read_rows(h, "model/layer0/weight", SL_F32, ROWS - 1, 2, buf), SL_ERR_INVALID);
    sl_log_set_level(SL_LOG_INFO);
    CU_ASSERT_EQUAL(sl_h5_read(h, "model/layer0/weight", SL_F32, 2, any, buf), SL_OK);
    CU_ASSERT(sl_h5_exists(h, "model/layer0/weight"));
    CU_ASSERT(!sl_h5_exists(h, "model/layerX/weight"));
    sl_h5_close(&h);
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none.h5", sl_test_tmpdir());
    CU_ASSERT_EQUAL(sl_h5_open(MPI_COMM_WORLD, missing, &h), SL_ERR_NOT_FOUND);
    /* A file that is not HDF5. */
    if (sl_test_rank() == 0)
        sl_file_write_atomic(missing, "not hdf5\n", 9);
    MPI_Barrier(MPI_COMM_WORLD);
    sl_log_set_level(SL_LOG_NONE);
    CU_ASSERT_EQUAL(sl_h5_open(MPI_COMM_WORLD, missing, &h), SL_ERR_HDF5);
    sl_log_set_level(SL_LOG_INFO);
}

static void test_atomic_commit_and_keep(void)
{
    char path[700], p1[720], p2[720], tmp[720];
    struct stat sb;
    snprintf(path, sizeof path, "%s/keep.h5", sl_test_tmpdir());
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Discarded: nothing appears. */
    sl_h5_t *h;
    CU_ASSERT_EQUAL_FATAL(sl_h5_create(MPI_COMM_WORLD, path, &h), SL_OK);
    sl_h5_discard(&h);
    CU_ASSERT_PTR_NULL(h);
    SL_ASSERT_ALL(stat(path, &sb) != 0 && stat(tmp, &sb) != 0);
    for (int v = 1; v <= 4; v++)
        CU_ASSERT_EQUAL_FATAL(write_ckpt(path, v, 3), SL_OK);
    CU_ASSERT_EQUAL(version_of(MPI_COMM_WORLD, path), 4);
    CU_ASSERT_EQUAL(version_of(MPI_COMM_WORLD, p1), 3);
    CU_ASSERT_EQUAL(version_of(MPI_COMM_WORLD, p2), 2);
    char p3[720];
    snprintf(p3, sizeof p3, "%s.3", path);
    SL_ASSERT_ALL(stat(p3, &sb) != 0 && stat(tmp, &sb) != 0);
}

static void test_rng_state(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/rng.h5", sl_test_tmpdir());
    gsl_rng *a, *b;
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(7, sl_test_rank(), "x", &a), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_rng_create(8, 0, "y", &b), SL_OK);
    for (int i = 0; i < 10; i++)
        gsl_rng_get(a);
    sl_h5_t *h;
    CU_ASSERT_EQUAL_FATAL(sl_h5_create(MPI_COMM_WORLD, path, &h), SL_OK);
    CU_ASSERT_EQUAL(sl_h5_write_rng(h, "rng/x", a), SL_OK);
    CU_ASSERT_EQUAL(sl_h5_commit(&h, 1), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_h5_open(MPI_COMM_WORLD, path, &h), SL_OK);
    CU_ASSERT_EQUAL(sl_h5_read_rng(h, "rng/x", b), SL_OK);
    sl_h5_close(&h);
    int same = 1;
    for (int i = 0; i < 50; i++)
        same &= gsl_rng_get(a) == gsl_rng_get(b);
    CU_ASSERT(same);
    sl_rng_destroy(&a);
    sl_rng_destroy(&b);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"written by P ranks, read by P/2", test_write_read_other_ranks},
                                      {"mismatches are errors", test_mismatch_errors},
                                      {"atomic commit and keep-last-K", test_atomic_commit_and_keep},
                                      {"rng state round trip", test_rng_state},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "h5", tests);
}
