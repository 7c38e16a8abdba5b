/* SPDX-License-Identifier: BSD-3-Clause */
/* A write queue: the caller fills buffers while a helper thread writes the
 * previous ones (and, for output files, sums their record CRC32s), so file
 * writes overlap the sort's gather and the merge. Buffers are page-aligned
 * and whole pages of whole records, written at page-aligned offsets with
 * direct I/O where the file allows it; the last, partial one is buffered.
 * Buffers go to the file in the order they were queued. The first error
 * stops the writes and is returned by every later call. */
#define _GNU_SOURCE /* sync_file_range */
#include "config.h"
#include "shuffle_impl.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sl_wq {
    int fd, dfd;
    const char *path;
    int crc;
    uint32_t rec; /* record size */
    size_t cap;
    int nbuf;
    unsigned char **buf;
    size_t *len;      /* queued bytes per buffer */
    int head, queued; /* next buffer to write; buffers queued or being written */
    int filling;      /* the buffer handed out by sl_wq_get, or -1 */
    int quit, th_ok;
    sl_status_t st;
    uint64_t off, nrec;
    sl_u128_t sum;
    double t_wait;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *wq_main(void *arg)
{
    sl_wq_t *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->queued && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->queued)
            break;
        int b = q->head;
        size_t len = q->len[b];
        int failed = q->st != SL_OK;
        uint64_t off = q->off;
        pthread_mutex_unlock(&q->mu);
        sl_status_t st = SL_OK;
        sl_u128_t s = {0, 0};
        if (!failed) {
            if (q->crc)
                s = sl_sort_crcsum_rec(q->buf[b], len / q->rec, q->rec);
            int direct = q->dfd >= 0 && len % 4096 == 0 && off % 4096 == 0;
            st = sl_pwrite_full(direct ? q->dfd : q->fd, q->buf[b], len, (off_t)off, q->path);
            if (st == SL_OK && !direct) /* start the write-back: less for the final fsync */
                sync_file_range(q->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
        }
        pthread_mutex_lock(&q->mu);
        if (!failed && st == SL_OK) {
            q->off += len;
            q->nrec += len / q->rec;
            q->sum = sl_u128_add(q->sum, s);
        } else if (q->st == SL_OK) {
            q->st = st;
        }
        q->head = (q->head + 1) % q->nbuf;
        q->queued--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

sl_status_t sl_wq_create(int fd, int dfd, const char *path, size_t bytes, int nbuf, int crc,
                         unsigned char **adopt, sl_wq_t **q_p)
{
    return sl_wq_create_rec(fd, dfd, path, bytes, nbuf, crc, SL_SORT_REC, adopt, q_p);
}

sl_status_t sl_wq_create_rec(int fd, int dfd, const char *path, size_t bytes, int nbuf, int crc, uint32_t rec,
                             unsigned char **adopt, sl_wq_t **q_p)
{
    const size_t unit = sl_sort_unit(rec); /* 102400 B for 100-byte records: 25 pages */
    size_t cap = bytes / unit * unit;
    if (cap < unit)
        cap = unit;
    if (nbuf < 2)
        nbuf = 2;
    sl_wq_t *q = calloc(1, sizeof *q);
    if (!q)
        return sl_error(SL_ERR_NOMEM, "out of memory for the writer of '%s'", path);
    q->fd = fd;
    q->dfd = dfd;
    q->path = path;
    q->crc = crc;
    q->rec = rec;
    q->cap = cap;
    q->nbuf = nbuf;
    q->filling = -1;
    q->buf = calloc((size_t)nbuf, sizeof *q->buf);
    q->len = calloc((size_t)nbuf, sizeof *q->len);
    int ok = q->buf && q->len;
    for (int i = 0; ok && i < nbuf; i++) {
        if (adopt && adopt[i]) { /* memory already touched: fresh pages cost here */
            q->buf[i] = adopt[i];
            adopt[i] = NULL;
            continue;
        }
        ok = posix_memalign((void **)&q->buf[i], 4096, cap) == 0;
    }
    if (!ok) {
        sl_wq_destroy(&q);
        return sl_error(SL_ERR_NOMEM, "out of memory for the write buffers of '%s'", path);
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->th, NULL, wq_main, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        sl_wq_destroy(&q);
        return sl_error(SL_ERR_INTERNAL, "cannot start the writer thread of '%s'", path);
    }
    q->th_ok = 1;
    *q_p = q;
    return SL_OK;
}

sl_status_t sl_wq_get(sl_wq_t *q, unsigned char **buf_p, size_t *cap_p)
{
    double t0 = sl_now();
    pthread_mutex_lock(&q->mu);
    while (q->st == SL_OK && q->queued == q->nbuf)
        pthread_cond_wait(&q->cv, &q->mu);
    sl_status_t st = q->st;
    int b = (q->head + q->queued) % q->nbuf;
    pthread_mutex_unlock(&q->mu);
    q->t_wait += sl_now() - t0;
    if (st != SL_OK)
        return st;
    q->filling = b;
    *buf_p = q->buf[b];
    *cap_p = q->cap;
    return SL_OK;
}

sl_status_t sl_wq_put(sl_wq_t *q, uint64_t n)
{
    if (q->filling < 0)
        return sl_error(SL_ERR_INTERNAL, "write queue: put without get");
    int b = q->filling;
    q->filling = -1;
    if (n == 0)
        return SL_OK;
    pthread_mutex_lock(&q->mu);
    q->len[b] = (size_t)n * q->rec;
    q->queued++;
    pthread_cond_broadcast(&q->cv);
    sl_status_t st = q->st;
    pthread_mutex_unlock(&q->mu);
    return st;
}

sl_status_t sl_wq_finish(sl_wq_t *q, sl_wq_stats_t *stats_p)
{
    double t0 = sl_now();
    pthread_mutex_lock(&q->mu);
    while (q->queued)
        pthread_cond_wait(&q->cv, &q->mu);
    sl_status_t st = q->st;
    if (stats_p) {
        stats_p->bytes = q->off;
        stats_p->nrec = q->nrec;
        stats_p->sum = q->sum;
    }
    pthread_mutex_unlock(&q->mu);
    q->t_wait += sl_now() - t0;
    if (stats_p)
        stats_p->t_wait = q->t_wait;
    return st;
}

void sl_wq_destroy(sl_wq_t **q_p)
{
    sl_wq_t *q = q_p ? *q_p : NULL;
    if (!q)
        return;
    if (q->th_ok) {
        pthread_mutex_lock(&q->mu);
        q->quit = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
    }
    for (int i = 0; q->buf && i < q->nbuf; i++)
        free(q->buf[i]);
    free(q->buf);
    free(q->len);
    free(q);
    *q_p = NULL;
}
