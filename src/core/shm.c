/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory windows on one node: the all-reduce's slots, the training
 * step's gradients and parameters, the training data slices. One way to
 * make them, so every user gets the same placement and locking. */
#include "config.h"
#include "core_impl.h"

sl_status_t sl_shared_window_create(MPI_Comm comm, size_t bytes, MPI_Win *win_p, char **bases)
{
    int size;
    MPI_Comm_size(comm, &size);
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    char *base = NULL;
    int rc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, comm, &base, win_p);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        *win_p = MPI_WIN_NULL;
        return sl_mpi_error(rc, "MPI_Win_allocate_shared");
    }
    for (int q = 0; q < size; q++) {
        MPI_Aint sz;
        int du;
        MPI_Win_shared_query(*win_p, q, &sz, &du, &bases[q]);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, *win_p);
    return SL_OK;
}

void sl_shared_window_free(MPI_Win *win)
{
    if (*win == MPI_WIN_NULL)
        return;
    MPI_Win_unlock_all(*win);
    MPI_Win_free(win);
}
