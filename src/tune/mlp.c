/* SPDX-License-Identifier: BSD-3-Clause */
/* The `mlp` objective: a data-parallel sl_nn_train_run on the trial's group,
 * its run directory being the trial directory. Parameters named lr,
 * weight_decay, momentum, batch and optimizer set those options; any
 * parameter may appear as {name} in --model ("mlp:784-{width}-10"). After
 * each epoch the leader reports accuracy, loss and train_loss, keeps the
 * epoch's checkpoint as checkpoint-<epoch>.h5 (a hard link to ckpt.h5,
 * which train replaces by rename) and the decision is broadcast to the
 * group, so every rank stops together. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include "nn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    tune_run_t *r;
    const tune_jobmsg_t *job;
    int decision;
    int64_t last; /* the last epoch reported */
} mlp_cb_t;

static int epoch_cb(const sl_nn_train_metrics_t *m, void *arg)
{
    mlp_cb_t *c = arg;
    tune_run_t *r = c->r;
    int d = SL_TUNE_CONTINUE;
    if (tune_group_rank(r) == 0) {
        char src[1200];
        snprintf(src, sizeof src, "%s/ckpt.h5", c->job->trial_dir);
        tune_ckpt_keep(c->job, src, m->epoch);
        const char *names[3] = {"accuracy", "loss", "train_loss"};
        double v[3] = {m->eval_accuracy, m->eval_loss, m->train_loss};
        d = tune_report(r, c->job->trial, m->epoch, 3, names, v);
        tune_service(r);
        if (d == SL_TUNE_CONTINUE)
            d = tune_decision(r);
        if (d == SL_TUNE_CONTINUE && sl_stop_requested())
            d = TUNE_INTERRUPT;
    }
    MPI_Bcast(&d, 1, MPI_INT, 0, tune_group_comm(r));
    c->decision = d;
    c->last = m->epoch;
    return d != SL_TUNE_CONTINUE;
}

/* Every step: the coordinator's duties (so other groups' reports are
 * answered within a step, not at this trial's next epoch) and, on the
 * leader, whether a decision came to end this job: a pruned, exploited or
 * (PBT) paused trial ends at once instead of training out an epoch whose
 * work would be thrown away. */
static int step_poll(void *arg)
{
    mlp_cb_t *c = arg;
    if (tune_group_rank(c->r) != 0)
        return 0;
    tune_service(c->r);
    int d = tune_decision(c->r);
    return d == SL_TUNE_STOP || d == SL_TUNE_EXPLOIT || d == SL_TUNE_PAUSE; /* PBT pauses mid-job */
}

/* Expand {name} in the model template with parameter values. */
void tune_mlp_model_spec(const char *tpl, const sl_tune_space_t *s, const double *params, char *out,
                         size_t len)
{
    size_t k = 0;
    for (const char *p = tpl; *p && k + 1 < len;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            size_t n = e ? (size_t)(e - p - 1) : 0;
            for (int i = 0; e && i < s->n; i++)
                if (strlen(s->p[i].name) == n && !strncmp(p + 1, s->p[i].name, n)) {
                    char v[256];
                    /* a width as the model spec reads it: choice(1e2, 256)
                     * gave 'mlp:784-1e2-10', which failed its trials */
                    double num = sl_tune_value_num(&s->p[i], params[i]);
                    if ((s->p[i].kind == SL_TUNE_CHOICE || s->p[i].kind == SL_TUNE_GRID) &&
                        num == floor(num) && fabs(num) < 0x1p53)
                        snprintf(v, sizeof v, "%lld", (long long)num);
                    else
                        sl_tune_value_text(&s->p[i], params[i], v, sizeof v);
                    k += (size_t)snprintf(out + k, len - k, "%s", v);
                    break;
                }
            if (e) {
                p = e + 1;
                continue;
            }
        }
        out[k++] = *p++;
    }
    out[k < len ? k : len - 1] = '\0';
}

int tune_mlp_shapes(const tune_opts_t *o, const char *name)
{
    char pat[96];
    snprintf(pat, sizeof pat, "{%s}", name);
    return o->model && strstr(o->model, pat) != NULL;
}

sl_status_t tune_mlp_check(const tune_opts_t *o, const sl_tune_space_t *s, const char **bad_p,
                           const char **value_p)
{
    static char width_text[256];
    static const char *known[] = {"lr", "weight_decay", "momentum", "batch", "optimizer", NULL};
    /* every {name} of --model must be a parameter (*bad_p: its '{') */
    for (const char *p = o->model ? strchr(o->model, '{') : NULL; p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        size_t n = e ? (size_t)(e - p - 1) : 0;
        int found = 0;
        for (int i = 0; e && i < s->n; i++)
            found |= strlen(s->p[i].name) == n && !strncmp(p + 1, s->p[i].name, n);
        if (!found) {
            *bad_p = p; /* the '{' */
            return SL_ERR_INVALID;
        }
    }
    for (int i = 0; i < s->n; i++) {
        int ok = 0;
        for (int k = 0; known[k]; k++)
            ok |= !strcmp(s->p[i].name, known[k]);
        ok |= tune_mlp_shapes(o, s->p[i].name);
        if (!ok) {
            *bad_p = s->p[i].name;
            return SL_ERR_NOT_FOUND;
        }
    }
    /* mlp_run takes optimizer as a word and batch as a number */
    for (int i = 0; i < s->n; i++) {
        const sl_tune_param_t *p = &s->p[i];
        int cat = p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID, bad = 0;
        if (!strcmp(p->name, "optimizer")) {
            bad = !cat;
            for (int k = 0; cat && k < p->nvalues; k++)
                bad |= strcmp(p->values[k], "sgd") && strcmp(p->values[k], "adam") && strcmp(p->values[k], "adamw");
        } else if (!strcmp(p->name, "batch")) {
            bad = !cat && !(p->lo >= 1);
            for (int k = 0; cat && k < p->nvalues; k++)
                bad |= !(p->numvalues[k] >= 1);
        } else if (!tune_mlp_shapes(o, p->name)) { /* lr, weight_decay, momentum: numbers */
            for (int k = 0; cat && k < p->nvalues; k++)
                bad |= !isfinite(p->numvalues[k]);
        }
        if (bad) {
            *bad_p = p->name;
            return SL_ERR_MISMATCH;
        }
    }
    /* a {name} of --model is a layer's width: a continuous range gave
     * fractions ("mlp:784-97.3-10"), and every trial failed on its model */
    for (int i = 0; i < s->n; i++) {
        const sl_tune_param_t *p = &s->p[i];
        int whole = p->kind == SL_TUNE_RANDINT || p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID ||
                    (p->q > 0 && p->q == floor(p->q) && p->lo == floor(p->lo));
        if (tune_mlp_shapes(o, p->name) && !whole) {
            *bad_p = p->name;
            return SL_ERR_NUMERIC;
        }
    }
    /* and each of its values a width of 1 to 2^24: a word, a fraction or
     * 0 of a choice, a range from 0, failed each trial that drew it */
    for (int i = 0; i < s->n; i++) {
        const sl_tune_param_t *p = &s->p[i];
        if (!tune_mlp_shapes(o, p->name))
            continue;
        int cat = p->kind == SL_TUNE_CHOICE || p->kind == SL_TUNE_GRID;
        for (int k = 0; k < (cat ? p->nvalues : 2); k++) {
            double v = cat ? p->numvalues[k] : sl_tune__fix(p, k ? p->hi : p->lo);
            if (!(v >= 1 && v <= (double)(1 << 24) && v == floor(v))) {
                *bad_p = p->name;
                if (value_p) {
                    if (cat)
                        *value_p = p->values[k];
                    else
                        sl_tune_value_text(p, v, width_text, sizeof width_text), *value_p = width_text;
                }
                return SL_ERR_UNSUPPORTED;
            }
        }
    }
    return SL_OK;
}

static sl_status_t mlp_run(tune_run_t *r, const tune_jobmsg_t *job, int *outcome_p)
{
    const tune_opts_t *o = tune_opts(r);
    const sl_tune_space_t *s = tune_space(r);
    MPI_Comm gc = tune_group_comm(r);
    char model[1024], ckpt[1200];
    sl_nn_train_opts_t t;
    sl_nn_train_opts_default(&t);
    tune_mlp_model_spec(o->model, s, job->params, model, sizeof model);
    t.data = o->data;
    t.eval = o->eval_data;
    t.model = model;
    t.out = job->trial_dir;
    t.device = o->device;
    t.optimizer = o->optim;
    t.lr = o->lr;
    t.batch = o->batch;
    t.weight_decay = o->wd;
    t.seed = o->seed * 1000003 + job->trial;
    t.quiet = 1;
    /* --max-t is epochs unless another --time-attr counts it */
    t.epochs = job->target > 0                                 ? job->target
               : o->max_t > 0 && !strcmp(o->time_attr, "step") ? o->max_t
                                                               : o->epochs;
    /* a --epochs given is the trial's length (a rung or --max-t stops it
     * before), as --iterations is ppo's: beside --max-t it was ignored */
    if (o->epochs > 0 && o->epochs < t.epochs)
        t.epochs = o->epochs;
    for (int i = 0; i < s->n; i++) {
        const char *n = s->p[i].name;
        double v = sl_tune_value_num(&s->p[i], job->params[i]); /* a choice's value, not its index */
        if (!strcmp(n, "lr"))
            t.lr = v;
        else if (!strcmp(n, "weight_decay"))
            t.weight_decay = v;
        else if (!strcmp(n, "momentum"))
            t.momentum = v;
        else if (!strcmp(n, "batch"))
            t.batch = (long)llround(v);
        else if (!strcmp(n, "optimizer")) /* a word: its value is NaN, the index picks it */
            t.optimizer = s->p[i].values[(int)sl_tune__fix(&s->p[i], job->params[i])];
    }
    /* resume from the epoch checkpoint the coordinator chose, or start afresh */
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", job->trial_dir);
    int have = job->resume[0] != 0;
    sl_status_t st = tune_ckpt_restore(r, job, ckpt);
    if (st != SL_OK) {
        *outcome_p = SL_TUNE_END_FAILED;
        return SL_OK;
    }
    t.resume = have;
    mlp_cb_t c = {r, job, SL_TUNE_CONTINUE, -1};
    t.step_poll = step_poll;
    t.step_poll_arg = &c;
    t.keep_data = 1; /* the group's next trial reads the same slices */
    int level = sl_log_level_g;
    if (level > SL_LOG_WARN)
        sl_log_set_level(SL_LOG_WARN); /* train's own notes would interleave with the table */
    st = sl_nn_train_run(gc, &t, epoch_cb, &c, NULL);
    sl_log_set_level((sl_log_level_t)level);
    int failed = tune_failed_outcome(r, st, SL_TUNE_END_FAILED);
    /* the trial's whole length (a rung's target is not its end) */
    int64_t full = o->max_t > 0 && !strcmp(o->time_attr, "step") ? o->max_t : o->epochs;
    if (o->epochs > 0 && o->epochs < full)
        full = o->epochs;
    if (st == SL_ERR_STOPPED || c.decision == TUNE_INTERRUPT)
        *outcome_p = SL_TUNE_END_INTERRUPTED;
    else if (st == SL_OK && full > 0 && c.last >= full)
        *outcome_p = SL_TUNE_END_SELF; /* a PBT pause at its last epoch leaves it done */
    else if (st == SL_OK)
        *outcome_p = SL_TUNE_END_OK;
    else
        *outcome_p = failed;
    return SL_OK;
}

const tune_objective_t tune_objective_mlp = {"mlp", mlp_run, sl_nn_train_forget_data};
