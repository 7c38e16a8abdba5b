/* SPDX-License-Identifier: BSD-3-Clause */
/* Progress aggregated across ranks. Ranks push their increments to rank 0
 * with MPI_Accumulate on a passive-target window a few times a second, so
 * adding is local and never waits for other ranks; rank 0 reads the sum and
 * redraws: a bar on a terminal, a timestamped line every few seconds in a
 * log file (Slurm output), never carriage returns in a file. */
#include "config.h"
#include "core_impl.h"
#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sl_progress {
    MPI_Comm comm;
    MPI_Win win;
    double *sum; /* rank 0: the global sum */
    int rank, tty, enabled;
    char label[64], unit[16], note[128];
    double total, local, pending;
    double t0, last_flush, last_draw, draw_every;
    int drawn;
};

double sl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sl_timer_start(sl_timer_t *t) { t->start = sl_now(); }
void sl_timer_stop(sl_timer_t *t)
{
    if (t->start >= 0)
        t->total += sl_now() - t->start;
    t->start = -1;
}

const char *sl_format_duration(double s, char *buf, size_t len)
{
    if (s < 0 || s != s)
        snprintf(buf, len, "?");
    else if (s < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, len, "%dh%02dm%02ds", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
    return buf;
}

const char *sl_format_bytes(double b, char *buf, size_t len)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int i = 0;
    while (b >= 1000 && i < 5) {
        b /= 1000;
        i++;
    }
    snprintf(buf, len, i ? "%.2f %s" : "%.0f %s", b, u[i]);
    return buf;
}

static void format_amount(const sl_progress_t *p, double v, char *buf, size_t len)
{
    if (!strcmp(p->unit, "B"))
        sl_format_bytes(v, buf, len);
    else if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
}

/* SLUICE_PROGRESS_INTERVAL: 1 and *seconds_p set when it is a positive
 * number, 0 when unset, -1 when set to anything else (left to
 * sl_progress_check_env to report, once). */
static int interval_env(double *seconds_p)
{
    const char *iv = getenv("SLUICE_PROGRESS_INTERVAL");
    char *end;
    if (!iv)
        return 0;
    double v = strtod(iv, &end);
    if (!*iv || *end != '\0' || !(v > 0) || !isfinite(v))
        return -1;
    *seconds_p = v;
    return 1;
}

typedef enum { PROGRESS_BAR, PROGRESS_LINES, PROGRESS_OFF } progress_mode_t;

/* SLUICE_PROGRESS: 1 and *mode_p set when it is bar, lines or off, 0 when
 * unset, -1 when set to anything else (left to sl_progress_check_env to
 * report, once). */
static int mode_env(progress_mode_t *mode_p)
{
    const char *mode = getenv("SLUICE_PROGRESS");
    if (!mode)
        return 0;
    if (!strcmp(mode, "bar"))
        *mode_p = PROGRESS_BAR;
    else if (!strcmp(mode, "lines"))
        *mode_p = PROGRESS_LINES;
    else if (!strcmp(mode, "off"))
        *mode_p = PROGRESS_OFF;
    else
        return -1;
    return 1;
}

void sl_progress_check_env(void)
{
    double v;
    progress_mode_t m;
    if (mode_env(&m) < 0)
        SL_WARN0("SLUICE_PROGRESS='%s' is not one of bar, lines or off; using the default "
                 "(a bar on a terminal, lines otherwise)",
                 getenv("SLUICE_PROGRESS"));
    if (interval_env(&v) < 0)
        SL_WARN0("SLUICE_PROGRESS_INTERVAL='%s' is not a positive number of seconds; using the default "
                 "(5 s in a log file, 0.2 s on a terminal)",
                 getenv("SLUICE_PROGRESS_INTERVAL"));
}

sl_status_t sl_progress_create(MPI_Comm comm, const char *label, double total, const char *unit,
                               sl_progress_t **p_p)
{
    sl_progress_t *p = calloc(1, sizeof *p);
    int rc;
    if (!p)
        return sl_agree(comm, sl_error(SL_ERR_NOMEM, "out of memory"));
    MPI_Comm_dup(comm, &p->comm);
    MPI_Comm_rank(p->comm, &p->rank);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->t0 = p->last_flush = p->last_draw = sl_now();
    /* Under mpirun a rank's stderr is a pipe even when mpirun's is a
     * terminal: SLUICE_PROGRESS=bar|lines|off overrides the guess. */
    progress_mode_t mode;
    int set = mode_env(&mode) > 0;
    p->tty = set && mode == PROGRESS_BAR ? 1 : (set && mode == PROGRESS_LINES ? 0 : isatty(2));
    p->enabled = sl_log_level_g >= SL_LOG_INFO && !(set && mode == PROGRESS_OFF);
    p->draw_every = p->tty ? 0.2 : 5.0;
    interval_env(&p->draw_every);
    rc = MPI_Win_allocate(p->rank == 0 ? (MPI_Aint)sizeof(double) : 0, sizeof(double), MPI_INFO_NULL, p->comm,
                          &p->sum, &p->win);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&p->comm);
        free(p);
        return sl_agree(comm, sl_mpi_error(rc, "MPI_Win_allocate (progress)"));
    }
    if (p->rank == 0)
        *p->sum = 0;
    MPI_Barrier(p->comm);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, p->win);
    *p_p = p;
    return SL_OK;
}

static void flush(sl_progress_t *p)
{
    if (p->pending != 0) {
        MPI_Accumulate(&p->pending, 1, MPI_DOUBLE, 0, 0, 1, MPI_DOUBLE, MPI_SUM, p->win);
        MPI_Win_flush(0, p->win);
        p->pending = 0;
    }
}

static void draw(sl_progress_t *p, double done, int final)
{
    char a[32], t[32], r[32], eta[32], el[32], line[512];
    double now = sl_now(), el_s = now - p->t0;
    double rate = el_s > 0 ? done / el_s : 0;
    format_amount(p, done, a, sizeof a);
    format_amount(p, p->total, t, sizeof t);
    format_amount(p, rate, r, sizeof r);
    sl_format_duration(el_s, el, sizeof el);
    if (p->total > 0 && rate > 0 && !final)
        sl_format_duration((p->total - done) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "-");
    double frac = p->total > 0 ? done / p->total : 0;
    if (frac > 1)
        frac = 1;
    /* Bytes carry their unit already ("1.50 GB"). */
    const char *u = strcmp(p->unit, "B") ? p->unit : "", *sp = u[0] ? " " : "";
    if (p->total > 0)
        snprintf(line, sizeof line, "%s %5.1f%% %s/%s%s%s, %s%s%s/s, %s %s%s%s", p->label, 100 * frac, a, t, sp, u,
                 r, sp, u, final ? "took" : "ETA", final ? el : eta, p->note[0] ? "  " : "", p->note);
    else
        snprintf(line, sizeof line, "%s %s%s%s, %s%s%s/s, %s elapsed%s%s", p->label, a, sp, u, r, sp, u, el,
                 p->note[0] ? "  " : "", p->note);
    if (p->tty) {
        char bar[23] = "[....................]";
        int fill = (int)(frac * 20);
        for (int i = 0; i < fill; i++)
            bar[1 + i] = '=';
        fprintf(stderr, "\r\033[K%s %s%s", bar, line, final ? "\n" : "");
    } else {
        char ts[32];
        time_t tt = time(NULL);
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "sluice: %s %s\n", ts, line);
    }
    fflush(stderr);
    p->drawn = 1;
}

static void maybe_work(sl_progress_t *p)
{
    double now = sl_now();
    if (now - p->last_flush >= (p->rank == 0 ? 0.05 : 0.25)) {
        flush(p);
        p->last_flush = now;
    }
    if (p->rank == 0 && p->enabled && now - p->last_draw >= p->draw_every) {
        double done = 0, zero = 0;
        MPI_Fetch_and_op(&zero, &done, MPI_DOUBLE, 0, 0, MPI_NO_OP, p->win);
        MPI_Win_flush(0, p->win);
        draw(p, done, 0);
        p->last_draw = now;
    }
}

void sl_progress_add(sl_progress_t *p, double amount)
{
    if (!p)
        return;
    p->local += amount;
    p->pending += amount;
    maybe_work(p);
}

void sl_progress_tick(sl_progress_t *p)
{
    if (p)
        maybe_work(p);
}

void sl_progress_note(sl_progress_t *p, const char *text)
{
    if (p)
        snprintf(p->note, sizeof p->note, "%s", text ? text : "");
}

sl_status_t sl_progress_finish(sl_progress_t **pp)
{
    if (!pp || !*pp)
        return SL_OK;
    sl_progress_t *p = *pp;
    double total = 0;
    MPI_Win_unlock_all(p->win);
    MPI_Reduce(&p->local, &total, 1, MPI_DOUBLE, MPI_SUM, 0, p->comm);
    if (p->rank == 0 && p->enabled && (p->drawn || p->tty || sl_now() - p->t0 >= 1.0))
        draw(p, total, 1);
    MPI_Win_free(&p->win);
    MPI_Comm_free(&p->comm);
    free(p);
    *pp = NULL;
    return SL_OK;
}
