/* SPDX-License-Identifier: BSD-3-Clause */
/* k-way merge of sorted runs with a loser tree: runs are spill files read
 * through buffers, plus at most one sorted run still in memory. The output
 * goes through a large buffer to a writer callback; ties go to the lower run
 * index so a merge is deterministic. */
#define _GNU_SOURCE /* O_DIRECT */
#include "config.h"
#include "merge_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int fd;  /* -1: in-memory run */
    int dfd; /* the same file with direct I/O, or -1 */
    const char *path;
    unsigned char *buf;     /* file runs: read buffer */
    size_t cap;             /* bytes */
    const unsigned char *p; /* current record */
    const unsigned char *end;
    uint64_t file_off, file_left;
} src_t;

static sl_status_t refill(src_t *s)
{
    if (s->fd < 0 || s->file_left == 0) {
        s->p = s->end = NULL;
        return SL_OK;
    }
    size_t k = (size_t)(s->file_left < s->cap ? s->file_left : s->cap);
    /* Whole aligned pieces straight from the device; the tail buffered. */
    int direct = s->dfd >= 0 && k % 4096 == 0 && s->file_off % 4096 == 0;
    SL_TRY(sl_pread_full(direct ? s->dfd : s->fd, s->buf, k, (off_t)s->file_off, s->path));
    s->file_off += k;
    s->file_left -= k;
    s->p = s->buf;
    s->end = s->buf + k;
    return SL_OK;
}

/* a loses to b: a's key is greater (exhausted sources are +inf). */
static inline int loses(const src_t *src, int a, int b)
{
    if (a < 0)
        return 0; /* -1: the initial minus-infinity leaf never loses */
    if (b < 0)
        return 1;
    if (!src[a].p)
        return 1;
    if (!src[b].p)
        return 0;
    int d = memcmp(src[a].p, src[b].p, SL_SORT_KEY);
    return d > 0 || (d == 0 && a > b);
}

sl_status_t sl_merge_runs(const sl_run_t *runs, int k, size_t buf_bytes, sl_merge_out_fn out, void *arg)
{
    sl_status_t st = SL_OK;
    src_t *src = calloc((size_t)k + 1, sizeof *src);
    int *tree = calloc((size_t)k + 1, sizeof *tree);
    /* Read buffers of whole 1024-record pieces (102400 B, page multiples). */
    size_t per = buf_bytes / (size_t)(k + 1) / (1024 * SL_SORT_REC) * (1024 * SL_SORT_REC);
    if (per < 1024 * SL_SORT_REC)
        per = 1024 * SL_SORT_REC;
    /* The output buffer: a multiple of 1024 records, page-aligned, so the
     * writer can use direct I/O. */
    size_t oper = buf_bytes / SL_SORT_REC / 1024 * 1024 * SL_SORT_REC;
    if (oper == 0)
        oper = 1024 * SL_SORT_REC;
    unsigned char *obuf = NULL;
    if (posix_memalign((void **)&obuf, 4096, oper) != 0)
        obuf = NULL;
    if (!src || !tree || !obuf) {
        st = sl_error(SL_ERR_NOMEM, "out of memory for the merge");
        goto out;
    }
    for (int i = 0; i < k; i++) {
        src[i].fd = src[i].dfd = -1;
        if (runs[i].path) {
            src[i].path = runs[i].path;
            src[i].fd = open(runs[i].path, O_RDONLY);
            if (src[i].fd < 0) {
                st = sl_error(SL_ERR_IO, "cannot open run '%s': %s", runs[i].path, strerror(errno));
                goto out;
            }
            src[i].dfd = open(runs[i].path, O_RDONLY | O_DIRECT);
            src[i].cap = per;
            if (posix_memalign((void **)&src[i].buf, 4096, per) != 0) {
                src[i].buf = NULL;
                st = sl_error(SL_ERR_NOMEM, "out of memory for merge buffers");
                goto out;
            }
            src[i].file_left = runs[i].nrec * SL_SORT_REC;
            SL_TRY_GOTO(refill(&src[i]), out);
        } else if (runs[i].nrec) {
            src[i].p = runs[i].mem;
            src[i].end = runs[i].mem + runs[i].nrec * SL_SORT_REC;
        }
    }
    /* Loser tree: tree[0] is the winner, tree[1..k-1] the losers. */
    for (int i = 0; i < k; i++)
        tree[i] = -1;
    for (int leaf = k - 1; leaf >= 0; leaf--) {
        int s = leaf;
        for (int t = (s + k) / 2; t > 0; t /= 2)
            if (loses(src, s, tree[t])) {
                int w = tree[t];
                tree[t] = s;
                s = w;
            }
        tree[0] = s;
    }
    size_t used = 0;
    while (k > 0 && src[tree[0]].p) {
        int w = tree[0];
        memcpy(obuf + used, src[w].p, SL_SORT_REC);
        used += SL_SORT_REC;
        if (used == oper) {
            SL_TRY_GOTO(out(arg, obuf, used / SL_SORT_REC), out);
            used = 0;
        }
        src[w].p += SL_SORT_REC;
        if (src[w].p == src[w].end) {
            src[w].p = NULL;
            SL_TRY_GOTO(refill(&src[w]), out);
        }
        int s = w;
        for (int t = (s + k) / 2; t > 0; t /= 2)
            if (loses(src, s, tree[t])) {
                int l = tree[t];
                tree[t] = s;
                s = l;
            }
        tree[0] = s;
    }
    if (used)
        st = out(arg, obuf, used / SL_SORT_REC);
out:
    for (int i = 0; src && i < k; i++) {
        if (src[i].fd >= 0)
            close(src[i].fd);
        if (src[i].dfd >= 0)
            close(src[i].dfd);
        free(src[i].buf);
    }
    free(src);
    free(tree);
    free(obuf);
    return st;
}
