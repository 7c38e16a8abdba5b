/* SPDX-License-Identifier: BSD-3-Clause */
/* The elementwise and row-wise loops of the layers (bias, activations,
 * dropout masks, LayerNorm), shared by the reference and CPU backends.
 * Every reduction runs in a fixed order so results are reproducible. */
/* The hot loops here should be vectorised even in -O2 builds. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "config.h"
#include "train_impl.h"

#include <math.h>

void sl_nn_ops_bias_fwd(float *restrict y, const float *restrict b, int64_t n, int m)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            y[i * m + j] += b[j];
}

void sl_nn_ops_bias_bwd(float *restrict db, const float *restrict dy, int64_t n, int m)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < m; j++)
            db[j] += dy[i * m + j];
}

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */

void sl_nn_ops_act_fwd(sl_nn_layer_kind_t k, const float *restrict x, float *restrict y, size_t n)
{
    switch (k) {
    case SL_NN_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] > 0.f ? x[i] : 0.f;
        break;
    case SL_NN_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case SL_NN_GELU:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.f + tanhf(GELU_C * (v + 0.044715f * v * v * v)));
        }
        break;
    default: break;
    }
}

void sl_nn_ops_act_bwd(sl_nn_layer_kind_t k, const float *restrict x, const float *restrict y,
                       const float *restrict dy, float *restrict dx, size_t n)
{
    switch (k) {
    case SL_NN_RELU:
        for (size_t i = 0; i < n; i++) {
            float d = dy[i]; /* loaded unconditionally so the loop vectorises */
            dx[i] = x[i] > 0.f ? d : 0.f;
        }
        break;
    case SL_NN_TANH:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (1.f - y[i] * y[i]);
        break;
    case SL_NN_GELU:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float u = GELU_C * (v + 0.044715f * v * v * v);
            float t = tanhf(u);
            float du = GELU_C * (1.f + 3.f * 0.044715f * v * v);
            dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
        }
        break;
    default: break;
    }
}

void sl_nn_ops_mul(const float *restrict a, const float *restrict b, float *restrict out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void sl_nn_ops_ln_fwd(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                      int64_t n, int m)
{
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * m;
        float *yi = y + i * m;
        float mu = 0.f, var = 0.f;
        for (int j = 0; j < m; j++)
            mu += xi[j];
        mu /= (float)m;
        for (int j = 0; j < m; j++)
            var += (xi[j] - mu) * (xi[j] - mu);
        var /= (float)m;
        float rs = 1.f / sqrtf(var + SL_NN_LN_EPS);
        for (int j = 0; j < m; j++)
            yi[j] = (xi[j] - mu) * rs * g[j] + b[j];
        mean[i] = mu;
        rstd[i] = rs;
    }
}

void sl_nn_ops_ln_bwd(const float *x, const float *dy, const float *g, const float *mean, const float *rstd,
                      float *dx, float *dg, float *db, int64_t n, int m)
{
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * m, *dyi = dy + i * m;
        float *dxi = dx + i * m;
        float mu = mean[i], rs = rstd[i];
        float s1 = 0.f, s2 = 0.f; /* sums of dxhat and dxhat*xhat */
        for (int j = 0; j < m; j++) {
            float xh = (xi[j] - mu) * rs;
            float dxh = dyi[j] * g[j];
            dg[j] += dyi[j] * xh;
            db[j] += dyi[j];
            s1 += dxh;
            s2 += dxh * xh;
        }
        s1 /= (float)m;
        s2 /= (float)m;
        for (int j = 0; j < m; j++) {
            float xh = (xi[j] - mu) * rs;
            dxi[j] = (dyi[j] * g[j] - s1 - xh * s2) * rs;
        }
    }
}

void sl_nn_ops_add(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}
