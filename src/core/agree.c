/* SPDX-License-Identifier: BSD-3-Clause */
/* Collective agreement on errors: one small allreduce turns a failure on any
 * rank into an error return on every rank, so no rank is left waiting in a
 * collective that the failed rank will never enter. */
#include "config.h"
#include "core_impl.h"

#include <limits.h>
#include <stdlib.h>

sl_status_t sl_agree(MPI_Comm comm, sl_status_t local)
{
    /* v[0]: lowest failing rank; v[1]: -(highest failing rank);
     * v[2]: 0 if some rank was stopped; v[3]: lowest status (most severe). */
    int rank, in[4], out[4];
    MPI_Comm_rank(comm, &rank);
    int failed = local != SL_OK && local != SL_ERR_STOPPED;
    in[0] = failed ? rank : INT_MAX;
    in[1] = failed ? -rank : INT_MAX;
    in[2] = local == SL_ERR_STOPPED ? 0 : 1;
    in[3] = failed ? (int)local : 0;
    int rc = MPI_Allreduce(in, out, 4, MPI_INT, MPI_MIN, comm);
    if (rc != MPI_SUCCESS)
        sl_abort(comm, SL_ERR_MPI, "agreement failed: MPI_Allreduce returned %d", rc);
    if (out[0] != INT_MAX) {
        if (rank == 0 && out[0] != -out[1])
            SL_VERBOSE("ranks %d to %d reported errors", out[0], -out[1]);
        else if (rank == 0)
            SL_VERBOSE("rank %d reported an error", out[0]);
        return failed ? local : SL_ERR_PEER;
    }
    if (out[2] == 0)
        return SL_ERR_STOPPED;
    return SL_OK;
}

void sl_abort(MPI_Comm comm, sl_status_t st, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sluice: fatal: rank %d: %s (%s); aborting the job\n", sl_log_rank(), buf,
            sl_status_string(st));
    fflush(stderr);
    MPI_Abort(comm == MPI_COMM_NULL ? MPI_COMM_WORLD : comm, sl_status_exit_code(st));
    abort(); /* MPI_Abort does not return; keep the compiler sure of it */
}

sl_status_t sl_mpi_error(int mpi_rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", mpi_rc);
    return sl_error(SL_ERR_MPI, "%s failed: %s", what, msg);
}
