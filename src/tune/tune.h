/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice tune: hyperparameter tuning inside one MPI job. A search space, a
 * searcher (grid, random, TPE) and a scheduler (FIFO, ASHA, HyperBand,
 * median stopping, PBT) drive trials that run on groups of ranks; the whole
 * experiment lives in EXPDIR/experiment.h5, always consistent.
 *
 * The experiment object (sl_tune_exp_t) is the coordinator's logic alone: it
 * holds the trial table and decides, with no MPI and no clock, so tests can
 * drive it by hand. sl_cmd_tune wires it to ranks, objectives and files.
 */
#ifndef SLUICE_TUNE_H
#define SLUICE_TUNE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Search space. */
typedef enum {
    SL_TUNE_UNIFORM,
    SL_TUNE_LOGUNIFORM,
    SL_TUNE_RANDINT, /* integers lo..hi inclusive */
    SL_TUNE_CHOICE,  /* one of the listed values (numbers or words) */
    SL_TUNE_GRID,    /* like choice; the grid searcher crosses them */
} sl_tune_kind_t;

typedef struct {
    char name[64];
    sl_tune_kind_t kind;
    double lo, hi, q;  /* q > 0: quantised (quniform, qloguniform, qrandint) */
    int nvalues;       /* choice/grid */
    char **values;     /* choice/grid values as written */
    double *numvalues; /* their numeric value, NAN for words */
} sl_tune_param_t;

typedef struct {
    int n;
    sl_tune_param_t *p;
} sl_tune_space_t;

/* Parse one expression "name=kind(args)" and add it to the space. where: a
 * prefix for messages ("--space", "file.cfg:12"). Errors name the expression
 * and the 1-based position. Local. */
sl_status_t sl_tune_space_add(sl_tune_space_t *s, const char *expr, const char *where);
void sl_tune_space_fini(sl_tune_space_t *s);
/* A canonical text of the space, to check a resume uses the same one.
 * Caller frees. */
char *sl_tune_space_string(const sl_tune_space_t *s);
/* A parameter value as text for substitution (choice: the word). */
void sl_tune_value_text(const sl_tune_param_t *p, double v, char *buf, size_t len);
/* The number a value stands for: for choice and grid, the numeric value of
 * the option it indexes (NAN for a word); otherwise v itself. */
double sl_tune_value_num(const sl_tune_param_t *p, double v);
/* Number of grid points over grid and choice parameters (0 if a parameter
 * is continuous). */
double sl_tune_grid_size(const sl_tune_space_t *s);

typedef enum { SL_TUNE_SEARCH_GRID, SL_TUNE_SEARCH_RANDOM, SL_TUNE_SEARCH_TPE } sl_tune_searcher_t;
typedef enum {
    SL_TUNE_FIFO,
    SL_TUNE_ASHA,      /* promotion form */
    SL_TUNE_ASHA_STOP, /* stopping form */
    SL_TUNE_HYPERBAND,
    SL_TUNE_MEDIAN,
    SL_TUNE_PBT,
} sl_tune_scheduler_t;

typedef enum {
    SL_TUNE_PENDING = 0, /* waiting for a group (new, resumed, promoted, retried) */
    SL_TUNE_RUNNING = 1,
    SL_TUNE_PAUSED = 2,  /* ASHA/HyperBand: at a rung, may be promoted */
    SL_TUNE_DONE = 3,    /* ran to its end */
    SL_TUNE_PRUNED = 4,  /* stopped early by the scheduler */
    SL_TUNE_ERRORED = 5, /* its objective failed more than --max-failures times */
} sl_tune_status_t;
const char *sl_tune_status_name(int st);

typedef struct {
    int64_t id;
    int status;
    int64_t step;       /* last reported step */
    int64_t target;     /* resource to run to in the current job (-1: to the end) */
    int64_t ckpt_step;  /* step of the checkpoint to resume from (-1: none) */
    int64_t from_trial; /* PBT: copy this trial's checkpoint before the next job (-1) */
    int64_t from_step;
    double last, best; /* last and best value of the metric (NAN: none yet) */
    double res;        /* last value of the resource (--time-attr; NAN: none yet) */
    int64_t best_step;
    int64_t nreports;
    int failures;
    int rung, bracket; /* ASHA/HyperBand position */
    int promoted;      /* ASHA: promoted out of its rung */
    int group;         /* group running it (-1) */
    double *params;    /* numeric value or choice index, per parameter */
} sl_tune_trial_t;

typedef struct {
    sl_tune_searcher_t searcher;
    sl_tune_scheduler_t scheduler;
    char metric[64];
    int maximize;
    int64_t trials;     /* number of trials (grid: 0 means the whole grid) */
    int64_t budget;     /* trial steps in all (trial-epochs for mlp): once the reports add up to
                           it, running trials stop and nothing starts; 0: none */
    double target;      /* once a trial's metric reaches it (at or past, by the mode), running
                           trials stop and nothing starts; NAN: none */
    char time_attr[64]; /* the resource max_t, min_t and grace count: "" (or "step") for the
                           report's step, else a reported metric that grows, such as
                           time_total_s (the runner's seconds of the trial) */
    int64_t max_t;      /* maximum resource of a trial; 0: unbounded */
    int64_t min_t;      /* ASHA minimum resource / grace period */
    double eta;         /* reduction factor (ASHA 4, HyperBand 3) */
    int64_t grace;      /* median: grace period (resource) */
    int min_samples;    /* median: trials needed before stopping */
    int64_t perturb;    /* PBT: perturbation interval in steps */
    double quantile;    /* PBT: bottom/top quantile (0.25) */
    double resample_p;  /* PBT: resampling probability (0.25) */
    uint64_t pbt_keep;  /* PBT: bit i set: the space's i-th parameter is copied from the
                           donor unexplored (it shapes the model the checkpoint holds) */
    int max_failures;   /* retries of a failed trial */
    int tpe_startup;    /* TPE: random trials first (10) */
    int tpe_candidates; /* TPE: EI candidates (24) */
    uint64_t seed;
    char objective[16]; /* what the trials run ("cmd", "mlp", "ppo"), kept in experiment.h5:
                           a resume with another is refused; "": not checked */
} sl_tune_conf_t;
void sl_tune_conf_default(sl_tune_conf_t *c);

/* What a group should do next. */
typedef struct {
    int kind; /* SL_TUNE_JOB_RUN, _WAIT (nothing runnable now), _DONE */
    int64_t trial;
    int64_t target;     /* run until this step (-1: to the end) */
    int64_t ckpt_step;  /* resume from this checkpoint step (-1: fresh start) */
    int64_t from_trial; /* PBT: copy that trial's checkpoint at from_step first */
    int64_t from_step;
} sl_tune_job_t;
#define SL_TUNE_JOB_RUN  0
#define SL_TUNE_JOB_WAIT 1
#define SL_TUNE_JOB_DONE 2

/* Decisions on a report. */
#define SL_TUNE_CONTINUE 0
#define SL_TUNE_STOP     1 /* pruned (or reached max_t: done) */
#define SL_TUNE_PAUSE    2 /* reached its rung target */
#define SL_TUNE_EXPLOIT  3 /* PBT: stop; the trial restarts from another's checkpoint */

/* How a job ended. */
#define SL_TUNE_END_OK          0 /* the objective finished (or stopped as asked) */
#define SL_TUNE_END_FAILED      1 /* it failed */
#define SL_TUNE_END_INTERRUPTED 2 /* stop request: resume it later */
#define SL_TUNE_END_SELF                                                                                     \
    3 /* it finished by itself (ran its whole length; a program                                              \
         exited 0 unsignalled): a pause decided on its last                                                  \
         report, or an exploit from a donor no further on, leaves                                            \
         it done */

typedef struct sl_tune_exp sl_tune_exp_t;

/* Create the coordinator's logic. Takes ownership of *space (zeroes it).
 * Local. Free with sl_tune_exp_destroy. */
sl_status_t sl_tune_exp_create(const sl_tune_conf_t *conf, sl_tune_space_t *space, sl_tune_exp_t **e_p);
void sl_tune_exp_destroy(sl_tune_exp_t **e);
/* The next job for a group (trial marked running with that group). */
sl_status_t sl_tune_exp_next(sl_tune_exp_t *e, int group, sl_tune_job_t *job_p);
/* A report of trial at step with metrics; *decision_p is one of the
 * decisions above. Reports at a step not after the last are ignored, and
 * so are metrics named like a parameter or trial, step, time (columns of
 * results.csv). */
sl_status_t sl_tune_exp_report(sl_tune_exp_t *e, int64_t trial, int64_t step, int n, const char *const *names,
                               const double *values, int *decision_p);
/* The job of trial ended with outcome (SL_TUNE_END_*); last_ckpt: the
 * newest checkpoint step it left (-1 none). */
sl_status_t sl_tune_exp_end(sl_tune_exp_t *e, int64_t trial, int outcome, int64_t last_ckpt);
/* Stop handing out new trials (stop request); running ones come back
 * pending when they end interrupted. */
void sl_tune_exp_drain(sl_tune_exp_t *e);
/* Whether everything is settled (no pending or running trial left). */
int sl_tune_exp_finished(const sl_tune_exp_t *e);
/* Whether the experiment has run its course: finished, the trial budget
 * used, nothing paused that could still be promoted. */
int sl_tune_exp_complete(const sl_tune_exp_t *e);

/* Inspection (the trial table is owned by e). */
int64_t sl_tune_exp_ntrials(const sl_tune_exp_t *e);
const sl_tune_trial_t *sl_tune_exp_trial(const sl_tune_exp_t *e, int64_t id);
const sl_tune_space_t *sl_tune_exp_space(const sl_tune_exp_t *e);
const sl_tune_conf_t *sl_tune_exp_conf(const sl_tune_exp_t *e);
/* The earliest stored report whose metric reached conf.target (-1: none). */
int64_t sl_tune_exp_target_report(const sl_tune_exp_t *e);
/* Best trial by the metric (-1 if none reported it). */
int64_t sl_tune_exp_best(const sl_tune_exp_t *e);
/* Counts by status into counts[6]. */
void sl_tune_exp_counts(const sl_tune_exp_t *e, int64_t counts[6]);

/* State files (local: the coordinator writes them alone). Save writes
 * DIR/experiment.h5 atomically (and results.csv, trials.csv); load reads
 * one back and checks it matches conf and space. */
sl_status_t sl_tune_exp_save(sl_tune_exp_t *e, const char *dir);
sl_status_t sl_tune_exp_load(const sl_tune_conf_t *conf, sl_tune_space_t *space, const char *dir,
                             sl_tune_exp_t **e_p);

/* `sluice tune`. Collective. */
sl_status_t sl_cmd_tune(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
