/* SPDX-License-Identifier: BSD-3-Clause */
/* Input file lists and full-length positional I/O for the shuffle
 * commands. Rank 0 looks at the file system once and broadcasts what it
 * found, so every rank splits the same byte stream the same way. */
#include "config.h"
#include "shuffle_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void *sl_sort_alloc_big(size_t bytes)
{
    const size_t huge = 2u << 20;
    void *p = NULL;
    if (bytes < huge) /* page-aligned all the same: direct I/O needs it */
        return posix_memalign(&p, 4096, bytes ? bytes : 1) == 0 ? p : NULL;
    if (posix_memalign(&p, huge, bytes) != 0)
        return NULL;
    madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE); /* advice only */
    return p;
}

int sl_sort_rank_width(int size)
{
    int w = 5;
    for (long v = 100000; v < size; v *= 10)
        w++;
    return w;
}

char *sl_sort_subst_rank(const char *path, int rank, int size)
{
    size_t len = strlen(path) + 1;
    for (const char *p = path; (p = strchr(p, '%')); p++)
        len += 16;
    char *out = malloc(len), *q = out;
    if (!out)
        return NULL;
    for (const char *p = path; *p;) {
        if (p[0] == '%' && (p[1] == 'r' || p[1] == 'R')) {
            q += sprintf(q, "%0*d", p[1] == 'r' ? 0 : sl_sort_rank_width(size), rank);
            p += 2;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    return out;
}

const char *sl_sort_special_kind(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
        return NULL;
    return S_ISFIFO(sb.st_mode)   ? "a FIFO (a pipe)"
           : S_ISCHR(sb.st_mode)  ? "a character device"
           : S_ISBLK(sb.st_mode)  ? "a block device"
           : S_ISSOCK(sb.st_mode) ? "a socket"
                                  : "not a regular file";
}

sl_status_t sl_pread_full(int fd, void *buf, size_t len, off_t off, const char *path)
{
    char *p = buf;
    while (len) {
        ssize_t k = pread(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return sl_error(SL_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (k == 0)
            return sl_error(SL_ERR_IO, "'%s' is shorter than expected (changed while running?)", path);
        p += k;
        len -= (size_t)k;
        off += k;
    }
    return SL_OK;
}

sl_status_t sl_pwrite_full(int fd, const void *buf, size_t len, off_t off, const char *path)
{
    const char *p = buf;
    while (len) {
        ssize_t k = pwrite(fd, p, len, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return sl_error(SL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        p += k;
        len -= (size_t)k;
        off += k;
    }
    return SL_OK;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    int n, cap;
    char **v;
} strvec_t;

static sl_status_t push(strvec_t *sv, const char *s)
{
    if (sv->n == sv->cap) {
        int cap = sv->cap ? 2 * sv->cap : 16;
        char **v = realloc(sv->v, (size_t)cap * sizeof *v);
        if (!v)
            return sl_error(SL_ERR_NOMEM, "out of memory listing inputs");
        sv->v = v;
        sv->cap = cap;
    }
    if (!(sv->v[sv->n] = strdup(s)))
        return sl_error(SL_ERR_NOMEM, "out of memory listing inputs");
    sv->n++;
    return SL_OK;
}

/* Whether name is that of a run spilled by `sluice sort`:
 * sluice-run-TOKEN-RANK-N, all three decimal. */
static int is_spilled_run(const char *name)
{
    const char *p = name;
    if (strncmp(p, "sluice-run-", 11))
        return 0;
    p += 11;
    for (int part = 0; part < 3; part++) {
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (part < 2 && *p++ != '-')
            return 0;
    }
    return *p == '\0';
}

/* Rank 0: the expanded, checked list as "path\0" strings and sizes. */
static sl_status_t expand(char **paths, int n, int dirs, strvec_t *sv)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            int e = errno;
            /* 'part-%R' given for node-local files, --local forgotten */
            int pct = e == ENOENT && (strstr(paths[i], "%r") || strstr(paths[i], "%R"));
            return sl_error(SL_ERR_NOT_FOUND, "input '%s': %s%s", paths[i], strerror(e),
                            pct ? " (%r and %R are the rank only with --local)" : "");
        }
        if (S_ISDIR(st.st_mode) && dirs) {
            DIR *d = opendir(paths[i]);
            if (!d)
                return sl_error(SL_ERR_IO, "cannot list input directory '%s': %s", paths[i], strerror(errno));
            strvec_t sub = {0};
            long runs = 0;
            struct dirent *e;
            sl_status_t s = SL_OK;
            while (s == SL_OK && (e = readdir(d))) {
                char full[4096];
                struct stat es;
                if (e->d_name[0] == '.')
                    continue;
                snprintf(full, sizeof full, "%s/%s", paths[i], e->d_name);
                /* Runs a sort spilled there (--tmp in an input directory):
                 * an earlier, killed run's were taken for inputs, and then
                 * removed as stale before they were read. */
                if (is_spilled_run(e->d_name)) {
                    runs++;
                    continue;
                }
                /* An entry that cannot be looked at (a dangling link) is a
                 * missing input; one that is not a file is said to be left
                 * out, not passed over in silence. */
                if (stat(full, &es) != 0)
                    s = sl_error(SL_ERR_NOT_FOUND, "input '%s': %s", full, strerror(errno));
                else if (S_ISREG(es.st_mode))
                    s = push(&sub, full);
                else
                    SL_WARN("input directory '%s': '%s' is not a regular file: not sorted (name it as an "
                            "input of its own if it holds records)",
                            paths[i], full);
            }
            closedir(d);
            if (runs)
                SL_WARN(
                    "input directory '%s': %ld file%s named sluice-run-* (runs spilled by a sort with --tmp "
                    "there): not sorted",
                    paths[i], runs, runs == 1 ? "" : "s");
            if (s == SL_OK)
                qsort(sub.v, (size_t)sub.n, sizeof *sub.v, cmpstr);
            for (int k = 0; k < sub.n; k++) {
                if (s == SL_OK)
                    s = push(sv, sub.v[k]);
                free(sub.v[k]);
            }
            free(sub.v);
            SL_TRY(s);
        } else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
            SL_TRY(push(sv, paths[i]));
        } else {
            return sl_error(SL_ERR_INVALID, "input '%s' is not a regular file", paths[i]);
        }
    }
    return SL_OK;
}

typedef struct {
    dev_t dev;
    ino_t ino;
    int i;
} fileid_t;

static int cmp_fileid(const void *a, const void *b)
{
    const fileid_t *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->i - y->i;
}

/* A file listed twice (the same file, a directory and a file in it, a
 * link beside what it points to) would have its records sorted twice. */
static sl_status_t no_twice(fileid_t *id, int n, char **names)
{
    qsort(id, (size_t)n, sizeof *id, cmp_fileid);
    for (int k = 1; k < n; k++)
        if (id[k].dev == id[k - 1].dev && id[k].ino == id[k - 1].ino &&
            !strcmp(names[id[k].i], names[id[k - 1].i]))
            return sl_error(SL_ERR_INVALID, "input '%s' is given twice: its records would be sorted twice",
                            names[id[k].i]);
        else if (id[k].dev == id[k - 1].dev && id[k].ino == id[k - 1].ino)
            return sl_error(SL_ERR_INVALID,
                            "input '%s' is the same file as input '%s': its records would be sorted twice",
                            names[id[k].i], names[id[k - 1].i]);
    return SL_OK;
}

sl_status_t sl_filelist_create(MPI_Comm comm, char **paths, int n, int expand_dirs, uint32_t rec,
                               sl_filelist_t **fl_p)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    strvec_t sv = {0};
    uint64_t *sizes = NULL;
    char *blob = NULL;
    long long hdr[2] = {0, 0}; /* count, blob length */
    sl_status_t st = SL_OK;
    if (rank == 0) {
        st = expand(paths, n, expand_dirs, &sv);
        /* the sort's inputs (expand_dirs) are a set of files; valsort's a
         * sequence, in which a file may come twice */
        fileid_t *id = NULL;
        if (st == SL_OK && !(sizes = calloc((size_t)sv.n + 1, sizeof *sizes)))
            st = sl_error(SL_ERR_NOMEM, "out of memory");
        if (st == SL_OK && expand_dirs && !(id = calloc((size_t)sv.n + 1, sizeof *id)))
            st = sl_error(SL_ERR_NOMEM, "out of memory");
        for (int i = 0; st == SL_OK && i < sv.n; i++) {
            struct stat s;
            int fd = open(sv.v[i], O_RDONLY);
            if (fd < 0) {
                st = sl_error(SL_ERR_IO, "cannot open input '%s': %s", sv.v[i], strerror(errno));
                break;
            }
            if (fstat(fd, &s) != 0) {
                st = sl_error(SL_ERR_IO, "cannot stat '%s': %s", sv.v[i], strerror(errno));
            } else {
                if (id)
                    id[i] = (fileid_t){S_ISBLK(s.st_mode) ? s.st_rdev : s.st_dev,
                                       S_ISBLK(s.st_mode) ? 0 : s.st_ino, i};
                sizes[i] = (uint64_t)s.st_size;
                if (S_ISBLK(s.st_mode)) {
                    off_t end = lseek(fd, 0, SEEK_END);
                    sizes[i] = end > 0 ? (uint64_t)end : 0;
                }
                if (sizes[i] % rec)
                    st = sl_error(SL_ERR_INVALID,
                                  "input '%s': size %llu is not a multiple of the %u-byte record size "
                                  "(partial record at end%s)",
                                  sv.v[i], (unsigned long long)sizes[i], (unsigned)rec,
                                  rec == SL_SORT_REC ? "" : "; --record-size");
            }
            close(fd);
        }
        if (st == SL_OK && id)
            st = no_twice(id, sv.n, sv.v);
        free(id);
        for (int i = 0; i < sv.n; i++)
            hdr[1] += (long long)strlen(sv.v[i]) + 1;
        hdr[0] = sv.n;
    }
    st = sl_agree(comm, st);
    if (st != SL_OK)
        goto out;
    MPI_Bcast(hdr, 2, MPI_LONG_LONG, 0, comm);
    blob = malloc((size_t)hdr[1] + 1);
    if (rank != 0)
        sizes = calloc((size_t)hdr[0] + 1, sizeof *sizes);
    st = sl_agree(comm, blob && sizes ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
    if (st != SL_OK)
        goto out;
    if (rank == 0) {
        char *p = blob;
        for (int i = 0; i < sv.n; i++) {
            size_t l = strlen(sv.v[i]) + 1;
            memcpy(p, sv.v[i], l);
            p += l;
        }
    }
    MPI_Bcast(blob, (int)hdr[1], MPI_CHAR, 0, comm);
    MPI_Bcast(sizes, (int)hdr[0], MPI_UINT64_T, 0, comm);
    sl_filelist_t *fl = calloc(1, sizeof *fl);
    char **pv = calloc((size_t)hdr[0] + 1, sizeof *pv);
    st = sl_agree(comm, fl && pv ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
    if (st != SL_OK) {
        free(fl);
        free(pv);
        goto out;
    }
    char *p = blob;
    for (long long i = 0; i < hdr[0]; i++) {
        pv[i] = p;
        p += strlen(p) + 1;
        fl->total += sizes[i];
    }
    fl->n = (int)hdr[0];
    fl->path = pv;
    fl->size = sizes;
    *fl_p = fl;
    if (fl->n > 0) /* path[0] holds the blob; without names it is freed below */
        blob = NULL;
    sizes = NULL;
out:
    for (int i = 0; i < sv.n; i++)
        free(sv.v[i]);
    free(sv.v);
    free(sizes);
    free(blob);
    return st;
}

void sl_filelist_destroy(sl_filelist_t **fl)
{
    if (!fl || !*fl)
        return;
    if ((*fl)->n > 0)
        free((*fl)->path[0]); /* the blob holding every name */
    free((*fl)->path);
    free((*fl)->size);
    free(*fl);
    *fl = NULL;
}

sl_status_t sl_filelist_read(const sl_filelist_t *fl, uint64_t off, void *buf, size_t len)
{
    char *p = buf;
    uint64_t base = 0;
    for (int i = 0; i < fl->n && len; i++) {
        uint64_t sz = fl->size[i];
        if (off < base + sz) {
            uint64_t in = off - base;
            size_t take = (size_t)(sz - in < len ? sz - in : len);
            int fd = open(fl->path[i], O_RDONLY);
            if (fd < 0)
                return sl_error(SL_ERR_IO, "cannot open input '%s': %s", fl->path[i], strerror(errno));
            sl_status_t st = sl_pread_full(fd, p, take, (off_t)in, fl->path[i]);
            close(fd);
            SL_TRY(st);
            p += take;
            len -= take;
            off += take;
        }
        base += sz;
    }
    if (len)
        return sl_error(SL_ERR_INTERNAL, "read past the end of the inputs");
    return SL_OK;
}
