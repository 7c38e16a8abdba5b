/* SPDX-License-Identifier: BSD-3-Clause */
/* The loops that run over every parameter each step: the Adam update and
 * the sums of the single-node step. Built with their own flags (see
 * Makefile.inc): vectorised, without errno for sqrtf, and without fused
 * multiply-adds, so every clone does the IEEE operations as written and
 * gives the same bits as a scalar loop; on x86-64 with GCC one clone per
 * ISA level (AVX-512, AVX2, baseline), chosen when the library loads. */
#include "config.h"
#include "train_impl.h"

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define SL_VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SL_VEC_CLONES
#endif

SL_VEC_CLONES
void sl_nn_vec_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                    size_t n, const sl_nn_adam_coef_t *c)
{
    const float b1 = c->b1, b1c = 1.f - c->b1, b2 = c->b2, b2c = 1.f - c->b2, step = c->step, rbc2 = c->rbc2,
                eps = c->eps, l2 = c->l2;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + l2 * p[i];
        float mi = b1 * m[i] + b1c * d;
        float vi = b2 * v[i] + b2c * d * d;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

SL_VEC_CLONES
void sl_nn_vec_add(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

SL_VEC_CLONES
void sl_nn_vec_scale(float *restrict x, size_t n, float c)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= c;
}
