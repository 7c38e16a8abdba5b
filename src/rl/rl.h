/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice rl: classic-control environments in C (gymnasium's dynamics),
 * vectorised environments with autoreset, PPO and DD-PPO over MPI ranks.
 * Environments are a small table of functions on a plain-old-data state, so
 * checkpoints save them as bytes and users add their own (examples/rl/).
 */
#ifndef SLUICE_RL_H
#define SLUICE_RL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An environment: a table of functions over a POD state of state_size
 * bytes. Observations are float32; dynamics may compute in double. */
typedef struct sl_rl_env {
    const char *name;
    int obs_dim;
    int n_actions;            /* discrete: number of actions; 0 for continuous */
    int act_dim;              /* continuous: action dimension; 0 for discrete */
    double act_low, act_high; /* continuous action bounds (the policy's output is clipped) */
    int max_steps;            /* time limit (truncation), gymnasium's max_episode_steps */
    size_t state_size;
    /* Draw an initial state from rng (gymnasium's reset distribution). */
    void (*reset)(void *state, gsl_rng *rng);
    /* One step. Discrete: action[0] holds the action index. Writes the
     * reward and whether the episode terminated (not truncated: the time
     * limit is the vectoriser's business). */
    void (*step)(void *state, const float *action, double *reward_p, int *terminated_p);
    /* Observation of a state, obs_dim floats. */
    void (*observe)(const void *state, float *obs);
} sl_rl_env_t;

/* The built-in environments. Local. */
extern const sl_rl_env_t sl_rl_env_cartpole, sl_rl_env_acrobot, sl_rl_env_mountaincar,
    sl_rl_env_mountaincar_cont, sl_rl_env_pendulum;
/* Find a built-in environment by name; NULL if unknown. Local. */
const sl_rl_env_t *sl_rl_env_find(const char *name);
/* Check a (user) environment's table is complete. Local. */
sl_status_t sl_rl_env_check(const sl_rl_env_t *env);
/* "CartPole-v1, Acrobot-v1, ..." into buf. */
const char *sl_rl_env_names(char *buf, size_t len);

/* State structs of the built-ins, public for tests and checkpoints. */
typedef struct {
    double x, x_dot, theta, theta_dot;
} sl_rl_cartpole_state_t;
typedef struct {
    double s[4]; /* theta1, theta2, dtheta1, dtheta2 */
} sl_rl_acrobot_state_t;
typedef struct {
    double position, velocity;
} sl_rl_mountaincar_state_t;
typedef struct {
    double th, thdot;
} sl_rl_pendulum_state_t;

/* N environments of one kind on this rank, reset automatically. */
typedef struct sl_rl_vecenv {
    const sl_rl_env_t *env;
    int n;
    unsigned char *states; /* n * env->state_size */
    int *ep_len;           /* steps in the current episode */
    double *ep_ret;        /* undiscounted return so far */
    float *obs;            /* n * obs_dim: current observations */
    gsl_rng *rng;          /* reset stream (seed, rank, "rl/env") */
    long delay_us;         /* test hook: spin this long per step (a straggler) */
} sl_rl_vecenv_t;

/* Per-step results of sl_rl_vecenv_step for env i. */
typedef struct {
    float *reward;       /* n */
    uint8_t *terminated; /* n */
    uint8_t *truncated;  /* n: time limit reached without termination */
    float *final_obs;    /* n * obs_dim: last observation of an episode that
                            ended (before the reset); else a copy of obs */
    /* Finished episodes in this step: count and their returns/lengths. */
    int n_done;
    double *done_return; /* n */
    int *done_len;       /* n */
} sl_rl_stepout_t;

/* Create n envs; resets all of them from the stream (seed, rank,
 * "rl/env"). Caller owns the result. Local. */
sl_status_t sl_rl_vecenv_create(const sl_rl_env_t *env, int n, uint64_t seed, int rank, sl_rl_vecenv_t **v_p);
void sl_rl_vecenv_destroy(sl_rl_vecenv_t **v);
/* Step all n envs with actions (n * max(act_dim,1) floats), resetting
 * finished ones; v->obs holds the next observations. Local. */
void sl_rl_vecenv_step(sl_rl_vecenv_t *v, const float *actions, sl_rl_stepout_t *out);
sl_status_t sl_rl_stepout_init(sl_rl_stepout_t *o, const sl_rl_env_t *env, int n);
void sl_rl_stepout_fini(sl_rl_stepout_t *o);

/* Generalised advantage estimation over a rollout of T steps (T may be
 * shorter than the buffer: a preempted rollout) for N envs; arrays are
 * [T][N]. Terminated steps bootstrap from 0, truncated ones from
 * boot_value (V of the episode's last observation), and neither carries
 * the GAE trace across the reset; the last step bootstraps from
 * last_value[N] (V of the observation after the rollout). Writes
 * advantages and returns (adv + value). Local, pure. */
void sl_rl_gae(int T, int N, const float *reward, const float *value, const uint8_t *terminated,
               const uint8_t *truncated, const float *boot_value, const float *last_value, double gamma,
               double lambda, float *adv, float *ret);

/* PPO loss settings. */
typedef struct {
    double clip;     /* surrogate clip (and value clip) */
    double ent_coef; /* entropy bonus */
    double vf_coef;  /* value loss weight */
    int clip_vloss;  /* clipped value loss as CleanRL */
} sl_rl_loss_opts_t;

/* Sums over the samples of one minibatch. */
typedef struct {
    double pg_loss, v_loss, entropy, approx_kl, clipfrac, n;
} sl_rl_loss_stats_t;

/* The PPO loss of n samples and its gradient with respect to the network
 * outputs, scaled by 1/denom (denom: the global minibatch size, so summing
 * the gradients over ranks gives the gradient of the global mean loss).
 * Categorical (logstd == NULL): out is n x k logits, act[i] the action
 * index. Gaussian: out is n x k means, logstd[k] the state-independent
 * log-std, act n x k the sampled (unclipped) actions; d_logstd[k] is
 * ADDED to. loss = mean(max(-A r, -A clip(r))) - ent_coef * mean(H) +
 * vf_coef * 0.5 * mean(max((v-R)^2, (v_clipped-R)^2)). adv must already be
 * normalised. Returns the loss sum/denom; adds to *stats. Local, pure. */
double sl_rl_ppo_loss(const sl_rl_loss_opts_t *o, int n, int k, const float *out, const float *logstd,
                      const float *value, const float *act, const float *old_logp, const float *adv,
                      const float *ret, const float *old_value, double denom, float *d_out, float *d_value,
                      double *d_logstd, sl_rl_loss_stats_t *stats);

/* Log-probability of an action (and the entropy) under a categorical
 * (logstd NULL; out = k logits) or diagonal Gaussian (out = k means).
 * Local, pure. */
double sl_rl_logprob(int k, const float *out, const float *logstd, const float *act, double *entropy_p);

/* The DD-PPO preemption rule: stop collecting after rollout step `step`
 * (1-based count of steps done) of T once step >= min_frac * T and more
 * than worker_frac of the `workers` have finished. Local, pure. */
int sl_rl_preempt_rule(int step, int T, long done_workers, int workers, double min_frac, double worker_frac);

/* What a training run tells its update callback after each update. */
typedef struct {
    int64_t update, global_step, episodes;
    double return_mean; /* of the last 100 episodes (NaN if none yet) */
    double sps;         /* environment steps per second in this update */
    double seconds;     /* since this run (or resume) started */
    int checkpointed;   /* ckpt.h5 now holds this update's state */
} sl_rl_update_info_t;

/* Everything a training run takes (`sluice rl train` fills it from its
 * option table). Strings are borrowed. Numbers < 0 where noted mean "the
 * environment's preset" (sl_rl_preset). */
typedef struct {
    const sl_rl_env_t *env; /* required */
    const char *out;        /* run directory: ckpt.h5, metrics.csv, summary.json */
    const char *device;     /* "cpu" | "cuda" */
    const char *hidden;     /* hidden layer widths, e.g. "64-64" */
    int shared;             /* one trunk for actor and critic (two heads) */
    int64_t total_steps;    /* global environment steps */
    int envs_per_rank;      /* N */
    int num_steps;          /* rollout length T */
    double lr;              /* Adam learning rate (linearly annealed to 0 if anneal_lr) */
    int anneal_lr;
    double gamma, gae_lambda;
    int minibatches, epochs;
    double clip, ent_coef, vf_coef, max_grad_norm;
    int clip_vloss;
    int norm_obs, norm_reward; /* running mean/std normalisation (continuous tasks) */
    double log_std_init;       /* Gaussian policies */
    uint64_t seed;
    int resume;
    int checkpoint_every; /* updates between checkpoints (and at the end) */
    int64_t checkpoint_steps; /* also a checkpoint when global_step passes a multiple of it (0: off) */
    /* Called on every rank after each update, once the update's checkpoint
     * (if any) is written; it may use the communicator collectively. A
     * non-zero return, which must be the same on every rank, ends the run
     * there as finished (SL_OK). NULL: none. (sluice tune's ppo objective
     * reports and takes its decisions here.) */
    int (*update_cb)(const sl_rl_update_info_t *u, void *arg);
    void *update_cb_arg;
    /* DD-PPO preemption of stragglers (only with more than one rank). */
    int preempt;
    double preempt_min_frac, preempt_worker_frac;
    /* Test hooks: rank `straggler_rank` spins delay_us per env step;
     * stop as a signal would after stop_after updates (0: off). */
    int straggler_rank;
    long straggler_delay_us;
    long stop_after;
    long test_nan_update; /* test hook: a NaN loss in this update (1-based; 0: off) */
    int test_nan_rank;    /* ... on this rank only (-1, the default: every rank) */
    double target_return; /* the step where return_mean first reaches it is reported */
    int stop_at_target;   /* and then stop */
    int quiet;
} sl_rl_train_opts_t;

/* Defaults: CleanRL ppo.py's (CartPole) for discrete tasks, rl-zoo-like
 * ones with normalisation for continuous tasks. Local. */
void sl_rl_train_opts_default(sl_rl_train_opts_t *o, const sl_rl_env_t *env);

typedef struct {
    int64_t global_step, updates;
    double return_mean;      /* of the last 100 episodes (NaN if none) */
    double first_reach_step; /* global step when return_mean first reached target (-1: never) */
    double seconds, sps;
    long preempted; /* rollouts cut short over the run */
} sl_rl_train_result_t;

/* Collective over comm: train PPO (DD-PPO with more than one rank) and
 * write out/ckpt.h5, out/metrics.csv and out/summary.json. Returns SL_OK,
 * SL_ERR_STOPPED after a stop request (checkpoint written, resume with
 * resume = 1), SL_ERR_NUMERIC on a NaN loss (last good checkpoint kept),
 * or another error; the same on every rank. res_p may be NULL. */
sl_status_t sl_rl_train(MPI_Comm comm, const sl_rl_train_opts_t *o, sl_rl_train_result_t *res_p);

/* Commands: `sluice rl train|eval`. */
sl_status_t sl_cmd_rl(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
