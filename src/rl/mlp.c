/* SPDX-License-Identifier: BSD-3-Clause */
/* A CPU fast path for the small tanh MLPs of the agent, working directly on
 * train's parameter and gradient arenas (sl_nn_params / sl_nn_grads, laid
 * out as sl_nn_tensor_info says): sgemm through CBLAS and a rational tanh
 * (|error| < 4e-7) instead of libm's tanhf, which dominated the profile.
 * train's sl_nn_forward / sl_nn_backward stay the reference path (the
 * tests compare both) and the only path on CUDA. */
#include "config.h"
#include "rl_impl.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Minimax rational approximation of tanh on [-7.905, 7.905] (the
 * coefficients of Eigen's generic_fast_tanh_float), clamped outside. */
static inline float fast_tanh(float x)
{
    const float c = 7.90531110763549805f;
    x = x > c ? c : x < -c ? -c : x;
    float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = x2 * p + -8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    p = x * p;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return p / q;
}

float rl_tanh(float x)
{
    return fast_tanh(x);
}

/* The elementwise loops vectorise at -O3 (GCC: 8 lanes with an AVX2 clone
 * picked at load time); the result is the same in every clone up to the
 * rounding of fused multiply-adds. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define RL_VEC __attribute__((optimize("O3"), target_clones("avx2", "default")))
#else
#define RL_VEC
#endif

typedef float rl_v8f __attribute__((vector_size(32)));
typedef int rl_v8i __attribute__((vector_size(32)));

/* fast_tanh on 8 lanes with GCC/clang vector extensions (the clamp as
 * bit selects, so it vectorises without fast-math). */
RL_VEC static void tanh_inplace(float *restrict y, size_t n)
{
    size_t i = 0;
    const rl_v8f c = {7.90531110763549805f, 7.90531110763549805f, 7.90531110763549805f, 7.90531110763549805f,
                      7.90531110763549805f, 7.90531110763549805f, 7.90531110763549805f, 7.90531110763549805f};
    for (; i + 8 <= n; i += 8) {
        rl_v8f x;
        memcpy(&x, y + i, sizeof x);
        rl_v8i hi = x > c, lo = x < -c;
        x = (rl_v8f)(((rl_v8i)x & ~hi & ~lo) | ((rl_v8i)c & hi) | ((rl_v8i)(-c) & lo));
        rl_v8f x2 = x * x;
        rl_v8f p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        p = x2 * p + -8.60467152213735e-11f;
        p = x2 * p + 5.12229709037114e-08f;
        p = x2 * p + 1.48572235717979e-05f;
        p = x2 * p + 6.37261928875436e-04f;
        p = x2 * p + 4.89352455891786e-03f;
        p = x * p;
        rl_v8f q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        q = x2 * q + 2.26843463243900e-03f;
        q = x2 * q + 4.89352518554385e-03f;
        x = p / q;
        memcpy(y + i, &x, sizeof x);
    }
    for (; i < n; i++)
        y[i] = fast_tanh(y[i]);
}

RL_VEC static void tanh_grad(float *restrict dx, const float *restrict h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] *= 1.f - h[i] * h[i];
}

RL_VEC double rl_sumsq(const float *restrict g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * (double)g[i];
    return s;
}

RL_VEC void rl_scale(float *restrict g, size_t n, float c)
{
    for (size_t i = 0; i < n; i++)
        g[i] *= c;
}

sl_status_t rl_mlp_bind(rl_mlp_t *m, sl_nn_t *nn)
{
    memset(m, 0, sizeof *m);
    m->nn = nn;
    int nl = sl_nn_num_layers(nn), L = 0;
    for (int i = 0; i < nl; i++) {
        sl_nn_layer_kind_t k = sl_nn_layer_kind(nn, i);
        if (k != SL_NN_LINEAR && k != SL_NN_TANH)
            return sl_error(SL_ERR_UNSUPPORTED, "rl fast path: layer %d of '%s' is not Linear or Tanh", i,
                            sl_nn_spec(nn));
        /* Linear layers alternate with tanh; the last has none. */
        if ((k == SL_NN_LINEAR) != (i % 2 == 0))
            return sl_error(SL_ERR_UNSUPPORTED, "rl fast path: '%s' is not Linear-Tanh-...-Linear",
                            sl_nn_spec(nn));
        L += k == SL_NN_LINEAR;
    }
    if (L > RL_MLP_MAXL || sl_nn_num_tensors(nn) != 2 * L)
        return sl_error(SL_ERR_UNSUPPORTED, "rl fast path: '%s' has too many layers", sl_nn_spec(nn));
    m->L = L;
    for (int t = 0; t < 2 * L; t++) {
        sl_nn_tensor_info_t ti;
        SL_TRY(sl_nn_tensor_info(nn, t, &ti));
        int l = -1;
        char what[16] = "";
        if (sscanf(ti.name, "fc%d/%15s", &l, what) != 2 || l < 1 || l > L ||
            (strcmp(what, "weight") && strcmp(what, "bias")))
            return sl_error(SL_ERR_UNSUPPORTED, "rl fast path: unexpected tensor '%s' in '%s'", ti.name,
                            sl_nn_spec(nn));
        l--;
        if (!strcmp(what, "weight")) {
            m->woff[l] = ti.offset;
            m->out[l] = ti.rows;
            m->in[l] = ti.cols;
        } else
            m->boff[l] = ti.offset;
    }
    return SL_OK;
}

void rl_mlp_fini(rl_mlp_t *m)
{
    for (int l = 0; l <= RL_MLP_MAXL; l++)
        free(m->h[l]);
    free(m->dh[0]);
    free(m->dh[1]);
    memset(m, 0, sizeof *m);
}

static sl_status_t ensure(rl_mlp_t *m, int n)
{
    if (n <= m->cap)
        return SL_OK;
    int width = 0;
    for (int l = 0; l < m->L; l++) {
        width = m->in[l] > width ? m->in[l] : width;
        width = m->out[l] > width ? m->out[l] : width;
    }
    for (int l = 0; l <= m->L; l++) {
        free(m->h[l]);
        m->h[l] = malloc((size_t)n * (size_t)width * sizeof(float));
    }
    for (int i = 0; i < 2; i++) {
        free(m->dh[i]);
        m->dh[i] = malloc((size_t)n * (size_t)width * sizeof(float));
    }
    for (int l = 0; l <= m->L; l++)
        if (!m->h[l])
            return sl_error(SL_ERR_NOMEM, "out of memory for a batch of %d", n);
    if (!m->dh[0] || !m->dh[1])
        return sl_error(SL_ERR_NOMEM, "out of memory for a batch of %d", n);
    m->cap = n;
    return SL_OK;
}

sl_status_t rl_mlp_forward(rl_mlp_t *m, const float *x, int n, const float **y_p)
{
    SL_TRY(ensure(m, n));
    const float *P = sl_nn_params(m->nn);
    memcpy(m->h[0], x, (size_t)n * (size_t)m->in[0] * sizeof(float));
    for (int l = 0; l < m->L; l++) {
        int in = m->in[l], out = m->out[l];
        float *y = m->h[l + 1];
        const float *b = P + m->boff[l];
        for (int i = 0; i < n; i++)
            memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.f, m->h[l], in, P + m->woff[l], in,
                    1.f, y, out);
        if (l < m->L - 1)
            tanh_inplace(y, (size_t)n * out);
    }
    m->n = n;
    *y_p = m->h[m->L];
    return SL_OK;
}

void rl_mlp_backward(rl_mlp_t *m, const float *dy)
{
    const float *P = sl_nn_params(m->nn);
    float *G = sl_nn_grads(m->nn);
    int n = m->n;
    const float *d = dy;
    for (int l = m->L - 1; l >= 0; l--) {
        int in = m->in[l], out = m->out[l];
        float *gb = G + m->boff[l];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < out; j++)
                gb[j] += d[(size_t)i * out + j];
        /* dW (out x in) += d^T (out x n) h_l (n x in) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.f, d, out, m->h[l], in, 1.f,
                    G + m->woff[l], in);
        if (l == 0)
            break;
        float *dx = m->dh[l % 2];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.f, d, out, P + m->woff[l], in,
                    0.f, dx, in);
        tanh_grad(dx, m->h[l], (size_t)n * in); /* h[l]: tanh output of the layer below */
        d = dx;
    }
}
