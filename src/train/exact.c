/* SPDX-License-Identifier: BSD-3-Clause */
/* Fixed-order gradient sums for "exact" data parallelism. The global batch
 * is cut into a fixed number of shards; their gradients are added in a
 * pairwise tree (leaves in shard order). A rank sums its own consecutive
 * shards, then ranks combine with a butterfly that always puts the lower
 * rank's value on the left, so P ranks (a power of two dividing the shard
 * count) add exactly what one rank adds: the same weights bit for bit. */
#include "config.h"
#include "train_impl.h"

static void tree(const sl_nn_backend_t *be, float **bufs, int lo, int hi, size_t n)
{
    if (hi - lo < 2)
        return;
    int mid = lo + (hi - lo) / 2;
    tree(be, bufs, lo, mid, n);
    tree(be, bufs, mid, hi, n);
    be->add(bufs[lo], bufs[mid], n);
}

void sl_nn_tree_sum(const sl_nn_backend_t *be, float **bufs, int k, size_t n)
{
    tree(be, bufs, 0, k, n);
}

sl_status_t sl_nn_tree_allreduce(MPI_Comm comm, float *buf, float *scratch, size_t n)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (size & (size - 1))
        return sl_error(SL_ERR_INVALID, "exact reduction needs a power-of-two rank count, not %d", size);
    const size_t chunk = (size_t)1 << 28;
    for (int d = 1; d < size; d <<= 1) {
        int partner = rank ^ d;
        for (size_t off = 0; off < n; off += chunk) {
            int m = (int)(n - off < chunk ? n - off : chunk);
            SL_MPI_TRY(MPI_Sendrecv(buf + off, m, MPI_FLOAT, partner, 77, scratch + off, m, MPI_FLOAT,
                                    partner, 77, comm, MPI_STATUS_IGNORE));
        }
        if (rank < partner) /* mine + partner's */
            for (size_t i = 0; i < n; i++)
                buf[i] = buf[i] + scratch[i];
        else
            for (size_t i = 0; i < n; i++)
                buf[i] = scratch[i] + buf[i];
    }
    return SL_OK;
}
