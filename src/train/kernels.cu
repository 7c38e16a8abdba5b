/* SPDX-License-Identifier: BSD-3-Clause */
/* CUDA kernels of the train backend: bias, activations, masks, LayerNorm.
 * Kernels are static; the extern "C" launchers in cuda_kernels.h are the
 * interface. Column sums loop over rows in order (deterministic). */
#include "cuda_kernels.h"

#include <cuda_runtime.h>

#define GELU_C  0.7978845608028654f
#define THREADS 256

static unsigned blocks(size_t n)
{
    return (unsigned)((n + THREADS - 1) / THREADS);
}

static __global__ void bias_fwd_k(float *y, const float *b, int64_t n, int m)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)n * m)
        y[i] += b[i % m];
}

static __global__ void bias_bwd_k(float *db, const float *dy, int64_t n, int m)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m)
        return;
    float s = db[j];
    for (int64_t i = 0; i < n; i++)
        s += dy[i * m + j];
    db[j] = s;
}

static __global__ void act_fwd_k(int act, const float *x, float *y, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i];
    if (act == 1)
        y[i] = v > 0.f ? v : 0.f;
    else if (act == 2)
        y[i] = tanhf(v);
    else
        y[i] = 0.5f * v * (1.f + tanhf(GELU_C * (v + 0.044715f * v * v * v)));
}

static __global__ void act_bwd_k(int act, const float *x, const float *y, const float *dy, float *dx,
                                 size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i];
    if (act == 1)
        dx[i] = v > 0.f ? dy[i] : 0.f;
    else if (act == 2)
        dx[i] = dy[i] * (1.f - y[i] * y[i]);
    else {
        float t = tanhf(GELU_C * (v + 0.044715f * v * v * v));
        float du = GELU_C * (1.f + 3.f * 0.044715f * v * v);
        dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
    }
}

static __global__ void mul_k(const float *a, const float *b, float *out, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = a[i] * b[i];
}

static __global__ void add_k(float *dst, const float *src, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] += src[i];
}

static __global__ void ln_fwd_k(const float *x, float *y, const float *g, const float *b, float *mean,
                                float *rstd, int64_t n, int m, float eps)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float *xi = x + i * m;
    float *yi = y + i * m;
    float mu = 0.f, var = 0.f;
    for (int j = 0; j < m; j++)
        mu += xi[j];
    mu /= (float)m;
    for (int j = 0; j < m; j++)
        var += (xi[j] - mu) * (xi[j] - mu);
    var /= (float)m;
    float rs = rsqrtf(var + eps);
    for (int j = 0; j < m; j++)
        yi[j] = (xi[j] - mu) * rs * g[j] + b[j];
    mean[i] = mu;
    rstd[i] = rs;
}

static __global__ void ln_bwd_dx_k(const float *x, const float *dy, const float *g, const float *mean,
                                   const float *rstd, float *dx, int64_t n, int m)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float *xi = x + i * m, *dyi = dy + i * m;
    float mu = mean[i], rs = rstd[i], s1 = 0.f, s2 = 0.f;
    for (int j = 0; j < m; j++) {
        float xh = (xi[j] - mu) * rs, dxh = dyi[j] * g[j];
        s1 += dxh;
        s2 += dxh * xh;
    }
    s1 /= (float)m;
    s2 /= (float)m;
    for (int j = 0; j < m; j++) {
        float xh = (xi[j] - mu) * rs;
        dx[i * m + j] = (dyi[j] * g[j] - s1 - xh * s2) * rs;
    }
}

static __global__ void ln_bwd_dg_k(const float *x, const float *dy, const float *mean, const float *rstd,
                                   float *dg, float *db, int64_t n, int m)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= m)
        return;
    float sg = dg[j], sb = db[j];
    for (int64_t i = 0; i < n; i++) {
        float xh = (x[i * m + j] - mean[i]) * rstd[i];
        sg += dy[i * m + j] * xh;
        sb += dy[i * m + j];
    }
    dg[j] = sg;
    db[j] = sb;
}

extern "C" {
void sl_nn_cu_bias_fwd(float *y, const float *b, int64_t n, int m)
{
    bias_fwd_k<<<blocks((size_t)n * m), THREADS>>>(y, b, n, m);
}
void sl_nn_cu_bias_bwd(float *db, const float *dy, int64_t n, int m)
{
    bias_bwd_k<<<blocks((size_t)m), THREADS>>>(db, dy, n, m);
}
void sl_nn_cu_act_fwd(int act, const float *x, float *y, size_t n)
{
    act_fwd_k<<<blocks(n), THREADS>>>(act, x, y, n);
}
void sl_nn_cu_act_bwd(int act, const float *x, const float *y, const float *dy, float *dx, size_t n)
{
    act_bwd_k<<<blocks(n), THREADS>>>(act, x, y, dy, dx, n);
}
void sl_nn_cu_mul(const float *a, const float *b, float *out, size_t n)
{
    mul_k<<<blocks(n), THREADS>>>(a, b, out, n);
}
void sl_nn_cu_add(float *dst, const float *src, size_t n)
{
    add_k<<<blocks(n), THREADS>>>(dst, src, n);
}
void sl_nn_cu_ln_fwd(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                     int64_t n, int m, float eps)
{
    ln_fwd_k<<<blocks((size_t)n), THREADS>>>(x, y, g, b, mean, rstd, n, m, eps);
}
void sl_nn_cu_ln_bwd(const float *x, const float *dy, const float *g, const float *mean, const float *rstd,
                     float *dx, float *dg, float *db, int64_t n, int m)
{
    ln_bwd_dx_k<<<blocks((size_t)n), THREADS>>>(x, dy, g, mean, rstd, dx, n, m);
    ln_bwd_dg_k<<<blocks((size_t)m), THREADS>>>(x, dy, mean, rstd, dg, db, n, m);
}
}
