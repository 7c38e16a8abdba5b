/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the network library on one rank: gradients of every layer
 * and loss against central finite differences (reference backend, in
 * float with a stated tolerance), the CPU backend against the reference,
 * optimiser steps against hand-computed values, clipping, schedules and
 * spec parsing. */
#include "cunit_mpi.h"
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Loss L(params, x) for a fixed batch; used for finite differences. */
static double eval_loss(sl_nn_t *nn, const float *x, int n, sl_nn_loss_kind_t kind, const void *t, int drop)
{
    const float *y;
    double ls;
    if (drop)
        sl_nn_seed_dropout(nn, 5, 0);
    CU_ASSERT_FATAL(sl_nn_forward(nn, x, n, drop, &y) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_loss(kind, y, t, n, sl_nn_out_features(nn), 1.0 / n, &ls, NULL, NULL) == SL_OK);
    return ls / n;
}

/* Checks d loss / d params and d loss / d x against central differences. */
static void check_grads(const char *spec, sl_nn_loss_kind_t kind, int drop)
{
    sl_nn_t *nn = NULL;
    CU_ASSERT_FATAL(sl_nn_create(spec, SL_NN_REF, 3, &nn) == SL_OK);
    int n = 5, F = sl_nn_in_features(nn), K = sl_nn_out_features(nn);
    float *x = malloc(sizeof(float) * n * F), *dy = malloc(sizeof(float) * n * K),
          *dx = malloc(sizeof(float) * n * F);
    int32_t lab[5];
    float tgt[5 * 16];
    gsl_rng *r = NULL;
    sl_rng_create(9, 0, "test", &r);
    for (int i = 0; i < n * F; i++)
        x[i] = (float)(gsl_rng_uniform(r) * 2 - 1);
    for (int i = 0; i < n; i++)
        lab[i] = (int32_t)gsl_rng_uniform_int(r, K);
    for (int i = 0; i < n * K; i++)
        tgt[i] = (float)gsl_rng_uniform(r);
    const void *t = kind == SL_NN_XENT ? (const void *)lab : (const void *)tgt;
    const float *y;
    double ls;
    if (drop)
        sl_nn_seed_dropout(nn, 5, 0);
    CU_ASSERT_FATAL(sl_nn_forward(nn, x, n, 1, &y) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_loss(kind, y, t, n, K, 1.0 / n, &ls, dy, NULL) == SL_OK);
    sl_nn_zero_grad(nn);
    CU_ASSERT_FATAL(sl_nn_backward(nn, dy, dx) == SL_OK);
    size_t np = sl_nn_num_params(nn);
    float *p = sl_nn_params(nn), *g = sl_nn_grads(nn);
    float *gcopy = malloc(np * sizeof(float));
    memcpy(gcopy, g, np * sizeof(float));
    const float h = 1e-2f;
    int bad = 0;
    for (size_t i = 0; i < np; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double lp = eval_loss(nn, x, n, kind, t, drop);
        p[i] = keep - h;
        double lm = eval_loss(nn, x, n, kind, t, drop);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - gcopy[i]) > 2e-3 + 2e-2 * fabs(fd)) {
            if (bad++ < 3)
                fprintf(stderr, "%s: param %zu: backward %g, finite difference %g\n", spec, i, gcopy[i], fd);
        }
    }
    for (int i = 0; i < n * F; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = eval_loss(nn, x, n, kind, t, drop);
        x[i] = keep - h;
        double lm = eval_loss(nn, x, n, kind, t, drop);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - dx[i]) > 2e-3 + 2e-2 * fabs(fd)) {
            if (bad++ < 6)
                fprintf(stderr, "%s: input %d: backward %g, finite difference %g\n", spec, i, dx[i], fd);
        }
    }
    CU_ASSERT(bad == 0);
    free(gcopy), free(x), free(dy), free(dx);
    sl_rng_destroy(&r);
    sl_nn_destroy(&nn);
}

static void test_fd_linear_relu(void)
{
    check_grads("mlp:4-6-3", SL_NN_XENT, 0);
    check_grads("mlp:4-7-5-3:relu", SL_NN_XENT, 0);
}
static void test_fd_tanh(void)
{
    check_grads("mlp:4-6-3:tanh", SL_NN_XENT, 0);
}
static void test_fd_gelu(void)
{
    check_grads("mlp:4-6-3:gelu", SL_NN_MSE, 0);
}
static void test_fd_layernorm(void)
{
    check_grads("mlp:4-6-5-3:tanh:ln", SL_NN_XENT, 0);
}
static void test_fd_dropout(void)
{
    check_grads("mlp:4-8-3:tanh:dropout=0.3", SL_NN_MSE, 1);
}
static void test_fd_mse(void)
{
    check_grads("mlp:3-5-4:tanh", SL_NN_MSE, 0);
}

/* The CPU backend (OpenBLAS) agrees with the reference loops. */
static void test_cpu_vs_ref(void)
{
    sl_nn_t *a = NULL, *b = NULL;
    const char *spec = "mlp:20-33-17-5:gelu:ln";
    CU_ASSERT_FATAL(sl_nn_create(spec, SL_NN_REF, 4, &a) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_create(spec, SL_NN_CPU, 4, &b) == SL_OK);
    CU_ASSERT(memcmp(sl_nn_params(a), sl_nn_params(b), sl_nn_num_params(a) * sizeof(float)) == 0);
    int n = 37;
    float *x = malloc(sizeof(float) * n * 20), dy[37 * 5];
    for (int i = 0; i < n * 20; i++)
        x[i] = (float)sin(i * 0.37);
    for (int i = 0; i < n * 5; i++)
        dy[i] = (float)cos(i * 0.11);
    const float *ya, *yb;
    CU_ASSERT_FATAL(sl_nn_forward(a, x, n, 1, &ya) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_forward(b, x, n, 1, &yb) == SL_OK);
    double md = 0;
    for (int i = 0; i < n * 5; i++)
        md = fmax(md, fabs(ya[i] - yb[i]));
    CU_ASSERT(md < 1e-4);
    sl_nn_zero_grad(a), sl_nn_zero_grad(b);
    CU_ASSERT(sl_nn_backward(a, dy, NULL) == SL_OK);
    CU_ASSERT(sl_nn_backward(b, dy, NULL) == SL_OK);
    md = 0;
    for (size_t i = 0; i < sl_nn_num_params(a); i++)
        md = fmax(md, fabs(sl_nn_grads(a)[i] - sl_nn_grads(b)[i]));
    CU_ASSERT(md < 1e-3);
    free(x);
    sl_nn_destroy(&a), sl_nn_destroy(&b);
}

/* One-parameter problems: model mlp:1-1 has weight and bias. */
static sl_nn_t *tiny(void)
{
    sl_nn_t *nn = NULL;
    CU_ASSERT_FATAL(sl_nn_create("mlp:1-1", SL_NN_CPU, 1, &nn) == SL_OK);
    sl_nn_params(nn)[0] = 1.f, sl_nn_params(nn)[1] = 2.f;
    return nn;
}

static void step_with(sl_nn_optim_t *opt, sl_nn_t *nn, float g0, float g1)
{
    sl_nn_grads(nn)[0] = g0, sl_nn_grads(nn)[1] = g1;
    CU_ASSERT(sl_nn_optim_step(opt) == SL_OK);
}

#define NEAR(a, b) CU_ASSERT(fabs((double)(a) - (double)(b)) < 1e-6)

static void test_sgd(void)
{
    sl_nn_t *nn = tiny();
    sl_nn_optim_opts_t o;
    sl_nn_optim_t *opt = NULL;
    sl_nn_optim_opts_default(&o, SL_NN_SGD);
    o.lr = 0.1, o.momentum = 0.9;
    CU_ASSERT_FATAL(sl_nn_optim_create(nn, &o, &opt) == SL_OK);
    step_with(opt, nn, 0.5f, 0.f);
    NEAR(sl_nn_params(nn)[0], 0.95); /* buf = 0.5 */
    step_with(opt, nn, 0.5f, 0.f);
    NEAR(sl_nn_params(nn)[0], 0.855); /* buf = 0.9*0.5 + 0.5 = 0.95 */
    sl_nn_optim_destroy(&opt);
    /* Nesterov: p -= lr * (g + mu * buf) */
    sl_nn_params(nn)[0] = 1.f;
    o.nesterov = 1;
    CU_ASSERT_FATAL(sl_nn_optim_create(nn, &o, &opt) == SL_OK);
    step_with(opt, nn, 0.5f, 0.f);
    NEAR(sl_nn_params(nn)[0], 0.905);
    sl_nn_optim_destroy(&opt);
    /* weight decay: g + wd * p */
    sl_nn_params(nn)[0] = 1.f;
    sl_nn_optim_opts_default(&o, SL_NN_SGD);
    o.lr = 0.1, o.weight_decay = 0.1;
    CU_ASSERT_FATAL(sl_nn_optim_create(nn, &o, &opt) == SL_OK);
    step_with(opt, nn, 0.5f, 0.f);
    NEAR(sl_nn_params(nn)[0], 0.94);
    NEAR(sl_nn_params(nn)[1], 2 - 0.1 * 0.2);
    sl_nn_optim_destroy(&opt);
    sl_nn_destroy(&nn);
}

static void test_adam(void)
{
    sl_nn_t *nn = tiny();
    sl_nn_optim_opts_t o;
    sl_nn_optim_t *opt = NULL;
    sl_nn_optim_opts_default(&o, SL_NN_ADAM);
    o.lr = 0.1;
    CU_ASSERT_FATAL(sl_nn_optim_create(nn, &o, &opt) == SL_OK);
    step_with(opt, nn, 0.5f, -2.f);
    /* first step: m_hat = g, v_hat = g^2, so p -= lr * sign(g) */
    NEAR(sl_nn_params(nn)[0], 0.9);
    NEAR(sl_nn_params(nn)[1], 2.1);
    /* second step with g = 0.25: m = 0.9*0.05 + 0.1*0.25 = 0.07, v = 0.999*0.00025 + 0.001*0.0625 */
    step_with(opt, nn, 0.25f, 0.f);
    double m = 0.07, v = 0.999 * 0.00025 + 0.001 * 0.0625;
    double p = 0.9 - 0.1 * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.998001)) + 1e-8);
    CU_ASSERT(fabs(sl_nn_params(nn)[0] - p) < 1e-5);
    CU_ASSERT(sl_nn_optim_steps(opt) == 2);
    sl_nn_optim_destroy(&opt);
    /* AdamW: decoupled decay first, p *= 1 - lr*wd */
    sl_nn_params(nn)[0] = 1.f;
    sl_nn_optim_opts_default(&o, SL_NN_ADAMW);
    o.lr = 0.1, o.weight_decay = 0.01;
    CU_ASSERT_FATAL(sl_nn_optim_create(nn, &o, &opt) == SL_OK);
    step_with(opt, nn, 0.5f, 0.f);
    CU_ASSERT(fabs(sl_nn_params(nn)[0] - (0.999 - 0.1)) < 1e-6);
    sl_nn_optim_destroy(&opt);
    sl_nn_destroy(&nn);
}

static void test_clip_sched(void)
{
    sl_nn_t *nn = tiny();
    sl_nn_grads(nn)[0] = 3.f, sl_nn_grads(nn)[1] = 4.f;
    double norm = 0;
    CU_ASSERT(sl_nn_clip_grad_norm(nn, 1.0, &norm) == SL_OK);
    NEAR(norm, 5.0);
    CU_ASSERT(fabs(sl_nn_grads(nn)[0] - 0.6) < 1e-5 && fabs(sl_nn_grads(nn)[1] - 0.8) < 1e-5);
    sl_nn_grads(nn)[0] = NAN;
    CU_ASSERT(sl_nn_clip_grad_norm(nn, 1.0, NULL) == SL_ERR_NUMERIC);
    sl_nn_destroy(&nn);

    sl_nn_sched_t s;
    CU_ASSERT(sl_nn_sched_parse("constant", &s) == SL_OK);
    NEAR(sl_nn_sched_lr(&s, 0.1, 50, 100), 0.1);
    CU_ASSERT(sl_nn_sched_parse("step:10:0.5", &s) == SL_OK);
    NEAR(sl_nn_sched_lr(&s, 0.1, 9, 100), 0.1);
    NEAR(sl_nn_sched_lr(&s, 0.1, 25, 100), 0.025);
    CU_ASSERT(sl_nn_sched_parse("cosine:10:0.01", &s) == SL_OK);
    NEAR(sl_nn_sched_lr(&s, 0.1, 0, 110), 0.01); /* warm-up 1/10 */
    NEAR(sl_nn_sched_lr(&s, 0.1, 9, 110), 0.1);
    NEAR(sl_nn_sched_lr(&s, 0.1, 60, 110), 0.055); /* half way: mean of lr and min */
    NEAR(sl_nn_sched_lr(&s, 0.1, 110, 110), 0.01);
    CU_ASSERT(sl_nn_sched_parse("linear", &s) == SL_OK);
    NEAR(sl_nn_sched_lr(&s, 0.1, 50, 100), 0.05);
    CU_ASSERT(sl_nn_sched_parse("cosine:x", &s) != SL_OK);
    CU_ASSERT(sl_nn_sched_parse("exp", &s) != SL_OK);
}

static void test_spec_and_init(void)
{
    sl_nn_t *nn = NULL;
    sl_log_set_level(SL_LOG_NONE);
    CU_ASSERT(sl_nn_create("mlp:784", SL_NN_CPU, 1, &nn) == SL_ERR_INVALID);
    CU_ASSERT(sl_nn_create("mlp:4-x-3", SL_NN_CPU, 1, &nn) == SL_ERR_INVALID);
    CU_ASSERT(sl_nn_create("mlp:4-3:sigmoid", SL_NN_CPU, 1, &nn) == SL_ERR_INVALID);
    CU_ASSERT(sl_nn_create("cnn:4-3", SL_NN_CPU, 1, &nn) == SL_ERR_INVALID);
    CU_ASSERT(sl_nn_create("mlp:4-3", SL_NN_CUDA, 1, &nn) == SL_ERR_UNSUPPORTED || sl_gpu_count() > 0);
    sl_log_set_level(SL_LOG_INFO);
    CU_ASSERT(nn == NULL);
    CU_ASSERT_FATAL(sl_nn_create("mlp:784-256-128-10", SL_NN_CPU, 1, &nn) == SL_OK);
    CU_ASSERT(sl_nn_num_params(nn) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    CU_ASSERT(sl_nn_num_tensors(nn) == 6);
    sl_nn_tensor_info_t ti;
    CU_ASSERT(sl_nn_tensor_info(nn, 2, &ti) == SL_OK && !strcmp(ti.name, "fc2/weight") && ti.rows == 128 &&
              ti.cols == 256);
    /* Kaiming uniform bound 1/sqrt(fan_in) */
    float mx = 0;
    for (size_t i = 0; i < 784 * 256; i++)
        mx = fmaxf(mx, fabsf(sl_nn_params(nn)[i]));
    CU_ASSERT(mx <= 1 / sqrtf(784.f) && mx > 0.9f / sqrtf(784.f));
    /* orthogonal with gain: W W^T = gain^2 I for a wide layer (4 x 6) */
    sl_nn_t *o = NULL;
    CU_ASSERT_FATAL(sl_nn_create("mlp:6-4-3", SL_NN_CPU, 1, &o) == SL_OK);
    gsl_rng *r = NULL;
    sl_rng_create(1, 0, "t", &r);
    CU_ASSERT(sl_nn_init_orthogonal(o, 0, 2.0, r) == SL_OK);
    const float *w = sl_nn_params(o);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 6; k++)
                s += w[i * 6 + k] * w[j * 6 + k];
            CU_ASSERT(fabs(s - (i == j ? 4.0 : 0.0)) < 1e-4);
        }
    /* tall layer (3 x 4): W^T W = I */
    CU_ASSERT(sl_nn_init_orthogonal(o, 1, 1.0, r) == SL_OK);
    int li_off = 6 * 4 + 4;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += w[li_off + i * 4 + k] * w[li_off + j * 4 + k];
            CU_ASSERT(fabs(s - (i == j ? 1.0 : 0.0)) < 1e-4);
        }
    sl_rng_destroy(&r);
    sl_nn_destroy(&o);
    sl_nn_destroy(&nn);
    /* built layer by layer */
    CU_ASSERT_FATAL(sl_nn_create_empty(3, SL_NN_CPU, &nn) == SL_OK);
    CU_ASSERT(sl_nn_add(nn, SL_NN_LINEAR, 8, 0) == SL_OK);
    CU_ASSERT(sl_nn_add(nn, SL_NN_TANH, 0, 0) == SL_OK);
    CU_ASSERT(sl_nn_add(nn, SL_NN_LINEAR, 2, 0) == SL_OK);
    CU_ASSERT(sl_nn_build(nn, 7) == SL_OK);
    CU_ASSERT(sl_nn_out_features(nn) == 2 && sl_nn_num_linear(nn) == 2);
    CU_ASSERT(!strcmp(sl_nn_spec(nn), "layers:3,linear=8,tanh,linear=2"));
    sl_nn_destroy(&nn);
    sl_nn_destroy(&nn); /* NULL is fine */
}

static void test_loss_values(void)
{
    float y[2 * 3] = {1, 2, 3, 0, 0, 0};
    int32_t lab[2] = {2, 0};
    double ls;
    int64_t correct;
    float dy[6];
    CU_ASSERT(sl_nn_loss(SL_NN_XENT, y, lab, 2, 3, 0.5, &ls, dy, &correct) == SL_OK);
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(3.0);
    CU_ASSERT(fabs(ls - (l0 + l1)) < 1e-6);
    CU_ASSERT(correct == 2); /* row 1 ties: the first maximum (0) counts */
    CU_ASSERT(fabs(dy[3] - 0.5 * (1.0 / 3 - 1)) < 1e-6);
    lab[1] = 3;
    sl_log_set_level(SL_LOG_NONE);
    CU_ASSERT(sl_nn_loss(SL_NN_XENT, y, lab, 2, 3, 1, &ls, dy, NULL) == SL_ERR_INVALID);
    sl_log_set_level(SL_LOG_INFO);
    float t[6] = {1, 2, 3, 1, 1, 1};
    CU_ASSERT(sl_nn_loss(SL_NN_MSE, y, t, 2, 3, 1, &ls, dy, NULL) == SL_OK);
    CU_ASSERT(fabs(ls - 1.0) < 1e-6); /* row 0: 0, row 1: 3/3 */
    CU_ASSERT(fabs(dy[3] - 2.0 * -1 / 3) < 1e-6);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {
        {"finite differences: Linear + ReLU", test_fd_linear_relu},
        {"finite differences: Tanh", test_fd_tanh},
        {"finite differences: GELU + MSE", test_fd_gelu},
        {"finite differences: LayerNorm", test_fd_layernorm},
        {"finite differences: Dropout", test_fd_dropout},
        {"finite differences: MSE", test_fd_mse},
        {"CPU backend equals the reference", test_cpu_vs_ref},
        {"SGD, momentum, Nesterov, weight decay", test_sgd},
        {"Adam and AdamW", test_adam},
        {"clipping and schedules", test_clip_sched},
        {"specs and initialisation", test_spec_and_init},
        {"loss values", test_loss_values},
        {NULL, NULL},
    };
    return sl_test_run(argc, argv, "nn", tests);
}
