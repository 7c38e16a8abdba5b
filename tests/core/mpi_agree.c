/* SPDX-License-Identifier: BSD-3-Clause */
/* Collective agreement, the stop flag, topology, progress and the host
 * all-reduce, on 1, 2 and 4 real ranks. */
#include "cunit_mpi.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void test_agree_error_on_one_rank(void)
{
    int r = sl_test_rank(), P = sl_test_size();
    for (int bad = 0; bad < P; bad++) {
        sl_status_t local = r == bad ? SL_ERR_IO : SL_OK;
        sl_status_t st = sl_agree(MPI_COMM_WORLD, local);
        CU_ASSERT_EQUAL(st, r == bad ? SL_ERR_IO : SL_ERR_PEER);
    }
    CU_ASSERT_EQUAL(sl_agree(MPI_COMM_WORLD, SL_OK), SL_OK);
    /* A real failure found on one rank only: a file only rank P-1 cannot write. */
    char path[700];
    snprintf(path, sizeof path, "%s/%s/f%d", sl_test_tmpdir(), r == P - 1 ? "missing-dir" : ".", r);
    sl_log_set_level(SL_LOG_NONE);
    sl_status_t st = sl_agree(MPI_COMM_WORLD, sl_file_write_atomic(path, "x", 1));
    sl_log_set_level(SL_LOG_INFO);
    CU_ASSERT_EQUAL(st, r == P - 1 ? SL_ERR_IO : SL_ERR_PEER);
    /* Stopped on one rank and failed on none: everyone sees STOPPED. */
    st = sl_agree(MPI_COMM_WORLD, r == 0 ? SL_ERR_STOPPED : SL_OK);
    CU_ASSERT_EQUAL(st, SL_ERR_STOPPED);
    /* Failure beats a stop. */
    st = sl_agree(MPI_COMM_WORLD, r == 0 ? SL_ERR_STOPPED : (r == P - 1 ? SL_ERR_INVALID : SL_OK));
    if (P > 1) {
        CU_ASSERT(st == (r == P - 1 ? SL_ERR_INVALID : SL_ERR_PEER));
    }
}

static void test_stop_flag(void)
{
    int r = sl_test_rank(), P = sl_test_size(), stop = -1;
    sl_stop_reset();
    CU_ASSERT_EQUAL(sl_stop_agree(MPI_COMM_WORLD, &stop), SL_OK);
    CU_ASSERT_EQUAL(stop, 0);
    CU_ASSERT_EQUAL(sl_signal_install(), SL_OK);
    if (r == P - 1)
        raise(SIGUSR1); /* a real signal on one rank only */
    CU_ASSERT_EQUAL(sl_stop_requested() != 0, r == P - 1);
    CU_ASSERT_EQUAL(sl_stop_agree(MPI_COMM_WORLD, &stop), SL_OK);
    CU_ASSERT_EQUAL(stop, 1);
    sl_stop_reset();
    CU_ASSERT_EQUAL(sl_stop_agree(MPI_COMM_WORLD, &stop), SL_OK);
    CU_ASSERT_EQUAL(stop, 0);
}

static void test_topology(void)
{
    sl_topo_t t;
    CU_ASSERT_EQUAL_FATAL(sl_topo_init(MPI_COMM_WORLD, &t), SL_OK);
    CU_ASSERT_EQUAL(t.size, sl_test_size());
    CU_ASSERT_EQUAL(t.rank, sl_test_rank());
    CU_ASSERT_EQUAL(t.nnodes, 1); /* one machine */
    CU_ASSERT_EQUAL(t.local_size, t.size);
    CU_ASSERT_EQUAL(t.local_rank, t.rank);
    CU_ASSERT_EQUAL(t.leader_comm != MPI_COMM_NULL, t.local_rank == 0);
    CU_ASSERT_EQUAL(t.gpu, -1);
    if (sl_gpu_count() == 0) {
        sl_log_set_level(SL_LOG_NONE);
        CU_ASSERT_EQUAL(sl_gpu_bind(&t), SL_ERR_UNSUPPORTED);
        sl_log_set_level(SL_LOG_INFO);
    }
    sl_topo_fini(&t);
    CU_ASSERT_EQUAL(t.comm, MPI_COMM_NULL);
}

static void test_allreduce(void)
{
    int r = sl_test_rank(), P = sl_test_size();
    const size_t n = 1001;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (int mode = 0; mode < 2; mode++) {
        sl_allreduce_t *ar;
        CU_ASSERT_EQUAL_FATAL(sl_allreduce_create(MPI_COMM_WORLD, mode ? SL_AR_ORDERED : 0, &ar), SL_OK);
        /* One machine: more than one rank takes the shared-memory path. */
        if (sl_test_size() > 1 && !getenv("SLUICE_ALLREDUCE"))
            CU_ASSERT_STRING_EQUAL(sl_allreduce_backend(ar), "shm")
        else
            CU_ASSERT_STRING_EQUAL(sl_allreduce_backend(ar), mode ? "mpi-ordered" : "mpi");
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] = (float)(r + 1) * (float)i;
        CU_ASSERT_EQUAL(sl_allreduce_sum(ar, a, n), SL_OK);
        CU_ASSERT_EQUAL(sl_allreduce_mean(ar, b, n), SL_OK);
        float tri = (float)(P * (P + 1) / 2);
        int ok = 1;
        for (size_t i = 0; i < n; i++) {
            ok &= fabsf(a[i] - tri * (float)i) <= 1e-6f * tri * (float)i;
            ok &= fabsf(b[i] - tri * (float)i / (float)P) <= 1e-5f * tri * (float)i;
        }
        CU_ASSERT(ok);
        /* Nonblocking pair gives the same as the blocking sum. */
        for (size_t i = 0; i < n; i++)
            b[i] = (float)(r + 1) * (float)i;
        sl_allreduce_req_t req;
        CU_ASSERT_EQUAL(sl_allreduce_start(ar, b, n, 0, &req), SL_OK);
        CU_ASSERT_EQUAL(sl_allreduce_wait(ar, &req), SL_OK);
        CU_ASSERT_EQUAL(memcmp(a, b, n * sizeof(float)), 0);
        sl_allreduce_destroy(&ar);
        CU_ASSERT_PTR_NULL(ar);
    }
    /* Ordered mode: the sum is added in rank order, exactly. */
    sl_allreduce_t *ar;
    CU_ASSERT_EQUAL_FATAL(sl_allreduce_create(MPI_COMM_WORLD, SL_AR_ORDERED, &ar), SL_OK);
    float v[3] = {1e8f, 1.0f, -1e8f};
    float x[3] = {v[r % 3], v[(r + 1) % 3], v[(r + 2) % 3]};
    float want[3];
    for (int k = 0; k < 3; k++) {
        float s = 0;
        for (int q = 0; q < P; q++)
            s += v[(q + k) % 3];
        want[k] = s;
    }
    CU_ASSERT_EQUAL(sl_allreduce_sum(ar, x, 3), SL_OK);
    CU_ASSERT_EQUAL(memcmp(x, want, sizeof want), 0);
    sl_allreduce_destroy(&ar);
    /* The same with the shared-memory path off, and a buffer larger than
     * the window (several segments), against the MPI ordered mode. */
    const size_t big = ((size_t)4 << 20) + 12345;
    float *s1 = malloc(big * sizeof(float)), *s2 = malloc(big * sizeof(float));
    for (size_t i = 0; i < big; i++)
        s1[i] = s2[i] = 1.0f / (float)(1 + (i + (size_t)r * 7) % 1000);
    sl_allreduce_t *a1, *a2;
    CU_ASSERT_EQUAL_FATAL(sl_allreduce_create(MPI_COMM_WORLD, SL_AR_ORDERED, &a1), SL_OK);
    setenv("SLUICE_ALLREDUCE", "mpi", 1);
    CU_ASSERT_EQUAL_FATAL(sl_allreduce_create(MPI_COMM_WORLD, SL_AR_ORDERED, &a2), SL_OK);
    unsetenv("SLUICE_ALLREDUCE");
    CU_ASSERT_STRING_EQUAL(sl_allreduce_backend(a2), "mpi-ordered");
    CU_ASSERT_EQUAL(sl_allreduce_mean(a1, s1, big), SL_OK);
    CU_ASSERT_EQUAL(sl_allreduce_mean(a2, s2, big), SL_OK);
    CU_ASSERT_EQUAL(memcmp(s1, s2, big * sizeof(float)), 0);
    sl_allreduce_destroy(&a1);
    sl_allreduce_destroy(&a2);
    free(s1);
    free(s2);
    free(a);
    free(b);
}

/* A node's shared window (every rank's segment mapped) and the barrier in
 * it: round k, each rank writes k + its rank into its segment; after the
 * barrier every rank sees every other rank's round-k value; after a second
 * barrier the segments may be written again. */
static void test_shared_window(void)
{
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int r, P;
    MPI_Comm_rank(node, &r);
    MPI_Comm_size(node, &P);
    char **bases = calloc((size_t)P, sizeof *bases);
    MPI_Win win = MPI_WIN_NULL;
    CU_ASSERT_EQUAL_FATAL(sl_shared_window_create(node, 128, &win, bases), SL_OK);
    sl_shm_barrier_t *bar = (sl_shm_barrier_t *)(void *)bases[0];
    if (r == 0)
        memset(bar, 0, sizeof *bar);
    MPI_Barrier(node);
    int bad = 0;
    for (long k = 0; k < 2000; k++) {
        volatile long *mine = (long *)(void *)(bases[r] + 64);
        *mine = k + r;
        sl_shm_barrier_wait(bar, P);
        for (int q = 0; q < P; q++)
            bad += *(volatile long *)(void *)(bases[q] + 64) != k + q;
        sl_shm_barrier_wait(bar, P);
    }
    SL_ASSERT_ALL(bad == 0);
    sl_shared_window_free(&win);
    CU_ASSERT(win == MPI_WIN_NULL);
    free(bases);
    MPI_Comm_free(&node);
    /* the shared-memory paths: on for 2+ ranks of one node, off for one
     * rank and with SLUICE_ALLREDUCE=mpi */
    SL_ASSERT_ALL(sl_comm_shm_path(MPI_COMM_WORLD) == (sl_test_size() > 1));
    SL_ASSERT_ALL(sl_comm_shm_path(MPI_COMM_SELF) == 0);
    setenv("SLUICE_ALLREDUCE", "mpi", 1);
    SL_ASSERT_ALL(sl_comm_shm_path(MPI_COMM_WORLD) == 0);
    unsetenv("SLUICE_ALLREDUCE");
}

static void test_progress(void)
{
    sl_progress_t *p;
    setenv("SLUICE_PROGRESS_INTERVAL", "0.01", 1);
    CU_ASSERT_EQUAL_FATAL(sl_progress_create(MPI_COMM_WORLD, "test", 100.0 * sl_test_size(), "items", &p),
                          SL_OK);
    for (int i = 0; i < 100; i++)
        sl_progress_add(p, 1);
    sl_progress_note(p, "note");
    CU_ASSERT_EQUAL(sl_progress_finish(&p), SL_OK);
    CU_ASSERT_PTR_NULL(p);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"an error on one rank reaches all", test_agree_error_on_one_rank},
                                      {"a signal on one rank stops all", test_stop_flag},
                                      {"topology", test_topology},
                                      {"all-reduce", test_allreduce},
                                      {"progress", test_progress},
                                      {"shared window and barrier", test_shared_window},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "agree", tests);
}
