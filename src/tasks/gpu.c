/* SPDX-License-Identifier: BSD-3-Clause */
/* GPU subsets for `sluice farm --gpus-per-task`: the node's GPUs are split
 * among the node's ranks, and each running task takes its own free GPUs from
 * its rank's share. Pure functions, so the assignment is unit-tested without
 * a GPU. Keeps true: no GPU is given to two running tasks. */
#include "config.h"
#include "tasks_impl.h"

void sl_farm_gpu_share(int ngpus, int local_rank, int local_size, int *first_p, int *count_p)
{
    if (ngpus <= 0 || local_size <= 0 || local_rank < 0 || local_rank >= local_size) {
        *first_p = 0;
        *count_p = 0;
        return;
    }
    int base = ngpus / local_size, rem = ngpus % local_size;
    *first_p = local_rank * base + (local_rank < rem ? local_rank : rem);
    *count_p = base + (local_rank < rem);
}

int sl_farm_gpu_pick(int count, int per_task, uint64_t *busy, int *out)
{
    if (per_task <= 0 || count > 64)
        return -1;
    int got = 0;
    for (int i = 0; i < count && got < per_task; i++)
        if (!(*busy >> i & 1))
            out[got++] = i;
    if (got < per_task)
        return -1;
    for (int i = 0; i < per_task; i++)
        *busy |= (uint64_t)1 << out[i];
    return 0;
}

void sl_farm_gpu_release(uint64_t *busy, const int *idx, int per_task)
{
    for (int i = 0; i < per_task; i++)
        *busy &= ~((uint64_t)1 << idx[i]);
}
