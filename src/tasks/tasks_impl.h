/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations of the tasks component: shared by the claim engine,
 * the farm call and the `sluice farm` command (journal, runner, output). */
#ifndef SLUICE_TASKS_IMPL_H
#define SLUICE_TASKS_IMPL_H
#include "core.h"
#include "tasks.h"

/* An MPI call failed after the ranks agreed to go on: no agreement is
 * possible any more, so stop the job with the message. */
static inline sl_status_t sl_abort_on_mpi(MPI_Comm comm, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    sl_abort(comm, SL_ERR_MPI, "%s failed: %s", what, msg);
}
/* Local: 1 if the claims were halted by any rank (this node's flag, else one
 * atomic read of the global counter), so a rank can drop the rest of a chunk
 * it holds. */
int sl_tasks_halted(sl_tasks_t *t);
/* Wait for a request without burning the core (MPI_Test and short sleeps). */
void sl_tasks_idle_wait(MPI_Request *req);

/* A growable list of task ids. */
typedef struct {
    int64_t *v;
    int64_t n, cap;
} sl_idvec_t;
/* Local: append x; -1 when out of memory. */
int sl_idvec_push(sl_idvec_t *v, int64_t x);
#endif
