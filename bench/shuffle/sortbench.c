/* SPDX-License-Identifier: BSD-3-Clause */
/* Bench-only: the in-memory sort phase of `sluice sort` as each rank runs
 * it on its share: keyidx (sort (key, index) entries, then gather records
 * into the output buffer) and radix (MSD radix moving whole records).
 * usage: mpirun -np P sortbench TOTAL_RECS [ascii|binary] [reps]
 * Prints the aggregate MB/s (total bytes / slowest rank), best of reps. */
#include "config.h"
#include "shuffle_impl.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    int ascii = argc > 2 && !strcmp(argv[2], "ascii");
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    uint64_t off, n;
    sl_sort_block(total, size, rank, &off, &n);
    unsigned char *orig = malloc(n * SL_SORT_REC + 1), *work = malloc(n * SL_SORT_REC + 1),
                  *out = malloc(n * SL_SORT_REC + 1);
    sl_gensort_records(orig, off, n, ascii ? SL_GENSORT_ASCII : 0, NULL);
    memset(out, 0, n * SL_SORT_REC);
    const char *algos[2] = {"keyidx", "radix"};
    for (int a = 0; a < 2; a++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            memcpy(work, orig, n * SL_SORT_REC);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = sl_now();
            if (a == 0) {
                uint32_t *order;
                sl_sort_order(work, n, &order);
                for (uint64_t i = 0; i < n; i++)
                    memcpy(out + i * SL_SORT_REC, work + (uint64_t)order[i] * SL_SORT_REC, SL_SORT_REC);
                free(order);
            } else {
                sl_sort_records(work, n, "radix", NULL);
            }
            double t = sl_now() - t0, tmax;
            MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            best = tmax < best ? tmax : best;
        }
        if (rank == 0)
            printf("%s %.1f MB/s %.3f s\n", algos[a], (double)total * SL_SORT_REC / best / 1e6, best);
    }
    free(orig);
    free(work);
    free(out);
    MPI_Finalize();
    return 0;
}
