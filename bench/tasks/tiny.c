/* SPDX-License-Identifier: BSD-3-Clause */
/* Benchmark: empty tasks through sl_farm_run, and log-normal busy-wait tasks
 * (dynamic farm vs a static block partition). Prints one line of figures per
 * run for bench/tasks/run.sh. usage: tiny empty N | tiny lognormal N MEAN_MS SEED [spin|sleep] */
#define _GNU_SOURCE
#include "config.h"
#include "tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

#include <gsl/gsl_randist.h>

static int empty(int64_t id, int attempt, void *arg)
{
    (void)id;
    (void)attempt;
    (void)arg;
    return 0;
}

static int sleep_mode;
static double longest_run, busy_run; /* measured task times on this rank */

/* A task of ms[id] milliseconds: busy-wait, or sleep (--sleep, for more
 * ranks than cores, where busy-waiting ranks would share cores). */
static int spin(int64_t id, int attempt, void *arg)
{
    const double *ms = arg;
    double t0 = sl_now(), end = t0 + ms[id] * 1e-3;
    if (sleep_mode) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + ms[id] * 1e-3;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } else
        while (sl_now() < end)
            ;
    double d = sl_now() - t0;
    busy_run += d;
    longest_run = d > longest_run ? d : longest_run;
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
        sleep_mode = argc > 5 && !strcmp(argv[5], "sleep");
        if (sleep_mode)
            prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake on time, not 50 us late */
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
        /* Besides the bound from the nominal durations, a bound from the
         * measured ones: on a loaded machine tasks run longer than asked
         * (descheduled busy-waits, late wake-ups), for both schedules alike. */
        double mb[2], mbg[2];
        sl_farm_run(MPI_COMM_WORLD, n, spin, ms, NULL, &r);
        double dyn = r.makespan;
        mb[0] = busy_run;
        mb[1] = longest_run;
        MPI_Allreduce(MPI_IN_PLACE, mb, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, mb + 1, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        double dyn_mbound = fmax(mb[0] / size, mb[1]);
        busy_run = longest_run = 0;
        sl_farm_report_fini(&r);
        /* static block partition: rank r runs ids [r*n/P, (r+1)*n/P) */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = sl_now();
        for (int64_t i = rank * n / size; i < (rank + 1) * n / size; i++)
            spin(i, 0, ms);
        double mine = sl_now() - t0, st = 0;
        MPI_Request req; /* wait like the farm does: without spinning */
        MPI_Iallreduce(&mine, &st, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &req);
        int done = 0;
        while (!done) {
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            struct timespec ts = {0, 200000};
            if (!done)
                nanosleep(&ts, NULL);
        }
        mbg[0] = busy_run;
        mbg[1] = longest_run;
        MPI_Allreduce(MPI_IN_PLACE, mbg, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, mbg + 1, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        double st_mbound = fmax(mbg[0] / size, mbg[1]);
        if (rank == 0)
            printf("lognormal%s ranks=%d tasks=%lld bound=%.4f farm=%.4f static=%.4f farm_ratio=%.4f "
                   "static_ratio=%.4f farm_mratio=%.4f static_mratio=%.4f\n",
                   sleep_mode ? "-sleep" : "", size, (long long)n, bound, dyn, st, dyn / bound, st / bound,
                   dyn / dyn_mbound, st / st_mbound);
        free(ms);
    }
    MPI_Finalize();
    return 0;
}
