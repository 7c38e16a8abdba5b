/* SPDX-License-Identifier: BSD-3-Clause */
/* N environments of one kind stepped together with automatic reset, like
 * gymnasium's vector envs in "next-step" mode's simpler cousin: a finished
 * episode is reset in the same step, its last observation kept in
 * final_obs (for bootstrapping truncated episodes), and truncation (the
 * time limit) reported apart from termination. */
#include "config.h"
#include "rl.h"

#include <stdlib.h>
#include <string.h>

sl_status_t sl_rl_vecenv_create(const sl_rl_env_t *env, int n, uint64_t seed, int rank, sl_rl_vecenv_t **v_p)
{
    SL_TRY(sl_rl_env_check(env));
    if (n <= 0)
        return sl_error(SL_ERR_INVALID, "need at least one environment, not %d", n);
    sl_rl_vecenv_t *v = calloc(1, sizeof *v);
    if (!v)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    v->env = env;
    v->n = n;
    v->states = calloc((size_t)n, env->state_size);
    v->ep_len = calloc((size_t)n, sizeof *v->ep_len);
    v->ep_ret = calloc((size_t)n, sizeof *v->ep_ret);
    v->obs = calloc((size_t)n * (size_t)env->obs_dim, sizeof *v->obs);
    sl_status_t st =
        v->states && v->ep_len && v->ep_ret && v->obs ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK)
        st = sl_rng_create(seed, rank, "rl/env", &v->rng);
    if (st != SL_OK) {
        sl_rl_vecenv_destroy(&v);
        return st;
    }
    for (int i = 0; i < n; i++) {
        void *s = v->states + (size_t)i * env->state_size;
        env->reset(s, v->rng);
        env->observe(s, v->obs + (size_t)i * env->obs_dim);
    }
    *v_p = v;
    return SL_OK;
}

void sl_rl_vecenv_destroy(sl_rl_vecenv_t **vp)
{
    if (!vp || !*vp)
        return;
    sl_rl_vecenv_t *v = *vp;
    free(v->states);
    free(v->ep_len);
    free(v->ep_ret);
    free(v->obs);
    sl_rng_destroy(&v->rng);
    free(v);
    *vp = NULL;
}

sl_status_t sl_rl_stepout_init(sl_rl_stepout_t *o, const sl_rl_env_t *env, int n)
{
    memset(o, 0, sizeof *o);
    o->reward = calloc((size_t)n, sizeof *o->reward);
    o->terminated = calloc((size_t)n, 1);
    o->truncated = calloc((size_t)n, 1);
    o->final_obs = calloc((size_t)n * (size_t)env->obs_dim, sizeof(float));
    o->done_return = calloc((size_t)n, sizeof(double));
    o->done_len = calloc((size_t)n, sizeof(int));
    if (!o->reward || !o->terminated || !o->truncated || !o->final_obs || !o->done_return || !o->done_len) {
        sl_rl_stepout_fini(o);
        return sl_error(SL_ERR_NOMEM, "out of memory");
    }
    return SL_OK;
}

void sl_rl_stepout_fini(sl_rl_stepout_t *o)
{
    free(o->reward);
    free(o->terminated);
    free(o->truncated);
    free(o->final_obs);
    free(o->done_return);
    free(o->done_len);
    memset(o, 0, sizeof *o);
}

void sl_rl_vecenv_step(sl_rl_vecenv_t *v, const float *actions, sl_rl_stepout_t *out)
{
    const sl_rl_env_t *e = v->env;
    int ad = e->act_dim > 0 ? e->act_dim : 1, od = e->obs_dim;
    if (v->delay_us > 0) {
        /* A straggler computes slowly: spin (a sleep would round short
         * delays up to the timer slack). */
        double until = sl_now() + 1e-6 * (double)v->delay_us;
        while (sl_now() < until)
            ;
    }
    out->n_done = 0;
    for (int i = 0; i < v->n; i++) {
        void *s = v->states + (size_t)i * e->state_size;
        double r = 0;
        int term = 0;
        e->step(s, actions + (size_t)i * ad, &r, &term);
        v->ep_len[i]++;
        v->ep_ret[i] += r;
        int trunc = !term && v->ep_len[i] >= e->max_steps;
        out->reward[i] = (float)r;
        out->terminated[i] = (uint8_t)term;
        out->truncated[i] = (uint8_t)trunc;
        float *o = v->obs + (size_t)i * od;
        e->observe(s, o);
        memcpy(out->final_obs + (size_t)i * od, o, (size_t)od * sizeof(float));
        if (term || trunc) {
            out->done_return[out->n_done] = v->ep_ret[i];
            out->done_len[out->n_done] = v->ep_len[i];
            out->n_done++;
            v->ep_len[i] = 0;
            v->ep_ret[i] = 0;
            e->reset(s, v->rng);
            e->observe(s, o);
        }
    }
}
