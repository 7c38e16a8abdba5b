/* SPDX-License-Identifier: BSD-3-Clause */
/* Searchers: grid (mixed-radix enumeration, each point once), random (one
 * seeded GSL stream) and TPE after Optuna's univariate sampler: random
 * startup trials, a good/bad split by gamma(n) = min(ceil(0.1 n), 25),
 * Parzen estimators with a prior and magic clipping (a choice's as Optuna's,
 * each observation smoothed by the prior; observations weighed by Optuna's
 * default_weights; consider_endpoints off), and the best of 24
 * candidates by l(x)/g(x). Running trials without a value count as bad (the
 * constant liar), so parallel suggestions differ. Same seed and history:
 * same suggestions. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void grid_point(const sl_tune_space_t *s, int64_t idx, double *x)
{
    for (int i = s->n - 1; i >= 0; i--) {
        int64_t k = s->p[i].nvalues;
        x[i] = (double)(idx % k);
        idx /= k;
    }
}

typedef struct {
    double *mu, *sigma, *w;
    int n;
    double lo, hi;
} parzen_t;

/* Optuna's default_weights: the newest 25 observations weigh 1, older
 * ones less and less (a ramp from 1/n up to 1); j counts from the oldest. */
static double ramp_weight(int64_t j, int64_t n)
{
    if (n < 25 || j >= n - 25)
        return 1.0;
    int64_t r = n - 25;
    return r == 1 ? 1.0 / (double)n : 1.0 / (double)n + (double)j * (1.0 - 1.0 / (double)n) / (double)(r - 1);
}

static int cmp_idx(const void *a, const void *b, void *arg)
{
    const double *mu = arg;
    int x = *(const int *)a, y = *(const int *)b;
    return mu[x] < mu[y] ? -1 : mu[x] > mu[y] ? 1 : x < y ? -1 : x > y;
}

/* Build a Parzen estimator over obs (transformed, oldest first), with the
 * prior: Optuna's univariate one. The kernels sit at the observations and
 * the middle; each one's width is the wider of the gaps to its neighbours,
 * the outermost ones take their inner neighbour's (consider_endpoints off),
 * the prior's is the range; widths clipped to [range / min(100, 1 + kernels),
 * range]. The prior weighs 1, the observations as ramp_weight. */
static int parzen_build(parzen_t *pz, const double *obs, int n, double lo, double hi)
{
    int m = n + 1;
    double *x = malloc((size_t)m * sizeof(double));
    int *ord = malloc((size_t)m * sizeof(int));
    pz->mu = malloc((size_t)m * sizeof(double));
    pz->sigma = malloc((size_t)m * sizeof(double));
    pz->w = malloc((size_t)m * sizeof(double));
    if (!x || !ord || !pz->mu || !pz->sigma || !pz->w) {
        free(x);
        free(ord);
        return -1;
    }
    pz->n = m;
    pz->lo = lo;
    pz->hi = hi;
    memcpy(x, obs, (size_t)n * sizeof(double));
    x[n] = 0.5 * (lo + hi);
    for (int i = 0; i < m; i++)
        ord[i] = i;
    qsort_r(ord, (size_t)m, sizeof(int), cmp_idx, x);
    double range = hi - lo, minsig = range / fmin(100.0, 1.0 + m), wsum = 0;
    for (int i = 0; i < m; i++) {
        double mu = x[ord[i]], left = mu - (i ? x[ord[i - 1]] : lo),
               right = (i + 1 < m ? x[ord[i + 1]] : hi) - mu;
        double s = m < 2 ? fmax(left, right) : i == 0 ? right : i == m - 1 ? left : fmax(left, right);
        if (ord[i] == n)
            s = range;
        pz->mu[i] = mu;
        pz->sigma[i] = fmin(fmax(s, minsig), range);
        pz->w[i] = ord[i] == n ? 1.0 : ramp_weight(ord[i], n);
        wsum += pz->w[i];
    }
    for (int i = 0; i < m; i++)
        pz->w[i] /= wsum;
    free(x);
    free(ord);
    return 0;
}

static void parzen_free(parzen_t *pz)
{
    free(pz->mu);
    free(pz->sigma);
    free(pz->w);
}

static double parzen_sample(const parzen_t *pz, gsl_rng *r)
{
    double u = gsl_rng_uniform(r), acc = 0;
    int k = pz->n - 1;
    for (int i = 0; i < pz->n; i++) {
        acc += pz->w[i];
        if (u < acc) {
            k = i;
            break;
        }
    }
    for (int t = 0; t < 100; t++) {
        double x = pz->mu[k] + gsl_ran_gaussian(r, pz->sigma[k]);
        if (x >= pz->lo && x <= pz->hi)
            return x;
    }
    return fmin(fmax(pz->mu[k], pz->lo), pz->hi);
}

static double ncdf(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

static double parzen_logpdf(const parzen_t *pz, double x)
{
    double s = 0;
    for (int i = 0; i < pz->n; i++) {
        double sg = pz->sigma[i], z = (x - pz->mu[i]) / sg;
        double mass = ncdf((pz->hi - pz->mu[i]) / sg) - ncdf((pz->lo - pz->mu[i]) / sg);
        if (mass < 1e-12)
            mass = 1e-12;
        s += pz->w[i] * exp(-0.5 * z * z) / (sg * sqrt(2 * M_PI) * mass);
    }
    return log(s + 1e-300);
}

static void bounds(const sl_tune_param_t *p, double *lo, double *hi)
{
    double half = p->kind == SL_TUNE_RANDINT ? 0.5 * (p->q > 0 ? p->q : 1) : 0.5 * p->q;
    if (p->kind == SL_TUNE_LOGUNIFORM) {
        *lo = log(p->lo);
        *hi = log(p->hi);
    } else {
        *lo = p->lo - half;
        *hi = p->hi + half;
    }
}

static double fwd(const sl_tune_param_t *p, double v)
{
    return p->kind == SL_TUNE_LOGUNIFORM ? log(v) : v;
}
static double bwd(const sl_tune_param_t *p, double v)
{
    return p->kind == SL_TUNE_LOGUNIFORM ? exp(v) : v;
}

/* Optuna's categorical Parzen estimator over n observations, from their
 * weighted counts w[c] (ramp_weight; wsum in all): each observation's kernel
 * puts prior_weight / (n + 1) on every choice and 1 more on its own,
 * normalised; the prior's kernel, weighing 1, is uniform. w[c] becomes
 * wsum + 1 times the chance of c. A choice no observation holds keeps about
 * one count, not 1/k: a choice seen only among the good ones is not taken
 * for ever. */
static void cat_weights(double *w, int k, int64_t n, double wsum)
{
    double v = 1.0 / ((double)n + 1.0);
    for (int c = 0; c < k; c++)
        w[c] = (w[c] + wsum * v) / (1.0 + k * v) + 1.0 / k;
}

typedef struct {
    int64_t id;
    double v;
} obs_t;

static int cmp_obs(const void *a, const void *b, void *arg)
{
    const obs_t *x = a, *y = b;
    const sl_tune_exp_t *cmp_e = arg;
    if (sl_tune__better(cmp_e, x->v, y->v))
        return -1;
    if (sl_tune__better(cmp_e, y->v, x->v))
        return 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static sl_status_t tpe(sl_tune_exp_t *e, int64_t id, double *x)
{
    int64_t n = 0, nliar = 0;
    obs_t *o = malloc((size_t)(e->n + 1) * sizeof *o);
    int64_t *liar = malloc((size_t)(e->n + 1) * sizeof *liar);
    int64_t *gid = malloc((size_t)(e->n + 1) * sizeof *gid), *bid = malloc((size_t)(e->n + 1) * sizeof *bid);
    double *good = malloc((size_t)(e->n + 1) * sizeof(double)),
           *bad = malloc((size_t)(e->n + 1) * sizeof(double));
    sl_status_t st = SL_OK;
    if (!o || !liar || !gid || !bid || !good || !bad) {
        st = SL_ERR_NOMEM;
        goto out;
    }
    for (int64_t i = 0; i < e->n; i++) {
        const sl_tune_trial_t *t = &e->t[i];
        if (t->id == id)
            continue; /* the trial being suggested: pending, but it has no parameters yet */
        if (!isnan(t->best))
            o[n++] = (obs_t){t->id, t->best};
        else if (t->status == SL_TUNE_RUNNING || t->status == SL_TUNE_PENDING)
            liar[nliar++] = t->id;
    }
    if (n < e->conf.tpe_startup) {
        for (int i = 0; i < e->space.n; i++)
            x[i] = sl_tune__sample(&e->space.p[i], e->srng);
        goto out;
    }
    qsort_r(o, (size_t)n, sizeof *o, cmp_obs, e);
    int64_t ngood = (int64_t)ceil(0.1 * (double)n);
    if (ngood > 25)
        ngood = 25;
    if (ngood < 1)
        ngood = 1;
    /* each side oldest first (trial order, the liars among them), as
     * ramp_weight wants */
    int64_t ng = 0, nb = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j < ngood)
            gid[ng++] = o[j].id;
        else
            bid[nb++] = o[j].id;
    }
    for (int64_t j = 0; j < nliar; j++)
        bid[nb++] = liar[j];
    qsort(gid, (size_t)ng, sizeof *gid, cmp_id);
    qsort(bid, (size_t)nb, sizeof *bid, cmp_id);
    for (int i = 0; i < e->space.n; i++) {
        const sl_tune_param_t *p = &e->space.p[i];
        for (int64_t j = 0; j < ng; j++)
            good[j] = e->t[gid[j]].params[i];
        for (int64_t j = 0; j < nb; j++)
            bad[j] = e->t[bid[j]].params[i];
        double bestx = 0, bests = -INFINITY;
        if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID) {
            int k = p->nvalues;
            double *wl = calloc((size_t)k, sizeof(double)), *wg = calloc((size_t)k, sizeof(double));
            if (!wl || !wg) {
                free(wl);
                free(wg);
                st = SL_ERR_NOMEM;
                goto out;
            }
            double sumg = 0, sumb = 0;
            for (int64_t j = 0; j < ng; j++) {
                wl[(int)good[j]] += ramp_weight(j, ng);
                sumg += ramp_weight(j, ng);
            }
            for (int64_t j = 0; j < nb; j++) {
                wg[(int)bad[j]] += ramp_weight(j, nb);
                sumb += ramp_weight(j, nb);
            }
            cat_weights(wl, k, ng, sumg);
            cat_weights(wg, k, nb, sumb);
            double sl = 0, sg = 0;
            for (int c = 0; c < k; c++) {
                sl += wl[c];
                sg += wg[c];
            }
            for (int c = 0; c < e->conf.tpe_candidates; c++) {
                double u = gsl_rng_uniform(e->srng) * sl, acc = 0;
                int pick = k - 1;
                for (int q = 0; q < k; q++) {
                    acc += wl[q];
                    if (u < acc) {
                        pick = q;
                        break;
                    }
                }
                double sc = log(wl[pick] / sl) - log(wg[pick] / sg);
                if (sc > bests) {
                    bests = sc;
                    bestx = pick;
                }
            }
            free(wl);
            free(wg);
        } else {
            double lo, hi;
            bounds(p, &lo, &hi);
            for (int64_t j = 0; j < ng; j++)
                good[j] = fwd(p, good[j]);
            for (int64_t j = 0; j < nb; j++)
                bad[j] = fwd(p, bad[j]);
            parzen_t l = {0}, g = {0};
            if (parzen_build(&l, good, (int)ng, lo, hi) || parzen_build(&g, bad, (int)nb, lo, hi)) {
                parzen_free(&l);
                parzen_free(&g);
                st = SL_ERR_NOMEM;
                goto out;
            }
            for (int c = 0; c < e->conf.tpe_candidates; c++) {
                double cand = parzen_sample(&l, e->srng);
                double fixed = sl_tune__fix(p, bwd(p, cand));
                double sc = parzen_logpdf(&l, fwd(p, fixed)) - parzen_logpdf(&g, fwd(p, fixed));
                if (sc > bests) {
                    bests = sc;
                    bestx = fixed;
                }
            }
            parzen_free(&l);
            parzen_free(&g);
        }
        x[i] = bestx;
    }
out:
    free(o);
    free(liar);
    free(gid);
    free(bid);
    free(good);
    free(bad);
    return st;
}

sl_status_t sl_tune__suggest(sl_tune_exp_t *e, int64_t id, double *x)
{
    switch (e->conf.searcher) {
    case SL_TUNE_SEARCH_GRID: grid_point(&e->space, id, x); return SL_OK;
    case SL_TUNE_SEARCH_RANDOM:
        for (int i = 0; i < e->space.n; i++)
            x[i] = sl_tune__sample(&e->space.p[i], e->srng);
        return SL_OK;
    case SL_TUNE_SEARCH_TPE: return tpe(e, id, x);
    }
    return SL_ERR_INTERNAL;
}
