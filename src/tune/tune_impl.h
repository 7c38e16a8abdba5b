/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations of the tune component: the experiment's insides,
 * shared by the searchers, the schedulers, the state files and the runner. */
#ifndef SLUICE_TUNE_IMPL_H
#define SLUICE_TUNE_IMPL_H

#include "tune.h"

#include <gsl/gsl_rng.h>

#define TUNE_MAXM    16 /* metrics recorded per report */
#define TUNE_MAXRUNG 32 /* rungs per trial (ASHA, HyperBand) */
#define TUNE_FORMAT  "sluice-tune-1"
/* the runner stamps this metric on every report when it is the time attr:
 * seconds the trial has run, over all its jobs (Ray Tune's name) */
#define TUNE_TIME_TOTAL "time_total_s"

struct sl_tune_exp {
    sl_tune_conf_t conf;
    sl_tune_space_t space;
    sl_tune_trial_t *t;
    int64_t n, cap;
    double *rungval;   /* n x TUNE_MAXRUNG, NAN where not reached */
    int64_t *lastpert; /* PBT: step of the last perturbation check */
    int *decision;     /* decision sent during the current job */
    char *past;        /* the current job reported past its decision's step (not taken) */
    /* reports, in arrival order */
    int64_t nrep, repcap;
    int64_t *rep_trial, *rep_step;
    double *rep_time; /* seconds since the experiment began (the runner stamps it) */
    double *rep_val;  /* nrep x TUNE_MAXM */
    double *rep_par;  /* nrep x space.n: the parameters when reported (PBT changes them) */
    int nmetrics, mcol;
    int acol; /* column of the time attr among the metrics (-1: none yet) */
    char mname[TUNE_MAXM][64];
    gsl_rng *srng, *xrng; /* searcher, scheduler */
    int draining;
    double elapsed; /* seconds of earlier runs (resumes) */
    int nrungs;
    int64_t rung_t[TUNE_MAXRUNG];
    int smax; /* HyperBand: brackets s = smax..0 */
    int64_t pending_hint; /* every trial before it has ended (first_open) */
    int64_t lo_counts[6]; /* of those trials: how many of each status */
    int64_t lo_best;      /* and the best of them (-1: none) */
    int64_t spent; /* trial steps reported in all (conf.budget) */
    int hit;       /* a trial's best reached conf.target (sl_tune__note_best) */
    /* sl_tune_exp_load: trials it settled from a decision whose job had not
     * ended (a kill), whose directories the job's end did not tidy */
    int64_t *settled, nsettled;
    /* the text of results.csv's first csv_nrep reports (csv_nm metrics)
     * and of each trial's row of trials.csv, kept between writes (state.c) */
    char *csv_res;
    size_t csv_res_len;
    int64_t csv_nrep, csv_nrows;
    int csv_nm;
    struct tune_csvrow *csv_rows;
    /* ASHA: each rung's trials with a value there, best first (exp.c's
     * rung_set); ri_dead[k]: the first ri_dead[k] went past the rung or
     * ended; ri_valid 0: built again from rungval when next needed */
    int64_t *ri[TUNE_MAXRUNG], ri_n[TUNE_MAXRUNG], ri_cap[TUNE_MAXRUNG], ri_dead[TUNE_MAXRUNG];
    int ri_valid;
};
void sl_tune__csv_free(sl_tune_exp_t *e);

double sl_tune__fix(const sl_tune_param_t *p, double v);
double sl_tune__sample(const sl_tune_param_t *p, gsl_rng *r);
/* Suggest parameters for a new trial (index id) into x. */
sl_status_t sl_tune__suggest(sl_tune_exp_t *e, int64_t id, double *x);
/* Whether a is better than b under the mode; NAN is worst. */
int sl_tune__better(const sl_tune_exp_t *e, double a, double b);
/* A trial's best value is now v: notes whether it reached --target. */
void sl_tune__note_best(sl_tune_exp_t *e, double v);
/* Append a trial slot (parameters zeroed); returns its id or -1. */
int64_t sl_tune__add_trial(sl_tune_exp_t *e);
sl_status_t sl_tune__add_report(sl_tune_exp_t *e, int64_t trial, int64_t step, const double *vals);
/* Whether the scheduler counts steps (no --time-attr, or "step"). */
int sl_tune__by_step(const sl_tune_conf_t *c);
/* Whether scheduler s can count another resource than steps (it never
 * resumes a trial at a rung: fifo, asha-stop, median). */
int sl_tune__time_attr_ok(sl_tune_scheduler_t s);
/* The resource of stored report r: its step, or its time attr value. */
double sl_tune__rep_res(const sl_tune_exp_t *e, int64_t r);
const double *sl_tune__best_params(const sl_tune_exp_t *e, int64_t b);
/* Why a reported metric cannot be a column of results.csv (its name is a
 * parameter's, or trial, step or time: two columns of one name, which
 * plotting tools rename or drop), or NULL where it can. Such a metric is
 * not taken (sl_tune_exp_report skips it). */
const char *sl_tune__name_clash(const sl_tune_exp_t *e, const char *name);
/* Whether a metric value is infinite in the good direction (-inf with
 * --mode min, +inf with max): a diverged objective, not a result. It would
 * be the best for good, and best.json cannot hold it; it stays in
 * results.csv, and counts as a report without the metric. */
int sl_tune__inf_best(const sl_tune_exp_t *e, double v);

/* Runner: the messages between a trial's group and the coordinator. */
#define TUNE_INTERRUPT 9 /* decision: stop request, resume the trial later */
/* A job's outcome beside SL_TUNE_END_*: it failed for want of space (a rank
 * of its group got SL_ERR_NOSPACE). Not the trial's fault: the coordinator
 * keeps it to resume, as an interrupted one, and stops the experiment. */
#define TUNE_END_NOSPACE 4
/* tags on the world communicator (group <-> coordinator) */
/* int64[5]: ended trial (-1: none), outcome, checkpoint, failing group rank,
 * 1 when the leader left more than --keep-checkpoints reported checkpoints */
#define TAG_REQ    101
#define TAG_REPORT 102 /* tune_repmsg_t */
#define TAG_JOB    103 /* tune_jobmsg_t */
/* int64[4]: trial, decision, the trial's last step taken (the decided one),
 * the step up to which the leader may prune (taken and in experiment.h5);
 * SL_TUNE_CONTINUE: an answer to a report that asked for it */
#define TAG_DECIDE 104
/* tags on a group's communicator (leader <-> members) */
#define TAG_GJOB  201 /* tune_jobmsg_t */
#define TAG_GSTOP 202 /* int64[2]: trial, decision */
#define TAG_GSTAT 203 /* int64[2]: trial, outcome */

typedef struct {
    int64_t kind, trial, target, ckpt_step;
    int64_t saved_step; /* the trial's step in experiment.h5: pruning goes up to it at most */
    double time_prior; /* seconds the trial ran in earlier jobs (for time_total_s) */
    char trial_dir[1024];
    char resume[1600]; /* checkpoint to resume from, "" for none */
    double params[];   /* space.n values */
} tune_jobmsg_t;

typedef struct {
    int64_t trial, step;
    int32_t n;
    int32_t ask;               /* the leader asks which step rank 0 has taken (TAG_DECIDE) */
    char names[TUNE_MAXM][64]; /* as long as --metric and --time-attr may be */
    double v[TUNE_MAXM];
} tune_repmsg_t;

typedef struct tune_run tune_run_t;
/* Collective on the trial's group: TUNE_END_NOSPACE if st is SL_ERR_NOSPACE
 * on any rank of it, else failed (the outcome of a failed job). */
int tune_failed_outcome(tune_run_t *r, sl_status_t st, int failed);

/* The options of `sluice tune` (cli.c). */
typedef struct {
    char *objective, *command, *searcher, *scheduler, *metric, *mode, *out, *time_attr, *target;
    sl_strlist_t space;
    long trials, budget, max_t, min_t, rpt, seed, grace, min_samples, perturb, max_failures, keep, kill_grace;
    double eta, quantile, resample_p;
    int resume;
    /* mlp objective: sluice train options passed through */
    char *data, *eval_data, *device, *model, *optim;
    long epochs, batch;
    double lr, wd;
    /* ppo objective */
    char *env;
    long iter_steps, iterations;
} tune_opts_t;

/* Objectives. run is collective over the trial's group; it ends when the
 * objective ends or a decision stops it; *outcome_p gets SL_TUNE_END_*. */
typedef struct {
    const char *name;
    sl_status_t (*run)(tune_run_t *r, const tune_jobmsg_t *job, int *outcome_p);
    void (*fini)(void); /* at the experiment's end: free what runs kept (NULL: nothing) */
} tune_objective_t;
extern const tune_objective_t tune_objective_cmd;
extern const tune_objective_t tune_objective_mlp;
extern const tune_objective_t tune_objective_ppo;
/* ppo: 1 when the objective sets parameter `name`; *shape_p (may be NULL)
 * 1 when the checkpoint holds its shape (PBT copies it from the donor). */
int tune_ppo_known(const char *name, int *shape_p);
/* mlp: every parameter must be an option it sets or a {name} of --model
 * (SL_ERR_NOT_FOUND, *bad_p the parameter), every {name} of --model a
 * parameter (SL_ERR_INVALID, *bad_p its '{' in --model), optimizer a choice of
 * optimisers and batch numbers >= 1 (SL_ERR_MISMATCH, *bad_p the parameter),
 * a {name} whole numbers (SL_ERR_NUMERIC) that are layer widths, 1 to 2^24
 * (SL_ERR_UNSUPPORTED, *value_p the first that is not, as written). */
sl_status_t tune_mlp_check(const tune_opts_t *o, const sl_tune_space_t *s, const char **bad_p,
                           const char **value_p);
/* 1 when parameter `name` appears as {name} in --model (it shapes the model). */
int tune_mlp_shapes(const tune_opts_t *o, const char *name);
/* --model's template with each {name} replaced by the parameter's value. */
void tune_mlp_model_spec(const char *tpl, const sl_tune_space_t *s, const double *params, char *out,
                         size_t len);

/* For objectives: do the coordinator's and the leader's duties (cheap,
 * local); call often. */
void tune_service(tune_run_t *r);
/* Leader: a report from the running trial; returns the decision known so
 * far for it (SL_TUNE_CONTINUE, _STOP, _PAUSE, _EXPLOIT, TUNE_INTERRUPT). */
int tune_report(tune_run_t *r, int64_t trial, int64_t step, int n, const char *const *names,
                const double *vals);
/* The decision known so far for the running trial (leader), without a report. */
int tune_is_coordinator(const tune_run_t *r); /* world rank 0 */
int tune_decision(tune_run_t *r);
/* Group position and sizes, the options and the space. */
int tune_group_rank(const tune_run_t *r);
int tune_group_size(const tune_run_t *r);
/* The objective left nothing running that could still write in the
 * trial's directory: an empty one may be reused for the next trial. */
void tune_trial_dir_reusable(tune_run_t *r);
/* Leader: the trial failed because the copy on group rank grank failed
 * (named in the warning, with its log); 0, the default, is the leader's. */
void tune_trial_failed_on(tune_run_t *r, int grank);
/* 1 the first time this rank asks with what (a TUNE_ONCE_* bit), then 0:
 * a warning about a habit of the program, once for all its trials. */
#define TUNE_ONCE_STDERR_REPORT 1u
#define TUNE_ONCE_STEP_NOT_PAST 2u
#define TUNE_ONCE_MANY_METRICS  4u
int tune_first(tune_run_t *r, unsigned what);
MPI_Comm tune_group_comm(const tune_run_t *r);
/* The guard of the commands this rank starts (made at the first call):
 * should the rank die, it stops their process groups. */
sl_status_t tune_guard(tune_run_t *r, sl_guard_t **g_p);
const tune_opts_t *tune_opts(const tune_run_t *r);
const sl_tune_space_t *tune_space(const tune_run_t *r);
/* Collective over the group: before a job of an objective whose run keeps
 * its state in the file ckpt, the leader makes ckpt the checkpoint the job
 * resumes from (a hard link), or removes it for a fresh start. An error
 * (printed by the leader) on every rank. */
sl_status_t tune_ckpt_restore(tune_run_t *r, const tune_jobmsg_t *job, const char *ckpt);
/* Leader: keep ckpt as the trial's checkpoint-<step>.h5 (a hard link; the
 * run replaces ckpt by rename), before reporting step. */
void tune_ckpt_keep(const tune_jobmsg_t *job, const char *ckpt, int64_t step);
/* Sleep a little while waiting (shorter on the coordinator). */
void tune_nap(tune_run_t *r);

#endif
