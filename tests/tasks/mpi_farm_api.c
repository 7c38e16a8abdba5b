/* SPDX-License-Identifier: BSD-3-Clause */
/* The C API of the task farm under 1, 2 and 4 ranks: every id runs exactly
 * once (counted per id and summed over ranks), small and empty farms, retries
 * on any rank, largest-first cost hints, halting, and the claim engine's
 * coverage and claim count. */
#include "cunit_mpi.h"
#include "tasks.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int64_t n;
    int *runs;      /* per id: runs on this rank */
    int *ok_runs;   /* per id: successful runs on this rank */
    int fail_first; /* ids with id % fail_first == 0 fail on attempt 0 */
    int64_t always; /* this id always fails (-1: none) */
    const double *costs;
    double last_cost; /* cost of the previous task run on this rank */
    int order_ok;
    double spin_us;
} ctx_t;

static int task(int64_t id, int attempt, void *arg)
{
    ctx_t *c = arg;
    if (id < 0 || id >= c->n)
        return 1;
    c->runs[id]++;
    if (c->costs) {
        if (c->costs[id] > c->last_cost)
            c->order_ok = 0;
        c->last_cost = c->costs[id];
        double end = sl_now() + c->costs[id] * 1e-6;
        while (sl_now() < end)
            ;
    }
    if (id == c->always)
        return 1;
    if (c->fail_first && attempt == 0 && id % c->fail_first == 0)
        return 1;
    c->ok_runs[id]++;
    return 0;
}

static void ctx_init(ctx_t *c, int64_t n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->runs = calloc((size_t)n + 1, sizeof(int));
    c->ok_runs = calloc((size_t)n + 1, sizeof(int));
    c->always = -1;
    c->last_cost = 1e300;
    c->order_ok = 1;
}

/* Sum per-id counts over ranks into c->runs/ok_runs on every rank. */
static void ctx_sum(ctx_t *c)
{
    MPI_Allreduce(MPI_IN_PLACE, c->runs, (int)c->n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, c->ok_runs, (int)c->n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
}

static void ctx_fini(ctx_t *c)
{
    free(c->runs);
    free(c->ok_runs);
}

static void exactly_once_n(int64_t n)
{
    ctx_t c;
    ctx_init(&c, n);
    sl_farm_report_t r;
    sl_status_t st = sl_farm_run(MPI_COMM_WORLD, n, task, &c, NULL, &r);
    SL_ASSERT_ALL(st == SL_OK);
    ctx_sum(&c);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += c.runs[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(r.ntasks, n);
    CU_ASSERT_EQUAL(r.succeeded, n);
    CU_ASSERT_EQUAL(r.failed, 0);
    CU_ASSERT_EQUAL(r.attempts, n);
    CU_ASSERT_EQUAL(r.nranks, sl_test_size());
    int64_t sum = 0;
    for (int i = 0; i < r.nranks; i++)
        sum += r.runs[i];
    CU_ASSERT_EQUAL(sum, n);
    sl_farm_report_fini(&r);
    ctx_fini(&c);
}

static void test_exactly_once(void)
{
    exactly_once_n(100000);
    exactly_once_n(1237);
}

static void test_small(void)
{
    exactly_once_n(0);
    exactly_once_n(1);
    exactly_once_n(3); /* fewer tasks than ranks with 4 ranks */
}

static void test_retries(void)
{
    int64_t n = 5000;
    ctx_t c;
    ctx_init(&c, n);
    c.fail_first = 7;
    c.always = 5;
    sl_farm_opts_t o = {0};
    o.max_retries = 2;
    sl_farm_report_t r;
    sl_status_t st = sl_farm_run(MPI_COMM_WORLD, n, task, &c, &o, &r);
    SL_ASSERT_ALL(st == SL_ERR_FAILED);
    ctx_sum(&c);
    int64_t first_fail = (n + 6) / 7;
    CU_ASSERT_EQUAL(r.succeeded, n - 1);
    CU_ASSERT_EQUAL(r.failed, 1);
    CU_ASSERT_EQUAL(r.failed_ids[0], 5);
    /* id 5 ran 3 times, multiples of 7 twice, the rest once */
    CU_ASSERT_EQUAL(r.attempts, n + first_fail + 2);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int want = i == 5 ? 3 : (i % 7 == 0 ? 2 : 1);
        bad += c.runs[i] != want || c.ok_runs[i] != (i == 5 ? 0 : 1);
    }
    CU_ASSERT_EQUAL(bad, 0);
    sl_farm_report_fini(&r);
    ctx_fini(&c);
}

static void test_costs_largest_first(void)
{
    int64_t n = 400;
    ctx_t c;
    ctx_init(&c, n);
    double *cost = malloc((size_t)n * sizeof *cost);
    for (int64_t i = 0; i < n; i++) /* uneven: a few heavy tasks among many light ones, in scrambled order */
        cost[i] = (i * 7919) % 13 == 0 ? 2000.0 : (double)((i * 31) % 50);
    c.costs = cost;
    sl_farm_opts_t o = {0};
    o.costs = cost;
    sl_farm_report_t r;
    sl_status_t st = sl_farm_run(MPI_COMM_WORLD, n, task, &c, &o, &r);
    SL_ASSERT_ALL(st == SL_OK);
    CU_ASSERT(c.order_ok); /* each rank ran its tasks in non-increasing cost */
    ctx_sum(&c);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += c.runs[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(r.makespan > 0);
    CU_ASSERT(sl_farm_report_efficiency(&r) > 0);
    sl_farm_report_fini(&r);
    free(cost);
    ctx_fini(&c);
}

static void test_halt(void)
{
    int64_t n = 2000;
    ctx_t c;
    ctx_init(&c, n);
    c.always = 0;
    sl_farm_opts_t o = {0};
    o.halt_on_error = 1;
    o.chunk.max_chunk = 1;
    sl_farm_report_t r;
    sl_status_t st = sl_farm_run(MPI_COMM_WORLD, n, task, &c, &o, &r);
    SL_ASSERT_ALL(st == SL_ERR_FAILED);
    ctx_sum(&c);
    CU_ASSERT_EQUAL(r.failed, 1);
    CU_ASSERT_EQUAL(r.succeeded + r.failed + r.not_run, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += c.runs[i] > 1;
    CU_ASSERT_EQUAL(bad, 0);
    sl_farm_report_fini(&r);
    ctx_fini(&c);
}

static int slow_on_rank0(int64_t id, int attempt, void *arg)
{
    ctx_t *c = arg;
    if (sl_test_rank() == 0) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return task(id, attempt, c);
}

/* Ranks finishing at very different times: rank 0 is 1000x slower. */
static void test_uneven_ranks(void)
{
    int64_t n = 3000;
    ctx_t c;
    ctx_init(&c, n);
    sl_farm_report_t r;
    SL_ASSERT_ALL(sl_farm_run(MPI_COMM_WORLD, n, slow_on_rank0, &c, NULL, &r) == SL_OK);
    ctx_sum(&c);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += c.runs[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(r.succeeded, n);
    sl_farm_report_fini(&r);
    ctx_fini(&c);
}

/* The engine with cost hints: every position once, items a permutation in
 * non-increasing cost. */
static void test_claims_costs(void)
{
    int64_t n = 10007;
    double *cost = malloc((size_t)n * sizeof *cost);
    for (int64_t i = 0; i < n; i++)
        cost[i] = (double)((i * 7919) % 1000);
    sl_tasks_t *t;
    SL_ASSERT_ALL(sl_tasks_create(MPI_COMM_WORLD, n, cost, NULL, &t) == SL_OK);
    const int64_t *order = sl_tasks_order(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(order);
    int bad = 0;
    for (int64_t p = 1; p < n; p++)
        bad += cost[order[p]] > cost[order[p - 1]];
    char *seen = calloc((size_t)n, 1), *item = calloc((size_t)n, 1);
    int64_t lo, hi;
    while (sl_tasks_claim(t, &lo, &hi))
        for (int64_t p = lo; p < hi; p++) {
            seen[p]++;
            item[sl_tasks_item(order, p)]++;
        }
    sl_tasks_destroy(&t);
    MPI_Allreduce(MPI_IN_PLACE, seen, (int)n, MPI_CHAR, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, item, (int)n, MPI_CHAR, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t p = 0; p < n; p++)
        bad += seen[p] != 1 || item[p] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    free(seen);
    free(item);
    free(cost);
}

/* The engine alone: positions covered exactly once, claims O(P log N). */
static void test_claims(void)
{
    int64_t n = 1000000;
    sl_tasks_t *t;
    SL_ASSERT_ALL(sl_tasks_create(MPI_COMM_WORLD, n, NULL, NULL, &t) == SL_OK);
    char *seen = calloc((size_t)n, 1);
    int64_t lo, hi, bad = 0;
    while (sl_tasks_claim(t, &lo, &hi)) {
        if (lo < 0 || hi > n || lo >= hi) {
            bad++;
            continue;
        }
        for (int64_t p = lo; p < hi; p++)
            seen[p]++;
    }
    int64_t claims = sl_tasks_local_claims(t), all = 0;
    MPI_Allreduce(&claims, &all, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    sl_tasks_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
    MPI_Allreduce(MPI_IN_PLACE, seen, (int)n, MPI_CHAR, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t p = 0; p < n; p++)
        bad += seen[p] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    /* factoring: about 2 P log2(N / P) chunks, far fewer than N */
    CU_ASSERT(all < 200 * sl_test_size());
    free(seen);
}

int main(int argc, char **argv)
{
    sl_test_t tests[] = {{"every id exactly once", test_exactly_once},
                         {"ntasks 0, 1, and fewer than ranks", test_small},
                         {"retries on any rank, final failures reported", test_retries},
                         {"cost hints: largest first, uneven costs", test_costs_largest_first},
                         {"halt on error", test_halt},
                         {"claim engine coverage and claim count", test_claims},
                         {"ranks finishing at very different times", test_uneven_ranks},
                         {"claim engine with cost hints", test_claims_costs},
                         {NULL, NULL}};
    return sl_test_run(argc, argv, "farm_api", tests);
}
