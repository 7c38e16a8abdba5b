/* SPDX-License-Identifier: BSD-3-Clause */
/* The all-reduce abstraction: float sums and means over a communicator.
 * Host buffers go through MPI; device buffers through NCCL on the object's
 * own stream, the NCCL communicator bootstrapped over MPI (rank 0 makes the
 * unique id, MPI_Bcast shares it). The ordered host mode sums in rank order
 * (reduce-scatter by all-to-all, then all-gather), so the result does not
 * depend on MPI's choice of algorithm. When every rank of the communicator
 * shares one node, host sums go through an MPI-3 shared-memory window
 * instead: each rank copies its buffer in, sums its slice of every rank's
 * copy in rank order, and copies the result out (three barriers, no
 * messages); the result is the same as the ordered mode's, bit for bit.
 * SLUICE_ALLREDUCE=mpi turns that path off. */
#include "config.h"
#include "core_impl.h"
#include "gpulib.h"

#include <stdlib.h>
#include <string.h>
#ifdef SL_HAVE_CUDA
#include <cuda_runtime.h>
#endif
#ifdef SL_HAVE_NCCL
#include <nccl.h>
#endif

struct sl_allreduce {
    MPI_Comm comm;
    int rank, size, flags;
    float *scratch;
    size_t scratch_n;
    /* single-node shared-memory path */
    int shm;         /* every rank is on this node */
    MPI_Comm node;   /* the same ranks, same order, for the window */
    MPI_Win win;
    float **slots;   /* each rank's slot in the window */
    sl_shm_barrier_t *bar;
    size_t cap;      /* floats per slot; 0: no window yet */
#ifdef SL_HAVE_NCCL
    ncclComm_t nccl;
    cudaStream_t stream;
#endif
};

int sl_is_device_ptr(const void *p)
{
#ifdef SL_HAVE_CUDA
    struct cudaPointerAttributes a;
    if (!p || cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
#else
    (void)p;
    return 0;
#endif
}

sl_status_t sl_allreduce_create(MPI_Comm comm, int flags, sl_allreduce_t **ar_p)
{
    sl_status_t st = SL_OK;
    sl_allreduce_t *ar = calloc(1, sizeof *ar);
    if (!ar)
        return sl_agree(comm, sl_error(SL_ERR_NOMEM, "out of memory"));
    ar->flags = flags;
    MPI_Comm_dup(comm, &ar->comm);
    MPI_Comm_rank(ar->comm, &ar->rank);
    MPI_Comm_size(ar->comm, &ar->size);
    ar->node = MPI_COMM_NULL;
    ar->win = MPI_WIN_NULL;
    ar->shm = sl_comm_shm_path(ar->comm);
    if (ar->shm) /* every rank is on this node: the window's communicator */
        MPI_Comm_dup(ar->comm, &ar->node);
    if (flags & SL_AR_NCCL) {
#ifdef SL_HAVE_NCCL
        ncclUniqueId id;
        const sl_nccl_fns_t *nc = NULL;
        st = sl_nccl_fns(&nc);
        if (st == SL_OK && ar->rank == 0 && nc->get_unique_id(&id) != ncclSuccess)
            st = sl_error(SL_ERR_NCCL, "ncclGetUniqueId failed");
        st = sl_agree(ar->comm, st);
        if (st == SL_OK) {
            MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, ar->comm);
            cudaError_t ce = cudaStreamCreateWithFlags(&ar->stream, cudaStreamNonBlocking);
            if (ce != cudaSuccess)
                st = sl_error(SL_ERR_CUDA, "cudaStreamCreate: %s", cudaGetErrorString(ce));
            else {
                ncclResult_t r = nc->comm_init_rank(&ar->nccl, ar->size, id, ar->rank);
                if (r != ncclSuccess)
                    st = sl_error(SL_ERR_NCCL, "ncclCommInitRank: %s", nc->get_error_string(r));
            }
            st = sl_agree(ar->comm, st);
        }
#else
        st = sl_agree(ar->comm, sl_error_root(ar->comm, SL_ERR_UNSUPPORTED,
                                              "this sluice was built without NCCL (configure --with-nccl)"));
#endif
    }
    if (st != SL_OK) {
        sl_allreduce_destroy(&ar);
        return st;
    }
    *ar_p = ar;
    return SL_OK;
}

void sl_allreduce_destroy(sl_allreduce_t **ar)
{
    if (!ar || !*ar)
        return;
#ifdef SL_HAVE_NCCL
    const sl_nccl_fns_t *nc;
    if ((*ar)->nccl && sl_nccl_fns(&nc) == SL_OK) /* loaded when the communicator was made */
        nc->comm_destroy((*ar)->nccl);
    if ((*ar)->stream)
        cudaStreamDestroy((*ar)->stream);
#endif
    free((*ar)->scratch);
    sl_shared_window_free(&(*ar)->win);
    free((*ar)->slots);
    if ((*ar)->node != MPI_COMM_NULL)
        MPI_Comm_free(&(*ar)->node);
    MPI_Comm_free(&(*ar)->comm);
    free(*ar);
    *ar = NULL;
}

const char *sl_allreduce_backend(const sl_allreduce_t *ar)
{
    if (ar->flags & SL_AR_NCCL)
        return "nccl+mpi";
    if (ar->shm)
        return "shm";
    return (ar->flags & SL_AR_ORDERED) ? "mpi-ordered" : "mpi";
}

/* Fixed-order sum: rank r owns chunk r; it receives every rank's copy of
 * its chunk and adds them in rank order; then all chunks are gathered. */
static sl_status_t ordered_sum(sl_allreduce_t *ar, float *buf, size_t n)
{
    int P = ar->size;
    size_t chunk = (n + (size_t)P - 1) / (size_t)P;
    if (chunk > (size_t)1 << 30)
        return sl_error(SL_ERR_INVALID, "all-reduce of %zu floats is too large for the ordered mode", n);
    size_t need = chunk * (size_t)P * 2;
    if (ar->scratch_n < need) {
        float *s = realloc(ar->scratch, need * sizeof(float));
        if (!s)
            return sl_error(SL_ERR_NOMEM, "out of memory in all-reduce");
        ar->scratch = s;
        ar->scratch_n = need;
    }
    float *send = ar->scratch, *recv = ar->scratch + chunk * (size_t)P;
    memset(send, 0, chunk * (size_t)P * sizeof(float));
    memcpy(send, buf, n * sizeof(float));
    SL_MPI_TRY(MPI_Alltoall(send, (int)chunk, MPI_FLOAT, recv, (int)chunk, MPI_FLOAT, ar->comm));
    float *mine = send; /* reuse: the sum of my chunk */
    for (size_t i = 0; i < chunk; i++) {
        float s = 0;
        for (int r = 0; r < P; r++)
            s += recv[(size_t)r * chunk + i];
        mine[i] = s;
    }
    SL_MPI_TRY(MPI_Allgather(mine, (int)chunk, MPI_FLOAT, recv, (int)chunk, MPI_FLOAT, ar->comm));
    memcpy(buf, recv, n * sizeof(float));
    return SL_OK;
}

/* Collective: make every slot hold at least min(n, 4M) floats. Every rank
 * asks with the same n (the all-reduce is collective), so all agree. */
static sl_status_t shm_reserve(sl_allreduce_t *ar, size_t n)
{
    const size_t most = (size_t)4 << 20;
    size_t want = n < most ? n : most;
    if (want <= ar->cap)
        return SL_OK;
    if (want < 65536)
        want = 65536 < most ? 65536 : most;
    sl_shared_window_free(&ar->win);
    ar->cap = 0;
    char **bases = calloc((size_t)ar->size, sizeof *bases);
    if (!bases || (!ar->slots && !(ar->slots = calloc((size_t)ar->size, sizeof *ar->slots)))) {
        free(bases);
        return sl_error(SL_ERR_NOMEM, "out of memory in all-reduce");
    }
    /* each segment: 64 bytes (rank 0's hold the barrier), then the slot */
    sl_status_t st = sl_shared_window_create(ar->node, 64 + want * sizeof(float), &ar->win, bases);
    for (int r = 0; r < ar->size && st == SL_OK; r++)
        ar->slots[r] = (float *)(void *)(bases[r] + 64);
    if (st == SL_OK) {
        ar->bar = (sl_shm_barrier_t *)(void *)bases[0];
        if (ar->rank == 0)
            memset(ar->bar, 0, sizeof *ar->bar);
        MPI_Win_sync(ar->win);
        MPI_Barrier(ar->node);
        MPI_Win_sync(ar->win);
    }
    free(bases);
    SL_TRY(st);
    ar->cap = want;
    return SL_OK;
}

static void shm_barrier(sl_allreduce_t *ar)
{
    sl_shm_barrier_wait(ar->bar, ar->size);
}

static sl_status_t shm_sum(sl_allreduce_t *ar, float *buf, size_t n)
{
    /* Every rank sees the same n and cap, so all reserve together. */
    size_t most = (size_t)4 << 20;
    if ((n < most ? n : most) > ar->cap)
        SL_TRY(sl_agree(ar->comm, shm_reserve(ar, n)));
    const int P = ar->size;
    float *mine = ar->slots[ar->rank], *out = ar->slots[0];
    for (size_t off = 0; off < n; off += ar->cap) {
        size_t m = n - off < ar->cap ? n - off : ar->cap;
        memcpy(mine, buf + off, m * sizeof(float));
        shm_barrier(ar);
        /* My slice of the elements, summed over the ranks in rank order;
         * slices are disjoint, so writing into rank 0's slot is safe. */
        size_t lo = m * (size_t)ar->rank / (size_t)P, hi = m * (size_t)(ar->rank + 1) / (size_t)P;
        for (size_t i = lo; i < hi; i++) {
            float s = 0;
            for (int r = 0; r < P; r++)
                s += ar->slots[r][i];
            out[i] = s;
        }
        shm_barrier(ar);
        memcpy(buf + off, out, m * sizeof(float));
        shm_barrier(ar); /* before the slots are written again */
    }
    return SL_OK;
}

static sl_status_t host_reduce(sl_allreduce_t *ar, float *buf, size_t n, int mean)
{
    sl_status_t st = SL_OK;
    if (ar->size > 1) {
        if (ar->shm)
            st = shm_sum(ar, buf, n);
        else if (ar->flags & SL_AR_ORDERED)
            st = ordered_sum(ar, buf, n);
        else {
            for (size_t off = 0; off < n && st == SL_OK; off += (size_t)1 << 30) {
                size_t m = n - off < ((size_t)1 << 30) ? n - off : ((size_t)1 << 30);
                int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)m, MPI_FLOAT, MPI_SUM, ar->comm);
                if (rc != MPI_SUCCESS)
                    st = sl_mpi_error(rc, "MPI_Allreduce");
            }
        }
    }
    if (st == SL_OK && mean && ar->size > 1) {
        float inv = 1.0f / (float)ar->size;
        for (size_t i = 0; i < n; i++)
            buf[i] *= inv;
    }
    return st;
}

#ifdef SL_HAVE_NCCL
static sl_status_t nccl_start(sl_allreduce_t *ar, float *buf, size_t n, int mean)
{
    if (!ar->nccl)
        return sl_error(SL_ERR_INVALID, "device buffer given to an all-reduce created without SL_AR_NCCL");
    const sl_nccl_fns_t *nc;
    SL_TRY(sl_nccl_fns(&nc)); /* loaded when the communicator was made */
    ncclResult_t r = nc->all_reduce(buf, buf, n, ncclFloat32, mean ? ncclAvg : ncclSum, ar->nccl, ar->stream);
    if (r != ncclSuccess)
        return sl_error(SL_ERR_NCCL, "ncclAllReduce: %s", nc->get_error_string(r));
    return SL_OK;
}
static sl_status_t nccl_wait(sl_allreduce_t *ar)
{
    cudaError_t e = cudaStreamSynchronize(ar->stream);
    if (e != cudaSuccess)
        return sl_error(SL_ERR_CUDA, "all-reduce stream: %s", cudaGetErrorString(e));
    return SL_OK;
}
#endif

static sl_status_t reduce(sl_allreduce_t *ar, float *buf, size_t n, int mean)
{
    if (n == 0)
        return SL_OK;
#ifdef SL_HAVE_NCCL
    if (sl_is_device_ptr(buf)) {
        SL_TRY(nccl_start(ar, buf, n, mean));
        return nccl_wait(ar);
    }
#endif
    return host_reduce(ar, buf, n, mean);
}

sl_status_t sl_allreduce_sum(sl_allreduce_t *ar, float *buf, size_t n) { return reduce(ar, buf, n, 0); }
sl_status_t sl_allreduce_mean(sl_allreduce_t *ar, float *buf, size_t n) { return reduce(ar, buf, n, 1); }

sl_status_t sl_allreduce_start(sl_allreduce_t *ar, float *buf, size_t n, int mean, sl_allreduce_req_t *req)
{
    req->req = MPI_REQUEST_NULL;
    req->buf = buf;
    req->n = n;
    req->mean = mean;
    req->device = 0;
    if (n == 0)
        return SL_OK;
#ifdef SL_HAVE_NCCL
    if (sl_is_device_ptr(buf)) {
        req->device = 1;
        return nccl_start(ar, buf, n, mean);
    }
#endif
    if (ar->size == 1 || ar->shm || (ar->flags & SL_AR_ORDERED) || n > ((size_t)1 << 30))
        return SL_OK; /* done in wait */
    SL_MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, ar->comm, &req->req));
    return SL_OK;
}

sl_status_t sl_allreduce_wait(sl_allreduce_t *ar, sl_allreduce_req_t *req)
{
    if (req->n == 0)
        return SL_OK;
#ifdef SL_HAVE_NCCL
    if (req->device)
        return nccl_wait(ar);
#endif
    if (req->req == MPI_REQUEST_NULL)
        return host_reduce(ar, req->buf, req->n, req->mean);
    SL_MPI_TRY(MPI_Wait(&req->req, MPI_STATUS_IGNORE));
    if (req->mean && ar->size > 1) {
        float inv = 1.0f / (float)ar->size;
        for (size_t i = 0; i < req->n; i++)
            req->buf[i] *= inv;
    }
    return SL_OK;
}
