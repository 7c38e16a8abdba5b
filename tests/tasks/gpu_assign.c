/* SPDX-License-Identifier: BSD-3-Clause */
/* GPU subsets of `sluice farm --gpus-per-task`, without a GPU: the node's
 * GPUs are split among local ranks without overlap, and running tasks never
 * share a GPU however tasks start and end. */
#include "cunit_mpi.h"
#include "tasks.h"

#include <string.h>

static void test_share(void)
{
    for (int ngpus = 0; ngpus <= 16; ngpus++)
        for (int L = 1; L <= 8; L++) {
            int owner[16];
            memset(owner, -1, sizeof owner);
            int total = 0;
            for (int l = 0; l < L; l++) {
                int first, count;
                sl_farm_gpu_share(ngpus, l, L, &first, &count);
                total += count;
                CU_ASSERT(count == ngpus / L || count == ngpus / L + 1);
                for (int g = first; g < first + count; g++) {
                    CU_ASSERT_FATAL(g >= 0 && g < ngpus);
                    CU_ASSERT_EQUAL(owner[g], -1); /* no GPU in two shares */
                    owner[g] = l;
                }
            }
            CU_ASSERT_EQUAL(total, ngpus);
        }
}

static void test_pick(void)
{
    uint64_t busy = 0;
    int a[4], b[4], c[4];
    /* 6 GPUs, 2 per task: three tasks fit, a fourth does not */
    CU_ASSERT_EQUAL(sl_farm_gpu_pick(6, 2, &busy, a), 0);
    CU_ASSERT_EQUAL(sl_farm_gpu_pick(6, 2, &busy, b), 0);
    CU_ASSERT_EQUAL(sl_farm_gpu_pick(6, 2, &busy, c), 0);
    CU_ASSERT(a[0] == 0 && a[1] == 1 && b[0] == 2 && b[1] == 3 && c[0] == 4 && c[1] == 5);
    int d[4];
    uint64_t before = busy;
    CU_ASSERT_EQUAL(sl_farm_gpu_pick(6, 2, &busy, d), -1);
    CU_ASSERT_EQUAL(busy, before); /* a failed pick changes nothing */
    /* the middle task ends; the next task gets exactly its GPUs */
    sl_farm_gpu_release(&busy, b, 2);
    CU_ASSERT_EQUAL(sl_farm_gpu_pick(6, 2, &busy, d), 0);
    CU_ASSERT(d[0] == 2 && d[1] == 3);
    /* random start/end sequence: never two running tasks on one GPU */
    int held[8][3], live[8] = {0}, bad = 0;
    busy = 0;
    unsigned x = 12345;
    for (int step = 0; step < 10000; step++) {
        x = x * 1103515245u + 12345u;
        int slot = (int)(x >> 16) % 8;
        if (live[slot]) {
            sl_farm_gpu_release(&busy, held[slot], 3);
            live[slot] = 0;
        } else if (sl_farm_gpu_pick(8, 3, &busy, held[slot]) == 0)
            live[slot] = 1;
        int use[8] = {0};
        for (int s = 0; s < 8; s++)
            for (int k = 0; live[s] && k < 3; k++)
                bad += use[held[s][k]]++ > 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

int main(int argc, char **argv)
{
    sl_test_t tests[] = {{"node GPUs split among local ranks", test_share},
                         {"running tasks never share a GPU", test_pick},
                         {NULL, NULL}};
    return sl_test_run(argc, argv, "gpu_assign", tests);
}
