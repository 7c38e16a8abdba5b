/* SPDX-License-Identifier: BSD-3-Clause */
/* Optimisers (SGD with momentum, Nesterov and weight decay; Adam; AdamW)
 * with PyTorch's update rules, gradient clipping by global norm, and LR
 * schedules. The state lives on the host in the arena's layout. */
#include "config.h"
#include "train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sl_nn_optim_opts_default(sl_nn_optim_opts_t *o, sl_nn_optim_kind_t kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = kind == SL_NN_ADAMW ? 0.01 : 0.0;
}

sl_status_t sl_nn_optim_parse(const char *s, sl_nn_optim_kind_t *kind_p)
{
    if (!strcmp(s, "sgd"))
        *kind_p = SL_NN_SGD;
    else if (!strcmp(s, "adam"))
        *kind_p = SL_NN_ADAM;
    else if (!strcmp(s, "adamw"))
        *kind_p = SL_NN_ADAMW;
    else
        return SL_ERR_USAGE;
    return SL_OK;
}

sl_status_t sl_nn_optim_create(sl_nn_t *nn, const sl_nn_optim_opts_t *o, sl_nn_optim_t **opt_p)
{
    if (!(o->lr >= 0) || !(o->momentum >= 0) || !(o->weight_decay >= 0) || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps >= 0))
        return sl_error(SL_ERR_INVALID, "optimiser: hyperparameter out of range");
    sl_nn_optim_t *opt = calloc(1, sizeof *opt);
    if (!opt)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    opt->nn = nn;
    opt->o = *o;
    sl_status_t st = sl_nn_host_alloc(&opt->m, nn->nparams);
    if (st == SL_OK)
        st = sl_nn_host_alloc(&opt->v, nn->nparams);
    if (st != SL_OK) {
        sl_nn_optim_destroy(&opt);
        return st;
    }
    *opt_p = opt;
    return SL_OK;
}

void sl_nn_optim_destroy(sl_nn_optim_t **opt)
{
    if (!opt || !*opt)
        return;
    free((*opt)->m);
    free((*opt)->v);
    free(*opt);
    *opt = NULL;
}

void sl_nn_optim_set_lr(sl_nn_optim_t *opt, double lr)
{
    opt->o.lr = lr;
}
double sl_nn_optim_lr(const sl_nn_optim_t *opt)
{
    return opt->o.lr;
}
int64_t sl_nn_optim_steps(const sl_nn_optim_t *opt)
{
    return opt->t;
}

void sl_nn_optim_apply(sl_nn_optim_t *opt, const float *grads, size_t lo, size_t hi)
{
    sl_nn_t *nn = opt->nn;
    float *restrict p = nn->params + lo, *restrict m = opt->m + lo, *restrict v = opt->v + lo;
    const float *restrict g = grads;
    size_t n = hi - lo;
    const sl_nn_optim_opts_t *o = &opt->o;
    float lr = (float)o->lr, wd = (float)o->weight_decay;
    if (o->kind == SL_NN_SGD) {
        float mom = (float)o->momentum;
        for (size_t i = 0; i < n; i++) {
            float d = g[i];
            if (wd != 0.f)
                d += wd * p[i];
            if (mom != 0.f) {
                m[i] = opt->t == 1 ? d : mom * m[i] + d;
                d = o->nesterov ? d + mom * m[i] : m[i];
            }
            p[i] -= lr * d;
        }
    } else {
        float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
        double bc1 = 1.0 - pow(o->beta1, (double)opt->t), bc2 = 1.0 - pow(o->beta2, (double)opt->t);
        float step = (float)(o->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
        float l2 = o->kind == SL_NN_ADAMW ? 0.f : wd; /* Adam: L2 in the gradient, not stored */
        if (o->kind == SL_NN_ADAMW && wd != 0.f)
            sl_nn_vec_scale(p, n, 1.f - lr * wd);
        sl_nn_adam_coef_t c = {b1, b2, step, rbc2, eps, l2};
        sl_nn_vec_adam(p, g, m, v, n, &c);
    }
}

sl_status_t sl_nn_optim_step(sl_nn_optim_t *opt)
{
    sl_nn_t *nn = opt->nn;
    SL_TRY(sl_nn_grads_sync(nn));
    opt->t++;
    sl_nn_optim_apply(opt, nn->grads, 0, nn->nparams);
    return sl_nn_params_changed(nn);
}

void sl_nn_norm2_blocks(const float *g, size_t n, size_t b0, size_t b1, double *out)
{
    for (size_t b = b0; b < b1; b++) {
        size_t lo = b * SL_NN_NORM_BLOCK, hi = lo + SL_NN_NORM_BLOCK < n ? lo + SL_NN_NORM_BLOCK : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++)
            s += (double)g[i] * g[i];
        out[b - b0] = s;
    }
}

double sl_nn_grad_norm(sl_nn_t *nn)
{
    sl_nn_grads_sync(nn);
    /* block by block, as the single-node step does over its ranks' slices,
     * so that both give the same norm bit for bit */
    double s = 0, blk[64];
    size_t nb = (nn->nparams + SL_NN_NORM_BLOCK - 1) / SL_NN_NORM_BLOCK;
    for (size_t b = 0; b < nb; b += 64) {
        size_t k = nb - b < 64 ? nb - b : 64;
        sl_nn_norm2_blocks(nn->grads, nn->nparams, b, b + k, blk);
        for (size_t j = 0; j < k; j++)
            s += blk[j];
    }
    return sqrt(s);
}

sl_status_t sl_nn_clip_grad_norm(sl_nn_t *nn, double max_norm, double *norm_p)
{
    double norm = sl_nn_grad_norm(nn);
    if (norm_p)
        *norm_p = norm;
    if (!isfinite(norm))
        return SL_ERR_NUMERIC;
    if (max_norm > 0 && norm > max_norm) {
        float c = sl_nn_clip_factor(max_norm, norm);
        sl_nn_vec_scale(nn->grads, nn->nparams, c);
        if (nn->dev == SL_NN_CUDA)
            return nn->be->upload(nn->dgrads, nn->grads, nn->nparams);
    }
    return SL_OK;
}

sl_status_t sl_nn_sched_parse(const char *s, sl_nn_sched_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->gamma = 0.1;
    if (!s || !*s || !strcmp(s, "constant"))
        return SL_OK;
    char *e;
    if (!strncmp(s, "step:", 5)) {
        sc->kind = SL_NN_SCHED_STEP;
        long k = strtol(s + 5, &e, 10);
        if (e == s + 5 || k < 1)
            return SL_ERR_USAGE;
        sc->step_size = k;
        if (*e == ':') {
            const char *g = e + 1;
            sc->gamma = strtod(g, &e);
            if (e == g || !(sc->gamma > 0))
                return SL_ERR_USAGE;
        }
        return *e ? SL_ERR_USAGE : SL_OK;
    }
    const char *rest;
    if (!strncmp(s, "cosine", 6))
        sc->kind = SL_NN_SCHED_COSINE, rest = s + 6;
    else if (!strncmp(s, "linear", 6))
        sc->kind = SL_NN_SCHED_LINEAR, rest = s + 6;
    else
        return SL_ERR_USAGE;
    if (*rest == ':') {
        long w = strtol(rest + 1, &e, 10);
        if (e == rest + 1 || w < 0)
            return SL_ERR_USAGE;
        sc->warmup = w;
        rest = e;
        if (*rest == ':') {
            sc->min_lr = strtod(rest + 1, &e);
            if (e == rest + 1 || !(sc->min_lr >= 0))
                return SL_ERR_USAGE;
            rest = e;
        }
    }
    return *rest ? SL_ERR_USAGE : SL_OK;
}

double sl_nn_sched_lr(const sl_nn_sched_t *s, double lr, int64_t step, int64_t total)
{
    switch (s->kind) {
    case SL_NN_SCHED_STEP: return lr * pow(s->gamma, (double)(step / s->step_size));
    case SL_NN_SCHED_COSINE:
    case SL_NN_SCHED_LINEAR: {
        if (step < s->warmup)
            return lr * (double)(step + 1) / (double)s->warmup;
        double span = (double)(total - s->warmup);
        double t = span > 0 ? (double)(step - s->warmup) / span : 1.0;
        if (t > 1)
            t = 1;
        if (s->kind == SL_NN_SCHED_COSINE)
            return s->min_lr + (lr - s->min_lr) * 0.5 * (1 + cos(M_PI * t));
        return lr + (s->min_lr - lr) * t;
    }
    default: return lr;
    }
}
