/* SPDX-License-Identifier: BSD-3-Clause */
/* k-way merge of sorted runs with a loser tree: runs are spill files, read
 * ahead by helper threads into two buffers per run (the merge consumes one
 * while the other fills; whole pages with direct I/O), plus at most one
 * sorted run still in memory. Tree nodes compare each run's current key as
 * two integers (key bytes 0-7 big-endian, then bytes 8-9 above the run
 * index); equal keys go by the rest of the records, as the in-memory sorts
 * order them, then to the lower run index: a merge is deterministic.
 * Another record geometry takes a generic loop: the first up-to-8 key bytes
 * as the integer, a memcmp of the rest of the key on ties, then the run
 * index. The output goes into the sink's buffers. */
#define _GNU_SOURCE /* O_DIRECT */
#include "config.h"
#include "merge_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NREADERS 2 /* read-ahead threads: two requests in flight per rank */

enum { B_FREE, B_QUEUED, B_READY };

typedef struct {
    unsigned char *buf;
    size_t len; /* bytes read */
    int state;
    sl_status_t st;
} rbuf_t;

typedef struct {
    uint64_t hi, lo;        /* current key; ~0, ~0 once exhausted */
    const unsigned char *p; /* current record, NULL once exhausted */
    const unsigned char *end;
    int fd;  /* -1: in-memory run */
    int dfd; /* the same file with direct I/O, or -1 */
    const char *path;
    rbuf_t b[2];
    int cur;                 /* buffer being consumed */
    uint64_t next_off, left; /* the file range not yet requested */
    uint64_t qoff[2];        /* offset requested per buffer */
    size_t qlen[2];          /* bytes requested per buffer */
} src_t;

struct sl_merge {
    src_t *src;
    int k;
    sl_sort_geom_t g; /* record geometry */
    int std;          /* the default geometry: the specialised loop */
    int *tree;
    size_t per; /* bytes per read buffer */
    /* read-ahead: a FIFO of (run, buffer) requests served by NREADERS threads */
    pthread_mutex_t mu;
    pthread_cond_t cv_req, cv_done;
    int *fifo, fhead, fcount, fcap, quit, nth;
    pthread_t th[NREADERS];
};

static void *reader_main(void *arg)
{
    sl_merge_t *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->fcount && !m->quit)
            pthread_cond_wait(&m->cv_req, &m->mu);
        if (m->quit)
            break;
        int r = m->fifo[m->fhead];
        m->fhead = (m->fhead + 1) % m->fcap;
        m->fcount--;
        src_t *s = &m->src[r >> 1];
        int bi = r & 1;
        uint64_t off = s->qoff[bi];
        size_t len = s->qlen[bi];
        pthread_mutex_unlock(&m->mu);
        /* Whole aligned pieces straight from the device; the tail buffered. */
        int direct = s->dfd >= 0 && len % 4096 == 0 && off % 4096 == 0;
        sl_status_t st = sl_pread_full(direct ? s->dfd : s->fd, s->b[bi].buf, len, (off_t)off, s->path);
        pthread_mutex_lock(&m->mu);
        s->b[bi].len = len;
        s->b[bi].st = st;
        s->b[bi].state = B_READY;
        pthread_cond_broadcast(&m->cv_done);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Under the lock: queue the next piece of run i into its buffer bi. */
static void request(sl_merge_t *m, int i, int bi)
{
    src_t *s = &m->src[i];
    size_t len = (size_t)(s->left < m->per ? s->left : m->per);
    s->qoff[bi] = s->next_off;
    s->qlen[bi] = len;
    s->next_off += len;
    s->left -= len;
    s->b[bi].state = B_QUEUED;
    m->fifo[(m->fhead + m->fcount) % m->fcap] = 2 * i + bi;
    m->fcount++;
    pthread_cond_signal(&m->cv_req);
}

static inline void set_key(src_t *s, int i)
{
    if (!s->p) {
        s->hi = s->lo = ~(uint64_t)0;
        return;
    }
    uint64_t hi;
    uint16_t lo;
    memcpy(&hi, s->p, 8);
    memcpy(&lo, s->p + 8, 2);
    s->hi = __builtin_bswap64(hi);
    s->lo = (uint64_t)__builtin_bswap16(lo) << 48 | (uint64_t)i;
}

/* Generic geometry: hi is the key prefix, lo the run index (~0 once
 * exhausted: p is NULL then). */
static inline void set_key_g(const sl_merge_t *m, src_t *s, int i)
{
    if (!s->p) {
        s->hi = s->lo = ~(uint64_t)0;
        return;
    }
    s->hi = sl_sort_key_prefix(s->p, &m->g);
    s->lo = (uint64_t)i;
}

/* Generic geometry: a's current record before b's (equal keys: the whole
 * records' bytes, as the in-memory sorts order them; then the lower run). */
static inline int less_g(const sl_merge_t *m, const src_t *a, const src_t *b)
{
    if (a->hi != b->hi)
        return a->hi < b->hi;
    if (a->p && b->p && m->g.len > 8) {
        int d = memcmp(a->p + m->g.off + 8, b->p + m->g.off + 8, m->g.len - 8u);
        if (d)
            return d < 0;
    }
    if (a->p && b->p) {
        int d = memcmp(a->p, b->p, m->g.rec);
        if (d)
            return d < 0;
    }
    return a->lo < b->lo;
}

/* The default geometry: keys as (hi, lo); equal keys (hi and lo's top 16
 * bits) by the rest of the records, then the lower run (lo's low bits). */
static inline int less_std(const src_t *a, const src_t *b)
{
    if (a->hi != b->hi)
        return a->hi < b->hi;
    if ((a->lo ^ b->lo) >> 48 == 0 && a->p && b->p) {
        int d = memcmp(a->p + SL_SORT_KEY, b->p + SL_SORT_KEY, SL_SORT_REC - SL_SORT_KEY);
        if (d)
            return d < 0;
    }
    return a->lo < b->lo;
}

/* Run i's current buffer is used up: hand it back for the next piece and
 * move to the other one, waiting for its read if needed. */
static sl_status_t advance_buffer(sl_merge_t *m, int i)
{
    src_t *s = &m->src[i];
    s->p = s->end = NULL;
    if (s->fd < 0)
        return SL_OK;
    pthread_mutex_lock(&m->mu);
    int c = s->cur;
    s->b[c].state = B_FREE;
    if (s->left)
        request(m, i, c);
    c ^= 1;
    s->cur = c;
    while (s->b[c].state == B_QUEUED)
        pthread_cond_wait(&m->cv_done, &m->mu);
    int ready = s->b[c].state == B_READY;
    sl_status_t st = s->b[c].st;
    pthread_mutex_unlock(&m->mu);
    if (!ready || st != SL_OK)
        return ready ? st : SL_OK;
    if (s->b[c].len) {
        s->p = s->b[c].buf;
        s->end = s->p + s->b[c].len;
    }
    return SL_OK;
}

sl_status_t sl_merge_create(const sl_run_t *runs, int k, size_t buf_bytes, sl_merge_t **m_p)
{
    return sl_merge_create_g(runs, k, buf_bytes, NULL, m_p);
}

sl_status_t sl_merge_create_g(const sl_run_t *runs, int k, size_t buf_bytes, const sl_sort_geom_t *g,
                              sl_merge_t **m_p)
{
    sl_merge_t *m = calloc(1, sizeof *m);
    if (!m)
        return sl_error(SL_ERR_NOMEM, "out of memory for the merge");
    m->k = k;
    m->g = g ? *g : sl_sort_geom_std;
    m->std = sl_sort_geom_is_std(&m->g);
    const size_t R = m->g.rec;
    m->src = calloc((size_t)k + 1, sizeof *m->src);
    m->tree = calloc((size_t)k + 1, sizeof *m->tree);
    m->fcap = 2 * k + 1;
    m->fifo = calloc((size_t)m->fcap, sizeof *m->fifo);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv_req, NULL);
    pthread_cond_init(&m->cv_done, NULL);
    sl_status_t st = SL_OK;
    if (!m->src || !m->tree || !m->fifo) {
        st = sl_error(SL_ERR_NOMEM, "out of memory for the merge");
        goto err;
    }
    int nfiles = 0;
    for (int i = 0; i < k; i++) {
        m->src[i].fd = m->src[i].dfd = -1; /* none open yet: an error below closes only what it opened */
        nfiles += runs[i].path != NULL;
    }
    /* Two read buffers per file run, whole pieces of records that are also
     * page multiples (1024 records, 102400 B, for 100-byte records), so a
     * buffer never splits a record. */
    const size_t unit = sl_sort_unit(m->g.rec);
    m->per = nfiles ? buf_bytes / (size_t)(2 * nfiles) / unit * unit : unit;
    if (m->per < unit)
        m->per = unit;
    for (int i = 0; i < k; i++) {
        src_t *s = &m->src[i];
        if (runs[i].path) {
            s->path = runs[i].path;
            s->fd = open(runs[i].path, O_RDONLY);
            if (s->fd < 0) {
                st = sl_error(SL_ERR_IO, "cannot open run '%s': %s%s", runs[i].path, strerror(errno),
                              errno == EMFILE ? " (the merge opens every run: raise ulimit -n, or --mem for "
                                                "fewer runs)"
                                              : "");
                goto err;
            }
            s->dfd = open(runs[i].path, O_RDONLY | O_DIRECT);
            for (int b = 0; b < 2; b++)
                if (posix_memalign((void **)&s->b[b].buf, 4096, m->per) != 0) {
                    s->b[b].buf = NULL;
                    st = sl_error(SL_ERR_NOMEM, "out of memory for merge buffers");
                    goto err;
                }
            s->left = runs[i].nrec * R;
        } else if (runs[i].nrec) {
            s->p = runs[i].mem;
            s->end = runs[i].mem + runs[i].nrec * R;
        }
    }
    /* Every run's first piece, then every run's second. */
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < k; i++)
            if (m->src[i].fd >= 0 && m->src[i].left)
                request(m, i, b);
    for (int t = 0; nfiles && t < NREADERS; t++) {
        if (pthread_create(&m->th[t], NULL, reader_main, m) != 0) {
            st = sl_error(SL_ERR_INTERNAL, "cannot start the merge's reader thread");
            goto err;
        }
        m->nth++;
    }
    *m_p = m;
    return SL_OK;
err:
    sl_merge_destroy(&m);
    return st;
}

/* winner of the subtree at node t (leaves at k..2k-1); losers kept in tree */
static int play(sl_merge_t *m, int t)
{
    if (t >= m->k)
        return t - m->k;
    int a = play(m, 2 * t), b = play(m, 2 * t + 1);
    const src_t *s = m->src;
    int a_wins = m->std ? less_std(&s[a], &s[b]) : less_g(m, &s[a], &s[b]);
    m->tree[t] = a_wins ? b : a;
    return a_wins ? a : b;
}

/* The loop of sl_merge_run for another geometry (the tree is built). */
static sl_status_t merge_run_g(sl_merge_t *m, const sl_merge_sink_t *sink)
{
    const int k = m->k;
    const size_t R = m->g.rec;
    src_t *src = m->src;
    int *tree = m->tree;
    unsigned char *out = NULL;
    size_t cap = 0, used = 0, ocap = 0;
    while (src[tree[0]].p) {
        if (!out) {
            SL_TRY(sink->get(sink->arg, &out, &ocap));
            cap = ocap / R * R;
            used = 0;
        }
        int w = tree[0];
        src_t *s = &src[w];
        memcpy(out + used, s->p, R);
        used += R;
        s->p += R;
        if (used == cap) {
            SL_TRY(sink->put(sink->arg, out, used / R));
            out = NULL;
        }
        if (s->p == s->end)
            SL_TRY(advance_buffer(m, w));
        set_key_g(m, s, w);
        for (int t = (w + k) >> 1; t > 0; t >>= 1) {
            int l = tree[t];
            if (less_g(m, &src[l], &src[w])) { /* the stored loser wins now */
                tree[t] = w;
                w = l;
            }
        }
        tree[0] = w;
    }
    if (out)
        SL_TRY(sink->put(sink->arg, out, used / R));
    return SL_OK;
}

sl_status_t sl_merge_run(sl_merge_t *m, const sl_merge_sink_t *sink)
{
    const int k = m->k;
    src_t *src = m->src;
    int *tree = m->tree;
    /* The first pieces of the file runs (the in-memory run is ready). */
    for (int i = 0; i < k; i++) {
        src_t *s = &src[i];
        if (s->fd >= 0) {
            pthread_mutex_lock(&m->mu);
            while (s->b[0].state == B_QUEUED)
                pthread_cond_wait(&m->cv_done, &m->mu);
            pthread_mutex_unlock(&m->mu);
            if (s->b[0].state == B_READY) {
                SL_TRY(s->b[0].st);
                s->p = s->b[0].buf;
                s->end = s->p + s->b[0].len;
            }
        }
        if (m->std)
            set_key(s, i);
        else
            set_key_g(m, s, i);
    }
    if (k == 0)
        return SL_OK;
    tree[0] = play(m, 1); /* k == 1: node 1 is the only leaf */
    if (!m->std)
        return merge_run_g(m, sink);
    unsigned char *out = NULL;
    size_t cap = 0, used = 0, ocap = 0;
    while (src[tree[0]].p) {
        if (!out) {
            SL_TRY(sink->get(sink->arg, &out, &ocap));
            cap = ocap / SL_SORT_REC * SL_SORT_REC;
            used = 0;
        }
        int w = tree[0];
        src_t *s = &src[w];
        memcpy(out + used, s->p, SL_SORT_REC);
        used += SL_SORT_REC;
        s->p += SL_SORT_REC;
        if (used == cap) {
            SL_TRY(sink->put(sink->arg, out, used / SL_SORT_REC));
            out = NULL;
        }
        if (s->p == s->end)
            SL_TRY(advance_buffer(m, w));
        set_key(s, w);
        const src_t *ws = s; /* the winner so far */
        for (int t = (w + k) >> 1; t > 0; t >>= 1) {
            int l = tree[t];
            const src_t *o = &src[l];
            if (o->hi < ws->hi || (o->hi == ws->hi && less_std(o, ws))) { /* the stored loser wins now */
                tree[t] = w;
                w = l;
                ws = o;
            }
        }
        tree[0] = w;
    }
    if (out)
        SL_TRY(sink->put(sink->arg, out, used / SL_SORT_REC));
    return SL_OK;
}

void sl_merge_destroy(sl_merge_t **m_p)
{
    sl_merge_t *m = m_p ? *m_p : NULL;
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->quit = 1;
    pthread_cond_broadcast(&m->cv_req);
    pthread_mutex_unlock(&m->mu);
    for (int t = 0; t < m->nth; t++)
        pthread_join(m->th[t], NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv_req);
    pthread_cond_destroy(&m->cv_done);
    for (int i = 0; m->src && i < m->k; i++) {
        if (m->src[i].fd >= 0)
            close(m->src[i].fd);
        if (m->src[i].dfd >= 0)
            close(m->src[i].dfd);
        free(m->src[i].b[0].buf);
        free(m->src[i].b[1].buf);
    }
    free(m->src);
    free(m->tree);
    free(m->fifo);
    free(m);
    *m_p = NULL;
}
