/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to src/rl: the actor-critic agent on train's networks, the
 * running normalisers, the DD-PPO done-counter window, and checkpoints. */
#ifndef SLUICE_RL_IMPL_H
#define SLUICE_RL_IMPL_H

#include "nn.h"
#include "rl.h"

/* Running mean/variance as gymnasium's RunningMeanStd (count starts 1e-4). */
typedef struct {
    int n;
    double *mean, *var, count;
} rl_rms_t;

sl_status_t rl_rms_init(rl_rms_t *r, int n);
void rl_rms_fini(rl_rms_t *r);
/* Merge a batch given by its count, mean and (population) variance. */
void rl_rms_merge(rl_rms_t *r, double count, const double *mean, const double *var);
/* Collective: merge the moments (count, sum, sum of squares per element)
 * accumulated by all ranks; resets the accumulators. */
sl_status_t rl_rms_merge_global(rl_rms_t *r, MPI_Comm comm, double *acc /* 1 + 2n */);

/* The CPU fast path over a train MLP (Linear-Tanh-...-Linear): forward
 * keeps the activations; backward ADDS into sl_nn_grads. */
#define RL_MLP_MAXL 8
typedef struct {
    sl_nn_t *nn;
    int L, n, cap;
    int in[RL_MLP_MAXL], out[RL_MLP_MAXL];
    size_t woff[RL_MLP_MAXL], boff[RL_MLP_MAXL];
    float *h[RL_MLP_MAXL + 1], *dh[2];
} rl_mlp_t;
sl_status_t rl_mlp_bind(rl_mlp_t *m, sl_nn_t *nn);
void rl_mlp_fini(rl_mlp_t *m);
sl_status_t rl_mlp_forward(rl_mlp_t *m, const float *x, int n, const float **y_p);
void rl_mlp_backward(rl_mlp_t *m, const float *dy);
float rl_tanh(float x);
/* Sum of squares (double accumulation) and in-place scaling of a host array. */
double rl_sumsq(const float *g, size_t n);
void rl_scale(float *g, size_t n, float c);

/* Actor and critic MLPs (tanh), orthogonal init, Adam on each (equivalent
 * to one Adam over all parameters), and the Gaussian log-std with its own
 * Adam moments (train's optimisers only see network arenas). */
typedef struct {
    int obs_dim, k, continuous;
    char actor_spec[256], critic_spec[256];
    sl_nn_t *actor, *critic;
    sl_nn_optim_t *aopt, *copt;
    float *logstd, *ls_grad; /* k */
    double *ls_m, *ls_v;     /* Adam moments of the log-std */
    int64_t ls_steps;
    double lr, beta1, beta2, eps;
    int fast;        /* CPU: the fast path below, else train's forward/backward */
    rl_mlp_t fa, fc; /* fast paths of actor and critic */
    float *packed;   /* fast path: all gradients for one all-reduce */
    int shared;      /* one trunk: actor has k + 1 outputs (value last), critic NULL */
    float *pi_buf, *v_buf, *dy_buf;
    int buf_cap;
    int attached; /* GPU: networks attached to the all-reduce (NCCL in backward) */
} rl_agent_t;

/* Forward / backward of the actor (critic = 0) or critic (1) through the
 * fast path or train's. Local. */
sl_status_t rl_net_forward(rl_agent_t *a, int critic, const float *x, int n, int train, const float **y_p);
sl_status_t rl_net_backward(rl_agent_t *a, int critic, const float *dy);

/* 1 if hidden is one or more widths in 1..1000000 joined by '-' ("64-64"). */
int rl_hidden_valid(const char *hidden);
/* Local: build the networks ("obs-H1-..-k" actor and "obs-H1-..-1" critic)
 * with gains sqrt 2 (hidden), 0.01 (policy head), 1 (value head) from the
 * stream (seed, 0, "rl/init"), the same on every rank. */
sl_status_t rl_agent_init(rl_agent_t *a, const sl_rl_env_t *env, const char *hidden, int shared,
                          sl_nn_device_t dev, uint64_t seed, double lr, double log_std_init);
/* Policy outputs (n x k) and values (n) of a batch, either may be NULL (not
 * wanted); the arrays stay valid until the next forward. backward takes
 * their gradients and ADDS into the networks' gradients. Local. */
sl_status_t rl_agent_forward(rl_agent_t *a, const float *obs, int n, int train, const float **pi_p,
                             const float **v_p);
sl_status_t rl_agent_backward(rl_agent_t *a, const float *d_pi, const float *d_v, int n);
void rl_agent_zero_grad(rl_agent_t *a);
/* Use (1) or not (0) the CPU fast path; on by default on the CPU. */
sl_status_t rl_agent_set_fast(rl_agent_t *a, int on);
void rl_agent_fini(rl_agent_t *a);
void rl_agent_set_lr(rl_agent_t *a, double lr);
/* Local: gradient clipping over actor, critic and log-std together. */
sl_status_t rl_agent_clip(rl_agent_t *a, double max_norm, double *norm_p);
/* Local: Adam steps of both networks and the log-std. */
sl_status_t rl_agent_step(rl_agent_t *a);
/* Collective: write / read the agent under "agent/" of an open file. */
sl_status_t rl_agent_save(rl_agent_t *a, sl_h5_t *h);
sl_status_t rl_agent_load(rl_agent_t *a, sl_h5_t *h);

/* Pick an action for each of n observations (greedy: argmax / mean),
 * writing actions (n x max(k,1) floats: unclipped for Gaussians) and
 * their log-probabilities (may be NULL). Local. */
sl_status_t rl_agent_act(rl_agent_t *a, const float *obs, int n, gsl_rng *rng, int greedy, float *act,
                         float *logp);

/* Environment action from a policy action: Gaussians are clipped to the
 * bounds (as gymnasium's ClipAction). */
void rl_env_action(const sl_rl_env_t *env, const float *act, int n, float *env_act);

/* Normalise observations in place with frozen statistics (clip +-10). */
void rl_normalize_obs(const rl_rms_t *r, float *obs, int n);

/* One minibatch of a rollout on this rank (n rows; adv not yet
 * normalised: it is, in place, with the global minibatch's statistics). */
typedef struct {
    const float *obs, *act, *logp;
    float *adv;
    const float *ret, *val;
} rl_batch_t;

/* Collective over comm: one PPO gradient step on the global minibatch made
 * of every rank's n rows (gsize rows in all): loss, backward, gradients
 * averaged through ar, global-norm clipping, Adam. d_out (n x k), d_val (n)
 * and ls_grad_d (k) are scratch. adv_stats: the global minibatch's
 * advantage count, sum and sum of squares if known (else NULL: one more
 * all-reduce). Adds to *ls; the gradient norm before
 * clipping in *gn_p. SL_ERR_NUMERIC (printed) on a NaN/Inf loss. */
sl_status_t rl_ppo_minibatch(rl_agent_t *a, MPI_Comm comm, sl_allreduce_t *ar, int n, double gsize,
                             const rl_batch_t *mb, float *d_out, float *d_val, double *ls_grad_d,
                             const sl_rl_loss_opts_t *lo, double max_grad_norm, int inject_nan,
                             const double *adv_stats, sl_rl_loss_stats_t *ls, double *gn_p);

#endif
