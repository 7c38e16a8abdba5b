/* SPDX-License-Identifier: BSD-3-Clause */
/* Example: train and evaluate many small models at once with the task farm
 * C API, the "one model per store" workload people bring Ray to a cluster
 * for. Each task fits a ridge regression for one (store, lambda) pair on that
 * store's synthetic sales data and scores it on held-out rows; stores differ
 * in size, so cost hints (rows) make the farm start the big ones first. The
 * results do not depend on the rank count: every task draws its data from
 * its own RNG stream. usage: mpirun -np 4 many_models [STORES] [OUT.csv] */
#include <sluice/tasks.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#define D 8 /* features per row */
static const double lambdas[] = {0.001, 0.01, 0.1, 1.0, 10.0};
#define NL (int)(sizeof lambdas / sizeof lambdas[0])

typedef struct {
    int stores;
    double *val_mse; /* per task: validation error, filled by the rank that ran it */
} ctx_t;

static int rows_of(int store)
{
    return 200 + (int)((store * 7919L) % 3000);
}

/* Solve (A) x = b for a symmetric positive definite DxD A (Cholesky). */
static int solve_spd(double A[D][D], double b[D], double x[D])
{
    double L[D][D] = {{0}};
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++)
                s -= L[i][k] * L[j][k];
            if (i == j) {
                if (s <= 0)
                    return -1;
                L[i][i] = sqrt(s);
            } else
                L[i][j] = s / L[j][j];
        }
    double y[D];
    for (int i = 0; i < D; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++)
            s -= L[i][k] * y[k];
        y[i] = s / L[i][i];
    }
    for (int i = D - 1; i >= 0; i--) {
        double s = y[i];
        for (int k = i + 1; k < D; k++)
            s -= L[k][i] * x[k];
        x[i] = s / L[i][i];
    }
    return 0;
}

/* One task: fit ridge(lambda) on 75 % of the store's rows, score on 25 %. */
static int train_one(int64_t id, int attempt, void *arg)
{
    ctx_t *c = arg;
    int store = (int)(id / NL), li = (int)(id % NL), n = rows_of(store);
    gsl_rng *rng;
    if (sl_rng_create(42, store, "example/store", &rng) != SL_OK)
        return 1;
    double w_true[D], A[D][D] = {{0}}, b[D] = {0}, w[D], x[D];
    for (int j = 0; j < D; j++)
        w_true[j] = gsl_ran_gaussian(rng, 1.0);
    int ntrain = n * 3 / 4;
    double sse = 0;
    for (int pass = 0; pass < 2; pass++) {
        gsl_rng_set(rng, sl_seed_mix(42, store, "example/rows"));
        for (int i = 0; i < n; i++) {
            double y = 0;
            for (int j = 0; j < D; j++) {
                x[j] = gsl_ran_gaussian(rng, 1.0);
                y += w_true[j] * x[j];
            }
            y += gsl_ran_gaussian(rng, 0.5);
            if (pass == 0 && i < ntrain) {
                for (int j = 0; j < D; j++) {
                    b[j] += x[j] * y;
                    for (int k = 0; k < D; k++)
                        A[j][k] += x[j] * x[k];
                }
            } else if (pass == 1 && i >= ntrain) {
                double p = 0;
                for (int j = 0; j < D; j++)
                    p += w[j] * x[j];
                sse += (p - y) * (p - y);
            }
        }
        if (pass == 0) {
            for (int j = 0; j < D; j++)
                A[j][j] += lambdas[li] * ntrain;
            if (solve_spd(A, b, w) != 0) {
                sl_rng_destroy(&rng);
                return 1; /* a failed fit is retried by the farm, then reported */
            }
        }
    }
    sl_rng_destroy(&rng);
    c->val_mse[id] = sse / (n - ntrain);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ctx_t c = {argc > 1 ? atoi(argv[1]) : 500, NULL};
    const char *out = argc > 2 ? argv[2] : "many_models.csv";
    if (c.stores < 1)
        c.stores = 1;
    int64_t ntasks = (int64_t)c.stores * NL;
    c.val_mse = calloc((size_t)ntasks, sizeof *c.val_mse);
    double *cost = malloc((size_t)ntasks * sizeof *cost);
    for (int64_t i = 0; i < ntasks; i++)
        cost[i] = rows_of((int)(i / NL)); /* work grows with the store's rows */

    sl_farm_opts_t o = {0};
    o.costs = cost;
    o.max_retries = 1;
    sl_farm_report_t r;
    sl_status_t st = sl_farm_run(MPI_COMM_WORLD, ntasks, train_one, &c, &o, &r);
    if (st != SL_OK && st != SL_ERR_FAILED) {
        MPI_Finalize();
        return 1;
    }
    /* each task's result lives on the rank that ran it; zeros elsewhere */
    MPI_Allreduce(MPI_IN_PLACE, c.val_mse, (int)ntasks, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        size_t cap = 64 + (size_t)c.stores * 64, len = 0;
        char *csv = malloc(cap);
        int count[NL] = {0};
        double mean_best = 0;
        len += (size_t)snprintf(csv + len, cap - len, "store,rows,best_lambda,val_mse\n");
        for (int s = 0; s < c.stores; s++) {
            int best = 0;
            for (int l = 1; l < NL; l++)
                if (c.val_mse[s * NL + l] < c.val_mse[s * NL + best])
                    best = l;
            count[best]++;
            mean_best += c.val_mse[s * NL + best] / c.stores;
            len += (size_t)snprintf(csv + len, cap - len, "%d,%d,%g,%.6f\n", s, rows_of(s), lambdas[best],
                                    c.val_mse[s * NL + best]);
        }
        sl_file_write_atomic(out, csv, len);
        free(csv);
        printf("%lld models (%d stores x %d lambdas) on %d ranks in %.3f s: %lld ok, %lld failed, efficiency "
               "%.0f%%\n",
               (long long)ntasks, c.stores, NL, size, r.makespan, (long long)r.succeeded, (long long)r.failed,
               100 * sl_farm_report_efficiency(&r));
        printf("best lambda per store:");
        for (int l = 0; l < NL; l++)
            printf(" %g: %d", lambdas[l], count[l]);
        printf("\nmean validation MSE of the best models %.6f (noise variance 0.25); results in %s\n",
               mean_best, out);
    }
    sl_farm_report_fini(&r);
    free(cost);
    free(c.val_mse);
    MPI_Finalize();
    return 0;
}
