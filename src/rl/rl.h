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
    long delay_us;         /* test hook: sleep per step (a straggler) */
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

/* Commands: `sluice rl train|eval`. */
sl_status_t sl_cmd_rl(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
