/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice valsort`: the reference validator's summary (record count, CRC32
 * sum, duplicate keys, unordered records) over a sequence of files split
 * across ranks; piece summaries are combined in order, which checks the
 * boundaries between pieces exactly as valsort -s checks partitions.
 * Other record geometries (--record-size, --key-offset, --key-length) keep
 * the boundary keys beside the summary, whose record fields are the
 * reference's 100 bytes. */
#include "config.h"
#include "shuffle_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define VAL_CHUNK (8u << 20)

static void inc(uint64_t c[2], uint64_t by)
{
    uint64_t lo = c[1] + by;
    if (lo < c[1])
        c[0]++;
    c[1] = lo;
}

static int is_zero(const uint64_t c[2])
{
    return c[0] == 0 && c[1] == 0;
}

static void add2(uint64_t a[2], const uint64_t b[2])
{
    sl_u128_t s = sl_u128_add((sl_u128_t){a[0], a[1]}, (sl_u128_t){b[0], b[1]});
    a[0] = s.hi;
    a[1] = s.lo;
}

/* One boundary between a record and the next, d their keys' memcmp: a
 * duplicate, or an unordered record (the first one's index remembered). */
static void order_step(sl_valsort_sum_t *s, int d)
{
    if (d == 0) {
        inc(s->dup_count, 1);
    } else if (d > 0) {
        if (is_zero(s->first_unordered))
            memcpy(s->first_unordered, s->rec_count, sizeof s->first_unordered);
        inc(s->unordered_count, 1);
    }
}

/* a's counts followed by b's, d the memcmp of a's last key and b's first. */
static void merge_counts(sl_valsort_sum_t *a, const sl_valsort_sum_t *b, int d)
{
    order_step(a, d);
    if (is_zero(a->first_unordered) && !is_zero(b->first_unordered)) {
        memcpy(a->first_unordered, a->rec_count, sizeof a->first_unordered);
        add2(a->first_unordered, b->first_unordered);
    }
    add2(a->unordered_count, b->unordered_count);
    add2(a->rec_count, b->rec_count);
    add2(a->dup_count, b->dup_count);
    add2(a->checksum, b->checksum);
}

void sl_valsort_add(sl_valsort_sum_t *s, const unsigned char *buf, uint64_t n)
{
    if (n == 0)
        return;
    const unsigned char *prev = s->last_rec;
    uint64_t i = 0;
    uint64_t crc_hi = 0, crc_lo = 0;
    if (is_zero(s->rec_count)) {
        memcpy(s->first_rec, buf, SL_SORT_REC);
        prev = buf;
        crc_lo = sl_sort_crc32(buf);
        inc(s->rec_count, 1);
        i = 1;
    }
    for (; i < n; i++) {
        const unsigned char *r = buf + i * SL_SORT_REC;
        uint64_t c = sl_sort_crc32(r);
        crc_lo += c;
        if (crc_lo < c)
            crc_hi++;
        int d = memcmp(prev, r, SL_SORT_KEY);
        order_step(s, d);
        inc(s->rec_count, 1);
        prev = r;
    }
    memcpy(s->last_rec, buf + (n - 1) * SL_SORT_REC, SL_SORT_REC);
    sl_u128_t sum = sl_u128_add((sl_u128_t){s->checksum[0], s->checksum[1]}, (sl_u128_t){crc_hi, crc_lo});
    s->checksum[0] = sum.hi;
    s->checksum[1] = sum.lo;
}

void sl_valsort_merge(sl_valsort_sum_t *a, const sl_valsort_sum_t *b)
{
    if (is_zero(b->rec_count))
        return;
    if (is_zero(a->rec_count)) {
        *a = *b;
        return;
    }
    merge_counts(a, b, memcmp(a->last_rec, b->first_rec, SL_SORT_KEY));
    memcpy(a->last_rec, b->last_rec, SL_SORT_REC);
}

/* Combine per-rank summaries on rank 0 in rank order; broadcast. */
static sl_status_t combine(MPI_Comm comm, sl_valsort_sum_t *mine, sl_valsort_sum_t *out)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sl_valsort_sum_t *all = rank == 0 ? malloc(sizeof *all * (size_t)size) : NULL;
    SL_TRY(sl_agree(comm, rank != 0 || all ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory")));
    MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE, 0, comm);
    memset(out, 0, sizeof *out);
    if (rank == 0)
        for (int r = 0; r < size; r++)
            sl_valsort_merge(out, &all[r]);
    free(all);
    MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
    return SL_OK;
}

/* Generic geometry: sl_valsort_add with the first and last keys in keys
 * (2 L bytes) instead of the summary's record fields. */
static void add_g(sl_valsort_sum_t *s, unsigned char *keys, const unsigned char *buf, uint64_t n,
                  const sl_sort_geom_t *g)
{
    if (n == 0)
        return;
    const size_t R = g->rec, O = g->off, L = g->len;
    const unsigned char *prev = keys + L;
    uint64_t i = 0, crc_hi = 0, crc_lo = 0;
    if (is_zero(s->rec_count)) {
        memcpy(keys, buf + O, L);
        prev = buf + O;
        crc_lo = R == SL_SORT_REC ? sl_sort_crc32(buf) : crc32(0L, buf, (uInt)R);
        inc(s->rec_count, 1);
        i = 1;
    }
    for (; i < n; i++) {
        const unsigned char *r = buf + i * R;
        uint64_t c = R == SL_SORT_REC ? sl_sort_crc32(r) : crc32(0L, r, (uInt)R);
        crc_lo += c;
        if (crc_lo < c)
            crc_hi++;
        int d = memcmp(prev, r + O, L);
        order_step(s, d);
        inc(s->rec_count, 1);
        prev = r + O;
    }
    memcpy(keys + L, buf + (n - 1) * R + O, L);
    sl_u128_t sum = sl_u128_add((sl_u128_t){s->checksum[0], s->checksum[1]}, (sl_u128_t){crc_hi, crc_lo});
    s->checksum[0] = sum.hi;
    s->checksum[1] = sum.lo;
}

/* Generic geometry: sl_valsort_merge with the boundary keys apart. */
static void merge_g(sl_valsort_sum_t *a, unsigned char *akeys, const sl_valsort_sum_t *b,
                    const unsigned char *bkeys, size_t L)
{
    if (is_zero(b->rec_count))
        return;
    if (is_zero(a->rec_count)) {
        *a = *b;
        memcpy(akeys, bkeys, 2 * L);
        return;
    }
    merge_counts(a, b, memcmp(akeys + L, bkeys, L));
    memcpy(akeys + L, bkeys + L, L);
}

sl_status_t sl_valsort_files(MPI_Comm comm, char **files, int n, sl_valsort_sum_t *sum_p)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sl_filelist_t *fl;
    SL_TRY(sl_filelist_create(comm, files, n, 0, SL_SORT_REC, &fl));
    uint64_t off, cnt;
    sl_sort_block(fl->total / SL_SORT_REC, size, rank, &off, &cnt);
    sl_valsort_sum_t mine;
    memset(&mine, 0, sizeof mine);
    sl_status_t st = SL_OK;
    unsigned char *buf = cnt ? malloc(VAL_CHUNK) : NULL;
    if (cnt && !buf)
        st = sl_error(SL_ERR_NOMEM, "out of memory for the read buffer");
    uint64_t per = VAL_CHUNK / SL_SORT_REC;
    for (uint64_t done = 0; st == SL_OK && done < cnt;) {
        uint64_t k = cnt - done < per ? cnt - done : per;
        /* a stop (Ctrl-C, Slurm's USR1 or TERM) ends the check: nothing is written */
        st = sl_stop_requested()
                 ? SL_ERR_STOPPED
                 : sl_filelist_read(fl, (off + done) * SL_SORT_REC, buf, (size_t)k * SL_SORT_REC);
        if (st == SL_OK)
            sl_valsort_add(&mine, buf, k);
        done += k;
    }
    free(buf);
    sl_filelist_destroy(&fl);
    SL_TRY(sl_agree(comm, st));
    return combine(comm, &mine, sum_p);
}

/* Generic geometry: combine's, with each rank's boundary keys gathered
 * beside its summary. */
static sl_status_t combine_g(MPI_Comm comm, sl_valsort_sum_t *mine, const unsigned char *mykeys, size_t L,
                             sl_valsort_sum_t *out)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sl_valsort_sum_t *all = rank == 0 ? malloc(sizeof *all * (size_t)size) : NULL;
    unsigned char *keys = rank == 0 ? malloc(2 * L * (size_t)size) : NULL, *acc = malloc(2 * L);
    sl_status_t st =
        sl_agree(comm, acc && (rank != 0 || (all && keys)) ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"));
    if (st != SL_OK) {
        free(all);
        free(keys);
        free(acc);
        return st;
    }
    MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE, 0, comm);
    MPI_Gather(mykeys, (int)(2 * L), MPI_BYTE, keys, (int)(2 * L), MPI_BYTE, 0, comm);
    memset(out, 0, sizeof *out);
    if (rank == 0)
        for (int r = 0; r < size; r++)
            merge_g(out, acc, &all[r], keys + 2 * L * (size_t)r, L);
    free(all);
    free(keys);
    free(acc);
    MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
    return SL_OK;
}

/* Generic geometry: sl_valsort_files, the boundary keys into keys (2 L
 * bytes) where not NULL, else combined over comm into *sum_p. */
static sl_status_t files_g(MPI_Comm comm, char **files, int n, const sl_sort_geom_t *g,
                           sl_valsort_sum_t *sum_p, unsigned char *keys)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const size_t R = g->rec, L = g->len;
    sl_filelist_t *fl;
    SL_TRY(sl_filelist_create(comm, files, n, 0, g->rec, &fl));
    uint64_t off, cnt;
    sl_sort_block(fl->total / R, size, rank, &off, &cnt);
    sl_valsort_sum_t mine;
    memset(&mine, 0, sizeof mine);
    unsigned char *mk = calloc(2, L), *buf = cnt ? malloc(VAL_CHUNK) : NULL;
    sl_status_t st =
        mk && (!cnt || buf) ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for the read buffer");
    uint64_t per = VAL_CHUNK / R; /* R <= SL_SORT_REC_MAX: at least 8 */
    for (uint64_t done = 0; st == SL_OK && done < cnt;) {
        uint64_t k = cnt - done < per ? cnt - done : per;
        st = sl_stop_requested() ? SL_ERR_STOPPED
                                 : sl_filelist_read(fl, (off + done) * R, buf, (size_t)(k * R));
        if (st == SL_OK)
            add_g(&mine, mk, buf, k, g);
        done += k;
    }
    free(buf);
    sl_filelist_destroy(&fl);
    st = sl_agree(comm, st);
    if (st == SL_OK && keys) {
        *sum_p = mine;
        memcpy(keys, mk, 2 * L);
    } else if (st == SL_OK) {
        st = combine_g(comm, &mine, mk, L, sum_p);
    }
    free(mk);
    return st;
}

/* (device, inode, rank, index) in that order */
static int cmp_u64x4(const void *a, const void *b)
{
    const unsigned long long *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Collective: no file of this rank is one of another rank on the same
 * node. A FILE without %r or %R names the same file on every rank of a
 * node: each would validate it, and the combined sequence would hold it
 * once per rank (its records counted that often, and a disorder where one
 * copy ends and the next begins). On different nodes the same name is
 * what node-local scratch gives, and the same (device, inode) there need
 * not be the same file, so only ranks of one node are compared. */
static sl_status_t local_distinct(MPI_Comm comm, char **files, char **v, int n, sl_status_t st)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm node;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return sl_agree(comm, st); /* nothing to compare with */
    int nsize;
    MPI_Comm_size(node, &nsize);
    /* per file: device, inode (0, 0 where it cannot be stat'ed: the
     * validation names it), the rank in comm and the file's index */
    unsigned long long *mine = calloc((size_t)n * 4 + 1, sizeof *mine);
    unsigned long long *all = calloc((size_t)n * 4 * (size_t)nsize + 1, sizeof *all);
    if (st == SL_OK && (!mine || !all))
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    st = sl_agree(comm, st); /* every rank takes part in the gather, or none */
    for (int i = 0; st == SL_OK && i < n; i++) {
        struct stat sb;
        if (stat(v[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
            mine[4 * i] = (unsigned long long)sb.st_dev;
            mine[4 * i + 1] = (unsigned long long)sb.st_ino;
        }
        mine[4 * i + 2] = (unsigned long long)rank;
        mine[4 * i + 3] = (unsigned long long)i;
    }
    const size_t tot = (size_t)n * (size_t)nsize;
    if (st == SL_OK) {
        MPI_Allgather(mine, 4 * n, MPI_UNSIGNED_LONG_LONG, all, 4 * n, MPI_UNSIGNED_LONG_LONG, node);
        qsort(all, tot, 4 * sizeof *all, cmp_u64x4);
    }
    /* Every rank finds the same first pair of ranks naming one file (in
     * the sorted order); its lower rank reports it, and every rank fails. */
    for (size_t j = 1; st == SL_OK && j < tot; j++) {
        const unsigned long long *p = all + 4 * (j - 1), *q = all + 4 * j;
        if (!p[1] || p[0] != q[0] || p[1] != q[1] || p[2] == q[2])
            continue;
        st = SL_ERR_USAGE; /* on every rank, so all exit 2; the message once */
        if (p[2] == (unsigned long long)rank)
            st = sl_error(
                SL_ERR_USAGE,
                "--local: ranks %d and %llu are on one node and both name '%s' (FILE '%s'): each rank "
                "must validate its own partition; put %%r or %%R in FILE for the rank",
                rank, q[2], v[p[3]], files[p[3]]);
        break;
    }
    free(mine);
    free(all);
    MPI_Comm_free(&node);
    return sl_agree(comm, st);
}

static sl_status_t read_summaries(char **files, int n, sl_valsort_sum_t *out);

/* Collective: each rank validates its own files (node-local partitions:
 * %r and %R name them per rank), or with summaries reads its own summary
 * files; the pieces are combined in rank order. */
static sl_status_t valsort_local(MPI_Comm comm, char **files, int n, const sl_sort_geom_t *g, int summaries,
                                 sl_valsort_sum_t *sum_p)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char **v = calloc((size_t)n, sizeof *v);
    sl_status_t st = v ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
    for (int i = 0; st == SL_OK && i < n; i++)
        if (!(v[i] = sl_sort_subst_rank(files[i], rank, size)))
            st = sl_error(SL_ERR_NOMEM, "out of memory");
    if (size > 1)
        st = local_distinct(comm, files, v, n, st);
    sl_valsort_sum_t mine;
    memset(&mine, 0, sizeof mine);
    int std = sl_sort_geom_is_std(g);
    unsigned char *keys = std ? NULL : calloc(2, g->len);
    if (st == SL_OK && !std && !keys)
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK && summaries)
        st = read_summaries(v, n, &mine);
    else if (st == SL_OK)
        st =
            std ? sl_valsort_files(MPI_COMM_SELF, v, n, &mine) : files_g(MPI_COMM_SELF, v, n, g, &mine, keys);
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
    st = sl_agree(comm, st);
    if (st == SL_OK)
        st = std ? combine(comm, &mine, sum_p) : combine_g(comm, &mine, keys, g->len, sum_p);
    free(keys);
    return st;
}

/* Rank 0: the sequence of summaries in the given files. */
static sl_status_t read_summaries(char **files, int n, sl_valsort_sum_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f)
            return sl_error(SL_ERR_NOT_FOUND, "summary file '%s': %s", files[i], strerror(errno));
        sl_valsort_sum_t s;
        size_t k;
        while ((k = fread(&s, 1, sizeof s, f)) == sizeof s)
            sl_valsort_merge(out, &s);
        /* A read error is not the end of the summaries: a directory given
         * by mistake was taken for an empty file, and the rest passed. */
        int e = ferror(f) ? errno : 0;
        fclose(f);
        if (e)
            return sl_error(SL_ERR_IO, "cannot read summary file '%s': %s", files[i], strerror(e));
        if (k != 0)
            return sl_error(SL_ERR_INVALID, "summary file '%s': partial partition summary found at end",
                            files[i]);
    }
    return SL_OK;
}

/* Local: whether writing SUMMARY replaces file: 1 if it is SUMMARY, 2 if
 * it is SUMMARY.tmp, the name the summary is written under before the
 * rename (sl_file_write_atomic: '-o in in.tmp' wrote over in.tmp and
 * renamed it), else 0. */
static int replaces(const char *summary, const char *file)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", summary);
    return sl_same_file(summary, file) ? 1 : sl_same_file(tmp, file) ? 2 : 0;
}

#define TMP_NOTE(how) ((how) == 2 ? ": the summary is written under that name, then renamed" : "")

sl_status_t sl_valsort_run(MPI_Comm comm, const sl_valsort_opts_t *o)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sl_valsort_sum_t sum;
    sl_sort_geom_t g;
    if (o->files.n < 1)
        return sl_error_root(comm, SL_ERR_USAGE, "valsort needs at least one FILE");
    SL_TRY(sl_sort_geom_from_opts(comm, o->record_size, o->key_offset, o->key_length, &g));
    int std = sl_sort_geom_is_std(&g);
    /* The summary file is the reference's, whose boundary records are 100
     * bytes with the key in the first 10: no room for another geometry. */
    if (!std && (o->summary_out || o->summaries))
        return sl_error_root(comm, SL_ERR_USAGE,
                             "%s: partition summaries are valsort's, of 100-byte records with 10-byte keys "
                             "at offset 0: not with --record-size/--key-offset/--key-length",
                             o->summaries ? "-s" : "-o");
    for (int i = 0; o->summary_out && i < o->files.n; i++) {
        int how = replaces(o->summary_out, o->files.v[i]);
        if (how)
            return sl_error_root(comm, SL_ERR_USAGE, "-o %s is also an input ('%s'%s); it would be replaced",
                                 o->summary_out, o->files.v[i], TMP_NOTE(how));
    }
    /* SUMMARY is written as SUMMARY.tmp and renamed: a device or a FIFO
     * would be replaced (as root, '-o /dev/null' put a regular file in
     * place of /dev/null). Rank 0 writes it. */
    const char *kind = o->summary_out && rank == 0 ? sl_sort_special_kind(o->summary_out) : NULL;
    int special = kind != NULL;
    MPI_Bcast(&special, 1, MPI_INT, 0, comm);
    if (special)
        return sl_error_root(comm, SL_ERR_USAGE,
                             "-o %s is %s: the summary is written as %s.tmp and renamed, which would replace "
                             "it; name a regular file",
                             o->summary_out, kind ? kind : "", o->summary_out);
    /* nor fail at the end, after every input was read: a directory, or a
     * directory that is missing or not writable, is known now */
    char why[4200];
    int unwritable =
        o->summary_out && rank == 0 && sl_output_path_problem(o->summary_out, NULL, why, sizeof why);
    MPI_Bcast(&unwritable, 1, MPI_INT, 0, comm);
    if (unwritable)
        return sl_error_root(comm, SL_ERR_USAGE, "-o %s: %s", o->summary_out, rank == 0 ? why : "");
    if (o->summary_out && o->local) {
        /* With --local the FILEs are each rank's names after %r/%R, which
         * the check above never sees ('-o out/part-00000 out/part-%R'
         * replaced partition 0 with the summary): each rank checks its own,
         * and any that matches stops every rank. */
        int bad = 0, nbad = 0;
        for (int i = 0; !bad && i < o->files.n; i++) {
            char *f = sl_sort_subst_rank(o->files.v[i], rank, size);
            int how = f ? replaces(o->summary_out, f) : 0;
            if (how) {
                sl_error(SL_ERR_USAGE,
                         "-o %s is also an input ('%s' is '%s' with --local%s); it would be replaced",
                         o->summary_out, o->files.v[i], f, TMP_NOTE(how));
                bad = 1;
            }
            free(f);
        }
        MPI_Allreduce(&bad, &nbad, 1, MPI_INT, MPI_SUM, comm);
        if (nbad)
            return SL_ERR_USAGE;
    }
    if (o->local) { /* -s too: each rank reads the summaries named for it */
        SL_TRY(valsort_local(comm, o->files.v, o->files.n, &g, o->summaries, &sum));
    } else if (o->summaries) {
        sl_status_t st = rank == 0 ? read_summaries(o->files.v, o->files.n, &sum) : SL_OK;
        SL_TRY(sl_agree(comm, st));
        MPI_Bcast(&sum, (int)sizeof sum, MPI_BYTE, 0, comm);
    } else if (std) {
        SL_TRY(sl_valsort_files(comm, o->files.v, o->files.n, &sum));
    } else {
        SL_TRY(files_g(comm, o->files.v, o->files.n, &g, &sum, NULL));
    }
    if (is_zero(sum.rec_count))
        return sl_error_root(comm, SL_ERR_INVALID, "there must be at least one record to be validated");
    if (o->summary_out) {
        sl_status_t st = rank == 0 ? sl_file_write_atomic(o->summary_out, &sum, sizeof sum) : SL_OK;
        SL_TRY(sl_agree(comm, st));
    }
    char b1[48];
    /* -q is also sluice's common --quiet (log level warn): either silences. */
    if (rank == 0 && !o->quiet && sl_log_level_g >= SL_LOG_INFO) {
        if (!is_zero(sum.first_unordered))
            fprintf(stderr, "First unordered record is record %s\n",
                    sl_u128_dec((sl_u128_t){sum.first_unordered[0], sum.first_unordered[1]}, b1));
        fprintf(stderr, "Records: %s\n", sl_u128_dec((sl_u128_t){sum.rec_count[0], sum.rec_count[1]}, b1));
        fprintf(stderr, "Checksum: %s\n", sl_u128_hex((sl_u128_t){sum.checksum[0], sum.checksum[1]}, b1));
        if (!is_zero(sum.unordered_count)) {
            fprintf(stderr, "ERROR - there are %s unordered records\n",
                    sl_u128_dec((sl_u128_t){sum.unordered_count[0], sum.unordered_count[1]}, b1));
        } else {
            fprintf(stderr, "Duplicate keys: %s\n",
                    sl_u128_dec((sl_u128_t){sum.dup_count[0], sum.dup_count[1]}, b1));
            fprintf(stderr, "SUCCESS - all records are in order\n");
        }
        fflush(stderr);
    }
    return is_zero(sum.unordered_count) ? SL_OK : SL_ERR_FAILED;
}
