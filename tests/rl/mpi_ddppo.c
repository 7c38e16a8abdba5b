/* SPDX-License-Identifier: BSD-3-Clause */
/* DD-PPO across ranks: P ranks and 1 rank make the same update from the
 * same experience; a straggler is preempted; a stopped run resumed from
 * its checkpoint ends exactly where an uninterrupted one does. */
#include "config.h"
#include "cunit_mpi.h"
#include "rl_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A fixed global batch of G CartPole-like samples; rank r of P holds rows
 * [r*G/P, (r+1)*G/P). The same minibatch step on MPI_COMM_WORLD (split
 * rows) and on MPI_COMM_SELF (all rows) must give the same parameters. */
static void fill(int G, float *obs, float *act, float *logp, float *adv, float *ret, float *val)
{
    for (int i = 0; i < G; i++) {
        for (int j = 0; j < 4; j++)
            obs[i * 4 + j] = (float)(0.5 * sin(0.37 * i + 1.1 * j));
        act[i] = (float)(i % 2);
        logp[i] = (float)(log(0.5) + 0.05 * sin(0.9 * i));
        adv[i] = (float)(cos(0.23 * i) + 0.1 * i / G);
        ret[i] = (float)(1 + 0.3 * sin(0.51 * i));
        val[i] = (float)(0.8 + 0.2 * cos(0.77 * i));
    }
}

static void step_on(MPI_Comm comm, int shared, int row0, int n, int G, float *params_out, size_t *np_p)
{
    float obs[4 * 64], act[64], logp[64], adv[64], ret[64], val[64];
    fill(G, obs, act, logp, adv, ret, val);
    rl_agent_t a;
    CU_ASSERT_FATAL(rl_agent_init(&a, &sl_rl_env_cartpole, "16-16", shared, SL_NN_CPU, 3, 1e-2, 0) == SL_OK);
    sl_allreduce_t *ar;
    CU_ASSERT_FATAL(sl_allreduce_create(comm, 0, &ar) == SL_OK);
    sl_rl_loss_opts_t lo = {0.2, 0.01, 0.5, 1};
    rl_batch_t mb = {obs + row0 * 4, act + row0, logp + row0, adv + row0, ret + row0, val + row0};
    float dout[2 * 64], dval[64];
    double lsg[2], gn = 0;
    sl_rl_loss_stats_t ls = {0};
    /* Two steps: the second sees Adam's state and the changed weights. */
    CU_ASSERT(rl_ppo_minibatch(&a, comm, ar, n, G, &mb, dout, dval, lsg, &lo, 0.5, 0, NULL, &ls, &gn) ==
              SL_OK);
    fill(G, obs, act, logp, adv, ret, val);
    CU_ASSERT(rl_ppo_minibatch(&a, comm, ar, n, G, &mb, dout, dval, lsg, &lo, 0.5, 0, NULL, &ls, &gn) ==
              SL_OK);
    size_t na = sl_nn_num_params(a.actor), nc = a.critic ? sl_nn_num_params(a.critic) : 0;
    memcpy(params_out, sl_nn_params(a.actor), na * sizeof(float));
    if (nc)
        memcpy(params_out + na, sl_nn_params(a.critic), nc * sizeof(float));
    *np_p = na + nc;
    sl_allreduce_destroy(&ar);
    rl_agent_fini(&a);
}

static void check_same_update(int shared)
{
    int P = sl_test_size(), r = sl_test_rank(), G = 48;
    int row0 = r * G / P, n = (r + 1) * G / P - row0;
    static float pw[4096], ps[4096];
    size_t nw = 0, ns = 0;
    step_on(MPI_COMM_WORLD, shared, row0, n, G, pw, &nw);
    step_on(MPI_COMM_SELF, shared, 0, G, G, ps, &ns);
    double maxd = 0;
    for (size_t i = 0; i < nw; i++)
        maxd = fmax(maxd, fabs((double)pw[i] - ps[i]) / (1e-3 + fabs((double)ps[i])));
    SL_ASSERT_ALL(nw == ns && nw > 0);
    SL_ASSERT_ALL(maxd < 1e-5);
    /* and the step did change the weights */
    float init[4096];
    size_t ni;
    rl_agent_t a;
    CU_ASSERT_FATAL(rl_agent_init(&a, &sl_rl_env_cartpole, "16-16", shared, SL_NN_CPU, 3, 1e-2, 0) == SL_OK);
    ni = sl_nn_num_params(a.actor);
    memcpy(init, sl_nn_params(a.actor), ni * sizeof(float));
    SL_ASSERT_ALL(memcmp(init, pw, ni * sizeof(float)) != 0);
    rl_agent_fini(&a);
}

static void test_same_update(void)
{
    check_same_update(0);
}
static void test_same_update_shared(void)
{
    check_same_update(1);
}

static void small_opts(sl_rl_train_opts_t *o, const sl_rl_env_t *env, const char *out)
{
    sl_rl_train_opts_default(o, env);
    o->out = out;
    o->envs_per_rank = 2;
    o->num_steps = 32;
    o->minibatches = 4;
    o->epochs = 2;
    o->total_steps = 6 * 64 * sl_test_size();
    o->preempt = 0;
    o->quiet = 1;
    o->checkpoint_every = 2;
}

/* A straggler (rank 1 sleeping 3 ms per step) is cut short once the others
 * finished: preempted rollouts are counted and every update still runs. */
static void test_straggler(void)
{
    int P = sl_test_size();
    char out[4096];
    snprintf(out, sizeof out, "%s/straggler", sl_test_tmpdir());
    sl_rl_train_opts_t o;
    small_opts(&o, &sl_rl_env_cartpole, out);
    o.num_steps = 40;
    o.total_steps = 3 * 80 * P;
    o.preempt = 1;
    o.preempt_worker_frac = 0.4; /* with 2 workers, one finished is enough */
    o.straggler_rank = 1;
    o.straggler_delay_us = 3000;
    sl_rl_train_result_t res;
    SL_ASSERT_ALL(sl_rl_train(MPI_COMM_WORLD, &o, &res) == SL_OK);
    if (P == 1)
        SL_ASSERT_ALL(res.preempted == 0);
    else
        SL_ASSERT_ALL(res.preempted >= 1);
    SL_ASSERT_ALL(res.updates >= 3);
    /* Without preemption nobody is cut short. */
    o.preempt = 0;
    o.total_steps = 80 * P;
    snprintf(out, sizeof out, "%s/straggler-off", sl_test_tmpdir());
    o.out = out;
    SL_ASSERT_ALL(sl_rl_train(MPI_COMM_WORLD, &o, &res) == SL_OK);
    SL_ASSERT_ALL(res.preempted == 0 && res.global_step == 80 * P);
}

static int read_params(const char *path, float *buf, size_t *n_p)
{
    sl_h5_t *h;
    if (sl_h5_open(MPI_COMM_WORLD, path, &h) != SL_OK)
        return 0;
    sl_nn_t *nn = NULL;
    size_t n = 0;
    if (sl_nn_create_from_h5(h, "agent/actor/", SL_NN_CPU, &nn) == SL_OK) {
        n = sl_nn_num_params(nn);
        memcpy(buf, sl_nn_params(nn), n * sizeof(float));
        sl_nn_destroy(&nn);
    }
    float ls[8] = {0};
    uint64_t d[1] = {0};
    sl_dtype_t t;
    int nd;
    uint64_t dims[SL_H5_MAXDIM];
    if (sl_h5_info(h, "agent/logstd", &t, &nd, dims) == SL_OK && dims[0] <= 8) {
        d[0] = dims[0];
        sl_h5_read(h, "agent/logstd", SL_F32, 1, d, ls);
        memcpy(buf + n, ls, dims[0] * sizeof(float));
        n += dims[0];
    }
    sl_h5_close(&h);
    *n_p = n;
    return n > 0;
}

/* metrics.csv without the sps column (wall-clock dependent). */
static char *csv_nosps(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *res = calloc(1, 1 << 20), line[4096];
    size_t len = 0;
    while (fgets(line, sizeof line, f)) {
        int field = 0;
        for (char *p = line; *p && len < (1 << 20) - 2; p++) {
            if (*p == ',')
                field++;
            if (field != 4)
                res[len++] = *p;
        }
    }
    fclose(f);
    return res;
}

static void check_resume(const sl_rl_env_t *env, const char *name)
{
    char a[4096], b[4096], pa[4200], pb[4200];
    snprintf(a, sizeof a, "%s/%s-straight", sl_test_tmpdir(), name);
    snprintf(b, sizeof b, "%s/%s-resumed", sl_test_tmpdir(), name);
    sl_rl_train_opts_t o;
    small_opts(&o, env, a);
    SL_ASSERT_ALL(sl_rl_train(MPI_COMM_WORLD, &o, NULL) == SL_OK);
    o.out = b;
    o.stop_after = 3;
    SL_ASSERT_ALL(sl_rl_train(MPI_COMM_WORLD, &o, NULL) == SL_ERR_STOPPED);
    o.stop_after = 0;
    o.resume = 1;
    sl_rl_train_result_t res;
    SL_ASSERT_ALL(sl_rl_train(MPI_COMM_WORLD, &o, &res) == SL_OK);
    SL_ASSERT_ALL(res.updates == 6);
    static float fa[65536], fb[65536];
    size_t na = 0, nb = 0;
    snprintf(pa, sizeof pa, "%s/ckpt.h5", a);
    snprintf(pb, sizeof pb, "%s/ckpt.h5", b);
    int ra = read_params(pa, fa, &na), rb = read_params(pb, fb, &nb);
    SL_ASSERT_ALL(ra && rb && na == nb && memcmp(fa, fb, na * sizeof(float)) == 0);
    snprintf(pa, sizeof pa, "%s/metrics.csv", a);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    char *ca = csv_nosps(pa), *cb = csv_nosps(pb);
    if (sl_test_rank() == 0) {
        CU_ASSERT(ca && cb && strcmp(ca, cb) == 0);
        if (ca && cb && strcmp(ca, cb))
            printf("\n--- straight\n%s--- resumed\n%s", ca, cb);
    }
    free(ca);
    free(cb);
}

static void test_resume_cartpole(void)
{
    check_resume(&sl_rl_env_cartpole, "cartpole");
}
static void test_resume_pendulum(void)
{
    check_resume(&sl_rl_env_pendulum, "pendulum");
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {
        {"P ranks and 1 rank: same update", test_same_update},
        {"the same with a shared trunk", test_same_update_shared},
        {"straggler preempted", test_straggler},
        {"resume equality (CartPole)", test_resume_cartpole},
        {"resume equality (Pendulum, normalisers, log-std)", test_resume_pendulum},
        {NULL, NULL}};
    return sl_test_run(argc, argv, "rl ddppo", tests);
}
