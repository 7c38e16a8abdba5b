/* SPDX-License-Identifier: BSD-3-Clause */
/* The train component's commands: `sluice train` (one option table that
 * fills sl_nn_train_opts_t), `sluice data import-idx|import-csv`. Each
 * parses its own table; the library does the work. */
#include "config.h"
#include "train_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data, *eval, *model, *out, *optimizer, *schedule, *loss, *device;
    long epochs, batch, seed, threads, ckpt_steps, log_steps, shards, max_steps;
    double lr, momentum, weight_decay, beta1, beta2, eps, clip;
    int nesterov, exact, resume;
} train_cli_t;

#define O(f) offsetof(train_cli_t, f)
static const sl_opt_t train_table[] = {
    {"data", 0, SL_OPT_STRING, O(data), NULL, 0, 0, NULL, SL_OPT_REQUIRED,
     "training set (HDF5 with /X and /y)", "FILE"},
    {"eval", 0, SL_OPT_STRING, O(eval), NULL, 0, 0, NULL, 0, "evaluation set, evaluated after each epoch",
     "FILE"},
    {"model", 'm', SL_OPT_STRING, O(model), "mlp:784-256-128-10", 0, 0, NULL, 0,
     "model spec: mlp:IN-H1-...-OUT[:relu|tanh|gelu][:ln][:dropout=P][:init=kaiming|orthogonal]", "SPEC"},
    {"out", 'o', SL_OPT_STRING, O(out), NULL, 0, 0, NULL, SL_OPT_REQUIRED,
     "run directory: ckpt.h5, metrics.csv, summary.json", "DIR"},
    {"epochs", 'e', SL_OPT_INT, O(epochs), "10", 1, 1e7, NULL, 0, "epochs to train (in total, over resumes)",
     NULL},
    {"batch", 'b', SL_OPT_INT, O(batch), "128", 1, 1 << 24, NULL, 0,
     "global batch size, whatever the rank count", NULL},
    {"lr", 0, SL_OPT_DOUBLE, O(lr), "0.001", 0, 1e30, NULL, 0, "learning rate", NULL},
    {"optimizer", 0, SL_OPT_CHOICE, O(optimizer), "adam", 0, 0, "adam|adamw|sgd", 0, "optimiser", NULL},
    {"momentum", 0, SL_OPT_DOUBLE, O(momentum), "0", 0, 1, NULL, 0, "SGD momentum", NULL},
    {"nesterov", 0, SL_OPT_BOOL, O(nesterov), NULL, 0, 0, NULL, 0, "SGD with Nesterov momentum", NULL},
    {"weight-decay", 0, SL_OPT_DOUBLE, O(weight_decay), "-1", -1, 10, NULL, 0,
     "weight decay (-1: the optimiser's default, 0.01 for adamw, else 0)", NULL},
    {"beta1", 0, SL_OPT_DOUBLE, O(beta1), "0.9", 0, 0.999999, NULL, 0, "Adam beta1", NULL},
    {"beta2", 0, SL_OPT_DOUBLE, O(beta2), "0.999", 0, 0.999999999, NULL, 0, "Adam beta2", NULL},
    {"eps", 0, SL_OPT_DOUBLE, O(eps), "1e-8", 0, 1, NULL, 0, "Adam epsilon", NULL},
    {"clip", 0, SL_OPT_DOUBLE, O(clip), "0", 0, 1e9, NULL, 0, "clip gradients to this global norm (0: off)",
     NULL},
    {"schedule", 0, SL_OPT_STRING, O(schedule), "constant", 0, 0, NULL, 0,
     "LR schedule: constant, step:STEPS[:GAMMA], cosine[:WARMUP[:MIN_LR]], linear[:WARMUP[:MIN_LR]]", "S"},
    {"loss", 0, SL_OPT_CHOICE, O(loss), "auto", 0, 0, "auto|xent|mse", 0,
     "loss (auto: xent for int32 labels, mse for float targets)", NULL},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda|ref", 0, "where to compute", NULL},
    {"threads", 't', SL_OPT_INT, O(threads), "1", 1, 1024, NULL, 0, "BLAS threads per rank", NULL},
    {"seed", 0, SL_OPT_INT, O(seed), "1", 0, 4e18, NULL, 0, "random seed (init, shuffle, dropout)", NULL},
    {"checkpoint-steps", 0, SL_OPT_INT, O(ckpt_steps), "0", 0, 1e12, NULL, 0,
     "also checkpoint every N steps (0: after each epoch only)", NULL},
    {"log-steps", 0, SL_OPT_INT, O(log_steps), "0", 0, 1e12, NULL, 0,
     "a row in DIR/steps.csv every N steps: mean training loss, lr, samples/s (0: none)", "N"},
    {"exact", 0, SL_OPT_BOOL, O(exact), "true", 0, 0, NULL, 0,
     "reduce gradients in a fixed tree over --shards shards: P ranks give 1 rank's weights bit for bit",
     NULL},
    {"shards", 0, SL_OPT_INT, O(shards), "4", 1, 1024, NULL, 0,
     "gradient shards per global batch (exact mode)", NULL},
    {"resume", 'r', SL_OPT_BOOL, O(resume), NULL, 0, 0, NULL, 0, "continue from DIR/ckpt.h5 if it exists",
     NULL},
    {"max-steps", 0, SL_OPT_INT, O(max_steps), "0", 0, 1e12, NULL, SL_OPT_HIDDEN,
     "test hook: stop as on a signal after N steps", NULL},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t train_spec = {
    "train", "train --data FILE --out DIR [--eval FILE] [--model SPEC] [options]",
    "Trains a model data-parallel over all ranks. --batch is the global batch; each epoch visits the\n"
    "samples in a global order from --seed, so any rank count sees the same batches (with --exact, the\n"
    "default, a power-of-two rank count dividing --shards gives the same weights bit for bit).\n"
    "Writes DIR/ckpt.h5 after each epoch and on SIGUSR1/SIGTERM (exit status 75; --resume continues),\n"
    "DIR/metrics.csv (one row per epoch) and DIR/summary.json.",
    train_table, NULL};

sl_status_t sl_cmd_train(MPI_Comm comm, int argc, char **argv)
{
    train_cli_t c;
    sl_opts_info_t info;
    memset(&c, 0, sizeof c);
    memset(&info, 0, sizeof info);
    sl_status_t st = sl_opts_parse(&train_spec, &c, argc, argv, &info);
    if (st == SL_OK && !info.help) {
        sl_nn_train_opts_t o;
        sl_nn_train_opts_default(&o);
        o.data = c.data, o.eval = c.eval, o.model = c.model, o.out = c.out;
        o.optimizer = c.optimizer, o.schedule = c.schedule, o.device = c.device;
        o.loss = strcmp(c.loss, "auto") ? c.loss : NULL;
        o.epochs = c.epochs, o.batch = c.batch, o.seed = c.seed, o.threads = c.threads;
        o.ckpt_steps = c.ckpt_steps, o.shards = c.shards, o.max_steps = c.max_steps;
        o.log_steps = c.log_steps;
        o.lr = c.lr, o.momentum = c.momentum, o.weight_decay = c.weight_decay;
        o.beta1 = c.beta1, o.beta2 = c.beta2, o.eps = c.eps, o.clip = c.clip;
        o.nesterov = c.nesterov, o.exact = c.exact, o.resume = c.resume;
        sl_nn_train_result_t res;
        st = sl_nn_train_run(comm, &o, NULL, NULL, &res);
        if (st == SL_OK)
            SL_INFO0("trained %lld epoch%s: %s/ckpt.h5, metrics.csv, summary.json",
                     (long long)res.epochs_done, res.epochs_done == 1 ? "" : "s", c.out);
    }
    sl_opts_free(train_table, &c);
    sl_config_destroy(&info.config);
    return st;
}

typedef struct {
    char *images, *labels, *input, *output;
    long label_col, targets;
    double scale;
} data_cli_t;

#define O(f) offsetof(data_cli_t, f)
static const sl_opt_t idx_table[] = {
    {"images", 0, SL_OPT_STRING, O(images), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "IDX images (.gz accepted)",
     "FILE"},
    {"labels", 0, SL_OPT_STRING, O(labels), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "IDX labels (.gz accepted)",
     "FILE"},
    {"output", 'o', SL_OPT_STRING, O(output), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "HDF5 dataset to write",
     "FILE"},
    SL_OPT_END,
};
static const sl_opt_t csv_table[] = {
    {"input", 'i', SL_OPT_STRING, O(input), NULL, 0, 0, NULL, SL_OPT_REQUIRED,
     "CSV file, one sample per line, optional header (.gz accepted)", "FILE"},
    {"output", 'o', SL_OPT_STRING, O(output), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "HDF5 dataset to write",
     "FILE"},
    {"label-column", 0, SL_OPT_INT, O(label_col), "-1", -1, 65535, NULL, 0,
     "column of the class id, 0-based (-1: the last)", NULL},
    {"targets", 0, SL_OPT_INT, O(targets), "0", 0, 65535, NULL, 0,
     "instead of a label: the last N columns are float targets", NULL},
    {"scale", 0, SL_OPT_DOUBLE, O(scale), "1", -1e30, 1e30, NULL, 0,
     "multiply features by this (e.g. 0.00392157)", NULL},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t idx_spec = {
    "data import-idx", "data import-idx --images FILE --labels FILE --output OUT.h5",
    "Converts IDX files (the MNIST format) to a dataset: /X float32 N x (rows*cols) scaled to [0, 1],\n"
    "/y int32 labels. Written atomically.",
    idx_table, NULL};
static const sl_cmd_spec_t csv_spec = {
    "data import-csv", "data import-csv --input FILE --output OUT.h5 [--label-column C | --targets N]",
    "Converts a CSV file to a dataset: /X float32 features, /y int32 labels (or float32 targets).", csv_table,
    NULL};

sl_status_t sl_cmd_data(MPI_Comm comm, int argc, char **argv)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (rank == 0)
            fprintf(argc < 2 ? stderr : stdout, "usage: sluice data import-idx|import-csv [options]\n"
                                                "  import-idx  IDX (MNIST format) files to an HDF5 dataset\n"
                                                "  import-csv  a CSV file to an HDF5 dataset\n");
        fflush(argc < 2 ? stderr : stdout);
        return argc < 2
                   ? sl_error_root(comm, SL_ERR_USAGE, "data: missing subcommand (import-idx or import-csv)")
                   : SL_OK;
    }
    const sl_cmd_spec_t *spec = !strcmp(argv[1], "import-idx")   ? &idx_spec
                                : !strcmp(argv[1], "import-csv") ? &csv_spec
                                                                 : NULL;
    if (!spec)
        return sl_error_root(comm, SL_ERR_USAGE, "data: unknown subcommand '%s' (import-idx or import-csv)",
                             argv[1]);
    data_cli_t c;
    sl_opts_info_t info;
    memset(&c, 0, sizeof c);
    memset(&info, 0, sizeof info);
    sl_status_t st = sl_opts_parse(spec, &c, argc - 1, argv + 1, &info);
    if (st == SL_OK && !info.help && spec == &csv_spec && c.targets > 0 && c.label_col >= 0)
        st = sl_error_root(comm, SL_ERR_USAGE,
                           "data import-csv: --label-column and --targets exclude each other (targets are "
                           "the last N columns)");
    if (st == SL_OK && !info.help) {
        if (spec == &idx_spec)
            st = sl_nn_import_idx(comm, c.images, c.labels, c.output);
        else
            st = sl_nn_import_csv(comm, c.input, c.output, (int)c.label_col, (int)c.targets, c.scale);
    }
    sl_opts_free(spec->table, &c);
    sl_config_destroy(&info.config);
    return st;
}
