/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUDA backend: device memory, cuBLAS sgemm for the matrix products
 * (row-major through the transposed column-major call), and the kernels of
 * kernels.cu for the rest. Errors of asynchronous work surface at the next
 * download, which synchronises and checks cudaGetLastError. */
#include "config.h"
#include "train_impl.h"

#ifdef SL_HAVE_CUDA
#include "cuda_kernels.h"
#include "gpulib.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

/* One cuBLAS handle per process (and its current device), made on first
 * use: cuBLAS handles are costly to create and safe to share on a stream. */
static cublasHandle_t handle;
static int gemm_failed;

static sl_status_t cu_check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess)
        return sl_error(SL_ERR_CUDA, "%s: %s", what, cudaGetErrorString(e));
    return SL_OK;
}

static sl_status_t cu_alloc(float **p, size_t n)
{
    float *q = NULL;
    SL_TRY(cu_check(cudaMalloc((void **)&q, (n ? n : 1) * sizeof(float)), "cudaMalloc"));
    cudaMemset(q, 0, (n ? n : 1) * sizeof(float));
    *p = q;
    return SL_OK;
}
static void cu_free(float *p)
{
    if (p)
        cudaFree(p);
}
static sl_status_t cu_upload(float *dst, const float *src, size_t n)
{
    return cu_check(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice), "copy to the GPU");
}
static sl_status_t cu_download(float *dst, const float *src, size_t n)
{
    SL_TRY(cu_check(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost), "copy from the GPU"));
    if (gemm_failed) {
        gemm_failed = 0;
        return sl_error(SL_ERR_CUDA, "cublasSgemm failed");
    }
    return cu_check(cudaGetLastError(), "CUDA kernel");
}
static sl_status_t cu_copy(float *dst, const float *src, size_t n)
{
    return cu_check(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice), "copy on the GPU");
}
static sl_status_t cu_sync(void)
{
    return cu_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

static void cu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc)
{
    const sl_cublas_fns_t *cb;
    if (sl_cublas_fns(&cb) != SL_OK || (!handle && cb->create(&handle) != CUBLAS_STATUS_SUCCESS)) {
        gemm_failed = 1;
        return;
    }
    /* row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T */
    if (cb->sgemm(handle, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha,
                    B, ldb, A, lda, &beta, C, ldc) != CUBLAS_STATUS_SUCCESS)
        gemm_failed = 1;
}

static void cu_act_fwd(sl_nn_layer_kind_t k, const float *x, float *y, size_t n)
{
    sl_nn_cu_act_fwd((int)k, x, y, n);
}
static void cu_act_bwd(sl_nn_layer_kind_t k, const float *x, const float *y, const float *dy, float *dx,
                       size_t n)
{
    sl_nn_cu_act_bwd((int)k, x, y, dy, dx, n);
}
static void cu_ln_fwd(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                      int64_t n, int m)
{
    sl_nn_cu_ln_fwd(x, y, g, b, mean, rstd, n, m, SL_NN_LN_EPS);
}

const sl_nn_backend_t sl_nn_backend_cuda = {
    "cuda",    cu_alloc,          cu_free,           cu_upload,  cu_download, cu_copy,
    cu_gemm,   sl_nn_cu_bias_fwd, sl_nn_cu_bias_bwd, cu_act_fwd, cu_act_bwd,  sl_nn_cu_mul,
    cu_ln_fwd, sl_nn_cu_ln_bwd,   sl_nn_cu_add,      cu_sync,
};
#endif
