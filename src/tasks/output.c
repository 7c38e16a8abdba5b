/* SPDX-License-Identifier: BSD-3-Clause */
/* Packed task output for `sluice farm --output-dir`: each rank appends its
 * tasks' stdout and stderr to DIR/rank-R.log and one index line per stream
 * to DIR/rank-R.idx, so 100,000 tasks make a few files, not 200,000.
 * `--show ID` shows the newest output of a task: the latest attempt in the
 * indexes, or its --output-per-task files if a later run wrote them. */
#define _GNU_SOURCE
#include "config.h"
#include "farm_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sl_status_t farm_out_open(farm_out_t *o, const char *dir, int rank)
{
    snprintf(o->log_path, sizeof o->log_path, "%s/rank-%d.log", dir, rank);
    snprintf(o->idx_path, sizeof o->idx_path, "%s/rank-%d.idx", dir, rank);
    o->log_fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (o->log_fd < 0)
        return sl_error(SL_ERR_IO, "cannot open output log '%s': %s", o->log_path, strerror(errno));
    o->idx_fd = open(o->idx_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (o->idx_fd < 0) {
        close(o->log_fd);
        o->log_fd = -1;
        return sl_error(SL_ERR_IO, "cannot open output index '%s': %s", o->idx_path, strerror(errno));
    }
    /* a line cut short (a full file system, a kill) is ended, or the next
     * line would be glued to it and its task's output not found */
    char last = '\n';
    off_t end = lseek(o->idx_fd, 0, SEEK_END);
    if (end > 0 && pread(o->idx_fd, &last, 1, end - 1) == 1 && last != '\n')
        return farm_write_all(o->idx_fd, "\n", 1, o->idx_path);
    return SL_OK;
}

void farm_out_close(farm_out_t *o)
{
    if (o->log_fd >= 0)
        close(o->log_fd);
    if (o->idx_fd >= 0)
        close(o->idx_fd);
    o->log_fd = o->idx_fd = -1;
}

sl_status_t farm_out_append(farm_out_t *o, int64_t id, int attempt, const char *stream, int fd, double end,
                            char *msg, size_t msglen)
{
    off_t off = lseek(o->log_fd, 0, SEEK_END), len = 0;
    char buf[65536];
    if (off < 0)
        return sl_error(SL_ERR_IO, "cannot seek '%s': %s", o->log_path, strerror(errno));
    if (lseek(fd, 0, SEEK_SET) < 0)
        return sl_error(SL_ERR_IO, "cannot rewind a task's %s capture: %s", stream, strerror(errno));
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sl_error(SL_ERR_IO, "cannot read a task's %s capture: %s", stream, strerror(errno));
        if (r == 0)
            break;
        SL_TRY(farm_write_msg(o->log_fd, buf, (size_t)r, o->log_path, msg, msglen));
        len += r;
    }
    char line[128];
    int n = snprintf(line, sizeof line, "%lld\t%d\t%s\t%lld\t%lld\t%.3f\n", (long long)id, attempt, stream,
                     (long long)off, (long long)len, end);
    return farm_write_msg(o->idx_fd, line, (size_t)n, o->idx_path, msg, msglen);
}

static sl_status_t copy_range(const char *path, long long off, long long len, FILE *to)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sl_error(SL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char buf[65536];
    while (len > 0) {
        ssize_t r = pread(fd, buf, len < (long long)sizeof buf ? (size_t)len : sizeof buf, off);
        if (r <= 0) {
            close(fd);
            return sl_error(SL_ERR_IO, "'%s' is shorter than its index says", path);
        }
        fwrite(buf, 1, (size_t)r, to);
        off += r;
        len -= r;
    }
    close(fd);
    fflush(to);
    return SL_OK;
}

static double mtime_of(const struct stat *sb)
{
    return (double)sb->st_mtim.tv_sec + 1e-9 * (double)sb->st_mtim.tv_nsec;
}

/* Print the --output-per-task files of task id, if any; *when_p: when they
 * were last written (-1: none). With print 0, only *when_p. */
static sl_status_t per_task_files(const char *dir, int64_t id, int print, double *when_p)
{
    char out[4200], err[4200];
    struct stat so, se;
    snprintf(out, sizeof out, "%s/task-%lld.out", dir, (long long)id);
    snprintf(err, sizeof err, "%s/task-%lld.err", dir, (long long)id);
    *when_p = -1;
    if (stat(out, &so) != 0)
        return SL_OK;
    int have_err = stat(err, &se) == 0;
    *when_p = mtime_of(&so);
    if (have_err && mtime_of(&se) > *when_p)
        *when_p = mtime_of(&se);
    if (print) {
        SL_TRY(copy_range(out, 0, (long long)so.st_size, stdout));
        if (have_err)
            SL_TRY(copy_range(err, 0, (long long)se.st_size, stderr));
    }
    return SL_OK;
}

sl_status_t farm_out_show(const char *dir, int64_t id)
{
    char path[4200];
    /* runs with and without --output-per-task may share DIR: the newest
     * output wins, whichever kind (the index's end time against the time
     * the per-task files were last written: both are the attempt's end) */
    double per_task;
    SL_TRY(per_task_files(dir, id, 0, &per_task));
    DIR *d = opendir(dir);
    if (!d)
        return sl_error(SL_ERR_IO, "cannot open output directory '%s': %s", dir, strerror(errno));
    /* the newest record wins (end time, then attempt: lines of an older
     * version have no end time); remember where its two streams are */
    int best = -1;
    double best_end = -1;
    char best_log[2][4200] = {"", ""};
    long long best_off[2] = {0, 0}, best_len[2] = {0, 0};
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (strncmp(e->d_name, "rank-", 5) || nl < 5 || strcmp(e->d_name + nl - 4, ".idx"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char line[256], stream[16];
        long long tid, off, len;
        int att;
        double end;
        while (fgets(line, sizeof line, f)) {
            int nf = sscanf(line, "%lld\t%d\t%15s\t%lld\t%lld\t%lf", &tid, &att, stream, &off, &len, &end);
            if (nf < 5 || tid != id)
                continue;
            if (nf < 6)
                end = 0;
            if (end < best_end || (end == best_end && att < best))
                continue;
            if (end > best_end || att > best) {
                best = att;
                best_end = end;
                best_len[0] = best_len[1] = 0;
                best_log[0][0] = best_log[1][0] = 0;
            }
            int s = !strcmp(stream, "stderr");
            snprintf(best_log[s], sizeof best_log[s], "%.*s.log", (int)(strlen(path) - 4), path);
            best_off[s] = off;
            best_len[s] = len;
        }
        fclose(f);
    }
    closedir(d);
    if (per_task >= 0 && (best < 0 || per_task >= best_end)) {
        SL_VERBOSE("task %lld: output of %s/task-%lld.out and .err (newer than any in the packed logs)",
                   (long long)id, dir, (long long)id);
        return per_task_files(dir, id, 1, &per_task);
    }
    if (best < 0)
        return sl_error(SL_ERR_NOT_FOUND, "no output of task %lld in '%s'", (long long)id, dir);
    SL_VERBOSE("task %lld: output of attempt %d in the packed logs of '%s'", (long long)id, best, dir);
    for (int s = 0; s < 2; s++)
        if (best_log[s][0])
            SL_TRY(copy_range(best_log[s], best_off[s], best_len[s], s ? stderr : stdout));
    return SL_OK;
}
