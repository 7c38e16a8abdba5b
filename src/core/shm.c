/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory windows on one node: the all-reduce's slots, the training
 * step's gradients and parameters, the training data slices. One way to
 * make them, so every user gets the same placement and locking. */
#include "config.h"
#include "core_impl.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

int sl_comm_shm_path(MPI_Comm comm)
{
    int size, nsize, mine, all;
    MPI_Comm_size(comm, &size);
    if (size < 2)
        return 0;
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &nsize);
    MPI_Comm_free(&node);
    const char *e = getenv("SLUICE_ALLREDUCE");
    mine = nsize == size && !(e && !strcmp(e, "mpi"));
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm);
    return all;
}

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

void sl_shm_barrier_wait(sl_shm_barrier_t *b, int nranks)
{
    unsigned gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == (unsigned)nranks) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned spins = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen; spins++) {
        if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else
            sched_yield();
    }
}
