/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice sort`: an Exoshuffle/Themis-style distributed sort. Boundaries
 * come from a sample of (key, position) pairs, so skew and duplicate keys
 * still split evenly; map reads its share with a read-ahead thread and
 * pushes blocks to their reducer over UCX; reducers keep blocks within --mem
 * and spill sorted runs to --tmp (in external sorts from a spill thread,
 * while the map fills a second buffer); a loser-tree merge writes each partition
 * as part-NNNNN.tmp and renames it. Each record is read and written once
 * when it fits in memory, twice when it spills. */
#define _GNU_SOURCE /* sync_file_range */
#include "config.h"
#include "merge_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* A splitter: the key (10 bytes by default; c->spl_len in all) and the
 * record's 8-byte big-endian global position. */
#define MANIFEST ".sluice-sort"
#define MAGIC    "SLSORT03" /* 03: the record geometry after the token */
#define MHDR     64         /* manifest header bytes before the splitters */
#define FP_RECS  64 /* the inputs' fingerprint reads FP_RECS + 1 records */
/* A rank stopped during the merge lists its runs in OUTDIR/RUNSMAN<N> (N:
 * its partition, in part-N's digits): text, RUNSMAGIC then "key value"
 * lines, one "run RECORDS BYTES PATH" line per run in merge order, "end". */
#define RUNSMAN   ".sluice-sort-runs-"
#define RUNSMAGIC "SLRUNS01"
/* A stop during the map: the run manifests carry a "cut ID" line, and rank
 * 0 writes OUTDIR/MAPFILE once every rank kept its runs: text, MAPMAGIC,
 * "cut ID", "token T", "ranks P", one "share OFFSET COUNT MAPPED" line per
 * rank (its share of the inputs, global positions, and the records of it
 * mapped, in order from its start), a "kept P COUNT SUM" line per partition
 * complete at the stop whose count is known (what the mapped parts gave
 * it), "end". */
#define MAPFILE  ".sluice-sort-map"
#define MAPMAGIC "SLMAP01"

typedef struct spiller spiller_t;

typedef struct {
    MPI_Comm comm;
    int rank, size, nnodes;
    const sl_sort_opts_t *o;
    sl_sort_geom_t g; /* record geometry */
    int std;          /* g is the default (100, 0, 10): the specialised paths */
    size_t R;         /* g.rec */
    size_t spl_len;   /* bytes per splitter: key + 8 */
    sl_filelist_t *fl;
    uint64_t nrec, my_off, my_cnt; /* global record count; this rank's share */
    uint64_t fbase;                /* where the share starts in fl (records) */
    unsigned char *spl;            /* size-1 splitters */
    int *done;                     /* per partition: already complete (resume) */
    uint64_t *kin;                 /* resume: per partition, the count and CRC32 sum (mod 2^64) of the records
                                      this rank's share gives each complete one; NULL if none is, or all are */
    uint64_t kept_in[2];           /* resume: those of this rank's partition, from every rank's share */
    /* reducer: rbuf is the buffer being filled, rb[rcur]; with halves, the
     * other one may be sorted and written by the spill thread meanwhile */
    unsigned char *rbuf, *rb[2];
    uint64_t rcap, rn; /* per buffer */
    uint64_t rlim;     /* records this fill of rbuf takes (rcap but for the first run) */
    uint64_t kept;     /* records kept in the other buffer for the merge, or 0 */
    uint64_t expect;   /* records this rank expects at most (halves) */
    uint64_t rtot;     /* records received so far */
    int rcur, halves;
    spiller_t *sp;
    int nruns, runcap, runs_total;
    sl_status_t spill_st; /* a failed spill: every later one fails alike, without writing again */
    size_t iobuf;       /* bytes per output or spill write */
    unsigned char *spare[2]; /* the map's read buffers, kept for the output writes, or NULL */
    size_t merge_bytes; /* read-ahead buffers of the merge, in all */
    sl_run_t *runs;
    char runbase[4096];
    uint64_t token; /* names this sort's runs: kept in the manifest, so a resume knows the killed run's */
    uint64_t fp;    /* the inputs' fingerprint (the manifest's) */
    /* A stop during the merge (runs_manifest_write) and a resume from it
     * (runs_decide): from_runs, the map was skipped on every rank; mine_runs,
     * this rank merges the runs its run manifest lists (runs_nrec records);
     * map_cut, the map ended early at a stop; saved, this rank completed
     * its partition or kept its runs at a stop. */
    int from_runs, mine_runs, map_cut, saved;
    int renamed; /* this run renamed its partition: an error removes it */
    uint64_t runs_nrec;
    /* A stop during the map (a cut: save_runs at the safe point after it)
     * and a resume from it: each rank's share is mapped in order, so the
     * map's progress is one count per rank (the map file, MAPFILE). skip:
     * records of this rank's share an earlier run mapped, which this run's
     * map does not read; mapped: those mapped so far, skip included;
     * skipped: the sum of skip over ranks (0: the map reads everything);
     * cut: the stop id the run manifests of this run's runs carry (0: they
     * hold whole partitions, a stop during the merge); nlisted: the first
     * nlisted entries of c->runs are listed by a run manifest on disk and
     * are not removed on the way out. */
    uint64_t skip, mapped, skipped, cut;
    int nlisted;
    /* kpre: per partition (3 values: known, count, CRC32 sum mod 2^64) the
     * records the shares' parts mapped before the stop gave a partition
     * complete then (the map file's "kept" lines), which this run's map
     * does not count; NULL if none. A complete partition is checked
     * against the inputs when its line is known. */
    uint64_t *kpre;
    /* map -> send buffers, two per peer */
    size_t blk;
    unsigned char **sb[2];
    size_t *sfill;
    int *scur;
    sl_xchg_req_t **sreq[2];
    sl_xchg_t *x;
    /* statistics */
    double t_sample, t_map, t_sort, t_spill, t_merge, t_write;
    uint64_t bytes_read, bytes_written, spill_bytes, recv_bytes;
    uint64_t out_nrec;
    sl_u128_t out_sum;
} sctx_t;

static void put_be64(unsigned char *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

/* Partition of the record whose key is at key, at global position g: the
 * number of splitters not above (key, g). Inlined with a constant key
 * length L for the default geometry (memcmp of 10 bytes inline). */
static inline __attribute__((always_inline)) int part_of_l(const sctx_t *c, const unsigned char *key,
                                                           uint64_t g, size_t L)
{
    int lo = 0, hi = c->size - 1; /* answer in [lo, hi] */
    unsigned char pos[8];
    int have_pos = 0;
    const size_t spl = L + 8;
    while (lo < hi) {
        int mid = (lo + hi) / 2; /* splitter index mid separates mid | mid+1 */
        const unsigned char *s = c->spl + (size_t)mid * spl;
        int d = memcmp(s, key, L);
        if (d == 0) {
            if (!have_pos) {
                put_be64(pos, g);
                have_pos = 1;
            }
            d = memcmp(s + L, pos, 8);
        }
        if (d <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_spl(const void *a, const void *b, void *len)
{
    return memcmp(a, b, *(const size_t *)len);
}

/* Local: samples per rank. --samples N takes N; 0 (automatic) takes 4096,
 * fewer at scale so the gathered sample stays near 2^20 keys (18 MB)
 * however many ranks there are, and fewer for long keys so that it fits one
 * MPI message (check_samples): at most INT_MAX / (ranks x (key + 8)) each.
 * That is 0 where even one per rank does not fit (2048 ranks or more with
 * 1 MiB keys): sample() then takes one on some of the ranks. */
static long samples_per_rank(const sctx_t *c)
{
    long per = c->o->samples;
    if (per <= 0) {
        per = (1L << 20) / c->size;
        per = per > 4096 ? 4096 : (per < 256 ? 256 : per);
        long fit = (long)(INT_MAX / c->spl_len / (size_t)c->size);
        if (per > fit)
            per = fit;
    }
    return per;
}

/* Collective: --samples too many for one MPI message is a usage error,
 * found before anything in OUTDIR is touched (the automatic count always
 * fits). */
static sl_status_t check_samples(const sctx_t *c)
{
    /* The gathered sample travels in one MPI_Allgatherv, whose counts and
     * displacements are ints; a rank sends at most per samples (sample()). */
    long per = samples_per_rank(c);
    uint64_t most = (uint64_t)per * c->spl_len, gathered = 0;
    MPI_Allreduce(&most, &gathered, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (gathered <= INT_MAX)
        return SL_OK;
    long fit = (long)(INT_MAX / c->spl_len / (size_t)c->size);
    if (fit > 0)
        return sl_error_root(
            c->comm, SL_ERR_USAGE,
            "--samples %ld on %d ranks gathers up to %llu bytes of samples, more than one MPI "
            "message holds (2^31-1); use --samples %ld or fewer",
            per, c->size, (unsigned long long)gathered, fit);
    return sl_error_root(c->comm, SL_ERR_USAGE,
                         "--samples %ld on %d ranks gathers up to %llu bytes of samples, more than one MPI "
                         "message holds (2^31-1), and so would one sample per rank of %zu-byte keys; leave "
                         "--samples out (automatic: one sample on some of the ranks)",
                         per, c->size, (unsigned long long)gathered, c->spl_len - 8);
}

/* Collective: choose size-1 splitters from blocks of samples on every rank
 * (check_samples() has passed). A rank reads min(64, per) blocks of up to
 * per / blocks samples: per at most. */
static sl_status_t sample(sctx_t *c)
{
    long per = samples_per_rank(c);
    /* Automatic, and not even one sample per rank fits one message: the
     * INT_MAX / (key + 8) that do are spread over the ranks, one on each
     * of those that take one. */
    const int sparse = c->o->samples <= 0 && per == 0;
    if (sparse) {
        const uint64_t fit = INT_MAX / c->spl_len, r = (uint64_t)c->rank, P = (uint64_t)c->size;
        per = (long)((r + 1) * fit / P - r * fit / P);
    }
    uint64_t nblk = c->my_cnt < 64 ? c->my_cnt : 64;
    if (c->o->local && c->nrec && !sparse)
        /* --local shares differ in size: each rank samples in proportion
         * to its share (per x ranks in all, as check_samples allows), or
         * the keys of a small share would weigh as much in the splitters
         * as a large one's. */
        per = (long)((unsigned __int128)per * (unsigned)c->size * c->my_cnt / c->nrec);
    if (nblk > (uint64_t)per)
        nblk = (uint64_t)per;
    /* m samples from each block (at least 1: nblk <= per); the buffers
     * take no more than a block holds, bmax records, where that is fewer
     * (a small share of 1 MiB records). */
    const uint64_t m = nblk ? (uint64_t)per / nblk : 0, bmax = nblk ? (c->my_cnt + nblk - 1) / nblk : 0;
    const uint64_t mb = m < bmax ? m : bmax;
    const size_t R = c->R, SPL = c->spl_len, L = c->g.len;
    unsigned char *mine = malloc((size_t)(nblk * mb) * SPL + 1), *buf = malloc((size_t)mb * R + 1);
    uint64_t have = 0;
    sl_status_t st = mine && buf ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory for samples");
    for (uint64_t b = 0; st == SL_OK && b < nblk; b++) {
        uint64_t lo = c->my_off + b * c->my_cnt / nblk, hi = c->my_off + (b + 1) * c->my_cnt / nblk;
        uint64_t k = hi - lo < m ? hi - lo : m;
        st = sl_filelist_read(c->fl, (lo - c->my_off + c->fbase) * R, buf, (size_t)k * R);
        for (uint64_t i = 0; st == SL_OK && i < k; i++, have++) {
            memcpy(mine + have * SPL, buf + i * R + c->g.off, L);
            put_be64(mine + have * SPL + L, lo + i);
        }
    }
    free(buf);
    st = sl_agree(c->comm, st);
    if (st != SL_OK) {
        free(mine);
        return st;
    }
    int n = (int)(have * SPL), *cnt = malloc(sizeof(int) * (size_t)c->size),
        *dis = malloc(sizeof(int) * (size_t)c->size);
    MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, c->comm);
    uint64_t tot = 0; /* at most gathered: each fits an int */
    for (int r = 0; r < c->size; r++) {
        dis[r] = (int)tot;
        tot += (uint64_t)cnt[r];
    }
    unsigned char *all = malloc((size_t)tot + 1);
    MPI_Allgatherv(mine, n, MPI_BYTE, all, cnt, dis, MPI_BYTE, c->comm);
    long ns = (long)(tot / SPL);
    qsort_r(all, (size_t)ns, SPL, cmp_spl, (void *)&SPL);
    for (int j = 1; j < c->size; j++) {
        unsigned char *s = c->spl + (size_t)(j - 1) * SPL;
        if (ns)
            memcpy(s, all + (size_t)((long)j * ns / c->size) * SPL, SPL);
        else
            memset(s, 0, SPL);
    }
    free(all);
    free(cnt);
    free(dis);
    free(mine);
    return SL_OK;
}

static sl_status_t part_path(const sctx_t *c, int p, char *buf, size_t len, int tmp)
{
    int k =
        snprintf(buf, len, "%s/part-%0*d%s", c->o->output, sl_sort_rank_width(c->size), p, tmp ? ".tmp" : "");
    if (k < 0 || (size_t)k >= len)
        return sl_error(SL_ERR_INVALID, "output path too long");
    return SL_OK;
}

static sl_status_t runsman_path(const sctx_t *c, int p, char *buf, size_t len)
{
    int k = snprintf(buf, len, "%s/" RUNSMAN "%0*d", c->o->output, sl_sort_rank_width(c->size), p);
    if (k < 0 || (size_t)k >= len)
        return sl_error(SL_ERR_INVALID, "output path too long");
    return SL_OK;
}

/* The characters before a partition's number in name: 5 for part-N, the
 * prefix's for a run manifest, 0 for neither. */
static size_t numbered_prefix(const char *name)
{
    size_t k = !strncmp(name, "part-", 5)                 ? 5
               : !strncmp(name, RUNSMAN, strlen(RUNSMAN)) ? strlen(RUNSMAN)
                                                          : 0;
    return k && name[k] >= '0' && name[k] <= '9' ? k : 0;
}

/* Names in OUTDIR that a sort creates, replaces or removes: partitions (any
 * number: those beyond the rank count are removed), run manifests, their
 * temporary names, the summary and the manifest. */
static int outdir_owns(const char *name)
{
    if (!strcmp(name, "summary.json") || !strcmp(name, "summary.json.tmp") || !strcmp(name, MANIFEST) ||
        !strcmp(name, MANIFEST ".tmp") || !strcmp(name, MAPFILE) || !strcmp(name, MAPFILE ".tmp"))
        return 1;
    size_t k = numbered_prefix(name);
    if (!k)
        return 0;
    const char *p = name + k;
    while (*p >= '0' && *p <= '9')
        p++;
    return !*p || !strcmp(p, ".tmp");
}

/* Local: an input (after symbolic links) that is one of the names the sort
 * writes or removes in OUTDIR is refused, naming it: inputs are never
 * modified, and a partition beyond the rank count would be removed before
 * it is read. */
static sl_status_t check_inputs_outside(const sctx_t *c)
{
    struct stat od;
    if (stat(c->o->output, &od) != 0)
        return SL_OK; /* not there: nothing in it (sl_mkdirs reports) */
    for (int i = 0; i < c->fl->n; i++) {
        char real[PATH_MAX];
        if (!realpath(c->fl->path[i], real))
            continue; /* the read names it */
        char *slash = strrchr(real, '/'), base[NAME_MAX + 1];
        snprintf(base, sizeof base, "%s", slash + 1);
        slash[slash == real] = '\0'; /* real: the directory ("/" stays) */
        struct stat dd;
        if (!outdir_owns(base) || stat(real, &dd) != 0 || dd.st_dev != od.st_dev || dd.st_ino != od.st_ino)
            continue;
        return sl_error(
            SL_ERR_INVALID,
            "input '%s' is '%s' in --output '%s', which this sort replaces or removes (inputs are "
            "never modified): sort into another directory",
            c->fl->path[i], base, c->o->output);
    }
    return SL_OK;
}

/* An --input directory that is --output itself: its summary.json and
 * partitions would be read as records (it was refused only for
 * summary.json's size, which is no multiple of the record size). */
static sl_status_t input_not_outdir(const char *const *in, int n, const char *out)
{
    struct stat od, id;
    if (stat(out, &od) != 0)
        return SL_OK;
    for (int i = 0; i < n; i++)
        if (stat(in[i], &id) == 0 && S_ISDIR(id.st_mode) && id.st_dev == od.st_dev && id.st_ino == od.st_ino)
            return sl_error(SL_ERR_INVALID,
                            "--input '%s' is the --output directory '%s' (inputs are never modified): sort "
                            "into another directory",
                            in[i], out);
    return SL_OK;
}

static int cmp_devino(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] != y[1] ? (x[1] < y[1] ? -1 : 1) : 0;
}

/* Collective over node (the ranks of one node; rank is this rank's in
 * c->comm): with --local, a non-empty file that two ranks of one node
 * read (IN without %r, or a file beside in.%r) would be sorted once per
 * rank, every record twice: refused, by the higher rank, naming the file
 * and the lower rank. */
static sl_status_t local_inputs_distinct(const sctx_t *c, MPI_Comm node)
{
    int lrank, lsize;
    MPI_Comm_rank(node, &lrank);
    MPI_Comm_size(node, &lsize);
    /* (dev, ino, index in fl, world rank) of each non-empty input */
    uint64_t *mine = malloc(4 * sizeof(uint64_t) * (size_t)(c->fl->n + 1));
    int *cnt = malloc(sizeof(int) * (size_t)lsize), *dis = malloc(sizeof(int) * (size_t)lsize);
    int ok = mine && cnt && dis, n = 0;
    for (int i = 0; ok && i < c->fl->n; i++) {
        struct stat sb;
        if (c->fl->size[i] == 0 || stat(c->fl->path[i], &sb) != 0)
            continue;
        uint64_t *e = mine + 4 * (size_t)n++;
        e[0] = (uint64_t)sb.st_dev;
        e[1] = (uint64_t)sb.st_ino;
        e[2] = (uint64_t)i;
        e[3] = (uint64_t)c->rank;
    }
    int len = 4 * n, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
    sl_status_t st = SL_OK;
    if (!all_ok) {
        st = ok ? SL_ERR_PEER : sl_error(SL_ERR_NOMEM, "out of memory");
        goto done;
    }
    MPI_Allgather(&len, 1, MPI_INT, cnt, 1, MPI_INT, node);
    long below = 0, tot = 0; /* entries of lower local ranks, come first */
    for (int r = 0; r < lsize; r++) {
        dis[r] = (int)tot;
        tot += cnt[r];
        if (r < lrank)
            below += cnt[r];
    }
    uint64_t *all = malloc(sizeof(uint64_t) * (size_t)(tot + 1));
    ok = all != NULL;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
    if (!all_ok) {
        free(all);
        st = ok ? SL_ERR_PEER : sl_error(SL_ERR_NOMEM, "out of memory");
        goto done;
    }
    MPI_Allgatherv(mine, len, MPI_UINT64_T, all, cnt, dis, MPI_UINT64_T, node);
    qsort(all, (size_t)(below / 4), 4 * sizeof(uint64_t), cmp_devino);
    for (int k = 0; k < n && st == SL_OK; k++) {
        const uint64_t *f =
            bsearch(mine + 4 * (size_t)k, all, (size_t)(below / 4), 4 * sizeof(uint64_t), cmp_devino);
        if (f)
            st = sl_error(SL_ERR_INVALID,
                          "--local: input '%s' is the file rank %llu reads too (on this node): its records "
                          "would be sorted twice; each rank needs its own files (%%r in IN is the rank)",
                          c->fl->path[mine[4 * (size_t)k + 2]], (unsigned long long)f[3]);
    }
    free(all);
done:
    free(mine);
    free(cnt);
    free(dis);
    return st;
}

/* Local: the runs an earlier, killed run (or runs) of this sort had
 * spilled to dir are removed: they are named with the token in the
 * manifest, another sort's with another. Each rank removes every rank's:
 * --tmp may be node-local, and the rank that spilled a run there may run
 * on another node now (or not at all: a run on fewer ranks), so every rank
 * looks, and those sharing a directory race harmlessly. Called before any
 * rank of this run spills (a resume spills under the same token). Best
 * effort: a run left is only space. only_rank >= 0: only that rank's (a
 * resume from runs keeps the others'), and not those its run manifest
 * lists (c->runs, c->nlisted). */
/* Local: whether a file named name is one of the runs c->runs lists
 * first, which a run manifest names (c->nlisted). */
static int run_listed(const sctx_t *c, const char *name)
{
    for (int i = 0; i < c->nlisted; i++) {
        const char *b = strrchr(c->runs[i].path, '/');
        if (!strcmp(b ? b + 1 : c->runs[i].path, name))
            return 1;
    }
    return 0;
}

static void remove_stale_runs(const sctx_t *c, uint64_t token, const char *dir, int only_rank)
{
    char prefix[64];
    int k = snprintf(prefix, sizeof prefix, "sluice-run-%llu-", (unsigned long long)token);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)k))
            continue;
        char *end;
        long rk = strtol(e->d_name + k, &end, 10);
        if (end == e->d_name + k || *end != '-' || rk < 0 || (only_rank >= 0 && rk != only_rank) ||
            run_listed(c, e->d_name))
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%.3000s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* unlink(path), where a name that is not there is no error: on a read-only
 * file system unlink fails with EROFS even then, and the error would blame
 * an earlier run that never was. */
static int unlink_gone(const char *path)
{
    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    int e = errno;
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT)
        return 0;
    errno = e;
    return -1;
}

/* Local: removes what an earlier run left in OUTDIR (what outdir_owns
 * names, but the manifest): only its part-* and run manifests with
 * parts_only; part-N or the run manifest of partition N of a rank of this
 * run is kept with keep_mine, and otherwise removed on a best effort (its
 * rank names what is in the way when it writes). */
static void runs_manifest_unlink_file(const char *path, long part);

static sl_status_t remove_earlier(const sctx_t *c, int parts_only, int keep_mine)
{
    DIR *d = opendir(c->o->output);
    if (!d)
        return sl_error(SL_ERR_IO, "cannot list --output '%s': %s", c->o->output, strerror(errno));
    sl_status_t st = SL_OK;
    struct dirent *e;
    while (st == SL_OK && (e = readdir(d))) {
        size_t pre = numbered_prefix(e->d_name);
        int part = pre != 0;
        if (!outdir_owns(e->d_name) || !strcmp(e->d_name, MANIFEST) || !strcmp(e->d_name, MANIFEST ".tmp") ||
            (parts_only && !part))
            continue;
        int mine = 0; /* part-N (or its run manifest) of a rank of this run */
        if (part) {
            errno = 0;
            unsigned long long p = strtoull(e->d_name + pre, NULL, 10);
            mine = errno == 0 && p < (unsigned long long)c->size;
        }
        if (mine && keep_mine)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%.3000s/%s", c->o->output, e->d_name);
        /* a run manifest's runs go with it (those of a partition beyond
         * this run's ranks stayed in a --tmp no later run looks in) */
        size_t len = strlen(e->d_name);
        if (pre == strlen(RUNSMAN) && strcmp(e->d_name + len - 4, ".tmp"))
            runs_manifest_unlink_file(path, strtol(e->d_name + pre, NULL, 10));
        if (unlink_gone(path) != 0 && !mine)
            st = sl_error(SL_ERR_IO, "cannot remove the earlier run's '%s': %s", path, strerror(errno));
    }
    closedir(d);
    return st;
}

/* Rank 0 of a fresh run: partitions of an earlier run with more ranks
 * would join this run's under part-* and corrupt the output's order:
 * remove every part-N and part-N.tmp (left by a kill) with N >= ranks,
 * whether or not those below are there; and those below, which no rank of
 * this run has written yet: with a node-local OUTDIR, part-N of an earlier
 * run whose rank N was on rank 0's node, while this run's rank N writes
 * its own on another node, stayed (and a --resume with rank N back here
 * kept it as this run's). Those below are best effort: where one cannot be
 * removed (a directory in the way), rank N names the error itself when it
 * writes its partition, or removes its own at the start. */
static sl_status_t remove_extra_parts(const sctx_t *c)
{
    return remove_earlier(c, 1, 0);
}

/* Local, once rank 0's manifest of this run is written: OUTDIR may be
 * node-local (it is made on every rank), and rank 0 cleans only its own
 * node's. A rank that does not see this run's manifest in OUTDIR has
 * another directory under that name, which nobody else cleans: it removes
 * the summary.json an earlier run left there and partitions that are not
 * this run's: in a fresh run every part-N and part-N.tmp (no partition of
 * this run is written yet; ranks that share the directory race
 * harmlessly), in a resume those beyond the rank count, which kept
 * partitions never are. Rank 0's directory, where the manifest is, is
 * rank 0's to clean, so a shared OUTDIR is not listed by every rank. */
static sl_status_t clean_other_outdir(const sctx_t *c, int fresh)
{
    char path[4200];
    snprintf(path, sizeof path, "%.3000s/%s", c->o->output, MANIFEST);
    unsigned char h[40];
    uint64_t tok = 0;
    FILE *f = fopen(path, "rb");
    if (f && fread(h, 1, sizeof h, f) == sizeof h && !memcmp(h, MAGIC, 8))
        memcpy(&tok, h + 32, 8);
    if (f)
        fclose(f);
    if (tok == c->token)
        return SL_OK;
    return remove_earlier(c, 0, !fresh);
}

/* Local, at a stop during the merge, once every run of c->runs is on disk
 * (fsync'd): OUTDIR/RUNSMAN<rank> names them, with what the resume checks
 * them by: the sort (token, inputs' fingerprint, ranks, records, record
 * size), the partition and its record count, each run's records, bytes and
 * absolute path. Written under a temporary name, fsync'd and renamed. */
static sl_status_t runs_manifest_write(const sctx_t *c, uint64_t cut)
{
    char path[4200];
    SL_TRY(runsman_path(c, c->rank, path, sizeof path));
    size_t cap = 512 + (size_t)c->nruns * (PATH_MAX + 64), k = 0;
    char *b = malloc(cap);
    if (!b)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    uint64_t tot = 0;
    for (int i = 0; i < c->nruns; i++)
        tot += c->runs[i].nrec;
    k += (size_t)snprintf(b + k, cap - k,
                          RUNSMAGIC "\ntoken %llu\nfingerprint %llu\nranks %d\nrecords %llu\nrecord_size %u\n"
                                    "partition %d\npartition_records %llu\nruns %d\n",
                          (unsigned long long)c->token, (unsigned long long)c->fp, c->size,
                          (unsigned long long)c->nrec, (unsigned)c->g.rec, c->rank, (unsigned long long)tot,
                          c->nruns);
    if (cut) /* the runs hold what the map sent this partition up to the stop cut (MAPFILE) */
        k += (size_t)snprintf(b + k, cap - k, "cut %llu\n", (unsigned long long)cut);
    sl_status_t st = SL_OK;
    for (int i = 0; st == SL_OK && i < c->nruns; i++) {
        char real[PATH_MAX];
        if (!realpath(c->runs[i].path, real))
            st = sl_error(SL_ERR_IO, "cannot resolve run '%s': %s", c->runs[i].path, strerror(errno));
        else if (strchr(real, '\n'))
            st = sl_error(SL_ERR_INVALID, "run '%s': a newline in its path cannot be listed in '%s'", real,
                          path);
        else
            k += (size_t)snprintf(b + k, cap - k, "run %llu %llu %s\n", (unsigned long long)c->runs[i].nrec,
                                  (unsigned long long)(c->runs[i].nrec * c->R), real);
    }
    if (st == SL_OK) {
        k += (size_t)snprintf(b + k, cap - k, "end\n");
        st = sl_file_write_atomic(path, b, k);
    }
    free(b);
    return st;
}

/* Why a rank's partition cannot be merged from runs at a resume. */
enum {
    RUNS_OK = 0,  /* complete, or its runs are all there */
    RUNS_NONE,    /* no run manifest: killed, or stopped before the merge */
    RUNS_OTHER,   /* a run manifest of another sort or partition */
    RUNS_BAD,     /* not a run manifest this version reads */
    RUNS_MISSING, /* a run it lists is gone */
    RUNS_SIZE,    /* a run it lists is not of its recorded size */
    RUNS_NREASONS
};

static const char *runs_reason(int why)
{
    static const char *s[RUNS_NREASONS] = {
        "",
        "it has no run manifest: the earlier run was killed, or stopped before its merge",
        "its run manifest is of another sort",
        "its run manifest cannot be read",
        "a run its run manifest lists is missing",
        "a run its run manifest lists is not of the recorded size"};
    return why >= 0 && why < RUNS_NREASONS ? s[why] : "";
}

/* Local: the run manifest of this rank's partition, if any, as runs
 * (malloc'd paths; the caller frees them and the array) for token.
 * Returns RUNS_OK with *n_p runs, or why not. Only files named like this
 * sort's runs of this rank are taken: a resumed merge removes them. */
static int runs_manifest_read(const sctx_t *c, uint64_t token, sl_run_t **runs_p, int *n_p, uint64_t *tot_p,
                              uint64_t *cut_p)
{
    char path[4200];
    *runs_p = NULL;
    *n_p = 0;
    if (runsman_path(c, c->rank, path, sizeof path) != SL_OK)
        return RUNS_BAD;
    FILE *f = fopen(path, "r");
    if (!f)
        return RUNS_NONE;
    char line[PATH_MAX + 128], prefix[96];
    snprintf(prefix, sizeof prefix, "sluice-run-%llu-%d-", (unsigned long long)token, c->rank);
    unsigned long long tok = 0, fp = 0, nrec = 0, tot = 0, rec = 0, sum = 0, cut = 0;
    int ranks = -1, part = -1, nruns = -1, n = 0, why = RUNS_OK, ended = 0;
    sl_run_t *runs = NULL;
    if (!fgets(line, sizeof line, f) || strcmp(line, RUNSMAGIC "\n"))
        why = RUNS_BAD;
    while (why == RUNS_OK && !ended && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (!len || line[len - 1] != '\n') {
            why = RUNS_BAD;
            break;
        }
        line[len - 1] = '\0';
        unsigned long long a, b;
        int at = 0;
        if (sscanf(line, "token %llu", &tok) == 1 || sscanf(line, "fingerprint %llu", &fp) == 1 ||
            sscanf(line, "ranks %d", &ranks) == 1 || sscanf(line, "records %llu", &nrec) == 1 ||
            sscanf(line, "record_size %llu", &rec) == 1 || sscanf(line, "partition %d", &part) == 1 ||
            sscanf(line, "partition_records %llu", &tot) == 1 || sscanf(line, "cut %llu", &cut) == 1)
            continue;
        if (sscanf(line, "runs %d", &nruns) == 1) {
            if (nruns < 0 || nruns > (1 << 24) || runs || !(runs = calloc((size_t)nruns + 1, sizeof *runs)))
                why = RUNS_BAD;
            continue;
        }
        if (!strcmp(line, "end")) {
            ended = 1;
            continue;
        }
        if (sscanf(line, "run %llu %llu %n", &a, &b, &at) != 2 || !at || !runs || n >= nruns) {
            why = RUNS_BAD;
            break;
        }
        const char *rp = line + at, *base = strrchr(rp, '/');
        base = base ? base + 1 : rp;
        if (tok != token || part != c->rank) {
            why = RUNS_OTHER;
            break;
        }
        if (strncmp(base, prefix, strlen(prefix)) || b != a * c->R) {
            why = RUNS_BAD;
            break;
        }
        struct stat sb;
        if (stat(rp, &sb) != 0 || !S_ISREG(sb.st_mode))
            why = RUNS_MISSING;
        else if ((uint64_t)sb.st_size != b)
            why = RUNS_SIZE;
        else if (!(runs[n].path = strdup(rp)))
            why = RUNS_BAD;
        else
            runs[n++].nrec = a;
        sum += a;
    }
    fclose(f);
    if (why == RUNS_OK && (tok != token || part != c->rank || ranks != c->size || fp != c->fp ||
                           nrec != c->nrec || rec != c->g.rec))
        why = RUNS_OTHER;
    if (why == RUNS_OK && (!ended || n != nruns || sum != tot))
        why = RUNS_BAD;
    if (why != RUNS_OK) {
        for (int i = 0; i < n; i++)
            free((char *)runs[i].path);
        free(runs);
        return why;
    }
    *runs_p = runs;
    *n_p = n;
    *tot_p = tot;
    *cut_p = cut;
    return RUNS_OK;
}

/* Local: unlink every run the run manifest path (of partition part) lists
 * that is still there and named like the runs of that rank of the sort the
 * run manifest belongs to (its token line): before the run manifest itself
 * goes; runs_manifest_unlink: this rank's. A
 * resumed merge killed between its partition's rename and the removal of
 * its runs left them in the --tmp of the run that stopped, which neither
 * this run's --tmp nor the killed run's (the manifest's) need be: they
 * stayed for good. */
static void runs_manifest_unlink_file(const char *path, long part)
{
    char line[PATH_MAX + 128], prefix[96] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        int at = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "token %llu", &a) == 1)
            snprintf(prefix, sizeof prefix, "sluice-run-%llu-%ld-", a, part);
        if (!prefix[0] || sscanf(line, "run %llu %llu %n", &a, &b, &at) != 2 || !at)
            continue;
        const char *rp = line + at, *base = strrchr(rp, '/');
        base = base ? base + 1 : rp;
        if (!strncmp(base, prefix, strlen(prefix)))
            unlink(rp);
    }
    fclose(f);
}

static void runs_manifest_unlink(const sctx_t *c)
{
    char path[4200];
    if (runsman_path(c, c->rank, path, sizeof path) == SL_OK)
        runs_manifest_unlink_file(path, c->rank);
}

/* Local: unlink the runs (names checked by runs_manifest_read) and free them. */
static void runs_remove(sl_run_t *runs, int n, int unlink_them)
{
    for (int i = 0; i < n; i++) {
        if (unlink_them)
            unlink(runs[i].path);
        free((char *)runs[i].path);
    }
    free(runs);
}

/* Rank 0, once every rank kept its runs at a stop during the map: the
 * map file of stop cut. sh: per rank, its share's offset, count and
 * records mapped; kp: per partition, known, count and sum (or NULL). */
static sl_status_t mapfile_write(const sctx_t *c, uint64_t cut, const uint64_t *sh, const uint64_t *kp)
{
    char path[4200];
    snprintf(path, sizeof path, "%.3000s/%s", c->o->output, MAPFILE);
    size_t cap = 256 + (size_t)c->size * 140, k = 0;
    char *b = malloc(cap);
    if (!b)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    k += (size_t)snprintf(b + k, cap - k, MAPMAGIC "\ncut %llu\ntoken %llu\nranks %d\n",
                          (unsigned long long)cut, (unsigned long long)c->token, c->size);
    for (int r = 0; r < c->size; r++)
        k += (size_t)snprintf(b + k, cap - k, "share %llu %llu %llu\n", (unsigned long long)sh[3 * r],
                              (unsigned long long)sh[3 * r + 1], (unsigned long long)sh[3 * r + 2]);
    for (int p = 0; kp && p < c->size; p++)
        if (kp[3 * p])
            k += (size_t)snprintf(b + k, cap - k, "kept %d %llu %llu\n", p, (unsigned long long)kp[3 * p + 1],
                                  (unsigned long long)kp[3 * p + 2]);
    k += (size_t)snprintf(b + k, cap - k, "end\n");
    sl_status_t st = sl_file_write_atomic(path, b, k);
    free(b);
    return st;
}

/* Rank 0: 0, with sh and kp (3 values per rank and per partition, as
 * mapfile_write's; kp zeroed first) filled, if OUTDIR's map file is of
 * stop cut of the sort of token (and this rank count); else -1. */
static int mapfile_read(const sctx_t *c, uint64_t token, uint64_t cut, uint64_t *sh, uint64_t *kp)
{
    char path[4200], line[160];
    snprintf(path, sizeof path, "%.3000s/%s", c->o->output, MAPFILE);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    memset(kp, 0, sizeof(uint64_t) * 3 * (size_t)c->size);
    unsigned long long fcut = 0, tok = 0, a, b, d;
    int ranks = -1, n = 0, ended = 0, p, ok = fgets(line, sizeof line, f) && !strcmp(line, MAPMAGIC "\n");
    while (ok && !ended && fgets(line, sizeof line, f)) {
        if (sscanf(line, "cut %llu", &fcut) == 1 || sscanf(line, "token %llu", &tok) == 1 ||
            sscanf(line, "ranks %d", &ranks) == 1)
            continue;
        if (sscanf(line, "share %llu %llu %llu", &a, &b, &d) == 3 && n < c->size) {
            sh[3 * n] = a;
            sh[3 * n + 1] = b;
            sh[3 * n++ + 2] = d;
        } else if (sscanf(line, "kept %d %llu %llu", &p, &a, &b) == 3 && p >= 0 && p < c->size) {
            kp[3 * p] = 1;
            kp[3 * p + 1] = a;
            kp[3 * p + 2] = b;
        } else if (!strcmp(line, "end\n")) {
            ended = 1;
        } else {
            ok = 0;
        }
    }
    fclose(f);
    return ok && ended && fcut == cut && tok == token && ranks == c->size && n == c->size ? 0 : -1;
}

/* Rank 0: the map file goes (a resume that does not continue from it, a
 * fresh run, a sort complete). */
static void mapfile_unlink(const sctx_t *c)
{
    char path[4200];
    snprintf(path, sizeof path, "%.3000s/%s", c->o->output, MAPFILE);
    unlink_gone(path);
    snprintf(path, sizeof path, "%.3000s/%s.tmp", c->o->output, MAPFILE); /* a kill while it was written */
    unlink_gone(path);
}

/* Local: the number in the name of run path (sluice-run-TOKEN-RANK-N),
 * or -1. */
static long run_seq(const char *path)
{
    const char *d = strrchr(path, '-');
    char *end;
    long v = d ? strtol(d + 1, &end, 10) : -1;
    return d && end != d + 1 && !*end ? v : -1;
}

/* Collective, at a resume (the manifest matched; token is its): what of the
 * earlier runs' work is kept. Each rank's partition is complete (part-N)
 * or its run manifest lists runs that are all there with their recorded
 * sizes. If every partition is one or the other:
 *  - run manifests of a stop during the merge (no cut line): the map is
 *    skipped (c->from_runs on every rank);
 *  - run manifests all of the same stop during the map (cut ID) and the map
 *    file of that stop: each rank's map starts where that stop left its
 *    share (c->skip), and the runs hold the records sent before (c->cut);
 * and a rank with runs takes them into c->runs (c->mine_runs). Otherwise the
 * map runs again: run manifests are removed with the runs they list, and
 * rank 0 says why for the lowest such partition. A complete partition's
 * leftover run manifest (a kill between its rename and the removal) goes
 * too (its runs: remove_stale_runs), and the map file unless the map
 * continues from it. */
static sl_status_t runs_decide(sctx_t *c, uint64_t token)
{
    char pp[4200], rm[4200];
    SL_TRY(part_path(c, c->rank, pp, sizeof pp, 0));
    SL_TRY(runsman_path(c, c->rank, rm, sizeof rm));
    int done = access(pp, F_OK) == 0, n = 0, why = RUNS_OK;
    uint64_t tot = 0, cut = 0;
    {
        char t[4300]; /* a kill while this rank wrote its run manifest */
        snprintf(t, sizeof t, "%s.tmp", rm);
        unlink_gone(t);
    }
    sl_run_t *runs = NULL;
    if (!done)
        why = runs_manifest_read(c, token, &runs, &n, &tot, &cut);
    int present = access(rm, F_OK) == 0;
    /* lowest rank that is neither, with its reason; any rank with runs; any run manifest */
    int in[3] = {why == RUNS_OK ? INT_MAX : c->rank * RUNS_NREASONS + why, !done && why == RUNS_OK, present},
        out[3];
    MPI_Allreduce(in, out, 1, MPI_INT, MPI_MIN, c->comm);
    MPI_Allreduce(in + 1, out + 1, 2, MPI_INT, MPI_MAX, c->comm);
    /* the stop the runs are of, the same on every rank with runs: the
     * least cut and the greatest (as the least of its complement) */
    int mine = !done && why == RUNS_OK;
    uint64_t cin[2] = {mine ? cut : UINT64_MAX, mine ? ~cut : UINT64_MAX}, cmm[2];
    MPI_Allreduce(cin, cmm, 2, MPI_UINT64_T, MPI_MIN, c->comm);
    int usable = out[0] == INT_MAX && out[1], mixed = usable && cmm[0] != ~cmm[1], mapok = 1;
    sl_status_t st = SL_OK;
    /* a stop during the map: the map file of that stop; each rank's share
     * must be the one it had (the same split of the inputs: --local with
     * other files would map other records after the kept ones) */
    uint64_t *sh = NULL, *kp = NULL;
    int othershare = 0;
    if (usable && !mixed && cmm[0] != 0) {
        sh = calloc(3 * (size_t)c->size, sizeof *sh);
        kp = calloc(3 * (size_t)c->size, sizeof *kp);
        if ((st = sl_agree(c->comm, sh && kp ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory"))) != SL_OK) {
            free(sh);
            free(kp);
            runs_remove(runs, n, 0);
            return st;
        }
        int ok = c->rank == 0 ? mapfile_read(c, token, cmm[0], sh, kp) == 0 : 1, bad, nbad = 0;
        MPI_Bcast(&ok, 1, MPI_INT, 0, c->comm);
        if (ok) {
            MPI_Bcast(sh, 3 * c->size, MPI_UINT64_T, 0, c->comm);
            MPI_Bcast(kp, 3 * c->size, MPI_UINT64_T, 0, c->comm);
        }
        const uint64_t *m = sh + 3 * c->rank;
        bad = ok && (m[0] != c->my_off || m[1] != c->my_cnt || m[2] > c->my_cnt);
        MPI_Allreduce(&bad, &nbad, 1, MPI_INT, MPI_MAX, c->comm);
        mapok = ok && !nbad;
        othershare = ok && nbad;
    }
    int keep = usable && !mixed && mapok;
    if (keep) {
        if (cmm[0] == 0) {
            c->from_runs = 1;
            SL_INFO0(
                "sort: --resume: the merge continues from the runs an earlier run kept at a stop; the map "
                "is skipped");
        } else {
            c->cut = cmm[0];
            c->skip = c->mapped = sh[3 * c->rank + 2];
            for (int r = 0; r < c->size; r++)
                c->skipped += sh[3 * r + 2];
            c->kpre = kp;
            kp = NULL;
            SL_INFO0(
                "sort: --resume: the map continues where a stop left it: %llu of %llu records were mapped "
                "and are kept in runs; the rest is read",
                (unsigned long long)c->skipped, (unsigned long long)c->nrec);
        }
        if (!done) {
            c->runs = runs;
            c->nruns = c->runcap = c->nlisted = n;
            c->runs_nrec = tot;
            c->mine_runs = 1;
            /* runs this run spills are numbered after the kept ones */
            for (int i = 0; i < n; i++) {
                long q = run_seq(runs[i].path);
                if (q >= c->runs_total)
                    c->runs_total = (int)q + 1;
            }
            /* what is still to come to this rank: the reducer keeps a buffer for the merge by it */
            c->expect = c->expect > tot ? c->expect - tot : 0;
            runs = NULL;
        }
    } else if (mixed) {
        SL_INFO0(
            "sort: --resume: the run manifests are of different stops (a stop while ranks kept their runs "
            "at another): the map runs again");
    } else if (othershare) {
        SL_INFO0(
            "sort: --resume: the runs kept at a stop during the map cannot be used (the inputs are split "
            "across the ranks otherwise than at the stop: --local with other files?): the map runs again");
    } else if (!mapok) {
        SL_INFO0(
            "sort: --resume: the runs kept at a stop during the map cannot be used (%s/%s, which says how "
            "far the map went, is missing or of another stop): the map runs again",
            c->o->output, MAPFILE);
    } else if (out[0] != INT_MAX && (out[2] || out[1])) {
        SL_INFO0("sort: --resume: partition %d cannot be merged from spilled runs (%s): the map runs again",
                 out[0] / RUNS_NREASONS, runs_reason(out[0] % RUNS_NREASONS));
    } else if (out[0] != INT_MAX) {
        SL_VERBOSE0(
            "sort: --resume: partition %d cannot be merged from spilled runs (%s): the map runs again",
            out[0] / RUNS_NREASONS, runs_reason(out[0] % RUNS_NREASONS));
    }
    free(sh);
    free(kp);
    if (!keep || done) {
        runs_remove(runs, n, 1);
        if (present)
            runs_manifest_unlink(c);
        if (present && unlink_gone(rm) != 0)
            st = sl_error(SL_ERR_IO, "cannot remove the earlier run's '%s': %s", rm, strerror(errno));
    }
    if (c->rank == 0 && !c->cut)
        mapfile_unlink(c);
    return sl_agree(c->comm, st);
}

/* Collective: a fingerprint of the inputs for the manifest, so that
 * --resume with other inputs of the same record count is refused: the sum,
 * weighted by their index, of the CRC32s of FP_RECS + 1 records (with their
 * global positions) spread evenly over the whole input, each read by the
 * rank whose share holds it. */
static sl_status_t fingerprint(const sctx_t *c, uint64_t *fp_p)
{
    uint64_t fp = 0;
    sl_status_t st = SL_OK;
    unsigned char *rec = NULL; /* one record: up to SL_SORT_REC_MAX bytes */
    for (int k = 0; st == SL_OK && c->nrec && k <= FP_RECS; k++) {
        uint64_t g = (uint64_t)((unsigned __int128)(c->nrec - 1) * (unsigned)k / FP_RECS);
        unsigned char pos[8];
        if (g < c->my_off || g - c->my_off >= c->my_cnt)
            continue;
        if (!rec && !(rec = malloc(c->R))) {
            st = sl_error(SL_ERR_NOMEM, "out of memory");
            break;
        }
        st = sl_filelist_read(c->fl, (g - c->my_off + c->fbase) * c->R, rec, c->R);
        put_be64(pos, g);
        fp += (uint64_t)crc32(crc32(0L, pos, 8), rec, (uInt)c->R) * (2 * (uint64_t)k + 1);
    }
    free(rec);
    SL_TRY(sl_agree(c->comm, st));
    MPI_Allreduce(&fp, fp_p, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    return SL_OK;
}

/* Collective: splitters from the manifest when resuming, else sampled and
 * recorded; which partitions are already complete. The manifest: MAGIC,
 * ranks, records, the inputs' fingerprint, the token of the runs' names,
 * the record size, key offset and key length (8 bytes each but MAGIC's 8
 * characters: MHDR in all), then the splitters, then the directory the
 * runs are spilled to (--tmp, or OUTDIR; absolute, no NUL, at most
 * PATH_MAX-1 bytes; absent in manifests of older versions). A resume takes
 * the token of the run it resumes; any run removes the runs spilled under
 * the earlier run's token, in this run's directory and in the earlier
 * run's, which a re-run with another --tmp (or none) did not look in. */
static sl_status_t plan_partitions(sctx_t *c)
{
    char man[4200];
    snprintf(man, sizeof man, "%s/%s", c->o->output, MANIFEST);
    size_t mlen = MHDR + (size_t)(c->size - 1) * c->spl_len;
    uint64_t fp = 0;
    SL_TRY(fingerprint(c, &fp));
    c->fp = fp;
    unsigned char *m = calloc(1, mlen + PATH_MAX);
    int found = 0;
    sl_status_t st = m ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
    uint64_t old = 0; /* the token of an earlier run's spilled runs (its manifest's) */
    /* the directory of those runs (the manifest's), and this run's */
    char oldtmp[PATH_MAX] = "", curtmp[PATH_MAX] = "";
    if (st == SL_OK && c->rank == 0) {
        const char *rundir = c->o->tmp ? c->o->tmp : c->o->output;
        if (!realpath(rundir, curtmp))
            snprintf(curtmp, sizeof curtmp, "%s", rundir);
        FILE *f = fopen(man, "rb");
        size_t k = f ? fread(m, 1, mlen, f) : 0;
        int extra = 0;
        if (f && k >= MHDR && !memcmp(m, MAGIC, 8)) {
            /* the run directory follows the writer's splitters */
            uint64_t P0, L0;
            memcpy(&P0, m + 8, 8);
            memcpy(&L0, m + 56, 8);
            size_t t = 0;
            if (P0 >= 1 && P0 <= INT_MAX && L0 <= SL_SORT_REC_MAX &&
                fseeko(f, (off_t)(MHDR + (P0 - 1) * (L0 + 8)), SEEK_SET) == 0)
                t = fread(oldtmp, 1, sizeof oldtmp - 1, f);
            extra = fgetc(f) != EOF || memchr(oldtmp, '\0', t) != NULL;
            oldtmp[extra ? 0 : t] = '\0';
        } else if (f) {
            extra = fgetc(f) != EOF;
        }
        if (f)
            fclose(f);
        /* The token sits at 32 in this format and in SLSORT02, so an older
         * version's stale runs are removed too. */
        if (k >= 40 && (!memcmp(m, MAGIC, 8) || !memcmp(m, "SLSORT02", 8)))
            memcpy(&old, m + 32, 8);
        if (f && c->o->resume) {
            uint64_t P, N, F, G[3];
            memcpy(&P, m + 8, 8);
            memcpy(&N, m + 16, 8);
            memcpy(&F, m + 24, 8);
            memcpy(G, m + 40, 24);
            if (k >= 8 && !memcmp(m, "SLSORT", 6) && memcmp(m, MAGIC, 8))
                st = sl_error(SL_ERR_MISMATCH,
                              "cannot resume: '%s' was written by another version of sluice sort (format "
                              "%.8s, this one reads %s); run without --resume",
                              man, (const char *)m, MAGIC);
            else if (k >= MHDR && (G[0] != c->g.rec || G[1] != c->g.off || G[2] != c->g.len))
                st = sl_error(SL_ERR_MISMATCH,
                              "cannot resume: '%s' was written by a sort of --record-size %llu --key-offset "
                              "%llu --key-length %llu, not %u/%u/%u; resume with those, or run without "
                              "--resume",
                              man, (unsigned long long)G[0], (unsigned long long)G[1],
                              (unsigned long long)G[2], (unsigned)c->g.rec, (unsigned)c->g.off,
                              (unsigned)c->g.len);
            else if (k != mlen || extra || memcmp(m, MAGIC, 8) || P != (uint64_t)c->size || N != c->nrec ||
                     F != fp)
                st = sl_error(SL_ERR_MISMATCH,
                              "cannot resume: '%s' was written by a sort of other inputs or another rank "
                              "count (%d ranks, %llu records now); run without --resume",
                              man, c->size, (unsigned long long)c->nrec);
            else
                found = 1;
        }
    }
    /* summary.json tells of a complete run (report() writes it at the end):
     * an earlier run's must not stay beside the partitions of this one if
     * this one fails. */
    if (st == SL_OK && c->rank == 0) {
        char sum[4200];
        snprintf(sum, sizeof sum, "%s/summary.json", c->o->output);
        if (unlink_gone(sum) != 0)
            st = sl_error(SL_ERR_IO, "cannot remove the earlier run's '%s': %s", sum, strerror(errno));
        /* what a kill left while rank 0 wrote it (rank 0 alone writes them) */
        snprintf(sum, sizeof sum, "%s/summary.json.tmp", c->o->output);
        unlink_gone(sum);
        snprintf(sum, sizeof sum, "%.3000s/%s.tmp", c->o->output, MANIFEST);
        unlink_gone(sum);
    }
    if ((st = sl_agree(c->comm, st)) != SL_OK) {
        free(m);
        return st;
    }
    MPI_Bcast(&found, 1, MPI_INT, 0, c->comm);
    MPI_Bcast(&old, 1, MPI_UINT64_T, 0, c->comm);
    MPI_Bcast(oldtmp, (int)sizeof oldtmp, MPI_CHAR, 0, c->comm);
    MPI_Bcast(curtmp, (int)sizeof curtmp, MPI_CHAR, 0, c->comm);
    /* Runs a killed earlier run spilled: a resume writes its own under the
     * same token, a fresh run has no use for them. They are looked for in
     * this run's directory and in the one the manifest names (a re-run
     * with another --tmp). */
    const char *rundir = c->o->tmp ? c->o->tmp : c->o->output;
    int moved = oldtmp[0] && strcmp(oldtmp, curtmp) != 0;
    /* A stop kept runs for the resume: if every partition is complete or
     * has them, the map is skipped, or continues where it was stopped, and
     * only the runs no run manifest lists (those of complete partitions, left
     * by a kill after the rename; a killed resume's) are stale. */
    if (found) {
        if ((st = runs_decide(c, old)) != SL_OK) {
            free(m);
            return st;
        }
    }
    if (old) {
        /* resuming from runs, each rank removes only its own, and not those
         * its run manifest lists */
        int only = c->from_runs || c->cut ? c->rank : -1;
        remove_stale_runs(c, old, rundir, only);
        if (moved && !sl_same_file(oldtmp, rundir))
            remove_stale_runs(c, old, oldtmp, only);
    }
    double t0 = sl_now();
    size_t tlen = strlen(curtmp);
    if (found) {
        MPI_Bcast(m, (int)mlen, MPI_BYTE, 0, c->comm);
        memcpy(&c->token, m + 32, 8);
        memcpy(c->spl, m + MHDR, (size_t)(c->size - 1) * c->spl_len);
        /* A resume with another --tmp: the manifest names the new one (after
         * the old one's runs are gone), where this run spills, so that a
         * resume of this run finds them. */
        if (moved || !oldtmp[0]) {
            unsigned char *m2 = c->rank == 0 ? malloc(mlen + tlen) : NULL;
            st = c->rank != 0 || m2 ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
            if (st == SL_OK && c->rank == 0) {
                memcpy(m2, m, mlen);
                memcpy(m2 + mlen, curtmp, tlen);
                st = sl_file_write_atomic(man, m2, mlen + tlen);
            }
            free(m2);
            if ((st = sl_agree(c->comm, st)) != SL_OK) {
                free(m);
                return st;
            }
        }
        if ((st = sl_agree(c->comm, clean_other_outdir(c, 0))) != SL_OK) {
            free(m);
            return st;
        }
    } else {
        /* A fresh run: each rank removes its own partition of an earlier run
         * (OUTDIR may be node-local) before the manifest is written, or a
         * resume of this run after a failure would keep that partition as
         * its own. */
        char own[4200], ownruns[4200];
        st = part_path(c, c->rank, own, sizeof own, 0);
        if (st == SL_OK)
            st = runsman_path(c, c->rank, ownruns, sizeof ownruns);
        if (st == SL_OK && unlink_gone(own) != 0)
            st = sl_error(SL_ERR_IO, "cannot remove the earlier run's '%s': %s", own, strerror(errno));
        /* its run manifest too, and the runs it lists (of the earlier
         * token, wherever that run's --tmp was) */
        if (st == SL_OK)
            runs_manifest_unlink(c);
        if (st == SL_OK && unlink_gone(ownruns) != 0)
            st = sl_error(SL_ERR_IO, "cannot remove the earlier run's '%s': %s", ownruns, strerror(errno));
        st = sl_agree(c->comm, st);
        if (st == SL_OK)
            st = sample(c);
        if (st == SL_OK && c->rank == 0) {
            uint64_t P = (uint64_t)c->size;
            memcpy(m, MAGIC, 8);
            memcpy(m + 8, &P, 8);
            memcpy(m + 16, &c->nrec, 8);
            memcpy(m + 24, &fp, 8);
            memcpy(m + 32, &c->token, 8);
            uint64_t G[3] = {c->g.rec, c->g.off, c->g.len};
            memcpy(m + 40, G, 24);
            memcpy(m + MHDR, c->spl, (size_t)(c->size - 1) * c->spl_len);
            memcpy(m + mlen, curtmp, tlen);
            /* the earlier run's extra partitions go first: a manifest of
             * this run beside them (a kill, or a removal that failed, in
             * between) made --resume keep them as part of the output */
            st = remove_extra_parts(c);
            mapfile_unlink(c);
            if (st == SL_OK)
                st = sl_file_write_atomic(man, m, mlen + tlen);
        }
        if ((st = sl_agree(c->comm, st)) == SL_OK)
            st = sl_agree(c->comm, clean_other_outdir(c, 1));
        if (st != SL_OK) {
            free(m);
            return st;
        }
    }
    c->t_sample = sl_now() - t0;
    free(m);
    int mine = 0;
    if (found) {
        char pp[4200];
        part_path(c, c->rank, pp, sizeof pp, 0);
        mine = access(pp, F_OK) == 0;
    }
    MPI_Allgather(&mine, 1, MPI_INT, c->done, 1, MPI_INT, c->comm);
    int any = 0;
    for (int p = 0; p < c->size; p++)
        any |= c->done[p];
    if (any) {
        c->kin = calloc(2 * (size_t)c->size, sizeof *c->kin);
        SL_TRY(sl_agree(c->comm, c->kin ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory")));
    }
    return SL_OK;
}

/* The gather of sort_emit: records by a piece of the sorted order into the
 * sink's buffers, a buffer handed on whenever it fills. */
typedef struct {
    const unsigned char *buf;
    const sl_merge_sink_t *sink;
    unsigned char *piece; /* the sink's buffer being filled, or NULL */
    uint64_t per, fill;   /* its capacity and fill, in records */
    size_t rec;           /* record size */
} gather_t;

/* The gather of one piece for records of R bytes: inlined with R a
 * constant for the default geometry (the copies inline), else variable. */
static inline __attribute__((always_inline)) sl_status_t gather_piece_r(gather_t *g, const uint32_t *order,
                                                                        uint64_t k, const size_t R)
{
    for (uint64_t i = 0; i < k;) {
        if (!g->piece) {
            size_t cap;
            SL_TRY(g->sink->get(g->sink->arg, &g->piece, &cap));
            g->per = cap / R;
            g->fill = 0;
        }
        uint64_t m = k - i < g->per - g->fill ? k - i : g->per - g->fill;
        unsigned char *out = g->piece + g->fill * R;
        for (uint64_t j = 0; j < m; j++) {
            if (i + j + 16 < k) { /* the gather is latency-bound: fetch ahead */
                const unsigned char *ahead = g->buf + (uint64_t)order[i + j + 16] * R;
                __builtin_prefetch(ahead);
                __builtin_prefetch(ahead + 64);
            }
            memcpy(out + j * R, g->buf + (uint64_t)order[i + j] * R, R);
        }
        g->fill += m;
        i += m;
        if (g->fill == g->per) {
            unsigned char *full = g->piece;
            g->piece = NULL;
            SL_TRY(g->sink->put(g->sink->arg, full, g->per));
        }
    }
    return SL_OK;
}

static sl_status_t gather_piece(void *arg, const uint32_t *order, uint64_t k)
{
    return gather_piece_r(arg, order, k, SL_SORT_REC);
}

static sl_status_t gather_piece_g(void *arg, const uint32_t *order, uint64_t k)
{
    gather_t *g = arg;
    return gather_piece_r(g, order, k, g->rec);
}

/* Sort n records of buf and stream them, in order, into the sink's
 * buffers. keyidx sorts the keys one first byte at a time and gathers each
 * such piece straight into the buffers as soon as it is sorted, so the
 * writes of the sink (a write queue's thread) overlap the rest of the sort,
 * and the buffer is never permuted; radix sorts in place and copies. Adds
 * the sort's seconds to *t_sort. Thread-safe (the spill thread calls it). */
static sl_status_t sort_emit(const sctx_t *c, unsigned char *buf, uint64_t n, const sl_merge_sink_t *sink,
                             double *t_sort)
{
    const size_t R = c->R;
    if (!c->std || !(c->o->algo && !strcmp(c->o->algo, "radix"))) {
        /* Other geometries: (prefix, index) entries whatever --algo says. */
        gather_t g = {buf, sink, NULL, 0, 0, R};
        sl_status_t st = c->std ? sl_sort_order_pieces(buf, n, gather_piece, &g, t_sort)
                                : sl_sort_order_pieces_g(buf, n, &c->g, gather_piece_g, &g, t_sort);
        if (g.piece) { /* the last, partial buffer; after an error put(0) hands it back */
            sl_status_t s2 = sink->put(sink->arg, g.piece, st == SL_OK ? g.fill : 0);
            if (st == SL_OK)
                st = s2;
        }
        return st;
    }
    double t0 = sl_now();
    sl_status_t st = sl_sort_records(buf, n, "radix", NULL);
    *t_sort += sl_now() - t0;
    for (uint64_t i = 0; st == SL_OK && i < n;) {
        unsigned char *piece;
        size_t cap;
        st = sink->get(sink->arg, &piece, &cap);
        if (st != SL_OK)
            break;
        uint64_t per = cap / R, k = n - i < per ? n - i : per;
        memcpy(piece, buf + i * R, (size_t)k * R);
        st = sink->put(sink->arg, piece, k);
        i += k;
    }
    return st;
}

/* Sinks over a write queue; the output's also advances the progress bar
 * (from this thread: progress may talk MPI). */
typedef struct {
    sl_wq_t *q;
    sl_progress_t *prog;
    size_t rec; /* record size */
} qsink_t;

static sl_status_t qsink_get(void *arg, unsigned char **buf_p, size_t *cap_p)
{
    return sl_wq_get(((qsink_t *)arg)->q, buf_p, cap_p);
}

static sl_status_t qsink_put(void *arg, unsigned char *buf, uint64_t n)
{
    qsink_t *o = arg;
    (void)buf;
    SL_TRY(sl_wq_put(o->q, n));
    if (o->prog)
        sl_progress_add(o->prog, (double)n * (double)o->rec);
    return SL_OK;
}

/* The output's sink: a qsink whose get() is where the merge (and the
 * in-memory sort's gather) learns of a stop, at each output buffer: a
 * local flag test, no collective (ranks merge independently). */
typedef struct {
    qsink_t q;
    const sctx_t *c;
    long nget; /* buffers asked for (the test hook counts them) */
} osink_t;

static sl_status_t osink_get(void *arg, unsigned char **buf_p, size_t *cap_p)
{
    osink_t *o = arg;
    if (++o->nget == o->c->o->test_stop_buffer && o->c->rank > 0)
        sl_stop_request(); /* the test hook: as a SIGUSR1 to this rank alone */
    if (sl_stop_requested())
        return SL_ERR_STOPPED;
    return sl_wq_get(o->q.q, buf_p, cap_p);
}

static sl_status_t osink_put(void *arg, unsigned char *buf, uint64_t n)
{
    return qsink_put(&((osink_t *)arg)->q, buf, n);
}

/* Sort n records of buf and write them to a new run file, path (removed
 * again on failure). Thread-safe. */
static sl_status_t write_run(const sctx_t *c, unsigned char *buf, uint64_t n, const char *path,
                             double *t_sort)
{
    int fd = sl_open_new(path, O_WRONLY, 0600);
    if (fd < 0)
        return sl_error(SL_ERR_IO, "cannot create spill file '%s' (--tmp): %s", path, strerror(errno));
    /* Direct I/O for whole pages (the merge reads the run back from the
     * device, not from a page cache copy); two half-size buffers so the
     * gather of one overlaps the write of the other. */
    int dfd = open(path, O_WRONLY | O_DIRECT);
    sl_wq_t *q = NULL;
    sl_status_t st = sl_wq_create_rec(fd, dfd, path, c->iobuf / 2, 2, 0, c->g.rec, NULL, &q);
    if (st == SL_OK) {
        qsink_t qs = {q, NULL, c->R};
        sl_merge_sink_t sink = {qsink_get, qsink_put, &qs};
        st = sort_emit(c, buf, n, &sink, t_sort);
        sl_status_t s2 = sl_wq_finish(q, NULL);
        if (st == SL_OK)
            st = s2;
    }
    sl_wq_destroy(&q);
    if (dfd >= 0)
        close(dfd);
    if (close(fd) != 0 && st == SL_OK)
        st = sl_error(SL_ERR_IO, "cannot write spill file '%s': %s", path, strerror(errno));
    if (st != SL_OK)
        unlink(path);
    return st;
}

/* Record a written run (this thread owns c->runs). */
static sl_status_t add_run(sctx_t *c, const char *path, uint64_t n)
{
    if (c->nruns == c->runcap) {
        int cap = c->runcap ? 2 * c->runcap : 16;
        sl_run_t *r = realloc(c->runs, (size_t)cap * sizeof *r);
        if (!r) {
            unlink(path);
            return sl_error(SL_ERR_NOMEM, "out of memory");
        }
        c->runs = r;
        c->runcap = cap;
    }
    char *p = strdup(path);
    if (!p) {
        unlink(path);
        return sl_error(SL_ERR_NOMEM, "out of memory");
    }
    c->runs[c->nruns].path = p;
    c->runs[c->nruns].mem = NULL;
    c->runs[c->nruns].nrec = n;
    c->nruns++;
    c->runs_total++;
    c->spill_bytes += n * c->R;
    return SL_OK;
}

/* The spill thread (external sorts, c->halves): it sorts and writes one
 * full reducer buffer while the map goes on receiving into the other, so
 * the rank keeps reading, partitioning and receiving during a spill. One
 * job at a time; the map thread hands a buffer over only once the previous
 * job is done and collected, so a buffer is never filled and written at
 * once. Only the map thread touches c's mutable fields. */
struct spiller {
    const sctx_t *c;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy, quit, collected; /* a job is running; stop; its result was taken */
    /* the job */
    unsigned char *buf;
    uint64_t n;
    char path[4200];
    sl_status_t st;
    double t_sort, t_all;
};

static void *spiller_main(void *arg)
{
    spiller_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->busy && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->busy)
            break;
        pthread_mutex_unlock(&s->mu);
        double t0 = sl_now(), ts = 0;
        sl_status_t st = write_run(s->c, s->buf, s->n, s->path, &ts);
        pthread_mutex_lock(&s->mu);
        s->st = st;
        s->t_sort = ts;
        s->t_all = sl_now() - t0;
        s->busy = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static sl_status_t spiller_create(const sctx_t *c, spiller_t **s_p)
{
    spiller_t *s = calloc(1, sizeof *s);
    if (!s)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    s->c = c;
    s->collected = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->th, NULL, spiller_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return sl_error(SL_ERR_INTERNAL, "cannot start the spill thread");
    }
    *s_p = s;
    return SL_OK;
}

/* Wait for the running job, if any, and take its run into c->runs. */
static sl_status_t spiller_collect(sctx_t *c)
{
    spiller_t *s = c->sp;
    if (!s)
        return SL_OK;
    pthread_mutex_lock(&s->mu);
    while (s->busy)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->collected)
        return SL_OK;
    s->collected = 1;
    c->t_sort += s->t_sort;
    c->t_spill += s->t_all - s->t_sort;
    SL_TRY(s->st);
    return add_run(c, s->path, s->n);
}

/* Collect the last job and stop the thread. Accepts NULL. */
static sl_status_t spiller_destroy(sctx_t *c)
{
    spiller_t *s = c->sp;
    if (!s)
        return SL_OK;
    sl_status_t st = spiller_collect(c);
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    c->sp = NULL;
    return st;
}

/* Hand n records of buf to the spill thread, once its last job is done. */
static sl_status_t spiller_submit(sctx_t *c, unsigned char *buf, uint64_t n)
{
    SL_TRY(spiller_collect(c));
    spiller_t *s = c->sp;
    snprintf(s->path, sizeof s->path, "%s-%d", c->runbase, c->runs_total);
    pthread_mutex_lock(&s->mu);
    s->buf = buf;
    s->n = n;
    s->st = SL_OK;
    s->collected = 0;
    s->busy = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return SL_OK;
}

/* Reducer: the buffer is full; write it as a run. With halves, hand it to
 * the spill thread (after the previous job is done) and go on in the other
 * buffer, or keep it in memory for the merge when the rest of the
 * partition is expected to fit in the other; else sort and write it here. */
static sl_status_t spill_now(sctx_t *c)
{
    if (!c->sp) {
        char path[4200];
        snprintf(path, sizeof path, "%s-%d", c->runbase, c->runs_total);
        double t0 = sl_now(), ts = 0;
        SL_TRY(write_run(c, c->rbuf, c->rn, path, &ts));
        c->t_sort += ts;
        c->t_spill += sl_now() - t0 - ts;
        SL_TRY(add_run(c, path, c->rn));
        c->rn = 0;
        return SL_OK;
    }
    if (c->kept) {
        /* More came than expected: the kept buffer is written after all
         * (its records came before the full one's, so its run goes first). */
        SL_TRY(spiller_submit(c, c->rb[c->rcur ^ 1], c->kept));
        c->kept = 0;
    } else if (c->rtot + c->rcap >= c->expect) {
        /* What is still to come fits in the other buffer: keep this one
         * for the merge instead of writing it. */
        SL_TRY(spiller_collect(c));
        c->kept = c->rn;
        c->rcur ^= 1;
        c->rbuf = c->rb[c->rcur];
        c->rn = 0;
        c->rlim = c->rcap;
        return SL_OK;
    }
    SL_TRY(spiller_submit(c, c->rbuf, c->rn));
    c->rcur ^= 1;
    c->rbuf = c->rb[c->rcur];
    c->rn = 0;
    c->rlim = c->rcap;
    return SL_OK;
}

/* A spill that failed stays failed: the blocks still arriving are not
 * written to the same full --tmp again (nor the error printed again). */
static sl_status_t spill(sctx_t *c)
{
    if (c->spill_st == SL_OK)
        c->spill_st = spill_now(c);
    return c->spill_st;
}

static sl_status_t deliver(void *arg, int src, const void *data, size_t len)
{
    sctx_t *c = arg;
    const unsigned char *p = data;
    (void)src;
    const size_t R = c->R;
    if (len % R)
        return sl_error(SL_ERR_INTERNAL, "block of %zu bytes from rank %d", len, src);
    c->recv_bytes += len;
    uint64_t n = len / R;
    while (n) {
        if (c->rn == c->rlim)
            SL_TRY(spill(c));
        uint64_t k = c->rlim - c->rn < n ? c->rlim - c->rn : n;
        memcpy(c->rbuf + c->rn * R, p, (size_t)k * R);
        c->rn += k;
        c->rtot += k;
        p += k * R;
        n -= k;
    }
    return SL_OK;
}

static sl_status_t flush_peer(sctx_t *c, int p)
{
    int cur = c->scur[p];
    SL_TRY(sl_xchg_isend(c->x, p, c->sb[cur][p], c->sfill[p], &c->sreq[cur][p]));
    cur ^= 1;
    c->scur[p] = cur;
    c->sfill[p] = 0;
    return sl_xchg_wait(c->x, &c->sreq[cur][p]); /* the other buffer is free again */
}

typedef struct {
    const sl_filelist_t *fl;
    uint64_t off;
    unsigned char *buf; /* page-aligned, len + 2 pages */
    size_t len;
    sl_status_t st;
    int direct;                /* --direct-read */
    const unsigned char *data; /* where the records start in buf */
} rd_t;

/* A page-aligned piece of a direct read: [off, off+cap) into buf, of which
 * the first want bytes must arrive (the file may end before cap). */
typedef struct {
    int fd;
    unsigned char *buf;
    uint64_t off;
    size_t want, cap, got;
} piece_t;

static void *read_piece(void *arg)
{
    piece_t *p = arg;
    while (p->got < p->want) {
        ssize_t k = pread(p->fd, p->buf + p->got, p->cap - p->got, (off_t)(p->off + p->got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        p->got += (size_t)k;
    }
    return NULL;
}

#define READ_PAR 2 /* direct reads in flight per chunk: one alone leaves the device idle between requests */

/* Direct I/O read of a chunk that lies in one file: the enclosing page-aligned
 * range lands in buf (in READ_PAR pieces read at once) and data points at
 * the chunk. 0 where not possible. */
static int read_direct(rd_t *r)
{
    uint64_t base = 0;
    for (int i = 0; i < r->fl->n; base += r->fl->size[i], i++) {
        if (r->off < base || r->off + r->len > base + r->fl->size[i])
            continue;
        uint64_t in = r->off - base, a0 = in / 4096 * 4096;
        size_t want = (size_t)(in + r->len - a0), cap = (want + 4095) / 4096 * 4096;
        int fd = open(r->fl->path[i], O_RDONLY | O_DIRECT);
        if (fd < 0)
            return 0;
        piece_t pc[READ_PAR];
        pthread_t th[READ_PAR];
        int started[READ_PAR] = {0};
        size_t step = cap / READ_PAR / 4096 * 4096;
        int np = step ? READ_PAR : 1;
        for (int j = 0; j < np; j++) {
            size_t s0 = (size_t)j * step, e0 = j + 1 < np ? s0 + step : cap;
            pc[j] = (piece_t){fd, r->buf + s0, a0 + s0, (want < e0 ? want : e0) - s0, e0 - s0, 0};
            if (j > 0)
                started[j] = pthread_create(&th[j], NULL, read_piece, &pc[j]) == 0;
        }
        read_piece(&pc[0]);
        int ok = pc[0].got >= pc[0].want;
        for (int j = 1; j < np; j++) {
            if (started[j])
                pthread_join(th[j], NULL);
            else
                read_piece(&pc[j]);
            ok &= pc[j].got >= pc[j].want;
        }
        close(fd);
        if (!ok)
            return 0;
        r->data = r->buf + (in - a0);
        return 1;
    }
    return 0;
}

static void *reader(void *arg)
{
    rd_t *r = arg;
    r->data = r->buf;
    if (r->direct && read_direct(r))
        return NULL;
    r->st = sl_filelist_read(r->fl, r->off, r->buf, r->len);
    return NULL;
}

/* Map: send n records of data (the first at global position g0) to their
 * partitions. Inlined with constants for the default geometry: the copies
 * and key comparisons of the hot loop stay inline. */
static inline __attribute__((always_inline)) sl_status_t route(sctx_t *c, const unsigned char *data,
                                                               uint64_t n, uint64_t g0, const size_t R,
                                                               const size_t O, const size_t L)
{
    sl_status_t st = SL_OK;
    for (uint64_t i = 0; i < n && st == SL_OK; i++) {
        const unsigned char *r = data + i * R;
        int p = c->size > 1 ? part_of_l(c, r + O, g0 + i, L) : 0;
        if (c->done[p]) { /* kept: its records are only counted, to check it against */
            c->kin[2 * p]++;
            c->kin[2 * p + 1] += R == SL_SORT_REC ? sl_sort_crc32(r) : (uint64_t)crc32(0L, r, (uInt)R);
            continue;
        }
        if (p == c->rank) {
            st = deliver(c, p, r, R);
            c->recv_bytes -= R;
            continue;
        }
        memcpy(c->sb[c->scur[p]][p] + c->sfill[p], r, R);
        c->sfill[p] += R;
        if (c->sfill[p] == c->blk)
            st = flush_peer(c, p);
    }
    return st;
}

/* Local, the test hooks' waits: ms milliseconds, in steps, so that a stop
 * ends the wait as it would end the work waited in. */
static void test_stall(long ms)
{
    double until = sl_now() + (double)ms / 1000.0;
    while (ms > 0 && sl_now() < until && !sl_stop_requested()) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
}

/* Map: read the rank's share with a read-ahead thread, route every record. */
static sl_status_t map(sctx_t *c, size_t chunk)
{
    sl_status_t st = SL_OK;
    unsigned char *buf[2] = {sl_sort_alloc_big(chunk + 8192), sl_sort_alloc_big(chunk + 8192)};
    if (!buf[0] || !buf[1]) {
        free(buf[0]);
        free(buf[1]);
        return sl_error(SL_ERR_NOMEM, "out of memory for the read buffers (--mem too small?)");
    }
    const size_t R = c->R;
    /* the share from skip on: a resume after a stop during the map does not
     * read what was mapped before (the runs kept at the stop hold it) */
    const uint64_t s0 = c->skip, left = c->my_cnt - s0;
    uint64_t per = chunk / R, nchunks = (left + per - 1) / per;
    sl_progress_t *prog = NULL;
    st = sl_progress_create(c->comm, "sort: map+shuffle", (double)c->nrec * (double)R, "B", &prog);
    if (st != SL_OK) {
        free(buf[0]);
        free(buf[1]);
        return st;
    }
    if (c->rank == 0 && c->my_cnt && s0)
        sl_progress_add(prog, (double)s0 * R * (double)c->nrec / (double)c->my_cnt);
    int all_done = 1;
    for (int p = 0; p < c->size; p++)
        all_done &= c->done[p];
    if (all_done) { /* nothing is read: kept partitions are not checked against the inputs */
        nchunks = 0;
        free(c->kin);
        c->kin = NULL;
    }
    pthread_t th;
    rd_t rd[2];
    int pending = 0;
    /* A rank with nothing to read (an empty --local share) still receives
     * its partition: it spills from the thread too. Without it, every run
     * it wrote was the first run's remainder (runs a tenth of the buffer:
     * ten times as many), and the buffer kept for the merge was not. */
    if (!all_done && c->halves)
        st = spiller_create(c, &c->sp);
    if (nchunks && st == SL_OK) {
        uint64_t k = left < per ? left : per;
        rd[0] = (rd_t){c->fl, (c->fbase + s0) * R, buf[0], (size_t)k * R, SL_OK, c->o->direct_read, NULL};
        if (pthread_create(&th, NULL, reader, &rd[0]) != 0)
            st = sl_error(SL_ERR_INTERNAL, "cannot start the reader thread");
        else
            pending = 1;
    }
    for (uint64_t ci = 0; ci < nchunks && pending; ci++) {
        /* A stop asked for (SIGUSR1/SIGTERM): end the streams early; the
         * caller's safe point right after the map agrees, keeps what was
         * mapped (map_stop) and stops. */
        if (c->o->test_stop_chunk > 0 && ci + 1 == (uint64_t)c->o->test_stop_chunk && c->rank > 0)
            sl_stop_request(); /* the test hook: as a SIGUSR1 before this chunk */
        test_stall(c->o->test_map_stall_ms); /* the test hook: a slow map, for a real signal to land in */
        if (sl_stop_requested()) {
            c->map_cut = 1;
            break;
        }
        pthread_join(th, NULL);
        pending = 0;
        rd_t cur = rd[ci & 1];
        if (cur.st != SL_OK) {
            st = cur.st;
            break;
        }
        if (st != SL_OK)
            break;
        if (ci + 1 < nchunks) { /* read ahead into the other buffer */
            uint64_t s = s0 + (ci + 1) * per, k = c->my_cnt - s < per ? c->my_cnt - s : per;
            rd_t *n = &rd[(ci + 1) & 1];
            *n = (rd_t){c->fl, (c->fbase + s) * R, buf[(ci + 1) & 1], (size_t)k * R, SL_OK, c->o->direct_read,
                        NULL};
            if (pthread_create(&th, NULL, reader, n) != 0) {
                st = sl_error(SL_ERR_INTERNAL, "cannot start the reader thread");
                break;
            }
            pending = 1;
        }
        c->bytes_read += cur.len;
        uint64_t n = cur.len / R, g0 = c->my_off + s0 + ci * per;
        if (st == SL_OK)
            st = c->std ? route(c, cur.data, n, g0, SL_SORT_REC, 0, SL_SORT_KEY)
                        : route(c, cur.data, n, g0, R, c->g.off, c->g.len);
        if (st == SL_OK)
            c->mapped += n;
        if (st == SL_OK && c->x)
            st = sl_xchg_progress(c->x);
        /* Only rank 0 reports, scaled from its share: a one-sided progress
         * update from another rank could wait on rank 0's MPI progress while
         * rank 0 waits on that rank's UCX progress. */
        if (c->rank == 0 && c->my_cnt)
            sl_progress_add(prog, (double)cur.len * (double)c->nrec / (double)c->my_cnt);
    }
    if (pending)
        pthread_join(th, NULL);
    for (int p = 0; st == SL_OK && p < c->size; p++)
        if (p != c->rank && c->sfill[p])
            st = flush_peer(c, p);
    for (int p = 0; p < c->size; p++)
        for (int b = 0; b < 2; b++)
            if (c->sreq[b] && c->sreq[b][p]) {
                sl_status_t s2 = sl_xchg_wait(c->x, &c->sreq[b][p]);
                if (st == SL_OK)
                    st = s2;
            }
    /* The read buffers become the output's write buffers when they are of
     * its size: their pages are touched already, and fresh ones are slow */
    if (chunk + 8192 >= c->iobuf && chunk <= c->iobuf + 8192 && chunk + 8192 >= sl_sort_unit(c->g.rec)) {
        c->spare[0] = buf[0];
        c->spare[1] = buf[1];
    } else {
        free(buf[0]);
        free(buf[1]);
    }
    /* Everyone drains what is addressed to it before any MPI collective: a
     * rank blocked in MPI would not progress UCX, and a peer's rendezvous
     * send to it would never complete. A failed rank still ends its streams. */
    if (c->x) {
        sl_status_t s2 = sl_xchg_finish(c->x);
        if (st == SL_OK)
            st = s2;
    }
    /* The last spill ends; the buffer it wrote is not needed again (the
     * merge gets its memory). */
    sl_status_t s4 = spiller_destroy(c);
    if (st == SL_OK)
        st = s4;
    if (c->rb[1] && !c->kept) {
        free(c->rb[c->rcur ^ 1]);
        c->rb[c->rcur ^ 1] = NULL;
    }
    st = sl_agree(c->comm, st);
    sl_status_t s3 = sl_progress_finish(&prog);
    return st != SL_OK ? st : s3;
}

/* Local: the merge holds two descriptors per spilled run (buffered and
 * direct reads); a soft limit of open files too low for them (1024 is
 * common) is raised, as far as the hard limit allows, so that a small
 * --mem does not fail only after the whole map. */
static void raise_nofile(int nruns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = rl.rlim_cur + 2 * (rlim_t)nruns; /* what is open now is below rlim_cur */
    if (rl.rlim_max != RLIM_INFINITY && need > rl.rlim_max)
        need = rl.rlim_max;
    if (need > rl.rlim_cur) {
        rl.rlim_cur = need;
        setrlimit(RLIMIT_NOFILE, &rl); /* else the merge names the error */
    }
}

/* Write n sorted records of buf as the run file path (removed again on
 * failure). */
static sl_status_t write_sorted_run(const sctx_t *c, const unsigned char *buf, uint64_t n, const char *path)
{
    int fd = sl_open_new(path, O_WRONLY, 0600);
    if (fd < 0)
        return sl_error(SL_ERR_IO, "cannot create spill file '%s' (--tmp): %s", path, strerror(errno));
    sl_status_t st = SL_OK;
    const uint64_t bytes = n * c->R, piece = c->iobuf;
    for (uint64_t off = 0; st == SL_OK && off < bytes; off += piece)
        st = sl_pwrite_full(fd, buf + off, (size_t)(bytes - off < piece ? bytes - off : piece), (off_t)off,
                            path);
    if (close(fd) != 0 && st == SL_OK)
        st = sl_error(SL_ERR_IO, "cannot write spill file '%s': %s", path, strerror(errno));
    if (st != SL_OK)
        unlink(path);
    return st;
}

/* Local, at a stop during the merge (the partition's .tmp is gone), or
 * during the map (cut: its stop id, map_stop): keep what the map made for
 * --resume. The in-memory runs (sorted if sorted says they are) become run
 * files beside the spilled ones, in merge order; every run is fsync'd,
 * then the run manifest written. Returns SL_ERR_STOPPED; c->saved says
 * whether the runs were kept: if not (the error is named), the resume runs
 * the map again. */
static sl_status_t save_runs(sctx_t *c, unsigned char **mem, const uint64_t *nmrec, int nmem, int sorted,
                             uint64_t cut)
{
    sl_status_t st = SL_OK;
    for (int i = 0; st == SL_OK && i < nmem; i++) {
        if (!nmrec[i])
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s-%d", c->runbase, c->runs_total);
        double ts = 0;
        st = sorted ? write_sorted_run(c, mem[i], nmrec[i], path) : write_run(c, mem[i], nmrec[i], path, &ts);
        if (st == SL_OK)
            st = add_run(c, path, nmrec[i]);
    }
    if (c->from_runs && st == SL_OK) { /* a resumed merge stopped: its run manifest stands as it is */
        c->saved = 1;
        return SL_ERR_STOPPED;
    }
    for (int i = 0; st == SL_OK && i < c->nruns; i++) {
        int fd = open(c->runs[i].path, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0)
            st = sl_error(SL_ERR_IO, "cannot flush run '%s': %s", c->runs[i].path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (st == SL_OK && c->nruns)
        st = sl_fsync_dir_of(c->runs[0].path);
    if (st == SL_OK)
        st = runs_manifest_write(c, cut);
    if (st == SL_OK) {
        c->saved = 1;
        c->nlisted = c->nruns;
    } else {
        SL_WARN("rank %d: the %s was stopped, but its runs could not be kept (the error is above): --resume "
                "cannot continue from this stop",
                c->rank, cut ? "map" : "merge");
    }
    return SL_ERR_STOPPED;
}

/* Local: the reducer's in-memory runs, in the order their records came: the
 * kept buffer (halves), then the one being filled; their count. */
static int mem_runs(const sctx_t *c, unsigned char **mem, uint64_t *nmrec)
{
    mem[0] = c->kept ? c->rb[c->rcur ^ 1] : c->rbuf;
    nmrec[0] = c->kept ? c->kept : c->rn;
    mem[1] = c->rbuf;
    nmrec[1] = c->rn;
    return c->kept ? 2 : 1;
}

/* Local: whether the count of what the inputs give complete partition p is
 * whole: the map reads all of them, or the map file of the stop it
 * continues from knew what the part mapped before gave p. */
static int kept_known(const sctx_t *c, int p)
{
    return !c->skipped || (c->kpre && c->kpre[3 * p]);
}

/* Reducer: sort or merge into part-RANK.tmp, then rename. A stop asked for
 * meanwhile (seen at an output buffer) abandons the .tmp and keeps the
 * runs instead (save_runs). */
static sl_status_t reduce(sctx_t *c, size_t iobuf, sl_progress_t *prog)
{
    char tmp[4200], fin[4200];
    SL_TRY(part_path(c, c->rank, tmp, sizeof tmp, 1));
    SL_TRY(part_path(c, c->rank, fin, sizeof fin, 0));
    if (c->done[c->rank]) {
        /* resumed: count what is there, and check that it is a partition of
         * this sort: its keys in order and within the partition's splitters
         * (another file under its name, say another run's partition left on
         * this node, was kept as long as its record count added up) */
        int fd = open(fin, O_RDONLY);
        if (fd < 0)
            return sl_error(SL_ERR_IO, "cannot open '%s': %s", fin, strerror(errno));
        struct stat sb;
        fstat(fd, &sb);
        unsigned char *b = malloc(iobuf);
        sl_status_t st = b ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
        uint64_t off = 0, size = (uint64_t)sb.st_size;
        const size_t R = c->R, O = c->g.off, L = c->g.len;
        if (st == SL_OK && size % R) /* else a last piece of 0 records: no progress, forever */
            st = sl_error(SL_ERR_INVALID,
                          "cannot resume with '%s': size %llu is not a multiple of the %u-byte record size "
                          "(remove it)",
                          fin, (unsigned long long)size, (unsigned)R);
        unsigned char *prev = malloc(L); /* the last key seen */
        if (st == SL_OK && !prev)
            st = sl_error(SL_ERR_NOMEM, "out of memory");
        const unsigned char *lo = c->rank > 0 ? c->spl + (size_t)(c->rank - 1) * c->spl_len : NULL,
                            *hi = c->rank < c->size - 1 ? c->spl + (size_t)c->rank * c->spl_len : NULL;
        int bad = 0;
        while (st == SL_OK && off < size && !bad) {
            size_t k = (size_t)(size - off < iobuf ? size - off : iobuf) / R * R;
            st = sl_pread_full(fd, b, k, (off_t)off, fin);
            if (st == SL_OK)
                c->out_sum = sl_u128_add(c->out_sum, sl_sort_crcsum_rec(b, k / R, c->g.rec));
            for (size_t j = 0; st == SL_OK && j < k / R && !bad; j++) {
                const unsigned char *key = b + j * R + O;
                if (off == 0 && j == 0)
                    bad = lo && memcmp(key, lo, L) < 0;
                else
                    bad = memcmp(prev, key, L) > 0;
                memcpy(prev, key, L);
            }
            off += k;
        }
        if (st == SL_OK && !bad && size && hi)
            bad = memcmp(prev, hi, L) > 0;
        if (st == SL_OK && bad)
            st = sl_error(SL_ERR_MISMATCH,
                          "cannot resume with '%s': it is not partition %d of this sort (its keys are out of "
                          "order or outside the partition's range); remove it, or run without --resume",
                          fin, c->rank);
        /* The records the inputs give this partition now (counted by the
         * map) must be those it holds: inputs changed since the killed run
         * beyond what the fingerprint samples made a kept partition stale
         * (exit 0, the output not the input's records). Where the map was
         * skipped (a resume from the runs of a stop: c->from_runs), there
         * is no count. Where it continues from a stop during it
         * (c->skipped), the map file of the stop has what the parts mapped
         * before gave the partition (c->kpre), if it was complete then;
         * else (completed after the stop) there is no count either. What
         * stands for it then: the
         * order and range check above, the fingerprint and record count of
         * the manifest and of every run manifest, each resumed partition's
         * record count against its run manifest (below), and the total of
         * all partitions against the input's records (sl_sort_run). */
        if (st == SL_OK && c->kin && kept_known(c, c->rank) &&
            (size / R != c->kept_in[0] || c->out_sum.lo != c->kept_in[1]))
            st = sl_error(SL_ERR_MISMATCH,
                          "cannot resume with '%s': it holds %llu records, the inputs now give partition %d "
                          "%llu%s; the inputs changed since the run that wrote it: run without --resume",
                          fin, (unsigned long long)(size / R), c->rank, (unsigned long long)c->kept_in[0],
                          size / R == c->kept_in[0] ? " (the same number, other records)" : "");
        c->out_nrec = size / R;
        c->saved = 1;
        free(prev);
        free(b);
        close(fd);
        return st;
    }
    test_stall(c->o->test_stall_ms * c->rank);
    /* Output writes go through a write queue: its thread sums the CRC32s and
     * writes page-aligned pieces straight to the device (O_DIRECT: no copy
     * into the page cache, which was a third of the CPU time of an
     * in-memory sort here) while this thread gathers or merges the next. */
    double sort0 = c->t_sort;
    int fd = sl_open_new(tmp, O_WRONLY, 0644);
    if (fd < 0)
        return sl_error(SL_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    int dfd = open(tmp, O_WRONLY | O_DIRECT); /* fails on tmpfs: buffered only */
    sl_wq_t *q = NULL;
    sl_wq_stats_t ws = {0, 0, {0, 0}, 0};
    double t1 = sl_now();
    sl_status_t st = sl_wq_create_rec(fd, dfd, tmp, iobuf, 2, 1, c->g.rec, c->spare, &q);
    osink_t os = {{q, prog, c->R}, c, 0};
    sl_merge_sink_t sink = {osink_get, osink_put, &os};
    /* The in-memory runs, last (mem_runs); msorted once they are sorted in
     * place (a stop writes them as runs). */
    unsigned char *mem[2];
    uint64_t nmrec[2];
    int nmem = mem_runs(c, mem, nmrec), msorted = 0;
    if (st != SL_OK) {
    } else if (c->nruns == 0 && !c->kept) {
        /* Everything fit: one read and one write per record. */
        st = sort_emit(c, c->rbuf, c->rn, &sink, &c->t_sort);
        /* radix sorts the buffer in place before its first output buffer;
         * keyidx leaves it as it came */
        msorted = st == SL_ERR_STOPPED && c->std && c->o->algo && !strcmp(c->o->algo, "radix");
    } else {
        double t0 = sl_now();
        for (int i = 0; st == SL_OK && i < nmem; i++)
            st = sl_sort_records_g(mem[i], nmrec[i], c->o->algo, NULL, &c->g);
        msorted = st == SL_OK;
        c->t_sort += sl_now() - t0;
        sl_run_t *r = realloc(c->runs, (size_t)(c->nruns + nmem) * sizeof *r);
        if (r) {
            c->runs = r;
            c->runcap = c->nruns + nmem;
        }
        if (st != SL_OK) {
        } else if (r) {
            for (int i = 0; i < nmem; i++) {
                r[c->nruns + i].path = NULL;
                r[c->nruns + i].mem = mem[i];
                r[c->nruns + i].nrec = nmrec[i];
            }
            /* A kept buffer holds memory the merge's read-ahead would have. */
            size_t held = c->kept ? (size_t)c->rcap * c->R : 0;
            size_t mb = c->merge_bytes > held ? c->merge_bytes - held : 0;
            sl_merge_t *m = NULL;
            raise_nofile(c->nruns);
            st = sl_merge_create_g(c->runs, c->nruns + nmem, mb, &c->g, &m);
            if (st == SL_OK)
                st = sl_merge_run(m, &sink);
            sl_merge_destroy(&m);
        } else {
            st = sl_error(SL_ERR_NOMEM, "out of memory");
        }
    }
    if (q) {
        sl_status_t s2 = sl_wq_finish(q, &ws);
        if (st == SL_OK)
            st = s2;
    }
    sl_wq_destroy(&q);
    double tf = sl_now();
    if (st == SL_OK && fsync(fd) != 0)
        st = sl_error(SL_ERR_IO, "cannot flush '%s': %s", tmp, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    if (close(fd) != 0 && st == SL_OK)
        st = sl_error(SL_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    /* A merge of runs kept at a stop holds the records they were recorded
     * with (their sizes were checked at the start). */
    if (st == SL_OK && c->from_runs && c->mine_runs && ws.nrec != c->runs_nrec)
        st = sl_error(SL_ERR_MISMATCH,
                      "the merge of the runs kept for partition %d gave %llu records, its run manifest says "
                      "%llu; run without --resume",
                      c->rank, (unsigned long long)ws.nrec, (unsigned long long)c->runs_nrec);
    if (st == SL_OK && rename(tmp, fin) != 0)
        st = sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, fin, strerror(errno));
    if (st == SL_OK)
        c->renamed = 1;
    if (st != SL_OK) {
        unlink(tmp);
        if (st == SL_ERR_STOPPED) /* the partition is abandoned: keep what the map made */
            return save_runs(c, mem, nmrec, nmem, msorted, 0);
        return st; /* the runs go on the way out, but those of a run manifest */
    }
    sl_fsync_dir_of(fin);
    /* The runs, now that the partition is in place (a resumed merge's run
     * manifest names them until then; a kill in between leaves a manifest
     * beside a complete partition, which the next run removes). */
    for (int i = 0; i < c->nruns; i++) {
        unlink(c->runs[i].path);
        free((char *)c->runs[i].path);
    }
    c->nruns = 0;
    /* the run manifest last: a kill before it leaves it naming the runs
     * not removed yet, which the next run removes (runs_manifest_unlink);
     * removed first, it left them unnamed in a --tmp the next run need not
     * look in */
    if (c->mine_runs) {
        char rm[4200];
        if (runsman_path(c, c->rank, rm, sizeof rm) == SL_OK && unlink(rm) == 0)
            sl_fsync_dir_of(rm);
        c->mine_runs = 0;
    }
    c->nlisted = 0;
    /* The writes overlap the merge: count what the merge waited for. */
    double t_write = ws.t_wait + (sl_now() - tf);
    c->t_merge = sl_now() - t1 - t_write - (c->t_sort - sort0);
    c->t_write = t_write;
    c->bytes_written += ws.bytes;
    c->out_nrec = ws.nrec;
    c->out_sum = ws.sum;
    c->saved = 1;
    return SL_OK;
}

void sl_sort_reducer_plan(int64_t avail, uint64_t nrec, int P, int radix, sl_sort_rplan_t *plan_p)
{
    sl_sort_reducer_plan_rec(avail, nrec, P, radix, SL_SORT_REC, plan_p);
}

void sl_sort_reducer_plan_rec(int64_t avail, uint64_t nrec, int P, int radix, uint32_t rec,
                              sl_sort_rplan_t *plan_p)
{
    /* Scratch of one in-memory sort per record: keyidx's two 16-byte
     * (key, index) arrays, or radix's copy of the records (memsort.c). */
    const uint64_t idx = radix ? rec : 32;
    /* One in-memory sort takes at most UINT32_MAX records (its index is 32
     * bits): a larger budget spills buffers of that many instead. */
    const uint64_t most = UINT32_MAX;
    /* At least 1000 records a buffer (100 KB of 100-byte ones); larger
     * records keep about those bytes, and at least 16 records, so a large
     * --record-size does not take far more memory than --mem. */
    const uint64_t least = rec <= SL_SORT_REC ? 1000 : (100000 / rec > 16 ? 100000 / rec : 16);
    sl_sort_rplan_t p = {0, 0, 0, 0};
    p.rcap = avail > 0 ? (uint64_t)avail / (rec + idx) : 0;
    if (p.rcap < least)
        p.rcap = least;
    if (p.rcap > most)
        p.rcap = most;
    /* The slack beyond the mean partition: a quarter, and least records
     * (100 KB; it was 1000 records whatever their size: 1 GB of 1 MB
     * records, so a partition far smaller than the buffer went external
     * and spilled). */
    uint64_t expect = nrec / (uint64_t)P + nrec / (uint64_t)P / 4 + least;
    if (p.rcap > expect) { /* no need to hold more than the partition */
        p.rcap = expect;
    } else {
        /* External: two buffers, one filled while the spill thread sorts
         * and writes the other; the sort's scratch is needed for one of
         * them at a time. */
        p.halves = 1;
        p.rcap = avail > 0 ? (uint64_t)avail / (2 * (uint64_t)rec + idx) : 0;
        if (p.rcap < least)
            p.rcap = least;
        if (p.rcap > most)
            p.rcap = most;
        /* The partition's last two buffers stay in memory (spill()); the
         * first run takes the remainder, so that the runs after it are
         * whole buffers and the last two are full at the end. Partitions
         * come within a few % of the mean: expect 2% more. */
        p.expect = nrec / (uint64_t)P + nrec / (uint64_t)P / 50 + least;
        uint64_t r0 = p.expect > 2 * p.rcap ? (p.expect - 2 * p.rcap) % p.rcap : 0;
        p.rlim = r0 >= p.rcap / 16 ? r0 : p.rcap;
    }
    if (!p.halves)
        p.rlim = p.rcap;
    *plan_p = p;
}

static uint64_t default_mem(int local_size)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGE_SIZE);
    uint64_t phys = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : (4ULL << 30);
    return phys / 2 / (uint64_t)(local_size > 0 ? local_size : 1);
}

static sl_status_t report(sctx_t *c, double total)
{
    /* Stage maxima and byte totals over ranks. */
    double t[7] = {c->t_sample, c->t_map, c->t_sort, c->t_spill, c->t_merge, c->t_write, total}, tm[7];
    uint64_t b[5] = {c->bytes_read, c->bytes_written, c->spill_bytes, c->out_nrec, (uint64_t)c->runs_total},
             bs[5];
    MPI_Reduce(t, tm, 7, MPI_DOUBLE, MPI_MAX, 0, c->comm);
    MPI_Reduce(b, bs, 5, MPI_UINT64_T, MPI_SUM, 0, c->comm);
    uint64_t *nrec = c->rank == 0 ? malloc(sizeof(uint64_t) * (size_t)c->size) : NULL;
    uint64_t sums[2] = {c->out_sum.hi, c->out_sum.lo},
             *allsum = c->rank == 0 ? malloc(16 * (size_t)c->size) : NULL;
    MPI_Gather(&c->out_nrec, 1, MPI_UINT64_T, nrec, 1, MPI_UINT64_T, 0, c->comm);
    MPI_Gather(sums, 2, MPI_UINT64_T, allsum, 2, MPI_UINT64_T, 0, c->comm);
    if (c->rank != 0)
        return SL_OK;
    sl_u128_t sum = {0, 0};
    uint64_t mx = 0, tot = 0;
    for (int r = 0; r < c->size; r++) {
        sum = sl_u128_add(sum, (sl_u128_t){allsum[2 * r], allsum[2 * r + 1]});
        mx = nrec[r] > mx ? nrec[r] : mx;
        tot += nrec[r];
    }
    double data = (double)c->nrec * (double)c->R, gb = 1e9;
    uint64_t rd = bs[0] + bs[2], wr = bs[1] + bs[2]; /* spills are written and read back */
    double bound = 0;
    if (c->o->disk_read_bw > 0 && c->o->disk_write_bw > 0)
        bound =
            ((double)rd / (c->o->disk_read_bw * 1e6) + (double)wr / (c->o->disk_write_bw * 1e6)) / c->nnodes;
    char hex[40], b1[32], b2[32];
    FILE *out = sl_log_level_g >= SL_LOG_INFO ? stderr : NULL; /* -q: summary.json only */
    if (out)
        fprintf(out, "sort: %llu record%s (%s) on %d rank%s, %d node(s): %s\n", (unsigned long long)c->nrec,
                c->nrec == 1 ? "" : "s", sl_format_bytes(data, b1, sizeof b1), c->size,
                c->size == 1 ? "" : "s", c->nnodes, sl_format_duration(total, b2, sizeof b2));
    if (out)
        fprintf(out, "  %-22s %9s %9s\n", "stage (max over ranks)", "seconds", "GB/s");
    /* --algo radix sorts whole records on the default geometry only */
    int radix = c->std && c->o->algo && !strcmp(c->o->algo, "radix");
    const char *names[6] = {"sample", "map+shuffle",        radix ? "sort (radix)" : "sort (key index)",
                            "spill",  "gather/merge + crc", "output writes"};
    /* a stage that did not run, or took under a millisecond (the sample; a
     * resume from runs skips the map and the sort), has no rate worth
     * printing: 343053 GB/s said nothing */
    for (int i = 0; i < 6; i++)
        if (out && tm[i] >= 0.001)
            fprintf(out, "  %-22s %9.3f %9.2f\n", names[i], tm[i], data / tm[i] / gb);
        else if (out)
            fprintf(out, "  %-22s %9.3f %9s\n", names[i], tm[i], "-");
    if (out)
        fprintf(out, "  %-22s %9.3f %9.2f\n", "total", tm[6], tm[6] > 0 ? data / tm[6] / gb : 0.0);
    if (out)
        fprintf(out, "  read %s, written %s, spilled %s in %llu runs; largest partition %.3f x mean\n",
                sl_format_bytes((double)rd, b1, sizeof b1), sl_format_bytes((double)wr, b2, sizeof b2),
                sl_format_bytes((double)bs[2], hex, sizeof hex), (unsigned long long)bs[4],
                tot ? (double)mx / ((double)tot / c->size) : 1.0);
    if (bound > 0)
        if (out)
            fprintf(out, "  disk bound %.3f s (read %.0f MB/s, write %.0f MB/s): %.1f%% of the disk bound\n",
                    bound, c->o->disk_read_bw, c->o->disk_write_bw, 100.0 * bound / tm[6]);
    sl_u128_hex(sum, hex); /* for the JSON too, with -q */
    if (out && c->from_runs)
        fprintf(out, "  resumed from the runs kept at a stop: the map was skipped (inputs read only for the "
                     "fingerprint)\n");
    if (out && c->skipped)
        fprintf(out,
                "  resumed from a stop during the map: %llu records (%.1f%%) mapped before it were not read "
                "again\n",
                (unsigned long long)c->skipped, 100.0 * (double)c->skipped / (double)(c->nrec ? c->nrec : 1));
    if (out)
        fprintf(out, "  output checksum %s (valsort's sum of CRC32s)\n", hex);
    /* The summary, as JSON. */
    sl_status_t st;
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", c->o->output);
    size_t cap = 4096 + (size_t)c->size * 24;
    char *js = malloc(cap);
    if (js) {
        size_t k = (size_t)snprintf(
            js, cap,
            "{\n  \"records\": %llu,\n  \"bytes\": %llu,\n  \"checksum\": \"%s\",\n"
            "  \"ranks\": %d,\n  \"nodes\": %d,\n  \"spilled_bytes\": %llu,\n"
            "  \"runs\": %llu,\n  \"resumed_from_runs\": %s,\n  \"resumed_map_records\": %llu,\n"
            "  \"record_size\": %u,\n  \"key_offset\": %u,\n"
            "  \"key_length\": %u,\n  \"seconds\": {\"sample\": %.6f, \"map_shuffle\": %.6f, "
            "\"sort\": %.6f, \"spill\": %.6f, \"merge\": %.6f, \"write\": %.6f, "
            "\"total\": %.6f},\n  \"disk_bound_seconds\": %.6f,\n  \"partitions\": [",
            (unsigned long long)tot, (unsigned long long)tot * c->R, hex, c->size, c->nnodes,
            (unsigned long long)bs[2], (unsigned long long)bs[4], c->from_runs ? "true" : "false",
            (unsigned long long)c->skipped, (unsigned)c->g.rec, (unsigned)c->g.off, (unsigned)c->g.len, tm[0],
            tm[1], tm[2], tm[3], tm[4], tm[5], tm[6], bound);
        for (int r = 0; r < c->size; r++)
            k += (size_t)snprintf(js + k, cap - k, "%s%llu", r ? ", " : "", (unsigned long long)nrec[r]);
        k += (size_t)snprintf(js + k, cap - k, "]\n}\n");
        /* the record of a complete sort: without it the sort failed */
        st = sl_file_write_atomic(path, js, k);
        free(js);
    } else {
        st = sl_error(SL_ERR_NOMEM, "out of memory for %s", path);
    }
    free(nrec);
    free(allsum);
    return st;
}

/* Rank 0, once every rank is stopped during (or right before) the merge:
 * the one line that says what --resume will do. kept: every rank
 * completed its partition or kept its runs. */
/* Collective, at the safe point after a map that a stop cut short on some
 * rank: keep what it mapped. Every block sent has arrived (the streams
 * ended), so a partition's runs and in-memory records hold exactly what
 * the map sent it: each rank's share is mapped in order, up to c->mapped.
 * Each rank whose partition is not complete writes its in-memory records
 * as runs beside its spilled ones and lists them in its run manifest under
 * a new stop id (save_runs); once every rank did, rank 0 writes the map
 * file (every rank's mapped count), and --resume maps only the rest of
 * each share. Returns SL_ERR_STOPPED, whatever was kept. */
static sl_status_t map_stop(sctx_t *c)
{
    uint64_t id = 0, tot = 0;
    if (c->rank == 0) /* new, and never 0: 0 means "mapped all" */
        do
            id = ((uint64_t)time(NULL) << 22 ^ (uint64_t)getpid() ^ (uint64_t)(sl_now() * 1e6)) + c->cut + 1;
        while (!id || id == c->cut);
    MPI_Bcast(&id, 1, MPI_UINT64_T, 0, c->comm);
    /* rank 0: every rank's share and what it mapped; with partitions
     * complete, what the mapped parts gave each (kin, summed over ranks) */
    const int P = c->size;
    uint64_t *sh = NULL, *kp = NULL, *ksum = NULL, mine[3] = {c->my_off, c->my_cnt, c->mapped};
    int have = 1;
    if (c->rank == 0) {
        sh = malloc(sizeof(uint64_t) * 3 * (size_t)P);
        kp = c->kin ? calloc(3 * (size_t)P, sizeof *kp) : NULL;
        ksum = c->kin ? malloc(sizeof(uint64_t) * 2 * (size_t)P) : NULL;
        have = sh && (!c->kin || (kp && ksum));
    }
    MPI_Bcast(&have, 1, MPI_INT, 0, c->comm);
    if (have) {
        MPI_Gather(mine, 3, MPI_UINT64_T, sh, 3, MPI_UINT64_T, 0, c->comm);
        if (c->kin)
            MPI_Reduce(c->kin, ksum, 2 * P, MPI_UINT64_T, MPI_SUM, 0, c->comm);
    }
    int ok = have, all = 0;
    if (!c->done[c->rank]) {
        unsigned char *mem[2];
        uint64_t nmrec[2];
        int nmem = mem_runs(c, mem, nmrec);
        save_runs(c, mem, nmrec, nmem, 0, id);
        ok &= c->saved;
    }
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, c->comm);
    sl_status_t st = SL_OK;
    if (all && c->rank == 0) {
        /* a complete partition's count is known when this run's map counted
         * all its part (no earlier stop skipped any, or that stop's map
         * file knew it) */
        for (int p = 0; kp && p < P; p++)
            if (c->done[p] && kept_known(c, p)) {
                kp[3 * p] = 1;
                kp[3 * p + 1] = ksum[2 * p] + (c->kpre ? c->kpre[3 * p + 1] : 0);
                kp[3 * p + 2] = ksum[2 * p + 1] + (c->kpre ? c->kpre[3 * p + 2] : 0);
            }
        st = mapfile_write(c, id, sh, kp);
        for (int r = 0; r < P; r++)
            tot += sh[3 * r + 2];
    } else if (!have && c->rank == 0) {
        st = sl_error(SL_ERR_NOMEM, "out of memory");
    }
    st = sl_agree(c->comm, st);
    if (all && st == SL_OK)
        SL_INFO0("sort: stopped during the map: %llu of %llu records were mapped; each partition's share of "
                 "them is kept as runs in %s (listed in %s/" RUNSMAN "N, and %s/" MAPFILE
                 "); --resume maps only the rest",
                 (unsigned long long)tot, (unsigned long long)c->nrec, c->o->tmp ? c->o->tmp : c->o->output,
                 c->o->output, c->o->output);
    else
        SL_INFO0("sort: stopped during the map, but not every rank could keep its runs (see above): --resume "
                 "cannot continue from this stop");
    free(sh);
    free(kp);
    free(ksum);
    return SL_ERR_STOPPED;
}

static void merge_stop_note(const sctx_t *c, int kept)
{
    if (kept)
        SL_INFO0("sort: stopped during the merge: complete partitions are kept, and the others' runs in %s "
                 "(listed in %s/" RUNSMAN "N); --resume continues from them without running the map again",
                 c->o->tmp ? c->o->tmp : c->o->output, c->o->output);
    else
        SL_INFO0("sort: stopped during the merge, but not every rank could keep its runs (see above): "
                 "--resume cannot continue from this stop (it runs the map again, or continues from an "
                 "earlier stop's runs where they all stand)");
}

sl_status_t sl_sort_geom_from_opts(MPI_Comm comm, long rec, long off, long len, sl_sort_geom_t *g_p)
{
    /* The option table bounds each value; what it cannot see is the key
     * lying past the record's end. */
    if (rec < 1 || rec > (long)SL_SORT_REC_MAX)
        return sl_error_root(comm, SL_ERR_USAGE, "--record-size %ld: must be 1 to %u bytes", rec,
                             (unsigned)SL_SORT_REC_MAX);
    if (len < 1 || off < 0)
        return sl_error_root(comm, SL_ERR_USAGE,
                             "--key-length %ld --key-offset %ld: the key needs at least 1 byte "
                             "at an offset of 0 or more",
                             len, off);
    if (off + len > rec)
        return sl_error_root(comm, SL_ERR_USAGE,
                             "--key-offset %ld + --key-length %ld = %ld is beyond the %ld-byte record "
                             "(--record-size): the key must lie within the record",
                             off, len, off + len, rec);
    g_p->rec = (uint32_t)rec;
    g_p->off = (uint32_t)off;
    g_p->len = (uint32_t)len;
    return SL_OK;
}

sl_status_t sl_sort_run(MPI_Comm comm, const sl_sort_opts_t *o)
{
    sctx_t c;
    memset(&c, 0, sizeof c);
    sl_topo_t topo;
    SL_TRY(sl_topo_init(comm, &topo));
    c.comm = topo.comm;
    c.rank = topo.rank;
    c.size = topo.size;
    c.nnodes = topo.nnodes;
    c.o = o;
    int P = c.size;
    double t_start = sl_now();
    sl_status_t st = SL_OK;
    if (!o->output)
        st = sl_error_root(c.comm, SL_ERR_USAGE, "sort needs --output OUTDIR (or --plan SIZE)");
    else if (o->input.n == 0)
        st = sl_error_root(c.comm, SL_ERR_USAGE, "sort needs --input FILE|DIR...");
    else if (o->algo && strcmp(o->algo, "keyidx") && strcmp(o->algo, "radix"))
        st = sl_error_root(c.comm, SL_ERR_USAGE, "--algo must be keyidx or radix");
    else
        st = sl_sort_geom_from_opts(c.comm, o->record_size, o->key_offset, o->key_length, &c.g);
    c.std = sl_sort_geom_is_std(&c.g);
    c.R = c.g.rec;
    c.spl_len = (size_t)c.g.len + 8;
    if (st == SL_OK && o->tmp) {
        /* --tmp may be node-local: a rank whose node lacks it names it, and
         * every rank stops (one message when none has it). One that cannot
         * be written is found now, not at the first spill after a map. */
        struct stat sb;
        char why[300] = "is not an existing directory";
        int bad = stat(o->tmp, &sb) != 0 || !S_ISDIR(sb.st_mode), nbad = 0;
        if (!bad && access(o->tmp, W_OK | X_OK) != 0) {
            snprintf(why, sizeof why, "is not a writable directory: %s", strerror(errno));
            bad = 1;
        }
        MPI_Allreduce(&bad, &nbad, 1, MPI_INT, MPI_SUM, c.comm);
        if (nbad == c.size)
            sl_error_root(c.comm, SL_ERR_NOT_FOUND, "--tmp '%s' %s", o->tmp, why);
        else if (bad)
            sl_error(SL_ERR_NOT_FOUND, "--tmp '%s' %s", o->tmp, why);
        st = nbad == 0 ? SL_OK : bad ? SL_ERR_NOT_FOUND : SL_ERR_PEER;
    }
    if (st == SL_OK)
        st = check_samples(&c);
    if (st != SL_OK) {
        sl_topo_fini(&topo);
        return st;
    }
    uint64_t mem = o->mem ? o->mem : default_mem(topo.local_size);
    if (o->local) {
        /* Node-local inputs: each rank sorts in its own files (%r -> rank);
         * global positions follow rank order. */
        char **v = calloc((size_t)o->input.n, sizeof *v);
        st = v ? SL_OK : sl_error(SL_ERR_NOMEM, "out of memory");
        for (int i = 0; st == SL_OK && i < o->input.n; i++)
            if (!(v[i] = sl_sort_subst_rank(o->input.v[i], c.rank, c.size)))
                st = sl_error(SL_ERR_NOMEM, "out of memory");
        if (st == SL_OK)
            st = input_not_outdir((const char *const *)v, o->input.n, o->output);
        if (st == SL_OK)
            st = sl_filelist_create(MPI_COMM_SELF, v, o->input.n, 1, c.g.rec, &c.fl);
        for (int i = 0; v && i < o->input.n; i++)
            free(v[i]);
        free(v);
        SL_TRY_GOTO(sl_agree(c.comm, st), out);
        SL_TRY_GOTO(sl_agree(c.comm, local_inputs_distinct(&c, topo.node_comm)), out);
        c.my_cnt = c.fl->total / c.R;
        c.my_off = 0;
        MPI_Exscan(&c.my_cnt, &c.my_off, 1, MPI_UINT64_T, MPI_SUM, c.comm);
        if (c.rank == 0)
            c.my_off = 0;
        MPI_Allreduce(&c.my_cnt, &c.nrec, 1, MPI_UINT64_T, MPI_SUM, c.comm);
        c.fbase = 0;
    } else {
        SL_TRY_GOTO(sl_agree(c.comm, c.rank == 0 ? input_not_outdir((const char *const *)o->input.v,
                                                                    o->input.n, o->output)
                                                 : SL_OK),
                    out);
        SL_TRY_GOTO(sl_filelist_create(c.comm, o->input.v, o->input.n, 1, c.g.rec, &c.fl), out);
        c.nrec = c.fl->total / c.R;
        sl_sort_block(c.nrec, c.size, c.rank, &c.my_off, &c.my_cnt);
        c.fbase = c.my_off;
    }
    /* Every rank makes OUTDIR: it may be node-local. Rank 0 first, so that
     * a path that cannot be made anywhere (a file, a read-only file
     * system) is named once, not by every rank. */
    SL_TRY_GOTO(sl_agree(c.comm, c.rank == 0 ? sl_mkdirs(o->output) : SL_OK), out);
    SL_TRY_GOTO(sl_agree(c.comm, c.rank != 0 ? sl_mkdirs(o->output) : SL_OK), out);
    /* Inputs inside OUTDIR under names the sort writes or removes are
     * refused before anything is touched: rank 0 checks the shared list,
     * every rank its own with --local. */
    SL_TRY_GOTO(sl_agree(c.comm, o->local || c.rank == 0 ? check_inputs_outside(&c) : SL_OK), out);

    /* Memory plan: about 1/4 of --mem for the map's two read chunks (this
     * virtual disk reads much faster in large requests: 1/16 per chunk made
     * the map 20-30% slower), 1/8 for send blocks and receive slots; the
     * rest holds the partition with the sort's scratch (32 B per record
     * of index, 100 B of copy with --algo radix).
     * Output and spill writes go in pieces of 1/16 (iobuf). */
    int slots = P > 1 ? (2 * (P - 1) < 4 ? 4 : (2 * (P - 1) > 8 ? 8 : 2 * (P - 1))) : 0;
    size_t iob = (size_t)(mem / 16);
    if (iob > (8u << 20)) /* larger pieces gain nothing; fresh pages cost */
        iob = 8u << 20;
    if (iob < 100000)
        iob = 100000;
    c.iobuf = iob / c.R * c.R; /* at least a record: the write queue rounds up to its unit */
    if (c.iobuf < c.R)
        c.iobuf = c.R;
    size_t chunk = o->chunk ? (size_t)o->chunk : (size_t)(mem / 8);
    if (!o->chunk && chunk > (8u << 20)) /* the default only, as for --block */
        chunk = 8u << 20;
    if (chunk < 100000)
        chunk = 100000;
    if (chunk < c.R) /* records of up to SL_SORT_REC_MAX: at least one per read */
        chunk = c.R;
    chunk = chunk / c.R * c.R;
    c.blk = o->block ? (size_t)o->block : (size_t)(mem / 8 / (uint64_t)(2 * (P - 1) + slots + 1));
    if (!o->block && c.blk > (1u << 20)) /* the default only: the README advises --block 4M on IB and TCP */
        c.blk = 1u << 20;
    if (c.blk < 10000)
        c.blk = 10000;
    if (c.blk < c.R)
        c.blk = c.R;
    c.blk = c.blk / c.R * c.R;
    {
        /* Blocks land in receive buffers of the receiver's block size: every
         * rank takes the smallest (the default --mem differs across nodes
         * with other RAM or another number of ranks). */
        uint64_t b = c.blk;
        MPI_Allreduce(MPI_IN_PLACE, &b, 1, MPI_UINT64_T, MPI_MIN, c.comm);
        c.blk = (size_t)b;
    }
    int64_t avail = (int64_t)mem - 2 * (int64_t)chunk - (int64_t)(2 * (P - 1) + slots) * (int64_t)c.blk;
    {
        /* Explicit --chunk or --block leaving the reducer less than a
         * quarter of --mem (it would fall to its floor and the sort use
         * more than --mem) are refused; ranks agree (--mem's default
         * differs across nodes). */
        int big = (o->chunk || o->block) && avail < (int64_t)(mem / 4), nbig = 0;
        MPI_Allreduce(&big, &nbig, 1, MPI_INT, MPI_SUM, c.comm);
        if (nbig) {
            const char *fmt =
                "--chunk and --block take %lld of the %llu bytes of --mem (2 read chunks, %d "
                "blocks); leave at least a quarter for the reducer: smaller buffers or a larger "
                "--mem";
            long long used = (long long)((int64_t)mem - avail);
            if (nbig == c.size) /* the same on every rank: said once */
                st = sl_error_root(c.comm, SL_ERR_USAGE, fmt, used, (unsigned long long)mem,
                                   2 * (P - 1) + slots);
            else
                st = big ? sl_error(SL_ERR_USAGE, fmt, used, (unsigned long long)mem, 2 * (P - 1) + slots)
                         : SL_ERR_PEER;
            goto out;
        }
    }
    {
        sl_sort_rplan_t rp;
        /* radix's copy of the records only on the default geometry (others
         * sort entries whatever --algo says: memsort.c). */
        sl_sort_reducer_plan_rec(avail, c.nrec, P, c.std && o->algo && !strcmp(o->algo, "radix"), c.g.rec,
                                 &rp);
        c.rcap = rp.rcap;
        c.rlim = rp.rlim;
        c.expect = rp.expect;
        c.halves = rp.halves;
    }
    /* The merge runs after the map's buffers and the sort index are gone:
     * all but the reducer's buffer (two if one was kept: reduce()) and the
     * two output pieces read runs ahead. */
    int64_t mleft = (int64_t)mem - (int64_t)(c.rcap * c.R) - 2 * (int64_t)c.iobuf;
    c.merge_bytes = mleft > 0 ? (size_t)mleft : 0;
    c.rb[0] = c.rbuf = sl_sort_alloc_big((size_t)c.rcap * c.R);
    if (c.halves)
        c.rb[1] = sl_sort_alloc_big((size_t)c.rcap * c.R);
    c.spl = calloc((size_t)P, c.spl_len);
    c.done = calloc((size_t)P, sizeof(int));
    c.sfill = calloc((size_t)P, sizeof(size_t));
    c.scur = calloc((size_t)P, sizeof(int));
    for (int b = 0; b < 2; b++) {
        c.sb[b] = calloc((size_t)P, sizeof(unsigned char *));
        c.sreq[b] = calloc((size_t)P, sizeof(sl_xchg_req_t *));
    }
    int ok = c.rbuf && (!c.halves || c.rb[1]) && c.spl && c.done && c.sfill && c.scur && c.sb[0] && c.sb[1] &&
             c.sreq[0] && c.sreq[1];
    for (int p = 0; ok && p < P; p++)
        for (int b = 0; ok && b < 2 && p != c.rank; b++)
            ok = (c.sb[b][p] = malloc(c.blk)) != NULL;
    SL_TRY_GOTO(sl_agree(c.comm, ok ? SL_OK
                                    : sl_error(SL_ERR_NOMEM, "out of memory for --mem %llu bytes",
                                               (unsigned long long)mem)),
                out);
    const char *rundir = o->tmp ? o->tmp : o->output;
    if (strlen(rundir) > 3000)
        SL_TRY_GOTO(sl_error_root(c.comm, SL_ERR_USAGE, "--tmp/--output path too long"), out);
    /* Runs are named by a token unique to the sort (a resume takes the
     * killed run's from the manifest) and the rank. */
    c.token = (uint64_t)time(NULL) << 22 ^ (uint64_t)getpid();
    MPI_Bcast(&c.token, 1, MPI_UINT64_T, 0, c.comm);
    SL_VERBOSE0("sort: --mem %llu per rank: read-ahead 2 x %zu B, blocks %zu B, reducer %s%llu records",
                (unsigned long long)mem, chunk, c.blk, c.halves ? "2 x " : "", (unsigned long long)c.rcap);

    /* UCX first: a transport that cannot start (a bad UCX_TLS, say) stops
     * the sort before an earlier run's outputs in OUTDIR are removed. */
    if (P > 1)
        SL_TRY_GOTO(sl_xchg_create(c.comm, c.blk, slots, deliver, &c, &c.x), out);
    SL_TRY_GOTO(plan_partitions(&c), out);
    snprintf(c.runbase, sizeof c.runbase, "%.3000s/sluice-run-%llu-%d", rundir, (unsigned long long)c.token,
             c.rank);
    if (c.from_runs) {
        /* Every partition is complete or has the runs a stop during the
         * merge kept: no input is read (but the fingerprint's records),
         * nothing exchanged. The reducer's
         * second buffer is not needed; the first stays an empty run. */
        free(c.kin); /* nothing is counted for the kept partitions: reduce() says what stands for it */
        c.kin = NULL;
        free(c.rb[1]);
        c.rb[1] = NULL;
        c.rcur = 0;
        c.rbuf = c.rb[0];
        c.bytes_read = c.runs_nrec * c.R; /* the runs, read back by the merge */
    } else {
        if (c.mine_runs) /* the runs kept at a stop during the map, read back by the merge */
            c.bytes_read = c.runs_nrec * c.R;
        double t0 = sl_now();
        SL_TRY_GOTO(map(&c, chunk), out);
        c.t_map = sl_now() - t0;
        if (o->test_stop_after_map && c.rank > 0)
            sl_stop_request(); /* the test hook: a stop between the map's end and the safe point */
    }
    if (c.x)
        sl_xchg_destroy(&c.x);
    for (int b = 0; b < 2; b++) /* the send blocks' memory goes to the merge */
        for (int p = 0; p < P; p++) {
            free(c.sb[b][p]);
            c.sb[b][p] = NULL;
        }
    /* A safe point: a stop asked for now (SIGUSR1/SIGTERM) leaves the run
     * resumable with --resume (complete partitions are kept). If the map
     * ran to its end on every rank, its work is kept: every rank asks
     * itself to stop and reduce() keeps its runs at its first output
     * buffer (a rank with no record to write completes its empty
     * partition). A map cut short by the stop keeps what it mapped
     * (map_stop). After a resume from runs nothing is to keep. */
    {
        int stop = 0, cut = 0;
        SL_TRY_GOTO(sl_stop_agree(c.comm, &stop), out);
        if (stop)
            MPI_Allreduce(&c.map_cut, &cut, 1, MPI_INT, MPI_MAX, c.comm);
        if (stop && c.from_runs) {
            st = SL_ERR_STOPPED;
            merge_stop_note(&c, 1); /* the run manifests stand */
            goto out;
        }
        if (stop && cut) {
            st = map_stop(&c);
            goto out;
        }
        if (stop)
            sl_stop_request();
    }
    if (c.kin) /* each kept partition's count and CRC32 sum, over every rank's share */
        MPI_Reduce_scatter_block(c.kin, c.kept_in, 2, MPI_UINT64_T, MPI_SUM, c.comm);
    if (c.kin && c.kpre && c.kpre[3 * c.rank]) { /* and over the parts mapped before a stop */
        c.kept_in[0] += c.kpre[3 * c.rank + 1];
        c.kept_in[1] += c.kpre[3 * c.rank + 2];
    }
    {
        sl_progress_t *wprog = NULL;
        SL_TRY_GOTO(sl_progress_create(c.comm, "sort: sort+write", (double)c.nrec * (double)c.R, "B", &wprog),
                    out);
        /* Ranks merge independently and see a stop at their own output
         * buffers: only the result is agreed, here. One stopped (its runs
         * kept, or its partition complete on another) makes all return
         * SL_ERR_STOPPED, past the same collectives. */
        st = sl_agree(c.comm, reduce(&c, c.iobuf, wprog));
        sl_status_t s2 = sl_progress_finish(&wprog);
        if (st == SL_OK)
            st = s2;
        if (st == SL_ERR_STOPPED) {
            int all = 0;
            MPI_Allreduce(&c.saved, &all, 1, MPI_INT, MPI_MIN, c.comm);
            merge_stop_note(&c, all);
        }
        if (st != SL_OK)
            goto out;
    }
    {
        /* Nothing lost: the partitions hold the input's records (a kept
         * partition that was changed would not). */
        uint64_t tot = 0;
        MPI_Allreduce(&c.out_nrec, &tot, 1, MPI_UINT64_T, MPI_SUM, c.comm);
        if (tot != c.nrec) {
            st = sl_error_root(c.comm, SL_ERR_MISMATCH, "the partitions hold %llu records, the input %llu%s",
                               (unsigned long long)tot, (unsigned long long)c.nrec,
                               o->resume ? ": a kept partition was changed; run without --resume" : "");
            goto out;
        }
    }
    if (c.rank == 0 && c.cut) /* every partition is complete: the stop's map file goes last */
        mapfile_unlink(&c);
    st = sl_agree(c.comm, report(&c, sl_now() - t_start));
out:
    /* An error leaves nothing under a final name: a partition this run
     * renamed goes (one a --resume kept, complete before, stays); a stop
     * keeps them for --resume */
    if (st != SL_OK && st != SL_ERR_STOPPED && c.renamed) {
        char fin[4200];
        if (part_path(&c, c.rank, fin, sizeof fin, 0) == SL_OK && unlink(fin) == 0)
            sl_fsync_dir_of(fin);
    }
    if (c.x)
        sl_xchg_destroy(&c.x);
    for (int i = 0; i < c.nruns; i++) {
        if (i >= c.nlisted) /* those a run manifest names stay for --resume */
            unlink(c.runs[i].path);
        free((char *)c.runs[i].path);
    }
    free(c.runs);
    for (int b = 0; b < 2; b++) {
        for (int p = 0; c.sb[b] && p < P; p++)
            free(c.sb[b][p]);
        free(c.sb[b]);
        free(c.sreq[b]);
    }
    free(c.sfill);
    free(c.scur);
    free(c.rb[0]);
    free(c.rb[1]);
    free(c.spare[0]);
    free(c.spare[1]);
    free(c.spl);
    free(c.done);
    free(c.kin);
    free(c.kpre);
    sl_filelist_destroy(&c.fl);
    sl_topo_fini(&topo);
    return st;
}
