/* SPDX-License-Identifier: BSD-3-Clause */
/* File helpers for "nothing lost": atomic replace (temporary name, fsync,
 * rename, fsync of the directory), mkdir -p, and whether two paths are one
 * file. */
#include "config.h"
#include "core_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

sl_status_t sl_errno_status(int e)
{
    return e == ENOSPC || e == EDQUOT ? SL_ERR_NOSPACE : SL_ERR_IO;
}

int sl_fs_full(const char *path, uint64_t room)
{
    struct statvfs sv;
    int ok = statvfs(path, &sv) == 0;
    if (!ok) { /* not there (yet, or any more): its directory's */
        char *copy = strdup(path);
        ok = copy && statvfs(dirname(copy), &sv) == 0;
        free(copy);
    }
    /* f_blocks 0: no size, so no figure of what is free (ramfs says 0 free) */
    return ok && ((sv.f_blocks > 0 && (uint64_t)sv.f_bavail * sv.f_frsize < room) ||
                  (sv.f_files > 0 && sv.f_favail == 0));
}

int sl_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

void sl_unlink_if_link(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        unlink(path);
}

const char *sl_output_path_problem(const char *path, const char *tmp, char *why, size_t len)
{
    struct stat sb;
    /* lstat: a link (to a directory too) is replaced by the rename */
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (tmp)
            snprintf(
                why, len,
                "is a directory (the output is written as '%s' and renamed to it, which cannot replace a "
                "directory; name a file)",
                tmp);
        else
            snprintf(why, len, "is a directory");
        return why;
    }
    char *copy = strdup(path);
    if (!copy) {
        snprintf(why, len, "out of memory");
        return why;
    }
    const char *dir = dirname(copy);
    int missing = stat(dir, &sb) != 0 ? errno : 0;
    if (missing == ENOENT)
        snprintf(why, len, "its directory '%s' does not exist", dir);
    else if (missing)
        snprintf(why, len, "its directory '%s': %s", dir, strerror(missing));
    else if (!S_ISDIR(sb.st_mode))
        snprintf(why, len, "'%s' is not a directory", dir);
    else if (access(dir, W_OK | X_OK) != 0 && tmp)
        snprintf(why, len, "its directory '%s' is not writable (for '%s'): %s", dir, tmp, strerror(errno));
    else if (access(dir, W_OK | X_OK) != 0)
        snprintf(why, len, "its directory '%s' is not writable: %s", dir, strerror(errno));
    else
        why = NULL;
    free(copy);
    return why;
}

int sl_open_new(const char *path, int flags, mode_t mode)
{
    sl_unlink_if_link(path);
    return open(path, flags | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
}

sl_status_t sl_fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return SL_OK; /* not fatal: some file systems do not allow it */
    fsync(fd);
    close(fd);
    return SL_OK;
}

sl_status_t sl_file_write_atomic(const char *path, const void *buf, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return sl_error(SL_ERR_INVALID, "path too long: '%s'", path);
    int fd = sl_open_new(tmp, O_WRONLY, 0644);
    if (fd < 0)
        return sl_error(sl_errno_status(errno), "cannot write '%s': %s", tmp, strerror(errno));
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return sl_error(sl_errno_status(e), "cannot write '%s': %s", tmp, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return sl_error(sl_errno_status(e), "cannot write '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sl_error(SL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return sl_fsync_dir_of(path);
}

sl_status_t sl_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return sl_error(SL_ERR_INVALID, "path too long: '%s'", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return sl_error(SL_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sl_error(SL_ERR_IO, "'%s' exists and is not a directory", path);
    return SL_OK;
}

char *sl_json_escape(const char *s)
{
    char *out = malloc(6 * strlen(s) + 1), *o = out;
    for (; out && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            *o++ = '\\', *o++ = (char)ch;
        else if (ch < 0x20)
            o += sprintf(o, "\\u%04x", ch);
        else
            *o++ = (char)ch;
    }
    if (out)
        *o = 0;
    return out;
}
