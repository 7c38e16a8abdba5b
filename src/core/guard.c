/* SPDX-License-Identifier: BSD-3-Clause */
/* A guard for the process groups a rank starts (farm's tasks, tune's cmd
 * trials). The rank reaps its own children and kills what they leave; but a
 * rank that dies at once (kill -9, the OOM killer, a crash) leaves them
 * running, unseen: they hold cores and GPUs, and a resumed run starts the
 * same tasks beside them, on the same output files. The guard is a small
 * process forked once. It shares a page with the rank, where the rank lists
 * each group it starts and strikes it off once done (plain stores: nothing
 * per task costs a system call or wakes the guard), and holds the read end
 * of a pipe from the rank. When the pipe ends (the rank is gone, or done),
 * the guard sends SIGTERM to the groups still listed, usually none, and
 * SIGKILL to what is left after the grace period. After the fork the guard
 * only makes async-signal-safe calls (the rank has threads), never execs. */
#define _GNU_SOURCE
#include "config.h"
#include "core_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD_MAX 4096 /* groups listed at once; more are not guarded */

struct sl_guard {
    int wfd;
    pid_t pid;
    int32_t *set; /* shared with the guard: groups, 0 for a free entry */
    int hi;       /* entries in use are below hi */
};

static void guard_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int group_alive(int32_t g)
{
    return kill(-(pid_t)g, 0) == 0 || errno != ESRCH;
}

/* The guard itself: never returns. */
static void guard_main(int rfd, const int32_t *shared, double grace)
{
    /* Hold nothing of the rank's: its sockets, its journal's lock, the
     * pipes mpirun reads its output from. */
    if (rfd < 3) /* out of the way of the standard descriptors */
        rfd = fcntl(rfd, F_DUPFD, 3);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    if (rfd != 3) {
        dup2(rfd, 3);
        rfd = 3;
    }
    if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
        for (int fd = 4; fd < 65536; fd++)
            close(fd);
    /* Out of the rank's process group, deaf to the signals that stop it:
     * it must outlive the rank, and ends when the pipe does. */
    setpgid(0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    int ign[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGPIPE};
    for (size_t i = 0; i < sizeof ign / sizeof ign[0]; i++)
        sigaction(ign[i], &sa, NULL);
    char buf[64];
    for (;;) { /* the rank never writes: this waits for the end of the pipe */
        ssize_t k = read(rfd, buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
    }
    int32_t list[GUARD_MAX];
    int n = 0;
    for (int j = 0; j < GUARD_MAX; j++) {
        int32_t v = __atomic_load_n(&shared[j], __ATOMIC_ACQUIRE);
        if (v > 0)
            list[n++] = v;
    }
    if (n == 0) /* the usual end: the rank was done with every group */
        _exit(0);
    for (int j = 0; j < n; j++)
        kill(-(pid_t)list[j], SIGTERM);
    /* A group seen gone is struck off: its id may go to another group
     * (the rank is no longer there to hold its leader as a zombie), which
     * the SIGKILL after the grace period must not reach. */
    for (long waited = 0; waited < (long)(grace * 1000); waited += 50) {
        int alive = 0;
        for (int j = 0; j < n; j++) {
            if (list[j] && !group_alive(list[j]))
                list[j] = 0;
            alive |= list[j] != 0;
        }
        if (!alive)
            _exit(0);
        guard_sleep_ms(50);
    }
    for (int j = 0; j < n; j++)
        if (list[j])
            kill(-(pid_t)list[j], SIGKILL);
    _exit(0);
}

sl_status_t sl_guard_create(double grace, sl_guard_t **g_p)
{
    sl_guard_t *g = calloc(1, sizeof *g);
    if (!g)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    g->set =
        mmap(NULL, GUARD_MAX * sizeof *g->set, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g->set == MAP_FAILED) {
        free(g);
        return sl_error(SL_ERR_NOMEM, "cannot map a page for the guard of child processes: %s",
                        strerror(errno));
    }
    int p[2];
    pid_t pid = -1;
    int err = pipe2(p, O_CLOEXEC) != 0 ? errno : 0;
    if (!err) {
        pid = fork();
        if (pid == 0) {
            close(p[1]);
            guard_main(p[0], g->set, grace);
        }
        err = pid < 0 ? errno : 0;
        close(p[0]);
        if (pid < 0)
            close(p[1]);
    }
    if (err) {
        munmap(g->set, GUARD_MAX * sizeof *g->set);
        free(g);
        return sl_error(SL_ERR_IO, "cannot start the guard of child processes: %s", strerror(err));
    }
    g->wfd = p[1];
    g->pid = pid;
    *g_p = g;
    return SL_OK;
}

void sl_guard_add(sl_guard_t *g, pid_t pgid)
{
    if (!g || pgid <= 0)
        return;
    int j = 0;
    while (j < g->hi && g->set[j])
        j++;
    if (j == GUARD_MAX)
        return; /* full: this one is not guarded */
    __atomic_store_n(&g->set[j], (int32_t)pgid, __ATOMIC_RELEASE);
    if (j == g->hi)
        g->hi++;
}

void sl_guard_remove(sl_guard_t *g, pid_t pgid)
{
    if (!g || pgid <= 0)
        return;
    for (int j = 0; j < g->hi; j++)
        if (g->set[j] == (int32_t)pgid) {
            __atomic_store_n(&g->set[j], 0, __ATOMIC_RELEASE);
            break;
        }
    while (g->hi > 0 && !g->set[g->hi - 1])
        g->hi--;
}

void sl_guard_destroy(sl_guard_t **g_p)
{
    sl_guard_t *g = g_p ? *g_p : NULL;
    if (!g)
        return;
    close(g->wfd); /* groups still listed are stopped as if the rank had died */
    while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    munmap(g->set, GUARD_MAX * sizeof *g->set);
    free(g);
    *g_p = NULL;
}
