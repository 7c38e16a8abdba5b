/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice demo`: the quick start's job. It shows the core at work: ranks and
 * nodes found, a distributed state advanced step by step with progress, a
 * checkpoint written collectively and read back, a graceful stop on SIGUSR1
 * or SIGTERM that a re-run resumes (with any number of ranks), and a clean
 * summary. The result does not depend on the rank count. */
#include "config.h"
#include "sluice.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    long steps, rows, cols, ckpt_every, step_ms, keep, seed;
    long farm_tasks, train_epochs, sort_records;
    char *out, *fashion;
    int restart;
} demo_opts_t;

#define O(f) offsetof(demo_opts_t, f)
static const sl_opt_t demo_table[] = {
    {"steps", 0, SL_OPT_INT, O(steps), "20", 0, 1e9, NULL, 0, "steps to run", NULL},
    {"rows", 0, SL_OPT_INT, O(rows), "4096", 1, 1e9, NULL, 0, "rows of the distributed state", NULL},
    {"cols", 0, SL_OPT_INT, O(cols), "64", 1, 1e6, NULL, 0, "columns of the state", NULL},
    {"checkpoint-every", 0, SL_OPT_INT, O(ckpt_every), "5", 1, 1e9, NULL, 0, "steps between checkpoints", NULL},
    {"step-ms", 0, SL_OPT_INT, O(step_ms), "50", 0, 60000, NULL, 0, "milliseconds of work per step", NULL},
    {"keep", 0, SL_OPT_INT, O(keep), "2", 1, 100, NULL, 0, "checkpoint versions kept", NULL},
    {"seed", 0, SL_OPT_INT, O(seed), "1", 0, 4e18, NULL, 0, "random seed", NULL},
    {"out", 'o', SL_OPT_STRING, O(out), "sluice-demo", 0, 0, NULL, 0, "run directory", "DIR"},
    {"restart", 0, SL_OPT_BOOL, O(restart), NULL, 0, 0, NULL, 0, "ignore an existing checkpoint", NULL},
    {"farm-tasks", 0, SL_OPT_INT, O(farm_tasks), "10000000", 0, 1e12, NULL, 0,
     "tasks for the task-farm stage (0: skip it)", NULL},
    {"sort-records", 0, SL_OPT_INT, O(sort_records), "1000000", 0, 1e12, NULL, 0,
     "100-byte records for the gensort/sort/valsort stage (0: skip it)", NULL},
    {"train-epochs", 0, SL_OPT_INT, O(train_epochs), "2", 0, 1000, NULL, 0,
     "epochs of the Fashion-MNIST training stage (0: skip it)", NULL},
    {"fashion-mnist", 0, SL_OPT_STRING, O(fashion), "/usr/share/datasets/fashion-mnist", 0, 0, NULL, 0,
     "folder with the Fashion-MNIST IDX files (Debian: dataset-fashion-mnist); missing: stage skipped", "DIR"},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t demo_spec = {
    "demo", "demo [--steps N] [--out DIR] [options]",
    "Stage 1 (core): advances a distributed array for --steps steps with progress, checkpoints it\n"
    "to DIR/ckpt.h5 (collective parallel HDF5, atomic rename), reads it back and verifies it.\n"
    "Stage 2 (tasks): runs --farm-tasks tiny tasks through the one-sided task farm.\n"
    "Stage 3 (sort): gensort, a distributed sort over UCX, and valsort of --sort-records records.\n"
    "Stage 4 (train): trains an MLP on Fashion-MNIST data-parallel over all ranks (DIR/train).\n"
    "SIGUSR1 or SIGTERM stops it at the next safe point with a checkpoint (exit status 75);\n"
    "running it again resumes, with any number of ranks.",
    demo_table, NULL};

typedef struct {
    MPI_Comm comm;
    int rank, size;
    uint64_t row0, nrows, rows, cols;
    float *x;
    long step;
} demo_t;

static void block(uint64_t n, int P, int r, uint64_t *off, uint64_t *cnt)
{
    uint64_t base = n / (uint64_t)P, rem = n % (uint64_t)P;
    *off = (uint64_t)r * base + ((uint64_t)r < rem ? (uint64_t)r : rem);
    *cnt = base + ((uint64_t)r < rem);
}

static void advance(demo_t *d)
{
    for (uint64_t i = 0; i < d->nrows; i++)
        for (uint64_t j = 0; j < d->cols; j++) {
            float *v = &d->x[i * d->cols + j];
            *v = 0.9f * *v + 0.1f * sinf((float)d->step + 0.001f * (float)(d->row0 + i) + 0.01f * (float)j);
        }
    d->step++;
}

/* Order-independent checksum of the global state (sum of float bit patterns). */
static uint64_t checksum(demo_t *d, const float *x)
{
    uint64_t s = 0, g = 0;
    for (uint64_t i = 0; i < d->nrows * d->cols; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        s += b;
    }
    MPI_Allreduce(&s, &g, 1, MPI_UINT64_T, MPI_SUM, d->comm);
    return g;
}

static sl_status_t save(demo_t *d, const char *path, long seed, int keep)
{
    sl_h5_t *h;
    uint64_t dims[2] = {d->rows, d->cols};
    SL_TRY(sl_h5_create(d->comm, path, &h));
    sl_status_t st = sl_h5_write_rows(h, "state/x", SL_F32, 2, dims, d->row0, d->nrows, d->x);
    if (st == SL_OK)
        st = sl_h5_set_attr_i64(h, "/", "step", d->step);
    if (st == SL_OK)
        st = sl_h5_set_attr_i64(h, "/", "seed", seed);
    if (st == SL_OK)
        st = sl_h5_set_attr_str(h, "/", "sluice_version", sl_version());
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    SL_TRY(sl_h5_commit(&h, keep));
    if (d->rank == 0) /* versions beyond --keep that a run with a larger one left */
        sl_h5_prune(path, keep);
    return SL_OK;
}

static sl_status_t load(demo_t *d, const char *path, long seed, int *found_p)
{
    sl_h5_t *h;
    int64_t step = 0, s = 0;
    uint64_t dims[2] = {d->rows, d->cols};
    *found_p = 0;
    sl_status_t st = sl_h5_open(d->comm, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return SL_OK;
    SL_TRY(st);
    if (sl_h5_get_attr_i64(h, "/", "step", &step) != SL_OK || sl_h5_get_attr_i64(h, "/", "seed", &s) != SL_OK)
        st = sl_error_root(d->comm, SL_ERR_MISMATCH, "'%s' is not a demo checkpoint (no step/seed)", path);
    else if (s != seed)
        st = sl_error_root(d->comm, SL_ERR_MISMATCH,
                           "'%s' was written with --seed %lld, not %ld (use --restart to start over)", path,
                           (long long)s, seed);
    sl_dtype_t t;
    int nd;
    uint64_t have[SL_H5_MAXDIM];
    st = sl_h5_info(h, "state/x", &t, &nd, have);
    if (st != SL_OK || nd != 2 || have[0] != dims[0] || have[1] != dims[1])
        st = sl_error_root(d->comm, SL_ERR_MISMATCH,
                           "'%s': state/x is not %llux%llu (use the same --rows/--cols, or --restart)", path,
                           (unsigned long long)dims[0], (unsigned long long)dims[1]);
    if (st == SL_OK)
        st = sl_h5_read_rows(h, "state/x", SL_F32, d->row0, d->nrows, d->x);
    sl_h5_close(&h);
    SL_TRY(st);
    d->step = step;
    *found_p = 1;
    return SL_OK;
}

/* A tiny task: a few hundred nanoseconds of arithmetic. */
static int tiny_task(int64_t id, int attempt, void *arg)
{
    volatile double *sink = arg, x = (double)id;
    for (int i = 0; i < 16; i++)
        x = x * 0.999 + 1.0;
    *sink += x;
    return 0;
}

static sl_status_t stage_farm(MPI_Comm comm, const demo_opts_t *o)
{
    sl_farm_report_t rep;
    double sink = 0;
    int rank;
    MPI_Comm_rank(comm, &rank);
    sl_status_t st = sl_farm_run(comm, o->farm_tasks, tiny_task, &sink, NULL, &rep);
    if (st != SL_OK && st != SL_ERR_FAILED)
        return st;
    if (rank == 0) {
        printf(
            "tasks: %lld tiny tasks on %d rank%s in %.3f s (%.2fM tasks/s), %lld claims, efficiency %.2f\n",
            (long long)rep.succeeded, rep.nranks, rep.nranks == 1 ? "" : "s", rep.makespan,
            (double)rep.succeeded / (rep.makespan > 0 ? rep.makespan : 1e-9) / 1e6, (long long)rep.claims,
            sl_farm_report_efficiency(&rep));
        fflush(stdout);
    }
    sl_farm_report_fini(&rep);
    return st;
}

/* gensort, sort and valsort through their commands, as a user would. */
static sl_status_t stage_sort(MPI_Comm comm, const demo_opts_t *o)
{
    char n[32], in[4200], outdir[4200], tmp[4200], part[4300];
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    snprintf(n, sizeof n, "%ld", o->sort_records);
    snprintf(in, sizeof in, "%s/sort/input.dat", o->out);
    snprintf(outdir, sizeof outdir, "%s/sort/sorted", o->out);
    snprintf(tmp, sizeof tmp, "%s/sort/tmp", o->out);
    sl_status_t st = rank == 0 ? sl_mkdirs(tmp) : SL_OK;
    SL_TRY(sl_agree(comm, st));
    if (rank == 0) {
        printf("sort: gensort %s record%s (%.0f MB), sort over %d rank%s, valsort\n", n,
               o->sort_records == 1 ? "" : "s", o->sort_records * 100 / 1e6, size, size == 1 ? "" : "s");
        fflush(stdout);
    }
    double t0 = sl_now();
    char *g[] = {"gensort", n, in, NULL};
    SL_TRY(sl_cmd_gensort(comm, 3, g));
    double t1 = sl_now();
    char *so[] = {"sort", "--input", in, "--output", outdir, "--tmp", tmp, "--quiet", NULL};
    SL_TRY(sl_cmd_sort(comm, 8, so));
    double t2 = sl_now();
    char **parts = calloc((size_t)size + 1, sizeof *parts);
    int np = 0;
    for (int r = 0; r < size && parts; r++) {
        snprintf(part, sizeof part, "%s/part-%05d", outdir, r);
        if (access(part, R_OK) == 0)
            parts[np++] = strdup(part);
    }
    sl_valsort_sum_t sum;
    st = parts ? sl_valsort_files(comm, parts, np, &sum) : SL_ERR_NOMEM;
    for (int i = 0; i < np; i++)
        free(parts[i]);
    free(parts);
    SL_TRY(st);
    if (rank == 0) {
        int ok = sum.unordered_count[0] == 0 && sum.unordered_count[1] == 0;
        printf("sort: gensort %.2f s, sort %.2f s (%.0f MB/s), valsort: %llu records in %d part(s), %s\n", t1 - t0,
               t2 - t1, o->sort_records * 100 / 1e6 / (t2 - t1 > 0 ? t2 - t1 : 1e-9),
               (unsigned long long)sum.rec_count[1], np, ok ? "all in order" : "OUT OF ORDER");
        fflush(stdout);
    }
    return SL_OK;
}

static int train_report(const sl_nn_train_metrics_t *m, void *arg)
{
    ++*(int *)arg;
    if (sl_log_rank() == 0) {
        printf("train: epoch %lld: train loss %.4f, test accuracy %.4f, %.0f samples/s\n", (long long)m->epoch,
               m->train_loss, m->eval_accuracy, m->samples_per_s);
        fflush(stdout);
    }
    return 0;
}

static sl_status_t stage_train(MPI_Comm comm, const demo_opts_t *o)
{
    char img[4200], lab[4200], timg[4200], tlab[4200], dir[4200], tr[4200], te[4200];
    int rank, have = 1;
    MPI_Comm_rank(comm, &rank);
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", o->fashion);
    snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", o->fashion);
    snprintf(timg, sizeof timg, "%s/t10k-images-idx3-ubyte.gz", o->fashion);
    snprintf(tlab, sizeof tlab, "%s/t10k-labels-idx1-ubyte.gz", o->fashion);
    if (rank == 0)
        have = access(img, R_OK) == 0 && access(lab, R_OK) == 0 && access(timg, R_OK) == 0 &&
               access(tlab, R_OK) == 0;
    MPI_Bcast(&have, 1, MPI_INT, 0, comm);
    if (!have) {
        if (rank == 0)
            printf("train: skipped: no Fashion-MNIST in %s (apt-get install dataset-fashion-mnist)\n", o->fashion);
        return SL_OK;
    }
    snprintf(dir, sizeof dir, "%s/train", o->out);
    snprintf(tr, sizeof tr, "%s/fashion-train.h5", o->out);
    snprintf(te, sizeof te, "%s/fashion-test.h5", o->out);
    if (rank == 0)
        have = access(tr, R_OK) == 0 && access(te, R_OK) == 0;
    MPI_Bcast(&have, 1, MPI_INT, 0, comm);
    if (!have) {
        SL_TRY(sl_nn_import_idx(comm, img, lab, tr));
        SL_TRY(sl_nn_import_idx(comm, timg, tlab, te));
    }
    sl_nn_train_opts_t t;
    sl_nn_train_opts_default(&t);
    t.data = tr;
    t.eval = te;
    t.model = "mlp:784-128-10";
    t.out = dir;
    t.epochs = o->train_epochs;
    t.batch = 128;
    t.lr = 1e-3;
    t.seed = o->seed;
    t.threads = 1;
    t.resume = !o->restart;
    t.quiet = 1;
    if (rank == 0) {
        printf("train: Fashion-MNIST, %s, %ld epoch%s, global batch %ld, data parallel\n", t.model, t.epochs,
               t.epochs == 1 ? "" : "s", t.batch);
        fflush(stdout);
    }
    sl_nn_train_result_t res;
    int epochs_run = 0;
    sl_status_t st = sl_nn_train_run(comm, &t, train_report, &epochs_run, &res);
    /* A re-run after a finished training runs no epoch: there is no accuracy
     * of this run to print (res.last is empty), so say where the model is. */
    if (st == SL_OK && rank == 0 && epochs_run == 0) {
        printf("train: %s/ckpt.h5 already holds %lld epoch%s (its metrics are in %s/metrics.csv; --restart "
               "trains again)\n",
               dir, (long long)res.epochs_done, res.epochs_done == 1 ? "" : "s", dir);
        fflush(stdout);
    } else if (st == SL_OK && rank == 0) {
        printf(
            "train: test accuracy %.4f after %lld epoch%s; checkpoint %s/ckpt.h5, metrics %s/metrics.csv\n",
            res.last.eval_accuracy, (long long)res.epochs_done, res.epochs_done == 1 ? "" : "s", dir, dir);
        fflush(stdout);
    }
    return st;
}

static sl_status_t run(MPI_Comm comm, demo_opts_t *o)
{
    sl_topo_t topo;
    demo_t d = {0};
    char path[4096], buf[64];
    sl_status_t st;
    double t0 = sl_now();
    SL_TRY(sl_topo_init(comm, &topo));
    d.comm = topo.comm;
    d.rank = topo.rank;
    d.size = topo.size;
    d.rows = (uint64_t)o->rows;
    d.cols = (uint64_t)o->cols;
    block(d.rows, d.size, d.rank, &d.row0, &d.nrows);

    /* Who is where: rank 0 lists the nodes. */
    char *hosts = d.rank == 0 ? malloc((size_t)d.size * 256) : NULL;
    MPI_Gather(topo.host, 256, MPI_CHAR, hosts, 256, MPI_CHAR, 0, d.comm);
    if (d.rank == 0) {
        printf("sluice %s demo: %d rank%s on %d node%s\n", sl_version(), d.size, d.size == 1 ? "" : "s",
               topo.nnodes, topo.nnodes == 1 ? "" : "s");
        for (int r = 0; r < d.size; r++) {
            int first = 1;
            for (int q = 0; q < r; q++)
                first &= strcmp(hosts + q * 256, hosts + r * 256) != 0;
            if (!first)
                continue;
            printf("  node %s: ranks", hosts + r * 256);
            for (int q = r; q < d.size; q++)
                if (!strcmp(hosts + q * 256, hosts + r * 256))
                    printf(" %d", q);
            printf("\n");
        }
        printf("  GPUs visible on rank 0's node: %d\n", sl_gpu_count());
        fflush(stdout);
    }
    free(hosts);

    st = d.rank == 0 ? sl_mkdirs(o->out) : SL_OK;
    SL_TRY_GOTO(sl_agree(d.comm, st), out);
    snprintf(path, sizeof path, "%s/ckpt.h5", o->out);

    d.x = malloc(d.nrows * d.cols * sizeof(float) + 1);
    st = d.x ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for %llu rows", (unsigned long long)d.nrows);
    SL_TRY_GOTO(sl_agree(d.comm, st), out);
    gsl_rng *rng;
    SL_TRY_GOTO(sl_agree(d.comm, sl_rng_create((uint64_t)o->seed, 0, "demo/init", &rng)), out);
    /* Initial state from one stream in global row order: same for any P. */
    for (uint64_t i = 0; i < d.row0 * d.cols; i++)
        gsl_rng_uniform(rng);
    for (uint64_t i = 0; i < d.nrows * d.cols; i++)
        d.x[i] = (float)gsl_rng_uniform(rng);
    sl_rng_destroy(&rng);

    int found = 0;
    if (!o->restart)
        SL_TRY_GOTO(load(&d, path, o->seed, &found), out);
    if (found && d.rank == 0)
        printf("  resuming from %s at step %ld of %ld\n", path, d.step, o->steps);
    fflush(stdout);

    sl_progress_t *prog;
    SL_TRY_GOTO(sl_progress_create(d.comm, "demo", (double)(o->steps - d.step), "steps", &prog), out);
    while (d.step < o->steps) {
        int stop;
        if ((st = sl_stop_agree(d.comm, &stop)) != SL_OK)
            break;
        if (stop) {
            st = SL_ERR_STOPPED;
            break;
        }
        advance(&d);
        if (o->step_ms > 0) {
            struct timespec ts = {o->step_ms / 1000, (o->step_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (d.rank == 0)
            sl_progress_add(prog, 1);
        if (d.step % o->ckpt_every == 0 && d.step < o->steps && (st = save(&d, path, o->seed, (int)o->keep)) != SL_OK)
            break;
    }
    sl_progress_finish(&prog);
    if (st == SL_ERR_STOPPED) {
        sl_status_t s2 = save(&d, path, o->seed, (int)o->keep);
        if (d.rank == 0 && s2 == SL_OK)
            printf("  stopped at step %ld; checkpoint %s written\n", d.step, path);
        st = s2 == SL_OK ? SL_ERR_STOPPED : s2;
        goto out;
    }
    SL_TRY_GOTO(st, out);

    /* Final checkpoint, then read it back and compare. */
    double tw = sl_now();
    SL_TRY_GOTO(save(&d, path, o->seed, (int)o->keep), out);
    tw = sl_now() - tw;
    uint64_t want = checksum(&d, d.x);
    float *back = malloc(d.nrows * d.cols * sizeof(float) + 1);
    int found2 = 0;
    demo_t e = d;
    e.x = back;
    st = back ? load(&e, path, o->seed, &found2) : sl_error(SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK && (!found2 || checksum(&d, back) != want || e.step != d.step))
        st = sl_error_root(d.comm, SL_ERR_MISMATCH, "checkpoint %s read back differs from what was written", path);
    free(back);
    SL_TRY_GOTO(sl_agree(d.comm, st), out);
    if (d.rank == 0) {
        double bytes = (double)d.rows * (double)d.cols * 4;
        char sz[32], bw[32];
        printf("  checkpoint %s: %s written in %.3f s (%s/s) and verified\n", path,
               sl_format_bytes(bytes, sz, sizeof sz), tw, sl_format_bytes(bytes / (tw > 0 ? tw : 1e-9), bw, sizeof bw));
        printf("  state checksum %016llx after %ld step%s (independent of the rank count)\n",
               (unsigned long long)want, d.step, d.step == 1 ? "" : "s");
        char json[512];
        int n = snprintf(json, sizeof json,
                         "{\"ranks\": %d, \"nodes\": %d, \"steps\": %ld, \"checksum\": \"%016llx\", "
                         "\"checkpoint\": \"%s\", \"seconds\": %.3f}\n",
                         d.size, topo.nnodes, d.step, (unsigned long long)want, path, sl_now() - t0);
        st = sl_file_write_atomic(strcat(strcpy(path, o->out), "/summary.json"), json, (size_t)n);
    }
    st = sl_agree(d.comm, st);
    if (st == SL_OK && o->farm_tasks > 0)
        st = stage_farm(d.comm, o);
    if (st == SL_OK && o->sort_records > 0)
        st = stage_sort(d.comm, o);
    if (st == SL_OK && o->train_epochs > 0)
        st = stage_train(d.comm, o);
    if (st == SL_OK && d.rank == 0) {
        printf("demo finished in %s\n", sl_format_duration(sl_now() - t0, buf, sizeof buf));
        fflush(stdout);
    }
out:
    free(d.x);
    sl_topo_fini(&topo);
    return st;
}

sl_status_t sl_cmd_demo(MPI_Comm comm, int argc, char **argv)
{
    demo_opts_t o;
    sl_opts_info_t info;
    SL_TRY(sl_opts_parse(&demo_spec, &o, argc, argv, &info));
    sl_status_t st = SL_OK;
    if (!info.help)
        st = run(comm, &o);
    sl_config_destroy(&info.config);
    sl_opts_free(demo_table, &o);
    return st;
}
