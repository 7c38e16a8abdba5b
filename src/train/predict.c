/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice predict`: batch inference over all ranks. The weights are read
 * once per node (by the node's first rank) into an MPI shared-memory window
 * that every rank of the node computes from; each rank predicts its block
 * of rows and the output is written collectively in input order. */
#include "config.h"
#include "train_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *model, *input, *output, *device;
    long batch, threads;
    int probabilities;
} predict_cli_t;

#define O(f) offsetof(predict_cli_t, f)
static const sl_opt_t predict_table[] = {
    {"model", 'm', SL_OPT_STRING, O(model), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "checkpoint (RUNDIR/ckpt.h5)",
     "FILE"},
    {"input", 'i', SL_OPT_STRING, O(input), NULL, 0, 0, NULL, SL_OPT_REQUIRED, "HDF5 file with /X", "FILE"},
    {"output", 'o', SL_OPT_STRING, O(output), NULL, 0, 0, NULL, SL_OPT_REQUIRED,
     "HDF5 file to write: /pred (int32 class ids) or /prob (float32 N x K) or /y (regression)", "FILE"},
    {"probabilities", 'p', SL_OPT_BOOL, O(probabilities), NULL, 0, 0, NULL, 0,
     "write softmax probabilities (/prob) instead of class ids", NULL},
    {"batch", 'b', SL_OPT_INT, O(batch), "1024", 1, 1 << 24, NULL, 0, "rows per forward pass", NULL},
    {"device", 0, SL_OPT_CHOICE, O(device), "cpu", 0, 0, "cpu|cuda|ref", 0, "where to compute", NULL},
    {"threads", 't', SL_OPT_INT, O(threads), "1", 1, 1024, NULL, 0, "BLAS threads per rank", NULL},
    SL_OPT_END,
};
#undef O

static const sl_cmd_spec_t predict_spec = {
    "predict", "predict --model RUNDIR/ckpt.h5 --input X.h5 --output PRED.h5 [--probabilities]",
    "Runs a trained model over the rows of /X on all ranks. Weights are loaded once per node into a\n"
    "shared-memory window. Output rows are in input order: /pred int32 class ids (classifiers, default),\n"
    "/prob float32 softmax probabilities (--probabilities), or /y float32 outputs (MSE models).",
    predict_table, NULL};

/* Collective: a model whose parameters live in a node-shared window. */
static sl_status_t load_shared(sl_topo_t *topo, const char *path, sl_nn_device_t dev, sl_nn_t **nn_p,
                               MPI_Win *win_p, int *mse_p)
{
    sl_h5_t *h = NULL;
    char *spec = NULL;
    sl_status_t st = sl_h5_open(topo->comm, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error_root(topo->comm, SL_ERR_NOT_FOUND, "model %s does not exist", path);
    SL_TRY(st);
    if (sl_h5_get_attr_str(h, "model", "spec", &spec) != SL_OK)
        st =
            sl_error_root(topo->comm, SL_ERR_INVALID, "%s is not a sluice checkpoint (no /model spec)", path);
    char *loss = NULL;
    if (st == SL_OK && sl_h5_get_attr_str(h, "train", "loss", &loss) == SL_OK)
        *mse_p = !strcmp(loss, "mse"); /* a regression model: write its outputs */
    free(loss);
    sl_h5_close(&h);
    SL_TRY(sl_agree(topo->comm, st));
    sl_nn_t *nn = NULL;
    int lvl = sl_log_level_g;
    if (topo->rank)
        sl_log_set_level(SL_LOG_NONE);
    st = sl_nn_create(spec, dev, 0, &nn);
    sl_log_set_level((sl_log_level_t)lvl);
    free(spec);
    SL_TRY(sl_agree(topo->comm, st));
    size_t np = sl_nn_num_params(nn);
    float *base = NULL;
    MPI_Aint sz;
    int du;
    MPI_Win win;
    int rc = MPI_Win_allocate_shared(topo->local_rank == 0 ? (MPI_Aint)(np * sizeof(float)) : 0,
                                     sizeof(float), MPI_INFO_NULL, topo->node_comm, &base, &win);
    if (rc != MPI_SUCCESS)
        st = sl_mpi_error(rc, "MPI_Win_allocate_shared (weights)");
    else
        MPI_Win_shared_query(win, 0, &sz, &du, &base);
    st = sl_agree(topo->comm, st);
    if (st != SL_OK) {
        sl_nn_destroy(&nn);
        return st;
    }
    if (topo->leader_comm != MPI_COMM_NULL) {
        st = sl_h5_open(topo->leader_comm, path, &h);
        if (st == SL_OK)
            st = sl_nn_load(nn, NULL, h, "");
        sl_h5_close(&h);
        if (st == SL_OK)
            memcpy(base, sl_nn_params(nn), np * sizeof(float));
    }
    st = sl_agree(topo->comm, st);
    MPI_Win_sync(win);
    MPI_Barrier(topo->node_comm);
    MPI_Win_sync(win);
    if (st == SL_OK) {
        /* compute from the shared copy; the model's own arena is freed */
        free(nn->params);
        nn->params = base;
        if (dev != SL_NN_CUDA)
            nn->dparams = base;
        else
            st = sl_nn_params_changed(nn);
        nn->shared_params = 1;
    }
    st = sl_agree(topo->comm, st);
    if (st != SL_OK) {
        sl_nn_destroy(&nn);
        MPI_Win_free(&win);
        return st;
    }
    SL_VERBOSE0("weights of %s (%zu parameters) loaded once per node into shared memory (%d node%s)",
                sl_nn_spec(nn), np, topo->nnodes, topo->nnodes > 1 ? "s" : "");
    *nn_p = nn;
    *win_p = win;
    return SL_OK;
}

sl_status_t sl_cmd_predict(MPI_Comm comm, int argc, char **argv)
{
    predict_cli_t c;
    sl_opts_info_t info;
    memset(&c, 0, sizeof c);
    memset(&info, 0, sizeof info);
    sl_status_t st = sl_opts_parse(&predict_spec, &c, argc, argv, &info);
    if (st != SL_OK || info.help) {
        sl_opts_free(predict_table, &c);
        sl_config_destroy(&info.config);
        return st;
    }
    if (sl_same_file(c.output, c.input) || sl_same_file(c.output, c.model)) {
        st = sl_error_root(comm, SL_ERR_USAGE, "--output %s is the %s file; it would be replaced", c.output,
                           sl_same_file(c.output, c.input) ? "--input" : "--model");
        sl_opts_free(predict_table, &c);
        sl_config_destroy(&info.config);
        return st;
    }
    sl_topo_t topo;
    sl_nn_t *nn = NULL;
    MPI_Win win = MPI_WIN_NULL;
    sl_h5_t *in = NULL, *out = NULL;
    float *x = NULL, *res = NULL;
    sl_nn_device_t dev = SL_NN_CPU;
    sl_nn_device_parse(c.device, &dev);
    sl_nn_set_threads((int)c.threads);
    SL_TRY_GOTO(sl_topo_init(comm, &topo), out_opts);
    if (dev == SL_NN_CUDA)
        SL_TRY_GOTO(
            sl_agree(comm, sl_nn_device_check(dev) == SL_OK
                               ? SL_OK
                               : sl_error_root(comm, SL_ERR_UNSUPPORTED, "--device cuda: no CUDA device")),
            out_topo);
    int mse = 0;
    SL_TRY_GOTO(load_shared(&topo, c.model, dev, &nn, &win, &mse), out_topo);
    int F = sl_nn_in_features(nn), K = sl_nn_out_features(nn);
    st = sl_h5_open(comm, c.input, &in);
    if (st == SL_ERR_NOT_FOUND)
        st = sl_error_root(comm, st, "input %s does not exist", c.input);
    if (st != SL_OK)
        goto out_nn;
    sl_dtype_t t;
    int nd;
    uint64_t dims[SL_H5_MAXDIM];
    if (!sl_h5_exists(in, "X"))
        st = sl_error_root(comm, SL_ERR_INVALID, "input %s has no /X", c.input);
    else if (sl_h5_info(in, "X", &t, &nd, dims) != SL_OK || t != SL_F32 || nd != 2)
        st = sl_error_root(comm, SL_ERR_INVALID, "input %s: /X must be a float32 matrix", c.input);
    else if ((int)dims[1] != F)
        st = sl_error_root(comm, SL_ERR_INVALID,
                           "input %s has %llu features per sample but the model takes %d", c.input,
                           (unsigned long long)dims[1], F);
    SL_TRY_GOTO(sl_agree(comm, st), out_in);
    /* ranks take whole --batch units: each forward pass covers the same
     * rows on any rank count, and gives them the same outputs bit for bit */
    int64_t row0_, cnt_;
    sl_nn__unit_block((int64_t)dims[0], topo.size, topo.rank, (int64_t)c.batch, &row0_, &cnt_);
    uint64_t N = dims[0], row0 = (uint64_t)row0_, cnt = (uint64_t)cnt_;
    /* models trained with MSE (or with one output) are regressors: raw outputs */
    int regress = mse || K == 1;
    int width = (c.probabilities || regress) ? K : 1;
    x = malloc((cnt ? cnt : 1) * (size_t)F * sizeof(float));
    res = malloc((cnt ? cnt : 1) * (size_t)width * sizeof(float));
    st = (x && res) ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
    SL_TRY_GOTO(sl_agree(comm, st), out_in);
    SL_TRY_GOTO(sl_h5_read_rows(in, "X", SL_F32, row0, cnt, x), out_in);
    for (uint64_t i0 = 0; i0 < cnt && st == SL_OK; i0 += (uint64_t)c.batch) {
        uint64_t n = cnt - i0 < (uint64_t)c.batch ? cnt - i0 : (uint64_t)c.batch;
        const float *y;
        st = sl_nn_forward(nn, x + i0 * F, (int64_t)n, 0, &y);
        for (uint64_t i = 0; i < n && st == SL_OK; i++) {
            const float *yi = y + i * K;
            float *o = res + (i0 + i) * width;
            if (regress)
                memcpy(o, yi, K * sizeof(float));
            else if (c.probabilities) {
                float mx = yi[0];
                for (int j = 1; j < K; j++)
                    mx = yi[j] > mx ? yi[j] : mx;
                double s = 0;
                for (int j = 0; j < K; j++)
                    s += exp((double)yi[j] - mx);
                for (int j = 0; j < K; j++)
                    o[j] = (float)(exp((double)yi[j] - mx) / s);
            } else {
                int am = 0;
                for (int j = 1; j < K; j++)
                    if (yi[j] > yi[am])
                        am = j;
                ((int32_t *)o)[0] = am;
            }
        }
    }
    SL_TRY_GOTO(sl_agree(comm, st), out_in);
    SL_TRY_GOTO(sl_h5_create(comm, c.output, &out), out_in);
    uint64_t od[2] = {N, (uint64_t)width};
    if (regress)
        st = sl_h5_write_rows(out, "y", SL_F32, 2, od, row0, cnt, res);
    else if (c.probabilities)
        st = sl_h5_write_rows(out, "prob", SL_F32, 2, od, row0, cnt, res);
    else
        st = sl_h5_write_rows(out, "pred", SL_I32, 1, od, row0, cnt, res);
    if (st == SL_OK)
        st = sl_h5_set_attr_str(out, "", "model", sl_nn_spec(nn));
    if (st != SL_OK)
        sl_h5_discard(&out);
    else
        st = sl_h5_commit(&out, 1);
    if (st == SL_OK)
        SL_INFO0("predicted %llu rows with %d rank%s: %s", (unsigned long long)N, topo.size,
                 topo.size > 1 ? "s" : "", c.output);
out_in:
    sl_h5_close(&in);
out_nn:
    sl_nn_destroy(&nn);
    if (win != MPI_WIN_NULL)
        MPI_Win_free(&win);
out_topo:
    sl_topo_fini(&topo);
out_opts:
    free(x);
    free(res);
    sl_opts_free(predict_table, &c);
    sl_config_destroy(&info.config);
    return st;
}
