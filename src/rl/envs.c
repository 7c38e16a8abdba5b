/* SPDX-License-Identifier: BSD-3-Clause */
/* The classic-control environments with gymnasium's constants, dynamics,
 * reset distributions, rewards and terminations (time limits are applied by
 * the vectoriser). States are doubles like gymnasium's Python floats, except
 * where gymnasium stores float32 (MountainCarContinuous), which we mirror. */
#include "config.h"
#include "rl.h"

#include <math.h>
#include <string.h>

static double unif(gsl_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * gsl_rng_uniform(rng);
}
static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* CartPole-v1: Euler integration, tau 0.02, terminate past 2.4 m or 12 deg. */
#define CP_GRAVITY   9.8
#define CP_MASSCART  1.0
#define CP_MASSPOLE  0.1
#define CP_TOTAL     (CP_MASSPOLE + CP_MASSCART)
#define CP_LENGTH    0.5
#define CP_PML       (CP_MASSPOLE * CP_LENGTH)
#define CP_FORCE     10.0
#define CP_TAU       0.02
#define CP_THETA_MAX (12 * 2 * M_PI / 360)
#define CP_X_MAX     2.4

static void cartpole_reset(void *st, gsl_rng *rng)
{
    sl_rl_cartpole_state_t *s = st;
    s->x = unif(rng, -0.05, 0.05);
    s->x_dot = unif(rng, -0.05, 0.05);
    s->theta = unif(rng, -0.05, 0.05);
    s->theta_dot = unif(rng, -0.05, 0.05);
}

static void cartpole_step(void *st, const float *a, double *r, int *term)
{
    sl_rl_cartpole_state_t *s = st;
    double force = (int)a[0] == 1 ? CP_FORCE : -CP_FORCE;
    double c = cos(s->theta), sn = sin(s->theta);
    double temp = (force + CP_PML * s->theta_dot * s->theta_dot * sn) / CP_TOTAL;
    double thetaacc =
        (CP_GRAVITY * sn - c * temp) / (CP_LENGTH * (4.0 / 3.0 - CP_MASSPOLE * c * c / CP_TOTAL));
    double xacc = temp - CP_PML * thetaacc * c / CP_TOTAL;
    s->x = s->x + CP_TAU * s->x_dot;
    s->x_dot = s->x_dot + CP_TAU * xacc;
    s->theta = s->theta + CP_TAU * s->theta_dot;
    s->theta_dot = s->theta_dot + CP_TAU * thetaacc;
    *term = s->x < -CP_X_MAX || s->x > CP_X_MAX || s->theta < -CP_THETA_MAX || s->theta > CP_THETA_MAX;
    *r = 1.0;
}

static void cartpole_obs(const void *st, float *o)
{
    const sl_rl_cartpole_state_t *s = st;
    o[0] = (float)s->x;
    o[1] = (float)s->x_dot;
    o[2] = (float)s->theta;
    o[3] = (float)s->theta_dot;
}

const sl_rl_env_t sl_rl_env_cartpole = {
    "CartPole-v1", 4,           2, 0, 0, 0, 500, sizeof(sl_rl_cartpole_state_t), cartpole_reset,
    cartpole_step, cartpole_obs};

/* Acrobot-v1 ("book" dynamics): one RK4 step of dt 0.2 over the state
 * augmented with the torque, angles wrapped to [-pi, pi], speeds bounded. */
#define AC_DT    0.2
#define AC_L1    1.0
#define AC_M1    1.0
#define AC_M2    1.0
#define AC_LC1   0.5
#define AC_LC2   0.5
#define AC_I     1.0
#define AC_G     9.8
#define AC_MAXV1 (4 * M_PI)
#define AC_MAXV2 (9 * M_PI)

static void acrobot_dsdt(const double *y, double *dy)
{
    double a = y[4], th1 = y[0], th2 = y[1], dth1 = y[2], dth2 = y[3];
    double d1 = AC_M1 * AC_LC1 * AC_LC1 +
                AC_M2 * (AC_L1 * AC_L1 + AC_LC2 * AC_LC2 + 2 * AC_L1 * AC_LC2 * cos(th2)) + AC_I + AC_I;
    double d2 = AC_M2 * (AC_LC2 * AC_LC2 + AC_L1 * AC_LC2 * cos(th2)) + AC_I;
    double phi2 = AC_M2 * AC_LC2 * AC_G * cos(th1 + th2 - M_PI / 2.0);
    double phi1 = -AC_M2 * AC_L1 * AC_LC2 * dth2 * dth2 * sin(th2) -
                  2 * AC_M2 * AC_L1 * AC_LC2 * dth2 * dth1 * sin(th2) +
                  (AC_M1 * AC_LC1 + AC_M2 * AC_L1) * AC_G * cos(th1 - M_PI / 2) + phi2;
    double ddth2 = (a + d2 / d1 * phi1 - AC_M2 * AC_L1 * AC_LC2 * dth1 * dth1 * sin(th2) - phi2) /
                   (AC_M2 * AC_LC2 * AC_LC2 + AC_I - d2 * d2 / d1);
    double ddth1 = -(d2 * ddth2 + phi1) / d1;
    dy[0] = dth1;
    dy[1] = dth2;
    dy[2] = ddth1;
    dy[3] = ddth2;
    dy[4] = 0.0;
}

/* gymnasium's rk4 over t = [0, dt]: a single classical RK4 step. */
static void acrobot_rk4(const double *y0, double dt, double *y1)
{
    double k1[5], k2[5], k3[5], k4[5], y[5], dt2 = dt / 2.0;
    acrobot_dsdt(y0, k1);
    for (int i = 0; i < 5; i++)
        y[i] = y0[i] + dt2 * k1[i];
    acrobot_dsdt(y, k2);
    for (int i = 0; i < 5; i++)
        y[i] = y0[i] + dt2 * k2[i];
    acrobot_dsdt(y, k3);
    for (int i = 0; i < 5; i++)
        y[i] = y0[i] + dt * k3[i];
    acrobot_dsdt(y, k4);
    for (int i = 0; i < 5; i++)
        y1[i] = y0[i] + dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
}

static double wrap(double x, double m, double M)
{
    double diff = M - m;
    while (x > M)
        x -= diff;
    while (x < m)
        x += diff;
    return x;
}

static void acrobot_reset(void *st, gsl_rng *rng)
{
    sl_rl_acrobot_state_t *s = st;
    for (int i = 0; i < 4; i++)
        s->s[i] = unif(rng, -0.1, 0.1);
}

static void acrobot_step(void *st, const float *a, double *r, int *term)
{
    sl_rl_acrobot_state_t *s = st;
    static const double torque[3] = {-1.0, 0.0, 1.0};
    int ai = (int)a[0];
    double y0[5] = {s->s[0], s->s[1], s->s[2], s->s[3], torque[ai < 0 ? 0 : ai > 2 ? 2 : ai]}, y1[5];
    acrobot_rk4(y0, AC_DT, y1);
    s->s[0] = wrap(y1[0], -M_PI, M_PI);
    s->s[1] = wrap(y1[1], -M_PI, M_PI);
    s->s[2] = clampd(y1[2], -AC_MAXV1, AC_MAXV1);
    s->s[3] = clampd(y1[3], -AC_MAXV2, AC_MAXV2);
    *term = -cos(s->s[0]) - cos(s->s[1] + s->s[0]) > 1.0;
    *r = *term ? 0.0 : -1.0;
}

static void acrobot_obs(const void *st, float *o)
{
    const sl_rl_acrobot_state_t *s = st;
    o[0] = (float)cos(s->s[0]);
    o[1] = (float)sin(s->s[0]);
    o[2] = (float)cos(s->s[1]);
    o[3] = (float)sin(s->s[1]);
    o[4] = (float)s->s[2];
    o[5] = (float)s->s[3];
}

const sl_rl_env_t sl_rl_env_acrobot = {
    "Acrobot-v1", 6,          3, 0, 0, 0, 500, sizeof(sl_rl_acrobot_state_t), acrobot_reset,
    acrobot_step, acrobot_obs};

/* MountainCar-v0 and MountainCarContinuous-v0. */
#define MC_MIN_POS   (-1.2)
#define MC_MAX_POS   0.6
#define MC_MAX_SPEED 0.07

static void mc_reset(void *st, gsl_rng *rng)
{
    sl_rl_mountaincar_state_t *s = st;
    s->position = unif(rng, -0.6, -0.4);
    s->velocity = 0.0;
}

static void mc_step(void *st, const float *a, double *r, int *term)
{
    sl_rl_mountaincar_state_t *s = st;
    double pos = s->position, vel = s->velocity;
    vel += ((int)a[0] - 1) * 0.001 + cos(3 * pos) * (-0.0025);
    vel = clampd(vel, -MC_MAX_SPEED, MC_MAX_SPEED);
    pos += vel;
    pos = clampd(pos, MC_MIN_POS, MC_MAX_POS);
    if (pos == MC_MIN_POS && vel < 0)
        vel = 0;
    *term = pos >= 0.5 && vel >= 0.0;
    *r = -1.0;
    s->position = pos;
    s->velocity = vel;
}

/* gymnasium keeps this state as float32 after each step; the termination
 * test sees the values before that rounding. */
static void mcc_step(void *st, const float *a, double *r, int *term)
{
    sl_rl_mountaincar_state_t *s = st;
    double pos = s->position, vel = s->velocity;
    double force = clampd((double)a[0], -1.0, 1.0);
    vel += force * 0.0015 - 0.0025 * cos(3 * pos);
    vel = clampd(vel, -MC_MAX_SPEED, MC_MAX_SPEED);
    pos += vel;
    pos = clampd(pos, MC_MIN_POS, MC_MAX_POS);
    if (pos == MC_MIN_POS && vel < 0)
        vel = 0;
    *term = pos >= 0.45 && vel >= 0.0;
    *r = (*term ? 100.0 : 0.0) - (double)a[0] * (double)a[0] * 0.1;
    s->position = (float)pos;
    s->velocity = (float)vel;
}

static void mc_obs(const void *st, float *o)
{
    const sl_rl_mountaincar_state_t *s = st;
    o[0] = (float)s->position;
    o[1] = (float)s->velocity;
}

const sl_rl_env_t sl_rl_env_mountaincar = {
    "MountainCar-v0", 2, 3, 0, 0, 0, 200, sizeof(sl_rl_mountaincar_state_t), mc_reset, mc_step, mc_obs};
const sl_rl_env_t sl_rl_env_mountaincar_cont = {
    "MountainCarContinuous-v0",        2,        0,        1,     -1.0, 1.0, 999,
    sizeof(sl_rl_mountaincar_state_t), mc_reset, mcc_step, mc_obs};

/* Pendulum-v1: g 10, m 1, l 1, dt 0.05, torque within +-2, speed within +-8. */
static void pendulum_reset(void *st, gsl_rng *rng)
{
    sl_rl_pendulum_state_t *s = st;
    s->th = unif(rng, -M_PI, M_PI);
    s->thdot = unif(rng, -1.0, 1.0);
}

static double angle_normalize(double x)
{
    double m = fmod(x + M_PI, 2 * M_PI); /* Python's % takes the divisor's sign */
    if (m < 0)
        m += 2 * M_PI;
    return m - M_PI;
}

static void pendulum_step(void *st, const float *a, double *r, int *term)
{
    sl_rl_pendulum_state_t *s = st;
    const double g = 10.0, m = 1.0, l = 1.0, dt = 0.05;
    /* The torque stays float32 as in gymnasium under NumPy 2 (NEP 50):
     * 0.001 * u**2 and 3.0 / (m l^2) * u are float32 products. */
    float u = a[0] < -2.0f ? -2.0f : a[0] > 2.0f ? 2.0f : a[0];
    double an = angle_normalize(s->th);
    double costs = an * an + 0.1 * s->thdot * s->thdot + (double)(0.001f * (u * u));
    double newthdot = s->thdot + (3 * g / (2 * l) * sin(s->th) + (double)((float)(3.0 / (m * l * l)) * u)) * dt;
    newthdot = clampd(newthdot, -8.0, 8.0);
    s->th = s->th + newthdot * dt;
    s->thdot = newthdot;
    *r = -costs;
    *term = 0;
}

static void pendulum_obs(const void *st, float *o)
{
    const sl_rl_pendulum_state_t *s = st;
    o[0] = (float)cos(s->th);
    o[1] = (float)sin(s->th);
    o[2] = (float)s->thdot;
}

const sl_rl_env_t sl_rl_env_pendulum = {
    "Pendulum-v1", 3,           0, 1, -2.0, 2.0, 200, sizeof(sl_rl_pendulum_state_t), pendulum_reset,
    pendulum_step, pendulum_obs};

static const sl_rl_env_t *const builtin[] = {&sl_rl_env_cartpole, &sl_rl_env_acrobot, &sl_rl_env_mountaincar,
                                             &sl_rl_env_mountaincar_cont, &sl_rl_env_pendulum};
#define N_BUILTIN (sizeof builtin / sizeof *builtin)

const sl_rl_env_t *sl_rl_env_find(const char *name)
{
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (!strcmp(builtin[i]->name, name))
            return builtin[i];
    return NULL;
}

const char *sl_rl_env_names(char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_BUILTIN; i++) {
        int w = snprintf(buf + k, len - k, "%s%s", i ? ", " : "", builtin[i]->name);
        if (w < 0 || (size_t)w >= len - k)
            break;
        k += (size_t)w;
    }
    return buf;
}

sl_status_t sl_rl_env_check(const sl_rl_env_t *env)
{
    if (!env || !env->name || !env->reset || !env->step || !env->observe || env->obs_dim <= 0 ||
        (env->n_actions <= 0) == (env->act_dim <= 0) || env->max_steps <= 0 || env->state_size == 0)
        return sl_error(SL_ERR_INVALID,
                        "environment '%s' is incomplete (functions, sizes, one kind of action)",
                        env && env->name ? env->name : "?");
    return SL_OK;
}
