/* SPDX-License-Identifier: BSD-3-Clause */
/* The farm journal: an append-only text file, one line per finished attempt,
 * written with one write(2) per record (O_APPEND) so records of several ranks
 * never interleave. Read back to resume: complete records are kept, a torn
 * last line is ignored with a warning and its length given back, so that the
 * caller cuts it off before appending. A broken line in the middle (a torn
 * line an earlier version closed with a newline and appended after) is
 * dropped by rewriting the journal under a temporary name, renamed over it
 * when complete: complete records are never changed or lost. */
#define _GNU_SOURCE
#include "config.h"
#include "farm_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t fnv1a(uint64_t h, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)buf[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t farm_hash(const char *buf, size_t len)
{
    return fnv1a(14695981039346656037ULL, buf, len); /* FNV-1a 64 */
}

/* The hash earlier journals hold: FNV-1a with its offset basis short of
 * the last digit. A journal with it is still taken as one for this FILE. */
uint64_t farm_hash_old(const char *buf, size_t len)
{
    return fnv1a(1469598103934665603ULL, buf, len);
}

static sl_status_t read_all(const char *what, const char *path, char **buf_p, size_t *len_p)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? SL_ERR_NOT_FOUND
                               : sl_error(SL_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
        close(fd);
        return sl_error(SL_ERR_IO, "cannot read %s '%s': %s", what, path,
                        S_ISDIR(sb.st_mode) ? "is a directory" : strerror(errno));
    }
    size_t cap = (size_t)sb.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return sl_error(SL_ERR_NOMEM, "out of memory reading %s '%s'", what, path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                close(fd);
                return sl_error(SL_ERR_NOMEM, "out of memory reading %s '%s'", what, path);
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            return sl_error(SL_ERR_IO, "cannot read %s '%s': %s", what, path, strerror(errno));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    *buf_p = buf;
    *len_p = len;
    return SL_OK;
}

sl_status_t farm_read_file(const char *path, char **buf_p, size_t *len_p)
{
    sl_status_t st = read_all("task file", path, buf_p, len_p);
    if (st == SL_ERR_NOT_FOUND)
        return sl_error(SL_ERR_NOT_FOUND, "task file '%s' does not exist", path);
    const char *nul = st == SL_OK ? memchr(*buf_p, 0, *len_p) : NULL;
    if (nul) { /* the commands after it would be dropped without a word */
        int line = 1;
        for (const char *p = *buf_p; p < nul; p++)
            line += *p == '\n';
        free(*buf_p);
        *buf_p = NULL;
        return sl_error(SL_ERR_INVALID, "task file '%s': line %d contains a NUL byte (not a text file?)",
                        path, line);
    }
    return st;
}

/* Split fields on tabs in place; returns the count (at most max). */
static int split_tabs(char *s, char **f, int max)
{
    int n = 0;
    f[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == '\t') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

/* A record line (its newline cut off) split in place into f[9]: 1 if it is
 * a complete one (nine fields, numbers where numbers belong). */
static int parse_record(char *line, char **f, int64_t *id_p, int64_t *att_p)
{
    int64_t code;
    int n = split_tabs(line, f, 10);
    return n == 9 && !parse_i64(f[0], id_p) && !parse_i64(f[1], att_p) && !parse_i64(f[5], &code) &&
           *id_p >= 0 && *att_p >= 0;
}

/* A line of the journal that is neither a header or comment (#), nor
 * empty, nor a complete record. */
static int broken_line(const char *p, size_t len)
{
    char *line, *f[10];
    int64_t id, att;
    if (len == 0 || *p == '#' || !(line = strndup(p, len)))
        return 0;
    int broken = !parse_record(line, f, &id, &att);
    free(line);
    return broken;
}

sl_status_t farm_journal_load(const char *path, uint64_t hash, uint64_t old_hash, int64_t ntasks, int force,
                              farm_task_state_t *ts, int *exists_p, int *needs_header_p, size_t *torn_p,
                              int *bad_p, int *bad_line_p)
{
    char *buf = NULL;
    size_t len = 0;
    *exists_p = *needs_header_p = 0;
    *torn_p = 0;
    *bad_p = *bad_line_p = 0;
    sl_status_t st = read_all("journal", path, &buf, &len);
    if (st == SL_ERR_NOT_FOUND) {
        *needs_header_p = 1;
        return SL_OK;
    }
    SL_TRY(st);
    *exists_p = 1;
    if (len == 0) {
        *needs_header_p = 1;
        free(buf);
        return SL_OK;
    }
    uint64_t jhash = 0;
    int have_header = 0, lineno = 0;
    char *p = buf;
    while (*p) {
        char *nl = strchr(p, '\n');
        lineno++;
        if (!nl) { /* torn: the writer died in the middle of the last record */
            SL_WARN("journal '%s': line %d is an incomplete record (torn write); ignored and removed", path,
                    lineno);
            *torn_p = len - (size_t)(p - buf);
            break;
        }
        *nl = 0;
        if (!strncmp(p, "#sluice-farm-journal", 20)) {
            char *h = strstr(p, "hash=");
            if (h) {
                jhash = strtoull(h + 5, NULL, 16);
                have_header = 1;
            }
        } else if (!strncmp(p, FARM_RETRY_LINE, strlen(FARM_RETRY_LINE)) &&
                   (p[strlen(FARM_RETRY_LINE)] == '\t' || !p[strlen(FARM_RETRY_LINE)])) {
            /* a --retry-failed run started: the tasks failed so far are
             * its plan, run again (their --retries afresh) until a record
             * after this line says how each one ended */
            for (int64_t i = 0; i < ntasks; i++)
                if (ts[i].failed && !ts[i].done) {
                    ts[i].failed = 0;
                    ts[i].used = 0;
                    ts[i].retry = 1;
                }
        } else if (*p && *p != '#') {
            char *f[10];
            int64_t id, att;
            if (!parse_record(p, f, &id, &att)) {
                if (!*bad_p)
                    *bad_line_p = lineno;
                ++*bad_p;
            } else if (id < ntasks) {
                farm_task_state_t *t = &ts[id];
                if (att + 1 > t->prior)
                    t->prior = (int)(att + 1);
                if (!strcmp(f[4], "ok"))
                    t->done = 1;
                else if (strcmp(f[4], "interrupted") != 0 && !strcmp(f[8], "1")) {
                    t->failed = 1;
                    t->retry = 0;
                    t->used = 0; /* a run with --retry-failed starts its retries afresh */
                } else if (strcmp(f[4], "interrupted") != 0)
                    t->used++;
            }
        }
        p = nl + 1;
    }
    free(buf);
    if (!have_header)
        return sl_error(SL_ERR_MISMATCH, "'%s' is not a sluice farm journal (no header line)", path);
    if (jhash != hash && jhash != old_hash) {
        if (!force)
            return sl_error(
                SL_ERR_MISMATCH,
                "journal '%s' was written for a different task file (hash %016llx, this file %016llx); "
                "use another --journal, or --force to reuse its records",
                path, (unsigned long long)jhash, (unsigned long long)hash);
        SL_WARN("journal '%s' belongs to a different task file; --force: reusing its records by task id",
                path);
        *needs_header_p = 1;
    }
    return SL_OK;
}

int farm_journal_rewrite(const char *path, int *fd_p, char *why, size_t whylen)
{
    char *buf = NULL, tmp[4200];
    size_t len = 0, keep = 0;
    struct stat sb;
    if (read_all("journal", path, &buf, &len) != SL_OK || fstat(*fd_p, &sb) != 0) {
        snprintf(why, whylen, "cannot read it again");
        free(buf);
        return -1;
    }
    /* keep every complete line but the broken ones; a torn last line goes */
    for (char *p = buf, *nl; (nl = memchr(p, '\n', len - (size_t)(p - buf))); p = nl + 1)
        if (!broken_line(p, (size_t)(nl - p))) {
            memmove(buf + keep, p, (size_t)(nl + 1 - p));
            keep += (size_t)(nl + 1 - p);
        }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* locked before it takes the journal's name: the lock is the farm's */
    int fd = sl_open_new(tmp, O_WRONLY | O_APPEND | O_CLOEXEC, sb.st_mode & 07777), e = 0;
    if (fd < 0 || (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) ||
        farm_write_quiet(fd, buf, keep) != 0 || (fsync(fd) != 0 && errno != EINVAL) || rename(tmp, path) != 0)
        e = errno ? errno : EIO;
    free(buf);
    if (e) {
        snprintf(why, whylen, "cannot write '%s': %s", tmp, strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return -1;
    }
    sl_fsync_dir_of(path);
    close(*fd_p); /* the old file, gone from the directory */
    *fd_p = fd;
    return 0;
}

int farm_write_quiet(int fd, const char *buf, size_t len)
{
    while (len > 0) { /* a signal can cut a write to a pipe short: go on with the rest */
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

sl_status_t farm_write_all(int fd, const char *buf, size_t len, const char *what)
{
    if (farm_write_quiet(fd, buf, len) < 0)
        return sl_error(SL_ERR_IO, "cannot write to %s: %s", what, strerror(errno));
    return SL_OK;
}

sl_status_t farm_write_msg(int fd, const char *buf, size_t len, const char *what, char *msg, size_t msglen)
{
    if (farm_write_quiet(fd, buf, len) == 0)
        return SL_OK;
    int e = errno;
    snprintf(msg, msglen, "cannot write to %s: %s", what, strerror(e));
    return sl_errno_status(e);
}

sl_status_t farm_journal_header(int fd, const char *path, uint64_t hash, int64_t ntasks, const char *file)
{
    /* FILE's name escaped: a tab or newline in it would break the header line */
    char name[2 * 4096 + 1];
    size_t k = 0;
    for (const char *c = file; *c && k + 2 < sizeof name; c++) {
        const char *esc = *c == '\t'   ? "\\t"
                          : *c == '\n' ? "\\n"
                          : *c == '\r' ? "\\r"
                          : *c == '\\' ? "\\\\"
                                       : NULL;
        if (esc) {
            name[k++] = esc[0];
            name[k++] = esc[1];
        } else
            name[k++] = *c;
    }
    name[k] = 0;
    char line[sizeof name + 128];
    int n = snprintf(line, sizeof line, "#sluice-farm-journal\tv1\thash=%016llx\tntasks=%lld\tfile=%s\n",
                     (unsigned long long)hash, (long long)ntasks, name);
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    SL_TRY(farm_write_all(fd, line, (size_t)n, path));
    return SL_OK;
}

sl_status_t farm_journal_retry_mark(int fd, const char *path)
{
    char line[128];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int n = snprintf(line, sizeof line, FARM_RETRY_LINE "\t%.3f\n",
                     (double)now.tv_sec + 1e-9 * (double)now.tv_nsec);
    SL_TRY(farm_write_all(fd, line, (size_t)n, path));
    if (fsync(fd) != 0 && errno != EINVAL)
        return sl_error(SL_ERR_IO, "cannot fsync journal '%s': %s", path, strerror(errno));
    return SL_OK;
}

sl_status_t farm_journal_record(int fd, const char *path, const farm_record_t *r, char *msg, size_t msglen)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%lld\t%d\t%d\t%s\t%s\t%d\t%.3f\t%.3f\t%d\n", (long long)r->id,
                     r->attempt, r->rank, r->host, r->result, r->code, r->start, r->end, r->final);
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    return farm_write_msg(fd, line, (size_t)n, path, msg,
                          msglen); /* one write(2): records never interleave */
}
