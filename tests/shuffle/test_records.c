/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the shuffle's building blocks: gensort's known records and
 * range independence, both in-memory sorts against qsort as the oracle, the
 * loser-tree merge, the reducer's buffer plan, an empty input list freed
 * whole, valsort's summary arithmetic at piece boundaries, and both record
 * CRC32 kernels against zlib's crc32. */
#include "config.h"
#include "cunit_mpi.h"
#include "merge_impl.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* The sorts' order: the key, then (equal keys) the rest of the record. */
static int cmprec(const void *a, const void *b)
{
    return memcmp(a, b, SL_SORT_REC);
}

/* Published facts: the first printable records (quoted in many ports), and
 * the reference's skew table, which lists the first 6 key bytes of records
 * 0, 1, 2, 3, 7 and 128 of the binary and printable sequences. */
static void test_known_records(void)
{
    unsigned char r[3 * SL_SORT_REC];
    sl_gensort_records(r, 0, 3, SL_GENSORT_ASCII, NULL);
    CU_ASSERT(!memcmp(r,
                      "AsfAGHM5om  00000000000000000000000000000000  "
                      "0000222200002222000022220000222200002222000000001111\r\n",
                      100));
    CU_ASSERT(!memcmp(r + 100,
                      "~sHd0jDv6X  00000000000000000000000000000001  "
                      "77779999444488885555CCCC777755555555BBBB666644446666\r\n",
                      100));
    CU_ASSERT(!memcmp(r + 200, "uI^EYm8s=|", 10));
    static const struct {
        uint64_t rec;
        unsigned char bin[6];
        const char *asc;
    } known[] = {
        {0, {0x4a, 0x69, 0x6d, 0x47, 0x72, 0x61}, "AsfAGH"},
        {1, {0x95, 0xe0, 0xe4, 0x82, 0x62, 0xb3}, "~sHd0j"},
        {2, {0x45, 0x97, 0x93, 0x53, 0xdb, 0xed}, "uI^EYm"},
        {3, {0x88, 0x2a, 0x02, 0xc3, 0x15, 0x36}, "Q)JN)R"},
        {7, {0x5e, 0xfc, 0x4a, 0xbf, 0xac, 0xa2}, "mz4VCN"},
        {128, {0xe1, 0xdc, 0x46, 0xb6, 0x45, 0xc4}, "12NSK|"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        unsigned char b[SL_SORT_REC];
        sl_gensort_records(b, known[i].rec, 1, 0, NULL);
        CU_ASSERT(!memcmp(b, known[i].bin, 6));
        sl_gensort_records(b, known[i].rec, 1, SL_GENSORT_ASCII, NULL);
        CU_ASSERT(!memcmp(b, known[i].asc, 6));
    }
    /* Record 2999's printable key, as a port's test quotes it. */
    unsigned char b[SL_SORT_REC];
    sl_gensort_records(b, 2999, 1, SL_GENSORT_ASCII, NULL);
    CU_ASSERT(!memcmp(b, "Ga]QGzP2q)", 10));
}

/* Any range equals the same records of one long run (jump-ahead), for every
 * mode, including -b near 2^64. */
static void test_ranges(void)
{
    int modes[4] = {0, SL_GENSORT_ASCII, SL_GENSORT_SKEW, SL_GENSORT_ASCII | SL_GENSORT_SKEW};
    uint64_t bases[2] = {0, UINT64_MAX - 2000};
    unsigned char *all = malloc(1000 * SL_SORT_REC), *part = malloc(1000 * SL_SORT_REC);
    for (int m = 0; m < 4; m++)
        for (int b = 0; b < 2; b++) {
            sl_u128_t s1 = {0, 0}, s2 = {0, 0};
            sl_gensort_records(all, bases[b], 1000, modes[m], &s1);
            sl_gensort_records(part, bases[b], 377, modes[m], &s2);
            sl_gensort_records(part + 377 * SL_SORT_REC, bases[b] + 377, 623, modes[m], &s2);
            CU_ASSERT(!memcmp(all, part, 1000 * SL_SORT_REC));
            CU_ASSERT(s1.hi == s2.hi && s1.lo == s2.lo);
            sl_u128_t s3 = sl_sort_crcsum(all, 1000);
            CU_ASSERT(s1.hi == s3.hi && s1.lo == s3.lo);
        }
    free(all);
    free(part);
}

static unsigned char *make_data(uint64_t n, int dup)
{
    unsigned char *d = malloc(n * SL_SORT_REC);
    sl_gensort_records(d, 12345, n, dup == 2 ? SL_GENSORT_SKEW : 0, NULL);
    if (dup == 1) /* few distinct keys: only 3 values in byte 0..9 */
        for (uint64_t i = 0; i < n; i++)
            memset(d + i * SL_SORT_REC, 'A' + (int)(d[i * SL_SORT_REC + 20] % 3), SL_SORT_KEY);
    return d;
}

static int sorted_same(const unsigned char *a, const unsigned char *orig, uint64_t n)
{
    for (uint64_t i = 1; i < n; i++)
        if (memcmp(a + (i - 1) * SL_SORT_REC, a + i * SL_SORT_REC, SL_SORT_KEY) > 0)
            return 0;
    sl_u128_t x = sl_sort_crcsum(a, n), y = sl_sort_crcsum(orig, n);
    return x.hi == y.hi && x.lo == y.lo;
}

static void test_memsort(void)
{
    uint64_t sizes[4] = {0, 1, 31, 20000};
    for (int dup = 0; dup < 3; dup++)
        for (int s = 0; s < 4; s++) {
            uint64_t n = sizes[s];
            unsigned char *orig = make_data(n ? n : 1, dup);
            unsigned char *a = malloc(n * SL_SORT_REC + 1), *b = malloc(n * SL_SORT_REC + 1),
                          *q = malloc(n * SL_SORT_REC + 1);
            memcpy(a, orig, n * SL_SORT_REC);
            memcpy(b, orig, n * SL_SORT_REC);
            memcpy(q, orig, n * SL_SORT_REC);
            qsort(q, n, SL_SORT_REC, cmprec);
            CU_ASSERT(sl_sort_records(a, n, "keyidx", NULL) == SL_OK);
            CU_ASSERT(sl_sort_records(b, n, "radix", NULL) == SL_OK);
            CU_ASSERT(sorted_same(a, orig, n));
            CU_ASSERT(sorted_same(b, orig, n));
            /* The oracle's records, equal keys too (in the order of their
             * bytes, whatever order they came in) */
            CU_ASSERT(!memcmp(a, q, n * SL_SORT_REC));
            CU_ASSERT(!memcmp(b, q, n * SL_SORT_REC));
            free(orig);
            free(a);
            free(b);
            free(q);
        }
}

/* The order in pieces: the pieces in turn are sl_sort_order's order, each
 * piece holds one first key byte, in rising order; an error from the
 * callback ends the sort with that error and no further piece. */
typedef struct {
    const unsigned char *recs;
    uint32_t *got;
    uint64_t n;
    int pieces, last_byte, fail_at, bad;
} pieces_t;

static sl_status_t take_piece(void *arg, const uint32_t *order, uint64_t k)
{
    pieces_t *p = arg;
    if (p->pieces == p->fail_at)
        return SL_ERR_IO;
    p->pieces++;
    int b = p->recs[(uint64_t)order[0] * SL_SORT_REC];
    for (uint64_t i = 0; i < k; i++)
        p->bad |= p->recs[(uint64_t)order[i] * SL_SORT_REC] != b;
    p->bad |= b <= p->last_byte;
    p->last_byte = b;
    memcpy(p->got + p->n, order, k * sizeof *order);
    p->n += k;
    return SL_OK;
}

static void test_order_pieces(void)
{
    uint64_t sizes[3] = {0, 31, 20000};
    for (int dup = 0; dup < 3; dup++)
        for (int s = 0; s < 3; s++) {
            uint64_t n = sizes[s];
            unsigned char *d = make_data(n ? n : 1, dup);
            uint32_t *ref = NULL;
            CU_ASSERT_FATAL(sl_sort_order(d, n, &ref) == SL_OK);
            pieces_t p = {d, malloc((n + 1) * sizeof(uint32_t)), 0, 0, -1, -1, 0};
            double ts = 0;
            CU_ASSERT(sl_sort_order_pieces(d, n, take_piece, &p, &ts) == SL_OK);
            CU_ASSERT(p.n == n && !p.bad && ts >= 0);
            /* the same records in the same order, equal keys too */
            for (uint64_t i = 0; i < p.n && i < n; i++)
                CU_ASSERT(!memcmp(d + (uint64_t)p.got[i] * SL_SORT_REC, d + (uint64_t)ref[i] * SL_SORT_REC,
                                  SL_SORT_REC));
            if (dup == 0 && n == 20000)
                CU_ASSERT(p.pieces == 256); /* uniform binary keys: every first byte */
            if (dup == 1 && n == 20000)
                CU_ASSERT(p.pieces == 3);
            pieces_t f = {d, p.got, 0, 0, -1, 1, 0};
            if (n > 1000) {
                CU_ASSERT(sl_sort_order_pieces(d, n, take_piece, &f, NULL) == SL_ERR_IO);
                CU_ASSERT(f.pieces == 1);
            }
            free(ref);
            free(p.got);
            free(d);
        }
}

typedef struct {
    unsigned char *out, buf[7 * SL_SORT_REC]; /* small: many partial hand-overs */
    uint64_t n;
} sink_t;

static sl_status_t sink_get(void *arg, unsigned char **buf_p, size_t *cap_p)
{
    sink_t *s = arg;
    *buf_p = s->buf;
    *cap_p = sizeof s->buf;
    return SL_OK;
}

static sl_status_t sink_put(void *arg, unsigned char *r, uint64_t n)
{
    sink_t *s = arg;
    memcpy(s->out + s->n * SL_SORT_REC, r, n * SL_SORT_REC);
    s->n += n;
    return SL_OK;
}

/* Merge the runs cut[i]..cut[i+1] of d (sorted here; the last in memory,
 * the others written to files) with buffers of buf_bytes; the output must
 * equal a plain reference merge in which equal keys go by the rest of the
 * records, and identical records to the lower run. */
static void check_merge(unsigned char *d, const uint64_t *cut, int k, size_t buf_bytes)
{
    uint64_t n = cut[k];
    unsigned char *out = malloc(n * SL_SORT_REC + 1), *ref = malloc(n * SL_SORT_REC + 1);
    sl_run_t *runs = calloc((size_t)k, sizeof *runs);
    char(*paths)[512] = calloc((size_t)k, 512);
    for (int i = 0; i < k; i++) {
        uint64_t m = cut[i + 1] - cut[i];
        unsigned char *r = d + cut[i] * SL_SORT_REC;
        sl_sort_records(r, m, "keyidx", NULL);
        runs[i].nrec = m;
        if (i == k - 1) {
            runs[i].mem = r;
        } else {
            snprintf(paths[i], 512, "%s/run%d-%d", sl_test_tmpdir(), i, sl_test_rank());
            FILE *f = fopen(paths[i], "wb");
            fwrite(r, SL_SORT_REC, m, f);
            fclose(f);
            runs[i].path = paths[i];
        }
    }
    /* Reference: repeatedly take the smallest head (equal keys by the
     * whole record's bytes, as the sorts order them), lowest run on ties. */
    uint64_t *pos = calloc((size_t)k, sizeof *pos);
    for (uint64_t o = 0; o < n; o++) {
        int best = -1;
        for (int i = 0; i < k; i++)
            if (cut[i] + pos[i] < cut[i + 1] &&
                (best < 0 || memcmp(d + (cut[i] + pos[i]) * SL_SORT_REC,
                                    d + (cut[best] + pos[best]) * SL_SORT_REC, SL_SORT_REC) < 0))
                best = i;
        memcpy(ref + o * SL_SORT_REC, d + (cut[best] + pos[best]) * SL_SORT_REC, SL_SORT_REC);
        pos[best]++;
    }
    sink_t *s = calloc(1, sizeof *s);
    s->out = out;
    sl_merge_sink_t sk = {sink_get, sink_put, s};
    sl_merge_t *m = NULL;
    CU_ASSERT_FATAL(sl_merge_create(runs, k, buf_bytes, &m) == SL_OK);
    CU_ASSERT(sl_merge_run(m, &sk) == SL_OK);
    sl_merge_destroy(&m);
    CU_ASSERT(m == NULL);
    CU_ASSERT(s->n == n);
    CU_ASSERT(s->n == n && !memcmp(out, ref, n * SL_SORT_REC));
    for (int i = 0; i < k - 1; i++)
        remove(paths[i]);
    free(s);
    free(pos);
    free(paths);
    free(runs);
    free(out);
    free(ref);
}

/* Runs in files and one in memory, some empty, merge into sorted order:
 * runs shorter and longer than a read buffer (1024 records), one run
 * alone, and 13 runs of few distinct keys (ties across runs). */
static void test_merge(void)
{
    const uint64_t n = 5000;
    unsigned char *d = make_data(n, 1);
    uint64_t cut[6] = {0, 1000, 1000, 2500, 4999, n}; /* 5 runs, one empty */
    check_merge(d, cut, 5, 64 * 1024);
    free(d);
    d = make_data(n, 0);
    uint64_t one[2] = {0, n};
    check_merge(d, one, 1, 1 << 20);
    free(d);
    const uint64_t n2 = 40000;
    d = make_data(n2, 1);
    uint64_t cut2[14];
    for (int i = 0; i <= 13; i++)
        cut2[i] = n2 * (uint64_t)i * (uint64_t)i / 169; /* uneven lengths */
    check_merge(d, cut2, 13, 8 << 20);
    free(d);
    d = make_data(n2, 2);
    uint64_t two[3] = {0, 0, n2}; /* only the in-memory run has records */
    check_merge(d, two, 2, 0);
    two[1] = n2; /* only the file run has records */
    check_merge(d, two, 2, 0);
    free(d);
}

/* A run that cannot be opened fails the merge's creation, which closes only
 * what it opened: descriptors of the caller (fd 0 here) stay open. */
static void test_merge_open_error(void)
{
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-run-%d", sl_test_tmpdir(), sl_test_rank());
    sl_run_t runs[3] = {{missing, NULL, 10}, {missing, NULL, 10}, {NULL, NULL, 0}};
    if (fcntl(0, F_GETFD) < 0) /* make sure fd 0 is open */
        CU_ASSERT_FATAL(open("/dev/null", O_RDONLY) == 0);
    sl_merge_t *m = NULL;
    CU_ASSERT(sl_merge_create(runs, 3, 1 << 20, &m) != SL_OK);
    CU_ASSERT(m == NULL);
    int open0 = fcntl(0, F_GETFD) >= 0;
    CU_ASSERT(open0);
    if (!open0)
        open("/dev/null", O_RDONLY);
}

/* The reducer's plan never asks one in-memory sort for more than
 * UINT32_MAX records (sl_sort_order refuses more): a node with a huge
 * --mem spills buffers of that many instead of failing after the map. */
static void test_reducer_plan(void)
{
    sl_sort_rplan_t p;
    /* 2 TB for records and index, a 10 TB partition: external. */
    sl_sort_reducer_plan(2000000000000LL, 100000000000ULL, 1, 0, &p);
    CU_ASSERT(p.halves && p.rcap <= UINT32_MAX && p.rlim <= p.rcap);
    /* 10 TB, a 500 GB partition (5e9 records): it would fit in one buffer,
     * but not in one sort. */
    sl_sort_reducer_plan(10000000000000LL, 5000000000ULL, 1, 0, &p);
    CU_ASSERT(p.halves && p.rcap <= UINT32_MAX && p.rlim <= p.rcap);
    /* Unchanged where it fits: one buffer of the expected partition. */
    sl_sort_reducer_plan(1000000000LL, 4000000ULL, 4, 0, &p);
    CU_ASSERT(!p.halves && p.rcap == 1000000 + 250000 + 1000 && p.rlim == p.rcap);
}

/* --algo radix sorts through a copy of the records (100 B per record, not
 * keyidx's 32 B of index): the plan leaves room for it within the budget. */
static void test_reducer_plan_radix(void)
{
    sl_sort_rplan_t p;
    const int64_t avail = 1000000000LL;
    sl_sort_reducer_plan(avail, 100000000ULL, 1, 1, &p); /* external: two buffers, one sorted at a time */
    CU_ASSERT(p.halves && p.rcap * (2 * SL_SORT_REC + SL_SORT_REC) <= (uint64_t)avail);
    sl_sort_reducer_plan(avail, 3000000ULL, 1, 1, &p); /* one buffer of the partition */
    CU_ASSERT(!p.halves && p.rcap * (SL_SORT_REC + SL_SORT_REC) <= (uint64_t)avail);
    sl_sort_reducer_plan(avail, 4000000ULL, 1, 1, &p); /* 5e6 records need 1 GB with the copy */
    CU_ASSERT(p.halves && p.rcap * (2 * SL_SORT_REC + SL_SORT_REC) <= (uint64_t)avail);
    sl_sort_reducer_plan(avail, 100000000ULL, 1, 0, &p); /* keyidx as before */
    CU_ASSERT(p.halves && p.rcap == (uint64_t)avail / (2 * SL_SORT_REC + 32));
}

/* An empty input list (an empty directory) is freed whole: the 1-byte name
 * blob of a list without names was leaked, a 32-byte chunk per list. After
 * a few rounds of warm-up (MPI grows some pools on first use, now and then
 * by a few chunks), 200 rounds must leave glibc's count of bytes in use
 * where it was, give or take less than one leaked chunk every 4 rounds. */
static void test_filelist_empty(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/empty-list-%d", sl_test_tmpdir(), sl_test_rank());
    CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
    char *paths[1] = {dir};
    size_t before = 0;
    int bad = 0;
    for (int round = 0; round < 210; round++) {
        if (round == 10)
            before = mallinfo2().uordblks;
        sl_filelist_t *fl = NULL;
        bad += sl_filelist_create(MPI_COMM_SELF, paths, 1, 1, SL_SORT_REC, &fl) != SL_OK;
        bad += !fl || fl->n != 0 || fl->total != 0;
        sl_filelist_destroy(&fl);
        bad += fl != NULL;
    }
    size_t after = mallinfo2().uordblks;
    CU_ASSERT(bad == 0);
    CU_ASSERT(after < before + 200 * 32 / 4);
    rmdir(dir);
}

/* valsort: a summary of pieces equals the summary of the whole, and a
 * disorder exactly at a piece boundary is found and placed. */
static void test_valsort_pieces(void)
{
    const uint64_t n = 3000;
    unsigned char *d = make_data(n, 0);
    sl_sort_records(d, n, "keyidx", NULL);
    sl_valsort_sum_t whole, a, b;
    memset(&whole, 0, sizeof whole);
    sl_valsort_add(&whole, d, n);
    CU_ASSERT(whole.rec_count[1] == n && whole.unordered_count[1] == 0);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    sl_valsort_add(&a, d, 1234);
    sl_valsort_add(&b, d + 1234 * SL_SORT_REC, n - 1234);
    sl_valsort_merge(&a, &b);
    CU_ASSERT(!memcmp(&a, &whole, sizeof a));
    /* Swap the records on both sides of the boundary. */
    unsigned char t[SL_SORT_REC];
    memcpy(t, d + 1233 * SL_SORT_REC, SL_SORT_REC);
    memcpy(d + 1233 * SL_SORT_REC, d + 1234 * SL_SORT_REC, SL_SORT_REC);
    memcpy(d + 1234 * SL_SORT_REC, t, SL_SORT_REC);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    sl_valsort_add(&a, d, 1234);
    sl_valsort_add(&b, d + 1234 * SL_SORT_REC, n - 1234);
    sl_valsort_merge(&a, &b);
    CU_ASSERT(a.unordered_count[1] == 1); /* exactly at the a|b boundary */
    CU_ASSERT(a.first_unordered[1] == 1234);
    CU_ASSERT(!memcmp(a.checksum, whole.checksum, sizeof a.checksum));
    CU_ASSERT(sizeof(sl_valsort_sum_t) == 280);
    free(d);
}

/* Both CRC kernels (the one in use, pclmul where the CPU has it, and the
 * slice-by-8 reference) equal zlib's crc32 of each 100-byte record, for
 * random records and for all-zero, all-one and single-bit records; the sum
 * agrees with the per-record values. */
static void test_crc(void)
{
    enum { N = 4000 };
    unsigned char *d = malloc((size_t)N * SL_SORT_REC + 1);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < (size_t)N * SL_SORT_REC; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d[i] = (unsigned char)(x >> 24);
    }
    memset(d, 0, SL_SORT_REC);
    memset(d + SL_SORT_REC, 0xFF, SL_SORT_REC);
    for (int b = 0; b < 8 * SL_SORT_REC; b += 7) { /* single bits everywhere (records 2..116) */
        unsigned char *r = d + (size_t)(b / 7 + 2) * SL_SORT_REC;
        memset(r, 0, SL_SORT_REC);
        r[b / 8] = (unsigned char)(1u << (b % 8));
    }
    int bad = 0;
    uint64_t lo = 0, hi = 0;
    for (int i = 0; i < N; i++) {
        const unsigned char *r = d + (size_t)i * SL_SORT_REC;
        uint32_t z = (uint32_t)crc32(0, r, SL_SORT_REC);
        bad += sl_sort_crc32(r) != z || sl_sort_crc32_ref(r) != z;
        lo += z;
        hi += lo < z;
    }
    CU_ASSERT(bad == 0);
    sl_u128_t s = sl_sort_crcsum(d, N);
    CU_ASSERT(s.lo == lo && s.hi == hi);
    /* Unaligned records (the kernel loads without alignment). */
    unsigned char *u = malloc(SL_SORT_REC + 1);
    memcpy(u + 1, d + 5 * SL_SORT_REC, SL_SORT_REC);
    CU_ASSERT(sl_sort_crc32(u + 1) == (uint32_t)crc32(0, u + 1, SL_SORT_REC));
    CU_ASSERT(sl_sort_crc_kernel() != NULL);
    free(u);
    free(d);
}

/* Partition names sort in partition order at any rank count: five digits
 * up to 100,000 ranks, more beyond (part-100000 sorted between part-10000
 * and part-10001). */
static void test_part_names(void)
{
    CU_ASSERT_EQUAL(sl_sort_rank_width(1), 5);
    CU_ASSERT_EQUAL(sl_sort_rank_width(100000), 5);
    CU_ASSERT_EQUAL(sl_sort_rank_width(100001), 6);
    CU_ASSERT_EQUAL(sl_sort_rank_width(1000000), 6);
    CU_ASSERT_EQUAL(sl_sort_rank_width(1000001), 7);
    const int sizes[] = {2, 100000, 100001, 250000};
    for (int k = 0; k < 4; k++) {
        int P = sizes[k];
        const int ranks[] = {0, 9999, 10000, 10001, 99999, P - 2, P - 1};
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 7; j++) {
                if (ranks[i] < 0 || ranks[j] < 0 || ranks[i] >= P || ranks[j] >= P)
                    continue;
                char *a = sl_sort_subst_rank("part-%R", ranks[i], P),
                     *b = sl_sort_subst_rank("part-%R", ranks[j], P);
                CU_ASSERT_PTR_NOT_NULL_FATAL(a);
                CU_ASSERT_PTR_NOT_NULL_FATAL(b);
                int c = strcmp(a, b);
                CU_ASSERT((ranks[i] < ranks[j]) == (c < 0));
                CU_ASSERT((ranks[i] == ranks[j]) == (c == 0));
                free(a);
                free(b);
            }
    }
    char *s = sl_sort_subst_rank("in.%r/part-%R", 7, 4);
    CU_ASSERT_STRING_EQUAL(s, "in.7/part-00007");
    free(s);
    s = sl_sort_subst_rank("part-%R", 12345, 200000);
    CU_ASSERT_STRING_EQUAL(s, "part-012345");
    free(s);
}

int main(int argc, char **argv)
{
    const sl_test_t tests[] = {{"known gensort records", test_known_records},
                               {"ranges and checksums", test_ranges},
                               {"in-memory sorts vs qsort", test_memsort},
                               {"sorted order in pieces by first byte", test_order_pieces},
                               {"loser-tree merge", test_merge},
                               {"merge: a run that cannot be opened", test_merge_open_error},
                               {"reducer plan: one sort at most UINT32_MAX records", test_reducer_plan},
                               {"reducer plan: room for --algo radix's copy", test_reducer_plan_radix},
                               {"empty input list: nothing leaked", test_filelist_empty},
                               {"valsort pieces", test_valsort_pieces},
                               {"record CRC32 kernels vs zlib", test_crc},
                               {"partition names in partition order at any rank count", test_part_names},
                               {NULL, NULL}};
    return sl_test_run(argc, argv, "shuffle records", tests);
}
