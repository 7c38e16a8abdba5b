/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations of the shuffle component: file lists, whole-buffer
 * I/O helpers, the in-memory record sort, the UCX exchange and the merge. */
#ifndef SLUICE_SHUFFLE_IMPL_H
#define SLUICE_SHUFFLE_IMPL_H

#include "shuffle.h"

#include <string.h>

#include <sys/types.h>

/* Record geometry: R-byte records ordered by the L key bytes at offset O,
 * compared as unsigned bytes. The default (100, 0, 10) is sortbenchmark.org's
 * and keeps its specialised code (10-byte key entries, radix, the 100-byte
 * CRC kernel); every other geometry takes the generic paths. */
typedef struct {
    uint32_t rec, off, len;
} sl_sort_geom_t;

#define SL_SORT_REC_MAX (1u << 20) /* --record-size limit: one record must fit every buffer */

static const sl_sort_geom_t sl_sort_geom_std = {SL_SORT_REC, 0, SL_SORT_KEY};

static inline int sl_sort_geom_is_std(const sl_sort_geom_t *g)
{
    return !g || (g->rec == SL_SORT_REC && g->off == 0 && g->len == SL_SORT_KEY);
}

/* Local, pure: bytes of the I/O unit of R-byte records: whole records that
 * are also whole 4 KiB pages (direct I/O), 102400 for R = 100; R alone where
 * that would exceed 16 MiB (those writes are then buffered). */
static inline size_t sl_sort_unit(uint32_t rec)
{
    uint64_t a = rec, b = 4096;
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    uint64_t lcm = (uint64_t)rec / a * 4096;
    if (rec == SL_SORT_REC)
        return 1024 * SL_SORT_REC;
    return lcm <= (16u << 20) ? (size_t)lcm : rec;
}

/* Local: the first min(L, 8) key bytes of rec as a big-endian number,
 * zero-padded: equal prefixes with L <= 8 mean equal keys. */
static inline uint64_t sl_sort_key_prefix(const unsigned char *rec, const sl_sort_geom_t *g)
{
    const unsigned char *k = rec + g->off;
    if (g->len >= 8) {
        uint64_t v;
        memcpy(&v, k, 8);
        return __builtin_bswap64(v);
    }
    uint64_t v = 0;
    for (uint32_t i = 0; i < g->len; i++)
        v |= (uint64_t)k[i] << (56 - 8 * i);
    return v;
}

/* A sequence of input files treated as one stream of records. */
typedef struct {
    int n;
    char **path;
    uint64_t *size; /* bytes */
    uint64_t total; /* bytes */
} sl_filelist_t;

/* Collective: rank 0 expands paths (files, or directories whose regular
 * files are taken in name order), checks that each exists and that its size
 * is a multiple of rec (the record size); every rank gets the list. Errors
 * name the file. */
sl_status_t sl_filelist_create(MPI_Comm comm, char **paths, int n, int expand_dirs, uint32_t rec,
                               sl_filelist_t **fl_p);
void sl_filelist_destroy(sl_filelist_t **fl);
/* Local: read bytes [off, off+len) of the concatenation into buf. */
sl_status_t sl_filelist_read(const sl_filelist_t *fl, uint64_t off, void *buf, size_t len);

/* Local: a page-aligned buffer (direct I/O may use it), backed by
 * transparent huge pages where large enough and the kernel allows (fewer
 * page faults when it is first filled); free with free(). */
void *sl_sort_alloc_big(size_t bytes);

/* The digits of a partition's number in its name (part-NNNNN) on size
 * ranks: five, more beyond 100,000 ranks, so that the names' order stays
 * the partitions' order. */
int sl_sort_rank_width(int size);
/* Local: path with "%r" replaced by the rank and "%R" by the rank in
 * sl_sort_rank_width(size) digits (part-%R is rank r's sort output); caller
 * frees. NULL: no memory. */
char *sl_sort_subst_rank(const char *path, int rank, int size);
/* Local: what path is when it exists as something other than a regular
 * file or a directory ("a FIFO", "a character device", ...), else NULL.
 * An output written as path.tmp and renamed to path would replace it (a
 * link such as /dev/stdout by a file, the pipe it led to left unwritten). */
const char *sl_sort_special_kind(const char *path);

/* Local: full pread/pwrite or an error naming path. */
sl_status_t sl_pread_full(int fd, void *buf, size_t len, off_t off, const char *path);
sl_status_t sl_pwrite_full(int fd, const void *buf, size_t len, off_t off, const char *path);

/* Local: [off, off+cnt) of n items split in P near-equal pieces. */
static inline void sl_sort_block(uint64_t n, int P, int r, uint64_t *off, uint64_t *cnt)
{
    unsigned __int128 a = (unsigned __int128)n * (unsigned)r / (unsigned)P;
    unsigned __int128 b = (unsigned __int128)n * (unsigned)(r + 1) / (unsigned)P;
    *off = (uint64_t)a;
    *cnt = (uint64_t)(b - a);
}

/* Local: record checksum sum (valsort's) of n records, and the zlib CRC32
 * of one record (crc.c; equal to zlib's crc32(0, rec, 100)). */
sl_u128_t sl_sort_crcsum(const unsigned char *buf, uint64_t n);
uint32_t sl_sort_crc32(const unsigned char *rec);
/* The same sum for n records of rec bytes (zlib's crc32 per record where
 * rec is not 100). */
sl_u128_t sl_sort_crcsum_rec(const unsigned char *buf, uint64_t n, uint32_t rec);
/* Local: the table-driven reference kernel (for tests), and the name of the
 * kernel in use ("pclmul" or "slice-by-8"; static storage). */
uint32_t sl_sort_crc32_ref(const unsigned char *rec);
const char *sl_sort_crc_kernel(void);

/* A write queue (wq.c): buffers filled by the caller are written, in order,
 * by a helper thread at increasing offsets from 0 (direct I/O through dfd
 * for whole pages, else fd, which must stay open until sl_wq_destroy); with
 * crc, it also sums the records' CRC32s. Buffers hold bytes (rounded down to
 * whole 102400-byte pieces, at least one) and are page-aligned. */
typedef struct sl_wq sl_wq_t;
typedef struct {
    uint64_t bytes, nrec; /* written */
    sl_u128_t sum;        /* CRC32 sum of the written records (crc only) */
    double t_wait;        /* seconds the caller waited on the writer */
} sl_wq_stats_t;
/* Local. adopt: NULL, or nbuf buffers (page-aligned, at least bytes long)
 * the queue takes and frees instead of allocating its own; those it takes
 * are set to NULL there, even on failure. */
sl_status_t sl_wq_create(int fd, int dfd, const char *path, size_t bytes, int nbuf, int crc,
                         unsigned char **adopt, sl_wq_t **q_p);
/* The same for records of rec bytes (sl_wq_create: 100); buffers are then
 * whole sl_sort_unit(rec) pieces. */
sl_status_t sl_wq_create_rec(int fd, int dfd, const char *path, size_t bytes, int nbuf, int crc, uint32_t rec,
                             unsigned char **adopt, sl_wq_t **q_p);
/* Local: an empty buffer of *cap_p bytes to fill, waiting for one if all
 * are queued; the writer's error if a write failed. */
sl_status_t sl_wq_get(sl_wq_t *q, unsigned char **buf_p, size_t *cap_p);
/* Local: queue the first n records of the buffer from the last get. */
sl_status_t sl_wq_put(sl_wq_t *q, uint64_t n);
/* Local: wait until everything queued is written; the first error, if any. */
sl_status_t sl_wq_finish(sl_wq_t *q, sl_wq_stats_t *stats_p);
/* Local: stop the thread (after the queued writes) and free. Accepts NULL. */
void sl_wq_destroy(sl_wq_t **q_p);

/* In-memory sort of n records in place. tmp: n*100 bytes of scratch or
 * NULL (keyidx then permutes in place; radix allocates). algo: "keyidx" (sort (key prefix, index) pairs, then
 * permute) or "radix" (MSD radix on whole records). */
sl_status_t sl_sort_records(unsigned char *recs, uint64_t n, const char *algo, unsigned char *tmp);
/* Local: the sorted order of n records as indexes (caller frees), so a
 * writer can gather records straight into its output buffer. */
sl_status_t sl_sort_order(const unsigned char *recs, uint64_t n, uint32_t **order_p);
/* The same order in pieces, one per first key byte in key order, each
 * handed to fn as soon as it is sorted (fn's order is valid only during
 * the call): a caller gathers and writes one piece while the next sorts.
 * Adds the seconds spent sorting, fn's not counted, to *t_sort. */
typedef sl_status_t (*sl_sort_piece_fn)(void *arg, const uint32_t *order, uint64_t k);
sl_status_t sl_sort_order_pieces(const unsigned char *recs, uint64_t n, sl_sort_piece_fn fn, void *arg,
                                 double *t_sort);
/* The three above for any geometry g: the default one goes to them, any
 * other sorts 16-byte (key prefix, index) entries by a comparison that breaks
 * ties of the prefix on the rest of the key, then on the index (stable),
 * whichever algo is asked for. */
sl_status_t sl_sort_records_g(unsigned char *recs, uint64_t n, const char *algo, unsigned char *tmp,
                              const sl_sort_geom_t *g);
sl_status_t sl_sort_order_pieces_g(const unsigned char *recs, uint64_t n, const sl_sort_geom_t *g,
                                   sl_sort_piece_fn fn, void *arg, double *t_sort);

/* The reducer's buffers (sort.c): rcap records per buffer, two of them
 * (halves) for an external sort, whose first fill takes rlim records and
 * which expects at most expect records. */
typedef struct {
    uint64_t rcap, rlim, expect;
    int halves;
} sl_sort_rplan_t;
/* Local: the plan for avail bytes (records and the scratch of their sort:
 * 32 B per record, 100 B with radix) when nrec records are sorted on P
 * ranks. No buffer holds more than one in-memory sort takes (UINT32_MAX
 * records). */
void sl_sort_reducer_plan(int64_t avail, uint64_t nrec, int P, int radix, sl_sort_rplan_t *plan_p);
/* The same for records of rec bytes (the plan above: 100). */
void sl_sort_reducer_plan_rec(int64_t avail, uint64_t nrec, int P, int radix, uint32_t rec,
                              sl_sort_rplan_t *plan_p);

#endif

/* Options of the three commands (tables in cli.c). */
typedef struct {
    int ascii, checksum, skew, parts;
    char *begin, *num, *file;
} sl_gensort_opts_t;

typedef struct {
    char *summary_out;
    int summaries, quiet, local;
    sl_strlist_t files;
    long record_size, key_offset, key_length;
} sl_valsort_opts_t;

typedef struct {
    sl_strlist_t input;
    char *output, *tmp, *algo, *plan, *json;
    uint64_t mem, block, chunk;
    int resume, local, direct_read, test_stop_after_map;
    long nodes, parts_per_rank, samples, test_stall_ms, test_stop_buffer, test_stop_chunk, test_map_stall_ms;
    long record_size, key_offset, key_length;
    double disk_read_bw, disk_write_bw, net_bw; /* MB/s */
} sl_sort_opts_t;

sl_status_t sl_gensort_run(MPI_Comm comm, const sl_gensort_opts_t *o);
sl_status_t sl_valsort_run(MPI_Comm comm, const sl_valsort_opts_t *o);
sl_status_t sl_sort_run(MPI_Comm comm, const sl_sort_opts_t *o);
sl_status_t sl_sort_plan(MPI_Comm comm, const sl_sort_opts_t *o);
/* Collective: the geometry of --record-size/--key-offset/--key-length, or
 * a usage error naming the options (nothing is touched yet). */
sl_status_t sl_sort_geom_from_opts(MPI_Comm comm, long rec, long off, long len, sl_sort_geom_t *g_p);

/* The data plane of the sort: UCP tagged messages between ranks (one
 * context and worker per rank; worker addresses exchanged with MPI).
 * Messages are at most msg_size bytes and land in pre-posted receive
 * buffers; each arrival is handed to deliver() from sl_xchg_progress, in
 * the caller's thread, never from inside UCX. */
typedef struct sl_xchg sl_xchg_t;
typedef sl_status_t (*sl_xchg_deliver_fn)(void *arg, int src, const void *data, size_t len);
typedef struct sl_xchg_req sl_xchg_req_t;

/* Collective. Honours UCX_* environment variables (UCX_TLS, ...). */
sl_status_t sl_xchg_create(MPI_Comm comm, size_t msg_size, int slots, sl_xchg_deliver_fn deliver, void *arg,
                           sl_xchg_t **x_p);
/* Local: start sending len <= msg_size bytes to dest (!= own rank); buf
 * must stay untouched until sl_xchg_wait on *req_p returns. */
sl_status_t sl_xchg_isend(sl_xchg_t *x, int dest, const void *buf, size_t len, sl_xchg_req_t **req_p);
/* Local: progress (delivering arrivals) until the send completes; frees it.
 * Accepts NULL. */
sl_status_t sl_xchg_wait(sl_xchg_t *x, sl_xchg_req_t **req);
/* Local: one round of progress and delivery. */
sl_status_t sl_xchg_progress(sl_xchg_t *x);
/* Collective (without MPI): tell every peer this rank sent everything, and
 * deliver until every peer has said the same and all their messages arrived.
 * Returns the local status; the caller agrees afterwards. */
sl_status_t sl_xchg_finish(sl_xchg_t *x);
/* Collective: close endpoints and free UCX resources. Accepts NULL. */
void sl_xchg_destroy(sl_xchg_t **x);
/* The transports UCX chose for a peer, for the log ("tcp", "sysv/memory"...). */
const char *sl_xchg_describe(sl_xchg_t *x);
