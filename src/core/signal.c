/* SPDX-License-Identifier: BSD-3-Clause */
/* The stop flag: SIGTERM, SIGUSR1 (what Slurm sends before a time limit and
 * mpirun forwards) and SIGINT only set a flag; long loops agree on it at safe
 * points, checkpoint, and exit with SL_EXIT_STOPPED. This flag is the one
 * piece of global mutable state in sluice. */
#include "config.h"
#include "core_impl.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    if (stop_flag > 0 && (sig == SIGINT || sig == SIGTERM)) {
        /* Second hurried signal: do what the user asks, now. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_flag = sig;
}

static int install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    int sigs[] = {SIGTERM, SIGUSR1, SIGINT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return sigs[i];
    return 0;
}

void sl_signal_install_early(void)
{
    (void)install();
}

sl_status_t sl_signal_install(void)
{
    int sig = install();
    if (sig)
        return sl_error(SL_ERR_INTERNAL, "cannot install handler for signal %d", sig);
    return SL_OK;
}

int sl_stop_requested(void) { return (int)stop_flag; }
void sl_stop_request(void) { stop_flag = -1; }
void sl_stop_reset(void) { stop_flag = 0; }

sl_status_t sl_stop_agree(MPI_Comm comm, int *stop_p)
{
    int local = stop_flag != 0, any = 0;
    SL_MPI_TRY(MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, comm));
    *stop_p = any;
    return SL_OK;
}
