/* SPDX-License-Identifier: BSD-3-Clause */
/* Launchers of the CUDA kernels (kernels.cu) used by the CUDA backend. The
 * kernels are static in kernels.cu; only these launchers are exported. All
 * run on the default stream; reductions use a fixed order per thread. */
#ifndef SLUICE_TRAIN_CUDA_KERNELS_H
#define SLUICE_TRAIN_CUDA_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* act: 1 relu, 2 tanh, 3 gelu (sl_nn_layer_kind_t values) */
void sl_nn_cu_bias_fwd(float *y, const float *b, int64_t n, int m);
void sl_nn_cu_bias_bwd(float *db, const float *dy, int64_t n, int m);
void sl_nn_cu_act_fwd(int act, const float *x, float *y, size_t n);
void sl_nn_cu_act_bwd(int act, const float *x, const float *y, const float *dy, float *dx, size_t n);
void sl_nn_cu_mul(const float *a, const float *b, float *out, size_t n);
void sl_nn_cu_add(float *dst, const float *src, size_t n);
void sl_nn_cu_ln_fwd(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                     int64_t n, int m, float eps);
void sl_nn_cu_ln_bwd(const float *x, const float *dy, const float *g, const float *mean, const float *rstd,
                     float *dx, float *dg, float *db, int64_t n, int m);
#ifdef __cplusplus
}
#endif
#endif
