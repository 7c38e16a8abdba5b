/* SPDX-License-Identifier: BSD-3-Clause */
/* The environments against gymnasium from fixed states (to 1e-6), their
 * terminations, the time limits and autoreset of the vectoriser. Reference
 * numbers: tests/rl/gym_reference.py (gymnasium 1.x); the first rows are
 * also worked by hand in the comments. */
#include "config.h"
#include "cunit_mpi.h"
#include "rl.h"

#include <math.h>
#include <string.h>

typedef struct {
    const sl_rl_env_t *env;
    double state[4];
    int nsteps;
    float action[3];
    float obs[3][6];
    double reward[3];
    int term[3];
} ref_t;

/* CartPole from rest, push right: temp = 10/1.1 = 9.090909; thetaacc =
 * (0 - 9.090909) / (0.5 (4/3 - 0.1/1.1)) = -14.634146; xacc = 9.090909 +
 * 0.05 * 14.634146 / 1.1 = 9.756098; Euler: x_dot = 0.02 xacc = 0.195122,
 * theta_dot = 0.02 thetaacc = -0.292683, x and theta stay 0.
 * MountainCar at -0.5 pushing right: v = 0.001 - 0.0025 cos(-1.5) =
 * 0.001 - 0.0025 * 0.0707372 = 0.000823157, x = -0.499176843.
 * Pendulum th 0.5, thdot 0.2, u 1.5: thdot' = 0.2 + (15 sin 0.5 + 3 * 1.5)
 * 0.05 = 0.2 + (7.191383 + 4.5) 0.05 = 0.784569; th' = 0.5 + 0.05 thdot' =
 * 0.539228, obs (cos, sin) = (0.858105, 0.513474); cost 0.25 + 0.1 * 0.04 +
 * 0.001 * 2.25 = 0.25625. */
static const ref_t refs[] = {
    {&sl_rl_env_cartpole,
     {0, 0, 0, 0},
     3,
     {1, 1, 0},
     {{0, 0.195121944f, 0, -0.292682916f},
      {0.00390243903f, 0.390243888f, -0.00585365854f, -0.585365832f},
      {0.0117073171f, 0.195204437f, -0.0175609756f, -0.294532627f}},
     {1, 1, 1},
     {0, 0, 0}},
    {&sl_rl_env_cartpole,
     {0.01, -0.2, 0.03, 0.4},
     2,
     {0, 1},
     {{0.00600000005f, -0.395534396f, 0.0379999988f, 0.70198828f},
      {-0.00191068766f, -0.200959161f, 0.0520397648f, 0.421505451f}},
     {1, 1},
     {0, 0}},
    {&sl_rl_env_acrobot,
     {0, 0, 0, 0},
     3,
     {2, 2, 0},
     {{0.999912024f, -0.0132625783f, 0.999412239f, 0.0342805125f, -0.128661856f, 0.334501088f},
      {0.998824596f, -0.0484706536f, 0.99188441f, 0.127142727f, -0.21328488f, 0.575463057f},
      {0.997740448f, -0.0671864152f, 0.9828372f, 0.184475049f, 0.0307143051f, -0.00644770917f}},
     {-1, -1, -1},
     {0, 0, 0}},
    {&sl_rl_env_acrobot,
     {0.1, -0.2, 0.5, -1.0},
     3,
     {0, 1, 2},
     {{0.981685519f, 0.190508559f, 0.92356807f, -0.383434504f, 0.392727524f, -0.889284611f},
      {0.972223103f, 0.23405613f, 0.874224007f, -0.485522747f, 0.043095421f, -0.225177705f},
      {0.980962574f, 0.19419685f, 0.9013322f, -0.433128476f, -0.442320943f, 0.802636206f}},
     {-1, -1, -1},
     {0, 0, 0}},
    {&sl_rl_env_acrobot,
     {3.0, 0, 0, 0},
     1,
     {1},
     {{-0.98730129f, 0.15885894f, 0.99990195f, 0.0140022133f, -0.183437258f, 0.145117611f}},
     {0},
     {1}},
    {&sl_rl_env_mountaincar,
     {-0.5, 0},
     3,
     {2, 2, 0},
     {{-0.49917683f, 0.000823157025f}, {-0.497536689f, 0.00164015638f}, {-0.4970918f, 0.000444889738f}},
     {-1, -1, -1},
     {0, 0, 0}},
    {&sl_rl_env_mountaincar, {-1.19, -0.05}, 1, {0}, {{-1.20000005f, 0}}, {-1}, {0}},
    {&sl_rl_env_mountaincar, {0.49, 0.02}, 1, {2}, {{0.510748446f, 0.0207484365f}}, {-1}, {1}},
    {&sl_rl_env_mountaincar_cont,
     {-0.5, 0},
     2,
     {0.5f, 3.0f},
     {{-0.499426842f, 0.000573156984f}, {-0.497534811f, 0.00189202628f}},
     {-0.025, -0.9},
     {0, 0}},
    {&sl_rl_env_mountaincar_cont, {0.44, 0.03}, 1, {1.0f}, {{0.470879555f, 0.0308795609f}}, {99.9}, {1}},
    {&sl_rl_env_pendulum,
     {0.5, 0.2},
     2,
     {1.5f, -3.0f},
     {{0.858105123f, 0.513474107f, 0.784569144f}, {0.834973216f, 0.550290585f, 0.869674742f}},
     {-0.2562500001359731, -0.35632220551446081},
     {0, 0}},
    {&sl_rl_env_pendulum,
     {3.5, -7.9},
     1,
     {-2.0f},
     {{-0.999135137f, 0.0415806621f, -8}},
     {-13.991120454290318},
     {0}},
};

static void test_reference_steps(void)
{
    for (size_t k = 0; k < sizeof refs / sizeof *refs; k++) {
        const ref_t *r = &refs[k];
        double st[8] = {0};
        memcpy(st, r->state, r->env->state_size);
        for (int t = 0; t < r->nsteps; t++) {
            float obs[6], a[1] = {r->action[t]};
            double rew;
            int term;
            r->env->step(st, a, &rew, &term);
            r->env->observe(st, obs);
            for (int i = 0; i < r->env->obs_dim; i++) {
                if (fabsf(obs[i] - r->obs[t][i]) > 1e-6f)
                    printf("\n%s case %zu step %d obs[%d]: %.9g, want %.9g\n", r->env->name, k, t, i, obs[i],
                           r->obs[t][i]);
                CU_ASSERT(fabsf(obs[i] - r->obs[t][i]) <= 1e-6f);
            }
            CU_ASSERT(fabs(rew - r->reward[t]) <= 1e-6);
            CU_ASSERT_EQUAL(term, r->term[t]);
        }
    }
}

/* Resets draw from gymnasium's distributions: bounds hold. */
static void test_reset_ranges(void)
{
    gsl_rng *rng;
    CU_ASSERT_FATAL(sl_rng_create(7, 0, "test", &rng) == SL_OK);
    for (int i = 0; i < 1000; i++) {
        sl_rl_cartpole_state_t c;
        sl_rl_env_cartpole.reset(&c, rng);
        CU_ASSERT(fabs(c.x) <= 0.05 && fabs(c.x_dot) <= 0.05 && fabs(c.theta) <= 0.05 &&
                  fabs(c.theta_dot) <= 0.05);
        sl_rl_acrobot_state_t a;
        sl_rl_env_acrobot.reset(&a, rng);
        for (int j = 0; j < 4; j++)
            CU_ASSERT(fabs(a.s[j]) <= 0.1);
        sl_rl_mountaincar_state_t m;
        sl_rl_env_mountaincar.reset(&m, rng);
        CU_ASSERT(m.position >= -0.6 && m.position <= -0.4 && m.velocity == 0);
        sl_rl_pendulum_state_t p;
        sl_rl_env_pendulum.reset(&p, rng);
        CU_ASSERT(fabs(p.th) <= M_PI && fabs(p.thdot) <= 1.0);
    }
    sl_rng_destroy(&rng);
}

/* Time limits: truncation (not termination) exactly at 500/200/999/200 for
 * envs that cannot terminate under the fixed action; the episode is reset
 * in the same step and its last observation kept. */
static void test_time_limits(void)
{
    struct {
        const sl_rl_env_t *env;
        float action;
        int limit;
    } c[] = {{&sl_rl_env_mountaincar, 1, 200},
             {&sl_rl_env_mountaincar_cont, 0, 999},
             {&sl_rl_env_pendulum, 0, 200},
             {&sl_rl_env_acrobot, 1, 500}};
    for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
        sl_rl_vecenv_t *v;
        sl_rl_stepout_t o;
        CU_ASSERT_FATAL(sl_rl_vecenv_create(c[k].env, 3, 11, 0, &v) == SL_OK);
        CU_ASSERT_FATAL(sl_rl_stepout_init(&o, c[k].env, 3) == SL_OK);
        float act[3] = {c[k].action, c[k].action, c[k].action};
        double ret = 0;
        for (int t = 1; t <= c[k].limit; t++) {
            sl_rl_vecenv_step(v, act, &o);
            ret += o.reward[0];
            CU_ASSERT_EQUAL(o.terminated[0], 0);
            CU_ASSERT_EQUAL(o.truncated[0], t == c[k].limit);
            CU_ASSERT_EQUAL(o.n_done, t == c[k].limit ? 3 : 0);
        }
        CU_ASSERT_EQUAL(o.done_len[0], c[k].limit);
        CU_ASSERT(fabs(o.done_return[0] - ret) < 1e-3 * fabs(ret) + 1e-9);
        CU_ASSERT(memcmp(o.final_obs, v->obs, (size_t)c[k].env->obs_dim * sizeof(float)) != 0);
        CU_ASSERT_EQUAL(v->ep_len[0], 0);
        sl_rl_stepout_fini(&o);
        sl_rl_vecenv_destroy(&v);
    }
}

/* CartPole pushed one way terminates (not truncates) within a few dozen
 * steps; the final observation is past a threshold, the new one is fresh. */
static void test_cartpole_termination(void)
{
    sl_rl_vecenv_t *v;
    sl_rl_stepout_t o;
    CU_ASSERT_FATAL(sl_rl_vecenv_create(&sl_rl_env_cartpole, 1, 3, 0, &v) == SL_OK);
    CU_ASSERT_FATAL(sl_rl_stepout_init(&o, &sl_rl_env_cartpole, 1) == SL_OK);
    float a = 1;
    int t = 0;
    do {
        sl_rl_vecenv_step(v, &a, &o);
        t++;
    } while (!o.terminated[0] && t < 100);
    CU_ASSERT(o.terminated[0] && !o.truncated[0] && t < 100);
    CU_ASSERT(fabsf(o.final_obs[2]) > 12 * 2 * M_PI / 360 || fabsf(o.final_obs[0]) > 2.4);
    CU_ASSERT(fabsf(v->obs[2]) <= 0.05f && fabsf(v->obs[0]) <= 0.05f);
    CU_ASSERT_EQUAL(o.done_len[0], t);
    CU_ASSERT(fabs(o.done_return[0] - t) < 1e-9);
    sl_rl_stepout_fini(&o);
    sl_rl_vecenv_destroy(&v);
}

/* Same seed and rank give the same resets; another rank another stream. */
static void test_vecenv_streams(void)
{
    sl_rl_vecenv_t *a, *b, *c;
    CU_ASSERT_FATAL(sl_rl_vecenv_create(&sl_rl_env_cartpole, 4, 5, 0, &a) == SL_OK);
    CU_ASSERT_FATAL(sl_rl_vecenv_create(&sl_rl_env_cartpole, 4, 5, 0, &b) == SL_OK);
    CU_ASSERT_FATAL(sl_rl_vecenv_create(&sl_rl_env_cartpole, 4, 5, 1, &c) == SL_OK);
    CU_ASSERT(memcmp(a->obs, b->obs, 16 * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a->obs, c->obs, 16 * sizeof(float)) != 0);
    CU_ASSERT(sl_rl_env_find("CartPole-v1") == &sl_rl_env_cartpole);
    CU_ASSERT(sl_rl_env_find("Pong-v5") == NULL);
    sl_rl_vecenv_destroy(&a);
    sl_rl_vecenv_destroy(&b);
    sl_rl_vecenv_destroy(&c);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {
        {"reference steps", test_reference_steps}, {"reset ranges", test_reset_ranges},
        {"time limits", test_time_limits},         {"cartpole termination", test_cartpole_termination},
        {"vecenv streams", test_vecenv_streams},   {NULL, NULL}};
    return sl_test_run(argc, argv, "rl envs", tests);
}
