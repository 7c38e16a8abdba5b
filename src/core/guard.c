/* SPDX-License-Identifier: BSD-3-Clause */
/* A guard for the process groups a rank starts (farm's tasks, tune's cmd
 * trials). The rank reaps its own children and kills what they leave; but a
 * rank that dies at once (kill -9, the OOM killer, a crash) leaves them
 * running, unseen: they hold cores and GPUs, and a resumed run starts the
 * same tasks beside them, on the same output files.
 *
 * The guard is a small /bin/sh started once per rank with posix_spawn (no
 * fork: nothing of the rank's memory is copied or shared, and registered
 * RDMA memory is never forked). The rank lists each group it starts in an
 * anonymous file (memfd) that it maps, and strikes it off once done: plain
 * stores, so nothing per task costs a system call or wakes the guard. The
 * guard holds the file and one end of a socket from the rank. When the
 * socket ends without a word (the rank is gone), the guard reads the list, sends
 * SIGTERM to the groups in it (usually none), and SIGKILL to those still
 * there after the grace period. */
#define _GNU_SOURCE
#include "config.h"
#include "core_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define GUARD_MAX 4096 /* groups listed at once; more are not guarded */

struct sl_guard {
    int wfd, mfd;
    pid_t pid;
    int32_t *set; /* the mapped list: groups, 0 for a free entry */
    int hi;       /* entries in use are below hi */
};

/* fd 3: the socket from the rank, which writes "done" on an orderly end with
 * no group listed, and otherwise nothing (read returns at the socket's end);
 * fd 4: the list, 4-byte ints; $1: the grace in tenths of a second. */
static const char guard_script[] =
    "trap '' TERM INT HUP USR1 USR2 QUIT PIPE\n"
    "while read -r v <&3; do [ \"$v\" = done ] && exit 0; done\n"
    "l=''\n"
    "for p in $(od -An -v -td4 <&4); do [ \"$p\" -gt 0 ] && l=\"$l $p\"; done\n"
    "[ -n \"$l\" ] || exit 0\n"
    "for p in $l; do kill -TERM -$p 2>/dev/null; done\n"
    "i=0\n"
    "while [ $i -lt $1 ]; do\n"
    "  a=''; for p in $l; do kill -0 -$p 2>/dev/null && a=\"$a $p\"; done\n"
    "  [ -n \"$a\" ] || exit 0\n"
    "  l=$a; sleep 0.1; i=$((i + 1))\n"
    "done\n"
    "for p in $l; do kill -KILL -$p 2>/dev/null; done\n";

sl_status_t sl_guard_create(double grace, sl_guard_t **g_p)
{
    sl_guard_t *g = calloc(1, sizeof *g);
    if (!g)
        return sl_error(SL_ERR_NOMEM, "out of memory");
    g->wfd = g->mfd = -1;
    int p[2] = {-1, -1}, err = 0;
    g->mfd = memfd_create("sluice-guard", MFD_CLOEXEC);
    if (g->mfd < 0 || ftruncate(g->mfd, GUARD_MAX * sizeof *g->set) != 0)
        err = errno;
    if (!err) {
        g->set = mmap(NULL, GUARD_MAX * sizeof *g->set, PROT_READ | PROT_WRITE, MAP_SHARED, g->mfd, 0);
        if (g->set == MAP_FAILED) {
            g->set = NULL;
            err = errno;
        }
    }
    /* a socket, not a pipe: the "done" below must not raise SIGPIPE in the
     * rank should the guard be gone */
    if (!err && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0)
        err = errno;
    if (!err) {
        char tenths[32];
        snprintf(tenths, sizeof tenths, "%ld", grace > 0 ? (long)(grace * 10 + 0.5) : 0L);
        char *argv[] = {"/bin/sh", "-c", (char *)guard_script, "sluice-guard", tenths, NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&at);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p[0], 3);
        posix_spawn_file_actions_adddup2(&fa, g->mfd, 4);
        /* its own group, default dispositions, nothing blocked: out of
         * reach of the signals sent to the rank's group */
        sigset_t def, none;
        sigfillset(&def);
        sigemptyset(&none);
        posix_spawnattr_setpgroup(&at, 0);
        posix_spawnattr_setsigdefault(&at, &def);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        err = posix_spawn(&g->pid, "/bin/sh", &fa, &at, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(p[0]);
        if (err)
            close(p[1]);
        else
            g->wfd = p[1];
    }
    if (err) {
        if (g->set)
            munmap(g->set, GUARD_MAX * sizeof *g->set);
        if (g->mfd >= 0)
            close(g->mfd);
        free(g);
        return sl_error(SL_ERR_IO, "cannot start the guard of child processes (/bin/sh): %s", strerror(err));
    }
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

int sl_guard_reap(sl_guard_t *g, pid_t pid, int kill_rest, int *wstatus_p)
{
    /* WNOWAIT: the leader stays a zombie, so its group id cannot be reused
     * while what the group left is killed and the group leaves the list;
     * reaped first, the id could go to another group, which the guard would
     * stop should the rank die in between */
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != pid)
        return 0;
    if (kill_rest)
        kill(-pid, SIGKILL);
    sl_guard_remove(g, pid);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    *wstatus_p = ws;
    return 1;
}

void sl_guard_destroy(sl_guard_t **g_p)
{
    sl_guard_t *g = g_p ? *g_p : NULL;
    if (!g)
        return;
    if (g->hi == 0) /* nothing listed: the guard need not read the list */
        while (send(g->wfd, "done\n", 5, MSG_NOSIGNAL) < 0 && errno == EINTR)
            ;
    close(g->wfd); /* groups still listed are stopped as if the rank had died */
    while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    munmap(g->set, GUARD_MAX * sizeof *g->set);
    close(g->mfd);
    free(g);
    *g_p = NULL;
}
