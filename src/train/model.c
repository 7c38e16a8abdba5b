/* SPDX-License-Identifier: BSD-3-Clause */
/* Models: a stack of layers over one parameter arena and one gradient
 * arena (flat, in layer order), spec parsing, initialisation, forward and
 * backward. Backward adds into the gradients and, with an all-reduce
 * attached, starts averaging gradient buckets as soon as layers finish. */
#include "config.h"
#include "train_impl.h"

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

sl_status_t sl_nn_device_parse(const char *s, sl_nn_device_t *dev_p)
{
    if (!s || !strcmp(s, "cpu"))
        *dev_p = SL_NN_CPU;
    else if (!strcmp(s, "cuda"))
        *dev_p = SL_NN_CUDA;
    else if (!strcmp(s, "ref"))
        *dev_p = SL_NN_REF;
    else
        return SL_ERR_USAGE;
    return SL_OK;
}

const char *sl_nn_device_name(sl_nn_device_t dev)
{
    return dev == SL_NN_CUDA ? "cuda" : dev == SL_NN_REF ? "ref" : "cpu";
}

sl_status_t sl_nn_device_check(sl_nn_device_t dev)
{
    if (dev != SL_NN_CUDA)
        return SL_OK;
#ifdef SL_NN_CUDA_BACKEND
    return sl_gpu_count() > 0 ? SL_OK : SL_ERR_UNSUPPORTED;
#else
    return SL_ERR_UNSUPPORTED;
#endif
}

static const sl_nn_backend_t *backend_of(sl_nn_device_t dev)
{
    switch (dev) {
    case SL_NN_REF: return &sl_nn_backend_ref;
#ifdef SL_NN_CUDA_BACKEND
    case SL_NN_CUDA: return &sl_nn_backend_cuda;
#endif
    case SL_NN_CPU: return &sl_nn_backend_cpu;
    default: return NULL;
    }
}

sl_status_t sl_nn_create_empty(int in_features, sl_nn_device_t dev, sl_nn_t **nn_p)
{
    if (in_features < 1)
        return sl_error(SL_ERR_INVALID, "model: input width must be at least 1");
    if (sl_nn_device_check(dev) != SL_OK)
        return sl_error(SL_ERR_UNSUPPORTED, "--device cuda: no CUDA device%s",
#ifdef SL_HAVE_CUDA
                        " visible to this rank"
#else
                        " support (this sluice was built without CUDA)"
#endif
        );
    sl_nn_t *nn = calloc(1, sizeof *nn);
    if (!nn)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    nn->dev = dev;
    nn->be = backend_of(dev);
    nn->in = in_features;
    nn->maxw = in_features;
    *nn_p = nn;
    return SL_OK;
}

static int layer_out(const sl_nn_t *nn, int i)
{
    return i < 0 ? nn->in : nn->layers[i].out;
}

sl_status_t sl_nn_add(sl_nn_t *nn, sl_nn_layer_kind_t kind, int out_features, double p)
{
    if (nn->built)
        return sl_error(SL_ERR_INVALID, "model: layers added after sl_nn_build");
    if (nn->nlayers >= SL_NN_MAX_LAYERS)
        return sl_error(SL_ERR_INVALID, "model: more than %d layers", SL_NN_MAX_LAYERS);
    sl_nn_layer_t *L = &nn->layers[nn->nlayers];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->in = layer_out(nn, nn->nlayers - 1);
    L->out = L->in;
    if (kind == SL_NN_LINEAR) {
        if (out_features < 1 || out_features > (1 << 24))
            return sl_error(SL_ERR_INVALID, "model: Linear width %d out of range", out_features);
        L->out = out_features;
        int k = 0;
        for (int i = 0; i < nn->nlayers; i++)
            k += nn->layers[i].kind == SL_NN_LINEAR;
        snprintf(L->name, sizeof L->name, "fc%d", k + 1);
    } else if (kind == SL_NN_LAYERNORM) {
        int k = 0;
        for (int i = 0; i < nn->nlayers; i++)
            k += nn->layers[i].kind == SL_NN_LAYERNORM;
        snprintf(L->name, sizeof L->name, "ln%d", k + 1);
    } else if (kind == SL_NN_DROPOUT) {
        if (!(p >= 0 && p < 1))
            return sl_error(SL_ERR_INVALID, "model: dropout probability %g not in [0, 1)", p);
        L->p = p;
    } else if (kind != SL_NN_RELU && kind != SL_NN_TANH && kind != SL_NN_GELU)
        return sl_error(SL_ERR_INVALID, "model: unknown layer kind %d", (int)kind);
    if (L->out > nn->maxw)
        nn->maxw = L->out;
    nn->nlayers++;
    return SL_OK;
}

int sl_nn_linear_index(const sl_nn_t *nn, int linear)
{
    for (int i = 0, k = 0; i < nn->nlayers; i++)
        if (nn->layers[i].kind == SL_NN_LINEAR && k++ == linear)
            return i;
    return -1;
}

sl_status_t sl_nn_init_kaiming(sl_nn_t *nn, int linear, gsl_rng *rng)
{
    int li = sl_nn_linear_index(nn, linear);
    if (li < 0)
        return sl_error(SL_ERR_INVALID, "model: no Linear layer %d", linear);
    sl_nn_layer_t *L = &nn->layers[li];
    double bound = 1.0 / sqrt((double)L->in); /* kaiming_uniform(a=sqrt(5)) */
    float *w = nn->params + L->off0, *b = nn->params + L->off1;
    for (size_t i = 0; i < (size_t)L->in * L->out; i++)
        w[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * bound);
    for (int i = 0; i < L->out; i++)
        b[i] = (float)((2 * gsl_rng_uniform(rng) - 1) * bound);
    return sl_nn_params_changed(nn);
}

sl_status_t sl_nn_init_orthogonal(sl_nn_t *nn, int linear, double gain, gsl_rng *rng)
{
    int li = sl_nn_linear_index(nn, linear);
    if (li < 0)
        return sl_error(SL_ERR_INVALID, "model: no Linear layer %d", linear);
    sl_nn_layer_t *L = &nn->layers[li];
    int rows = L->out, cols = L->in, tr = rows < cols;
    size_t M = tr ? cols : rows, N = tr ? rows : cols; /* M >= N */
    gsl_matrix *A = gsl_matrix_alloc(M, N), *Q = gsl_matrix_alloc(M, M), *R = gsl_matrix_alloc(M, N);
    gsl_vector *tau = gsl_vector_alloc(N);
    if (!A || !Q || !R || !tau) {
        gsl_matrix_free(A), gsl_matrix_free(Q), gsl_matrix_free(R), gsl_vector_free(tau);
        return sl_error(SL_ERR_NOMEM, "out of memory in orthogonal init");
    }
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            gsl_matrix_set(A, i, j, gsl_ran_gaussian(rng, 1.0));
    gsl_linalg_QR_decomp(A, tau);
    gsl_linalg_QR_unpack(A, tau, Q, R);
    float *w = nn->params + L->off0;
    for (size_t j = 0; j < N; j++) {
        double sgn = gsl_matrix_get(R, j, j) < 0 ? -1.0 : 1.0;
        for (size_t i = 0; i < M; i++) {
            double q = gain * sgn * gsl_matrix_get(Q, i, j);
            if (tr)
                w[j * (size_t)cols + i] = (float)q; /* W = Q^T: rows x cols */
            else
                w[i * (size_t)cols + j] = (float)q;
        }
    }
    memset(nn->params + L->off1, 0, (size_t)L->out * sizeof(float));
    gsl_matrix_free(A), gsl_matrix_free(Q), gsl_matrix_free(R), gsl_vector_free(tau);
    return sl_nn_params_changed(nn);
}

static sl_status_t add_tensor(sl_nn_t *nn, const char *layer, const char *param, size_t off, int rows,
                              int cols)
{
    sl_nn_tensor_t *t = &nn->tensors[nn->ntensors++];
    snprintf(t->name, sizeof t->name, "%s/%s", layer, param);
    t->offset = off;
    t->rows = rows;
    t->cols = cols;
    return SL_OK;
}

sl_status_t sl_nn_build(sl_nn_t *nn, uint64_t seed)
{
    sl_status_t st = SL_OK;
    if (nn->built)
        return SL_OK;
    if (nn->nlayers == 0)
        return sl_error(SL_ERR_INVALID, "model: no layers");
    size_t off = 0;
    for (int i = 0; i < nn->nlayers; i++) {
        sl_nn_layer_t *L = &nn->layers[i];
        if (L->kind == SL_NN_LINEAR) {
            L->off0 = off;
            L->off1 = off + (size_t)L->in * L->out;
            L->nparam = (size_t)L->in * L->out + L->out;
            add_tensor(nn, L->name, "weight", L->off0, L->out, L->in);
            add_tensor(nn, L->name, "bias", L->off1, 1, L->out);
        } else if (L->kind == SL_NN_LAYERNORM) {
            L->off0 = off;
            L->off1 = off + L->out;
            L->nparam = 2 * (size_t)L->out;
            add_tensor(nn, L->name, "weight", L->off0, 1, L->out);
            add_tensor(nn, L->name, "bias", L->off1, 1, L->out);
        }
        off += L->nparam;
    }
    nn->nparams = off;
    if (!nn->spec) {
        /* describe a hand-built model so checkpoints can be checked */
        size_t len = 16 + 24 * (size_t)nn->nlayers;
        nn->spec = malloc(len);
        if (!nn->spec)
            return sl_error(SL_ERR_NOMEM, "out of memory");
        int k = snprintf(nn->spec, len, "layers:%d", nn->in);
        static const char *kn[] = {"linear", "relu", "tanh", "gelu", "dropout", "layernorm"};
        for (int i = 0; i < nn->nlayers; i++) {
            const sl_nn_layer_t *L = &nn->layers[i];
            if (L->kind == SL_NN_LINEAR)
                k += snprintf(nn->spec + k, len - k, ",linear=%d", L->out);
            else if (L->kind == SL_NN_DROPOUT)
                k += snprintf(nn->spec + k, len - k, ",dropout=%g", L->p);
            else
                k += snprintf(nn->spec + k, len - k, ",%s", kn[L->kind]);
        }
    }
    SL_TRY(sl_nn_host_alloc(&nn->params, nn->nparams));
    SL_TRY(sl_nn_host_alloc(&nn->grads, nn->nparams));
    nn->grads_arena = nn->grads;
    if (nn->dev == SL_NN_CUDA) {
        SL_TRY(nn->be->alloc(&nn->dparams, nn->nparams));
        SL_TRY(nn->be->alloc(&nn->dgrads, nn->nparams));
    } else {
        nn->dparams = nn->params;
        nn->dgrads = nn->grads;
    }
    nn->built = 1;
    /* LayerNorm: weight 1, bias 0 */
    for (int i = 0; i < nn->nlayers; i++)
        if (nn->layers[i].kind == SL_NN_LAYERNORM)
            for (int j = 0; j < nn->layers[i].out; j++)
                nn->params[nn->layers[i].off0 + j] = 1.f;
    gsl_rng *rng = NULL;
    SL_TRY(sl_rng_create(seed, 0, "nn-init", &rng));
    int nlin = sl_nn_num_linear(nn);
    for (int k = 0; k < nlin && st == SL_OK; k++) {
        if (nn->init_orthogonal) {
            int li = sl_nn_linear_index(nn, k);
            double gain = 1.0;
            if (k < nlin - 1) {
                for (int j = li + 1; j < nn->nlayers && nn->layers[j].kind != SL_NN_LINEAR; j++) {
                    if (nn->layers[j].kind == SL_NN_RELU)
                        gain = sqrt(2.0);
                    else if (nn->layers[j].kind == SL_NN_TANH)
                        gain = 5.0 / 3.0;
                    else if (nn->layers[j].kind == SL_NN_GELU)
                        gain = sqrt(2.0);
                }
            }
            st = sl_nn_init_orthogonal(nn, k, gain, rng);
        } else
            st = sl_nn_init_kaiming(nn, k, rng);
    }
    sl_rng_destroy(&rng);
    if (st == SL_OK)
        st = sl_nn_seed_dropout(nn, seed, 0);
    if (st == SL_OK)
        st = sl_nn_params_changed(nn);
    return st;
}

sl_status_t sl_nn_seed_dropout(sl_nn_t *nn, uint64_t seed, int rank)
{
    sl_rng_destroy(&nn->drop_rng);
    return sl_rng_create(seed, rank, "nn-dropout", &nn->drop_rng);
}

static int parse_int(const char *s, char **end, long lo, long hi, long *v)
{
    char *e;
    long x = strtol(s, &e, 10);
    if (e == s || x < lo || x > hi)
        return -1;
    *v = x;
    *end = e;
    return 0;
}

/* A parsed "mlp:..." spec: what the model is, however it was written. */
typedef struct {
    long widths[SL_NN_MAX_LAYERS];
    int nw, ln, orth;
    sl_nn_layer_kind_t act;
    double drop;
} spec_t;

static sl_status_t spec_parse(const char *spec, spec_t *p, int quiet)
{
    if (!spec || strncmp(spec, "mlp:", 4) != 0)
        return quiet
                   ? SL_ERR_INVALID
                   : sl_error(SL_ERR_INVALID,
                              "model spec '%s': expected "
                              "mlp:IN-H1-...-OUT[:relu|tanh|gelu][:ln][:dropout=P][:init=kaiming|orthogonal]",
                              spec ? spec : "(null)");
    long *widths = p->widths;
    int nw = 0;
    const char *s = spec + 4;
    char *e;
    for (;;) {
        long v;
        if (nw >= SL_NN_MAX_LAYERS / 4)
            return quiet ? SL_ERR_INVALID
                         : sl_error(SL_ERR_INVALID, "model spec '%s': more than %d widths (%d Linear layers)",
                                    spec, SL_NN_MAX_LAYERS / 4, SL_NN_MAX_LAYERS / 4 - 1);
        /* digits only: strtol took ' 784' and '+784', and '784.0' ended
         * the widths at the '.' ("needs at least an input and an output") */
        if (!(*s >= '0' && *s <= '9') || parse_int(s, &e, 1, 1 << 24, &v) != 0 ||
            (*e && *e != '-' && *e != ':'))
            return quiet ? SL_ERR_INVALID
                         : sl_error(SL_ERR_INVALID, "model spec '%s': bad layer width at '%s' (1 to %d)",
                                    spec, s, 1 << 24);
        widths[nw++] = v;
        s = e;
        if (*s != '-')
            break;
        s++;
    }
    if (nw < 2)
        return quiet ? SL_ERR_INVALID
                     : sl_error(SL_ERR_INVALID,
                                "model spec '%s': needs at least an input and an output width", spec);
    sl_nn_layer_kind_t act = SL_NN_RELU;
    int ln = 0, orth = 0;
    double drop = 0;
    /* each kind of option once: 'relu:tanh' took the last in silence */
    const char *kinds[4] = {"activation", "LayerNorm", "dropout", "init"};
    int seen[4] = {0, 0, 0, 0};
    while (*s == ':') {
        s++;
        const char *t = s;
        size_t len = strcspn(t, ":");
        s = t + len;
        int kind = 0; /* index in kinds */
        if (len == 4 && !strncmp(t, "relu", 4))
            act = SL_NN_RELU;
        else if (len == 4 && !strncmp(t, "tanh", 4))
            act = SL_NN_TANH;
        else if (len == 4 && !strncmp(t, "gelu", 4))
            act = SL_NN_GELU;
        else if (len == 2 && !strncmp(t, "ln", 2))
            ln = 1, kind = 1;
        else if (len > 8 && !strncmp(t, "dropout=", 8)) {
            char *de;
            drop = strtod(t + 8, &de);
            kind = 2;
            if (de != s || !(drop >= 0 && drop < 1))
                return quiet ? SL_ERR_INVALID
                             : sl_error(SL_ERR_INVALID, "model spec '%s': dropout must be in [0, 1)", spec);
        } else if (len == 12 && !strncmp(t, "init=kaiming", 12))
            orth = 0, kind = 3;
        else if (len == 15 && !strncmp(t, "init=orthogonal", 15))
            orth = 1, kind = 3;
        else
            return quiet ? SL_ERR_INVALID
                         : sl_error(SL_ERR_INVALID, "model spec '%s': unknown option '%.*s'", spec, (int)len,
                                    t);
        if (seen[kind]++)
            return quiet ? SL_ERR_INVALID
                         : sl_error(SL_ERR_INVALID, "model spec '%s': '%.*s' gives the %s a second time",
                                    spec, (int)len, t, kinds[kind]);
    }
    if (*s)
        return quiet ? SL_ERR_INVALID : sl_error(SL_ERR_INVALID, "model spec '%s': unexpected '%s'", spec, s);
    p->nw = nw, p->act = act, p->ln = ln, p->orth = orth, p->drop = drop;
    return SL_OK;
}

int sl_nn_spec_same(const char *a, const char *b)
{
    spec_t pa, pb;
    if (!strcmp(a, b))
        return 1;
    if (spec_parse(a, &pa, 1) != SL_OK || spec_parse(b, &pb, 1) != SL_OK || pa.nw != pb.nw ||
        pa.orth != pb.orth)
        return 0;
    for (int i = 0; i < pa.nw; i++)
        if (pa.widths[i] != pb.widths[i])
            return 0;
    /* with no hidden layer there is no activation, LayerNorm or Dropout */
    return pa.nw == 2 || (pa.act == pb.act && pa.ln == pb.ln && pa.drop == pb.drop);
}

sl_status_t sl_nn_create(const char *spec, sl_nn_device_t dev, uint64_t seed, sl_nn_t **nn_p)
{
    sl_status_t st;
    spec_t p;
    SL_TRY(spec_parse(spec, &p, 0));
    const long *widths = p.widths;
    int nw = p.nw, ln = p.ln, orth = p.orth;
    sl_nn_layer_kind_t act = p.act;
    double drop = p.drop;
    sl_nn_t *nn = NULL;
    SL_TRY(sl_nn_create_empty((int)widths[0], dev, &nn));
    nn->init_orthogonal = orth;
    st = SL_OK;
    for (int i = 1; i < nw && st == SL_OK; i++) {
        st = sl_nn_add(nn, SL_NN_LINEAR, (int)widths[i], 0);
        if (i < nw - 1) {
            if (ln && st == SL_OK)
                st = sl_nn_add(nn, SL_NN_LAYERNORM, 0, 0);
            if (st == SL_OK)
                st = sl_nn_add(nn, act, 0, 0);
            if (drop > 0 && st == SL_OK)
                st = sl_nn_add(nn, SL_NN_DROPOUT, 0, drop);
        }
    }
    if (st == SL_OK && !(nn->spec = strdup(spec)))
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK)
        st = sl_nn_build(nn, seed);
    if (st != SL_OK) {
        sl_nn_destroy(&nn);
        return st;
    }
    *nn_p = nn;
    return SL_OK;
}

static void free_workspace(sl_nn_t *nn)
{
    const sl_nn_backend_t *be = nn->be;
    for (int i = 0; i < nn->nlayers; i++) {
        be->free(nn->layers[i].y);
        be->free(nn->layers[i].aux);
        free(nn->layers[i].hmask);
        nn->layers[i].y = nn->layers[i].aux = nn->layers[i].hmask = NULL;
    }
    be->free(nn->x0);
    be->free(nn->g0);
    be->free(nn->g1);
    free(nn->hy);
    free(nn->hdx);
    nn->x0 = nn->g0 = nn->g1 = nn->hy = nn->hdx = NULL;
    nn->cap = 0;
}

void sl_nn_destroy(sl_nn_t **pnn)
{
    if (!pnn || !*pnn)
        return;
    sl_nn_t *nn = *pnn;
    if (nn->be) {
        free_workspace(nn);
        if (nn->dev == SL_NN_CUDA) {
            nn->be->free(nn->dparams);
            nn->be->free(nn->dgrads);
        }
    }
    if (!nn->shared_params)
        free(nn->params);
    free(nn->grads_arena);
    sl_rng_destroy(&nn->drop_rng);
    free(nn->spec);
    free(nn);
    *pnn = NULL;
}

static sl_status_t ensure_cap(sl_nn_t *nn, int64_t n)
{
    if (n <= nn->cap)
        return SL_OK;
    free_workspace(nn);
    const sl_nn_backend_t *be = nn->be;
    int64_t cap = n;
    SL_TRY(be->alloc(&nn->x0, (size_t)cap * nn->in));
    SL_TRY(be->alloc(&nn->g0, (size_t)cap * nn->maxw));
    SL_TRY(be->alloc(&nn->g1, (size_t)cap * nn->maxw));
    for (int i = 0; i < nn->nlayers; i++) {
        sl_nn_layer_t *L = &nn->layers[i];
        SL_TRY(be->alloc(&L->y, (size_t)cap * L->out));
        if (L->kind == SL_NN_LAYERNORM)
            SL_TRY(be->alloc(&L->aux, 2 * (size_t)cap));
        if (L->kind == SL_NN_DROPOUT) {
            SL_TRY(be->alloc(&L->aux, (size_t)cap * L->out));
            if (!(L->hmask = malloc((size_t)cap * L->out * sizeof(float))))
                return sl_error(SL_ERR_NOMEM, "out of memory");
        }
    }
    int out = sl_nn_out_features(nn);
    if (!(nn->hy = malloc((size_t)cap * out * sizeof(float))) ||
        !(nn->hdx = malloc((size_t)cap * nn->in * sizeof(float))))
        return sl_error(SL_ERR_NOMEM, "out of memory");
    nn->cap = cap;
    return SL_OK;
}

sl_status_t sl_nn_forward(sl_nn_t *nn, const float *x, int64_t n, int train, const float **y_p)
{
    if (!nn->built)
        return sl_error(SL_ERR_INVALID, "model used before sl_nn_build");
    if (n < 1)
        return sl_error(SL_ERR_INVALID, "forward of an empty batch");
    SL_TRY(ensure_cap(nn, n));
    const sl_nn_backend_t *be = nn->be;
    SL_TRY(be->upload(nn->x0, x, (size_t)n * nn->in));
    const float *cur = nn->x0;
    for (int i = 0; i < nn->nlayers; i++) {
        sl_nn_layer_t *L = &nn->layers[i];
        size_t cnt = (size_t)n * L->out;
        switch (L->kind) {
        case SL_NN_LINEAR:
            be->gemm(0, 1, (int)n, L->out, L->in, 1.f, cur, L->in, nn->dparams + L->off0, L->in, 0.f, L->y,
                     L->out);
            be->bias_fwd(L->y, nn->dparams + L->off1, n, L->out);
            break;
        case SL_NN_RELU:
        case SL_NN_TANH:
        case SL_NN_GELU: be->act_fwd(L->kind, cur, L->y, cnt); break;
        case SL_NN_LAYERNORM:
            be->ln_fwd(cur, L->y, nn->dparams + L->off0, nn->dparams + L->off1, L->aux, L->aux + nn->cap, n,
                       L->out);
            break;
        case SL_NN_DROPOUT:
            if (train && L->p > 0) {
                float keep = (float)(1.0 / (1.0 - L->p));
                for (size_t j = 0; j < cnt; j++)
                    L->hmask[j] = gsl_rng_uniform(nn->drop_rng) < L->p ? 0.f : keep;
                SL_TRY(be->upload(L->aux, L->hmask, cnt));
                be->mul(cur, L->aux, L->y, cnt);
            } else
                SL_TRY(be->copy(L->y, cur, cnt));
            break;
        }
        cur = L->y;
    }
    int out = sl_nn_out_features(nn);
    SL_TRY(be->download(nn->hy, cur, (size_t)n * out));
    nn->n = n;
    nn->last_train = train;
    *y_p = nn->hy;
    return SL_OK;
}

void sl_nn_zero_grad(sl_nn_t *nn)
{
    memset(nn->grads, 0, nn->nparams * sizeof(float));
    if (nn->dev == SL_NN_CUDA)
        nn->be->upload(nn->dgrads, nn->grads, nn->nparams);
}

/* Start the all-reduce of gradients [ready, pending) if the bucket is big
 * enough or everything is ready. */
static void maybe_start_bucket(sl_nn_t *nn, size_t ready, size_t *pending)
{
    size_t want = nn->nreqs == 0 ? nn->first_bucket : nn->bucket;
    size_t len = *pending - ready;
    if (len == 0 || (len < want && ready > 0) || nn->ar_status != SL_OK)
        return;
    if (nn->dev == SL_NN_CUDA)
        nn->be->sync();
    nn->ar_status = sl_allreduce_start(nn->ar, nn->dgrads + ready, len, 1, &nn->reqs[nn->nreqs++]);
    *pending = ready;
}

/* Zero a small gradient range in backend memory. */
static void zero_backend(sl_nn_t *nn, float *p, size_t n)
{
    if (nn->dev != SL_NN_CUDA) {
        memset(p, 0, n * sizeof(float));
        return;
    }
    static const float zeros[256];
    for (size_t off = 0; off < n; off += 256)
        nn->be->upload(p + off, zeros, n - off < 256 ? n - off : 256);
}

float *sl_nn_redirect_grads(sl_nn_t *nn, float *buf)
{
    float *old = nn->grads;
    if (nn->dev == SL_NN_CUDA)
        return old; /* device gradients stay in the arena */
    nn->grads = nn->dgrads = buf ? buf : nn->grads_arena;
    return old;
}

sl_status_t sl_nn_backward(sl_nn_t *nn, const float *dy, float *dx)
{
    if (!nn->last_train || nn->n < 1)
        return sl_error(SL_ERR_INVALID, "backward without a training forward");
    const sl_nn_backend_t *be = nn->be;
    int64_t n = nn->n;
    int out = sl_nn_out_features(nn);
    float *g = nn->g0, *gnext = nn->g1;
    SL_TRY(be->upload(g, dy, (size_t)n * out));
    size_t pending = nn->nparams;
    nn->nreqs = 0;
    nn->ar_status = SL_OK;
    for (int i = nn->nlayers - 1; i >= 0; i--) {
        sl_nn_layer_t *L = &nn->layers[i];
        const float *xin = i > 0 ? nn->layers[i - 1].y : nn->x0;
        int need_dx = i > 0 || dx;
        size_t cnt = (size_t)n * L->out;
        switch (L->kind) {
        case SL_NN_LINEAR:
            be->gemm(1, 0, L->out, L->in, (int)n, 1.f, g, L->out, xin, L->in, nn->overwrite_grads ? 0.f : 1.f,
                     nn->dgrads + L->off0, L->in);
            if (nn->overwrite_grads)
                zero_backend(nn, nn->dgrads + L->off1, (size_t)L->out);
            be->bias_bwd(nn->dgrads + L->off1, g, n, L->out);
            if (need_dx)
                be->gemm(0, 0, (int)n, L->in, L->out, 1.f, g, L->out, nn->dparams + L->off0, L->in, 0.f,
                         gnext, L->in);
            break;
        case SL_NN_RELU:
        case SL_NN_TANH:
        case SL_NN_GELU: be->act_bwd(L->kind, xin, L->y, g, gnext, cnt); break;
        case SL_NN_LAYERNORM:
            if (nn->overwrite_grads)
                zero_backend(nn, nn->dgrads + L->off0, 2 * (size_t)L->out);
            be->ln_bwd(xin, g, nn->dparams + L->off0, L->aux, L->aux + nn->cap, gnext, nn->dgrads + L->off0,
                       nn->dgrads + L->off1, n, L->out);
            break;
        case SL_NN_DROPOUT:
            if (L->p > 0)
                be->mul(g, L->aux, gnext, cnt);
            else
                SL_TRY(be->copy(gnext, g, cnt));
            break;
        }
        float *t = g;
        g = gnext;
        gnext = t;
        if (nn->ar && L->nparam)
            maybe_start_bucket(nn, L->off0, &pending);
    }
    if (dx) {
        SL_TRY(be->download(nn->hdx, g, (size_t)n * nn->in));
        memcpy(dx, nn->hdx, (size_t)n * nn->in * sizeof(float));
    }
    if (nn->dev == SL_NN_CUDA && !nn->ar)
        SL_TRY(be->download(nn->grads, nn->dgrads, nn->nparams));
    return nn->ar_status;
}

sl_status_t sl_nn_attach_allreduce(sl_nn_t *nn, sl_allreduce_t *ar, size_t first_bucket, size_t bucket)
{
    nn->ar = ar;
    nn->first_bucket = first_bucket ? first_bucket : (size_t)1 << 14;
    nn->bucket = bucket ? bucket : (size_t)1 << 18;
    nn->nreqs = 0;
    return SL_OK;
}

sl_status_t sl_nn_grad_wait(sl_nn_t *nn)
{
    sl_status_t st = nn->ar_status;
    for (int i = 0; i < nn->nreqs; i++) {
        sl_status_t s = sl_allreduce_wait(nn->ar, &nn->reqs[i]);
        if (st == SL_OK)
            st = s;
    }
    nn->nreqs = 0;
    if (st == SL_OK && nn->dev == SL_NN_CUDA)
        st = nn->be->download(nn->grads, nn->dgrads, nn->nparams);
    return st;
}

sl_status_t sl_nn_grad_allreduce(sl_nn_t *nn, sl_allreduce_t *ar)
{
    SL_TRY(sl_nn_grads_sync(nn));
    SL_TRY(sl_allreduce_mean(ar, nn->grads, nn->nparams));
    if (nn->dev == SL_NN_CUDA)
        return nn->be->upload(nn->dgrads, nn->grads, nn->nparams);
    return SL_OK;
}

const char *sl_nn_spec(const sl_nn_t *nn)
{
    return nn->spec;
}
sl_nn_device_t sl_nn_device(const sl_nn_t *nn)
{
    return nn->dev;
}
int sl_nn_in_features(const sl_nn_t *nn)
{
    return nn->in;
}
int sl_nn_out_features(const sl_nn_t *nn)
{
    return layer_out(nn, nn->nlayers - 1);
}
int sl_nn_num_layers(const sl_nn_t *nn)
{
    return nn->nlayers;
}
sl_nn_layer_kind_t sl_nn_layer_kind(const sl_nn_t *nn, int layer)
{
    return nn->layers[layer].kind;
}
int sl_nn_num_linear(const sl_nn_t *nn)
{
    int k = 0;
    for (int i = 0; i < nn->nlayers; i++)
        k += nn->layers[i].kind == SL_NN_LINEAR;
    return k;
}
size_t sl_nn_num_params(const sl_nn_t *nn)
{
    return nn->nparams;
}
float *sl_nn_params(sl_nn_t *nn)
{
    return nn->params;
}
float *sl_nn_grads(sl_nn_t *nn)
{
    return nn->grads;
}

sl_status_t sl_nn_params_changed(sl_nn_t *nn)
{
    if (nn->dev == SL_NN_CUDA && nn->built)
        return nn->be->upload(nn->dparams, nn->params, nn->nparams);
    return SL_OK;
}

sl_status_t sl_nn_grads_sync(sl_nn_t *nn)
{
    if (nn->dev == SL_NN_CUDA)
        return nn->be->download(nn->grads, nn->dgrads, nn->nparams);
    return SL_OK;
}

int sl_nn_num_tensors(const sl_nn_t *nn)
{
    return nn->ntensors;
}

sl_status_t sl_nn_tensor_info(const sl_nn_t *nn, int i, sl_nn_tensor_info_t *info_p)
{
    if (i < 0 || i >= nn->ntensors)
        return SL_ERR_NOT_FOUND;
    info_p->name = nn->tensors[i].name;
    info_p->offset = nn->tensors[i].offset;
    info_p->rows = nn->tensors[i].rows;
    info_p->cols = nn->tensors[i].cols;
    return SL_OK;
}
