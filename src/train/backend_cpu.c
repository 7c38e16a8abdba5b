/* SPDX-License-Identifier: BSD-3-Clause */
/* The CPU backend: OpenBLAS sgemm for the matrix products (threads per
 * rank set with sl_nn_set_threads), the shared loops for the rest. */
#include "config.h"
#include "train_impl.h"

#include <cblas.h>

static void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

void sl_nn_set_threads(int threads)
{
    if (threads > 0)
        openblas_set_num_threads(threads);
}

const sl_nn_backend_t sl_nn_backend_cpu = {
    "cpu",
    sl_nn_host_alloc,
    sl_nn_host_free,
    sl_nn_host_copy,
    sl_nn_host_copy,
    sl_nn_host_copy,
    cpu_gemm,
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
