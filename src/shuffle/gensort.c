/* SPDX-License-Identifier: BSD-3-Clause */
/* `sluice gensort`: each rank generates its contiguous share of the record
 * range and pwrites it at its offset of FILE.tmp (or into FILE.RANK with
 * --parts), so the result equals a serial run; renamed when all are done. */
#define _GNU_SOURCE /* O_DIRECT */
#include "config.h"
#include "shuffle_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_CHUNK 102400 /* records per write: 10 MB, a whole number of pages */
#define PAGE      4096

static sl_status_t parse_u64(MPI_Comm comm, const char *s, const char *what, uint64_t *v_p)
{
    char *end;
    errno = 0;
    if (!s || !(*s >= '0' && *s <= '9')) /* strtoull would take leading blanks and a sign */
        return sl_error_root(comm, SL_ERR_USAGE, "%s: expected a non-negative integer, got '%s'", what,
                             s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return sl_error_root(comm, SL_ERR_USAGE, "%s: '%s' is not a decimal integer below 2^64", what, s);
    *v_p = v;
    return SL_OK;
}

/* Write len bytes at file offset off: the page-aligned middle with direct I/O
 * (no copy into the page cache), head and tail buffered. buf + (the head's
 * length) must be page-aligned; the caller places the data so. */
static sl_status_t write_mixed(int fd, int dfd, const unsigned char *buf, size_t len, off_t off,
                               const char *path)
{
    size_t head = (size_t)((PAGE - off % PAGE) % PAGE);
    if (dfd < 0 || head >= len)
        return sl_pwrite_full(fd, buf, len, off, path);
    size_t mid = (len - head) / PAGE * PAGE;
    if (head)
        SL_TRY(sl_pwrite_full(fd, buf, head, off, path));
    if (mid)
        SL_TRY(sl_pwrite_full(dfd, buf + head, mid, off + (off_t)head, path));
    if (len > head + mid)
        SL_TRY(sl_pwrite_full(fd, buf + head + mid, len - head - mid, off + (off_t)(head + mid), path));
    return SL_OK;
}

/* Whether FILE (fin; FILE.RANK with --parts; tmp its temporary name)
 * cannot be the output, with the reason in why. Checked before any work:
 * each is a failure that came only at the end, after all the records were
 * generated (the rename onto a directory) or that the creation of FILE.tmp
 * would meet anyway (its directory missing or not writable), where it is a
 * usage error like the others (exit 2): sl_output_path_problem's checks. A
 * FIFO or a device (or a link to one) would be replaced by the rename (as
 * root, 'gensort N /dev/stdout' put a regular file in place of /dev/stdout
 * and wrote nothing to the pipe). */
static int output_problem(const char *fin, const char *tmp, int parts, char *why, size_t n)
{
    const char *what = parts ? "FILE.RANK" : "FILE";
    const char *kind = sl_sort_special_kind(fin);
    if (kind) {
        snprintf(why, n,
                 "%s '%s' is %s: gensort writes %s.tmp and renames it to %s, which would replace it; "
                 "name a regular file (or /dev/null to generate without writing)",
                 what, fin, kind, what, what);
        return 1;
    }
    char problem[4200];
    if (!sl_output_path_problem(fin, tmp, problem, sizeof problem))
        return 0;
    snprintf(why, n, "cannot write %s '%s': %s", what, fin, problem);
    return 1;
}

sl_status_t sl_gensort_run(MPI_Comm comm, const sl_gensort_opts_t *o)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    uint64_t start = 0, num;
    if (o->begin)
        SL_TRY(parse_u64(comm, o->begin, "-b (starting record)", &start));
    SL_TRY(parse_u64(comm, o->num, "NUM_RECS", &num));
    if (num && start > UINT64_MAX - num)
        return sl_error_root(comm, SL_ERR_USAGE, "-b%s plus %s records passes record number 2^64", o->begin,
                             o->num);
    int flags = (o->ascii ? SL_GENSORT_ASCII : 0) | (o->skew ? SL_GENSORT_SKEW : 0);
    /* /dev/null: generate without writing (as the reference does), with
     * --parts too: FILE.RANK would be a new file in /dev. */
    int skip = !strcmp(o->file, "/dev/null");
    /* A file's size is an off_t: beyond, the byte count would wrap (with
     * --parts, the largest part's). */
    uint64_t most = o->parts ? num / (uint64_t)size + (num % (uint64_t)size != 0) : num;
    if (!skip && most > (uint64_t)INT64_MAX / SL_SORT_REC)
        return sl_error_root(comm, SL_ERR_USAGE,
                             "NUM_RECS %s is more than one file holds (%llu records of %d bytes at most)",
                             o->num, (unsigned long long)(INT64_MAX / SL_SORT_REC), SL_SORT_REC);
    uint64_t off, cnt;
    sl_sort_block(num, size, rank, &off, &cnt);

    char tmp[4200], fin[4096];
    if (o->parts)
        snprintf(fin, sizeof fin, "%s.%d", o->file, rank);
    else
        snprintf(fin, sizeof fin, "%s", o->file);
    snprintf(tmp, sizeof tmp, "%s.tmp", fin);

    /* What can be known before any work is checked here, so that a bad
     * FILE fails at once instead of after NUM_RECS records: see
     * output_problem. With --parts every rank checks its own FILE.RANK
     * (node-local paths may differ by node); the lowest rank with a problem
     * says it, once, and every rank returns SL_ERR_USAGE (exit 2). */
    char why[8500] = "";
    int bad = !skip && (o->parts || rank == 0) && output_problem(fin, tmp, o->parts, why, sizeof why);
    int in[2] = {bad ? rank : INT_MAX, bad}, out[2];
    MPI_Allreduce(&in[0], &out[0], 1, MPI_INT, MPI_MIN, comm);
    MPI_Allreduce(&in[1], &out[1], 1, MPI_INT, MPI_SUM, comm);
    if (out[1]) {
        if (rank == out[0]) {
            if (out[1] > 1)
                sl_error(SL_ERR_USAGE, "%s (%d more rank%s cannot write %s FILE.RANK either)", why,
                         out[1] - 1, out[1] > 2 ? "s" : "", out[1] > 2 ? "their" : "its");
            else
                sl_error(SL_ERR_USAGE, "%s", why);
        }
        return SL_ERR_USAGE;
    }

    sl_status_t st = SL_OK;
    int fd = -1;
    if (!skip && (o->parts || rank == 0)) {
        fd = sl_open_new(tmp, O_WRONLY, 0644);
        if (fd < 0)
            st = sl_error(SL_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    }
    SL_TRY(sl_agree(comm, st));
    if (!skip && !o->parts && rank != 0) {
        fd = open(tmp, O_WRONLY);
        if (fd < 0)
            st = sl_error(SL_ERR_IO, "cannot open '%s': %s", tmp, strerror(errno));
    }
    if (st == SL_OK && fd >= 0) {
        off_t want = (off_t)((o->parts ? cnt : num) * SL_SORT_REC);
        if (rank == 0 || o->parts) {
            if (ftruncate(fd, want) != 0)
                st = sl_error(SL_ERR_IO, "cannot size '%s' to %lld bytes: %s", tmp, (long long)want,
                              strerror(errno));
        }
    }
    int dfd = fd >= 0 ? open(tmp, O_WRONLY | O_DIRECT) : -1; /* -1 where unsupported: buffered */
    unsigned char *mem = NULL;
    if (st == SL_OK && posix_memalign((void **)&mem, PAGE, (size_t)GEN_CHUNK * SL_SORT_REC + PAGE) != 0) {
        mem = NULL;
        st = sl_error(SL_ERR_NOMEM, "out of memory for the generation buffer");
    }
    sl_u128_t sum = {0, 0};
    uint64_t base = o->parts ? 0 : off;
    for (uint64_t done = 0; st == SL_OK && done < cnt;) {
        if (sl_stop_requested()) { /* Ctrl-C, Slurm's USR1 or TERM: FILE.tmp is removed below */
            st = SL_ERR_STOPPED;
            break;
        }
        uint64_t k = cnt - done < GEN_CHUNK ? cnt - done : GEN_CHUNK;
        off_t at = (off_t)((base + done) * SL_SORT_REC);
        /* Place the records so that the first page boundary of the file
         * range falls on a page boundary of memory. */
        unsigned char *buf = mem + (PAGE - (PAGE - at % PAGE) % PAGE) % PAGE;
        sl_gensort_records(buf, start + off + done, k, flags, o->checksum ? &sum : NULL);
        if (fd >= 0)
            st = write_mixed(fd, dfd, buf, (size_t)k * SL_SORT_REC, at, tmp);
        done += k;
    }
    free(mem);
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0) {
        if (st == SL_OK && fsync(fd) != 0)
            st = sl_error(SL_ERR_IO, "cannot flush '%s': %s", tmp, strerror(errno));
        if (close(fd) != 0 && st == SL_OK)
            st = sl_error(SL_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    }
    st = sl_agree(comm, st);
    int renamed = 0;
    if (st == SL_OK && !skip && (o->parts || rank == 0)) {
        if (rename(tmp, fin) != 0) {
            st = sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, fin, strerror(errno));
            /* NUM_RECS x 100 bytes that nothing will use (FILE made a directory since the check) */
            unlink(tmp);
        } else {
            renamed = 1;
            sl_fsync_dir_of(fin);
        }
    } else if (st != SL_OK && !skip && (o->parts || rank == 0)) {
        unlink(tmp);
    }
    /* --parts: one rank's rename failed (FILE.1 made a directory since the check): the others'
     * parts go too, or FILE.0 stood complete beside no FILE.1 */
    st = sl_agree(comm, st);
    if (st != SL_OK && renamed && unlink(fin) == 0)
        sl_fsync_dir_of(fin);
    SL_TRY(st);
    if (o->checksum) {
        uint64_t mine[2] = {sum.hi, sum.lo},
                 *all = rank == 0 ? malloc(2 * sizeof(uint64_t) * (size_t)size) : NULL;
        MPI_Gather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, 0, comm);
        if (rank == 0) {
            sl_u128_t tot = {0, 0};
            char hex[40];
            for (int r = 0; all && r < size; r++)
                tot = sl_u128_add(tot, (sl_u128_t){all[2 * r], all[2 * r + 1]});
            fprintf(stderr, "%s\n", sl_u128_hex(tot, hex));
            fflush(stderr);
        }
        free(all);
    }
    return SL_OK;
}
