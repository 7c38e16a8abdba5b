/* SPDX-License-Identifier: BSD-3-Clause */
/* The agent's CPU fast path against train's reference forward/backward,
 * its tanh against libm, the PPO loss gradient with respect to network
 * parameters against finite differences, and orthogonal init gains. */
#include "config.h"
#include "cunit_mpi.h"
#include "rl_impl.h"

#include <math.h>
#include <string.h>

static void test_tanh(void)
{
    double worst = 0;
    for (double x = -12; x <= 12; x += 1e-3)
        worst = fmax(worst, fabs((double)rl_tanh((float)x) - tanh(x)));
    CU_ASSERT(worst < 1e-6);
}

static void test_fast_vs_reference(void)
{
    rl_agent_t a;
    CU_ASSERT_FATAL(rl_agent_init(&a, &sl_rl_env_acrobot, "32-16", 0, SL_NN_CPU, 5, 1e-3, 0) == SL_OK);
    CU_ASSERT_FATAL(a.fast == 1);
    enum { N = 7 };
    float x[N * 6], dy[N * 3];
    for (int i = 0; i < N * 6; i++)
        x[i] = (float)(1.5 * sin(0.7 * i));
    for (int i = 0; i < N * 3; i++)
        dy[i] = (float)cos(0.3 * i);
    for (int critic = 0; critic < 2; critic++) {
        sl_nn_t *nn = critic ? a.critic : a.actor;
        int k = critic ? 1 : 3;
        size_t np = sl_nn_num_params(nn);
        static float yf[64], gf[8192];
        const float *y;
        CU_ASSERT_FATAL(rl_net_forward(&a, critic, x, N, 1, &y) == SL_OK);
        memcpy(yf, y, (size_t)N * k * sizeof(float));
        sl_nn_zero_grad(nn);
        CU_ASSERT_FATAL(rl_net_backward(&a, critic, dy) == SL_OK);
        memcpy(gf, sl_nn_grads(nn), np * sizeof(float));
        CU_ASSERT_FATAL(sl_nn_forward(nn, x, N, 1, &y) == SL_OK);
        double ey = 0, eg = 0;
        for (int i = 0; i < N * k; i++)
            ey = fmax(ey, fabs((double)y[i] - yf[i]));
        sl_nn_zero_grad(nn);
        CU_ASSERT_FATAL(sl_nn_backward(nn, dy, NULL) == SL_OK);
        const float *g = sl_nn_grads(nn);
        for (size_t i = 0; i < np; i++)
            eg = fmax(eg, fabs((double)g[i] - gf[i]) / (1e-3 + fabs((double)g[i])));
        CU_ASSERT(ey < 2e-5);
        CU_ASSERT(eg < 1e-3);
    }
    rl_agent_fini(&a);
}

/* d loss / d parameter through actor and critic (separate or shared),
 * against central differences of the loss recomputed from the forward. */
static void check_param_fd(int shared)
{
    rl_agent_t a;
    CU_ASSERT_FATAL(rl_agent_init(&a, &sl_rl_env_pendulum, "8-8", shared, SL_NN_CPU, 9, 1e-3, -0.2) == SL_OK);
    enum { N = 6 };
    float obs[N * 3], act[N], logp[N], adv[N], ret[N], val[N], dout[N], dval[N], yy[N];
    double lsg[1];
    sl_rl_loss_opts_t lo = {0.2, 0.01, 0.5, 1};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 3; j++)
            obs[i * 3 + j] = (float)sin(1.1 * i + 0.4 * j);
        act[i] = (float)(0.5 * cos(0.9 * i));
        adv[i] = (float)(i % 2 ? 1.0 : -0.7);
        ret[i] = (float)(0.3 * i);
        val[i] = (float)(0.1 * i - 0.2);
    }
    const float *y, *v;
    CU_ASSERT_FATAL(rl_agent_forward(&a, obs, N, 1, &y, &v) == SL_OK);
    for (int i = 0; i < N; i++) /* ratios near 1 +- 0.05: inside the clip range */
        logp[i] = (float)(sl_rl_logprob(1, y + i, a.logstd, act + i, NULL) + 0.05 * sin(2.0 * i));
#define LOSS()                                                                                               \
    (rl_agent_forward(&a, obs, N, 1, &y, &v), memcpy(yy, y, sizeof yy), lsg[0] = 0,                          \
     sl_rl_ppo_loss(&lo, N, 1, yy, a.logstd, v, act, logp, adv, ret, val, N, dout, dval, lsg, NULL))
    rl_agent_zero_grad(&a);
    LOSS();
    CU_ASSERT_FATAL(rl_agent_backward(&a, dout, dval, N) == SL_OK);
    int checked = 0, bad = 0;
    for (int net = 0; net < (shared ? 1 : 2); net++) {
        sl_nn_t *nn = net ? a.critic : a.actor;
        float *p = sl_nn_params(nn);
        const float *g = sl_nn_grads(nn);
        size_t np = sl_nn_num_params(nn);
        for (size_t i = 0; i < np; i += 3) {
            float keep = p[i];
            double h = 2e-3;
            p[i] = (float)(keep + h);
            double lp = LOSS();
            p[i] = (float)(keep - h);
            double lm = LOSS();
            p[i] = keep;
            double fd = (lp - lm) / ((double)(float)(keep + h) - (double)(float)(keep - h));
            checked++;
            if (fabs(fd - g[i]) > 2e-3 + 2e-2 * fabs(fd)) {
                bad++;
                printf("\n  %s param %zu: fd %.6g analytic %.6g", net ? "critic" : "actor", i, fd, g[i]);
            }
        }
    }
#undef LOSS
    CU_ASSERT(checked > 20 && bad == 0);
    rl_agent_fini(&a);
}

static void test_param_fd(void)
{
    check_param_fd(0);
}
static void test_param_fd_shared(void)
{
    check_param_fd(1);
}

/* Orthogonal init: rows of the 0.01-gain policy head have norm 0.01 (out <
 * in), the hidden layers sqrt 2; biases zero; same on every call. */
static void test_init(void)
{
    rl_agent_t a, b;
    CU_ASSERT_FATAL(rl_agent_init(&a, &sl_rl_env_cartpole, "64-64", 0, SL_NN_CPU, 1, 1e-3, 0) == SL_OK);
    CU_ASSERT_FATAL(rl_agent_init(&b, &sl_rl_env_cartpole, "64-64", 0, SL_NN_CPU, 1, 1e-3, 0) == SL_OK);
    CU_ASSERT(memcmp(sl_nn_params(a.actor), sl_nn_params(b.actor), sl_nn_num_params(a.actor) * 4) == 0);
    const float *P = sl_nn_params(a.actor);
    rl_mlp_t *m = &a.fa;
    for (int r = 0; r < 2; r++) { /* head: 2 x 64 */
        double s = 0;
        for (int j = 0; j < 64; j++)
            s += (double)P[m->woff[2] + r * 64 + j] * P[m->woff[2] + r * 64 + j];
        CU_ASSERT(fabs(sqrt(s) - 0.01) < 1e-5);
    }
    double s = 0; /* fc2 64 x 64: orthogonal * sqrt 2: each row norm sqrt 2 */
    for (int j = 0; j < 64; j++)
        s += (double)P[m->woff[1] + j] * P[m->woff[1] + j];
    CU_ASSERT(fabs(sqrt(s) - sqrt(2.0)) < 1e-4);
    const float *C = sl_nn_params(a.critic);
    s = 0; /* value head 1 x 64, gain 1 */
    for (int j = 0; j < 64; j++)
        s += (double)C[a.fc.woff[2] + j] * C[a.fc.woff[2] + j];
    CU_ASSERT(fabs(sqrt(s) - 1.0) < 1e-5);
    CU_ASSERT(P[a.fa.boff[0]] == 0 && P[a.fa.boff[2] + 1] == 0);
    rl_agent_fini(&a);
    rl_agent_fini(&b);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {{"fast tanh", test_tanh},
                                      {"fast path vs train reference", test_fast_vs_reference},
                                      {"loss gradient in parameters (finite differences)", test_param_fd},
                                      {"the same with a shared trunk", test_param_fd_shared},
                                      {"orthogonal init gains", test_init},
                                      {NULL, NULL}};
    return sl_test_run(argc, argv, "rl agent", tests);
}
