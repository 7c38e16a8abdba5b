/* SPDX-License-Identifier: BSD-3-Clause */
/* The single-node data-parallel step: ZeRO-1 inside one node's shared
 * memory. One MPI-3 shared window holds each rank's gradient slot and a
 * few doubles of per-step flags, and (in rank 0's segment) the barrier and
 * the parameters that every rank's model reads. The optimiser state stays
 * in each rank's private arrays, of which only its slice is kept current
 * (private memory was faster and steadier here than shared pages:
 * 137,000 against 123,000-131,000 samples/s); a checkpoint first gathers
 * the slices through the free gradient slots. A step:
 *   backward writes into my slot; my flags;  barrier
 *   sum my slice of the slots (rank order, or the exact mode's pairwise
 *   tree), clip, optimiser on my slice of the shared parameters;  barrier
 * Two barriers and no copies, where the bucketed all-reduce copies every
 * gradient in and out and every rank repeats the whole optimiser step.
 * The slices are whole blocks of SL_NN_NORM_BLOCK floats, so the global
 * norm sums the same block partials in the same order as one rank does. */
#include "config.h"
#include "train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sl_nn_node {
    MPI_Comm node;
    MPI_Win win;
    int rank, size, nflags;
    size_t n, nblocks, b0, b1, lo, hi;
    float **slot;   /* each rank's gradient slot */
    double **flags; /* each rank's flags, then its blocks' squared norms */
    sl_nn_t *nn;
    sl_nn_optim_t *opt;
    float *own_params;     /* the array the window stands in for */
    sl_shm_barrier_t *bar; /* at the start of rank 0's segment */
};

static size_t up64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* The step's barriers are the shared-memory barrier of the core: no MPI
 * progress to poll, and a rank whose partner lost its core yields it. */
static void node_barrier(sl_nn_node_t *s)
{
    sl_shm_barrier_wait(s->bar, s->size);
}

sl_status_t sl_nn_node_create(MPI_Comm comm, sl_nn_t *nn, sl_nn_optim_t *opt, int nflags, sl_nn_node_t **s_p)
{
    *s_p = NULL;
    sl_nn_node_t *s = calloc(1, sizeof *s);
    if (!s)
        return sl_agree(comm, sl_error(SL_ERR_NOMEM, "out of memory"));
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &s->node);
    MPI_Comm_rank(s->node, &s->rank);
    MPI_Comm_size(s->node, &s->size);
    s->win = MPI_WIN_NULL;
    s->nn = nn, s->opt = opt, s->nflags = nflags;
    s->n = nn->nparams;
    s->nblocks = (s->n + SL_NN_NORM_BLOCK - 1) / SL_NN_NORM_BLOCK;
    s->b0 = s->nblocks * (size_t)s->rank / (size_t)s->size;
    s->b1 = s->nblocks * (size_t)(s->rank + 1) / (size_t)s->size;
    s->lo = s->b0 * SL_NN_NORM_BLOCK < s->n ? s->b0 * SL_NN_NORM_BLOCK : s->n;
    s->hi = s->b1 * SL_NN_NORM_BLOCK < s->n ? s->b1 * SL_NN_NORM_BLOCK : s->n;
    size_t fbytes = up64((size_t)(nflags + s->nblocks) * sizeof(double)), gbytes = up64(s->n * sizeof(float));
    size_t mine = 64 + fbytes + gbytes + (s->rank == 0 ? gbytes : 0);
    sl_status_t st = SL_OK;
    s->slot = calloc((size_t)s->size, sizeof *s->slot);
    s->flags = calloc((size_t)s->size, sizeof *s->flags);
    if (!s->slot || !s->flags)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    char **bases = calloc((size_t)s->size, sizeof *bases);
    if (!bases)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK)
        st = sl_shared_window_create(s->node, mine, &s->win, bases);
    st = sl_agree(comm, st);
    if (st != SL_OK) {
        free(bases);
        sl_nn_node_destroy(&s);
        return st;
    }
    for (int q = 0; q < s->size; q++) {
        s->flags[q] = (double *)(void *)(bases[q] + 64);
        s->slot[q] = (float *)(void *)(bases[q] + 64 + fbytes);
    }
    s->bar = (sl_shm_barrier_t *)(void *)bases[0];
    char *shared = bases[0] + 64 + fbytes + gbytes;
    free(bases);
    float *p = (float *)shared;
    if (s->rank == 0) {
        memset(s->bar, 0, sizeof *s->bar);
        memcpy(p, nn->params, s->n * sizeof(float));
    }
    MPI_Win_sync(s->win);
    MPI_Barrier(s->node);
    MPI_Win_sync(s->win);
    s->own_params = nn->params;
    nn->params = nn->dparams = p;
    sl_nn_redirect_grads(nn, s->slot[s->rank]); /* destroy points them back at the arena */
    *s_p = s;
    return SL_OK;
}

float *sl_nn_node_grads(sl_nn_node_t *s)
{
    return s->slot[s->rank];
}

void sl_nn_node_gather_state(sl_nn_node_t *s)
{
    /* between steps the gradient slots are free: slot 0 carries m and slot
     * 1 carries v (P >= 2 here), each rank writing its slice */
    size_t len = (s->hi - s->lo) * sizeof(float);
    memcpy(s->slot[0] + s->lo, s->opt->m + s->lo, len);
    memcpy(s->slot[1] + s->lo, s->opt->v + s->lo, len);
    node_barrier(s);
    memcpy(s->opt->m, s->slot[0], s->n * sizeof(float));
    memcpy(s->opt->v, s->slot[1], s->n * sizeof(float));
    node_barrier(s); /* before the next backward writes the slots */
}

double *sl_nn_node_flags(sl_nn_node_t *s)
{
    return s->flags[s->rank];
}

void sl_nn_node_exchange(sl_nn_node_t *s, double *sum)
{
    node_barrier(s);
    for (int k = 0; k < s->nflags; k++) {
        double t = 0;
        for (int q = 0; q < s->size; q++)
            t += s->flags[q][k];
        sum[k] = t;
    }
}

/* out[i] = the slots' sum at i for i in [lo, hi), pairwise tree over the
 * ranks (lower ranks on the left) or rank order, times scale. */
static void reduce_slice(sl_nn_node_t *s, int tree, float scale, float *out)
{
    /* out == NULL: the optimiser updates each chunk as soon as it is summed */
    const int P = s->size;
    float *const *g = s->slot;
    /* partial sums in a private scratch, so the other ranks' slots stay
     * untouched: a binary counter of them gives the exact mode's pairwise
     * tree (lower ranks on the left) for a power-of-two P; otherwise rank
     * order, ((g0 + g1) + g2) + ... */
    float acc[16][1024];
    for (size_t i0 = s->lo; i0 < s->hi; i0 += 1024) {
        size_t len = s->hi - i0 < 1024 ? s->hi - i0 : 1024;
        if (!tree) {
            memcpy(acc[0], g[0] + i0, len * sizeof(float));
            for (int q = 1; q < P; q++)
                sl_nn_vec_add(acc[0], g[q] + i0, len);
        } else {
            int lvl[16], top = 0;
            for (int q = 0; q < P; q++) {
                memcpy(acc[top], g[q] + i0, len * sizeof(float));
                lvl[top++] = 0;
                while (top >= 2 && (lvl[top - 1] == lvl[top - 2] || q == P - 1)) {
                    sl_nn_vec_add(acc[top - 2], acc[top - 1], len);
                    lvl[top - 2]++;
                    top--;
                }
            }
        }
        if (scale != 1.f)
            sl_nn_vec_scale(acc[0], len, scale);
        if (out)
            memcpy(out + i0, acc[0], len * sizeof(float));
        else /* no clipping: update straight from the chunk while it is in cache */
            sl_nn_optim_apply(s->opt, acc[0], i0, i0 + len);
    }
}

sl_status_t sl_nn_node_update(sl_nn_node_t *s, int tree, float scale, double clip, double *norm_p)
{
    if (clip <= 0) {
        s->opt->t++;
        reduce_slice(s, tree, scale, NULL);
        node_barrier(s);
        return SL_OK;
    }
    /* My slice of my own slot is read by nobody else: the sum goes there. */
    float *g = s->slot[s->rank];
    reduce_slice(s, tree, scale, g);
    {
        double *fl = s->flags[s->rank] + s->nflags;
        sl_nn_norm2_blocks(g, s->n, s->b0, s->b1, fl + s->b0);
        node_barrier(s);
        double norm2 = 0; /* block order: rank by rank, each rank's blocks ascending */
        for (int q = 0; q < s->size; q++) {
            size_t q0 = s->nblocks * (size_t)q / (size_t)s->size,
                   q1 = s->nblocks * (size_t)(q + 1) / (size_t)s->size;
            for (size_t b = q0; b < q1; b++)
                norm2 += s->flags[q][s->nflags + b];
        }
        double norm = sqrt(norm2);
        if (norm_p)
            *norm_p = norm;
        if (!isfinite(norm)) {
            node_barrier(s); /* nobody may write the flags again before all have read them */
            return SL_ERR_NUMERIC;
        }
        if (norm > clip) {
            sl_nn_vec_scale(g + s->lo, s->hi - s->lo, sl_nn_clip_factor(clip, norm));
        }
    }
    s->opt->t++;
    sl_nn_optim_apply(s->opt, g + s->lo, s->lo, s->hi);
    node_barrier(s);
    return SL_OK;
}

void sl_nn_node_destroy(sl_nn_node_t **s_p)
{
    sl_nn_node_t *s = *s_p;
    if (!s)
        return;
    if (s->own_params) {
        sl_nn_node_gather_state(s); /* the optimiser state whole on every rank again */
        memcpy(s->own_params, s->nn->params, s->n * sizeof(float));
        s->nn->params = s->nn->dparams = s->own_params;
        sl_nn_redirect_grads(s->nn, NULL);
    }
    sl_shared_window_free(&s->win); /* collective: after every rank has copied */
    if (s->node != MPI_COMM_NULL)
        MPI_Comm_free(&s->node);
    free(s->slot), free(s->flags);
    free(s);
    *s_p = NULL;
}
