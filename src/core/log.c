/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: one line per message on stderr, prefixed with the world rank, so
 * that 64 ranks' output stays readable. The level check happens in the
 * macros, before any formatting. */
#include "config.h"
#include "core_impl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sl_log_level_g = SL_LOG_INFO;
static int log_rank = -1, log_size = 0;

void sl_log_set_level(sl_log_level_t level) { sl_log_level_g = (int)level; }

void sl_log_set_rank(int rank, int size)
{
    log_rank = rank;
    log_size = size;
}

int sl_log_rank(void)
{
    /* A program using the library does not call sl_log_set_rank: take both
     * from the world, so its errors name the rank when there are several. */
    if (log_rank < 0) {
        int init = 0, fini = 0;
        MPI_Initialized(&init);
        MPI_Finalized(&fini);
        if (init && !fini) {
            MPI_Comm_rank(MPI_COMM_WORLD, &log_rank);
            MPI_Comm_size(MPI_COMM_WORLD, &log_size);
        }
    }
    return log_rank < 0 ? 0 : log_rank;
}

static const char *level_names[] = {"none", "error", "warn", "info", "verbose", "debug"};

sl_status_t sl_log_level_parse(const char *s, sl_log_level_t *level_p)
{
    for (int i = 0; i <= SL_LOG_DEBUG; i++) {
        if (!strcasecmp(s, level_names[i]) || (s[0] == '0' + i && s[1] == '\0')) {
            *level_p = (sl_log_level_t)i;
            return SL_OK;
        }
    }
    return SL_ERR_INVALID;
}

void sl_log_init_env(void)
{
    const char *e = getenv("SLUICE_LOG");
    sl_log_level_t l;
    if (e && *e) {
        if (sl_log_level_parse(e, &l) == SL_OK)
            sl_log_set_level(l);
        else
            SL_WARN0("SLUICE_LOG=%s is not one of none|error|warn|info|verbose|debug; ignored", e);
    }
}

void sl_log_vemit(sl_log_level_t level, const char *fmt, va_list ap)
{
    char buf[4096];
    int n, r = sl_log_rank();
    if (level == SL_LOG_ERROR)
        n = log_size > 1 ? snprintf(buf, sizeof buf, "sluice: error: rank %d: ", r)
                         : snprintf(buf, sizeof buf, "sluice: error: ");
    else if (level == SL_LOG_INFO)
        n = r == 0 ? snprintf(buf, sizeof buf, "sluice: ") : snprintf(buf, sizeof buf, "sluice[%d]: ", r);
    else
        n = snprintf(buf, sizeof buf, "sluice[%d]: %s: ", r, level_names[level]);
    vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    size_t len = strlen(buf);
    if (len == 0 || buf[len - 1] != '\n') {
        buf[len++] = '\n';
        buf[len] = '\0';
    }
    fputs(buf, stderr); /* one write per line: lines of ranks stay whole */
    fflush(stderr);
}

void sl_log_emit(sl_log_level_t level, int root_only, const char *fmt, ...)
{
    va_list ap;
    if (root_only && sl_log_rank() != 0)
        return;
    va_start(ap, fmt);
    sl_log_vemit(level, fmt, ap);
    va_end(ap);
}

sl_status_t sl_error(sl_status_t st, const char *fmt, ...)
{
    va_list ap;
    if (sl_log_level_g >= SL_LOG_ERROR) {
        va_start(ap, fmt);
        sl_log_vemit(SL_LOG_ERROR, fmt, ap);
        va_end(ap);
    }
    return st;
}

sl_status_t sl_error_root(MPI_Comm comm, sl_status_t st, const char *fmt, ...)
{
    va_list ap;
    int r = 0;
    MPI_Comm_rank(comm, &r);
    if (r == 0 && sl_log_level_g >= SL_LOG_ERROR) {
        /* The error is the same on every rank: no rank number. */
        char buf[4096];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        fprintf(stderr, "sluice: error: %s\n", buf);
        fflush(stderr);
    }
    return st;
}
