/* SPDX-License-Identifier: BSD-3-Clause */
/* In-memory sorts of 100-byte records by their 10-byte keys. "keyidx"
 * sorts 16-byte (key, index) entries (one MSD pass on the first byte, then
 * LSD passes inside each cache-sized bucket) and permutes the records once;
 * "radix" moves whole records by MSD radix. Both are exact byte orders,
 * and records of equal keys go in the order of their bytes (the same
 * output whatever order the network delivered them in).
 * Other record geometries (--record-size/--key-offset/--key-length) take a
 * generic path at the end: entries of an 8-byte key prefix and the index,
 * compared with a memcmp of the rest of the key where prefixes tie. */
#define _GNU_SOURCE /* qsort_r */
#include "config.h"
#include "shuffle_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t k0; /* key bytes 0..7, big-endian as a number (generic: the prefix) */
    uint16_t k1; /* key bytes 8..9 */
    uint16_t pad;
    uint32_t idx; /* record index */
} ent_t;

static inline int key_byte(const ent_t *e, int b)
{
    return b < 8 ? (int)((e->k0 >> (56 - 8 * b)) & 0xFF) : (int)((e->k1 >> (8 * (9 - b))) & 0xFF);
}

static inline int ent_less(const ent_t *a, const ent_t *b)
{
    return a->k0 < b->k0 || (a->k0 == b->k0 && a->k1 < b->k1);
}

/* MSD radix on entries from key byte b: src -> dst and back, like msd()
 * below but moving 16-byte entries; small buckets by insertion sort. The
 * result ends in src when in_dst is 0, in dst otherwise. */
static void msd_ent(ent_t *src, ent_t *dst, size_t n, int b, int in_dst)
{
    if (n <= 32 || b >= SL_SORT_KEY) {
        for (size_t i = 1; i < n; i++) {
            ent_t t = src[i];
            size_t j = i;
            while (j > 0 && ent_less(&t, &src[j - 1])) {
                src[j] = src[j - 1];
                j--;
            }
            src[j] = t;
        }
        if (in_dst)
            memcpy(dst, src, n * sizeof *src);
        return;
    }
    size_t cnt[256] = {0}, start[257], pos[256];
    for (size_t i = 0; i < n; i++)
        cnt[key_byte(&src[i], b)]++;
    start[0] = 0;
    for (int d = 0; d < 256; d++)
        start[d + 1] = start[d] + cnt[d];
    memcpy(pos, start, sizeof pos);
    for (size_t i = 0; i < n; i++)
        dst[pos[key_byte(&src[i], b)]++] = src[i];
    for (int d = 0; d < 256; d++)
        msd_ent(dst + start[d], src + start[d], start[d + 1] - start[d], b + 1, !in_dst);
}

static int rec_cmp(const void *a, const void *b, void *recs)
{
    const uint32_t x = ((const ent_t *)a)->idx, y = ((const ent_t *)b)->idx;
    return memcmp((const unsigned char *)recs + (size_t)x * SL_SORT_REC,
                  (const unsigned char *)recs + (size_t)y * SL_SORT_REC, SL_SORT_REC);
}

/* Sorted entries e[0..n) of recs: each run of equal keys put in the order
 * of the whole records' bytes. The radix leaves equal keys in the order
 * the records came in, which the network decides: the output would differ
 * from run to run where keys repeat. One pass over the keys when they do
 * not. */
static void ties_by_record(ent_t *e, size_t n, const unsigned char *recs)
{
    for (size_t i = 0; i + 1 < n;) {
        size_t j = i + 1;
        while (j < n && e[j].k0 == e[i].k0 && e[j].k1 == e[i].k1)
            j++;
        if (j - i > 1)
            qsort_r(e + i, j - i, sizeof *e, rec_cmp, (void *)recs);
        i = j;
    }
}

/* The entry of record i of recs into *e. */
static inline void make_entry(const unsigned char *recs, uint64_t i, ent_t *e)
{
    const unsigned char *r = recs + i * SL_SORT_REC;
    uint64_t k0;
    uint16_t k1;
    memcpy(&k0, r, 8);
    memcpy(&k1, r + 8, 2);
    e->k0 = __builtin_bswap64(k0);
    e->k1 = __builtin_bswap16(k1);
    e->pad = 0;
    e->idx = (uint32_t)i;
}

/* The entries of n records. */
static void make_entries(const unsigned char *recs, uint64_t n, ent_t *e)
{
    for (uint64_t i = 0; i < n; i++)
        make_entry(recs, i, &e[i]);
}

typedef struct {
    const unsigned char *recs;
    const sl_sort_geom_t *g;
} gctx_t;

/* Prefix, then the key bytes after the first 8, then the index: a total,
 * stable order whatever the sort algorithm underneath. */
static int gent_cmp(const void *a, const void *b, void *arg)
{
    const ent_t *x = a, *y = b;
    if (x->k0 != y->k0)
        return x->k0 < y->k0 ? -1 : 1;
    const gctx_t *c = arg;
    if (c->g->len > 8) {
        size_t R = c->g->rec, o = c->g->off + 8u;
        int d = memcmp(c->recs + (size_t)x->idx * R + o, c->recs + (size_t)y->idx * R + o, c->g->len - 8u);
        if (d)
            return d;
    }
    /* equal keys: the whole record's bytes, so the order does not depend
     * on the order the records came in (blocks arrive as the network
     * delivers them); identical records are interchangeable */
    int d = memcmp(c->recs + (size_t)x->idx * c->g->rec, c->recs + (size_t)y->idx * c->g->rec, c->g->rec);
    if (d)
        return d;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static inline void make_entry_g(const unsigned char *recs, uint64_t i, const sl_sort_geom_t *g, ent_t *e)
{
    e->k0 = sl_sort_key_prefix(recs + i * g->rec, g);
    e->k1 = 0;
    e->pad = 0;
    e->idx = (uint32_t)i;
}

/* The order of n records (R bytes, key at O) in pieces to fn, bucketed by
 * the first key byte so that each piece goes to fn while the next bucket
 * sorts. g NULL: the default geometry (10-byte keys: msd_ent on 8+2-byte
 * entries); else its generic entries, by qsort_r. Inlined for each. */
static inline sl_status_t order_pieces(const unsigned char *recs, uint64_t n, const sl_sort_geom_t *g,
                                       size_t R, size_t O, sl_sort_piece_fn fn, void *arg, double *t_sort)
{
    if (n > UINT32_MAX)
        return sl_error(SL_ERR_INVALID, "too many records (%llu) for one in-memory sort",
                        (unsigned long long)n);
    double t0 = sl_now();
    /* The first key bytes are counted first, so each entry is made straight
     * into its bucket: one array of entries (16 B a record) and scratch for
     * the largest bucket, where sorting all entries at once takes two
     * arrays; fresh memory costs more than the extra pass over the keys. */
    size_t cnt[256] = {0}, start[257], pos[256], most = 0;
    for (uint64_t i = 0; i < n; i++)
        cnt[recs[i * R + O]]++;
    start[0] = 0;
    for (int d = 0; d < 256; d++) {
        start[d + 1] = start[d] + cnt[d];
        most = cnt[d] > most ? cnt[d] : most;
    }
    ent_t *e = sl_sort_alloc_big((n + 1) * sizeof *e),
          *s = g ? NULL : sl_sort_alloc_big((most + 1) * sizeof *s);
    if (!e || (!g && !s)) {
        free(e);
        free(s);
        return sl_error(SL_ERR_NOMEM, "out of memory sorting %llu records", (unsigned long long)n);
    }
    memcpy(pos, start, sizeof pos);
    for (uint64_t i = 0; i < n; i++) {
        ent_t *to = &e[pos[recs[i * R + O]]++];
        if (g)
            make_entry_g(recs, i, g, to);
        else
            make_entry(recs, i, to);
    }
    gctx_t gc = {recs, g};
    sl_status_t st = SL_OK;
    double t_fn = 0;
    for (int d = 0; d < 256 && st == SL_OK; d++) {
        size_t k = cnt[d];
        if (!k)
            continue;
        /* The bucket sorts in place (s as scratch); its order then overwrites
         * its entries from the front (entry i is read before order[i], at a
         * quarter of its offset, is written). */
        ent_t *b = e + start[d];
        if (g)
            qsort_r(b, k, sizeof *b, gent_cmp, &gc);
        else {
            msd_ent(b, s, k, 1, 0);
            ties_by_record(b, k, recs);
        }
        uint32_t *order = (uint32_t *)b;
        for (size_t i = 0; i < k; i++)
            order[i] = b[i].idx;
        double t1 = sl_now();
        st = fn(arg, order, k);
        t_fn += sl_now() - t1;
    }
    free(e);
    free(s);
    if (t_sort)
        *t_sort += sl_now() - t0 - t_fn;
    return st;
}

sl_status_t sl_sort_order_pieces(const unsigned char *recs, uint64_t n, sl_sort_piece_fn fn, void *arg,
                                 double *t_sort)
{
    return order_pieces(recs, n, NULL, SL_SORT_REC, 0, fn, arg, t_sort);
}

sl_status_t sl_sort_order(const unsigned char *recs, uint64_t n, uint32_t **order_p)
{
    if (n > UINT32_MAX)
        return sl_error(SL_ERR_INVALID, "too many records (%llu) for one in-memory sort",
                        (unsigned long long)n);
    ent_t *e = sl_sort_alloc_big((n + 1) * sizeof *e), *s = sl_sort_alloc_big((n + 1) * sizeof *s);
    if (!e || !s) {
        free(e);
        free(s);
        return sl_error(SL_ERR_NOMEM, "out of memory sorting %llu records", (unsigned long long)n);
    }
    make_entries(recs, n, e);
    msd_ent(e, s, n, 0, 0); /* sorted entries in e */
    ties_by_record(e, n, recs);
    uint32_t *order = (uint32_t *)s;
    for (uint64_t i = 0; i < n; i++)
        order[i] = e[i].idx;
    free(e);
    *order_p = order;
    return SL_OK;
}

/* Records of R bytes into their order (position i takes record order[i]):
 * through tmp when given, else in place, cycle by cycle, with t holding one
 * record (order is consumed). Inlined with a constant R for the default
 * geometry. */
static inline void permute(unsigned char *recs, uint32_t *order, uint64_t n, size_t R, unsigned char *tmp,
                           unsigned char *t)
{
    if (tmp) {
        for (uint64_t i = 0; i < n; i++)
            memcpy(tmp + i * R, recs + (uint64_t)order[i] * R, R);
        memcpy(recs, tmp, n * R);
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (order[i] == i)
            continue;
        memcpy(t, recs + i * R, R);
        uint64_t j = i;
        while (order[j] != i) {
            uint64_t from = order[j];
            memcpy(recs + j * R, recs + from * R, R);
            order[j] = (uint32_t)j;
            j = from;
        }
        memcpy(recs + j * R, t, R);
        order[j] = (uint32_t)j;
    }
}

static sl_status_t sort_keyidx(unsigned char *recs, uint64_t n, unsigned char *tmp)
{
    uint32_t *order;
    SL_TRY(sl_sort_order(recs, n, &order));
    unsigned char t[SL_SORT_REC];
    permute(recs, order, n, SL_SORT_REC, tmp, t);
    free(order);
    return SL_OK;
}

static int rec_bytes_cmp(const void *a, const void *b)
{
    return memcmp(a, b, SL_SORT_REC);
}

/* MSD radix on whole records: src -> dst by byte b, recurse (ping-pong). */
static void msd(unsigned char *src, unsigned char *dst, uint64_t n, int b, int in_dst)
{
    if (b >= SL_SORT_KEY && n > 24) {
        /* a run of equal keys: by the whole records (see ties_by_record) */
        qsort(src, n, SL_SORT_REC, rec_bytes_cmp);
        if (in_dst)
            memcpy(dst, src, n * SL_SORT_REC);
        return;
    }
    if (n <= 24 || b >= SL_SORT_KEY) {
        /* whole records compared: equal keys in the order of their bytes */
        unsigned char *a = src;
        for (uint64_t i = 1; i < n; i++) {
            unsigned char t[SL_SORT_REC];
            memcpy(t, a + i * SL_SORT_REC, SL_SORT_REC);
            uint64_t j = i;
            while (j > 0 && memcmp(a + (j - 1) * SL_SORT_REC, t, SL_SORT_REC) > 0) {
                memcpy(a + j * SL_SORT_REC, a + (j - 1) * SL_SORT_REC, SL_SORT_REC);
                j--;
            }
            memcpy(a + j * SL_SORT_REC, t, SL_SORT_REC);
        }
        if (in_dst)
            memcpy(dst, src, n * SL_SORT_REC);
        return;
    }
    uint64_t cnt[256] = {0}, start[257];
    for (uint64_t i = 0; i < n; i++)
        cnt[src[i * SL_SORT_REC + b]]++;
    start[0] = 0;
    for (int d = 0; d < 256; d++)
        start[d + 1] = start[d] + cnt[d];
    uint64_t pos[256];
    memcpy(pos, start, sizeof pos);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *r = src + i * SL_SORT_REC;
        memcpy(dst + pos[r[b]]++ * SL_SORT_REC, r, SL_SORT_REC);
    }
    for (int d = 0; d < 256; d++)
        msd(dst + start[d] * SL_SORT_REC, src + start[d] * SL_SORT_REC, start[d + 1] - start[d], b + 1,
            !in_dst);
}

sl_status_t sl_sort_records(unsigned char *recs, uint64_t n, const char *algo, unsigned char *tmp)
{
    if (n < 2)
        return SL_OK;
    unsigned char *own = NULL;
    int radix = algo && !strcmp(algo, "radix");
    if (!tmp && radix && !(tmp = own = malloc(n * SL_SORT_REC)))
        return sl_error(SL_ERR_NOMEM, "out of memory sorting %llu records", (unsigned long long)n);
    sl_status_t st = SL_OK;
    if (radix)
        msd(recs, tmp, n, 0, 0); /* result lands in recs: in_dst flips each level */
    else
        st = sort_keyidx(recs, n, tmp);
    free(own);
    return st;
}

/* Generic geometry ------------------------------------------------------- */

sl_status_t sl_sort_order_pieces_g(const unsigned char *recs, uint64_t n, const sl_sort_geom_t *g,
                                   sl_sort_piece_fn fn, void *arg, double *t_sort)
{
    if (sl_sort_geom_is_std(g))
        return sl_sort_order_pieces(recs, n, fn, arg, t_sort);
    return order_pieces(recs, n, g, g->rec, g->off, fn, arg, t_sort);
}

/* The whole order for sl_sort_records_g: collected from the pieces. */
typedef struct {
    uint32_t *order;
    uint64_t n;
} collect_t;

static sl_status_t collect_piece(void *arg, const uint32_t *order, uint64_t k)
{
    collect_t *c = arg;
    memcpy(c->order + c->n, order, k * sizeof *order);
    c->n += k;
    return SL_OK;
}

sl_status_t sl_sort_records_g(unsigned char *recs, uint64_t n, const char *algo, unsigned char *tmp,
                              const sl_sort_geom_t *g)
{
    if (sl_sort_geom_is_std(g))
        return sl_sort_records(recs, n, algo, tmp);
    if (n < 2)
        return SL_OK;
    /* Both algorithms sort (prefix, index) entries here: a radix on whole
     * records of any size and key length has no specialised layout to gain
     * from, and its recursion would go as deep as the key is long. */
    const size_t R = g->rec;
    collect_t c = {malloc((n + 1) * sizeof(uint32_t)), 0};
    unsigned char *t = malloc(R);
    sl_status_t st =
        c.order && t ? SL_OK
                     : sl_error(SL_ERR_NOMEM, "out of memory sorting %llu records", (unsigned long long)n);
    if (st == SL_OK)
        st = sl_sort_order_pieces_g(recs, n, g, collect_piece, &c, NULL);
    if (st == SL_OK)
        permute(recs, c.order, n, R, tmp, t);
    free(c.order);
    free(t);
    return st;
}
