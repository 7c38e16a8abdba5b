/* SPDX-License-Identifier: BSD-3-Clause */
/* Benchmark: empty tasks through sl_farm_run, and log-normal busy-wait tasks
 * (dynamic farm vs a static block partition). Prints one line of figures per
 * run for bench/tasks/run.sh. usage: tiny empty N | tiny lognormal N MEAN_MS SEED */
#include "config.h"
#include "tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

static int empty(int64_t id, int attempt, void *arg)
{
    (void)id;
    (void)attempt;
    (void)arg;
    return 0;
}

static int spin(int64_t id, int attempt, void *arg)
{
    const double *ms = arg;
    double end = sl_now() + ms[id] * 1e-3;
    while (sl_now() < end)
        ;
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: %s empty N | lognormal N MEAN_MS SEED\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    int64_t n = strtoll(argv[2], NULL, 10);
    sl_farm_report_t r;
    if (!strcmp(argv[1], "empty")) {
        sl_farm_run(MPI_COMM_WORLD, n, empty, NULL, NULL, &r);
        if (rank == 0)
            printf("empty ranks=%d tasks=%lld seconds=%.4f rate=%.0f claims=%lld remote=%lld\n", size,
                   (long long)n, r.makespan, (double)n / r.makespan, (long long)r.claims,
                   (long long)r.remote_claims);
        sl_farm_report_fini(&r);
    } else {
        double mean = argc > 3 ? strtod(argv[3], NULL) : 2.0;
        uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
        double sigma = 1.0, mu = log(mean) - sigma * sigma / 2;
        double *ms = malloc((size_t)n * sizeof *ms), total = 0, longest = 0;
        gsl_rng *rng;
        sl_rng_create(seed, 0, "bench/lognormal", &rng);
        for (int64_t i = 0; i < n; i++) {
            ms[i] = gsl_ran_lognormal(rng, mu, sigma);
            total += ms[i];
            longest = ms[i] > longest ? ms[i] : longest;
        }
        sl_rng_destroy(&rng);
        double bound = fmax(total / size, longest) * 1e-3;
        sl_farm_run(MPI_COMM_WORLD, n, spin, ms, NULL, &r);
        double dyn = r.makespan;
        sl_farm_report_fini(&r);
        /* static block partition: rank r runs ids [r*n/P, (r+1)*n/P) */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = sl_now();
        for (int64_t i = rank * n / size; i < (rank + 1) * n / size; i++)
            spin(i, 0, ms);
        double mine = sl_now() - t0, st = 0;
        MPI_Allreduce(&mine, &st, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0)
            printf("lognormal ranks=%d tasks=%lld bound=%.4f farm=%.4f static=%.4f farm_ratio=%.4f "
                   "static_ratio=%.4f\n",
                   size, (long long)n, bound, dyn, st, dyn / bound, st / bound);
        free(ms);
    }
    MPI_Finalize();
    return 0;
}
