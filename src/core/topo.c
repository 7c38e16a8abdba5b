/* SPDX-License-Identifier: BSD-3-Clause */
/* Node topology and GPU binding: the node-local communicator (ranks that
 * share memory), node index and count, and the device each rank uses: with
 * exactly one visible GPU (Slurm's --gpus-per-task already bound it) device 0,
 * otherwise local rank modulo the visible count. */
#include "config.h"
#include "core_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef SL_HAVE_CUDA
#include <cuda_runtime.h>
#endif

sl_status_t sl_topo_init(MPI_Comm comm, sl_topo_t *t)
{
    memset(t, 0, sizeof *t);
    t->gpu = -1;
    t->comm = t->node_comm = t->leader_comm = MPI_COMM_NULL;
    SL_MPI_TRY(MPI_Comm_dup(comm, &t->comm));
    MPI_Comm_rank(t->comm, &t->rank);
    MPI_Comm_size(t->comm, &t->size);
    SL_MPI_TRY(MPI_Comm_split_type(t->comm, MPI_COMM_TYPE_SHARED, t->rank, MPI_INFO_NULL, &t->node_comm));
    MPI_Comm_rank(t->node_comm, &t->local_rank);
    MPI_Comm_size(t->node_comm, &t->local_size);
    SL_MPI_TRY(MPI_Comm_split(t->comm, t->local_rank == 0 ? 0 : MPI_UNDEFINED, t->rank, &t->leader_comm));
    int node = 0, nnodes = 0;
    if (t->local_rank == 0) {
        MPI_Comm_rank(t->leader_comm, &node);
        MPI_Comm_size(t->leader_comm, &nnodes);
    }
    MPI_Bcast(&node, 1, MPI_INT, 0, t->node_comm);
    MPI_Bcast(&nnodes, 1, MPI_INT, 0, t->node_comm);
    t->node = node;
    t->nnodes = nnodes;
    if (gethostname(t->host, sizeof t->host - 1) != 0)
        snprintf(t->host, sizeof t->host, "unknown");
    SL_DEBUG("rank %d of %d: node %d of %d (%s), local rank %d of %d", t->rank, t->size, t->node, t->nnodes,
             t->host, t->local_rank, t->local_size);
    return SL_OK;
}

void sl_topo_fini(sl_topo_t *t)
{
    if (t->leader_comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->leader_comm);
    if (t->node_comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->node_comm);
    if (t->comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->comm);
}

sl_status_t sl_check_launch(MPI_Comm world)
{
    int size;
    MPI_Comm_size(world, &size);
    const char *vars[] = {"SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        if (!v || !*v)
            continue;
        long n = strtol(v, &end, 10);
        if (*end || n <= 1 || size != 1)
            continue;
        /* SLURM_NTASKS is set for the whole allocation; inside a step that
         * really has one task, SLURM_STEP_NUM_TASKS says so. */
        if (i == 0) {
            const char *step = getenv("SLURM_STEP_NUM_TASKS");
            if (!step || strtol(step, NULL, 10) <= 1)
                continue;
        }
        return sl_error(SL_ERR_USAGE,
                        "%s=%ld but MPI started a world of 1 rank: the launcher and MPI do not talk. "
                        "Under Slurm use 'srun --mpi=pmix' (or mpirun inside the allocation)",
                        vars[i], n);
    }
    return SL_OK;
}

int sl_gpu_count(void)
{
#ifdef SL_HAVE_CUDA
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
#else
    return 0;
#endif
}

sl_status_t sl_gpu_bind(sl_topo_t *t)
{
    sl_status_t st = SL_OK;
#ifdef SL_HAVE_CUDA
    int n = sl_gpu_count();
    if (n <= 0) {
        st = sl_error(SL_ERR_UNSUPPORTED, "no CUDA device visible on %s (CUDA_VISIBLE_DEVICES=%s)", t->host,
                      getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "unset");
    } else {
        int dev = n == 1 ? 0 : t->local_rank % n;
        cudaError_t e = cudaSetDevice(dev);
        if (e != cudaSuccess) {
            st = sl_error(SL_ERR_CUDA, "cudaSetDevice(%d) on %s: %s", dev, t->host, cudaGetErrorString(e));
        } else {
            t->gpu = dev;
            SL_VERBOSE("rank %d (local %d on %s) bound to GPU %d of %d", t->rank, t->local_rank, t->host, dev, n);
        }
    }
#else
    st = sl_error(SL_ERR_UNSUPPORTED, "this sluice was built without CUDA (configure --with-cuda)");
#endif
    return sl_agree(t->comm, st);
}
