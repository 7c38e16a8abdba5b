/* SPDX-License-Identifier: BSD-3-Clause */
/* The actor-critic agent on train's MLPs: separate tanh actor and critic
 * with orthogonal init (sqrt 2 hidden, 0.01 policy head, 1 value head),
 * Adam on each, a state-independent log-std for Gaussian policies with its
 * own Adam, sampling, and the running normalisers. Every rank builds the
 * same initial agent from the stream (seed, 0, "rl/init"). */
#include "config.h"
#include "rl_impl.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

sl_status_t rl_rms_init(rl_rms_t *r, int n)
{
    r->n = n;
    r->count = 1e-4;
    r->mean = calloc((size_t)n, sizeof(double));
    r->var = malloc((size_t)n * sizeof(double));
    if (!r->mean || !r->var) {
        rl_rms_fini(r);
        return sl_error(SL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        r->var[i] = 1.0;
    return SL_OK;
}

void rl_rms_fini(rl_rms_t *r)
{
    free(r->mean);
    free(r->var);
    r->mean = r->var = NULL;
}

void rl_rms_merge(rl_rms_t *r, double count, const double *mean, const double *var)
{
    if (count <= 0)
        return;
    double tot = r->count + count;
    for (int i = 0; i < r->n; i++) {
        double delta = mean[i] - r->mean[i];
        double m2 = r->var[i] * r->count + var[i] * count + delta * delta * r->count * count / tot;
        r->mean[i] += delta * count / tot;
        r->var[i] = m2 / tot;
    }
    r->count = tot;
}

sl_status_t rl_rms_merge_global(rl_rms_t *r, MPI_Comm comm, double *acc)
{
    int n = r->n;
    SL_MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, acc, 1 + 2 * n, MPI_DOUBLE, MPI_SUM, comm));
    double c = acc[0];
    if (c > 0) {
        double mean[64], var[64];
        for (int i = 0; i < n; i++) {
            mean[i] = acc[1 + i] / c;
            var[i] = acc[1 + n + i] / c - mean[i] * mean[i];
            if (var[i] < 0)
                var[i] = 0;
        }
        rl_rms_merge(r, c, mean, var);
    }
    memset(acc, 0, (size_t)(1 + 2 * n) * sizeof(double));
    return SL_OK;
}

void rl_normalize_obs(const rl_rms_t *r, float *obs, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r->n; j++) {
            double z = (obs[(size_t)i * r->n + j] - r->mean[j]) / sqrt(r->var[j] + 1e-8);
            obs[(size_t)i * r->n + j] = (float)(z < -10 ? -10 : z > 10 ? 10 : z);
        }
}

static sl_status_t make_net(const char *spec, sl_nn_device_t dev, uint64_t seed, double head_gain,
                            gsl_rng *rng, sl_nn_t **nn_p)
{
    sl_nn_t *nn;
    SL_TRY(sl_nn_create(spec, dev, seed, &nn));
    int L = sl_nn_num_linear(nn);
    sl_status_t st = SL_OK;
    for (int i = 0; i < L && st == SL_OK; i++)
        st = sl_nn_init_orthogonal(nn, i, i == L - 1 ? head_gain : sqrt(2.0), rng);
    if (st == SL_OK)
        st = sl_nn_params_changed(nn);
    if (st != SL_OK) {
        sl_nn_destroy(&nn);
        return st;
    }
    *nn_p = nn;
    return SL_OK;
}

int rl_hidden_valid(const char *hidden)
{
    const char *p = hidden;
    if (strlen(hidden) > 200)
        return 0;
    for (;;) { /* one or more positive widths joined by single '-' */
        long w = 0;
        const char *d = p;
        while (*p >= '0' && *p <= '9' && w <= 1000000)
            w = w * 10 + (*p++ - '0');
        if (p == d || w < 1 || w > 1000000)
            return 0;
        if (!*p)
            return 1;
        if (*p++ != '-')
            return 0;
    }
}

sl_status_t rl_agent_init(rl_agent_t *a, const sl_rl_env_t *env, const char *hidden, int shared,
                          sl_nn_device_t dev, uint64_t seed, double lr, double log_std_init)
{
    memset(a, 0, sizeof *a);
    a->shared = shared;
    a->obs_dim = env->obs_dim;
    a->continuous = env->act_dim > 0;
    a->k = a->continuous ? env->act_dim : env->n_actions;
    if (!rl_hidden_valid(hidden))
        return sl_error(SL_ERR_USAGE, "--hidden '%s': expected widths like 64-64", hidden);
    /* Shared: one trunk whose last layer has k policy outputs and 1 value
     * output (orthogonal with gain 1, policy rows scaled to 0.01). */
    snprintf(a->actor_spec, sizeof a->actor_spec, "mlp:%d-%s-%d:tanh", a->obs_dim, hidden,
             a->k + (shared ? 1 : 0));
    snprintf(a->critic_spec, sizeof a->critic_spec, shared ? "" : "mlp:%d-%s-1:tanh", a->obs_dim, hidden);
    gsl_rng *rng;
    SL_TRY(sl_rng_create(seed, 0, "rl/init", &rng));
    sl_status_t st = make_net(a->actor_spec, dev, seed, shared ? 1.0 : 0.01, rng, &a->actor);
    if (st == SL_OK && !shared)
        st = make_net(a->critic_spec, dev, seed, 1.0, rng, &a->critic);
    if (st == SL_OK && shared) {
        sl_nn_tensor_info_t ti;
        int L = sl_nn_num_linear(a->actor);
        float *P = sl_nn_params(a->actor);
        for (int t = 0; t < sl_nn_num_tensors(a->actor) && st == SL_OK; t++) {
            char want[32];
            snprintf(want, sizeof want, "fc%d/weight", L);
            if ((st = sl_nn_tensor_info(a->actor, t, &ti)) == SL_OK && !strcmp(ti.name, want))
                for (size_t i = 0; i < (size_t)a->k * (size_t)ti.cols; i++)
                    P[ti.offset + i] *= 0.01f;
        }
        if (st == SL_OK)
            st = sl_nn_params_changed(a->actor);
    }
    sl_rng_destroy(&rng);
    sl_nn_optim_opts_t oo;
    sl_nn_optim_opts_default(&oo, SL_NN_ADAM);
    oo.lr = lr;
    oo.eps = 1e-5; /* CleanRL */
    a->lr = lr;
    a->beta1 = oo.beta1;
    a->beta2 = oo.beta2;
    a->eps = oo.eps;
    if (st == SL_OK)
        st = sl_nn_optim_create(a->actor, &oo, &a->aopt);
    if (st == SL_OK && !shared)
        st = sl_nn_optim_create(a->critic, &oo, &a->copt);
    if (st == SL_OK) {
        a->logstd = calloc((size_t)a->k, sizeof(float));
        a->ls_grad = calloc((size_t)a->k, sizeof(float));
        a->ls_m = calloc((size_t)a->k, sizeof(double));
        a->ls_v = calloc((size_t)a->k, sizeof(double));
        if (!a->logstd || !a->ls_grad || !a->ls_m || !a->ls_v)
            st = sl_error(SL_ERR_NOMEM, "out of memory");
        else
            for (int j = 0; j < a->k; j++)
                a->logstd[j] = (float)log_std_init;
    }
    if (st == SL_OK && dev == SL_NN_CPU)
        st = rl_agent_set_fast(a, 1);
    if (st != SL_OK)
        rl_agent_fini(a);
    return st;
}

sl_status_t rl_agent_set_fast(rl_agent_t *a, int on)
{
    rl_mlp_fini(&a->fa);
    rl_mlp_fini(&a->fc);
    a->fast = 0;
    if (!on)
        return SL_OK;
    SL_TRY(rl_mlp_bind(&a->fa, a->actor));
    if (a->critic)
        SL_TRY(rl_mlp_bind(&a->fc, a->critic));
    size_t nc = a->critic ? sl_nn_num_params(a->critic) : 0;
    free(a->packed);
    a->packed = malloc((sl_nn_num_params(a->actor) + nc + (size_t)a->k + 1) * sizeof(float));
    if (!a->packed)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    a->fast = 1;
    return SL_OK;
}

sl_status_t rl_net_forward(rl_agent_t *a, int critic, const float *x, int n, int train, const float **y_p)
{
    if (a->fast)
        return rl_mlp_forward(critic ? &a->fc : &a->fa, x, n, y_p);
    return sl_nn_forward(critic ? a->critic : a->actor, x, n, train, y_p);
}

static sl_status_t bufs(rl_agent_t *a, int n)
{
    if (n <= a->buf_cap)
        return SL_OK;
    free(a->pi_buf);
    free(a->v_buf);
    free(a->dy_buf);
    a->pi_buf = malloc((size_t)n * (size_t)a->k * sizeof(float));
    a->v_buf = malloc((size_t)n * sizeof(float));
    a->dy_buf = malloc((size_t)n * (size_t)(a->k + 1) * sizeof(float));
    if (!a->pi_buf || !a->v_buf || !a->dy_buf) {
        a->buf_cap = 0;
        return sl_error(SL_ERR_NOMEM, "out of memory for a batch of %d", n);
    }
    a->buf_cap = n;
    return SL_OK;
}

sl_status_t rl_agent_forward(rl_agent_t *a, const float *obs, int n, int train, const float **pi_p,
                             const float **v_p)
{
    if (!a->shared) {
        if (pi_p)
            SL_TRY(rl_net_forward(a, 0, obs, n, train, pi_p));
        if (v_p)
            SL_TRY(rl_net_forward(a, 1, obs, n, train, v_p));
        return SL_OK;
    }
    const float *y;
    int k = a->k;
    SL_TRY(bufs(a, n));
    SL_TRY(rl_net_forward(a, 0, obs, n, train, &y));
    for (int i = 0; i < n; i++) {
        memcpy(a->pi_buf + (size_t)i * k, y + (size_t)i * (k + 1), (size_t)k * sizeof(float));
        a->v_buf[i] = y[(size_t)i * (k + 1) + k];
    }
    if (pi_p)
        *pi_p = a->pi_buf;
    if (v_p)
        *v_p = a->v_buf;
    return SL_OK;
}

sl_status_t rl_agent_backward(rl_agent_t *a, const float *d_pi, const float *d_v, int n)
{
    if (!a->shared) {
        SL_TRY(rl_net_backward(a, 0, d_pi));
        return rl_net_backward(a, 1, d_v);
    }
    int k = a->k;
    SL_TRY(bufs(a, n));
    for (int i = 0; i < n; i++) {
        memcpy(a->dy_buf + (size_t)i * (k + 1), d_pi + (size_t)i * k, (size_t)k * sizeof(float));
        a->dy_buf[(size_t)i * (k + 1) + k] = d_v[i];
    }
    return rl_net_backward(a, 0, a->dy_buf);
}

void rl_agent_zero_grad(rl_agent_t *a)
{
    sl_nn_zero_grad(a->actor);
    if (a->critic)
        sl_nn_zero_grad(a->critic);
}

sl_status_t rl_net_backward(rl_agent_t *a, int critic, const float *dy)
{
    if (a->fast) {
        rl_mlp_backward(critic ? &a->fc : &a->fa, dy);
        return SL_OK;
    }
    return sl_nn_backward(critic ? a->critic : a->actor, dy, NULL);
}

void rl_agent_fini(rl_agent_t *a)
{
    rl_mlp_fini(&a->fa);
    rl_mlp_fini(&a->fc);
    free(a->packed);
    free(a->pi_buf);
    free(a->v_buf);
    free(a->dy_buf);
    a->packed = a->pi_buf = a->v_buf = a->dy_buf = NULL;
    a->buf_cap = 0;
    sl_nn_optim_destroy(&a->aopt);
    sl_nn_optim_destroy(&a->copt);
    sl_nn_destroy(&a->actor);
    sl_nn_destroy(&a->critic);
    free(a->logstd);
    free(a->ls_grad);
    free(a->ls_m);
    free(a->ls_v);
    a->logstd = a->ls_grad = NULL;
    a->ls_m = a->ls_v = NULL;
}

void rl_agent_set_lr(rl_agent_t *a, double lr)
{
    a->lr = lr;
    sl_nn_optim_set_lr(a->aopt, lr);
    if (a->copt)
        sl_nn_optim_set_lr(a->copt, lr);
}

/* One global norm over both networks and the log-std, as
 * torch.nn.utils.clip_grad_norm_ over all parameters: train clips each
 * network to its share n_i * max / total, which scales every gradient by
 * the same max / total. */
sl_status_t rl_agent_clip(rl_agent_t *a, double max_norm, double *norm_p)
{
    double na, nc, nl = 0;
    if (a->fast) {
        na = sqrt(rl_sumsq(sl_nn_grads(a->actor), sl_nn_num_params(a->actor)));
        nc = a->critic ? sqrt(rl_sumsq(sl_nn_grads(a->critic), sl_nn_num_params(a->critic))) : 0;
    } else {
        na = sl_nn_grad_norm(a->actor);
        nc = a->critic ? sl_nn_grad_norm(a->critic) : 0;
    }
    if (a->continuous)
        for (int j = 0; j < a->k; j++)
            nl += (double)a->ls_grad[j] * a->ls_grad[j];
    double total = sqrt(na * na + nc * nc + nl);
    if (norm_p)
        *norm_p = total;
    if (!isfinite(total))
        return SL_ERR_NUMERIC;
    if (max_norm > 0 && total > max_norm) {
        double coef = max_norm / (total + 1e-6);
        if (a->fast) {
            rl_scale(sl_nn_grads(a->actor), sl_nn_num_params(a->actor), (float)coef);
            if (a->critic)
                rl_scale(sl_nn_grads(a->critic), sl_nn_num_params(a->critic), (float)coef);
        } else if (na > 0)
            SL_TRY(sl_nn_clip_grad_norm(a->actor, na * coef, NULL));
        if (!a->fast && nc > 0)
            SL_TRY(sl_nn_clip_grad_norm(a->critic, nc * coef, NULL));
        for (int j = 0; a->continuous && j < a->k; j++)
            a->ls_grad[j] = (float)(a->ls_grad[j] * coef);
    }
    return SL_OK;
}

sl_status_t rl_agent_step(rl_agent_t *a)
{
    SL_TRY(sl_nn_optim_step(a->aopt));
    if (a->copt)
        SL_TRY(sl_nn_optim_step(a->copt));
    if (a->continuous) {
        a->ls_steps++;
        double bc1 = 1 - pow(a->beta1, (double)a->ls_steps), bc2 = 1 - pow(a->beta2, (double)a->ls_steps);
        for (int j = 0; j < a->k; j++) {
            double g = a->ls_grad[j];
            a->ls_m[j] = a->beta1 * a->ls_m[j] + (1 - a->beta1) * g;
            a->ls_v[j] = a->beta2 * a->ls_v[j] + (1 - a->beta2) * g * g;
            a->logstd[j] =
                (float)(a->logstd[j] - a->lr * (a->ls_m[j] / bc1) / (sqrt(a->ls_v[j] / bc2) + a->eps));
        }
    }
    return SL_OK;
}

sl_status_t rl_agent_save(rl_agent_t *a, sl_h5_t *h)
{
    uint64_t d[1] = {(uint64_t)a->k};
    SL_TRY(sl_nn_save(a->actor, a->aopt, h, "agent/actor/"));
    if (a->critic)
        SL_TRY(sl_nn_save(a->critic, a->copt, h, "agent/critic/"));
    SL_TRY(sl_h5_write(h, "agent/logstd", SL_F32, 1, d, a->logstd));
    SL_TRY(sl_h5_write(h, "agent/logstd_adam_m", SL_F64, 1, d, a->ls_m));
    SL_TRY(sl_h5_write(h, "agent/logstd_adam_v", SL_F64, 1, d, a->ls_v));
    SL_TRY(sl_h5_set_attr_i64(h, "agent/logstd", "adam_steps", a->ls_steps));
    SL_TRY(sl_h5_set_attr_str(h, "agent", "actor_spec", a->actor_spec));
    SL_TRY(sl_h5_set_attr_str(h, "agent", "critic_spec", a->critic_spec));
    SL_TRY(sl_h5_set_attr_i64(h, "agent", "shared", a->shared));
    return SL_OK;
}

sl_status_t rl_agent_load(rl_agent_t *a, sl_h5_t *h)
{
    uint64_t d[1] = {(uint64_t)a->k};
    SL_TRY(sl_nn_load(a->actor, a->aopt, h, "agent/actor/"));
    if (a->critic)
        SL_TRY(sl_nn_load(a->critic, a->copt, h, "agent/critic/"));
    SL_TRY(sl_h5_read(h, "agent/logstd", SL_F32, 1, d, a->logstd));
    SL_TRY(sl_h5_read(h, "agent/logstd_adam_m", SL_F64, 1, d, a->ls_m));
    SL_TRY(sl_h5_read(h, "agent/logstd_adam_v", SL_F64, 1, d, a->ls_v));
    SL_TRY(sl_h5_get_attr_i64(h, "agent/logstd", "adam_steps", &a->ls_steps));
    return SL_OK;
}

sl_status_t rl_agent_act(rl_agent_t *a, const float *obs, int n, gsl_rng *rng, int greedy, float *act,
                         float *logp)
{
    const float *y;
    SL_TRY(rl_agent_forward(a, obs, n, 0, &y, NULL));
    int k = a->k;
    for (int i = 0; i < n; i++) {
        const float *yi = y + (size_t)i * k;
        if (!a->continuous) {
            double m = yi[0], z = 0;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (yi[j] > m) {
                    m = yi[j];
                    best = j;
                }
            double p[64];
            for (int j = 0; j < k; j++)
                z += (p[j] = exp(yi[j] - m));
            int c = best;
            if (!greedy) {
                double u = gsl_rng_uniform(rng) * z, s = 0;
                for (c = 0; c < k - 1; c++) {
                    s += p[c];
                    if (u < s)
                        break;
                }
            }
            act[i] = (float)c;
            if (logp)
                logp[i] = (float)(yi[c] - m - log(z));
        } else {
            for (int j = 0; j < k; j++)
                act[(size_t)i * k + j] =
                    greedy ? yi[j]
                           : (float)(yi[j] + exp((double)a->logstd[j]) * gsl_ran_gaussian_ziggurat(rng, 1.0));
            if (logp)
                logp[i] = (float)sl_rl_logprob(k, yi, a->logstd, act + (size_t)i * k, NULL);
        }
    }
    return SL_OK;
}

void rl_env_action(const sl_rl_env_t *env, const float *act, int n, float *env_act)
{
    int k = env->act_dim > 0 ? env->act_dim : 1;
    for (int i = 0; i < n * k; i++) {
        float v = act[i];
        if (env->act_dim > 0)
            v = v < env->act_low ? (float)env->act_low : v > env->act_high ? (float)env->act_high : v;
        env_act[i] = v;
    }
}
