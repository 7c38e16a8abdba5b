/* SPDX-License-Identifier: BSD-3-Clause */
/* The `ppo` objective: PPO (DD-PPO on a group of more than one rank) from
 * the rl library on the trial's group, its run directory being the trial
 * directory. A step is an iteration of --iteration-steps environment steps,
 * as a training iteration of RLlib: when the run's global step passes the
 * next multiple, ckpt.h5 is written, kept as checkpoint-<step>.h5 (a hard
 * link) and the leader reports return_mean, env_steps, episodes and sps.
 * The run's length, over which the learning rate is annealed, is the
 * trial's whole length, so a trial paused at a rung and promoted later
 * learns as one that ran through. Parameters named as sluice rl train's
 * options set them; the rest are the environment's presets. */
#define _GNU_SOURCE
#include "config.h"
#include "tune_impl.h"

#include "rl.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parameters the objective sets: the field of sl_rl_train_opts_t (a
 * double, an int, or -1 for hidden, a string); shape: the checkpoint holds
 * their shape, so PBT copies them from the donor unexplored. */
#define D(name, field)                                                                                       \
    {                                                                                                        \
        name, offsetof(sl_rl_train_opts_t, field), 'd', 0                                                    \
    }
#define I(name, field, shape)                                                                                \
    {                                                                                                        \
        name, offsetof(sl_rl_train_opts_t, field), 'i', shape                                                \
    }
static const struct {
    const char *name;
    size_t off;
    char type;
    int shape;
} known[] = {D("lr", lr),
             D("gamma", gamma),
             D("gae_lambda", gae_lambda),
             D("clip", clip),
             D("ent_coef", ent_coef),
             D("vf_coef", vf_coef),
             D("max_grad_norm", max_grad_norm),
             D("log_std_init", log_std_init),
             I("update_epochs", epochs, 0),
             I("minibatches", minibatches, 0),
             I("num_steps", num_steps, 1),
             I("envs_per_rank", envs_per_rank, 1),
             {"hidden", 0, 's', 1},
             {NULL, 0, 0, 0}};
#undef D
#undef I

static int known_index(const char *name)
{
    for (int k = 0; known[k].name; k++)
        if (!strcmp(name, known[k].name))
            return k;
    return -1;
}

int tune_ppo_known(const char *name, int *shape_p)
{
    int k = known_index(name);
    if (k >= 0 && shape_p)
        *shape_p = known[k].shape;
    return k >= 0;
}

typedef struct {
    tune_run_t *r;
    const tune_jobmsg_t *job;
    int64_t iter_steps, last; /* last step reported in this job */
    int decision;
} ppo_cb_t;

static int update_cb(const sl_rl_update_info_t *u, void *arg)
{
    ppo_cb_t *c = arg;
    tune_run_t *r = c->r;
    const tune_jobmsg_t *job = c->job;
    int64_t step = u->global_step / c->iter_steps;
    int report = u->checkpointed && step > c->last;
    int d = SL_TUNE_CONTINUE;
    if (tune_group_rank(r) == 0) {
        if (report) {
            char src[1200];
            snprintf(src, sizeof src, "%s/ckpt.h5", job->trial_dir);
            tune_ckpt_keep(job, src, step);
            /* rl keeps the save before as ckpt.h5.1: not a checkpoint of tune's, and
             * --keep-checkpoints counts every one on disk */
            snprintf(src, sizeof src, "%s/ckpt.h5.1", job->trial_dir);
            unlink(src);
            const char *names[4] = {"return_mean", "env_steps", "episodes", "sps"};
            double v[4] = {u->return_mean, (double)u->global_step, (double)u->episodes, u->sps};
            d = tune_report(r, job->trial, step, 4, names, v);
        }
        /* between reports too: a decision that comes while the trial
         * trains on ends it at its next update (it resumes, if ever, from
         * the checkpoint of its last report) */
        tune_service(r);
        if (d == SL_TUNE_CONTINUE)
            d = tune_decision(r);
    }
    MPI_Bcast(&d, 1, MPI_INT, 0, tune_group_comm(r));
    if (report)
        c->last = step;
    c->decision = d;
    /* the job's target (a rung) reached: this job ends there */
    return d != SL_TUNE_CONTINUE || (report && job->target > 0 && step >= job->target);
}

static sl_status_t ppo_run(tune_run_t *r, const tune_jobmsg_t *job, int *outcome_p)
{
    const tune_opts_t *o = tune_opts(r);
    const sl_tune_space_t *s = tune_space(r);
    MPI_Comm gc = tune_group_comm(r);
    const sl_rl_env_t *env = sl_rl_env_find(o->env);
    char hidden[256], ckpt[1200];
    sl_rl_train_opts_t t;
    sl_rl_train_opts_default(&t, env);
    snprintf(hidden, sizeof hidden, "%s", t.hidden);
    t.out = job->trial_dir;
    t.device = o->device;
    t.seed = (uint64_t)o->seed * 1000003 + (uint64_t)job->trial;
    t.quiet = 1;
    t.checkpoint_every = 0;
    t.checkpoint_steps = o->iter_steps;
    /* the trial's whole length: --iterations, or --max-t when it counts steps */
    int64_t iters = o->iterations > 0 ? o->iterations : o->max_t;
    t.total_steps = iters * o->iter_steps;
    for (int i = 0; i < s->n; i++) {
        const sl_tune_param_t *p = &s->p[i];
        double v = sl_tune_value_num(p, job->params[i]);
        int k = known_index(p->name); /* cli.c refused the others */
        if (k < 0)
            continue;
        char *field = (char *)&t + known[k].off;
        if (known[k].type == 's')
            sl_tune_value_text(p, job->params[i], hidden, sizeof hidden);
        else if (known[k].type == 'd')
            *(double *)field = v;
        else
            *(int *)field = (int)llround(v);
    }
    t.hidden = hidden;
    /* resume from the checkpoint the coordinator chose, or start afresh */
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.h5", job->trial_dir);
    sl_status_t st = tune_ckpt_restore(r, job, ckpt);
    if (st != SL_OK) {
        *outcome_p = SL_TUNE_END_FAILED;
        return SL_OK;
    }
    t.resume = job->resume[0] != 0;
    ppo_cb_t c = {r, job, o->iter_steps, 0, SL_TUNE_CONTINUE};
    t.update_cb = update_cb;
    t.update_cb_arg = &c;
    int level = sl_log_level_g;
    if (level > SL_LOG_WARN)
        sl_log_set_level(SL_LOG_WARN); /* rl's own notes would interleave with the table */
    st = sl_rl_train(gc, &t, NULL);
    sl_log_set_level((sl_log_level_t)level);
    int failed = tune_failed_outcome(r, st, SL_TUNE_END_FAILED);
    if (tune_group_rank(r) == 0) { /* the reported checkpoints hold what a resume needs */
        unlink(ckpt);
        char old[1300];
        snprintf(old, sizeof old, "%s.1", ckpt);
        unlink(old);
    }
    if (st == SL_ERR_STOPPED || c.decision == TUNE_INTERRUPT)
        *outcome_p = SL_TUNE_END_INTERRUPTED;
    else if (st == SL_OK && iters > 0 && c.last >= iters)
        *outcome_p = SL_TUNE_END_SELF; /* its whole length: a PBT pause there leaves it done */
    else if (st == SL_OK)
        *outcome_p = SL_TUNE_END_OK;
    else
        *outcome_p = failed;
    return SL_OK;
}

const tune_objective_t tune_objective_ppo = {"ppo", ppo_run, NULL};
