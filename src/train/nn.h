/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice train (<sluice/nn.h>): a small neural-network library (f32 MLPs)
 * with CPU (OpenBLAS), reference and CUDA backends, optimisers, LR
 * schedules, data-parallel gradient reduction over the core all-reduce,
 * HDF5 checkpoints, and a callable training run for tune and the CLI.
 *
 * Conventions: functions return sl_status_t; "local" functions touch only
 * this rank's objects; "collective" ones must be called on every rank of
 * the communicator named and return the same status everywhere. Parameters
 * and gradients are host float arrays in one arena per model (flat views
 * below); the CUDA backend keeps device copies and syncs them on demand.
 */
#ifndef SLUICE_NN_H
#define SLUICE_NN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ devices */

typedef enum {
    SL_NN_CPU = 0,  /* OpenBLAS sgemm + own loops */
    SL_NN_CUDA = 1, /* cuBLAS + own kernels (needs a GPU at run time) */
    SL_NN_REF = 2,  /* plain loops: the oracle in tests */
} sl_nn_device_t;

/* Parse "cpu|cuda|ref". Local. */
sl_status_t sl_nn_device_parse(const char *s, sl_nn_device_t *dev_p);
const char *sl_nn_device_name(sl_nn_device_t dev);
/* Local: whether the device can be used here (CUDA: built in and a GPU
 * visible). SL_ERR_UNSUPPORTED with a clear message ("no CUDA device")
 * printed by the caller's choice: this function does not print. */
sl_status_t sl_nn_device_check(sl_nn_device_t dev);
/* Local: BLAS threads per rank for the CPU backend (OpenBLAS). */
void sl_nn_set_threads(int threads);

/* ------------------------------------------------------------- models */

typedef struct sl_nn sl_nn_t;

typedef enum {
    SL_NN_LINEAR = 0,
    SL_NN_RELU,
    SL_NN_TANH,
    SL_NN_GELU, /* tanh approximation, as PyTorch's approximate="tanh" */
    SL_NN_DROPOUT,
    SL_NN_LAYERNORM,
} sl_nn_layer_kind_t;

/* Create a model from a spec string. Local. Grammar:
 *   mlp:IN-H1-...-OUT[:ACT][:ln][:dropout=P][:init=kaiming|orthogonal]
 * ACT is relu (default), tanh or gelu, applied after every hidden Linear
 * (never after the last). ":ln" puts a LayerNorm before each hidden
 * activation; ":dropout=P" a Dropout after it. Linear layers are named
 * fc1, fc2, ...; LayerNorms ln1, ...; parameters "weight" (out x in,
 * row-major, as PyTorch) and "bias". Weights are initialised with Kaiming
 * uniform (relu/gelu; as PyTorch's nn.Linear default) or orthogonal
 * (gain sqrt(2) for relu, 5/3 for tanh, 1 for the output layer) from the
 * stream (seed, 0, "nn-init"); biases are zero. The caller owns the model:
 * free with sl_nn_destroy. SL_ERR_INVALID (printed) for a bad spec. */
sl_status_t sl_nn_create(const char *spec, sl_nn_device_t dev, uint64_t seed, sl_nn_t **nn_p);
/* Build a model layer by layer: create empty, add layers, then build
 * (allocates the arena and initialises as sl_nn_create does). Local. */
sl_status_t sl_nn_create_empty(int in_features, sl_nn_device_t dev, sl_nn_t **nn_p);
sl_status_t sl_nn_add(sl_nn_t *nn, sl_nn_layer_kind_t kind, int out_features /* Linear only */,
                      double p /* Dropout */);
sl_status_t sl_nn_build(sl_nn_t *nn, uint64_t seed);
void sl_nn_destroy(sl_nn_t **nn);

/* The spec (as given, or "layers:..." for built models). Owned by nn. */
const char *sl_nn_spec(const sl_nn_t *nn);
sl_nn_device_t sl_nn_device(const sl_nn_t *nn);
int sl_nn_in_features(const sl_nn_t *nn);
int sl_nn_out_features(const sl_nn_t *nn);
int sl_nn_num_layers(const sl_nn_t *nn);
sl_nn_layer_kind_t sl_nn_layer_kind(const sl_nn_t *nn, int layer);
/* Number of Linear layers (fc1..fcK) and index of the i-th in the stack. */
int sl_nn_num_linear(const sl_nn_t *nn);

/* Flat views of all parameters and their gradients: the same order and
 * length (sl_nn_num_params). Host memory owned by nn. After writing into
 * sl_nn_params on the CUDA device call sl_nn_params_changed; before
 * reading sl_nn_grads there call sl_nn_grads_sync. Local. */
size_t sl_nn_num_params(const sl_nn_t *nn);
float *sl_nn_params(sl_nn_t *nn);
float *sl_nn_grads(sl_nn_t *nn);
sl_status_t sl_nn_params_changed(sl_nn_t *nn);
sl_status_t sl_nn_grads_sync(sl_nn_t *nn);

/* Named parameter tensors (e.g. "fc1/weight"): i in [0, num_tensors). */
typedef struct {
    const char *name; /* "<layer>/<param>", owned by nn */
    size_t offset;    /* into the flat arrays */
    int rows, cols;   /* weight: out x in; bias and LayerNorm: 1 x n */
} sl_nn_tensor_info_t;
int sl_nn_num_tensors(const sl_nn_t *nn);
sl_status_t sl_nn_tensor_info(const sl_nn_t *nn, int i, sl_nn_tensor_info_t *info_p);

/* Re-initialise Linear layer `linear` (0-based among fc1..fcK): orthogonal
 * weight with `gain` (as torch.nn.init.orthogonal_), zero bias. Local. */
sl_status_t sl_nn_init_orthogonal(sl_nn_t *nn, int linear, double gain, gsl_rng *rng);
/* Kaiming uniform (PyTorch nn.Linear default, a = sqrt(5)) for weight and
 * bias of Linear layer `linear`. Local. */
sl_status_t sl_nn_init_kaiming(sl_nn_t *nn, int linear, gsl_rng *rng);
/* Seed the model's own dropout stream: (seed, rank, "nn-dropout"). Local. */
sl_status_t sl_nn_seed_dropout(sl_nn_t *nn, uint64_t seed, int rank);

/* ---------------------------------------------------- forward/backward */

/* Forward a batch x (n x in, row-major, host) and return the output
 * (n x out, host, owned by nn, valid until the next forward). train != 0
 * keeps the activations for backward and enables dropout. Local. */
sl_status_t sl_nn_forward(sl_nn_t *nn, const float *x, int64_t n, int train, const float **y_p);
/* Backward of the last training forward from dy = dL/doutput (n x out,
 * host): ADDS the parameter gradients into sl_nn_grads (call
 * sl_nn_zero_grad first) and, if dx is not NULL, writes dL/dx (n x in).
 * With an all-reduce attached, gradient buckets are started here as their
 * layers finish (see sl_nn_attach_allreduce). Local unless attached. */
sl_status_t sl_nn_backward(sl_nn_t *nn, const float *dy, float *dx);
void sl_nn_zero_grad(sl_nn_t *nn);

/* ------------------------------------------------------------- losses */

typedef enum {
    SL_NN_XENT = 0, /* softmax cross-entropy; target int32 class ids */
    SL_NN_MSE = 1,  /* mean over outputs of squared error; target float n x k */
} sl_nn_loss_kind_t;

/* Loss over a batch y (n x k). Returns in *loss_sum_p the SUM over the n
 * samples of the per-sample loss (double), in dy (may be NULL) scale times
 * the derivative of that sum (so scale = 1/global_batch gives the gradient
 * of the mean), and in *correct_p (may be NULL; XENT only) the number of
 * samples whose argmax equals the label. SL_ERR_INVALID (printed) for a
 * label outside [0, k). Local. */
sl_status_t sl_nn_loss(sl_nn_loss_kind_t kind, const float *y, const void *target, int64_t n, int k,
                       double scale, double *loss_sum_p, float *dy, int64_t *correct_p);

/* --------------------------------------------------------- optimisers */

typedef enum { SL_NN_SGD = 0, SL_NN_ADAM = 1, SL_NN_ADAMW = 2 } sl_nn_optim_kind_t;

typedef struct {
    sl_nn_optim_kind_t kind;
    double lr;
    double momentum;     /* SGD */
    int nesterov;        /* SGD */
    double weight_decay; /* SGD, Adam: L2 added to the gradient; AdamW: decoupled */
    double beta1, beta2, eps;
} sl_nn_optim_opts_t;

/* Defaults as PyTorch: lr 1e-3, betas 0.9/0.999, eps 1e-8, AdamW weight
 * decay 0.01, everything else 0. Local. */
void sl_nn_optim_opts_default(sl_nn_optim_opts_t *o, sl_nn_optim_kind_t kind);
sl_status_t sl_nn_optim_parse(const char *s, sl_nn_optim_kind_t *kind_p);

typedef struct sl_nn_optim sl_nn_optim_t;
/* An optimiser for nn's parameters (the state has the arena's layout).
 * Caller owns it; it must not outlive nn. Local. */
sl_status_t sl_nn_optim_create(sl_nn_t *nn, const sl_nn_optim_opts_t *o, sl_nn_optim_t **opt_p);
void sl_nn_optim_destroy(sl_nn_optim_t **opt);
void sl_nn_optim_set_lr(sl_nn_optim_t *opt, double lr);
double sl_nn_optim_lr(const sl_nn_optim_t *opt);
int64_t sl_nn_optim_steps(const sl_nn_optim_t *opt);
/* One update of the parameters from the current gradients (as PyTorch's
 * SGD/Adam/AdamW step). Local. */
sl_status_t sl_nn_optim_step(sl_nn_optim_t *opt);

/* Global L2 norm of all gradients (double accumulation). Local. */
double sl_nn_grad_norm(sl_nn_t *nn);
/* Scale gradients so their global norm is at most max_norm (as
 * torch.nn.utils.clip_grad_norm_); the norm before clipping in *norm_p
 * (may be NULL). SL_ERR_NUMERIC (not printed) if the norm is NaN/Inf. */
sl_status_t sl_nn_clip_grad_norm(sl_nn_t *nn, double max_norm, double *norm_p);

/* ------------------------------------------------------ LR schedules */

typedef enum {
    SL_NN_SCHED_CONSTANT = 0,
    SL_NN_SCHED_STEP,   /* lr * gamma^floor(step / step_size) */
    SL_NN_SCHED_COSINE, /* linear warm-up, then cosine from lr to min_lr */
    SL_NN_SCHED_LINEAR, /* linear warm-up, then linear from lr to min_lr */
} sl_nn_sched_kind_t;

typedef struct {
    sl_nn_sched_kind_t kind;
    int64_t warmup;    /* steps */
    int64_t step_size; /* STEP: steps between decays */
    double gamma;      /* STEP */
    double min_lr;     /* COSINE/LINEAR: final lr */
} sl_nn_sched_t;

/* Parse "constant", "step:STEPS:GAMMA", "cosine[:WARMUP[:MIN_LR]]",
 * "linear[:WARMUP[:MIN_LR]]". Local; SL_ERR_USAGE (not printed) if bad. */
sl_status_t sl_nn_sched_parse(const char *s, sl_nn_sched_t *sched_p);
/* LR for step (0-based) of total_steps. Local, pure. */
double sl_nn_sched_lr(const sl_nn_sched_t *s, double base_lr, int64_t step, int64_t total_steps);

/* ------------------------------------------------------ data parallel */

/* Collective over ar: average the gradients over ar's ranks (one
 * all-reduce of the flat gradient array). */
sl_status_t sl_nn_grad_allreduce(sl_nn_t *nn, sl_allreduce_t *ar);
/* Attach an all-reduce: from now on sl_nn_backward starts averaging
 * gradient buckets (first_bucket floats for the last layer's gradients,
 * then buckets of `bucket` floats; 0 picks defaults) as soon as the layers
 * producing them are done, and sl_nn_grad_wait completes them. ar NULL
 * detaches. The all-reduce must outlive the attachment. Local. */
sl_status_t sl_nn_attach_allreduce(sl_nn_t *nn, sl_allreduce_t *ar, size_t first_bucket, size_t bucket);
/* Collective over the attached all-reduce: wait for every bucket started
 * by the last backward. SL_OK at once when nothing is attached. */
sl_status_t sl_nn_grad_wait(sl_nn_t *nn);

/* -------------------------------------------------------- checkpoints */

/* Collective over h's communicator (the model and optimiser must be the
 * same on all ranks): write <prefix>model/<layer>/<param> (float32),
 * attributes spec, num_params on <prefix>model, and, if opt is not NULL,
 * the optimiser state under <prefix>optim/ (kind, lr, step, moments in the
 * arena layout). prefix "" or e.g. "policy/". h was opened by the caller
 * with sl_h5_create; it commits. */
sl_status_t sl_nn_save(sl_nn_t *nn, const sl_nn_optim_t *opt, sl_h5_t *h, const char *prefix);
/* Collective: read weights (and optimiser state when opt is not NULL) from
 * a file written by sl_nn_save. SL_ERR_MISMATCH (printed by rank 0) if the
 * stored spec or shapes differ from nn's. */
sl_status_t sl_nn_load(sl_nn_t *nn, sl_nn_optim_t *opt, sl_h5_t *h, const char *prefix);
/* Collective: create a model from the spec stored under <prefix>model and
 * load its weights. Caller owns the model. */
sl_status_t sl_nn_create_from_h5(sl_h5_t *h, const char *prefix, sl_nn_device_t dev, sl_nn_t **nn_p);

/* --------------------------------------------------------------- data */

/* A dataset file: /X float32 N x F, /y int32 N (labels) or float32 N x K
 * (targets). Collective open; the handle is per rank. */
typedef struct sl_nn_data sl_nn_data_t;
sl_status_t sl_nn_data_open(MPI_Comm comm, const char *path, sl_nn_data_t **d_p);
void sl_nn_data_close(sl_nn_data_t **d);
int64_t sl_nn_data_rows(const sl_nn_data_t *d);
int sl_nn_data_features(const sl_nn_data_t *d);
/* 0 for int32 labels, else the width K of float32 targets. */
int sl_nn_data_target_width(const sl_nn_data_t *d);
/* Collective: read rows [row0, row0+n) of X (n x F) and y (n or n x K). */
sl_status_t sl_nn_data_read(sl_nn_data_t *d, int64_t row0, int64_t n, float *x, void *y);

/* The global order of epoch `epoch`: a permutation of [0, n) from the
 * stream (seed, 0, "nn-shuffle-<epoch>"), the same on every rank and for
 * every rank count. Local, pure. */
void sl_nn_shuffle(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm);

/* Collective over comm: convert IDX files (MNIST format; ".gz" read
 * through zlib) to an HDF5 dataset, pixels scaled to [0, 1], labels int32.
 * Rank 0 converts; written atomically. */
sl_status_t sl_nn_import_idx(MPI_Comm comm, const char *images, const char *labels, const char *output);
/* Collective: CSV with one sample per line (optional header), label in
 * column label_col (0-based; -1: last column) unless targets > 0, in
 * which case the last `targets` columns are float targets. scale
 * multiplies the features (e.g. 1/255). */
sl_status_t sl_nn_import_csv(MPI_Comm comm, const char *csv, const char *output, int label_col, int targets,
                             double scale);

/* --------------------------------------------------------- training run */

/* Everything `sluice train` takes; the command's option table fills it.
 * Strings are borrowed. sl_nn_train_opts_default sets the defaults. */
typedef struct {
    const char *data;      /* training set (required) */
    const char *eval;      /* evaluation set or NULL */
    const char *model;     /* spec, e.g. "mlp:784-256-128-10" */
    const char *out;       /* run directory (required): ckpt.h5, metrics.csv, summary.json */
    const char *optimizer; /* "adam" | "adamw" | "sgd" */
    const char *schedule;  /* see sl_nn_sched_parse; NULL: constant */
    const char *loss;      /* "xent" | "mse"; NULL: xent for int labels, mse for targets */
    const char *device;    /* "cpu" | "cuda" | "ref" */
    long epochs, batch;    /* batch is the global batch over all ranks */
    double lr, momentum, weight_decay, beta1, beta2, eps, clip; /* clip <= 0: off;
                                   weight_decay < 0: the optimiser's default */
    int nesterov;
    long seed, threads;
    long ckpt_steps; /* checkpoint every N steps too (0: per epoch only) */
    long log_steps;  /* a row in out/steps.csv every N steps (0: none) */
    long shards;     /* gradient shards per global batch (exact mode), 0: auto */
    int exact;       /* 1: reduce in a fixed tree (P ranks == 1 rank bit for bit) */
    int resume;      /* continue from out/ckpt.h5 if present */
    int quiet;       /* no progress lines */
    long max_steps;  /* test hook: stop (as a signal would) after N steps; 0: off */
    /* Called on every rank before each step's agreement; nonzero on any
     * rank ends the run after that step as the epoch callback's stop does
     * (no checkpoint of the partial epoch). A tuner drops a pruned trial
     * this way without finishing the epoch. NULL: none. */
    int (*step_poll)(void *arg);
    void *step_poll_arg;
    /* 1: keep the data slices read in this process for the next run on the
     * same files (a tuner's trials), in private memory rather than a node's
     * shared window; sl_nn_train_forget_data frees them */
    int keep_data;
} sl_nn_train_opts_t;
typedef sl_nn_train_opts_t sl_train_opts_t;

void sl_nn_train_opts_default(sl_nn_train_opts_t *o);

typedef struct {
    int64_t epoch;        /* 1-based epoch just finished */
    int64_t step;         /* optimiser steps so far */
    double train_loss;    /* mean over the epoch's samples */
    double eval_loss;     /* NaN without an eval set */
    double eval_accuracy; /* NaN without an eval set or for MSE */
    double lr;            /* LR at the end of the epoch */
    double samples_per_s; /* training throughput of the epoch (evaluation excluded) */
    double seconds;       /* wall time of the epoch */
} sl_nn_train_metrics_t;

/* Called on every rank after each epoch (metrics identical on all ranks)
 * and after the epoch's checkpoint is written; return nonzero to stop the
 * run early (rank 0's answer counts). */
typedef int (*sl_nn_epoch_fn)(const sl_nn_train_metrics_t *m, void *arg);

typedef struct {
    sl_nn_train_metrics_t last; /* the last epoch's metrics */
    int64_t epochs_done;        /* epochs completed in total (resumes included) */
    int stopped_early;          /* the callback asked to stop */
    int resumed;                /* started from a checkpoint */
} sl_nn_train_result_t;

/* Collective over comm (any communicator, e.g. a tune trial's split):
 * train as `sluice train` does, writing out/ckpt.h5 (every epoch, every
 * ckpt_steps, and on a stop request), out/metrics.csv and
 * out/summary.json. Returns SL_OK (also when the callback stopped it),
 * SL_ERR_STOPPED after a stop request (checkpoint written; resume with
 * resume = 1), SL_ERR_NUMERIC if the loss became NaN/Inf (the last good
 * checkpoint stays), or another error; the same on every rank. res_p may
 * be NULL. */
sl_status_t sl_nn_train_run(MPI_Comm comm, const sl_nn_train_opts_t *o, sl_nn_epoch_fn cb, void *cb_arg,
                            sl_nn_train_result_t *res_p);
/* Free the data kept by runs with keep_data (local). */
void sl_nn_train_forget_data(void);

/* ---------------------------------------------------------- commands */

sl_status_t sl_cmd_train(MPI_Comm comm, int argc, char **argv);
sl_status_t sl_cmd_predict(MPI_Comm comm, int argc, char **argv);
sl_status_t sl_cmd_data(MPI_Comm comm, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
