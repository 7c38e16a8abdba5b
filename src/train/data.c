/* SPDX-License-Identifier: BSD-3-Clause */
/* Datasets: HDF5 files with /X (float32 N x F) and /y (int32 N labels or
 * float32 N x K targets), read by row slices; the global per-epoch shuffle
 * (the same permutation on every rank and for every rank count); and the
 * importers for IDX (MNIST format, gzip through zlib) and CSV files. */
#include "config.h"
#include "train_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

struct sl_nn_data {
    sl_h5_t *h;
    int64_t rows;
    int features, twidth;
};

sl_status_t sl_nn_data_open(MPI_Comm comm, const char *path, sl_nn_data_t **d_p)
{
    sl_h5_t *h = NULL;
    sl_status_t st = sl_h5_open(comm, path, &h);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error_root(comm, SL_ERR_NOT_FOUND, "dataset %s does not exist", path);
    if (st != SL_OK)
        return st;
    sl_dtype_t tx, ty;
    int nx, ny;
    uint64_t dx[SL_H5_MAXDIM], dy[SL_H5_MAXDIM];
    if (!sl_h5_exists(h, "X"))
        st = sl_error_root(comm, SL_ERR_INVALID, "dataset %s has no /X (float32 samples x features)", path);
    else if (!sl_h5_exists(h, "y"))
        st = sl_error_root(comm, SL_ERR_INVALID, "dataset %s has no /y (int32 labels or float32 targets)",
                           path);
    else if (sl_h5_info(h, "X", &tx, &nx, dx) != SL_OK || tx != SL_F32 || nx != 2)
        st = sl_error_root(comm, SL_ERR_INVALID,
                           "dataset %s: /X must be a float32 matrix (samples x features)", path);
    else if (sl_h5_info(h, "y", &ty, &ny, dy) != SL_OK ||
             !((ty == SL_I32 && ny == 1) || (ty == SL_F32 && (ny == 1 || ny == 2))))
        st = sl_error_root(comm, SL_ERR_INVALID,
                           "dataset %s: /y must be int32 (N) labels or float32 (N or N x K) targets", path);
    else if (dy[0] != dx[0])
        st = sl_error_root(comm, SL_ERR_INVALID, "dataset %s: /X has %llu rows but /y has %llu", path,
                           (unsigned long long)dx[0], (unsigned long long)dy[0]);
    else if (dx[0] == 0 || dx[1] == 0)
        st = sl_error_root(comm, SL_ERR_INVALID, "dataset %s is empty", path);
    st = sl_agree(comm, st);
    if (st != SL_OK) {
        sl_h5_close(&h);
        return st;
    }
    sl_nn_data_t *d = calloc(1, sizeof *d);
    d->h = h;
    d->rows = (int64_t)dx[0];
    d->features = (int)dx[1];
    d->twidth = ty == SL_I32 ? 0 : ny == 1 ? 1 : (int)dy[1];
    *d_p = d;
    return SL_OK;
}

void sl_nn_data_close(sl_nn_data_t **d)
{
    if (!d || !*d)
        return;
    sl_h5_close(&(*d)->h);
    free(*d);
    *d = NULL;
}

int64_t sl_nn_data_rows(const sl_nn_data_t *d)
{
    return d->rows;
}
int sl_nn_data_features(const sl_nn_data_t *d)
{
    return d->features;
}
int sl_nn_data_target_width(const sl_nn_data_t *d)
{
    return d->twidth;
}

sl_status_t sl_nn_data_read(sl_nn_data_t *d, int64_t row0, int64_t n, float *x, void *y)
{
    float dummy[1];
    SL_TRY(sl_h5_read_rows(d->h, "X", SL_F32, (uint64_t)row0, (uint64_t)n, n ? x : dummy));
    return sl_h5_read_rows(d->h, "y", d->twidth ? SL_F32 : SL_I32, (uint64_t)row0, (uint64_t)n,
                           n ? y : dummy);
}

void sl_nn_shuffle(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm)
{
    char purpose[48];
    snprintf(purpose, sizeof purpose, "nn-shuffle-%lld", (long long)epoch);
    gsl_rng *r = NULL;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    if (sl_rng_create(seed, 0, purpose, &r) != SL_OK)
        return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gsl_rng_uniform_int(r, (unsigned long)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    sl_rng_destroy(&r);
}

static int read_be32(gzFile f, uint32_t *v)
{
    unsigned char b[4];
    if (gzread(f, b, 4) != 4)
        return -1;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* Read an IDX file of unsigned bytes: dims and data (malloc'd). Local. */
static sl_status_t read_idx(const char *path, int want_ndim, uint32_t *dims, unsigned char **data_p)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return sl_error(SL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    uint32_t magic = 0;
    sl_status_t st = SL_OK;
    unsigned char *data = NULL;
    if (read_be32(f, &magic) != 0 || (magic >> 8) != 0x08 || (int)(magic & 0xff) != want_ndim) {
        st = sl_error(SL_ERR_INVALID,
                      "%s is not an IDX file of unsigned bytes with %d dimension%s (magic %08x)", path,
                      want_ndim, want_ndim > 1 ? "s" : "", magic);
        goto out;
    }
    uint64_t total = 1;
    for (int i = 0; i < want_ndim; i++) {
        if (read_be32(f, &dims[i]) != 0) {
            st = sl_error(SL_ERR_INVALID, "%s: truncated IDX header", path);
            goto out;
        }
        total *= dims[i];
    }
    if (total == 0 || total > ((uint64_t)1 << 34)) {
        st = sl_error(SL_ERR_INVALID, "%s: implausible IDX size", path);
        goto out;
    }
    data = malloc(total);
    if (!data) {
        st = sl_error(SL_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    uint64_t got = 0;
    while (got < total) {
        unsigned chunk = total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
        int r = gzread(f, data + got, chunk);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    if (got != total) {
        st = sl_error(SL_ERR_INVALID, "%s: truncated IDX data (%llu of %llu bytes)", path,
                      (unsigned long long)got, (unsigned long long)total);
        free(data);
        data = NULL;
    }
out:
    gzclose(f);
    if (st == SL_OK)
        *data_p = data;
    return st;
}

static sl_status_t write_dataset(MPI_Comm comm, const char *output, const float *x, uint64_t n, uint64_t f,
                                 const void *y, int twidth)
{
    sl_h5_t *h = NULL;
    float dummy = 0;
    int rank;
    MPI_Comm_rank(comm, &rank);
    SL_TRY(sl_h5_create(comm, output, &h));
    uint64_t dx[2] = {n, f}, dy[2] = {n, (uint64_t)twidth};
    sl_status_t st = sl_h5_write(h, "X", SL_F32, 2, dx, rank == 0 ? (const void *)x : &dummy);
    if (st == SL_OK)
        st = sl_h5_write(h, "y", twidth ? SL_F32 : SL_I32, twidth ? 2 : 1, dy,
                         rank == 0 ? y : (const void *)&dummy);
    if (st != SL_OK) {
        sl_h5_discard(&h);
        return st;
    }
    return sl_h5_commit(&h, 1);
}

sl_status_t sl_nn_import_idx(MPI_Comm comm, const char *images, const char *labels, const char *output)
{
    if (sl_same_file(output, images) || sl_same_file(output, labels))
        return sl_error_root(comm, SL_ERR_USAGE, "--output %s is an input file; it would be replaced",
                             output);
    int rank;
    MPI_Comm_rank(comm, &rank);
    sl_status_t st = SL_OK;
    uint32_t di[3] = {0}, dl[1] = {0};
    unsigned char *img = NULL, *lab = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    uint64_t meta[2] = {0, 0};
    if (rank == 0) {
        st = read_idx(images, 3, di, &img);
        if (st == SL_OK)
            st = read_idx(labels, 1, dl, &lab);
        if (st == SL_OK && dl[0] != di[0])
            st = sl_error(SL_ERR_INVALID, "%s has %u images but %s has %u labels", images, di[0], labels,
                          dl[0]);
        if (st == SL_OK) {
            uint64_t n = di[0], f = (uint64_t)di[1] * di[2];
            x = malloc(n * f * sizeof(float));
            y = malloc(n * sizeof(int32_t));
            if (!x || !y)
                st = sl_error(SL_ERR_NOMEM, "out of memory");
            else {
                for (uint64_t i = 0; i < n * f; i++)
                    x[i] = img[i] / 255.0f;
                for (uint64_t i = 0; i < n; i++)
                    y[i] = lab[i];
                meta[0] = n;
                meta[1] = f;
            }
        }
    }
    free(img);
    free(lab);
    st = sl_agree(comm, st);
    if (st == SL_OK) {
        MPI_Bcast(meta, 2, MPI_UINT64_T, 0, comm);
        st = write_dataset(comm, output, x, meta[0], meta[1], y, 0);
    }
    if (st == SL_OK && rank == 0)
        SL_INFO0("imported %llu samples of %llu features into %s", (unsigned long long)meta[0],
                 (unsigned long long)meta[1], output);
    free(x);
    free(y);
    return st;
}

/* Split a CSV line in place; returns the field count, or -(1 + the
 * column) of a malformed quoted field (a quote never closed, or text after
 * the closing quote). A field in double quotes (blanks around them allowed)
 * is its text between them, with "" for a quote and commas kept: "1.5" is
 * the number 1.5, "a,b" one field. A quoted field cannot span lines. */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        char *end;
        if (*q == '"') {
            char *w = p; /* the text moves left over the blanks and the quote */
            char *r = q + 1;
            for (;;) {
                if (!*r)
                    return -(1 + n);
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else
                    *w++ = *r++;
            }
            while (*r == ' ' || *r == '\t')
                r++;
            if (*r && *r != ',')
                return -(1 + n);
            *w = 0;
            end = *r ? r : NULL;
        } else
            end = strchr(p, ',');
        if (n < max)
            fields[n] = p;
        n++;
        if (!end)
            break;
        *end = 0;
        p = end + 1;
    }
    return n;
}

/* Whether s, a field, is a number as a whole (blanks around it allowed) */
static int csv_is_number(const char *s)
{
    char *e;
    strtod(s, &e);
    if (e == s)
        return 0;
    while (*e == ' ' || *e == '\t')
        e++;
    return !*e;
}

sl_status_t sl_nn_import_csv(MPI_Comm comm, const char *csv, const char *output, int label_col, int targets,
                             double scale)
{
    if (sl_same_file(output, csv))
        return sl_error_root(comm, SL_ERR_USAGE, "--output %s is the input file; it would be replaced",
                             output);
    int rank;
    MPI_Comm_rank(comm, &rank);
    sl_status_t st = SL_OK;
    float *x = NULL, *t = NULL;
    int32_t *y = NULL;
    uint64_t meta[2] = {0, 0};
    if (rank == 0) {
        gzFile f = gzopen(csv, "rb");
        if (!f)
            st = sl_error(SL_ERR_IO, "cannot open %s: %s", csv, strerror(errno));
        size_t cap = 0, n = 0;
        int ncol = -1, lc = 0;
        size_t lcap = 1 << 20;
        char *line = malloc(lcap);
        char **fields = malloc(sizeof(char *) * 65536);
        long lineno = 0;
        while (st == SL_OK && gzgets(f, line, (int)lcap)) {
            lineno++;
            size_t len = strlen(line);
            /* A line longer than the buffer: grow it and read on (its rest
             * was taken for the next line) */
            while (st == SL_OK && len == lcap - 1 && line[len - 1] != '\n') {
                char *nl = lcap < (1u << 30) ? realloc(line, 2 * lcap) : NULL;
                if (!nl) {
                    st = sl_error(SL_ERR_NOMEM, "%s:%ld: line too long (over %zu MiB)", csv, lineno,
                                  lcap >> 20);
                    break;
                }
                line = nl;
                lcap *= 2;
                if (!gzgets(f, line + len, (int)(lcap - len)))
                    break; /* the file ends without a newline */
                len += strlen(line + len);
            }
            if (st != SL_OK)
                break;
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (!len)
                continue;
            int nf = split_csv(line, fields, 65536);
            if (nf < 0) {
                st = sl_error(
                    SL_ERR_INVALID,
                    "%s:%ld: column %d: a quoted field must end with its closing quote, followed by a "
                    "comma or the end of the line",
                    csv, lineno, -nf);
                break;
            }
            if (nf > 65536) {
                st = sl_error(SL_ERR_INVALID, "%s:%ld: more than 65536 columns", csv, lineno);
                break;
            }
            if (ncol < 0) {
                /* a header: its first field is not a number ("a", "1st");
                 * a first line of numbers, quoted or not, is data */
                int header = !csv_is_number(fields[0]);
                ncol = nf;
                int ntarget = targets > 0 ? targets : 1;
                if (ncol <= ntarget) {
                    st = sl_error(SL_ERR_INVALID, "%s:%ld: %d columns leave no features", csv, lineno, ncol);
                    break;
                }
                lc = targets > 0 ? ncol - targets : (label_col < 0 ? ncol - 1 : label_col);
                if (lc >= ncol) {
                    st = sl_error(SL_ERR_INVALID, "%s: label column %d but only %d columns", csv, lc, ncol);
                    break;
                }
                meta[1] = (uint64_t)(ncol - ntarget);
                if (header)
                    continue;
            }
            if (nf != ncol) {
                st = sl_error(SL_ERR_INVALID, "%s:%ld: %d columns, expected %d", csv, lineno, nf, ncol);
                break;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                float *nx = realloc(x, cap * meta[1] * sizeof(float));
                if (nx)
                    x = nx;
                void *ny = targets > 0 ? realloc(t, cap * targets * sizeof(float))
                                       : realloc(y, cap * sizeof(int32_t));
                if (ny) {
                    if (targets > 0)
                        t = ny;
                    else
                        y = ny;
                }
                if (!nx || !ny) {
                    st = sl_error(SL_ERR_NOMEM, "out of memory reading %s", csv);
                    break;
                }
            }
            uint64_t k = 0;
            for (int j = 0; j < ncol && st == SL_OK; j++) {
                char *e;
                double v = strtod(fields[j], &e);
                while (*e == ' ' || *e == '\t')
                    e++;
                if (e == fields[j] || *e || !isfinite(v)) {
                    st = sl_error(SL_ERR_INVALID, "%s:%ld: column %d: '%s' is not a number", csv, lineno,
                                  j + 1, fields[j]);
                    break;
                }
                /* a float32 dataset: a finite double can still overflow it */
                float fv = targets > 0 && j >= lc ? (float)v : j == lc ? 0.f : (float)(v * scale);
                if (!isfinite(fv)) {
                    st = sl_error(SL_ERR_INVALID, "%s:%ld: column %d: '%s'%s does not fit in float32", csv,
                                  lineno, j + 1, fields[j], targets > 0 && j >= lc ? "" : " times --scale");
                    break;
                }
                if (targets > 0 && j >= lc)
                    t[n * targets + (j - lc)] = fv;
                else if (targets <= 0 && j == lc) {
                    if (v != floor(v) || v < 0 || v > 2147483647.0)
                        st = sl_error(SL_ERR_INVALID, "%s:%ld: label '%s' is not a class id (integer >= 0)",
                                      csv, lineno, fields[j]);
                    y[n] = (int32_t)v;
                } else
                    x[n * meta[1] + k++] = fv;
            }
            n++;
        }
        if (st == SL_OK && n == 0)
            st = sl_error(SL_ERR_INVALID, "%s: no samples", csv);
        meta[0] = n;
        free(line);
        free(fields);
        if (f)
            gzclose(f);
    }
    st = sl_agree(comm, st);
    if (st == SL_OK) {
        MPI_Bcast(meta, 2, MPI_UINT64_T, 0, comm);
        int tw = targets > 0 ? targets : 0;
        MPI_Bcast(&tw, 1, MPI_INT, 0, comm);
        st = write_dataset(comm, output, x, meta[0], meta[1], tw ? (void *)t : (void *)y, tw);
    }
    if (st == SL_OK)
        SL_INFO0("imported %llu samples of %llu features into %s", (unsigned long long)meta[0],
                 (unsigned long long)meta[1], output);
    free(x);
    free(y);
    free(t);
    return st;
}
