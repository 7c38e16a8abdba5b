/* SPDX-License-Identifier: BSD-3-Clause */
/* Optimisers (SGD with momentum, Nesterov and weight decay; Adam; AdamW)
 * with PyTorch's update rules, gradient clipping by global norm, and LR
 * schedules. The state lives on the host in the arena's layout. */
#include "config.h"
#include "train_impl.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
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

sl_status_t sl_nn_optim_step(sl_nn_optim_t *opt)
{
    sl_nn_t *nn = opt->nn;
    SL_TRY(sl_nn_grads_sync(nn));
    float *restrict p = nn->params, *restrict g = nn->grads, *restrict m = opt->m, *restrict v = opt->v;
    size_t n = nn->nparams;
    const sl_nn_optim_opts_t *o = &opt->o;
    float lr = (float)o->lr, wd = (float)o->weight_decay;
    opt->t++;
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
        if (o->kind == SL_NN_ADAMW && wd != 0.f) {
            float f = 1.f - lr * wd;
            for (size_t i = 0; i < n; i++)
                p[i] *= f;
        }
        size_t i = 0;
#ifdef __SSE2__
        /* sqrtf keeps errno semantics that stop the compiler vectorising the
         * loop; SSE does the same IEEE operations four at a time. */
        const __m128 vb1 = _mm_set1_ps(b1), vb1c = _mm_set1_ps(1.f - b1), vb2 = _mm_set1_ps(b2),
                     vb2c = _mm_set1_ps(1.f - b2), vstep = _mm_set1_ps(step), vr = _mm_set1_ps(rbc2),
                     veps = _mm_set1_ps(eps), vl2 = _mm_set1_ps(l2);
        for (; i + 4 <= n; i += 4) {
            __m128 d = _mm_add_ps(_mm_loadu_ps(g + i), _mm_mul_ps(vl2, _mm_loadu_ps(p + i)));
            __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vb1c, d));
            __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(vb2c, d), d));
            __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vr), veps);
            _mm_storeu_ps(m + i, mi);
            _mm_storeu_ps(v + i, vi);
            _mm_storeu_ps(p + i, _mm_sub_ps(_mm_loadu_ps(p + i), _mm_div_ps(_mm_mul_ps(vstep, mi), den)));
        }
#endif
        for (; i < n; i++) {
            float d = g[i] + l2 * p[i];
            m[i] = b1 * m[i] + (1.f - b1) * d;
            v[i] = b2 * v[i] + (1.f - b2) * d * d;
            p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
    }
    return sl_nn_params_changed(nn);
}

double sl_nn_grad_norm(sl_nn_t *nn)
{
    sl_nn_grads_sync(nn);
    double s = 0;
    for (size_t i = 0; i < nn->nparams; i++)
        s += (double)nn->grads[i] * nn->grads[i];
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
        float c = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < nn->nparams; i++)
            nn->grads[i] *= c;
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
