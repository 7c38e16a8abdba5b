/* SPDX-License-Identifier: BSD-3-Clause */
/* Model and optimiser state in HDF5: /model/<layer>/<param> (float32, the
 * PyTorch shapes) with the spec as an attribute, /optim/{m,v} in the arena
 * layout with the step count and hyperparameters. The caller owns the file
 * (sl_h5_create ... sl_h5_commit), so other state can sit beside it. */
#include "config.h"
#include "train_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void path_of(char *buf, size_t len, const char *prefix, const char *rest)
{
    snprintf(buf, len, "%s%s", prefix ? prefix : "", rest);
}

/* A tensor's stored shape: a vector when it has one row. Returns ndim. */
static int tensor_dims(const sl_nn_tensor_t *t, uint64_t dims[2])
{
    if (t->rows == 1) {
        dims[0] = (uint64_t)t->cols;
        return 1;
    }
    dims[0] = (uint64_t)t->rows;
    dims[1] = (uint64_t)t->cols;
    return 2;
}

sl_status_t sl_nn_save(sl_nn_t *nn, const sl_nn_optim_t *opt, sl_h5_t *h, const char *prefix)
{
    char name[256];
    for (int i = 0; i < nn->ntensors; i++) {
        const sl_nn_tensor_t *t = &nn->tensors[i];
        uint64_t dims[2];
        int ndim = tensor_dims(t, dims);
        snprintf(name, sizeof name, "%smodel/%s", prefix ? prefix : "", t->name);
        SL_TRY(sl_h5_write(h, name, SL_F32, ndim, dims, nn->params + t->offset));
    }
    path_of(name, sizeof name, prefix, "model");
    SL_TRY(sl_h5_set_attr_str(h, name, "spec", nn->spec));
    SL_TRY(sl_h5_set_attr_i64(h, name, "num_params", (int64_t)nn->nparams));
    if (opt) {
        uint64_t n = nn->nparams;
        path_of(name, sizeof name, prefix, "optim/m");
        SL_TRY(sl_h5_write(h, name, SL_F32, 1, &n, opt->m));
        path_of(name, sizeof name, prefix, "optim/v");
        SL_TRY(sl_h5_write(h, name, SL_F32, 1, &n, opt->v));
        path_of(name, sizeof name, prefix, "optim");
        static const char *kinds[] = {"sgd", "adam", "adamw"};
        SL_TRY(sl_h5_set_attr_str(h, name, "kind", kinds[opt->o.kind]));
        SL_TRY(sl_h5_set_attr_i64(h, name, "step", opt->t));
        SL_TRY(sl_h5_set_attr_f64(h, name, "lr", opt->o.lr));
        SL_TRY(sl_h5_set_attr_f64(h, name, "momentum", opt->o.momentum));
        SL_TRY(sl_h5_set_attr_i64(h, name, "nesterov", opt->o.nesterov));
        SL_TRY(sl_h5_set_attr_f64(h, name, "weight_decay", opt->o.weight_decay));
        SL_TRY(sl_h5_set_attr_f64(h, name, "beta1", opt->o.beta1));
        SL_TRY(sl_h5_set_attr_f64(h, name, "beta2", opt->o.beta2));
        SL_TRY(sl_h5_set_attr_f64(h, name, "eps", opt->o.eps));
    }
    return SL_OK;
}

sl_status_t sl_nn_load(sl_nn_t *nn, sl_nn_optim_t *opt, sl_h5_t *h, const char *prefix)
{
    char name[256];
    char *spec = NULL;
    path_of(name, sizeof name, prefix, "model");
    sl_status_t st = sl_h5_get_attr_str(h, name, "spec", &spec);
    if (st != SL_OK)
        return sl_error(SL_ERR_MISMATCH, "%s: no model in the file (attribute %s spec missing)",
                        sl_h5_path(h), name);
    if (!sl_nn_spec_same(spec, nn->spec)) {
        st = sl_error(SL_ERR_MISMATCH, "%s holds model '%s', not '%s'", sl_h5_path(h), spec, nn->spec);
        free(spec);
        return st;
    }
    free(spec);
    for (int i = 0; i < nn->ntensors; i++) {
        const sl_nn_tensor_t *t = &nn->tensors[i];
        uint64_t dims[2];
        int ndim = tensor_dims(t, dims);
        snprintf(name, sizeof name, "%smodel/%s", prefix ? prefix : "", t->name);
        SL_TRY(sl_h5_read(h, name, SL_F32, ndim, dims, nn->params + t->offset));
    }
    SL_TRY(sl_nn_params_changed(nn));
    if (opt) {
        /* another optimiser's moments are no state of this one (SGD leaves v
         * zero, which Adam would divide by) */
        static const char *kinds[] = {"sgd", "adam", "adamw"};
        char *kind = NULL;
        path_of(name, sizeof name, prefix, "optim");
        if (sl_h5_get_attr_str(h, name, "kind", &kind) == SL_OK && strcmp(kind, kinds[opt->o.kind]) != 0) {
            st = sl_error(SL_ERR_MISMATCH, "%s holds the state of optimiser %s, not %s", sl_h5_path(h), kind,
                          kinds[opt->o.kind]);
            free(kind);
            return st;
        }
        free(kind);
        uint64_t n = nn->nparams;
        path_of(name, sizeof name, prefix, "optim/m");
        SL_TRY(sl_h5_read(h, name, SL_F32, 1, &n, opt->m));
        path_of(name, sizeof name, prefix, "optim/v");
        SL_TRY(sl_h5_read(h, name, SL_F32, 1, &n, opt->v));
        path_of(name, sizeof name, prefix, "optim");
        int64_t t = 0;
        SL_TRY(sl_h5_get_attr_i64(h, name, "step", &t));
        opt->t = t;
        SL_TRY(sl_h5_get_attr_f64(h, name, "lr", &opt->o.lr));
    }
    return SL_OK;
}

sl_status_t sl_nn_create_from_h5(sl_h5_t *h, const char *prefix, sl_nn_device_t dev, sl_nn_t **nn_p)
{
    char name[256];
    char *spec = NULL;
    path_of(name, sizeof name, prefix, "model");
    if (sl_h5_get_attr_str(h, name, "spec", &spec) != SL_OK)
        return sl_error(SL_ERR_INVALID, "%s: not a sluice model file (no %s with a spec attribute)",
                        sl_h5_path(h), name);
    sl_nn_t *nn = NULL;
    sl_status_t st;
    if (strncmp(spec, "mlp:", 4) == 0)
        st = sl_nn_create(spec, dev, 0, &nn);
    else
        st = sl_error(SL_ERR_UNSUPPORTED, "%s: model '%s' cannot be rebuilt from its spec", sl_h5_path(h),
                      spec);
    free(spec);
    if (st == SL_OK)
        st = sl_nn_load(nn, NULL, h, prefix);
    if (st != SL_OK) {
        sl_nn_destroy(&nn);
        return st;
    }
    *nn_p = nn;
    return SL_OK;
}
