/* SPDX-License-Identifier: BSD-3-Clause */
/* Multi-rank training tests (run with 1, 2 and 4 ranks): P ranks give the
 * weights and loss curve of one rank bit for bit (exact mode), separable
 * data is learnt, resume after an epoch or a mid-epoch stop equals an
 * uninterrupted run, the epoch callback and a step poll can stop a run,
 * kept data serves the next run until its file changes, and bad inputs
 * fail collectively with nothing lost. */
#include "cunit_mpi.h"
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char train_h5[600], test_h5[600];

/* Two Gaussian blobs per class around distinct centres: separable. */
static void make_data(const char *path, int n, int F, int K, uint64_t seed, int bad)
{
    float *x = malloc(sizeof(float) * n * F);
    int32_t *y = malloc(sizeof(int32_t) * n);
    gsl_rng *r = NULL;
    sl_rng_create(seed, 0, "data", &r);
    for (int i = 0; i < n; i++) {
        int c = (int)gsl_rng_uniform_int(r, K);
        y[i] = c;
        for (int j = 0; j < F; j++)
            x[i * F + j] = (float)((j % K == c ? 2.0 : 0.0) + 0.5 * (gsl_rng_uniform(r) - 0.5));
    }
    if (bad == 1)
        y[n / 2] = K + 3;
    sl_h5_t *h = NULL;
    CU_ASSERT_FATAL(sl_h5_create(MPI_COMM_WORLD, path, &h) == SL_OK);
    uint64_t dx[2] = {(uint64_t)n, (uint64_t)F}, dy[1] = {(uint64_t)n};
    CU_ASSERT_FATAL(sl_h5_write(h, "X", SL_F32, 2, dx, x) == SL_OK);
    if (bad != 2)
        CU_ASSERT_FATAL(sl_h5_write(h, "y", SL_I32, 1, dy, y) == SL_OK);
    CU_ASSERT_FATAL(sl_h5_commit(&h, 1) == SL_OK);
    sl_rng_destroy(&r);
    free(x);
    free(y);
}

static void opts(sl_nn_train_opts_t *o, const char *out, long epochs)
{
    sl_nn_train_opts_default(o);
    o->data = train_h5;
    o->eval = test_h5;
    o->model = "mlp:12-16-8-4";
    o->out = out;
    o->epochs = epochs;
    o->batch = 32;
    o->lr = 0.01;
    o->quiet = 1;
}

static void dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", sl_test_tmpdir(), name);
}

/* Load the weights a run left, on every rank. */
static float *weights(const char *rundir, size_t *n_p)
{
    char p[700];
    snprintf(p, sizeof p, "%s/ckpt.h5", rundir);
    sl_h5_t *h = NULL;
    sl_nn_t *nn = NULL;
    CU_ASSERT_FATAL(sl_h5_open(MPI_COMM_WORLD, p, &h) == SL_OK);
    CU_ASSERT_FATAL(sl_nn_create_from_h5(h, "", SL_NN_CPU, &nn) == SL_OK);
    sl_h5_close(&h);
    size_t n = sl_nn_num_params(nn);
    float *w = malloc(n * sizeof(float));
    memcpy(w, sl_nn_params(nn), n * sizeof(float));
    sl_nn_destroy(&nn);
    *n_p = n;
    return w;
}

static int epochs_seen;
static double last_acc;
static int count_cb(const sl_nn_train_metrics_t *m, void *arg)
{
    epochs_seen++;
    last_acc = m->eval_accuracy;
    return arg && m->epoch >= *(int *)arg;
}

static void test_setup(void)
{
    snprintf(train_h5, sizeof train_h5, "%s/train.h5", sl_test_tmpdir());
    snprintf(test_h5, sizeof test_h5, "%s/test.h5", sl_test_tmpdir());
    make_data(train_h5, 1000, 12, 4, 1, 0);
    make_data(test_h5, 300, 12, 4, 2, 0);
}

/* P ranks against one rank (rank 0 alone on MPI_COMM_SELF). */
static void test_ranks_equal_one(void)
{
    char dp[600], d1[600];
    dir(dp, sizeof dp, "par");
    dir(d1, sizeof d1, "one");
    sl_nn_train_opts_t o;
    opts(&o, dp, 2);
    o.model = "mlp:12-16-8-4:gelu:ln";
    sl_nn_train_result_t rp, r1;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, &rp) == SL_OK);
    if (sl_test_rank() == 0) {
        o.out = d1;
        CU_ASSERT_FATAL(sl_nn_train_run(MPI_COMM_SELF, &o, NULL, NULL, &r1) == SL_OK);
        CU_ASSERT(rp.last.train_loss == r1.last.train_loss);
        CU_ASSERT(rp.last.eval_loss == r1.last.eval_loss);
        CU_ASSERT(rp.last.eval_accuracy == r1.last.eval_accuracy);
        CU_ASSERT(rp.last.step == r1.last.step);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    size_t n1, np;
    float *w1 = weights(d1, &n1), *wp = weights(dp, &np);
    SL_ASSERT_ALL(n1 == np && memcmp(w1, wp, n1 * sizeof(float)) == 0);
    free(w1), free(wp);
}

/* A model of several norm blocks, so every rank of the single-node step
 * owns a slice: with clipping and AdamW, then SGD with momentum, P ranks
 * give one rank's weights bit for bit, through the shared-memory step and
 * through the message path (SLUICE_ALLREDUCE=mpi). */
static void test_ranks_equal_one_sliced(void)
{
    const char *optim[2] = {"adamw", "sgd"};
    for (int path = 0; path < 2; path++)
        for (int k = 0; k < 2; k++) {
            char dp[600], d1[600], name[32];
            snprintf(name, sizeof name, "slpar%d%d", path, k);
            dir(dp, sizeof dp, name);
            snprintf(name, sizeof name, "slone%d%d", path, k);
            dir(d1, sizeof d1, name);
            sl_nn_train_opts_t o;
            opts(&o, dp, 2);
            o.model = "mlp:12-256-64-4";
            o.optimizer = optim[k];
            o.momentum = 0.9;
            o.weight_decay = 0.01;
            o.clip = k == 0 ? 0.05 : 0; /* small enough to clip most steps */
            if (path)
                setenv("SLUICE_ALLREDUCE", "mpi", 1);
            SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
            unsetenv("SLUICE_ALLREDUCE");
            if (sl_test_rank() == 0) {
                o.out = d1;
                CU_ASSERT_FATAL(sl_nn_train_run(MPI_COMM_SELF, &o, NULL, NULL, NULL) == SL_OK);
            }
            MPI_Barrier(MPI_COMM_WORLD);
            size_t n1, np;
            float *w1 = weights(d1, &n1), *wp = weights(dp, &np);
            SL_ASSERT_ALL(n1 == np && memcmp(w1, wp, n1 * sizeof(float)) == 0);
            free(w1), free(wp);
        }
}

static void test_learns_separable(void)
{
    char d[600];
    dir(d, sizeof d, "learn");
    sl_nn_train_opts_t o;
    opts(&o, d, 5);
    epochs_seen = 0;
    double t0 = sl_now();
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, count_cb, NULL, NULL) == SL_OK);
    CU_ASSERT(epochs_seen == 5);
    CU_ASSERT(last_acc > 0.95);
    CU_ASSERT(sl_now() - t0 < 60);
    /* metrics.csv: header plus 5 rows; summary.json says completed */
    if (sl_test_rank() == 0) {
        char p[700], line[512];
        snprintf(p, sizeof p, "%s/metrics.csv", d);
        FILE *f = fopen(p, "r");
        CU_ASSERT_FATAL(f != NULL);
        int rows = 0;
        CU_ASSERT(fgets(line, sizeof line, f) &&
                  !strncmp(line, "epoch,step,train_loss,eval_loss,eval_accuracy,lr,samples_per_s", 61));
        while (fgets(line, sizeof line, f))
            rows++;
        fclose(f);
        CU_ASSERT(rows == 5);
        snprintf(p, sizeof p, "%s/summary.json", d);
        f = fopen(p, "r");
        CU_ASSERT_FATAL(f != NULL);
        size_t len = fread(line, 1, sizeof line - 1, f);
        line[len] = 0;
        fclose(f);
        CU_ASSERT(strstr(line, "\"status\": \"completed\"") != NULL);
    }
}

/* 2 epochs + resume to 3 == 3 epochs; a mid-epoch stop + resume == no stop. */
static void test_resume_exact(void)
{
    char da[600], db[600], dc[600];
    dir(da, sizeof da, "full3");
    dir(db, sizeof db, "two-then-three");
    dir(dc, sizeof dc, "stopped");
    sl_nn_train_opts_t o;
    opts(&o, da, 3);
    o.model = "mlp:12-16-8-4:tanh:dropout=0.2";
    o.optimizer = "sgd";
    o.momentum = 0.9;
    o.schedule = "step:20:0.5"; /* cosine depends on the total epochs */
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    o.out = db;
    o.epochs = 2;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    o.epochs = 3;
    o.resume = 1;
    sl_nn_train_result_t res;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, &res) == SL_OK);
    CU_ASSERT(res.resumed && res.epochs_done == 3);
    /* stop after 40 steps (mid-epoch 2: 32 steps per epoch), then resume */
    o.out = dc;
    o.resume = 0;
    o.max_steps = 40;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_STOPPED);
    o.max_steps = 0;
    o.resume = 1;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    size_t na, nb, nc;
    float *wa = weights(da, &na), *wb = weights(db, &nb), *wc = weights(dc, &nc);
    SL_ASSERT_ALL(na == nb && memcmp(wa, wb, na * sizeof(float)) == 0);
    SL_ASSERT_ALL(na == nc && memcmp(wa, wc, na * sizeof(float)) == 0);
    free(wa), free(wb), free(wc);
}

static void test_callback_stop(void)
{
    char d[600];
    dir(d, sizeof d, "cb");
    sl_nn_train_opts_t o;
    opts(&o, d, 10);
    int stop_at = 2;
    sl_nn_train_result_t res;
    epochs_seen = 0;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, count_cb, &stop_at, &res) == SL_OK);
    CU_ASSERT(res.stopped_early && res.epochs_done == 2 && epochs_seen == 2);
}

/* step_poll: nonzero on one rank ends the run after that step on every
 * rank, as the epoch callback's stop does: no checkpoint of the partial
 * epoch (epoch 1 is the last one kept). */
static int poll_calls;
static int poll_stop(void *arg)
{
    (void)arg;
    poll_calls++;
    return sl_test_rank() == sl_test_size() - 1 && poll_calls == 40; /* 32 steps an epoch */
}

static int poll_and_signal(void *arg)
{
    if (++poll_calls == 40)
        sl_stop_request();
    (void)arg;
    return sl_test_rank() == 0 && poll_calls == 40;
}

static void test_step_poll(void)
{
    char d[600];
    dir(d, sizeof d, "poll");
    sl_nn_train_opts_t o;
    opts(&o, d, 5);
    o.step_poll = poll_stop;
    poll_calls = 0;
    epochs_seen = 0;
    sl_nn_train_result_t res;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, count_cb, NULL, &res) == SL_OK);
    CU_ASSERT(res.stopped_early && res.epochs_done == 1 && epochs_seen == 1);
    CU_ASSERT_EQUAL(poll_calls, 40);
    /* the checkpoint left is epoch 1's: a one-epoch run's weights */
    char d1[600];
    dir(d1, sizeof d1, "poll-one");
    opts(&o, d1, 1);
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    size_t na, nb;
    float *wa = weights(d, &na), *wb = weights(d1, &nb);
    SL_ASSERT_ALL(na == nb && memcmp(wa, wb, na * sizeof(float)) == 0);
    free(wa), free(wb);
    /* a poll on an epoch's last step lets the epoch finish: two epochs kept */
    opts(&o, d, 5);
    o.step_poll = poll_stop;
    poll_calls = 40 - 64; /* its 40th call is step 64, epoch 2's last */
    epochs_seen = 0;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, count_cb, NULL, &res) == SL_OK);
    CU_ASSERT(res.stopped_early && res.epochs_done == 2 && epochs_seen == 2);
    /* a stop request on every rank in the same step as the poll wins: the
     * run stops as for a signal, its checkpoint written */
    opts(&o, d, 5);
    o.step_poll = poll_and_signal;
    poll_calls = 0;
    sl_status_t st = sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL);
    sl_stop_reset();
    SL_ASSERT_ALL(st == SL_ERR_STOPPED);
}

/* Replace path's bytes with src's in place, keeping its inode, size and
 * modification time (rank 0; the caller synchronises). */
static void overwrite_same_stat(const char *path, const char *src)
{
    struct stat a, b;
    CU_ASSERT_FATAL(stat(path, &a) == 0 && stat(src, &b) == 0 && a.st_size == b.st_size);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "r+b");
    CU_ASSERT_FATAL(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        CU_ASSERT_FATAL(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
    struct timespec ts[2] = {a.st_atim, a.st_mtim};
    CU_ASSERT_FATAL(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

/* keep_data: a second run on the same file uses the slices the first read
 * (shown by changing the file's bytes behind an unchanged inode, size and
 * time: the kept run trains on the old data, bit for bit); a rewritten
 * file, or sl_nn_train_forget_data, reads it again. */
static void test_keep_data(void)
{
    char da[600], db[600], dc[600], dd[600], kp[600], other[600];
    dir(da, sizeof da, "keep-a");
    dir(db, sizeof db, "keep-b");
    dir(dc, sizeof dc, "keep-c");
    dir(dd, sizeof dd, "keep-d");
    dir(kp, sizeof kp, "keep.h5");
    dir(other, sizeof other, "other.h5");
    make_data(kp, 1000, 12, 4, 1, 0);
    make_data(other, 1000, 12, 4, 7, 0);
    sl_nn_train_opts_t o;
    opts(&o, da, 2);
    o.data = kp;
    o.keep_data = 1;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    if (sl_test_rank() == 0)
        overwrite_same_stat(kp, other);
    MPI_Barrier(MPI_COMM_WORLD);
    o.out = db;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    sl_nn_train_forget_data();
    o.out = dc;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    size_t na, nb, nc, nd;
    float *wa = weights(da, &na), *wb = weights(db, &nb), *wc = weights(dc, &nc);
    SL_ASSERT_ALL(na == nb && memcmp(wa, wb, na * sizeof(float)) == 0); /* the kept slices */
    SL_ASSERT_ALL(na == nc && memcmp(wa, wc, na * sizeof(float)) != 0); /* read again */
    /* a rewritten file (the first data again, a new inode and time) is read again */
    make_data(kp, 1000, 12, 4, 1, 0);
    o.out = dd;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    float *wd = weights(dd, &nd);
    SL_ASSERT_ALL(na == nd && memcmp(wa, wd, na * sizeof(float)) == 0);
    sl_nn_train_forget_data();
    free(wa), free(wb), free(wc), free(wd);
}

static void test_bad_inputs(void)
{
    char d[600], p[600];
    sl_nn_train_opts_t o;
    sl_log_set_level(SL_LOG_NONE);
    dir(d, sizeof d, "bad");
    /* width mismatch */
    opts(&o, d, 1);
    o.model = "mlp:10-4";
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_INVALID);
    /* labels out of range */
    dir(p, sizeof p, "badlabels.h5");
    make_data(p, 100, 12, 4, 3, 1);
    opts(&o, d, 1);
    o.data = p;
    sl_status_t st = sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL);
    SL_ASSERT_ALL(st == SL_ERR_INVALID || st == SL_ERR_PEER); /* the rank holding the row reports it */
    /* no /y */
    dir(p, sizeof p, "noy.h5");
    make_data(p, 100, 12, 4, 3, 2);
    o.data = p;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_INVALID);
    /* missing file */
    o.data = "/nonexistent/train.h5";
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_NOT_FOUND);
    /* resume with another model: the checkpoint stays as it was */
    opts(&o, d, 1);
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_OK);
    size_t n0, n1;
    float *w0 = weights(d, &n0);
    o.model = "mlp:12-32-4";
    o.resume = 1;
    o.epochs = 2;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_MISMATCH);
    float *w1 = weights(d, &n1);
    SL_ASSERT_ALL(n0 == n1 && memcmp(w0, w1, n0 * sizeof(float)) == 0);
    /* divergence: the loss becomes Inf/NaN; the last good checkpoint stays */
    opts(&o, d, 3);
    o.resume = 1; /* the checkpoint's optimiser (Adam): another one is refused */
    o.lr = 1e30;
    SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_NUMERIC);
    free(w1);
    w1 = weights(d, &n1);
    SL_ASSERT_ALL(n0 == n1 && memcmp(w0, w1, n0 * sizeof(float)) == 0);
    free(w0), free(w1);
    /* no GPU: --device cuda fails cleanly */
    if (sl_gpu_count() == 0) {
        opts(&o, d, 1);
        o.device = "cuda";
        SL_ASSERT_ALL(sl_nn_train_run(MPI_COMM_WORLD, &o, NULL, NULL, NULL) == SL_ERR_UNSUPPORTED);
    }
    sl_log_set_level(SL_LOG_INFO);
}

/* The all-reduce helpers the RL component uses: averaged gradients. */
static void test_grad_allreduce(void)
{
    sl_nn_t *nn = NULL;
    sl_allreduce_t *ar = NULL;
    CU_ASSERT_FATAL(sl_nn_create("mlp:3-5-2", SL_NN_CPU, 1, &nn) == SL_OK);
    SL_ASSERT_ALL(sl_allreduce_create(MPI_COMM_WORLD, 0, &ar) == SL_OK);
    size_t n = sl_nn_num_params(nn);
    for (size_t i = 0; i < n; i++)
        sl_nn_grads(nn)[i] = (float)(sl_test_rank() + 1);
    SL_ASSERT_ALL(sl_nn_grad_allreduce(nn, ar) == SL_OK);
    float want = (float)(sl_test_size() + 1) / 2.f;
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= fabsf(sl_nn_grads(nn)[i] - want) < 1e-6f;
    SL_ASSERT_ALL(ok);
    /* bucketed, started during backward */
    SL_ASSERT_ALL(sl_nn_attach_allreduce(nn, ar, 4, 8) == SL_OK);
    float x[6] = {1, 2, 3, 4, 5, 6}, dy[4] = {1, 1, 1, 1};
    const float *y;
    sl_nn_zero_grad(nn);
    SL_ASSERT_ALL(sl_nn_forward(nn, x, 2, 1, &y) == SL_OK);
    SL_ASSERT_ALL(sl_nn_backward(nn, dy, NULL) == SL_OK);
    SL_ASSERT_ALL(sl_nn_grad_wait(nn) == SL_OK);
    float *g = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
    memcpy(g, sl_nn_grads(nn), n * sizeof(float));
    sl_nn_attach_allreduce(nn, NULL, 0, 0);
    sl_nn_zero_grad(nn);
    SL_ASSERT_ALL(sl_nn_forward(nn, x, 2, 1, &y) == SL_OK);
    SL_ASSERT_ALL(sl_nn_backward(nn, dy, NULL) == SL_OK);
    memcpy(g0, sl_nn_grads(nn), n * sizeof(float)); /* same data on all ranks: the mean is itself */
    ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= fabsf(g[i] - g0[i]) <= 1e-6f * (1 + fabsf(g0[i]));
    SL_ASSERT_ALL(ok);
    free(g), free(g0);
    sl_allreduce_destroy(&ar);
    sl_nn_destroy(&nn);
}

int main(int argc, char **argv)
{
    static const sl_test_t tests[] = {
        {"make data", test_setup},
        {"P ranks give one rank's weights bit for bit", test_ranks_equal_one},
        {"sliced step, clipping, AdamW and SGD: one rank's weights", test_ranks_equal_one_sliced},
        {"separable data above 95%", test_learns_separable},
        {"resume equals an uninterrupted run", test_resume_exact},
        {"epoch callback stops the run", test_callback_stop},
        {"step poll ends the run", test_step_poll},
        {"kept data is reused until the file changes", test_keep_data},
        {"bad inputs", test_bad_inputs},
        {"gradient all-reduce", test_grad_allreduce},
        {NULL, NULL},
    };
    return sl_test_run(argc, argv, "train", tests);
}
