/* SPDX-License-Identifier: BSD-3-Clause */
/* The training run behind `sluice train` and tune: data sliced over ranks,
 * global batches assembled by an all-to-all from the global per-epoch
 * order, gradients reduced either exactly (fixed shards, fixed tree: P
 * ranks give one rank's weights bit for bit) or by bucketed all-reduces
 * overlapped with backward; checkpoints at safe points; metrics files. */
#include "config.h"
#include "train_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define HIST_COLS 9 /* epoch step train_loss eval_loss eval_acc lr samples_per_s seconds cpu_seconds */

typedef struct {
    MPI_Comm comm;
    int rank, size;
    const sl_nn_train_opts_t *o;
    sl_nn_t *nn;
    sl_nn_optim_t *opt;
    sl_nn_sched_t sched;
    sl_nn_loss_kind_t loss;
    sl_allreduce_t *ar;
    /* local slices */
    int64_t N, row0, cnt;
    int F, K, tw; /* features, model outputs, target width (0: labels) */
    float *X;
    void *Y;
    int64_t EN, erow0, ecnt;
    float *EX;
    void *EY;
    /* batch assembly */
    int W; /* floats per packed row: features + max(1, tw) */
    float *sendb, *recvb, *bx, *bt, *dy;
    int32_t *bl;
    int *scnt, *sdisp, *rcnt, *rdisp, *lo, *hi, *counts;
    int64_t *perm;
    /* exact mode */
    int exact, shards, myshard0, myshards;
    float **sbuf, *scratch;
    double *shard_loss;
    /* single-node step (nodestep.c): set up after a resume, when use_node */
    int one_node; /* every rank on one node (and SLUICE_ALLREDUCE is not mpi) */
    int use_node;
    sl_nn_node_t *node;
    /* one node: the training slices live in a shared window, and batches
     * are gathered from the owners' slices directly */
    MPI_Win dwin;
    float **Xq;
    char **Yq;
    int bad_norm; /* the node step found a non-finite gradient norm */
    double norm;
    /* state */
    int64_t epoch, pos, step, steps_per_epoch;
    double ep_loss_sum;
    int64_t ep_samples;
    double ep_train_time;
    double t_ep, ep_seconds; /* this process's start of the epoch; the epoch's seconds before it (resume) */
    double ep_cpu_time; /* this rank's process CPU time in training */
    double *hist;
    int64_t nhist;
    double ck_seconds, ck_bytes; /* the last checkpoint write */
    /* --log-steps: rank 0's out/steps.csv, and the interval's sums */
    FILE *steps;
    int steps_errno; /* a row could not be written: no more rows, and no checkpoint past it */
    double lg_loss, lg_time;
    int64_t lg_samples;
    char path[4096];
    int kept[2]; /* X/Y, EX/EY belong to the kept data (keep_data), not to the run */
} run_t;

/* keep_data: the slices a run read stay in this process for the next run on
 * the same file (same inode, size and modification time), slice and layout,
 * as a tuner's trials on one group are. [0] training, [1] evaluation. */
typedef struct {
    char path[4096];
    struct stat sb;
    int64_t row0, cnt;
    int F, tw;
    float *X;
    void *Y;
} kept_t;
static kept_t kept_data[2];

void sl_nn_train_forget_data(void)
{
    for (int i = 0; i < 2; i++) {
        free(kept_data[i].X);
        free(kept_data[i].Y);
        memset(&kept_data[i], 0, sizeof kept_data[i]);
    }
}

static int kept_match(const kept_t *k, const char *path, const struct stat *sb, int64_t row0, int64_t cnt,
                      int F, int tw)
{
    return k->X && !strcmp(k->path, path) && k->sb.st_dev == sb->st_dev && k->sb.st_ino == sb->st_ino &&
           k->sb.st_size == sb->st_size && k->sb.st_mtim.tv_sec == sb->st_mtim.tv_sec &&
           k->sb.st_mtim.tv_nsec == sb->st_mtim.tv_nsec && k->row0 == row0 && k->cnt == cnt && k->F == F &&
           k->tw == tw;
}

/* Process CPU seconds: throughput per CPU second is what a shared machine
 * can still compare fairly. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define EVAL_ROWS 512 /* rows per forward pass in evaluation */

static void block(int64_t n, int P, int r, int64_t *off, int64_t *cnt)
{
    int64_t base = n / P, rem = n % P;
    *off = r * base + (r < rem ? r : rem);
    *cnt = base + (r < rem);
}

/* Rows of rank r when ranks take whole units of `unit` rows (the last one
 * may be short): every forward pass then covers the same global rows
 * whatever the rank count. OpenBLAS's sgemm gives a row results that
 * depend on its place in the call (its micro-kernel tile: on AMD Zen, 24
 * rows), so rows split by block() were evaluated differently on 1 and on
 * 2 ranks. */
void sl_nn__unit_block(int64_t n, int P, int r, int64_t unit, int64_t *off, int64_t *cnt)
{
    int64_t units = (n + unit - 1) / unit, uo, uc;
    block(units, P, r, &uo, &uc);
    *off = uo * unit < n ? uo * unit : n;
    *cnt = (uo + uc) * unit < n ? uc * unit : n - *off;
}

static int owner_of(int64_t g, int64_t n, int P)
{
    int64_t base = n / P, rem = n % P;
    if (g < rem * (base + 1))
        return (int)(g / (base + 1));
    return (int)(rem + (g - rem * (base + 1)) / base);
}

/* The node's slices go into a shared window only if they fit in half of
 * what the shared-memory filesystem (/dev/shm, where Open MPI keeps the
 * window's pages) has free: a full one would kill the job with SIGBUS. */
static int shm_fits(size_t node_bytes)
{
    struct statvfs v;
    if (statvfs("/dev/shm", &v) != 0)
        return 0;
    return (double)node_bytes <= 0.5 * (double)v.f_bavail * (double)v.f_frsize;
}

/* Collective. The training slices in one shared window per node (each
 * rank's segment its slice), when every rank is on one node. */
static sl_status_t alloc_shared_slices(run_t *r, int64_t cnt, int F, size_t ysz, float **X, void **Y)
{
    size_t xb = ((size_t)(cnt ? cnt : 1) * F * sizeof(float) + 63) & ~(size_t)63;
    size_t bytes = xb + (size_t)(cnt ? cnt : 1) * ysz;
    double total = (double)bytes; /* every rank is on this node */
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_DOUBLE, MPI_SUM, r->comm);
    int fits = shm_fits((size_t)total), all = 0;
    MPI_Allreduce(&fits, &all, 1, MPI_INT, MPI_MIN, r->comm);
    if (!all)
        return SL_OK; /* private slices and the all-to-all */
    sl_status_t st = SL_OK;
    r->Xq = calloc((size_t)r->size, sizeof *r->Xq);
    r->Yq = calloc((size_t)r->size, sizeof *r->Yq);
    if (!r->Xq || !r->Yq)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    else /* one node: the run's communicator is the node's */
        st = sl_shared_window_create(r->comm, bytes, &r->dwin, r->Yq);
    SL_TRY(sl_agree(r->comm, st));
    for (int q = 0; q < r->size; q++) {
        r->Xq[q] = (float *)(void *)r->Yq[q];
        r->Yq[q] += xb;
    }
    *X = r->Xq[r->rank];
    *Y = r->Yq[r->rank];
    return SL_OK;
}

/* Local: a NaN or inf among the features of a slice just read (a file
 * made elsewhere; import refuses one) would end in "the loss became NaN",
 * which points at --lr. Checked once per read, not per run of kept data. */
static sl_status_t check_features(const char *path, const float *X, int64_t row0, int64_t cnt, int F)
{
    const uint32_t *xb = (const uint32_t *)X;
    size_t nx = (size_t)cnt * (size_t)F;
    int any = 0;
    for (size_t i = 0; i < nx; i++) /* exponent all ones: inf or NaN */
        any |= (xb[i] & 0x7f800000u) == 0x7f800000u;
    for (size_t i = 0; any && i < nx; i++)
        if ((xb[i] & 0x7f800000u) == 0x7f800000u)
            return sl_error(SL_ERR_INVALID, "%s: feature %lld of row %lld in /X is not finite", path,
                            (long long)(i % (size_t)F), (long long)(row0 + (int64_t)(i / (size_t)F)));
    return SL_OK;
}

/* This rank's block of rows of d into *X, *Y: a shared window's slices
 * (shared), or the kept data `which` (0 training, 1 evaluation) with
 * keep_data (sb: path's identity, taken before d was opened; NULL: none),
 * else private buffers. Collective. */
static sl_status_t load_slices(run_t *r, sl_nn_data_t *d, const char *path, const struct stat *sbp, int which,
                               int64_t *row0, int64_t *cnt, float **X, void **Y, int shared)
{
    int64_t n = sl_nn_data_rows(d);
    if (which == 1) /* evaluation: whole forward passes, the same on any rank count */
        sl_nn__unit_block(n, r->size, r->rank, EVAL_ROWS, row0, cnt);
    else
        block(n, r->size, r->rank, row0, cnt);
    int F = sl_nn_data_features(d), tw = sl_nn_data_target_width(d);
    size_t ysz = tw ? (size_t)tw * sizeof(float) : sizeof(int32_t);
    struct stat sb;
    int keep = r->o->keep_data && !shared && sbp;
    if (keep)
        sb = *sbp;
    MPI_Allreduce(MPI_IN_PLACE, &keep, 1, MPI_INT, MPI_LAND, r->comm);
    kept_t *k = &kept_data[which];
    if (keep) {
        /* every rank holds its block already: nothing to read */
        int have = kept_match(k, path, &sb, *row0, *cnt, F, tw);
        MPI_Allreduce(MPI_IN_PLACE, &have, 1, MPI_INT, MPI_LAND, r->comm);
        if (have) {
            *X = k->X, *Y = k->Y;
            r->kept[which] = 1;
            return SL_OK;
        }
        free(k->X), free(k->Y);
        memset(k, 0, sizeof *k);
    }
    if (shared)
        SL_TRY(alloc_shared_slices(r, *cnt, F, ysz, X, Y));
    if (!r->Xq || !shared) {
        *X = malloc((size_t)(*cnt ? *cnt : 1) * F * sizeof(float));
        *Y = malloc((size_t)(*cnt ? *cnt : 1) * ysz);
    }
    sl_status_t st = (*X && *Y) ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for the data slice");
    st = sl_agree(r->comm, st);
    if (st != SL_OK)
        return st;
    st = sl_nn_data_read(d, *row0, *cnt, *X, *Y);
    st = sl_agree(r->comm, st == SL_OK ? check_features(path, *X, *row0, *cnt, F) : st);
    if (keep && st == SL_OK && strlen(path) < sizeof k->path) {
        snprintf(k->path, sizeof k->path, "%s", path);
        k->sb = sb;
        k->row0 = *row0, k->cnt = *cnt, k->F = F, k->tw = tw;
        k->X = *X, k->Y = *Y;
        r->kept[which] = 1;
    }
    if (shared && r->Xq) { /* the slices are read by the whole node from here on */
        MPI_Win_sync(r->dwin);
        MPI_Barrier(r->comm);
        MPI_Win_sync(r->dwin);
    }
    return st;
}

/* Labels must be class ids of the model: checked on each rank's slice. */
static sl_status_t check_labels(run_t *r, const char *path, const void *Y, int64_t row0, int64_t cnt)
{
    sl_status_t st = SL_OK;
    if (r->tw == 0) {
        const int32_t *y = Y;
        for (int64_t i = 0; i < cnt; i++)
            if (y[i] < 0 || y[i] >= r->K) {
                st = sl_error(SL_ERR_INVALID,
                              "%s: label %d in row %lld is outside [0, %d) (the model has %d outputs)", path,
                              (int)y[i], (long long)(row0 + i), r->K, r->K);
                break;
            }
    } else {
        const float *y = Y;
        for (int64_t i = 0; i < cnt * r->tw; i++)
            if (!isfinite(y[i])) {
                st = sl_error(SL_ERR_INVALID, "%s: target in row %lld is not finite", path,
                              (long long)(row0 + i / r->tw));
                break;
            }
    }
    return sl_agree(r->comm, st);
}

/* Positions [lo[q], hi[q]) of a batch of bs samples belong to rank q. */
static void split_batch(run_t *r, int64_t bs)
{
    for (int q = 0; q < r->size; q++) {
        if (r->exact) {
            int s0 = q * r->shards / r->size, s1 = (q + 1) * r->shards / r->size;
            r->lo[q] = (int)(bs * s0 / r->shards);
            r->hi[q] = (int)(bs * s1 / r->shards);
        } else {
            r->lo[q] = (int)(bs * q / r->size);
            r->hi[q] = (int)(bs * (q + 1) / r->size);
        }
    }
}

static void pack_row(run_t *r, int64_t local, float *dst)
{
    memcpy(dst, r->X + local * r->F, (size_t)r->F * sizeof(float));
    if (r->tw)
        memcpy(dst + r->F, (float *)r->Y + local * r->tw, (size_t)r->tw * sizeof(float));
    else
        dst[r->F] = (float)((int32_t *)r->Y)[local];
}

/* Gather this rank's rows of the global batch idx[0..bs) into bx/bl/bt. */
static sl_status_t assemble(run_t *r, const int64_t *idx, int64_t bs)
{
    int P = r->size, me = r->rank, W = r->W;
    int mine = r->hi[me] - r->lo[me];
    float *rows = r->recvb;
    if (r->Xq && P > 1) { /* one node: straight from the owners' slices */
        for (int j = r->lo[me]; j < r->hi[me]; j++) {
            int q = owner_of(idx[j], r->N, P);
            int64_t off, cnt;
            block(r->N, P, q, &off, &cnt);
            int64_t l = idx[j] - off;
            int i = j - r->lo[me];
            memcpy(r->bx + (size_t)i * r->F, r->Xq[q] + l * r->F, (size_t)r->F * sizeof(float));
            if (r->tw)
                memcpy(r->bt + (size_t)i * r->tw, (float *)(void *)r->Yq[q] + l * r->tw,
                       (size_t)r->tw * sizeof(float));
            else
                r->bl[i] = ((int32_t *)(void *)r->Yq[q])[l];
        }
        return SL_OK;
    }
    if (P == 1) {
        for (int j = 0; j < bs; j++) {
            int64_t l = idx[j] - r->row0;
            memcpy(r->bx + (size_t)j * r->F, r->X + l * r->F, (size_t)r->F * sizeof(float));
            if (r->tw)
                memcpy(r->bt + (size_t)j * r->tw, (float *)r->Y + l * r->tw, (size_t)r->tw * sizeof(float));
            else
                r->bl[j] = ((int32_t *)r->Y)[l];
        }
        return SL_OK;
    } else {
        memset(r->scnt, 0, P * sizeof(int));
        memset(r->rcnt, 0, P * sizeof(int));
        for (int q = 0, j = 0; q < P; q++)
            for (; j < r->hi[q]; j++) {
                int own = owner_of(idx[j], r->N, P);
                if (own == me)
                    r->scnt[q] += W;
                if (q == me)
                    r->rcnt[own] += W;
            }
        r->sdisp[0] = r->rdisp[0] = 0;
        for (int q = 1; q < P; q++) {
            r->sdisp[q] = r->sdisp[q - 1] + r->scnt[q - 1];
            r->rdisp[q] = r->rdisp[q - 1] + r->rcnt[q - 1];
        }
        int *cur = r->scnt; /* reuse as cursors after copying counts */
        int *counts = r->counts;
        memcpy(counts, r->scnt, P * sizeof(int));
        memcpy(cur, r->sdisp, P * sizeof(int));
        for (int q = 0, j = 0; q < P; q++)
            for (; j < r->hi[q]; j++)
                if (owner_of(idx[j], r->N, P) == me) {
                    pack_row(r, idx[j] - r->row0, r->sendb + cur[q]);
                    cur[q] += W;
                }
        int rc = MPI_Alltoallv(r->sendb, counts, r->sdisp, MPI_FLOAT, r->sendb + (size_t)bs * W, r->rcnt,
                               r->rdisp, MPI_FLOAT, r->comm);
        if (rc != MPI_SUCCESS)
            return sl_mpi_error(rc, "MPI_Alltoallv (batch)");
        float *recv = r->sendb + (size_t)bs * W;
        memcpy(cur, r->rdisp, P * sizeof(int));
        for (int j = r->lo[me]; j < r->hi[me]; j++) {
            int own = owner_of(idx[j], r->N, P);
            memcpy(rows + (size_t)(j - r->lo[me]) * W, recv + cur[own], (size_t)W * sizeof(float));
            cur[own] += W;
        }
    }
    int n = P == 1 ? (int)bs : mine;
    for (int i = 0; i < n; i++) {
        const float *src = rows + (size_t)i * W;
        memcpy(r->bx + (size_t)i * r->F, src, (size_t)r->F * sizeof(float));
        if (r->tw)
            memcpy(r->bt + (size_t)i * r->tw, src + r->F, (size_t)r->tw * sizeof(float));
        else
            r->bl[i] = (int32_t)src[r->F];
    }
    return SL_OK;
}

static const void *targets_at(run_t *r, int64_t i)
{
    return r->tw ? (const void *)(r->bt + i * r->tw) : (const void *)(r->bl + i);
}

/* One forward/backward on the global batch idx[0..bs), gradients reduced.
 * Returns the summed loss over the batch and whether any rank was asked to
 * stop (1) or any rank's step_poll asked to end the run (2), identical on
 * all ranks. The loss, the ranks' local statuses and their stop flags
 * travel in ONE small all-reduce: on a busy machine every synchronisation
 * costs a time slice, so a step has only three (batch all-to-all, gradient
 * reduction, this one). */
static sl_status_t train_step(run_t *r, const int64_t *idx, int64_t bs, double *loss_p, int *stop_p)
{
    sl_status_t st = SL_OK, red = SL_OK;
    split_batch(r, bs);
    red = assemble(r, idx, bs); /* collective; fails only in MPI */
    if (red != SL_OK)
        return sl_agree(r->comm, red);
    sl_nn_t *nn = r->nn;
    size_t np = sl_nn_num_params(nn);
    const float *y;
    double ls = 0;
    double *v = r->shard_loss; /* shards losses, then [error, stop] */
    int nv;
    if (r->exact) {
        int base = r->lo[r->rank];
        int direct = sl_nn_device(nn) != SL_NN_CUDA; /* backward writes straight into the shard buffers */
        memset(v, 0, (size_t)(r->shards + 2) * sizeof(double));
        for (int s = 0; s < r->myshards; s++) {
            int sh = r->myshard0 + s;
            int a = (int)(bs * sh / r->shards), b = (int)(bs * (sh + 1) / r->shards);
            if (b <= a || st != SL_OK) {
                memset(r->sbuf[s], 0, np * sizeof(float));
                continue;
            }
            if (direct)
                sl_nn_redirect_grads(nn, r->sbuf[s]);
            nn->overwrite_grads = 1;
            st = sl_nn_forward(nn, r->bx + (size_t)(a - base) * r->F, b - a, 1, &y);
            if (st == SL_OK)
                st = sl_nn_loss(r->loss, y, targets_at(r, a - base), b - a, r->K, 1.0 / (double)bs, &ls,
                                r->dy, NULL);
            if (st == SL_OK)
                st = sl_nn_backward(nn, r->dy, NULL);
            nn->overwrite_grads = 0;
            if (direct)
                sl_nn_redirect_grads(nn, NULL);
            else if (st == SL_OK && (st = sl_nn_grads_sync(nn)) == SL_OK)
                memcpy(r->sbuf[s], sl_nn_grads(nn), np * sizeof(float));
            v[sh] = ls; /* one contributor per shard: the all-reduce sum is exact */
        }
        sl_nn_tree_sum(&sl_nn_backend_cpu, r->sbuf, r->myshards, np);
        if (r->size > 1 && !r->node)
            red = sl_nn_tree_allreduce(r->comm, r->sbuf[0], r->scratch, np);
        nv = r->shards;
    } else {
        int n = r->hi[r->rank] - r->lo[r->rank];
        nn->overwrite_grads = 1; /* instead of zeroing the gradients first */
        if (n > 0) {
            st = sl_nn_forward(nn, r->bx, n, 1, &y);
            if (st == SL_OK)
                st = sl_nn_loss(r->loss, y, targets_at(r, 0), n, r->K, (double)r->size / (double)bs, &ls,
                                r->dy, NULL);
            if (st == SL_OK)
                st = sl_nn_backward(nn, r->dy, NULL); /* starts the buckets */
        } else {
            /* no samples here (tiny last batch): still join the buckets */
            st = sl_nn_forward(nn, r->X, 1, 1, &y);
            memset(r->dy, 0, (size_t)r->K * sizeof(float));
            if (st == SL_OK)
                st = sl_nn_backward(nn, r->dy, NULL);
        }
        nn->overwrite_grads = 0;
        if (!r->node)
            red = sl_nn_grad_wait(nn);
        v[0] = ls;
        nv = 1;
    }
    v[nv] = (st != SL_OK || red != SL_OK) ? 1 : 0;
    /* stop requests count 1 a rank, a poll's end size + 1: both read back
     * from the sum (a signal reaches every rank of a large job at once) */
    double pw = (double)r->size + 1;
    int polled = r->o->step_poll && r->o->step_poll(r->o->step_poll_arg); /* first: it may request a stop */
    v[nv + 1] = (sl_stop_requested() ? 1 : 0) + (polled ? pw : 0);
    if (r->node) {
        memcpy(sl_nn_node_flags(r->node), v, (size_t)(nv + 2) * sizeof(double));
        sl_nn_node_exchange(r->node, v);
    } else if (r->size > 1) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, nv + 2, MPI_DOUBLE, MPI_SUM, r->comm);
        if (rc != MPI_SUCCESS)
            return sl_agree(r->comm, sl_mpi_error(rc, "MPI_Allreduce (step)"));
    }
    if (v[nv] > 0) /* some rank failed: agree on who reports what */
        return sl_agree(r->comm, st != SL_OK ? st : red != SL_OK ? red : SL_OK);
    double tot = 0;
    for (int s = 0; s < nv; s++)
        tot += v[s];
    *loss_p = tot;
    /* a stop request wins: its checkpoint is written */
    double polls = floor(v[nv + 1] / pw);
    *stop_p = v[nv + 1] - polls * pw > 0 ? 1 : polls > 0 ? 2 : 0;
    if (r->node) {
        /* reduce, clip and update this rank's slice; not after a bad loss */
        if (isfinite(tot) && sl_nn_node_update(r->node, r->exact, r->exact ? 1.f : 1.f / (float)r->size,
                                               r->o->clip, &r->norm) != SL_OK)
            r->bad_norm = 1;
        return SL_OK;
    }
    if (r->exact) {
        if (r->sbuf[0] != sl_nn_grads(nn))
            memcpy(sl_nn_grads(nn), r->sbuf[0], np * sizeof(float));
        if (nn->dev == SL_NN_CUDA) /* the optimiser reads the device copy */
            SL_TRY(sl_agree(r->comm, nn->be->upload(nn->dgrads, nn->grads, np)));
    }
    return SL_OK;
}

static sl_status_t evaluate(run_t *r, double *loss_p, double *acc_p)
{
    *loss_p = NAN;
    *acc_p = NAN;
    if (!r->EX)
        return SL_OK;
    sl_status_t st = SL_OK;
    double *pl = calloc((size_t)(r->EN ? r->EN : 1), sizeof(double));
    int *counts = malloc(r->size * sizeof(int)), *displs = malloc(r->size * sizeof(int));
    int64_t correct = 0;
    if (!pl || !counts || !displs)
        st = sl_error(SL_ERR_NOMEM, "out of memory in evaluation");
    const int64_t chunk = EVAL_ROWS; /* this rank's rows begin at a multiple of it */
    for (int64_t i0 = 0; i0 < r->ecnt && st == SL_OK; i0 += chunk) {
        int64_t n = r->ecnt - i0 < chunk ? r->ecnt - i0 : chunk;
        const float *y;
        st = sl_nn_forward(r->nn, r->EX + i0 * r->F, n, 0, &y);
        for (int64_t i = 0; i < n && st == SL_OK; i++) {
            int64_t c = 0;
            const void *t = r->tw ? (const void *)((float *)r->EY + (i0 + i) * r->tw)
                                  : (const void *)((int32_t *)r->EY + i0 + i);
            st = sl_nn_loss(r->loss, y + i * r->K, t, 1, r->K, 1.0, &pl[r->erow0 + i0 + i], NULL,
                            r->loss == SL_NN_XENT ? &c : NULL);
            correct += c;
        }
    }
    st = sl_agree(r->comm, st);
    if (st == SL_OK) {
        for (int q = 0; q < r->size; q++) {
            int64_t o, c;
            sl_nn__unit_block(r->EN, r->size, q, EVAL_ROWS, &o, &c);
            counts[q] = (int)c;
            displs[q] = (int)o;
        }
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DOUBLE, pl, counts, displs, MPI_DOUBLE, r->comm);
        MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_INT64_T, MPI_SUM, r->comm);
        double s = 0;
        for (int64_t i = 0; i < r->EN; i++)
            s += pl[i];
        *loss_p = s / (double)r->EN;
        if (r->loss == SL_NN_XENT)
            *acc_p = (double)correct / (double)r->EN;
    }
    free(pl);
    free(counts);
    free(displs);
    return st;
}

static sl_status_t write_ckpt_inner(run_t *r);
static sl_status_t write_ckpt(run_t *r)
{
    double t0 = sl_now();
    sl_status_t st = write_ckpt_inner(r);
    r->ck_seconds = sl_now() - t0;
    struct stat sb;
    if (st == SL_OK && r->rank == 0 && stat(r->path, &sb) == 0)
        r->ck_bytes = (double)sb.st_size;
    return st;
}

static sl_status_t write_ckpt_inner(run_t *r)
{
    sl_h5_t *h = NULL;
    sl_status_t st = SL_OK;
    /* a steps.csv row lost (a full file system) would be lost for good
     * once a checkpoint past it exists: a resume re-logs only the rows
     * after its checkpoint, so the previous one must stay */
    if (r->rank == 0 && r->steps_errno)
        st = sl_error(sl_errno_status(r->steps_errno), "cannot write '%s/steps.csv': %s", r->o->out,
                      strerror(r->steps_errno));
    SL_TRY(sl_agree(r->comm, st));
    if (r->node) /* each rank holds only its slice of the optimiser state current */
        sl_nn_node_gather_state(r->node);
    SL_TRY(sl_h5_create(r->comm, r->path, &h));
    st = sl_nn_save(r->nn, r->opt, h, "");
    uint64_t hd[2] = {(uint64_t)r->nhist, HIST_COLS};
    if (st == SL_OK && r->nhist)
        st = sl_h5_write(h, "train/history", SL_F64, 2, hd, r->hist);
    if (st == SL_OK)
        st = sl_h5_write_rng(h, "train/rng_dropout", r->nn->drop_rng);
    struct {
        const char *k;
        int64_t v;
    } iv[] = {{"epoch", r->epoch},
              {"position", r->pos},
              {"step", r->step},
              {"seed", r->o->seed},
              {"ranks", r->size},
              {"batch", r->o->batch},
              {"ep_samples", r->ep_samples},
              {"exact", r->exact},
              {"shards", r->shards},
              {"rows", r->N}};
    for (size_t i = 0; i < sizeof iv / sizeof iv[0] && st == SL_OK; i++)
        st = sl_h5_set_attr_i64(h, "train", iv[i].k, iv[i].v);
    if (st == SL_OK)
        st = sl_h5_set_attr_str(h, "train", "loss", r->loss == SL_NN_MSE ? "mse" : "xent");
    if (st == SL_OK)
        st = sl_h5_set_attr_f64(h, "train", "ep_loss_sum", r->ep_loss_sum);
    if (st == SL_OK) /* --log-steps: the open interval, so a resumed row equals an uninterrupted one */
        st = sl_h5_set_attr_f64(h, "train", "log_loss_sum", r->lg_loss);
    if (st == SL_OK)
        st = sl_h5_set_attr_i64(h, "train", "log_samples", r->lg_samples);
    if (st == SL_OK) /* and its time, or the resumed row's samples/s counts only the steps after it */
        st = sl_h5_set_attr_f64(h, "train", "log_train_time", r->lg_time);
    if (st == SL_OK)
        st = sl_h5_set_attr_f64(h, "train", "ep_train_time", r->ep_train_time);
    if (st == SL_OK) /* the epoch's wall time so far: metrics.csv's seconds of a resumed epoch */
        st = sl_h5_set_attr_f64(h, "train", "ep_seconds",
                                r->pos > 0 && r->t_ep > 0 ? r->ep_seconds + sl_now() - r->t_ep : 0);
    if (st == SL_OK)
        st = sl_h5_set_attr_f64(h, "train", "ep_cpu_time", r->ep_cpu_time);
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    return sl_h5_commit(&h, 1);
}

static sl_status_t read_ckpt(run_t *r, int *found)
{
    sl_h5_t *h = NULL;
    *found = 0;
    sl_status_t st = sl_h5_open(r->comm, r->path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return SL_OK;
    SL_TRY(st);
    int64_t v[8] = {0};
    const char *keys[] = {"epoch", "position", "step", "ranks", "batch", "ep_samples", "exact", "shards"};
    for (int i = 0; i < 8 && st == SL_OK; i++)
        if (sl_h5_get_attr_i64(h, "train", keys[i], &v[i]) != SL_OK)
            st = sl_error_root(r->comm, SL_ERR_INVALID,
                               "%s: not a sluice training checkpoint (train/%s missing)", r->path, keys[i]);
    if (st == SL_OK) {
        int lvl = sl_log_level_g;
        if (r->rank != 0)
            sl_log_set_level(SL_LOG_NONE); /* every rank reads the same file: one message */
        st = sl_nn_load(r->nn, r->opt, h, "");
        sl_log_set_level((sl_log_level_t)lvl);
    }
    if (st == SL_OK && (v[3] != r->size || v[4] != r->o->batch) && v[1] != 0)
        st = sl_error_root(r->comm, SL_ERR_MISMATCH,
                           "%s was written mid-epoch by %lld ranks with batch %lld; resume it with the same "
                           "ranks and batch",
                           r->path, (long long)v[3], (long long)v[4]);
    int64_t seed = r->o->seed; /* the rest of the epoch follows the checkpoint's order */
    if (st == SL_OK && v[1] != 0 && sl_h5_get_attr_i64(h, "train", "seed", &seed) == SL_OK &&
        seed != r->o->seed)
        st =
            sl_error_root(r->comm, SL_ERR_MISMATCH,
                          "%s was written mid-epoch with --seed %lld; resume it with the same seed, not %lld",
                          r->path, (long long)seed, (long long)r->o->seed);
    /* The reduction: exact mode sums the gradients of --shards fixed shards
     * in a fixed tree, --no-exact averages each rank's part, so either
     * change makes the rest of the epoch another run's (bit for bit, and in
     * which samples a shard holds). The shard count without exact mode is
     * unused, so a change of it alone is harmless there. At an epoch
     * boundary, like --lr, they may change. */
    if (st == SL_OK && v[1] != 0 && (v[6] != r->exact || (r->exact && v[7] != r->shards))) {
        char was[64], now[160];
        if (v[6])
            snprintf(was, sizeof was, "--exact --shards %lld", (long long)v[7]);
        else
            snprintf(was, sizeof was, "--no-exact");
        if (r->exact)
            snprintf(now, sizeof now, "--exact --shards %d", r->shards);
        else if (r->o->exact) /* fell back: the shard count is not a multiple of the rank count */
            snprintf(now, sizeof now, "--shards %d (--exact falls back to --no-exact with it on %d ranks)",
                     r->shards, r->size);
        else
            snprintf(now, sizeof now, "--no-exact");
        st = sl_error_root(r->comm, SL_ERR_MISMATCH,
                           "%s was written mid-epoch with %s; this run has %s, which reduces the rest of the "
                           "epoch's gradients another way: resume it with %s (a change is taken at an epoch "
                           "boundary)",
                           r->path, was, now, was);
    }
    int64_t rows = r->N; /* absent in older checkpoints */
    if (st == SL_OK && v[1] != 0 && sl_h5_get_attr_i64(h, "train", "rows", &rows) == SL_OK && rows != r->N)
        st = sl_error_root(r->comm, SL_ERR_MISMATCH,
                           "%s was written mid-epoch on a training set of %lld rows; --data %s has %lld",
                           r->path, (long long)rows, r->o->data, (long long)r->N);
    st = sl_agree(r->comm, st);
    if (st == SL_OK) {
        r->epoch = v[0];
        r->pos = v[1];
        r->step = v[2];
        r->ep_samples = v[5];
        sl_h5_get_attr_f64(h, "train", "ep_loss_sum", &r->ep_loss_sum);
        sl_h5_get_attr_f64(h, "train", "log_loss_sum", &r->lg_loss); /* absent in older checkpoints */
        sl_h5_get_attr_i64(h, "train", "log_samples", &r->lg_samples);
        sl_h5_get_attr_f64(h, "train", "log_train_time", &r->lg_time);
        sl_h5_get_attr_f64(h, "train", "ep_train_time", &r->ep_train_time);
        sl_h5_get_attr_f64(h, "train", "ep_seconds", &r->ep_seconds);
        sl_h5_get_attr_f64(h, "train", "ep_cpu_time", &r->ep_cpu_time);
        sl_dtype_t t;
        int nd;
        uint64_t d[SL_H5_MAXDIM];
        if (sl_h5_exists(h, "train/history") && sl_h5_info(h, "train/history", &t, &nd, d) == SL_OK) {
            r->nhist = (int64_t)d[0];
            r->hist = realloc(r->hist, (size_t)(r->nhist + r->o->epochs + 1) * HIST_COLS * sizeof(double));
            st = sl_h5_read(h, "train/history", SL_F64, 2, d, r->hist);
        }
        if (st == SL_OK && v[3] == r->size)
            st = sl_h5_read_rng(h, "train/rng_dropout", r->nn->drop_rng);
        *found = 1;
    }
    sl_h5_close(&h);
    return sl_agree(r->comm, st);
}

static sl_status_t write_metrics(run_t *r)
{
    if (r->rank != 0)
        return SL_OK;
    size_t cap = 256 + (size_t)r->nhist * 200, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    len += snprintf(buf + len, cap - len,
                    "epoch,step,train_loss,eval_loss,eval_accuracy,lr,samples_per_s,seconds,cpu_seconds\n");
    for (int64_t i = 0; i < r->nhist; i++) {
        const double *h = r->hist + i * HIST_COLS;
        len += snprintf(buf + len, cap - len, "%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%.6g\n",
                        (long long)h[0], (long long)h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", r->o->out);
    sl_status_t st = sl_file_write_atomic(path, buf, len);
    free(buf);
    return st;
}

static sl_status_t write_summary(run_t *r, const char *status, double seconds)
{
    if (r->rank != 0)
        return SL_OK;
    /* --out is the user's: a quote or backslash in it is escaped */
    char *ckpt = sl_json_escape(r->path);
    size_t cap = 2048 + strlen(sl_nn_spec(r->nn)) + (ckpt ? strlen(ckpt) : 0);
    char *buf = ckpt ? malloc(cap) : NULL;
    if (!buf) {
        free(ckpt);
        return sl_error(SL_ERR_NOMEM, "out of memory");
    }
    const double *h = r->nhist ? r->hist + (r->nhist - 1) * HIST_COLS : NULL;
    char num[6][32];
    for (int i = 0; i < 6; i++) {
        double v = h ? h[i + 2] : NAN;
        if (isfinite(v))
            snprintf(num[i], 32, "%.9g", v);
        else
            strcpy(num[i], "null");
    }
    int n =
        snprintf(buf, cap,
                 "{\n  \"status\": \"%s\",\n  \"model\": \"%s\",\n  \"device\": \"%s\",\n  \"ranks\": %d,\n"
                 "  \"batch\": %ld,\n  \"optimizer\": \"%s\",\n  \"epochs\": %lld,\n  \"steps\": %lld,\n"
                 "  \"parameters\": %zu,\n  \"exact_reduction\": %s,\n  \"train_loss\": %s,\n"
                 "  \"eval_loss\": %s,\n  \"eval_accuracy\": %s,\n  \"lr\": %s,\n  \"samples_per_s\": %s,\n"
                 "  \"seconds\": %.3f,\n  \"checkpoint\": \"%s\",\n  \"checkpoint_bytes\": %.0f,\n"
                 "  \"checkpoint_seconds\": %.6f\n}\n",
                 status, sl_nn_spec(r->nn), sl_nn_device_name(sl_nn_device(r->nn)), r->size, r->o->batch,
                 r->o->optimizer, (long long)r->epoch, (long long)r->step, sl_nn_num_params(r->nn),
                 r->exact ? "true" : "false", num[0], num[1], num[2], num[3], num[4], seconds, ckpt,
                 r->ck_bytes, r->ck_seconds);
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", r->o->out);
    sl_status_t st = sl_file_write_atomic(path, buf, (size_t)n);
    free(buf);
    free(ckpt);
    return st;
}

void sl_nn_train_opts_default(sl_nn_train_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->model = "mlp:784-256-128-10";
    o->optimizer = "adam";
    o->schedule = "constant";
    o->device = "cpu";
    o->epochs = 10;
    o->batch = 128;
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->seed = 1;
    o->threads = 1;
    o->shards = 0;
    o->exact = 1;
    o->weight_decay = -1; /* the optimiser's default */
}

/* Rank 0: open out/steps.csv for --log-steps; a resumed run first drops
 * the rows after the checkpoint's step (they are trained again). */
static sl_status_t steps_open(run_t *r, int resumed)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/steps.csv", r->o->out);
    const char *head = "epoch,step,train_loss,lr,samples_per_s\n";
    size_t len = strlen(head), cap = 1 << 16;
    char *buf = malloc(cap);
    if (!buf)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    memcpy(buf, head, len);
    FILE *old = resumed ? fopen(path, "r") : NULL;
    char line[512];
    for (int first = 1; old && fgets(line, sizeof line, old); first = 0) {
        long long ep, st;
        size_t l = strlen(line), commas = 0;
        for (size_t i = 0; i < l; i++)
            commas += line[i] == ',';
        /* whole rows only: a row cut short by a kill is dropped */
        if (first || l == 0 || line[l - 1] != '\n' || commas != 4 ||
            sscanf(line, "%lld,%lld,", &ep, &st) != 2 || st > r->step)
            continue;
        if (len + l > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                fclose(old);
                return sl_error(SL_ERR_NOMEM, "out of memory");
            }
            buf = b;
        }
        memcpy(buf + len, line, l);
        len += l;
    }
    if (old)
        fclose(old);
    sl_status_t st = sl_file_write_atomic(path, buf, len);
    free(buf);
    SL_TRY(st);
    if (!(r->steps = fopen(path, "a")))
        return sl_error(SL_ERR_IO, "cannot append to '%s': %s", path, strerror(errno));
    return SL_OK;
}

/* After each step: a row every --log-steps steps (rank 0 writes). */
static void steps_log(run_t *r, double loss_sum, int64_t samples, double lr, double seconds)
{
    if (r->o->log_steps <= 0)
        return; /* no interval open: nothing of this run's start goes into a later --resume --log-steps row */
    r->lg_loss += loss_sum;
    r->lg_samples += samples;
    r->lg_time += seconds; /* training steps only, as the epoch rows */
    if (r->step % r->o->log_steps != 0)
        return;
    if (r->steps && !r->steps_errno) {
        errno = 0;
        fprintf(r->steps, "%lld,%lld,%.9g,%.9g,%.6g\n", (long long)r->epoch + 1, (long long)r->step,
                r->lg_loss / (double)r->lg_samples, lr,
                r->lg_time > 0 ? (double)r->lg_samples / r->lg_time : 0);
        if (fflush(r->steps) != 0 || ferror(r->steps))
            r->steps_errno = errno ? errno : EIO;
    }
    r->lg_loss = 0, r->lg_samples = 0, r->lg_time = 0;
}

static void run_free(run_t *r)
{
    if (r->steps)
        fclose(r->steps);
    sl_nn_node_destroy(&r->node); /* collective; before the model it stands in for */
    if (r->sbuf)                  /* shard 0 may be the model's arena: free before the model */
        for (int i = r->nn && sl_nn_device(r->nn) != SL_NN_CUDA; i < r->myshards; i++)
            free(r->sbuf[i]);
    sl_nn_optim_destroy(&r->opt);
    sl_nn_destroy(&r->nn);
    sl_allreduce_destroy(&r->ar);
    if (r->Xq) { /* the training slices are the shared window */
        sl_shared_window_free(&r->dwin);
    } else if (!r->kept[0])
        free(r->X), free(r->Y);
    free(r->Xq), free(r->Yq);
    if (!r->kept[1])
        free(r->EX), free(r->EY);
    free(r->sendb), free(r->recvb), free(r->bx), free(r->bt), free(r->bl), free(r->dy);
    free(r->scnt), free(r->sdisp), free(r->rcnt), free(r->rdisp), free(r->lo), free(r->hi), free(r->counts);
    free(r->perm);
    free(r->sbuf), free(r->scratch), free(r->shard_loss), free(r->hist);
    if (r->comm != MPI_COMM_NULL)
        MPI_Comm_free(&r->comm);
}

static sl_status_t setup(run_t *r)
{
    const sl_nn_train_opts_t *o = r->o;
    sl_status_t st = SL_OK;
    sl_nn_device_t dev;
    sl_nn_optim_kind_t ok;
    if (!o->data || !o->out || !o->model)
        return sl_error_root(r->comm, SL_ERR_USAGE, "train: --data, --model and --out are required");
    if (sl_nn_device_parse(o->device, &dev) != SL_OK)
        return sl_error_root(r->comm, SL_ERR_USAGE, "--device %s: expected cpu, cuda or ref", o->device);
    if (sl_nn_optim_parse(o->optimizer, &ok) != SL_OK)
        return sl_error_root(r->comm, SL_ERR_USAGE, "--optimizer %s: expected adam, adamw or sgd",
                             o->optimizer);
    if (sl_nn_sched_parse(o->schedule, &r->sched) != SL_OK)
        return sl_error_root(
            r->comm, SL_ERR_USAGE,
            "--schedule %s: expected constant, step:STEPS[:GAMMA], cosine[:WARMUP[:MIN_LR]] or "
            "linear[:WARMUP[:MIN_LR]]",
            o->schedule);
    /* MIN_LR is a rate, not a fraction of --lr: above it, the schedule
     * rises instead of decaying */
    if ((r->sched.kind == SL_NN_SCHED_COSINE || r->sched.kind == SL_NN_SCHED_LINEAR) &&
        r->sched.min_lr > o->lr)
        SL_WARN0("--schedule %s: MIN_LR %g is above --lr %g, so the rate rises from --lr to it (MIN_LR is a "
                 "learning rate, not a fraction of --lr)",
                 o->schedule, r->sched.min_lr, o->lr);
    if (o->epochs < 1 || o->batch < 1)
        return sl_error_root(r->comm, SL_ERR_USAGE, "--epochs and --batch must be at least 1");
    if (dev == SL_NN_CUDA && sl_agree(r->comm, sl_nn_device_check(dev)) != SL_OK)
        return sl_error_root(r->comm, SL_ERR_UNSUPPORTED, "--device cuda: no CUDA device%s",
#ifdef SL_HAVE_CUDA
                             " on this node"
#else
                             " support in this build (configure found no CUDA)"
#endif
        );
    if (dev == SL_NN_CUDA) {
        sl_topo_t topo;
        st = sl_topo_init(r->comm, &topo);
        if (st == SL_OK)
            st = sl_gpu_bind(&topo); /* one device per rank, logged at verbose level */
        sl_topo_fini(&topo);
        SL_TRY(st);
    }
    sl_nn_set_threads((int)o->threads);
    int lvl = sl_log_level_g;
    if (r->rank != 0)
        sl_log_set_level(SL_LOG_NONE); /* every rank sees the same spec error */
    st = sl_nn_create(o->model, dev, (uint64_t)o->seed, &r->nn);
    sl_log_set_level((sl_log_level_t)lvl);
    if (st == SL_ERR_INVALID)
        st = SL_ERR_USAGE; /* a bad --model is a bad option value: exit status 2 */
    SL_TRY(sl_agree(r->comm, st));
    SL_TRY(sl_nn_seed_dropout(r->nn, (uint64_t)o->seed, r->rank));
    r->K = sl_nn_out_features(r->nn);
    r->F = sl_nn_in_features(r->nn);

    int P = r->size;
    /* every rank on one node: shared data slices and, on the host, the
     * shared-memory step (SLUICE_ALLREDUCE=mpi: neither) */
    r->one_node = sl_comm_shm_path(r->comm);
    sl_nn_data_t *d = NULL, *e = NULL;
    struct stat sbd, sbe; /* before the open: a file renamed over in between is read again next time */
    int have_sbd = o->keep_data && stat(o->data, &sbd) == 0;
    int have_sbe = o->keep_data && o->eval && stat(o->eval, &sbe) == 0;
    SL_TRY(sl_nn_data_open(r->comm, o->data, &d));
    r->N = sl_nn_data_rows(d);
    r->tw = sl_nn_data_target_width(d);
    if (sl_nn_data_features(d) != r->F)
        st = sl_error_root(r->comm, SL_ERR_INVALID, "%s has %d features per sample but model %s takes %d",
                           o->data, sl_nn_data_features(d), o->model, r->F);
    else if (r->tw && r->tw != r->K)
        st =
            sl_error_root(r->comm, SL_ERR_INVALID, "%s has %d targets per sample but model %s has %d outputs",
                          o->data, r->tw, o->model, r->K);
    if (st == SL_OK)
        st = load_slices(r, d, o->data, have_sbd ? &sbd : NULL, 0, &r->row0, &r->cnt, &r->X, &r->Y,
                         r->one_node && !o->keep_data);
    sl_nn_data_close(&d);
    SL_TRY(st);
    if (o->loss && !strcmp(o->loss, "mse"))
        r->loss = SL_NN_MSE;
    else if (o->loss && !strcmp(o->loss, "xent"))
        r->loss = SL_NN_XENT;
    else if (o->loss)
        return sl_error_root(r->comm, SL_ERR_USAGE, "--loss %s: expected xent or mse", o->loss);
    else
        r->loss = r->tw ? SL_NN_MSE : SL_NN_XENT;
    if ((r->loss == SL_NN_XENT) != (r->tw == 0))
        return sl_error_root(r->comm, SL_ERR_INVALID, "%s: loss %s needs %s in /y", o->data,
                             r->loss == SL_NN_XENT ? "xent" : "mse",
                             r->loss == SL_NN_XENT ? "int32 labels" : "float32 targets");
    SL_TRY(check_labels(r, o->data, r->Y, r->row0, r->cnt));
    if (o->eval) {
        SL_TRY(sl_nn_data_open(r->comm, o->eval, &e));
        if (sl_nn_data_features(e) != r->F || sl_nn_data_target_width(e) != r->tw)
            st = sl_error_root(r->comm, SL_ERR_INVALID,
                               "%s does not match the training data's layout (%d features, %s)", o->eval,
                               r->F, r->tw ? "float targets" : "int32 labels");
        r->EN = sl_nn_data_rows(e);
        if (st == SL_OK)
            st =
                load_slices(r, e, o->eval, have_sbe ? &sbe : NULL, 1, &r->erow0, &r->ecnt, &r->EX, &r->EY, 0);
        sl_nn_data_close(&e);
        SL_TRY(st);
        SL_TRY(check_labels(r, o->eval, r->EY, r->erow0, r->ecnt));
    }

    sl_nn_optim_opts_t oo;
    sl_nn_optim_opts_default(&oo, ok);
    oo.lr = o->lr;
    oo.momentum = o->momentum;
    oo.nesterov = o->nesterov;
    if (o->weight_decay >= 0)
        oo.weight_decay = o->weight_decay;
    oo.beta1 = o->beta1;
    oo.beta2 = o->beta2;
    oo.eps = o->eps;
    SL_TRY(sl_agree(r->comm, sl_nn_optim_create(r->nn, &oo, &r->opt)));

    /* reduction mode */
    r->shards = o->shards > 0 ? (int)o->shards : 4;
    if (r->shards > o->batch)
        r->shards = (int)o->batch;
    r->exact = o->exact && (P & (P - 1)) == 0 && r->shards % P == 0;
    if (o->exact && !r->exact)
        SL_WARN0("exact reduction needs a power-of-two rank count dividing the shard count (%d); "
                 "using the bucketed all-reduce (deterministic for a fixed rank count)",
                 r->shards);
    size_t np = sl_nn_num_params(r->nn);
    r->use_node = r->one_node && sl_nn_device(r->nn) != SL_NN_CUDA;
    if (r->exact) {
        r->myshards = r->shards / P;
        r->myshard0 = r->rank * r->myshards;
        r->sbuf = calloc(r->myshards, sizeof(float *));
        /* on the host, shard 0 is the model's own gradient arena: the tree sum
         * ends where the optimiser reads */
        int own = sl_nn_device(r->nn) != SL_NN_CUDA;
        if (r->sbuf && own)
            r->sbuf[0] = sl_nn_grads(r->nn);
        for (int i = own; i < r->myshards && r->sbuf; i++)
            if (sl_nn_host_alloc(&r->sbuf[i], np) != SL_OK)
                st = SL_ERR_NOMEM;
        if (P > 1 && !r->use_node)
            st = st == SL_OK ? sl_nn_host_alloc(&r->scratch, np) : st;
        if (!r->sbuf)
            st = sl_error(SL_ERR_NOMEM, "out of memory");
    } else if (!r->use_node) {
        int flags = SL_AR_ORDERED;
#ifdef SL_HAVE_NCCL
        if (sl_nn_device(r->nn) == SL_NN_CUDA)
            flags |= SL_AR_NCCL; /* device gradients go through NCCL */
#endif
        st = sl_allreduce_create(r->comm, flags, &r->ar);
        if (st == SL_OK)
            sl_nn_attach_allreduce(r->nn, r->ar, 0, 0);
    }
    r->shard_loss = calloc((size_t)r->shards + 2, sizeof(double));
    if (!r->shard_loss)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    SL_TRY(sl_agree(r->comm, st));
    int64_t B = o->batch;
    r->W = r->F + (r->tw ? r->tw : 1);
    r->sendb = malloc((size_t)B * r->W * 2 * sizeof(float));
    r->recvb = malloc((size_t)B * r->W * sizeof(float));
    r->bx = malloc((size_t)B * r->F * sizeof(float));
    r->bt = malloc((size_t)B * (r->tw ? r->tw : 1) * sizeof(float));
    r->bl = malloc((size_t)B * sizeof(int32_t));
    r->dy = malloc((size_t)(B > 1 ? B : 1) * r->K * sizeof(float));
    r->scnt = malloc(P * sizeof(int)), r->sdisp = malloc(P * sizeof(int));
    r->rcnt = malloc(P * sizeof(int)), r->rdisp = malloc(P * sizeof(int));
    r->lo = malloc(P * sizeof(int)), r->hi = malloc(P * sizeof(int)), r->counts = malloc(P * sizeof(int));
    r->perm = malloc((size_t)r->N * sizeof(int64_t));
    r->hist = malloc((size_t)(o->epochs + 1) * HIST_COLS * sizeof(double));
    if (!r->sendb || !r->recvb || !r->bx || !r->bt || !r->bl || !r->dy || !r->scnt || !r->sdisp || !r->rcnt ||
        !r->rdisp || !r->lo || !r->hi || !r->counts || !r->perm || !r->hist)
        st = sl_error(SL_ERR_NOMEM, "out of memory for batches of %lld", (long long)B);
    SL_TRY(sl_agree(r->comm, st));
    r->steps_per_epoch = (r->N + B - 1) / B;
    SL_TRY(sl_agree(r->comm, sl_mkdirs(o->out)));
    snprintf(r->path, sizeof r->path, "%s/ckpt.h5", o->out);
    return SL_OK;
}

sl_status_t sl_nn_train_run(MPI_Comm comm, const sl_nn_train_opts_t *o, sl_nn_epoch_fn cb, void *cb_arg,
                            sl_nn_train_result_t *res_p)
{
    run_t rr, *r = &rr;
    memset(r, 0, sizeof *r);
    r->o = o;
    r->dwin = MPI_WIN_NULL;
    MPI_Comm_dup(comm, &r->comm);
    MPI_Comm_rank(r->comm, &r->rank);
    MPI_Comm_size(r->comm, &r->size);
    double t_start = sl_now();
    sl_nn_train_result_t res;
    memset(&res, 0, sizeof res);
    const char *final = "completed";
    sl_status_t st = setup(r);
    if (st == SL_OK && o->resume) {
        int found = 0;
        st = read_ckpt(r, &found);
        res.resumed = found;
        /* a finished run says only "nothing to do" below (it said it
         * resumed at an epoch past --epochs first) */
        if (st == SL_OK && found && r->epoch < o->epochs)
            SL_INFO0("resuming from %s at epoch %lld, batch %lld of %lld", r->path, (long long)r->epoch + 1,
                     (long long)r->pos, (long long)r->steps_per_epoch);
    }
    if (st == SL_OK && !o->resume) {
        /* a fresh run must not leave an old checkpoint to be resumed later,
         * nor the old run's rows and summary beside its own checkpoint */
        if (r->rank == 0) {
            char old[4200];
            if (remove(r->path) == 0 && !o->quiet)
                SL_WARN0("without --resume: starting afresh; the earlier run's %s is removed", r->path);
            snprintf(old, sizeof old, "%s/metrics.csv", o->out);
            remove(old);
            snprintf(old, sizeof old, "%s/summary.json", o->out);
            remove(old);
            /* else a later --resume --log-steps keeps its rows */
            snprintf(old, sizeof old, "%s/steps.csv", o->out);
            remove(old);
        }
    }
    if (st == SL_OK && o->log_steps > 0) {
        st = sl_agree(r->comm, r->rank == 0 ? steps_open(r, res.resumed) : SL_OK);
    }
    if (st == SL_OK && r->use_node) {
        st = sl_nn_node_create(r->comm, r->nn, r->opt, r->shards + 2, &r->node);
        if (st == SL_OK && r->exact)
            r->sbuf[0] = sl_nn_node_grads(r->node);
    }
    int64_t total_steps = r->steps_per_epoch * o->epochs;
    int64_t B = o->batch;
    int stop = 0, cb_stop = 0, poll_end = 0, idle = 0;
    if (st == SL_OK && r->epoch >= o->epochs) {
        SL_INFO0("%s already holds %lld epoch%s; nothing to do", r->path, (long long)r->epoch,
                 r->epoch == 1 ? "" : "s");
        idle = 1;
    }
    while (st == SL_OK && r->epoch < o->epochs && !stop && !cb_stop) {
        r->t_ep = sl_now();
        if (r->pos == 0) {
            r->ep_seconds = 0;
            r->ep_loss_sum = 0;
            r->ep_samples = 0;
            r->ep_train_time = 0;
            r->ep_cpu_time = 0;
        }
        sl_nn_shuffle((uint64_t)o->seed, r->epoch, r->N, r->perm);
        double t0 = sl_now(), c0 = cpu_now();
        for (; r->pos < r->steps_per_epoch && st == SL_OK; r->pos++) {
            int64_t a = r->pos * B, bs = (r->N - a) < B ? r->N - a : B;
            double lr = sl_nn_sched_lr(&r->sched, o->lr, r->step, total_steps);
            sl_nn_optim_set_lr(r->opt, lr);
            double ls = 0;
            int s = 0;
            double ts = sl_now();
            st = train_step(r, r->perm + a, bs, &ls, &s);
            if (st != SL_OK)
                break;
            if (!isfinite(ls)) {
                st = sl_error_root(r->comm, SL_ERR_NUMERIC,
                                   "the loss became %s at epoch %lld, step %lld (lower --lr?); the last good "
                                   "checkpoint %s stays",
                                   isnan(ls) ? "NaN" : "Inf", (long long)r->epoch + 1, (long long)r->step + 1,
                                   r->path);
                break;
            }
            /* the gradients are the same on every rank: so is the outcome */
            if (!r->node && o->clip > 0 && sl_nn_clip_grad_norm(r->nn, o->clip, &r->norm) != SL_OK)
                r->bad_norm = 1;
            if (r->bad_norm) {
                st = sl_error_root(r->comm, SL_ERR_NUMERIC,
                                   "gradient norm became %g at step %lld; the last good checkpoint %s stays",
                                   r->norm, (long long)r->step + 1, r->path);
                break;
            }
            if (!r->node) {                    /* the node step has updated its slice already */
                st = sl_nn_optim_step(r->opt); /* host: cannot fail; device: copies can */
                if (sl_nn_device(r->nn) == SL_NN_CUDA)
                    st = sl_agree(r->comm, st);
                if (st != SL_OK)
                    break;
            }
            r->step++;
            r->ep_loss_sum += ls;
            r->ep_samples += bs;
            steps_log(r, ls, bs, lr, sl_now() - ts);
            if (s == 2) { /* step_poll: end after this step, as the epoch callback would */
                poll_end = 1;
                s = 0;
                if (r->pos + 1 < r->steps_per_epoch) { /* the partial epoch is dropped */
                    cb_stop = 1;
                    r->pos++;
                    break;
                }
            }
            if (o->max_steps > 0 && r->step >= o->max_steps)
                s = 1;
            if (s || (o->ckpt_steps > 0 && r->step % o->ckpt_steps == 0 && r->pos + 1 < r->steps_per_epoch)) {
                r->ep_train_time += sl_now() - t0;
                r->ep_cpu_time += cpu_now() - c0;
                r->pos++;
                if (st == SL_OK)
                    st = write_ckpt(r);
                r->pos--;
                t0 = sl_now();
                c0 = cpu_now();
                if (s) {
                    stop = 1;
                    r->pos++;
                    break;
                }
            }
        }
        if (st != SL_OK || stop || cb_stop)
            break;
        r->ep_train_time += sl_now() - t0;
        r->ep_cpu_time += cpu_now() - c0;
        double tt = r->ep_train_time, ct = r->ep_cpu_time;
        MPI_Allreduce(MPI_IN_PLACE, &tt, 1, MPI_DOUBLE, MPI_MAX, r->comm);
        MPI_Allreduce(MPI_IN_PLACE, &ct, 1, MPI_DOUBLE, MPI_SUM, r->comm);
        sl_nn_train_metrics_t m;
        m.epoch = r->epoch + 1;
        m.step = r->step;
        m.train_loss = r->ep_loss_sum / (double)r->ep_samples;
        m.lr = sl_nn_optim_lr(r->opt);
        m.samples_per_s = tt > 0 ? (double)r->ep_samples / tt : 0;
        st = evaluate(r, &m.eval_loss, &m.eval_accuracy);
        m.seconds = r->ep_seconds + sl_now() - r->t_ep;
        MPI_Bcast(&m.seconds, 1, MPI_DOUBLE, 0, r->comm);
        if (st != SL_OK)
            break;
        double *h = r->hist + r->nhist * HIST_COLS;
        h[0] = (double)m.epoch, h[1] = (double)m.step, h[2] = m.train_loss, h[3] = m.eval_loss;
        h[4] = m.eval_accuracy, h[5] = m.lr, h[6] = m.samples_per_s, h[7] = m.seconds, h[8] = ct;
        r->nhist++;
        r->epoch++;
        r->pos = 0;
        r->ep_loss_sum = 0;
        r->ep_samples = 0;
        r->ep_train_time = 0;
        r->ep_cpu_time = 0;
        st = write_ckpt(r);
        if (st == SL_OK)
            st = sl_agree(r->comm, write_metrics(r));
        if (st != SL_OK)
            break;
        if (!o->quiet) {
            if (r->EX && r->loss == SL_NN_XENT)
                SL_INFO0("epoch %lld/%ld  loss %.4f  eval loss %.4f  accuracy %.4f  %.0f samples/s",
                         (long long)m.epoch, o->epochs, m.train_loss, m.eval_loss, m.eval_accuracy,
                         m.samples_per_s);
            else if (r->EX)
                SL_INFO0("epoch %lld/%ld  loss %.5g  eval loss %.5g  %.0f samples/s", (long long)m.epoch,
                         o->epochs, m.train_loss, m.eval_loss, m.samples_per_s);
            else
                SL_INFO0("epoch %lld/%ld  loss %.5g  %.0f samples/s", (long long)m.epoch, o->epochs,
                         m.train_loss, m.samples_per_s);
        }
        res.last = m;
        if (cb) {
            int c = cb(&m, cb_arg) ? 1 : 0;
            MPI_Bcast(&c, 1, MPI_INT, 0, r->comm);
            cb_stop = c;
        }
        cb_stop |= poll_end; /* a poll on the epoch's last step: the epoch is complete */
    }
    res.epochs_done = r->epoch;
    res.stopped_early = cb_stop;
    if (st == SL_OK && stop) {
        st = SL_ERR_STOPPED;
        final = "stopped";
        SL_INFO0("stopped at epoch %lld, batch %lld; checkpoint %s written", (long long)r->epoch + 1,
                 (long long)r->pos, r->path);
    } else if (st == SL_ERR_NUMERIC)
        final = "diverged";
    else if (st != SL_OK)
        final = "failed";
    /* a run that trained nothing keeps the finished run's summary (its
     * checkpoint size and times), as long as there is one */
    int keep_summary = 0;
    if (idle && st == SL_OK && o->out) { /* every rank here: idle is decided alike */
        char sum_path[4200];
        snprintf(sum_path, sizeof sum_path, "%s/summary.json", o->out);
        keep_summary = r->rank == 0 && access(sum_path, F_OK) == 0;
        MPI_Bcast(&keep_summary, 1, MPI_INT, 0, r->comm);
    }
    if (r->nn && (st == SL_OK || st == SL_ERR_STOPPED || st == SL_ERR_NUMERIC) && o->out && !keep_summary) {
        sl_status_t s2 =
            /* a callback's stop after the last epoch cut nothing short */
            sl_agree(r->comm,
                     write_summary(r, cb_stop && r->epoch < o->epochs ? "stopped-by-callback" : final,
                                   sl_now() - t_start));
        if (st == SL_OK)
            st = s2;
    }
    if (res_p && (st == SL_OK || st == SL_ERR_STOPPED))
        *res_p = res;
    run_free(r);
    return st;
}
