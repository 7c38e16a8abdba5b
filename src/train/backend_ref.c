/* SPDX-License-Identifier: BSD-3-Clause */
/* The reference backend: plain loops everywhere, matrix products included.
 * It is the oracle the tests hold the CPU and CUDA backends against. */
#include "config.h"
#include "train_impl.h"

#include <stdlib.h>
#include <string.h>

sl_status_t sl_nn_host_alloc(float **p, size_t n)
{
    float *q = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    if (posix_memalign((void **)&q, 64, bytes) != 0)
        return sl_error(SL_ERR_NOMEM, "out of memory (%zu floats)", n);
    memset(q, 0, bytes);
    *p = q;
    return SL_OK;
}
void sl_nn_host_free(float *p)
{
    free(p);
}
sl_status_t sl_nn_host_copy(float *dst, const float *src, size_t n)
{
    if (dst != src && n)
        memmove(dst, src, n * sizeof(float));
    return SL_OK;
}
sl_status_t sl_nn_host_sync(void)
{
    return SL_OK;
}

static void ref_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.f;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = alpha * s + (beta == 0.f ? 0.f : beta * *c);
        }
}

const sl_nn_backend_t sl_nn_backend_ref = {
    "ref",
    sl_nn_host_alloc,
    sl_nn_host_free,
    sl_nn_host_copy,
    sl_nn_host_copy,
    sl_nn_host_copy,
    ref_gemm,
    sl_nn_ops_bias_fwd,
    sl_nn_ops_bias_bwd,
    sl_nn_ops_act_fwd,
    sl_nn_ops_act_bwd,
    sl_nn_ops_mul,
    sl_nn_ops_ln_fwd,
    sl_nn_ops_ln_bwd,
    sl_nn_ops_add,
    sl_nn_host_sync,
};
