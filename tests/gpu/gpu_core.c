/* SPDX-License-Identifier: BSD-3-Clause */
/* GPU checks of the core: device binding and the NCCL path of the
 * all-reduce on device buffers. Skips (exit 77) where no GPU is visible. */
#include "config.h"
#include "cunit_mpi.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>

static void test_bind(void)
{
    sl_topo_t t;
    CU_ASSERT_EQUAL_FATAL(sl_topo_init(MPI_COMM_WORLD, &t), SL_OK);
    CU_ASSERT_EQUAL(sl_gpu_bind(&t), SL_OK);
    int n = sl_gpu_count(), dev = -1;
    CU_ASSERT(t.gpu >= 0 && t.gpu < n);
    cudaGetDevice(&dev);
    CU_ASSERT_EQUAL(dev, t.gpu);
    CU_ASSERT_EQUAL(t.gpu, n == 1 ? 0 : t.local_rank % n);
    sl_topo_fini(&t);
}

static void test_nccl_allreduce(void)
{
#ifdef SL_HAVE_NCCL
    int r = sl_test_rank(), P = sl_test_size();
    const size_t n = 1 << 20;
    sl_topo_t t;
    CU_ASSERT_EQUAL_FATAL(sl_topo_init(MPI_COMM_WORLD, &t), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_gpu_bind(&t), SL_OK);
    sl_allreduce_t *ar;
    CU_ASSERT_EQUAL_FATAL(sl_allreduce_create(MPI_COMM_WORLD, SL_AR_NCCL, &ar), SL_OK);
    CU_ASSERT_STRING_EQUAL(sl_allreduce_backend(ar), "nccl+mpi");
    float *h = malloc(n * sizeof(float)), *d;
    for (size_t i = 0; i < n; i++)
        h[i] = (float)(r + 1) * (float)(i % 1000);
    CU_ASSERT_EQUAL_FATAL(cudaMalloc((void **)&d, n * sizeof(float)), cudaSuccess);
    CU_ASSERT(sl_is_device_ptr(d));
    CU_ASSERT(!sl_is_device_ptr(h));
    cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice);
    CU_ASSERT_EQUAL(sl_allreduce_sum(ar, d, n), SL_OK);
    cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost);
    float tri = (float)(P * (P + 1) / 2);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= fabsf(h[i] - tri * (float)(i % 1000)) <= 1e-5f * tri * (float)(i % 1000);
    CU_ASSERT(ok);
    /* Mean via the nonblocking pair on the all-reduce's own stream. */
    sl_allreduce_req_t req;
    CU_ASSERT_EQUAL(sl_allreduce_start(ar, d, n, 1, &req), SL_OK);
    CU_ASSERT_EQUAL(sl_allreduce_wait(ar, &req), SL_OK);
    cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost);
    CU_ASSERT(fabsf(h[999] - tri * 999.0f) <= 1e-3f * tri * 999.0f);
    /* Timing figure for the note: 64 MB all-reduce. */
    double t0 = MPI_Wtime();
    for (int k = 0; k < 10; k++)
        sl_allreduce_sum(ar, d, n);
    double dt = (MPI_Wtime() - t0) / 10;
    if (r == 0)
        printf("nccl all-reduce of %zu floats: %.3f ms\n", n, dt * 1e3);
    cudaFree(d);
    free(h);
    sl_allreduce_destroy(&ar);
    sl_topo_fini(&t);
#else
    CU_PASS("built without NCCL");
#endif
}

int main(int argc, char **argv)
{
    if (sl_gpu_count() == 0) {
        printf("SKIP: no GPU visible\n");
        return 77;
    }
    static const sl_test_t tests[] = {{"device binding", test_bind}, {"NCCL all-reduce", test_nccl_allreduce},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "gpu-core", tests);
}
