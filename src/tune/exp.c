/* SPDX-License-Identifier: BSD-3-Clause */
/* The experiment: trial table, reports and the schedulers' decisions (FIFO,
 * ASHA promotion and stopping forms, HyperBand, median stopping, PBT). It is
 * pure logic: no MPI, no clock, no files, so the same calls give the same
 * table, and the runner and the tests drive it alike. Pending trials
 * (resumed, retried, promoted, exploited) always go before new ones. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *sl_tune_status_name(int st)
{
    static const char *n[] = {"pending", "running", "paused", "done", "pruned", "errored"};
    return st >= 0 && st < 6 ? n[st] : "?";
}

void sl_tune_conf_default(sl_tune_conf_t *c)
{
    memset(c, 0, sizeof *c);
    c->searcher = SL_TUNE_SEARCH_RANDOM;
    c->scheduler = SL_TUNE_FIFO;
    snprintf(c->metric, sizeof c->metric, "%s", "loss");
    c->min_t = 1;
    c->eta = 4;
    c->grace = 1;
    c->min_samples = 3;
    c->perturb = 1;
    c->quantile = 0.25;
    c->resample_p = 0.25;
    c->tpe_startup = 10;
    c->tpe_candidates = 24;
    c->seed = 1;
    c->target = NAN;
}

int sl_tune__by_step(const sl_tune_conf_t *c)
{
    return !c->time_attr[0] || !strcmp(c->time_attr, "step");
}

int sl_tune__time_attr_ok(sl_tune_scheduler_t s)
{
    return s == SL_TUNE_FIFO || s == SL_TUNE_ASHA_STOP || s == SL_TUNE_MEDIAN;
}

double sl_tune__rep_res(const sl_tune_exp_t *e, int64_t r)
{
    if (sl_tune__by_step(&e->conf))
        return (double)e->rep_step[r];
    return e->acol >= 0 ? e->rep_val[r * TUNE_MAXM + e->acol] : NAN;
}

int sl_tune__better(const sl_tune_exp_t *e, double a, double b)
{
    if (isnan(a))
        return 0;
    if (isnan(b))
        return 1;
    return e->conf.maximize ? a > b : a < b;
}

static void setup_rungs(sl_tune_exp_t *e)
{
    const sl_tune_conf_t *c = &e->conf;
    e->nrungs = 0;
    if (c->scheduler == SL_TUNE_ASHA || c->scheduler == SL_TUNE_ASHA_STOP) {
        /* each rung at least a step above the one before and below max_t:
         * rounded, rungs met (eta 1.5: 1.5 and 2.25 are both 2, 7.6 is
         * max_t 8), and a trial promoted to the step it stood on ran
         * nothing more and ended done there, never reaching --max-t */
        double r = (double)c->min_t;
        while (e->nrungs < TUNE_MAXRUNG - 1 && r < (double)c->max_t) {
            int64_t v = (int64_t)llround(r);
            if (e->nrungs && v <= e->rung_t[e->nrungs - 1])
                v = e->rung_t[e->nrungs - 1] + 1;
            if (v >= c->max_t)
                break;
            e->rung_t[e->nrungs++] = v;
            r *= c->eta;
        }
        e->rung_t[e->nrungs++] = c->max_t;
    }
    if (c->scheduler == SL_TUNE_HYPERBAND) {
        /* s_max = floor(log_eta(max_t / min_t)), with a little slack for rounding */
        e->smax = (int)floor(log((double)c->max_t / (double)c->min_t) / log(c->eta) + 1e-9);
        if (e->smax >= TUNE_MAXRUNG)
            e->smax = TUNE_MAXRUNG - 1;
    }
}

sl_status_t sl_tune_exp_create(const sl_tune_conf_t *conf, sl_tune_space_t *space, sl_tune_exp_t **e_p)
{
    sl_tune_exp_t *e = calloc(1, sizeof *e);
    if (!e)
        return SL_ERR_NOMEM;
    e->conf = *conf;
    e->space = *space;
    memset(space, 0, sizeof *space);
    e->mcol = e->acol = -1;
    e->lo_best = -1;
    if (!sl_tune__by_step(conf) && !sl_tune__time_attr_ok(conf->scheduler)) {
        sl_tune_exp_destroy(&e);
        return sl_error(SL_ERR_USAGE,
                        "--time-attr %s: only fifo (--max-t), asha-stop and median count another resource "
                        "than steps; asha, hyperband and pbt resume trials at steps",
                        conf->time_attr);
    }
    if ((conf->scheduler == SL_TUNE_ASHA || conf->scheduler == SL_TUNE_ASHA_STOP ||
         conf->scheduler == SL_TUNE_HYPERBAND) &&
        (conf->max_t <= 0 || conf->min_t <= 0 || conf->min_t > conf->max_t || !(conf->eta > 1))) {
        sl_tune_exp_destroy(&e);
        return sl_error(SL_ERR_USAGE,
                        "ASHA and HyperBand need 0 < min-t <= max-t and a reduction factor > 1");
    }
    setup_rungs(e);
    sl_status_t st = sl_rng_create(conf->seed, 0, "tune/searcher", &e->srng);
    if (st == SL_OK)
        st = sl_rng_create(conf->seed, 0, "tune/scheduler", &e->xrng);
    if (st != SL_OK) {
        sl_tune_exp_destroy(&e);
        return st;
    }
    *e_p = e;
    return SL_OK;
}

static void ri_free(sl_tune_exp_t *e);

void sl_tune_exp_destroy(sl_tune_exp_t **ep)
{
    if (!ep || !*ep)
        return;
    sl_tune_exp_t *e = *ep;
    for (int64_t i = 0; i < e->n; i++)
        free(e->t[i].params);
    free(e->t);
    free(e->rungval);
    free(e->lastpert);
    free(e->decision);
    free(e->past);
    free(e->rep_trial);
    free(e->rep_step);
    free(e->rep_val);
    free(e->rep_time);
    free(e->rep_par);
    free(e->settled);
    sl_tune__csv_free(e);
    ri_free(e);
    sl_rng_destroy(&e->srng);
    sl_rng_destroy(&e->xrng);
    sl_tune_space_fini(&e->space);
    free(e);
    *ep = NULL;
}

int64_t sl_tune__add_trial(sl_tune_exp_t *e)
{
    if (e->n == e->cap) {
        int64_t cap = e->cap ? 2 * e->cap : 64;
        sl_tune_trial_t *t = realloc(e->t, (size_t)cap * sizeof *t);
        if (t)
            e->t = t;
        double *rv = realloc(e->rungval, (size_t)cap * TUNE_MAXRUNG * sizeof *rv);
        if (rv)
            e->rungval = rv;
        int64_t *lp = realloc(e->lastpert, (size_t)cap * sizeof *lp);
        if (lp)
            e->lastpert = lp;
        int *d = realloc(e->decision, (size_t)cap * sizeof *d);
        if (d)
            e->decision = d;
        char *pa = realloc(e->past, (size_t)cap);
        if (pa)
            e->past = pa;
        if (!t || !rv || !lp || !d || !pa)
            return -1;
        e->cap = cap;
    }
    int64_t id = e->n;
    sl_tune_trial_t *t = &e->t[id];
    memset(t, 0, sizeof *t);
    t->params = calloc((size_t)(e->space.n ? e->space.n : 1), sizeof(double));
    if (!t->params)
        return -1;
    t->id = id;
    t->status = SL_TUNE_PENDING;
    t->target = -1;
    t->ckpt_step = -1;
    t->from_trial = -1;
    t->from_step = -1;
    t->last = t->best = t->res = NAN;
    t->best_step = -1;
    t->step = -1;
    t->group = -1;
    for (int k = 0; k < TUNE_MAXRUNG; k++)
        e->rungval[id * TUNE_MAXRUNG + k] = NAN;
    e->lastpert[id] = 0;
    e->decision[id] = SL_TUNE_CONTINUE;
    e->past[id] = 0;
    e->n++;
    return id;
}

/* Whether --budget's trial steps are all reported. */
static int spent_out(const sl_tune_exp_t *e)
{
    return e->conf.budget > 0 && e->spent >= e->conf.budget;
}

static int meets_target(const sl_tune_exp_t *e, double v)
{
    return !isnan(e->conf.target) && !isnan(v) &&
           (e->conf.maximize ? v >= e->conf.target : v <= e->conf.target);
}

void sl_tune__note_best(sl_tune_exp_t *e, double v)
{
    e->hit |= meets_target(e, v);
}

/* Whether the experiment has run its course before its trials did: the
 * budget is used or a trial reached --target. */
static int ended(const sl_tune_exp_t *e)
{
    return spent_out(e) || e->hit;
}

int64_t sl_tune_exp_target_report(const sl_tune_exp_t *e)
{
    int64_t b = -1;
    for (int64_t r = 0; e->mcol >= 0 && r < e->nrep; r++)
        if (meets_target(e, e->rep_val[r * TUNE_MAXM + e->mcol]) &&
            (b < 0 || e->rep_time[r] < e->rep_time[b]))
            b = r;
    return b;
}

static int64_t budget(const sl_tune_exp_t *e)
{
    double g = sl_tune_grid_size(&e->space);
    if (e->conf.searcher == SL_TUNE_SEARCH_GRID)
        return e->conf.trials > 0 && (double)e->conf.trials < g ? e->conf.trials : (int64_t)g;
    return e->conf.trials;
}

/* HyperBand: bracket b (counting repeats) has s = smax - b % (smax+1). */
static int hb_s(const sl_tune_exp_t *e, int b)
{
    return e->smax - b % (e->smax + 1);
}
static int64_t hb_n0(const sl_tune_exp_t *e, int s)
{
    return (int64_t)ceil((double)(e->smax + 1) / (s + 1) * pow(e->conf.eta, s) - 1e-9);
}
static int64_t hb_r(const sl_tune_exp_t *e, int s, int i)
{
    /* r_i = max_t * eta^(i - s), at least min_t, and (as ASHA's rungs) at
     * least a step above r_{i-1} up to max_t: rounded, two rungs met (eta
     * 1.5, max_t 8: 1.58 and 2.37 are both 2) and a trial promoted to the
     * step it stood on ran nothing more and ended done there */
    int64_t v = 0;
    for (int k = 0; k <= i; k++) {
        int64_t r = (int64_t)llround((double)e->conf.max_t * pow(e->conf.eta, k - s));
        v = r > v ? r : v + 1;
    }
    if (v > e->conf.max_t)
        v = e->conf.max_t;
    return v < 1 ? 1 : v;
}

static sl_status_t new_trial(sl_tune_exp_t *e, int64_t *id_p)
{
    int64_t id = sl_tune__add_trial(e);
    if (id < 0)
        return SL_ERR_NOMEM;
    SL_TRY(sl_tune__suggest(e, id, e->t[id].params));
    sl_tune_trial_t *t = &e->t[id];
    const sl_tune_conf_t *c = &e->conf;
    /* a trial runs to max_t steps; with a time attr, until a report passes it */
    t->target = c->max_t > 0 && sl_tune__by_step(c) ? c->max_t : -1;
    if (c->scheduler == SL_TUNE_ASHA)
        t->target = e->rung_t[0];
    if (c->scheduler == SL_TUNE_HYPERBAND) {
        int b = id ? e->t[id - 1].bracket : 0;
        int64_t members = 0;
        for (int64_t i = id - 1; i >= 0 && e->t[i].bracket == b; i--)
            members++;
        if (id && members >= hb_n0(e, hb_s(e, b)))
            b++;
        t->bracket = b;
        t->target = hb_r(e, hb_s(e, b), 0);
    }
    *id_p = id;
    return SL_OK;
}

/* Values recorded at rung k by trials (of bracket b, or any when b < 0),
 * sorted best first: ids into out, returns the count. */
static int64_t rung_sorted(sl_tune_exp_t *e, int k, int b, int64_t *out);

typedef struct {
    const sl_tune_exp_t *e;
    int k;
} rung_cmp_t;

static int cmp_rung(const void *a, const void *b, void *arg)
{
    const rung_cmp_t *rc = arg;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    double vx = rc->e->rungval[x * TUNE_MAXRUNG + rc->k], vy = rc->e->rungval[y * TUNE_MAXRUNG + rc->k];
    if (sl_tune__better(rc->e, vx, vy))
        return -1;
    if (sl_tune__better(rc->e, vy, vx))
        return 1;
    return x < y ? -1 : x > y;
}

static int64_t rung_sorted(sl_tune_exp_t *e, int k, int b, int64_t *out)
{
    int64_t m = 0;
    for (int64_t i = 0; i < e->n; i++)
        if ((b < 0 || e->t[i].bracket == b) && !isnan(e->rungval[i * TUNE_MAXRUNG + k]))
            out[m++] = i;
    rung_cmp_t rc = {e, k};
    qsort_r(out, (size_t)m, sizeof *out, cmp_rung, &rc);
    return m;
}

/* The rungs kept sorted (e->ri[k]: rung_sorted's order over every trial)
 * as values are recorded, for ASHA: sorting a rung at every promotion
 * and every decision of the stopping form cost in proportion to the
 * trials so far, each time. Built from rungval when first needed, and
 * again after a load or a failed allocation (ri_valid 0). */
static void ri_free(sl_tune_exp_t *e)
{
    for (int k = 0; k < TUNE_MAXRUNG; k++) {
        free(e->ri[k]);
        e->ri[k] = NULL;
        e->ri_n[k] = e->ri_cap[k] = e->ri_dead[k] = 0;
    }
    e->ri_valid = 0;
}

static sl_status_t ri_ready(sl_tune_exp_t *e)
{
    if (e->ri_valid)
        return SL_OK;
    ri_free(e);
    for (int k = 0; k < e->nrungs && k < TUNE_MAXRUNG; k++) {
        int64_t *ids = malloc((size_t)(e->n + 1) * sizeof *ids);
        if (!ids) {
            ri_free(e);
            return SL_ERR_NOMEM;
        }
        e->ri[k] = ids;
        e->ri_cap[k] = e->n + 1;
        e->ri_n[k] = rung_sorted(e, k, -1, ids);
    }
    e->ri_valid = 1;
    return SL_OK;
}

/* Where (v, id) is or goes in rung k's order. */
static int64_t ri_find(const sl_tune_exp_t *e, int k, double v, int64_t id)
{
    int64_t lo = 0, hi = e->ri_n[k];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, x = e->ri[k][mid];
        double vx = e->rungval[x * TUNE_MAXRUNG + k];
        int before = sl_tune__better(e, vx, v) || (!sl_tune__better(e, v, vx) && x < id);
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Trial id's value at rung k is now v (NAN: none). */
static void rung_set(sl_tune_exp_t *e, int64_t id, int k, double v)
{
    double *at = &e->rungval[id * TUNE_MAXRUNG + k];
    if (!e->ri_valid || k >= e->nrungs) {
        *at = v;
        return;
    }
    int64_t *ids = e->ri[k];
    if (!isnan(*at)) {
        int64_t j = ri_find(e, k, *at, id);
        if (j < e->ri_n[k] && ids[j] == id) {
            memmove(ids + j, ids + j + 1, (size_t)(e->ri_n[k] - j - 1) * sizeof *ids);
            e->ri_n[k]--;
            if (j < e->ri_dead[k])
                e->ri_dead[k]--;
        } else {
            e->ri_valid = 0; /* not where it should be: built again */
        }
    }
    *at = v;
    if (isnan(v) || !e->ri_valid)
        return;
    if (e->ri_n[k] == e->ri_cap[k]) {
        int64_t cap = 2 * e->ri_cap[k] + 16, *g = realloc(ids, (size_t)cap * sizeof *g);
        if (!g) {
            e->ri_valid = 0;
            return;
        }
        e->ri[k] = ids = g;
        e->ri_cap[k] = cap;
    }
    int64_t j = ri_find(e, k, v, id);
    memmove(ids + j + 1, ids + j, (size_t)(e->ri_n[k] - j) * sizeof *ids);
    ids[j] = id;
    e->ri_n[k]++;
    if (j < e->ri_dead[k])
        e->ri_dead[k] = j;
}

static void start(sl_tune_exp_t *e, int64_t id, int group, sl_tune_job_t *job)
{
    sl_tune_trial_t *t = &e->t[id];
    t->status = SL_TUNE_RUNNING;
    t->group = group;
    e->decision[id] = SL_TUNE_CONTINUE;
    e->past[id] = 0;
    job->kind = SL_TUNE_JOB_RUN;
    job->trial = id;
    job->target = t->target;
    job->ckpt_step = t->ckpt_step;
    job->from_trial = t->from_trial;
    job->from_step = t->from_step;
}

/* ASHA promotion: the best not-yet-promoted paused trial in the top
 * 1/eta of the highest rung that has one. */
static sl_status_t asha_promote(sl_tune_exp_t *e, int64_t *id_p)
{
    *id_p = -1;
    SL_TRY(ri_ready(e));
    for (int k = e->nrungs - 2; k >= 0 && *id_p < 0; k--) {
        int64_t m = e->ri_n[k], *ids = e->ri[k];
        int64_t top = (int64_t)floor((double)m / e->conf.eta);
        /* the best trials of the rung that went past it or ended never
         * count again: later scans start after them */
        int64_t j = e->ri_dead[k];
        while (j < top && (e->t[ids[j]].rung > k || e->t[ids[j]].status >= SL_TUNE_DONE))
            j++;
        e->ri_dead[k] = j;
        for (; j < top; j++) {
            sl_tune_trial_t *t = &e->t[ids[j]];
            if (t->status == SL_TUNE_PAUSED && t->rung == k && !t->promoted) {
                t->promoted = 1;
                t->rung = k + 1;
                t->target = e->rung_t[k + 1];
                t->promoted = 0;
                t->status = SL_TUNE_PENDING;
                *id_p = t->id;
                break;
            }
        }
    }
    return SL_OK;
}

/* HyperBand: promote the top of every rung whose trials have all ended
 * it; the rest are pruned. */
static sl_status_t hb_settle(sl_tune_exp_t *e)
{
    if (e->n == 0)
        return SL_OK;
    int nb = e->t[e->n - 1].bracket + 1;
    int64_t *ids = malloc((size_t)(e->n + 1) * sizeof *ids);
    if (!ids)
        return SL_ERR_NOMEM;
    for (int b = 0; b < nb; b++) {
        int s = hb_s(e, b);
        int64_t members = 0, last = -1;
        for (int64_t i = 0; i < e->n; i++)
            if (e->t[i].bracket == b) {
                members++;
                last = i;
            }
        /* a bracket is complete once full, or when no more trials come */
        int full = members >= hb_n0(e, s) || (last == e->n - 1 && (e->n >= budget(e) || ended(e)));
        if (!full)
            continue;
        for (int i = 0; i < s; i++) {
            int64_t at = 0, busy = 0, paused = 0;
            for (int64_t j = 0; j < e->n; j++) {
                sl_tune_trial_t *t = &e->t[j];
                if (t->bracket != b || t->rung != i)
                    continue;
                at++;
                if (t->status == SL_TUNE_RUNNING || t->status == SL_TUNE_PENDING)
                    busy++;
                if (t->status == SL_TUNE_PAUSED)
                    paused++;
            }
            if (busy || !paused)
                continue;
            /* all of rung i have ended it: n_{i+1} = floor(n_i / eta), at least 1 */
            int64_t m = rung_sorted(e, i, b, ids), keep = (int64_t)floor((double)at / e->conf.eta);
            if (keep < 1)
                keep = 1;
            int64_t kept = 0;
            for (int64_t j = 0; j < m; j++) {
                sl_tune_trial_t *t = &e->t[ids[j]];
                if (t->status != SL_TUNE_PAUSED || t->rung != i)
                    continue;
                if (kept < keep) {
                    t->rung = i + 1;
                    t->target = hb_r(e, s, i + 1);
                    t->status = SL_TUNE_PENDING;
                    kept++;
                } else {
                    t->status = SL_TUNE_PRUNED;
                }
            }
        }
    }
    free(ids);
    return SL_OK;
}

/* PBT's order of pending trials: an exploited one first (it copies its
 * donor's checkpoint as it starts), then the one furthest behind. */
static int pbt_before(const sl_tune_trial_t *a, const sl_tune_trial_t *b)
{
    int ea = a->from_trial >= 0, eb = b->from_trial >= 0;
    return ea != eb ? ea > eb : a->step < b->step;
}

/* The first trial that may not have ended: done, pruned and errored are
 * for good (every status a trial goes back to, pending or paused, it
 * reaches from running or paused), so each trial before it has ended and
 * the scans for trials to run start there: with a scan of every trial, a
 * job's hand-out cost in proportion to the trials so far (60,000 trials
 * of a trivial command took 16 s of rank 0's CPU instead of 2). */
static int64_t first_open(sl_tune_exp_t *e)
{
    int64_t i = e->pending_hint;
    for (; i < e->n && e->t[i].status >= SL_TUNE_DONE; i++) {
        /* the counts and the best of the trials before it, which stay */
        e->lo_counts[e->t[i].status]++;
        if (!isnan(e->t[i].best) &&
            (e->lo_best < 0 || sl_tune__better(e, e->t[i].best, e->t[e->lo_best].best)))
            e->lo_best = i;
    }
    return e->pending_hint = i;
}

/* A trial before first_open's changed after all: the scans start over. */
static void open_reset(sl_tune_exp_t *e)
{
    e->pending_hint = 0;
    e->lo_best = -1;
    memset(e->lo_counts, 0, sizeof e->lo_counts);
}

sl_status_t sl_tune_exp_next(sl_tune_exp_t *e, int group, sl_tune_job_t *job)
{
    memset(job, 0, sizeof *job);
    int64_t lo = first_open(e);
    if (ended(e) && !e->draining) /* the budget is used or --target reached: nothing more runs */
        for (int64_t i = lo; i < e->n; i++)
            if (e->t[i].status == SL_TUNE_PENDING || e->t[i].status == SL_TUNE_PAUSED)
                e->t[i].status = meets_target(e, e->t[i].best) ? SL_TUNE_DONE : SL_TUNE_PRUNED;
    if (e->conf.scheduler == SL_TUNE_HYPERBAND && !ended(e))
        SL_TRY(hb_settle(e));
    /* pending trials first, oldest first; PBT: an exploited trial (it
     * copies its donor's checkpoint as it starts, which the donor, going
     * on, would prune), the population's new trials, then the one that is
     * furthest behind, as Ray's PBT picks the trial with the least time
     * since its last perturbation */
    int pbt = e->conf.scheduler == SL_TUNE_PBT;
    /* PBT: a group gets its next trial when its trial ends, not one queued
     * behind it ahead of time: queued, a trial is running to the scheduler,
     * so the trial ahead of it did not pause for it and ran to --max-t
     * before it started */
    for (int64_t i = lo; pbt && i < e->n; i++)
        if (e->t[i].status == SL_TUNE_RUNNING && e->t[i].group == group) {
            job->kind = SL_TUNE_JOB_WAIT;
            return SL_OK;
        }
    int64_t pick = -1;
    if (!e->draining)
        for (int64_t i = lo; i < e->n; i++)
            if (e->t[i].status == SL_TUNE_PENDING &&
                (pick < 0 || (pbt && pbt_before(&e->t[i], &e->t[pick])))) {
                pick = i;
                if (!pbt)
                    break;
            }
    if (pick >= 0 && !(pbt && !ended(e) && e->n < budget(e) && e->t[pick].from_trial < 0)) {
        start(e, pick, group, job);
        return SL_OK;
    }
    int64_t id = -1;
    if (!e->draining && !ended(e) && e->conf.scheduler == SL_TUNE_ASHA)
        SL_TRY(asha_promote(e, &id));
    if (id < 0 && !e->draining && !ended(e) && e->n < budget(e))
        SL_TRY(new_trial(e, &id));
    if (id < 0)
        id = pick;
    if (id >= 0) {
        start(e, id, group, job);
        return SL_OK;
    }
    for (int64_t i = lo; i < e->n; i++)
        if (e->t[i].status == SL_TUNE_RUNNING || (!e->draining && e->t[i].status == SL_TUNE_PENDING)) {
            job->kind = SL_TUNE_JOB_WAIT;
            return SL_OK;
        }
    /* settled: trials left paused at a rung were not promoted */
    if (!e->draining)
        for (int64_t i = lo; i < e->n; i++)
            if (e->t[i].status == SL_TUNE_PAUSED)
                e->t[i].status = SL_TUNE_PRUNED;
    job->kind = SL_TUNE_JOB_DONE;
    return SL_OK;
}

sl_status_t sl_tune__add_report(sl_tune_exp_t *e, int64_t trial, int64_t step, const double *vals)
{
    if (e->nrep == e->repcap) {
        int64_t cap = e->repcap ? 2 * e->repcap : 256;
        int64_t *a = realloc(e->rep_trial, (size_t)cap * sizeof *a);
        if (a)
            e->rep_trial = a;
        int64_t *b = realloc(e->rep_step, (size_t)cap * sizeof *b);
        if (b)
            e->rep_step = b;
        double *v = realloc(e->rep_val, (size_t)cap * TUNE_MAXM * sizeof *v);
        if (v)
            e->rep_val = v;
        double *tm = realloc(e->rep_time, (size_t)cap * sizeof *tm);
        if (tm)
            e->rep_time = tm;
        double *pp = realloc(e->rep_par, (size_t)cap * (size_t)(e->space.n + 1) * sizeof *pp);
        if (pp)
            e->rep_par = pp;
        if (!a || !b || !v || !tm || !pp)
            return SL_ERR_NOMEM;
        e->repcap = cap;
    }
    e->rep_trial[e->nrep] = trial;
    e->rep_step[e->nrep] = step;
    e->rep_time[e->nrep] = NAN;
    if (e->space.n)
        memcpy(e->rep_par + e->nrep * e->space.n, e->t[trial].params, (size_t)e->space.n * sizeof(double));
    memcpy(e->rep_val + e->nrep * TUNE_MAXM, vals, TUNE_MAXM * sizeof(double));
    e->nrep++;
    return SL_OK;
}

static int cmpdbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear-interpolated quantile (numpy's default) of sorted v[0..n). */
static double quantile(const double *v, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static int median_stop(sl_tune_exp_t *e, sl_tune_trial_t *t, double res)
{
    if (isnan(res) || res < (double)e->conf.grace)
        return 0;
    double *sum = calloc((size_t)e->n, sizeof(double)), *means = malloc((size_t)e->n * sizeof(double));
    int64_t *cnt = calloc((size_t)e->n, sizeof(int64_t)), m = 0;
    int stop = 0;
    if (!sum || !means || !cnt)
        goto out;
    for (int64_t r = 0; r < e->nrep; r++) {
        double v = e->rep_val[r * TUNE_MAXM + e->mcol];
        if (e->rep_trial[r] != t->id && sl_tune__rep_res(e, r) <= res && !isnan(v)) {
            sum[e->rep_trial[r]] += v;
            cnt[e->rep_trial[r]]++;
        }
    }
    for (int64_t i = 0; i < e->n; i++)
        if (cnt[i])
            means[m++] = sum[i] / (double)cnt[i];
    if (m >= e->conf.min_samples && m > 0) {
        qsort(means, (size_t)m, sizeof(double), cmpdbl);
        double med = quantile(means, m, 0.5);
        stop = sl_tune__better(e, med, t->best);
    }
out:
    free(sum);
    free(means);
    free(cnt);
    return stop;
}

/* ASHA stopping form, as Ray Tune's AsyncHyperBand: at the highest rung
 * the trial passes for the first time, stop it if it is below the
 * (1 - 1/eta) quantile of the values recorded there before it. */
static int asha_stop(sl_tune_exp_t *e, sl_tune_trial_t *t, double res, double v)
{
    for (int k = e->nrungs - 1; k >= 0 && !isnan(res); k--) {
        if (res < (double)e->rung_t[k])
            continue;
        if (!isnan(e->rungval[t->id * TUNE_MAXRUNG + k]))
            return 0; /* decided there already: lower rungs it jumped over stay empty */
        int stop = 0;
        if (ri_ready(e) != SL_OK)
            return 0;
        /* the values recorded there, worst first (the rung's order reversed) */
        int64_t m = e->ri_n[k];
        if (m > 0 && !isnan(v)) {
            double q = (1.0 - 1.0 / e->conf.eta) * (double)(m - 1), lo, hi, cut;
            int64_t i = (int64_t)floor(q);
            lo = e->rungval[e->ri[k][m - 1 - i] * TUNE_MAXRUNG + k];
            hi = i + 1 < m ? e->rungval[e->ri[k][m - 2 - i] * TUNE_MAXRUNG + k] : lo;
            if (!e->conf.maximize) {
                lo = -lo;
                hi = -hi;
            }
            /* as quantile() of the sorted values */
            cut = i + 1 >= m ? lo : lo + (q - (double)i) * (hi - lo);
            stop = (e->conf.maximize ? v : -v) < cut;
        }
        rung_set(e, t->id, k, v);
        return stop;
    }
    return 0;
}

/* PBT explore: resample with probability p, else scale by 0.8 or 1.2
 * (categorical and integer values move to a neighbour). */
static void explore(sl_tune_exp_t *e, const double *from, double *x)
{
    for (int i = 0; i < e->space.n; i++) {
        const sl_tune_param_t *p = &e->space.p[i];
        if (i < 64 && (e->conf.pbt_keep >> i & 1)) {
            x[i] = from[i];
            continue;
        }
        if (gsl_rng_uniform(e->xrng) < e->conf.resample_p) {
            x[i] = sl_tune__sample(p, e->xrng);
            continue;
        }
        int up = gsl_rng_uniform(e->xrng) < 0.5;
        if (p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID) {
            x[i] = sl_tune__fix(p, from[i] + (up ? 1 : -1));
        } else {
            double v = from[i] * (up ? 1.2 : 0.8);
            /* a factor that stays within the value's quantum moves it by one
             * quantum: the step of a q parameter, not 1, which quantising
             * undid (qrandint(32,512,32): 32 and 64 never moved) */
            double quantum = p->q > 0 ? p->q : p->kind == SL_TUNE_RANDINT ? 1 : 0;
            if (quantum > 0 && sl_tune__fix(p, fmin(fmax(v, p->lo), p->hi)) == from[i])
                v = from[i] + (up ? quantum : -quantum);
            x[i] = sl_tune__fix(p, fmin(fmax(v, p->lo), p->hi));
        }
    }
}

static int cmp_last(const void *a, const void *b, void *arg)
{
    const sl_tune_exp_t *e = arg;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (sl_tune__better(e, e->t[x].last, e->t[y].last))
        return -1;
    if (sl_tune__better(e, e->t[y].last, e->t[x].last))
        return 1;
    return x < y ? -1 : x > y;
}

static sl_status_t pbt(sl_tune_exp_t *e, sl_tune_trial_t *t, int64_t step, int *decision)
{
    if (step - e->lastpert[t->id] < e->conf.perturb)
        return SL_OK;
    e->lastpert[t->id] = step;
    int64_t *ids = malloc((size_t)e->n * sizeof *ids), m = 0;
    if (!ids)
        return SL_ERR_NOMEM;
    /* the trials still training, as Ray's PBT ranks them: a done one (at
     * --max-t, or ended by itself), or one at --max-t whose job has not
     * ended yet, was a donor with nothing left to train, and a trial
     * behind it copied its last checkpoint and ended there, its explored
     * parameters never trained */
    for (int64_t i = 0; i < e->n; i++) {
        int s = e->t[i].status;
        if (!isnan(e->t[i].last) && (s == SL_TUNE_RUNNING || s == SL_TUNE_PENDING) &&
            (e->conf.max_t <= 0 || e->t[i].step < e->conf.max_t))
            ids[m++] = i;
    }
    qsort_r(ids, (size_t)m, sizeof *ids, cmp_last, e);
    int64_t q = (int64_t)ceil((double)m * e->conf.quantile);
    if (q > m / 2)
        q = m / 2;
    int bottom = 0;
    for (int64_t j = m - q; j < m; j++)
        bottom |= ids[j] == t->id;
    if (q > 0 && bottom) {
        int64_t donor = ids[gsl_rng_uniform_int(e->xrng, (unsigned long)q)];
        sl_tune_trial_t *d = &e->t[donor];
        explore(e, d->params, t->params);
        t->from_trial = donor;
        t->from_step = d->step;
        *decision = SL_TUNE_EXPLOIT;
    }
    free(ids);
    /* A population larger than the groups advances together, as in Ray's
     * PBT: a trial pauses at a perturbation while another waits behind it
     * (or is not started yet), and goes on from its checkpoint later.
     * Otherwise the first trials ran to --max-t before the others started,
     * which then compared their first steps with finished trials, all fell
     * in the bottom quantile and took over a finished trial's last
     * checkpoint: explored parameters never trained. */
    if (*decision == SL_TUNE_CONTINUE && !e->draining) {
        int behind = e->n < budget(e);
        for (int64_t i = 0; i < e->n && !behind; i++)
            behind = i != t->id && e->t[i].status == SL_TUNE_PENDING && e->t[i].step < step;
        if (behind)
            *decision = SL_TUNE_PAUSE;
    }
    return SL_OK;
}

const char *sl_tune__name_clash(const sl_tune_exp_t *e, const char *name)
{
    if (!strcmp(name, "trial") || !strcmp(name, "step") || !strcmp(name, "time"))
        return "sluice's own column";
    for (int i = 0; i < e->space.n; i++)
        if (!strcmp(name, e->space.p[i].name))
            return "a parameter";
    return NULL;
}

int sl_tune__inf_best(const sl_tune_exp_t *e, double v)
{
    return isinf(v) && (e->conf.maximize ? v > 0 : v < 0);
}

sl_status_t sl_tune_exp_report(sl_tune_exp_t *e, int64_t trial, int64_t step, int n, const char *const *names,
                               const double *values, int *decision_p)
{
    *decision_p = SL_TUNE_CONTINUE;
    if (trial < 0 || trial >= e->n)
        return SL_ERR_INVALID;
    sl_tune_trial_t *t = &e->t[trial];
    if (trial < e->pending_hint) /* it has ended: not expected, but kept right */
        open_reset(e);
    if (e->decision[trial] != SL_TUNE_CONTINUE) {
        *decision_p = e->decision[trial];
        if (step > t->step)
            e->past[trial] = 1;
        return SL_OK;
    }
    if (step <= t->step)
        return SL_OK;
    e->spent += step - (t->step > 0 ? t->step : 0);
    double vals[TUNE_MAXM];
    for (int i = 0; i < TUNE_MAXM; i++)
        vals[i] = NAN;
    for (int i = 0; i < n; i++) {
        int c = -1;
        if (sl_tune__name_clash(e, names[i]))
            continue; /* results.csv has that column already */
        for (int j = 0; j < e->nmetrics; j++)
            if (!strcmp(e->mname[j], names[i]))
                c = j;
        /* the --metric and --time-attr keep a column free until they come:
         * 16 other names first took them all, and the metric was dropped */
        int key = !strcmp(names[i], e->conf.metric) || !strcmp(names[i], e->conf.time_attr);
        int held = (e->mcol < 0) + (!sl_tune__by_step(&e->conf) && e->acol < 0);
        if (c < 0 && e->nmetrics < TUNE_MAXM - (key ? 0 : held)) {
            c = e->nmetrics++;
            snprintf(e->mname[c], sizeof e->mname[c], "%s", names[i]);
            if (!strcmp(names[i], e->conf.metric))
                e->mcol = c;
            if (!strcmp(names[i], e->conf.time_attr))
                e->acol = c;
        }
        if (c >= 0)
            vals[c] = values[i];
    }
    SL_TRY(sl_tune__add_report(e, trial, step, vals));
    t->step = step;
    t->nreports++;
    double v = e->mcol >= 0 ? vals[e->mcol] : NAN;
    if (sl_tune__inf_best(e, v))
        v = NAN;
    int by_step = sl_tune__by_step(&e->conf);
    double res = by_step ? (double)step : e->acol >= 0 ? vals[e->acol] : NAN;
    if (!isnan(res))
        t->res = res;
    if (!isnan(v)) {
        t->last = v;
        if (sl_tune__better(e, v, t->best)) {
            t->best = v;
            t->best_step = step;
            sl_tune__note_best(e, v);
        }
    }
    int d = SL_TUNE_CONTINUE;
    /* a report without the metric only counts toward the step */
    switch (isnan(v) && e->conf.scheduler != SL_TUNE_ASHA && e->conf.scheduler != SL_TUNE_HYPERBAND
                ? SL_TUNE_FIFO
                : e->conf.scheduler) {
    case SL_TUNE_ASHA:
    case SL_TUNE_HYPERBAND:
        if (step >= t->target) {
            rung_set(e, trial, t->rung, v);
            d = SL_TUNE_PAUSE;
        }
        break;
    case SL_TUNE_ASHA_STOP:
        if (asha_stop(e, t, res, v))
            d = SL_TUNE_STOP;
        break;
    case SL_TUNE_MEDIAN:
        if (median_stop(e, t, res))
            d = SL_TUNE_STOP;
        break;
    case SL_TUNE_PBT:
        /* not once the experiment has ended: an exploit would take the
         * donor's parameters and step for a trial that is stopped anyway */
        if ((t->target < 0 || step < t->target) && !ended(e))
            SL_TRY(pbt(e, t, step, &d));
        break;
    default: break;
    }
    if (d == SL_TUNE_CONTINUE && t->target > 0 && step >= t->target)
        d = SL_TUNE_STOP;
    if (d == SL_TUNE_CONTINUE && !by_step && e->conf.max_t > 0 && res >= (double)e->conf.max_t)
        d = SL_TUNE_STOP;
    if (d == SL_TUNE_CONTINUE &&
        ended(e)) /* the budget is used or --target reached: pruned, unless at its end */
        d = SL_TUNE_STOP;
    e->decision[trial] = d;
    *decision_p = d;
    return SL_OK;
}

sl_status_t sl_tune_exp_end(sl_tune_exp_t *e, int64_t trial, int outcome, int64_t last_ckpt)
{
    if (trial < 0 || trial >= e->n || e->t[trial].status != SL_TUNE_RUNNING)
        return SL_ERR_INVALID;
    sl_tune_trial_t *t = &e->t[trial];
    int d = e->decision[trial];
    t->group = -1;
    if (last_ckpt >= 0)
        t->ckpt_step = last_ckpt;
    e->decision[trial] = SL_TUNE_CONTINUE;
    int past = e->past[trial];
    e->past[trial] = 0;
    double done_res = sl_tune__by_step(&e->conf) ? (double)t->step : t->res;
    int at_end = e->conf.max_t > 0 && done_res >= (double)e->conf.max_t;
    /* The trial finished by itself as the decision on its last report came
     * (a program that ends after its own last step, without --max-t; not
     * one that ends at its job's target, SLUICE_MAX_T, a rung): a
     * pause leaves it done, and so does an exploit that would restart it
     * at or past that step, with nothing left to train. It was paused or
     * set pending and restarted from its last checkpoint, to end again at
     * once or, a program that does not read {resume}, train from its start. */
    if (outcome == SL_TUNE_END_SELF && !past && !(t->target > 0 && t->step >= t->target) &&
        (d == SL_TUNE_PAUSE || (d == SL_TUNE_EXPLOIT && t->from_step >= t->step))) {
        if (d == SL_TUNE_EXPLOIT) { /* its own parameters back: explore() changed them */
            for (int64_t r = e->nrep - 1; r >= 0; r--)
                if (e->rep_trial[r] == trial) {
                    if (e->space.n)
                        memcpy(t->params, e->rep_par + r * e->space.n, (size_t)e->space.n * sizeof(double));
                    break;
                }
            t->from_trial = -1;
            t->from_step = -1;
        }
        d = SL_TUNE_CONTINUE;
    }
    if (d == SL_TUNE_EXPLOIT) {
        t->status = SL_TUNE_PENDING;
        t->ckpt_step = t->from_step;
        t->step = t->from_step;
        t->last = e->t[t->from_trial].last;
        return SL_OK;
    }
    t->from_trial = -1;
    t->from_step = -1;
    if (d == SL_TUNE_PAUSE && e->conf.scheduler == SL_TUNE_PBT) {
        t->status = at_end ? SL_TUNE_DONE : SL_TUNE_PENDING; /* it waits for those behind it */
        return SL_OK;
    }
    if (d == SL_TUNE_PAUSE) {
        int top =
            e->conf.scheduler == SL_TUNE_ASHA ? t->rung >= e->nrungs - 1 : t->rung >= hb_s(e, t->bracket);
        t->status = top || at_end ? SL_TUNE_DONE : SL_TUNE_PAUSED;
        if (t->status == SL_TUNE_DONE && isnan(t->best)) /* as below */
            t->status = ++t->failures > e->conf.max_failures ? SL_TUNE_ERRORED : SL_TUNE_PENDING;
        return SL_OK;
    }
    if (d == SL_TUNE_STOP) {
        t->status = at_end || (t->target > 0 && t->step >= t->target) || meets_target(e, t->best)
                        ? SL_TUNE_DONE
                        : SL_TUNE_PRUNED;
        /* run to its end without ever reporting the metric: a failure, as
         * when it ends by itself */
        if (t->status == SL_TUNE_DONE && isnan(t->best))
            t->status = ++t->failures > e->conf.max_failures ? SL_TUNE_ERRORED : SL_TUNE_PENDING;
        return SL_OK;
    }
    if (outcome == SL_TUNE_END_INTERRUPTED) {
        t->status = SL_TUNE_PENDING;
        return SL_OK;
    }
    if (outcome == SL_TUNE_END_FAILED || e->mcol < 0 || isnan(t->best)) {
        t->failures++;
        t->status = t->failures > e->conf.max_failures ? SL_TUNE_ERRORED : SL_TUNE_PENDING;
        return SL_OK;
    }
    t->status = SL_TUNE_DONE;
    return SL_OK;
}

void sl_tune_exp_drain(sl_tune_exp_t *e)
{
    e->draining = 1;
}

int sl_tune_exp_finished(const sl_tune_exp_t *e)
{
    for (int64_t i = 0; i < e->n; i++)
        if (e->t[i].status == SL_TUNE_RUNNING || e->t[i].status == SL_TUNE_PENDING)
            return 0;
    return 1;
}

int sl_tune_exp_complete(const sl_tune_exp_t *e)
{
    if (!sl_tune_exp_finished(e) || (e->n < budget(e) && !ended(e)))
        return 0;
    for (int64_t i = 0; i < e->n; i++)
        if (e->t[i].status == SL_TUNE_PAUSED)
            return 0;
    return 1;
}

int64_t sl_tune_exp_ntrials(const sl_tune_exp_t *e)
{
    return e->n;
}
const sl_tune_trial_t *sl_tune_exp_trial(const sl_tune_exp_t *e, int64_t id)
{
    return id >= 0 && id < e->n ? &e->t[id] : NULL;
}
const sl_tune_space_t *sl_tune_exp_space(const sl_tune_exp_t *e)
{
    return &e->space;
}
const sl_tune_conf_t *sl_tune_exp_conf(const sl_tune_exp_t *e)
{
    return &e->conf;
}

int64_t sl_tune_exp_best(const sl_tune_exp_t *e)
{
    int64_t b = e->lo_best;
    for (int64_t i = e->pending_hint; i < e->n; i++)
        if (!isnan(e->t[i].best) && (b < 0 || sl_tune__better(e, e->t[i].best, e->t[b].best)))
            b = i;
    return b;
}

/* The parameters trial b had when it reported its best value: PBT changes
 * a trial's parameters at an exploit, and best.json and the summary gave
 * the explored ones beside a value its earlier ones reached. */
const double *sl_tune__best_params(const sl_tune_exp_t *e, int64_t b)
{
    const sl_tune_trial_t *t = &e->t[b];
    for (int64_t r = e->nrep - 1; r >= 0 && e->mcol >= 0; r--)
        if (e->rep_trial[r] == b && e->rep_step[r] == t->best_step &&
            e->rep_val[r * TUNE_MAXM + e->mcol] == t->best)
            return e->rep_par + r * e->space.n;
    return t->params;
}

void sl_tune_exp_counts(const sl_tune_exp_t *e, int64_t counts[6])
{
    memcpy(counts, e->lo_counts, 6 * sizeof counts[0]);
    for (int64_t i = e->pending_hint; i < e->n; i++)
        counts[e->t[i].status]++;
}
