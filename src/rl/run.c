/* SPDX-License-Identifier: BSD-3-Clause */
/* A PPO / DD-PPO training run: every rank steps its own environments with
 * a full copy of the agent, gradients are averaged every minibatch through
 * the core all-reduce, advantage statistics are global, and stragglers are
 * preempted through a done-counter in an MPI window on rank 0. Everything
 * random comes from (seed, rank, purpose) streams kept in the checkpoint,
 * so a resumed run continues exactly (with preemption off). */
#include "config.h"
#include "rl_impl.h"

#include <gsl/gsl_randist.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define RECENT 100

typedef struct {
    MPI_Comm comm;
    int rank, size;
    const sl_rl_train_opts_t *o;
    const sl_rl_env_t *env;
    int N, T, od, ak; /* envs, rollout length, obs dim, floats per action */
    rl_agent_t agent;
    sl_rl_vecenv_t *venv;
    sl_rl_stepout_t so;
    gsl_rng *prng, *srng; /* policy sampling, minibatch shuffling */
    sl_allreduce_t *ar;
    MPI_Win win;
    long *win_mem;
    /* rollout buffers [T][N] */
    float *obs, *act, *logp, *val, *rew, *boot, *adv, *ret, *last_val;
    uint8_t *term, *trunc;
    /* scratch */
    float *envact, *tmpobs, *mb_obs, *mb_act, *mb_logp, *mb_adv, *mb_ret, *mb_val, *d_out, *d_val;
    int *perm;
    double *ls_grad_d;
    /* normalisation */
    rl_rms_t obs_rms, ret_rms;
    double *obs_acc, ret_acc[3], *ret_g; /* ret_g[N]: discounted return per env */
    /* counters and results */
    int64_t global_step, update;
    double recent[RECENT];
    int64_t n_episodes; /* total, recent holds the last min(n, 100) */
    double first_reach;
    long preempted_total;
    double *eps_local; /* returns of episodes finished in this rollout (T*N at most) */
    double *eps_all;   /* all ranks' (T*N*P at most) */
    int *ep_counts, *ep_displs;
    int n_eps_local;
} run_t;

/* CPU seconds of this process (all threads), to report throughput per
 * CPU-second: on a shared machine wall-clock rates depend on the load. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static double recent_mean(const run_t *r)
{
    int64_t n = r->n_episodes < RECENT ? r->n_episodes : RECENT;
    if (n == 0)
        return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += r->recent[i];
    return s / (double)n;
}

static void *xcalloc(size_t n, size_t s, int *fail)
{
    void *p = calloc(n ? n : 1, s);
    if (!p)
        *fail = 1;
    return p;
}

void sl_rl_train_opts_default(sl_rl_train_opts_t *o, const sl_rl_env_t *env)
{
    memset(o, 0, sizeof *o);
    o->env = env;
    o->device = "cpu";
    o->hidden = "64-64";
    o->total_steps = 500000;
    o->envs_per_rank = 4;
    o->num_steps = 128;
    o->lr = 2.5e-4;
    o->anneal_lr = 1;
    o->test_nan_rank = -1;
    o->gamma = 0.99;
    o->gae_lambda = 0.95;
    o->minibatches = 4;
    o->epochs = 4;
    o->clip = 0.2;
    o->ent_coef = 0.01;
    o->vf_coef = 0.5;
    o->max_grad_norm = 0.5;
    o->clip_vloss = 1;
    o->seed = 1;
    o->checkpoint_every = 50;
    o->preempt = 1;
    o->preempt_min_frac = 0.25;
    o->preempt_worker_frac = 0.6;
    o->straggler_rank = -1;
    o->target_return = 475;
    if (!env)
        return;
    const char *n = env->name;
    if (!strcmp(n, "Acrobot-v1"))
        o->target_return = -100;
    else if (!strcmp(n, "MountainCar-v0"))
        o->target_return = -110;
    if (env->act_dim > 0) {
        /* Continuous tasks (rl-zoo's PPO settings for Pendulum, CleanRL's
         * normalisation wrappers). */
        o->norm_obs = o->norm_reward = 1;
        o->envs_per_rank = 4;
        o->num_steps = 1024;
        o->lr = 1e-3;
        o->gamma = 0.9;
        o->minibatches = 64;
        o->epochs = 10;
        o->ent_coef = 0.0;
        o->total_steps = 1000000;
        o->target_return = !strcmp(n, "Pendulum-v1") ? -250 : 90;
    }
}

static sl_status_t run_alloc(run_t *r)
{
    int fail = 0;
    size_t TN = (size_t)r->T * (size_t)r->N, od = (size_t)r->od, ak = (size_t)r->ak, k = (size_t)r->agent.k;
    r->obs = xcalloc(TN * od, sizeof(float), &fail);
    r->act = xcalloc(TN * ak, sizeof(float), &fail);
    r->logp = xcalloc(TN, sizeof(float), &fail);
    r->val = xcalloc(TN, sizeof(float), &fail);
    r->rew = xcalloc(TN, sizeof(float), &fail);
    r->boot = xcalloc(TN, sizeof(float), &fail);
    r->adv = xcalloc(TN, sizeof(float), &fail);
    r->ret = xcalloc(TN, sizeof(float), &fail);
    r->last_val = xcalloc((size_t)r->N, sizeof(float), &fail);
    r->term = xcalloc(TN, 1, &fail);
    r->trunc = xcalloc(TN, 1, &fail);
    r->envact = xcalloc((size_t)r->N * ak, sizeof(float), &fail);
    r->tmpobs = xcalloc((size_t)r->N * od, sizeof(float), &fail);
    r->mb_obs = xcalloc(TN * od, sizeof(float), &fail);
    r->mb_act = xcalloc(TN * ak, sizeof(float), &fail);
    r->mb_logp = xcalloc(TN, sizeof(float), &fail);
    r->mb_adv = xcalloc(TN, sizeof(float), &fail);
    r->mb_ret = xcalloc(TN, sizeof(float), &fail);
    r->mb_val = xcalloc(TN, sizeof(float), &fail);
    r->d_out = xcalloc(TN * k, sizeof(float), &fail);
    r->d_val = xcalloc(TN, sizeof(float), &fail);
    r->perm = xcalloc(TN, sizeof(int), &fail);
    r->ls_grad_d = xcalloc(k, sizeof(double), &fail);
    r->obs_acc = xcalloc(1 + 2 * od, sizeof(double), &fail);
    r->ret_g = xcalloc((size_t)r->N, sizeof(double), &fail);
    r->eps_local = xcalloc(TN, sizeof(double), &fail);
    r->eps_all = xcalloc(TN * (size_t)r->size, sizeof(double), &fail);
    r->ep_counts = xcalloc((size_t)r->size, sizeof(int), &fail);
    r->ep_displs = xcalloc((size_t)r->size, sizeof(int), &fail);
    return fail ? sl_error(SL_ERR_NOMEM, "out of memory for rollout buffers (%zu steps)", TN) : SL_OK;
}

static void run_free(run_t *r)
{
    void *p[] = {r->obs,    r->act,       r->logp,     r->val,       r->rew,       r->boot,
                 r->adv,    r->ret,       r->last_val, r->term,      r->trunc,     r->envact,
                 r->tmpobs, r->mb_obs,    r->mb_act,   r->mb_logp,   r->mb_adv,    r->mb_ret,
                 r->mb_val, r->d_out,     r->d_val,    r->perm,      r->ls_grad_d, r->obs_acc,
                 r->ret_g,  r->eps_local, r->eps_all,  r->ep_counts, r->ep_displs};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free(p[i]);
}

/* Observations as the policy sees them (normalised with frozen stats). */
static void policy_obs(run_t *r, const float *raw, float *dst, int n)
{
    memcpy(dst, raw, (size_t)n * (size_t)r->od * sizeof(float));
    if (r->o->norm_obs)
        rl_normalize_obs(&r->obs_rms, dst, n);
}

static sl_status_t values(run_t *r, const float *obs, int n, float *v)
{
    const float *y;
    SL_TRY(rl_agent_forward(&r->agent, obs, n, 0, NULL, &y));
    memcpy(v, y, (size_t)n * sizeof(float));
    return SL_OK;
}

/* The done-counter on rank 0: +1 from each worker that finished its
 * rollout; read with a no-op fetch. */
static long counter_op(run_t *r, long v, MPI_Op op)
{
    long old = 0;
    MPI_Fetch_and_op(&v, &old, MPI_LONG, 0, 0, op, r->win);
    MPI_Win_flush(0, r->win);
    return old;
}

/* Collect up to T steps; returns the number of steps done in *t_p and
 * whether this rank was preempted. Local except for the window. */
static sl_status_t rollout(run_t *r, int *t_p, int *preempted_p)
{
    const sl_rl_env_t *e = r->env;
    int N = r->N, od = r->od, ak = r->ak, t;
    int use_preempt = r->o->preempt && r->size > 1;
    *preempted_p = 0;
    for (t = 0; t < r->T; t++) {
        size_t base = (size_t)t * (size_t)N;
        float *obs_t = r->obs + base * (size_t)od;
        policy_obs(r, r->venv->obs, obs_t, N);
        if (r->o->norm_obs) {
            for (int i = 0; i < N; i++)
                for (int j = 0; j < od; j++) {
                    double x = r->venv->obs[(size_t)i * od + j];
                    r->obs_acc[1 + j] += x;
                    r->obs_acc[1 + od + j] += x * x;
                }
            r->obs_acc[0] += N;
        }
        SL_TRY(rl_agent_act(&r->agent, obs_t, N, r->prng, 0, r->act + base * (size_t)ak, r->logp + base));
        SL_TRY(values(r, obs_t, N, r->val + base));
        rl_env_action(e, r->act + base * (size_t)ak, N, r->envact);
        sl_rl_vecenv_step(r->venv, r->envact, &r->so);
        int any_trunc = 0;
        for (int i = 0; i < N; i++) {
            double rw = r->so.reward[i];
            if (r->o->norm_reward) {
                r->ret_g[i] = r->ret_g[i] * r->o->gamma + rw;
                r->ret_acc[0] += 1;
                r->ret_acc[1] += r->ret_g[i];
                r->ret_acc[2] += r->ret_g[i] * r->ret_g[i];
                rw /= sqrt(r->ret_rms.var[0] + 1e-8);
                rw = rw < -10 ? -10 : rw > 10 ? 10 : rw;
                if (r->so.terminated[i] || r->so.truncated[i])
                    r->ret_g[i] = 0;
            }
            r->rew[base + i] = (float)rw;
            r->term[base + i] = r->so.terminated[i];
            r->trunc[base + i] = r->so.truncated[i];
            any_trunc |= r->so.truncated[i];
        }
        if (any_trunc) {
            policy_obs(r, r->so.final_obs, r->tmpobs, N);
            SL_TRY(values(r, r->tmpobs, N, r->boot + base));
        }
        for (int i = 0; i < r->so.n_done; i++)
            r->eps_local[r->n_eps_local++] = r->so.done_return[i];
        if (use_preempt && t + 1 < r->T && (double)(t + 1) >= r->o->preempt_min_frac * r->T) {
            long done = counter_op(r, 0, MPI_NO_OP);
            if (sl_rl_preempt_rule(t + 1, r->T, done, r->size, r->o->preempt_min_frac,
                                   r->o->preempt_worker_frac)) {
                *preempted_p = 1;
                t++;
                break;
            }
        }
    }
    if (use_preempt && !*preempted_p)
        counter_op(r, 1, MPI_SUM);
    *t_p = t;
    policy_obs(r, r->venv->obs, r->tmpobs, N);
    return values(r, r->tmpobs, N, r->last_val);
}

typedef struct {
    double pg, v, ent, kl, clipfrac, n, gnorm, nmb;
} upd_stats_t;

/* Collective, after an agreement that some rank failed (every rank calls
 * it). A non-finite loss is not printed by each rank that sees it (every
 * rank did, one line each): rank 0 says it once, with the lowest rank that
 * saw it and how many did. Returns SL_ERR_NUMERIC on every rank when some
 * rank saw one and st is not an error of its own; st otherwise. */
static sl_status_t loss_failed(MPI_Comm comm, sl_status_t st, int bad, double loss)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* the lowest rank and what it saw (0 nan, 1 inf, 2 -inf), in one int */
    int in[2] = {bad ? rank * 3 + (isnan(loss) ? 0 : loss > 0 ? 1 : 2) : INT_MAX, bad}, first, count;
    if (MPI_Allreduce(&in[0], &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&in[1], &count, 1, MPI_INT, MPI_SUM, comm) != MPI_SUCCESS)
        sl_abort(comm, SL_ERR_MPI, "agreement on a non-finite PPO loss failed");
    if (!count)
        return st;
    static const char *what[] = {"nan", "inf", "-inf"};
    char where[96] = "";
    if (size > 1)
        snprintf(where, sizeof where, " on rank %d%s", first / 3, count > 1 ? " first, in rank order" : "");
    if (count > 1)
        snprintf(where + strlen(where), sizeof where - strlen(where), " (%d of the %d ranks saw one)", count,
                 size);
    sl_error_root(comm, SL_ERR_NUMERIC, "the PPO loss is %s%s: stopping (the last checkpoint is kept)",
                  what[first % 3], where);
    return st == SL_OK || st == SL_ERR_PEER || st == SL_ERR_NUMERIC ? SL_ERR_NUMERIC : st;
}

sl_status_t rl_ppo_minibatch(rl_agent_t *a, MPI_Comm comm, sl_allreduce_t *ar, int n, double gsize,
                             const rl_batch_t *mb, float *d_out, float *d_val, double *ls_grad_d,
                             const sl_rl_loss_opts_t *lo, double max_grad_norm, int inject_nan,
                             const double *adv_stats, sl_rl_loss_stats_t *ls, double *gn_p)
{
    int size, k = a->k;
    MPI_Comm_size(comm, &size);
    /* Advantage statistics of the global minibatch (unbiased std, as torch). */
    double s3[3] = {(double)n, 0, 0};
    if (adv_stats)
        memcpy(s3, adv_stats, sizeof s3);
    else {
        for (int j = 0; j < n; j++) {
            s3[1] += mb->adv[j];
            s3[2] += (double)mb->adv[j] * mb->adv[j];
        }
        SL_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, s3, 3, MPI_DOUBLE, MPI_SUM, comm));
    }
    double mean = s3[0] > 0 ? s3[1] / s3[0] : 0;
    double var = s3[0] > 1 ? (s3[2] - s3[0] * mean * mean) / (s3[0] - 1) : 0;
    double sd = sqrt(var > 0 ? var : 0);
    for (int j = 0; j < n; j++)
        mb->adv[j] = (float)((mb->adv[j] - mean) / (sd + 1e-8));
    /* Gradients of sum_local / (global size / P): train's all-reduce
     * averages over P, giving the gradient of the global mean loss. */
    double denom = gsize / size, loss = 0;
    sl_status_t st = SL_OK;
    rl_agent_zero_grad(a);
    memset(ls_grad_d, 0, (size_t)k * sizeof(double));
    if (n > 0) {
        const float *y, *v;
        st = rl_agent_forward(a, mb->obs, n, 1, &y, &v);
        if (st == SL_OK) {
            loss = sl_rl_ppo_loss(lo, n, k, y, a->continuous ? a->logstd : NULL, v, mb->act, mb->logp,
                                  mb->adv, mb->ret, mb->val, denom, d_out, d_val, ls_grad_d, ls);
            if (inject_nan)
                loss = NAN;
            st = rl_agent_backward(a, d_out, d_val, n);
        }
    }
    int bad_loss = st == SL_OK && !isfinite(loss); /* said once, by loss_failed */
    if (bad_loss)
        st = SL_ERR_NUMERIC;
    double gn = 0;
    if (a->fast) {
        /* One all-reduce of [actor | critic | log-std | failed]: a failure
         * anywhere shows in the last slot on every rank, so no separate
         * agreement is needed. */
        size_t na = sl_nn_num_params(a->actor), nc = a->critic ? sl_nn_num_params(a->critic) : 0,
               nk = a->continuous ? (size_t)k : 0;
        float *buf = a->packed;
        memcpy(buf, sl_nn_grads(a->actor), na * sizeof(float));
        if (nc)
            memcpy(buf + na, sl_nn_grads(a->critic), nc * sizeof(float));
        for (size_t j = 0; j < nk; j++)
            buf[na + nc + j] = (float)ls_grad_d[j];
        buf[na + nc + nk] = st != SL_OK;
        SL_TRY(sl_allreduce_mean(ar, buf, na + nc + nk + 1));
        if (buf[na + nc + nk] != 0)
            return loss_failed(comm, st != SL_OK ? st : SL_ERR_PEER, bad_loss, loss);
        memcpy(sl_nn_grads(a->actor), buf, na * sizeof(float));
        if (nc)
            memcpy(sl_nn_grads(a->critic), buf + na, nc * sizeof(float));
        for (size_t j = 0; j < nk; j++)
            a->ls_grad[j] = buf[na + nc + j];
        /* The gradients are the same on every rank, hence the outcome too. */
        st = rl_agent_clip(a, max_grad_norm, &gn);
        if (st == SL_ERR_NUMERIC)
            st = sl_error_root(comm, SL_ERR_NUMERIC,
                               "the gradient norm is %g: stopping (the last checkpoint is kept)", gn);
        if (st == SL_OK)
            st = rl_agent_step(a);
        *gn_p = gn;
        return st;
    }
    if (a->attached) {
        /* GPU: backward already started NCCL all-reduces of the device
         * gradients bucket by bucket (train's attachment); finish them. */
        SL_TRY(sl_nn_grad_wait(a->actor));
        if (a->critic)
            SL_TRY(sl_nn_grad_wait(a->critic));
        if ((st = sl_agree(comm, st)) != SL_OK)
            return loss_failed(comm, st, bad_loss, loss);
    } else {
        if ((st = sl_agree(comm, st)) != SL_OK)
            return loss_failed(comm, st, bad_loss, loss);
        SL_TRY(sl_nn_grad_allreduce(a->actor, ar));
        if (a->critic)
            SL_TRY(sl_nn_grad_allreduce(a->critic, ar));
    }
    if (a->continuous) {
        SL_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, ls_grad_d, k, MPI_DOUBLE, MPI_SUM, comm));
        for (int j = 0; j < k; j++)
            a->ls_grad[j] = (float)(ls_grad_d[j] / size);
    }
    st = rl_agent_clip(a, max_grad_norm, &gn);
    if (st == SL_ERR_NUMERIC) /* the gradients are the same on every rank: one message */
        st = sl_error_root(comm, SL_ERR_NUMERIC,
                           "the gradient norm is %g: stopping (the last checkpoint is kept)", gn);
    if (st == SL_OK)
        st = rl_agent_step(a);
    *gn_p = gn;
    return sl_agree(comm, st);
}

/* PPO epochs over the rollout of t_len steps. Collective. */
static sl_status_t update(run_t *r, int t_len, upd_stats_t *us)
{
    const sl_rl_train_opts_t *o = r->o;
    int B = t_len * r->N, M = o->minibatches, od = r->od, ak = r->ak;
    sl_rl_loss_opts_t lo = {o->clip, o->ent_coef, o->vf_coef, o->clip_vloss};
    sl_rl_loss_stats_t ls = {0};
    double gn_sum = 0, nmb = 0;
    /* Per epoch, the global count, sum and sum of squares of the
     * advantages of every minibatch, in one all-reduce. */
    double *stats = calloc((size_t)M * 3, sizeof(double));
    if (!stats)
        return sl_agree(r->comm, sl_error(SL_ERR_NOMEM, "out of memory"));
    sl_status_t st = SL_OK;
    for (int i = 0; i < B; i++)
        r->perm[i] = i;
    for (int ep = 0; ep < o->epochs && st == SL_OK; ep++) {
        gsl_ran_shuffle(r->srng, r->perm, (size_t)B, sizeof(int));
        for (int m = 0; m < M; m++) {
            int lo_i = (int)((int64_t)B * m / M), n = (int)((int64_t)B * (m + 1) / M) - lo_i;
            double *s3 = stats + 3 * m;
            s3[0] = n;
            s3[1] = s3[2] = 0;
            for (int j = 0; j < n; j++) {
                double v = r->adv[r->perm[lo_i + j]];
                s3[1] += v;
                s3[2] += v * v;
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, stats, 3 * M, MPI_DOUBLE, MPI_SUM, r->comm);
        for (int m = 0; m < M && st == SL_OK; m++) {
            int lo_i = (int)((int64_t)B * m / M), n = (int)((int64_t)B * (m + 1) / M) - lo_i;
            for (int j = 0; j < n; j++) {
                int i = r->perm[lo_i + j];
                memcpy(r->mb_obs + (size_t)j * od, r->obs + (size_t)i * od, (size_t)od * sizeof(float));
                memcpy(r->mb_act + (size_t)j * ak, r->act + (size_t)i * ak, (size_t)ak * sizeof(float));
                r->mb_logp[j] = r->logp[i];
                r->mb_adv[j] = r->adv[i];
                r->mb_ret[j] = r->ret[i];
                r->mb_val[j] = r->val[i];
            }
            rl_batch_t mb = {r->mb_obs, r->mb_act, r->mb_logp, r->mb_adv, r->mb_ret, r->mb_val};
            double gn = 0;
            int inject = o->test_nan_update > 0 && r->update + 1 == o->test_nan_update && ep == 0 && m == 0 &&
                         (o->test_nan_rank < 0 || o->test_nan_rank == r->rank);
            st = rl_ppo_minibatch(&r->agent, r->comm, r->ar, n, stats[3 * m], &mb, r->d_out, r->d_val,
                                  r->ls_grad_d, &lo, o->max_grad_norm, inject, stats + 3 * m, &ls, &gn);
            if (st == SL_ERR_NUMERIC && r->rank == 0)
                SL_INFO("at update %lld, epoch %d, minibatch %d", (long long)r->update + 1, ep + 1, m + 1);
            gn_sum += gn;
            nmb += 1;
        }
    }
    free(stats);
    if (st != SL_OK)
        return st;
    double s[6] = {ls.pg_loss, ls.v_loss, ls.entropy, ls.approx_kl, ls.clipfrac, ls.n};
    MPI_Allreduce(MPI_IN_PLACE, s, 6, MPI_DOUBLE, MPI_SUM, r->comm);
    us->pg = s[0] / s[5];
    us->v = s[1] / s[5];
    us->ent = s[2] / s[5];
    us->kl = s[3] / s[5];
    us->clipfrac = s[4] / s[5];
    us->gnorm = nmb > 0 ? gn_sum / nmb : 0;
    return SL_OK;
}

/* Checkpoint layout (see the README, section "Reinforcement learning"). Collective. */
static sl_status_t save(run_t *r, const char *path)
{
    sl_h5_t *h;
    SL_TRY(sl_h5_create(r->comm, path, &h));
    const sl_rl_env_t *e = r->env;
    uint64_t P = (uint64_t)r->size, N = (uint64_t)r->N;
    sl_status_t st = rl_agent_save(&r->agent, h);
#define W(call)                                                                                              \
    if (st == SL_OK)                                                                                         \
    st = (call)
    W(sl_h5_set_attr_str(h, "/", "env", e->name));
    W(sl_h5_set_attr_str(h, "/", "hidden", r->o->hidden));
    W(sl_h5_set_attr_str(h, "/", "sluice_version", sl_version()));
    W(sl_h5_set_attr_i64(h, "/", "global_step", r->global_step));
    W(sl_h5_set_attr_i64(h, "/", "update", r->update));
    W(sl_h5_set_attr_i64(h, "/", "ranks", r->size));
    W(sl_h5_set_attr_i64(h, "/", "shared", r->o->shared));
    W(sl_h5_set_attr_i64(h, "/", "envs_per_rank", r->N));
    W(sl_h5_set_attr_i64(h, "/", "num_steps", r->T));
    W(sl_h5_set_attr_i64(h, "/", "seed", (int64_t)r->o->seed));
    W(sl_h5_set_attr_i64(h, "/", "norm_obs", r->o->norm_obs));
    W(sl_h5_set_attr_i64(h, "/", "norm_reward", r->o->norm_reward));
    W(sl_h5_set_attr_i64(h, "/", "episodes", r->n_episodes));
    W(sl_h5_set_attr_i64(h, "/", "preempted", r->preempted_total));
    W(sl_h5_set_attr_f64(h, "/", "first_reach_step", r->first_reach));
    uint64_t d1[1] = {RECENT}, dod[1] = {(uint64_t)r->od}, d1b[1] = {1};
    W(sl_h5_write(h, "episodes/recent_returns", SL_F64, 1, d1, r->recent));
    W(sl_h5_write(h, "norm/obs_mean", SL_F64, 1, dod, r->obs_rms.mean));
    W(sl_h5_write(h, "norm/obs_var", SL_F64, 1, dod, r->obs_rms.var));
    W(sl_h5_set_attr_f64(h, "norm/obs_mean", "count", r->obs_rms.count));
    W(sl_h5_write(h, "norm/ret_var", SL_F64, 1, d1b, r->ret_rms.var));
    W(sl_h5_write(h, "norm/ret_mean", SL_F64, 1, d1b, r->ret_rms.mean));
    W(sl_h5_set_attr_f64(h, "norm/ret_var", "count", r->ret_rms.count));
    uint64_t ds[2] = {P, N * e->state_size}, dn[2] = {P, N}, rk = (uint64_t)r->rank;
    W(sl_h5_write_rows(h, "ranks/env_state", SL_U8, 2, ds, rk, 1, r->venv->states));
    W(sl_h5_write_rows(h, "ranks/episode_length", SL_I32, 2, dn, rk, 1, r->venv->ep_len));
    W(sl_h5_write_rows(h, "ranks/episode_return", SL_F64, 2, dn, rk, 1, r->venv->ep_ret));
    W(sl_h5_write_rows(h, "ranks/discounted_return", SL_F64, 2, dn, rk, 1, r->ret_g));
    W(sl_h5_write_rng(h, "ranks/rng_env", r->venv->rng));
    W(sl_h5_write_rng(h, "ranks/rng_policy", r->prng));
    W(sl_h5_write_rng(h, "ranks/rng_shuffle", r->srng));
#undef W
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    return sl_h5_commit(&h, 2);
}

static sl_status_t check_attr_i64(run_t *r, sl_h5_t *h, const char *path, const char *name, int64_t want,
                                  const char *what)
{
    int64_t v = -1;
    if (sl_h5_get_attr_i64(h, "/", name, &v) != SL_OK || v != want)
        return sl_error_root(r->comm, SL_ERR_MISMATCH,
                             "--resume: '%s' was written with %s %lld, this run has %lld (use another --out)",
                             path, what, (long long)v, (long long)want);
    return SL_OK;
}

/* Rank 0: keep the damaged checkpoint as PATH.damaged and make PATH the
 * previous one, PREV (a hard link, replaced by rename). */
static sl_status_t restore_prev(const char *path, const char *prev)
{
    char dmg[4300], tmp[4300];
    snprintf(dmg, sizeof dmg, "%s.damaged", path);
    snprintf(tmp, sizeof tmp, "%s.restore", path);
    unlink(dmg);
    unlink(tmp);
    if (link(path, dmg) != 0)
        return sl_error(SL_ERR_IO, "cannot keep the damaged '%s' as '%s': %s", path, dmg, strerror(errno));
    if (link(prev, tmp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sl_error(SL_ERR_IO, "cannot put '%s' back as '%s': %s", prev, path, strerror(e));
    }
    return sl_fsync_dir_of(path);
}

/* Resume from path (or, when HDF5 cannot open it, from path.1, saying so);
 * from gets the file loaded. */
static sl_status_t load(run_t *r, const char *path, int *found_p, char *from, size_t len)
{
    sl_h5_t *h;
    *found_p = 0;
    snprintf(from, len, "%s", path);
    sl_status_t st = sl_h5_try_open(r->comm, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return SL_OK;
    char prev[4200];
    if (st == SL_ERR_HDF5) {
        /* damaged (a disk error, a copy cut short): the checkpoint before it,
         * kept as ckpt.h5.1, loses one checkpoint's steps instead of the run */
        snprintf(prev, sizeof prev, "%s.1", path);
        st = sl_h5_try_open(r->comm, prev, &h);
        if (st == SL_ERR_NOT_FOUND)
            return sl_h5_damaged(r->comm, path);
        if (st == SL_ERR_HDF5)
            return sl_error_root(
                r->comm, SL_ERR_HDF5,
                "'%s' and '%s', the checkpoint before it, are both damaged (truncated?) or not "
                "HDF5 files",
                path, prev);
        SL_TRY(st);
        /* the next checkpoint's rotation would link the damaged file over
         * ckpt.h5.1: put the good one back as ckpt.h5 first */
        sl_status_t rs = r->rank == 0 ? restore_prev(path, prev) : SL_OK;
        if ((rs = sl_agree(r->comm, rs)) != SL_OK) {
            sl_h5_close(&h);
            return rs;
        }
        if (r->rank == 0)
            SL_WARN("'%s' is damaged (truncated?) or not an HDF5 file; resuming from '%s', the checkpoint "
                    "before it, now also '%s' (the damaged file is kept as '%s.damaged')",
                    path, prev, path, path);
        snprintf(from, len, "%s", prev);
        path = from;
    }
    SL_TRY(st);
    char *env = NULL, *hidden = NULL;
    if (sl_h5_get_attr_str(h, "/", "env", &env) != SL_OK ||
        sl_h5_get_attr_str(h, "/", "hidden", &hidden) != SL_OK)
        st = sl_error_root(r->comm, SL_ERR_MISMATCH, "--resume: '%s' is not an rl checkpoint", path);
    else if (strcmp(env, r->env->name) || strcmp(hidden, r->o->hidden))
        st = sl_error_root(
            r->comm, SL_ERR_MISMATCH,
            "--resume: '%s' holds env %s with hidden layers %s; this run asks for env %s with %s", path, env,
            hidden, r->env->name, r->o->hidden);
    free(env);
    free(hidden);
    if (st == SL_OK) {
        int64_t sh = 0;
        sl_h5_get_attr_i64(h, "/", "shared", &sh);
        if (sh != r->o->shared)
            st =
                sl_error_root(r->comm, SL_ERR_MISMATCH,
                              "--resume: '%s' holds a network with %s actor and critic; this run asks for %s",
                              path, sh ? "shared" : "separate", r->o->shared ? "--shared" : "separate ones");
    }
    if (st == SL_OK)
        st = check_attr_i64(r, h, path, "ranks", r->size, "ranks");
    if (st == SL_OK)
        st = check_attr_i64(r, h, path, "envs_per_rank", r->N, "--envs-per-rank");
    if (st == SL_OK)
        st = check_attr_i64(r, h, path, "num_steps", r->T, "--num-steps");
    /* the network was trained on (un)normalised observations and rewards */
    if (st == SL_OK)
        st = check_attr_i64(r, h, path, "norm_obs", r->o->norm_obs, "--norm-obs");
    if (st == SL_OK)
        st = check_attr_i64(r, h, path, "norm_reward", r->o->norm_reward, "--norm-reward");
    int64_t gs = 0, up = 0, ne = 0, pre = 0;
    double fr = -1;
    if (st == SL_OK) {
        sl_h5_get_attr_i64(h, "/", "global_step", &gs);
        sl_h5_get_attr_i64(h, "/", "update", &up);
        sl_h5_get_attr_i64(h, "/", "episodes", &ne);
        sl_h5_get_attr_i64(h, "/", "preempted", &pre);
        sl_h5_get_attr_f64(h, "/", "first_reach_step", &fr);
        st = rl_agent_load(&r->agent, h);
    }
    uint64_t d1[1] = {RECENT}, dod[1] = {(uint64_t)r->od}, d1b[1] = {1};
    uint64_t ds[2] = {(uint64_t)r->size, (uint64_t)r->N * r->env->state_size},
             dn[2] = {(uint64_t)r->size, (uint64_t)r->N};
    (void)ds;
    (void)dn;
#define R(call)                                                                                              \
    if (st == SL_OK)                                                                                         \
    st = (call)
    R(sl_h5_read(h, "episodes/recent_returns", SL_F64, 1, d1, r->recent));
    R(sl_h5_read(h, "norm/obs_mean", SL_F64, 1, dod, r->obs_rms.mean));
    R(sl_h5_read(h, "norm/obs_var", SL_F64, 1, dod, r->obs_rms.var));
    R(sl_h5_get_attr_f64(h, "norm/obs_mean", "count", &r->obs_rms.count));
    R(sl_h5_read(h, "norm/ret_var", SL_F64, 1, d1b, r->ret_rms.var));
    R(sl_h5_read(h, "norm/ret_mean", SL_F64, 1, d1b, r->ret_rms.mean));
    R(sl_h5_get_attr_f64(h, "norm/ret_var", "count", &r->ret_rms.count));
    R(sl_h5_read_rows(h, "ranks/env_state", SL_U8, (uint64_t)r->rank, 1, r->venv->states));
    R(sl_h5_read_rows(h, "ranks/episode_length", SL_I32, (uint64_t)r->rank, 1, r->venv->ep_len));
    R(sl_h5_read_rows(h, "ranks/episode_return", SL_F64, (uint64_t)r->rank, 1, r->venv->ep_ret));
    R(sl_h5_read_rows(h, "ranks/discounted_return", SL_F64, (uint64_t)r->rank, 1, r->ret_g));
    R(sl_h5_read_rng(h, "ranks/rng_env", r->venv->rng));
    R(sl_h5_read_rng(h, "ranks/rng_policy", r->prng));
    R(sl_h5_read_rng(h, "ranks/rng_shuffle", r->srng));
#undef R
    sl_h5_close(&h);
    st = sl_agree(r->comm, st);
    SL_TRY(st);
    for (int i = 0; i < r->N; i++)
        r->env->observe(r->venv->states + (size_t)i * r->env->state_size, r->venv->obs + (size_t)i * r->od);
    r->global_step = gs;
    r->update = up;
    r->n_episodes = ne;
    r->preempted_total = pre;
    r->first_reach = fr;
    *found_p = 1;
    return SL_OK;
}

static const char *csv_header =
    "update,step,return_mean,episodes,sps,pg_loss,v_loss,entropy,approx_kl,clipfrac,"
    "grad_norm,lr,preempted,rollout_steps_min,rollout_steps_max\n";

/* On resume: keep the rows up to the checkpoint's update (a run killed
 * after its last checkpoint may have written more). Rank 0. */
static sl_status_t csv_trim(const char *path, int64_t upto)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return upto == 0 ? SL_OK : sl_error(SL_ERR_IO, "cannot open '%s' to resume its rows", path);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap), line[4096];
    int first = 1;
    while (buf && fgets(line, sizeof line, f)) {
        long u = strtol(line, NULL, 10);
        if (!first && u > upto)
            break;
        first = 0;
        size_t l = strlen(line);
        if (len + l + 1 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        memcpy(buf + len, line, l);
        len += l;
    }
    fclose(f);
    if (!buf)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    sl_status_t st = sl_file_write_atomic(path, buf, len);
    free(buf);
    return st;
}

/* Collective: a metrics.csv row that rank 0 could not write (csv_errno: a
 * full file system) fails the checkpoint about to be written, since a
 * resume keeps the rows up to its checkpoint's update and the lost ones
 * would be a gap for good; the previous checkpoint stays. */
static sl_status_t save_after_rows(run_t *r, const char *ckpt, int csv_errno, const char *csvp)
{
    sl_status_t st = SL_OK;
    if (r->rank == 0 && csv_errno)
        st = sl_error(sl_errno_status(csv_errno), "cannot write '%s': %s", csvp, strerror(csv_errno));
    SL_TRY(sl_agree(r->comm, st));
    return save(r, ckpt);
}

sl_status_t sl_rl_train(MPI_Comm comm, const sl_rl_train_opts_t *o, sl_rl_train_result_t *res_p)
{
    run_t R = {0}, *r = &R;
    sl_status_t st = SL_OK;
    char ckpt[4096], csvp[4096];
    FILE *csv = NULL;
    int csv_errno = 0; /* rank 0: a row was lost; no more rows */
    int win_ok = 0;
    MPI_Comm_dup(comm, &r->comm);
    MPI_Comm_rank(r->comm, &r->rank);
    MPI_Comm_size(r->comm, &r->size);
    r->o = o;
    r->env = o->env;
    r->first_reach = -1;
    st = sl_rl_env_check(o->env);
    if (st == SL_OK && (o->envs_per_rank < 1 || o->num_steps < 1 || o->minibatches < 1 || o->epochs < 1))
        st = sl_error_root(r->comm, SL_ERR_USAGE,
                           "envs per rank, rollout steps, minibatches and epochs must be >= 1");
    if (st == SL_OK && o->minibatches > o->envs_per_rank * o->num_steps)
        st = sl_error_root(r->comm, SL_ERR_USAGE, "%d minibatches but only %d steps per rank in a rollout",
                           o->minibatches, o->envs_per_rank * o->num_steps);
    if (st == SL_OK && o->env->obs_dim > 64)
        st = sl_error_root(r->comm, SL_ERR_USAGE, "observations of %d floats: at most 64 supported",
                           o->env->obs_dim);
    if (st == SL_OK && o->env->n_actions > 64)
        st = sl_error_root(r->comm, SL_ERR_USAGE, "%d actions: at most 64 supported", o->env->n_actions);
    sl_nn_device_t dev = SL_NN_CPU;
    if (st == SL_OK && sl_nn_device_parse(o->device ? o->device : "cpu", &dev) != SL_OK)
        st = sl_error_root(r->comm, SL_ERR_USAGE, "--device '%s': expected cpu or cuda", o->device);
    if (st == SL_OK && sl_nn_device_check(dev) != SL_OK)
        st = sl_error_root(r->comm, SL_ERR_UNSUPPORTED,
                           "--device %s: not available here (no CUDA device or no CUDA build)", o->device);
    st = sl_agree(r->comm, st);
    if (st != SL_OK) {
        MPI_Comm_free(&r->comm);
        return st;
    }
    if (dev == SL_NN_CPU)
        sl_nn_set_threads(1); /* small networks: one BLAS thread per rank */
    sl_topo_t topo;
    int have_topo = 0;
    if (dev == SL_NN_CUDA) { /* one GPU per rank before any network is made */
        if ((st = sl_topo_init(r->comm, &topo)) != SL_OK) {
            MPI_Comm_free(&r->comm);
            return st;
        }
        have_topo = 1;
        if ((st = sl_gpu_bind(&topo)) != SL_OK) {
            sl_topo_fini(&topo);
            MPI_Comm_free(&r->comm);
            return st;
        }
    }
    r->N = o->envs_per_rank;
    r->T = o->num_steps;
    r->od = o->env->obs_dim;
    r->ak = o->env->act_dim > 0 ? o->env->act_dim : 1;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", o->out);
    snprintf(csvp, sizeof csvp, "%s/metrics.csv", o->out);

    st = rl_agent_init(&r->agent, o->env, o->hidden, o->shared, dev, o->seed, o->lr, o->log_std_init);
    if (st == SL_OK)
        st = sl_rl_vecenv_create(o->env, r->N, o->seed, r->rank, &r->venv);
    if (st == SL_OK)
        st = sl_rl_stepout_init(&r->so, o->env, r->N);
    if (st == SL_OK)
        st = sl_rng_create(o->seed, r->rank, "rl/policy", &r->prng);
    if (st == SL_OK)
        st = sl_rng_create(o->seed, r->rank, "rl/shuffle", &r->srng);
    if (st == SL_OK)
        st = rl_rms_init(&r->obs_rms, r->od);
    if (st == SL_OK)
        st = rl_rms_init(&r->ret_rms, 1);
    if (st == SL_OK)
        st = run_alloc(r);
    if (st == SL_OK && r->rank == o->straggler_rank)
        r->venv->delay_us = o->straggler_delay_us;
    SL_TRY_GOTO(sl_agree(r->comm, st), out);
    SL_TRY_GOTO(sl_allreduce_create(r->comm, dev == SL_NN_CUDA ? SL_AR_NCCL : 0, &r->ar), out);
    if (dev == SL_NN_CUDA) {
        /* Average gradients on the device through NCCL as backward
         * produces them. */
        st = sl_nn_attach_allreduce(r->agent.actor, r->ar, 0, 0);
        if (st == SL_OK && r->agent.critic)
            st = sl_nn_attach_allreduce(r->agent.critic, r->ar, 0, 0);
        r->agent.attached = st == SL_OK;
        SL_TRY_GOTO(sl_agree(r->comm, st), out);
    }
    if (MPI_Win_allocate(r->rank == 0 ? sizeof(long) : 0, sizeof(long), MPI_INFO_NULL, r->comm, &r->win_mem,
                         &r->win) != MPI_SUCCESS)
        st = sl_error(SL_ERR_MPI, "MPI_Win_allocate of the done counter failed");
    SL_TRY_GOTO(sl_agree(r->comm, st), out);
    win_ok = 1;
    if (r->rank == 0)
        *r->win_mem = 0;
    MPI_Barrier(r->comm);
    MPI_Win_lock_all(0, r->win);

    st = r->rank == 0 ? sl_mkdirs(o->out) : SL_OK;
    if (st == SL_OK && r->rank == 0 && !o->resume) {
        /* a fresh run must not leave an earlier run's checkpoint (or its
         * summary) for a later --resume to take for its own */
        char old[4200];
        remove(ckpt);
        snprintf(old, sizeof old, "%s.1", ckpt);
        remove(old);
        snprintf(old, sizeof old, "%s.damaged", ckpt);
        remove(old);
        snprintf(old, sizeof old, "%s/summary.json", o->out);
        remove(old);
    }
    SL_TRY_GOTO(sl_agree(r->comm, st), out);
    int found = 0;
    char from[4200];
    if (o->resume)
        SL_TRY_GOTO(load(r, ckpt, &found, from, sizeof from), out);
    if (r->rank == 0) {
        if (found)
            st = csv_trim(csvp, r->update);
        if (st == SL_OK && !(csv = fopen(csvp, found ? "a" : "w")))
            st = sl_error(SL_ERR_IO, "cannot write '%s'", csvp);
        if (st == SL_OK && !found)
            fputs(csv_header, csv);
    }
    SL_TRY_GOTO(sl_agree(r->comm, st), out);
    if (r->rank == 0 && !o->quiet) {
        printf("sluice rl train: %s, %d rank%s x %d env%s x %d steps, %lld total steps%s\n", o->env->name,
               r->size, r->size == 1 ? "" : "s", r->N, r->N == 1 ? "" : "s", r->T, (long long)o->total_steps,
               found ? " (resumed)" : "");
        if (found)
            printf("  resuming from %s at update %lld, step %lld\n", from, (long long)r->update,
                   (long long)r->global_step);
        fflush(stdout);
    }

    double t_start = sl_now(), steps_start = (double)r->global_step, cpu_start = cpu_seconds();
    long updates_here = 0;
    int stopped = 0;
    int64_t saved_update = -1;
    while (r->global_step < o->total_steps) {
        int stop = 0;
        SL_TRY_GOTO(sl_stop_agree(r->comm, &stop), out);
        if (stop || (o->stop_after > 0 && updates_here >= o->stop_after)) {
            stopped = 1;
            break;
        }
        double t0 = sl_now();
        double frac = 1.0 - (double)r->global_step / (double)o->total_steps;
        rl_agent_set_lr(&r->agent, o->anneal_lr ? frac * o->lr : o->lr);
        int tlen = 0, pre = 0;
        r->n_eps_local = 0;
        st = rollout(r, &tlen, &pre);
        SL_TRY_GOTO(sl_agree(r->comm, st), out);
        sl_rl_gae(tlen, r->N, r->rew, r->val, r->term, r->trunc, r->boot, r->last_val, o->gamma,
                  o->gae_lambda, r->adv, r->ret);
        upd_stats_t us = {0};
        SL_TRY_GOTO(update(r, tlen, &us), out);
        /* Reset the done counter before the collectives below, which no rank
         * leaves (and starts its next rollout) before rank 0 entered. */
        if (r->size > 1 && r->rank == 0)
            counter_op(r, 0, MPI_REPLACE);
        /* Global bookkeeping: steps, preemptions, episodes, normalisers. */
        /* Finished episodes are shared so every rank keeps the same window. */
        int64_t loc[3] = {(int64_t)tlen * r->N, pre, r->n_eps_local}, glob[3];
        int64_t tl[2] = {tlen, -tlen};
        MPI_Allreduce(loc, glob, 3, MPI_INT64_T, MPI_SUM, r->comm);
        MPI_Allreduce(MPI_IN_PLACE, tl, 2, MPI_INT64_T, MPI_MIN, r->comm);
        int *counts = r->ep_counts, *displs = r->ep_displs, c = (int)loc[2];
        double *all = r->eps_all;
        MPI_Allgather(&c, 1, MPI_INT, counts, 1, MPI_INT, r->comm);
        for (int q = 0, s = 0; q < r->size; q++) {
            displs[q] = s;
            s += counts[q];
        }
        MPI_Allgatherv(r->eps_local, c, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, r->comm);
        for (int64_t i = 0; i < glob[2]; i++)
            r->recent[(r->n_episodes++) % RECENT] = all[i];
        if (o->norm_obs)
            SL_TRY_GOTO(rl_rms_merge_global(&r->obs_rms, r->comm, r->obs_acc), out);
        if (o->norm_reward)
            SL_TRY_GOTO(rl_rms_merge_global(&r->ret_rms, r->comm, r->ret_acc), out);
        r->global_step += glob[0];
        r->update++;
        updates_here++;
        r->preempted_total += glob[1];
        double dt = sl_now() - t0, rm = recent_mean(r);
        MPI_Bcast(&dt, 1, MPI_DOUBLE, 0, r->comm);
        if (r->first_reach < 0 && r->n_episodes > 0 && rm >= o->target_return)
            r->first_reach = (double)r->global_step;
        if (r->rank == 0 && !csv_errno) {
            errno = 0;
            fprintf(csv, "%lld,%lld,%.6g,%lld,%.1f,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%lld\n",
                    (long long)r->update, (long long)r->global_step, rm, (long long)r->n_episodes,
                    (double)glob[0] / dt, us.pg, us.v, us.ent, us.kl, us.clipfrac, us.gnorm, r->agent.lr,
                    (long long)glob[1], (long long)tl[0], (long long)-tl[1]);
            if (fflush(csv) != 0 || ferror(csv))
                csv_errno = errno ? errno : EIO;
        }
        if (r->rank == 0) {
            if (!o->quiet && (r->update % 20 == 0 || r->global_step >= o->total_steps))
                fprintf(stderr, "sluice[0]: update %lld step %lld return_mean %.1f sps %.0f\n",
                        (long long)r->update, (long long)r->global_step, rm, (double)glob[0] / dt);
        }
        int ck = (o->checkpoint_every > 0 && r->update % o->checkpoint_every == 0 &&
                  r->global_step < o->total_steps) ||
                 (o->checkpoint_steps > 0 &&
                  (r->global_step - glob[0]) / o->checkpoint_steps != r->global_step / o->checkpoint_steps);
        if (o->update_cb && r->global_step >= o->total_steps)
            ck = 1; /* the callback may report the last update with its checkpoint */
        if (ck) {
            SL_TRY_GOTO(save_after_rows(r, ckpt, csv_errno, csvp), out);
            saved_update = r->update;
        }
        if (o->update_cb) {
            sl_rl_update_info_t ui = {
                r->update, r->global_step, r->n_episodes, rm, (double)glob[0] / dt, sl_now() - t_start, ck};
            if (o->update_cb(&ui, o->update_cb_arg))
                break;
        }
        if (o->stop_at_target && r->first_reach >= 0)
            break;
    }
    if (saved_update != r->update)
        SL_TRY_GOTO(save_after_rows(r, ckpt, csv_errno, csvp), out);
    double secs = sl_now() - t_start, cpu = cpu_seconds() - cpu_start;
    MPI_Bcast(&secs, 1, MPI_DOUBLE, 0, r->comm);
    MPI_Allreduce(MPI_IN_PLACE, &cpu, 1, MPI_DOUBLE, MPI_SUM, r->comm);
    sl_rl_train_result_t res = {
        r->global_step,    r->update, recent_mean(r),
        r->first_reach,    secs,      secs > 0 ? ((double)r->global_step - steps_start) / secs : 0,
        r->preempted_total};
    if (res_p)
        *res_p = res;
    if (stopped) {
        if (r->rank == 0 && !o->quiet)
            printf("  stopped at update %lld (step %lld); checkpoint %s written\n", (long long)r->update,
                   (long long)r->global_step, ckpt);
        st = SL_ERR_STOPPED;
        goto out;
    }
    if (r->rank == 0 && (double)r->global_step == steps_start && r->global_step > 0) {
        /* --resume of a finished run: no step taken, keep its summary (its
         * seconds and rates) instead of rewriting them as 0 */
        char jp[4096];
        snprintf(jp, sizeof jp, "%s/summary.json", o->out);
        if (access(jp, F_OK) == 0) {
            if (!o->quiet)
                printf("  nothing to do: the run is at step %lld (--total-steps %lld); %s kept\n",
                       (long long)r->global_step, (long long)o->total_steps, jp);
            goto agree;
        }
    }
    if (r->rank == 0) {
        char json[1024], jp[4096], rmean[32] = "null"; /* no finished episode yet: no mean */
        if (isfinite(res.return_mean))
            snprintf(rmean, sizeof rmean, "%.6g", res.return_mean);
        int n = snprintf(
            json, sizeof json,
            "{\"env\": \"%s\", \"ranks\": %d, \"envs_per_rank\": %d, \"steps\": %lld, \"updates\": %lld, "
            "\"return_mean\": %s, \"target_return\": %g, \"first_reach_step\": %.0f, "
            "\"seconds\": %.3f, \"sps\": %.1f, \"cpu_seconds\": %.3f, \"steps_per_cpu_second\": %.1f, "
            "\"preempted\": %ld}\n",
            o->env->name, r->size, r->N, (long long)r->global_step, (long long)r->update, rmean,
            o->target_return, r->first_reach, secs, res.sps, cpu,
            cpu > 0 ? ((double)r->global_step - steps_start) / cpu : 0, r->preempted_total);
        snprintf(jp, sizeof jp, "%s/summary.json", o->out);
        st = sl_file_write_atomic(jp, json, (size_t)n);
        if (st == SL_OK && !o->quiet && isfinite(res.return_mean))
            printf("  %lld steps in %.1f s (%.0f steps/s), return_mean %.1f over the last %d episodes\n",
                   (long long)r->global_step, secs, res.sps, res.return_mean, RECENT);
        else if (st == SL_OK && !o->quiet)
            printf("  %lld steps in %.1f s (%.0f steps/s), no episode finished yet\n",
                   (long long)r->global_step, secs, res.sps);
    }
agree:
    st = sl_agree(r->comm, st);
out:
    if (csv)
        fclose(csv);
    if (win_ok) {
        MPI_Win_unlock_all(r->win);
        MPI_Win_free(&r->win);
    }
    if (r->agent.attached) {
        sl_nn_attach_allreduce(r->agent.actor, NULL, 0, 0);
        if (r->agent.critic)
            sl_nn_attach_allreduce(r->agent.critic, NULL, 0, 0);
        r->agent.attached = 0;
    }
    sl_allreduce_destroy(&r->ar);
    run_free(r);
    rl_rms_fini(&r->obs_rms);
    rl_rms_fini(&r->ret_rms);
    sl_rng_destroy(&r->prng);
    sl_rng_destroy(&r->srng);
    sl_rl_stepout_fini(&r->so);
    sl_rl_vecenv_destroy(&r->venv);
    rl_agent_fini(&r->agent);
    if (have_topo)
        sl_topo_fini(&topo);
    MPI_Comm_free(&r->comm);
    return st;
}
