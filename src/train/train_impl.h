/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations of sluice train: the model layout (one parameter
 * arena, one gradient arena, per-layer activation buffers in backend
 * memory) and the backend function table (reference, CPU, CUDA). */
#ifndef SLUICE_TRAIN_IMPL_H
#define SLUICE_TRAIN_IMPL_H

#include "nn.h"

#include <stdint.h>

/* The CUDA backend is built whenever configure found CUDA (kernels.cu). */
#ifdef SL_HAVE_CUDA
#define SL_NN_CUDA_BACKEND 1
#endif

/* Row-major matrix products and the elementwise work of the layers. All
 * pointers are backend memory (host for ref/cpu, device for cuda). */
typedef struct sl_nn_backend {
    const char *name;
    sl_status_t (*alloc)(float **p, size_t n); /* zeroed */
    void (*free)(float *p);
    sl_status_t (*upload)(float *dst, const float *src, size_t n);
    sl_status_t (*download)(float *dst, const float *src, size_t n);
    sl_status_t (*copy)(float *dst, const float *src, size_t n); /* within the backend */
    /* C(MxN) = alpha op(A) op(B) + beta C */
    void (*gemm)(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);
    void (*bias_fwd)(float *y, const float *b, int64_t n, int m);   /* y[i,:] += b */
    void (*bias_bwd)(float *db, const float *dy, int64_t n, int m); /* db += sum_i dy[i,:] */
    void (*act_fwd)(sl_nn_layer_kind_t k, const float *x, float *y, size_t n);
    /* dx = dy * f'(x) (y = f(x) given too) */
    void (*act_bwd)(sl_nn_layer_kind_t k, const float *x, const float *y, const float *dy, float *dx,
                    size_t n);
    void (*mul)(const float *a, const float *b, float *out, size_t n); /* dropout masks */
    void (*ln_fwd)(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                   int64_t n, int m);
    void (*ln_bwd)(const float *x, const float *dy, const float *g, const float *mean, const float *rstd,
                   float *dx, float *dg, float *db, int64_t n, int m);
    void (*add)(float *dst, const float *src, size_t n); /* dst += src */
    sl_status_t (*sync)(void);
} sl_nn_backend_t;

extern const sl_nn_backend_t sl_nn_backend_ref;
extern const sl_nn_backend_t sl_nn_backend_cpu;
#ifdef SL_NN_CUDA_BACKEND
extern const sl_nn_backend_t sl_nn_backend_cuda;
#endif

/* Host memory helpers of the ref and CPU backends. */
/* train.c: the rows [*off, *off + *cnt) of rank r of P when ranks take
 * whole units of `unit` rows out of n, so that forward passes of `unit`
 * rows cover the same rows on any rank count (bit-identical outputs). */
void sl_nn__unit_block(int64_t n, int P, int r, int64_t unit, int64_t *off, int64_t *cnt);
/* Two model specs describe the same model (mlp:784-32-10 and mlp:784-32-10:relu,
 * options in any order); a hand-built model's "layers:..." only itself. */
int sl_nn_spec_same(const char *a, const char *b);
sl_status_t sl_nn_host_alloc(float **p, size_t n);
void sl_nn_host_free(float *p);
sl_status_t sl_nn_host_copy(float *dst, const float *src, size_t n);
sl_status_t sl_nn_host_sync(void);

/* The loops shared by the reference and CPU backends. */
void sl_nn_ops_bias_fwd(float *y, const float *b, int64_t n, int m);
void sl_nn_ops_bias_bwd(float *db, const float *dy, int64_t n, int m);
void sl_nn_ops_act_fwd(sl_nn_layer_kind_t k, const float *x, float *y, size_t n);
void sl_nn_ops_act_bwd(sl_nn_layer_kind_t k, const float *x, const float *y, const float *dy, float *dx,
                       size_t n);
void sl_nn_ops_mul(const float *a, const float *b, float *out, size_t n);
void sl_nn_ops_ln_fwd(const float *x, float *y, const float *g, const float *b, float *mean, float *rstd,
                      int64_t n, int m);
void sl_nn_ops_ln_bwd(const float *x, const float *dy, const float *g, const float *mean, const float *rstd,
                      float *dx, float *dg, float *db, int64_t n, int m);
void sl_nn_ops_add(float *dst, const float *src, size_t n);

#define SL_NN_LN_EPS     1e-5f
#define SL_NN_MAX_LAYERS 64

typedef struct {
    sl_nn_layer_kind_t kind;
    int in, out;
    double p;          /* dropout probability */
    char name[16];     /* fc1, ln1, ... ("" for parameterless layers) */
    size_t off0, off1; /* parameters: weight/gamma at off0, bias/beta at off1 */
    size_t nparam;     /* floats of this layer (both tensors) */
    float *y;          /* output activations, cap x out (backend) */
    float *aux;        /* LayerNorm mean+rstd (2 x cap), dropout mask (cap x out) */
    float *hmask;      /* host dropout mask (cap x out) */
} sl_nn_layer_t;

typedef struct {
    char name[40];
    size_t offset;
    int rows, cols;
} sl_nn_tensor_t;

struct sl_nn {
    char *spec;
    sl_nn_device_t dev;
    const sl_nn_backend_t *be;
    int in;
    int nlayers;
    sl_nn_layer_t layers[SL_NN_MAX_LAYERS];
    int ntensors;
    sl_nn_tensor_t tensors[2 * SL_NN_MAX_LAYERS];
    int built;
    int init_orthogonal;
    size_t nparams;
    float *params, *grads;   /* host arena */
    float *grads_arena;      /* the arena's own gradients (grads may be redirected) */
    float *dparams, *dgrads; /* backend arena (== host for ref/cpu) */
    int params_dirty_host;   /* device newer than host (cuda) */
    int shared_params;       /* params point into a shared window: not freed */
    int overwrite_grads;     /* internal: backward writes gradients instead of adding */
    /* activation workspace */
    int64_t cap, n; /* rows allocated, rows of the last forward */
    int last_train;
    float *x0;      /* input copy (backend), cap x in */
    float *g0, *g1; /* backward ping-pong, cap x maxw */
    float *hy;      /* host output, cap x out */
    float *hdx;     /* host dx staging (cuda) */
    int maxw;
    gsl_rng *drop_rng;
    /* attached all-reduce */
    sl_allreduce_t *ar;
    size_t first_bucket, bucket;
    sl_allreduce_req_t reqs[SL_NN_MAX_LAYERS * 2 + 2];
    int nreqs;
    sl_status_t ar_status;
};

/* LayerNorm forward for the rows of a batch; sizes of Linear layers. */
int sl_nn_linear_index(const sl_nn_t *nn, int linear); /* layer index of fcK */
/* Host backends: let backward write into buf (nparams floats) instead of
 * the arena's gradients; NULL restores the arena. Returns the old target. */
float *sl_nn_redirect_grads(sl_nn_t *nn, float *buf);
/* Number of mean+rstd floats stored per row for a LayerNorm. */

/* Fixed-order ("exact") reduction of per-shard gradients over ranks:
 * butterfly with the lower rank's value on the left, so that P ranks sum
 * the same tree as one rank. Collective over comm; P must be a power of
 * two. scratch holds n floats. */
sl_status_t sl_nn_tree_allreduce(MPI_Comm comm, float *buf, float *scratch, size_t n);
/* Pairwise tree sum of k buffers of n floats into bufs[0]. */
void sl_nn_tree_sum(const sl_nn_backend_t *be, float **bufs, int k, size_t n);

/* The optimiser internals that checkpoints read and write. */
struct sl_nn_optim {
    sl_nn_t *nn;
    sl_nn_optim_opts_t o;
    int64_t t;
    float *m, *v; /* momentum / first moment, second moment (host) */
};

/* The update rule on parameters [lo, hi) with their gradients at
 * grads[0, hi - lo) (host); the caller has counted the step (t).
 * sl_nn_optim_step is sl_nn_optim_apply over every parameter. */
void sl_nn_optim_apply(sl_nn_optim_t *opt, const float *grads, size_t lo, size_t hi);
/* Squared norms of gradient blocks [b0, b1) of SL_NN_NORM_BLOCK floats;
 * the global norm is the square root of their sum in block order. */
#define SL_NN_NORM_BLOCK 4096
void sl_nn_norm2_blocks(const float *g, size_t n, size_t b0, size_t b1, double *out);
static inline float sl_nn_clip_factor(double max_norm, double norm)
{
    return (float)(max_norm / (norm + 1e-6));
}

/* Vectorised loops (vec.c): the same bits as the scalar loops they stand for. */
typedef struct {
    float b1, b2, step, rbc2, eps, l2;
} sl_nn_adam_coef_t;
void sl_nn_vec_adam(float *p, const float *g, float *m, float *v, size_t n, const sl_nn_adam_coef_t *c);
void sl_nn_vec_add(float *dst, const float *src, size_t n); /* dst += src */
void sl_nn_vec_scale(float *x, size_t n, float c);          /* x *= c */

/* The single-node data-parallel step (nodestep.c): every rank of the
 * communicator on one node, host backends. Gradients are written straight
 * into a shared-memory window; each rank sums its slice of them over the
 * ranks (rank order, or a pairwise tree for the exact mode), clips, and
 * runs the optimiser on that slice of the parameters, which live in the
 * window too, with its own private slice of the optimiser state (ZeRO-1
 * within a node: no gradient or parameter copies, the optimiser's work
 * divided by the ranks). */
typedef struct sl_nn_node sl_nn_node_t;
/* Collective. nflags: doubles each rank shares per step. Moves the model's
 * parameters into the window (rank 0's copy). */
sl_status_t sl_nn_node_create(MPI_Comm comm, sl_nn_t *nn, sl_nn_optim_t *opt, int nflags, sl_nn_node_t **s_p);
float *sl_nn_node_grads(sl_nn_node_t *s);  /* this rank's gradient slot */
double *sl_nn_node_flags(sl_nn_node_t *s); /* this rank's nflags doubles */
/* Collective: sum[k] = the ranks' flags[k] summed in rank order. */
void sl_nn_node_exchange(sl_nn_node_t *s, double *sum);
/* Collective: reduce this rank's slice (times scale; tree or rank order),
 * clip by global norm when clip > 0, count the step and update the slice.
 * A non-finite norm returns SL_ERR_NUMERIC on every rank, nothing updated;
 * *norm_p gets the norm when clipping. */
sl_status_t sl_nn_node_update(sl_nn_node_t *s, int tree, float scale, double clip, double *norm_p);
/* Collective, between steps: each rank's slice of the optimiser state
 * copied to every rank, whose arrays are then whole (checkpoints). */
void sl_nn_node_gather_state(sl_nn_node_t *s);
/* Collective: parameters and optimiser state back into their own arrays. */
void sl_nn_node_destroy(sl_nn_node_t **s_p);

#endif
